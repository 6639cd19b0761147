//! The `Range` request header, single byte ranges only (RFC 9110 §14).

/// What a `Range` header asks of an object of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: answer 200 with the whole object. Covers an absent
    /// header, bad syntax and multiple ranges, which a server may ignore.
    Whole,
    /// Answer 206 with bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// Syntactically valid but outside the object: 416.
    Unsatisfiable,
}

/// Interprets `header` (the value of `Range`) for an object of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => RangeRequest::Whole,
        },
        // bytes=a-
        (false, true) => match number(first) {
            Some(a) if a < size => RangeRequest::Part {
                start: a,
                end: size - 1,
            },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Whole,
        },
        // bytes=a-b
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => RangeRequest::Whole,
            (Some(a), Some(b)) if a < size => RangeRequest::Part {
                start: a,
                end: b.min(size - 1),
            },
            (Some(_), Some(_)) => RangeRequest::Unsatisfiable,
            _ => RangeRequest::Whole,
        },
        (true, true) => RangeRequest::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse(Some("bytes=0-0"), 10), Part { start: 0, end: 0 });
        assert_eq!(parse(Some("bytes=2-5"), 10), Part { start: 2, end: 5 });
        assert_eq!(parse(Some("bytes=2-100"), 10), Part { start: 2, end: 9 });
        assert_eq!(parse(Some("bytes=9-"), 10), Part { start: 9, end: 9 });
        assert_eq!(parse(Some("bytes=-3"), 10), Part { start: 7, end: 9 });
        assert_eq!(parse(Some("bytes=-30"), 10), Part { start: 0, end: 9 });
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn ignored_ranges() {
        assert_eq!(parse(None, 10), Whole);
        assert_eq!(parse(Some("items=0-1"), 10), Whole);
        assert_eq!(parse(Some("bytes=5-2"), 10), Whole);
        assert_eq!(parse(Some("bytes=0-1,3-4"), 10), Whole);
        assert_eq!(parse(Some("bytes=x-1"), 10), Whole);
        assert_eq!(parse(Some("bytes=-"), 10), Whole);
    }
}

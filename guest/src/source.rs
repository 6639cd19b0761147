//! The HTTP source protocol: a source URL as it is sent (credentials as
//! Basic authentication, the path as typed), the probe that learns the
//! source's size, validators, range support and CRC, and the source's
//! answers and transport errors read as ferry's errors.

use crate::crc;
use crate::error::{Error, Result};
use crate::http::{self, HttpError, Response, Timeouts};
use crate::target::redact;
use crate::SourceInfo;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use url::Url;

/// Learns the source's size, validators, range support and CRC: HEAD, or a
/// one-byte ranged GET where HEAD is refused.
pub async fn probe(source_url: &str) -> Result<SourceInfo> {
    let url = parse_source_url(source_url)?;
    let shown = redact(source_url);
    let head = http::send(
        "HEAD",
        &url.url,
        &url.headers(&[]),
        None,
        Timeouts::default(),
    )
    .await
    .map_err(|e| source_transport(e, &shown))?;
    if (200..300).contains(&head.status) {
        let info = info_from(&head, head_size(&head));
        let advertised = head
            .header("accept-ranges")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
        let _ = head.bytes(0).await;
        if advertised || !info.ranges || info.size.is_none_or(|s| s == 0) {
            return Ok(info);
        }
        // Silent about ranges: ask for one byte to find out.
        let ranged = range_probe(&url, &shown).await?;
        return Ok(SourceInfo {
            ranges: ranged.ranges,
            ..info
        });
    }
    if !matches!(head.status, 403 | 405 | 501) {
        return Err(source_status(&head, &shown));
    }
    let _ = head.bytes(64 * 1024).await;
    // Some servers (presigned GET URLs among them) refuse HEAD.
    range_probe(&url, &shown).await
}

/// Probes with `Range: bytes=0-0`: a 206 tells the size and that ranges
/// work; a 200 that they do not.
async fn range_probe(url: &SourceUrl, shown: &str) -> Result<SourceInfo> {
    let headers = url.headers(&[("range", "bytes=0-0".into())]);
    let get = http::send("GET", &url.url, &headers, None, Timeouts::default())
        .await
        .map_err(|e| source_transport(e, shown))?;
    let info = match get.status {
        206 => {
            let size = get
                .header("content-range")
                .and_then(|v| parse_content_range(v).map(|r| r.2));
            let mut info = info_from(&get, size);
            info.ranges = true;
            info
        }
        200 => {
            let mut info = info_from(&get, head_size(&get));
            info.ranges = false;
            info
        }
        416 => {
            // An empty object has no byte 0.
            let mut info = info_from(&get, Some(0));
            info.size = Some(0);
            info
        }
        _ => return Err(source_status(&get, shown)),
    };
    drop(get); // Not reading the rest: dropping the body closes the request.
    Ok(info)
}

/// A source URL ready to request: the URL as sent, without its
/// `user:pass@`, and those credentials as Basic authentication. Its path is
/// sent as given, not normalised (`curl --path-as-is`): object stores take
/// `a/../b` as a key, and a file server resolves dot segments itself.
pub struct SourceUrl {
    /// `scheme://host[:port]/path?query`, as sent.
    pub url: String,
    /// `Basic …` from the URL's user and password. Never shown.
    authorization: Option<String>,
}

impl SourceUrl {
    /// The headers of a request to the source: `extra`, and the URL's
    /// credentials.
    pub fn headers(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if let Some(auth) = &self.authorization {
            headers.push(("authorization".into(), auth.clone()));
        }
        headers
    }
}

/// Characters a request target may not carry as they are: controls,
/// space, non-ASCII (encoded by `utf8_percent_encode` anyway) and the
/// delimiters RFC 3986 excludes. `%` stays: what the user encoded stays
/// encoded.
const NOT_IN_TARGET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

pub fn parse_source_url(source_url: &str) -> Result<SourceUrl> {
    let bad = || {
        Error::invalid(format!(
            "source {:?} is not an http(s) URL; write it as https://HOST/PATH",
            redact(source_url)
        ))
    };
    let parsed = Url::parse(source_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(bad)?;
    let authorization = (!parsed.username().is_empty() || parsed.password().is_some()).then(|| {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let pair = format!(
            "{}:{}",
            decode(parsed.username()),
            decode(parsed.password().unwrap_or(""))
        );
        format!("Basic {}", BASE64.encode(pair))
    });
    // The scheme and authority as `Url` normalises them (lower case, no
    // default port, no credentials); the path and query as typed.
    let after_scheme = &source_url[source_url.find("://").ok_or_else(bad)? + 3..];
    let target = after_scheme
        .find(['/', '?', '#'])
        .map_or("", |i| &after_scheme[i..]);
    let target = target.split('#').next().unwrap_or_default();
    let target = utf8_percent_encode(target, NOT_IN_TARGET).to_string();
    let path = if target.starts_with('/') {
        target
    } else {
        format!("/{target}")
    };
    let authority = crate::target::authority(&parsed).ok_or_else(bad)?;
    let url = format!("{}://{authority}{path}", parsed.scheme());
    url.parse::<::http::Uri>().map_err(|_| bad())?;
    Ok(SourceUrl { url, authorization })
}

fn head_size(r: &Response) -> Option<u64> {
    r.header("content-length")
        .and_then(|v| v.trim().parse().ok())
}

fn info_from(r: &Response, size: Option<u64>) -> SourceInfo {
    // Without Accept-Ranges a server may still serve ranges; only an explicit
    // `none` rules them out here (the first ranged GET checks the rest).
    // Weak ETags cannot be used with If-Match (strong comparison).
    let etag = r
        .header("etag")
        .filter(|e| !e.starts_with("W/"))
        .map(str::to_string);
    SourceInfo {
        size,
        etag,
        last_modified: r.header("last-modified").map(str::to_string),
        crc64: r.header("x-oss-hash-crc64ecma").and_then(crc::parse_header),
        ranges: !r
            .header("accept-ranges")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("none")),
    }
}

/// Parses `bytes FIRST-LAST/TOTAL` into (first, last, total).
pub fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    // Digits only: u64's parser alone would also take a leading '+'.
    if !rest
        .bytes()
        .all(|b| b.is_ascii_digit() || b"-/".contains(&b))
    {
        return None;
    }
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, total) = (first.parse().ok()?, last.parse().ok()?, total.parse().ok()?);
    (first <= last && last < total).then_some((first, last, total))
}

pub fn source_transport(e: HttpError, shown: &str) -> Error {
    let transient = e.is_transient();
    let hint = match e {
        HttpError::Unreachable(_) => "; check the host and port of the source URL",
        _ => "",
    };
    let err = Error::source(format!("cannot read the source {shown}: {e}{hint}"));
    if transient {
        err.transient()
    } else {
        err
    }
}

pub fn source_status(r: &Response, shown: &str) -> Error {
    let (what, transient) = match r.status {
        404 => ("404 Not Found: check the URL".to_string(), false),
        403 | 401 => (
            format!(
                "{} (access refused): the URL may need signing or may have expired",
                r.status
            ),
            false,
        ),
        412 => (
            "412 Precondition Failed: the source changed since it was planned; run the copy again"
                .to_string(),
            false,
        ),
        301 | 302 | 303 | 307 | 308 => (
            format!(
                "{} (a redirect to {}): pass the final URL, which ferry can then check and \
                 reach directly",
                r.status,
                r.header("location")
                    .map_or_else(|| "an unnamed place".to_string(), redact)
            ),
            false,
        ),
        s if s >= 500 || s == 429 || s == 408 => (format!("HTTP {s} (temporary)"), true),
        s => (format!("unexpected HTTP {s}"), false),
    };
    let err = Error::source(format!("the source {shown} answered {what}"))
        .retry_after(r.header("retry-after"))
        .with_status(r.status);
    if transient {
        err.transient()
    } else {
        err
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls_are_sent_as_typed_with_credentials_as_basic_auth() {
        let u = parse_source_url("HTTP://Alice:p%40ss@Example.COM:80/a/../b c.iso?x=1#f").unwrap();
        assert_eq!(u.url, "http://example.com/a/../b%20c.iso?x=1");
        // base64("Alice:p@ss")
        assert_eq!(
            u.headers(&[("range", "bytes=0-0".into())]),
            [
                ("range".to_string(), "bytes=0-0".to_string()),
                (
                    "authorization".to_string(),
                    "Basic QWxpY2U6cEBzcw==".to_string()
                )
            ]
        );
        let plain = parse_source_url("https://h.example").unwrap();
        assert_eq!(plain.url, "https://h.example/");
        assert!(plain.headers(&[]).is_empty());
        let e = parse_source_url("./big.iso").err().unwrap();
        assert!(e.message.contains("\"./big.iso\""), "{}", e.message);
    }

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-0/100"), Some((0, 0, 100)));
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 9, 10)));
        assert_eq!(parse_content_range("bytes 5-10/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }
}

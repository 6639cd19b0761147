//! Byte sizes as people write them (`6MiB`, `64M`, `1048576`) and print them.

/// Parses a size; `MiB`/`M`/`MB` all mean powers of 1024, as storage tools do.
pub fn parse(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("cannot read size {s:?} ({e}); write it like 6MiB, 64M or 1048576"))
}

/// A size for people: `1.00 GiB`, `6.00 MiB`, `512 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_units() {
        assert_eq!(parse("6MiB"), Ok(6 << 20));
        assert_eq!(parse("6M"), Ok(6 << 20));
        assert_eq!(parse("100KiB"), Ok(100 << 10));
        assert_eq!(parse("123"), Ok(123));
        assert!(parse("lots").is_err());
    }

    #[test]
    fn prints_binary_units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(6 << 20), "6.00 MiB");
        assert_eq!(human(1 << 30), "1.00 GiB");
    }
}

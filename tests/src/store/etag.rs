//! OSS ETags: quoted uppercase hex of the content MD5 for PutObject and
//! UploadPart; `"<MD5 of the part MD5s>-<N>"` for a multipart object.

use md5::{Digest, Md5};

/// The 16 bytes behind a simple ETag: the MD5 when it was computed,
/// otherwise CRC-64 and size (the cheap benchmark mode).
pub fn bytes(md5: Option<[u8; 16]>, crc64: u64, size: u64) -> [u8; 16] {
    md5.unwrap_or_else(|| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&crc64.to_be_bytes());
        b[8..].copy_from_slice(&size.to_be_bytes());
        b
    })
}

/// `"HEX"`.
pub fn quoted(bytes: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode_upper(bytes))
}

/// The ETag of an object completed from parts with these ETag bytes.
pub fn multipart<'a>(parts: impl ExactSizeIterator<Item = &'a [u8; 16]>) -> String {
    let n = parts.len();
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(p);
    }
    format!("\"{}-{n}\"", hex::encode_upper(md5.finalize()))
}

/// Whether an ETag sent back by a client names `ours` (quotes optional,
/// hex case-insensitive).
pub fn matches(theirs: &str, ours: &str) -> bool {
    let strip = |s: &str| s.trim().trim_matches('"').to_ascii_uppercase();
    strip(theirs) == strip(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_multipart() {
        let md5: [u8; 16] = Md5::digest(b"hello").into();
        assert_eq!(quoted(&md5), "\"5D41402ABC4B2A76B9719D911017C592\"");
        let e = multipart([md5, md5].iter());
        assert!(e.ends_with("-2\"") && e.starts_with('"'), "{e}");
        assert!(matches("5d41402abc4b2a76b9719d911017c592", &quoted(&md5)));
        assert!(!matches("\"00\"", &quoted(&md5)));
    }
}

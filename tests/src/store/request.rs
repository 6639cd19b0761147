//! What a path-style OSS request addresses: bucket, key and query, decoded.

use hyper::Uri;
use percent_encoding::percent_decode_str;

/// The resource of a request, `http://host/{bucket}/{key}?{query}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// `None` for the service (`/`).
    pub bucket: Option<String>,
    /// Empty for bucket-level requests.
    pub key: String,
    /// Decoded query parameters in request order; a bare `uploads` has an
    /// empty value, as both signing versions treat it.
    pub query: Vec<(String, String)>,
    /// The whole path, decoded, as sent (AWS SigV4 signs it as it is, a
    /// trailing `/` or none).
    pub path: String,
}

impl Target {
    /// Decodes `uri`. SDKs percent-encode the key (even `/` as `%2F`), so the
    /// key is everything after the bucket, decoded.
    pub fn parse(uri: &Uri) -> Self {
        let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
        let (bucket, key) = match path.split_once('/') {
            Some((bucket, key)) => (bucket, key),
            None => (path, ""),
        };
        let query = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self {
            bucket: (!bucket.is_empty()).then(|| decode(bucket)),
            key: decode(key),
            query,
            path: decode(uri.path()),
        }
    }

    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether query parameter `name` is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bucket_key_and_query() {
        let uri: Uri = "/b/dir%2Fa%20b.bin?uploadId=X%2BY&partNumber=3&uploads"
            .parse()
            .unwrap();
        let t = Target::parse(&uri);
        assert_eq!(t.bucket.as_deref(), Some("b"));
        assert_eq!(t.key, "dir/a b.bin");
        assert_eq!(t.param("uploadId"), Some("X+Y"));
        assert_eq!(t.param("partNumber"), Some("3"));
        assert!(t.has("uploads"));
        assert!(!t.has("acl"));
    }

    #[test]
    fn bucket_level_and_service() {
        let t = Target::parse(&"/b?uploads".parse().unwrap());
        assert_eq!((t.bucket.as_deref(), t.key.as_str()), (Some("b"), ""));
        let t = Target::parse(&"/b/".parse().unwrap());
        assert_eq!((t.bucket.as_deref(), t.key.as_str()), (Some("b"), ""));
        let t = Target::parse(&"/".parse().unwrap());
        assert_eq!(t.bucket, None);
    }
}

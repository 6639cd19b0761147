//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for S3 clients, as the
//! AWS SDKs compute it, so S3 tools (boto3, rclone, ferry's `s3://` path)
//! can write to the same store as OSS tools.
//!
//! Canonical request: `VERB \n URI \n query \n headers \n signed \n
//! payload-hash`, where URI is the path as sent, encoded keeping `/`; query
//! is every parameter encoded and sorted, `k=` for an empty value; headers
//! are exactly those the client lists in `SignedHeaders` (`name:value\n`,
//! values trimmed, inner runs of spaces folded). The string to sign hashes it
//! under a scope `date/region/s3/aws4_request`, and the key is an HMAC chain
//! from `"AWS4" + secret`. The payload hash is taken as the client states it
//! (`x-amz-content-sha256`; `UNSIGNED-PAYLOAD` for presigned URLs): bodies
//! stream into the sink and are checked by MD5 and CRC-64, not by SHA-256.

use hyper::HeaderMap;

use super::request::Target;
use super::sign_v4::{uri_encode, Family};

/// The algorithm name in headers and query.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a presigned request.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The canonical request over `signed` headers (lowercase names). `query_auth`:
/// a presigned URL, whose `X-Amz-Signature` is left out and whose payload is
/// unsigned.
pub fn canonical_request(
    method: &str,
    target: &Target,
    headers: &HeaderMap,
    signed: &[String],
    query_auth: bool,
) -> String {
    let uri = uri_encode(&target.path, true);
    let mut query: Vec<(String, String)> = target
        .query
        .iter()
        .filter(|(k, _)| !(query_auth && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let lines: String = signed
        .iter()
        .map(|name| {
            let values: Vec<String> = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| fold_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let payload = if query_auth {
        UNSIGNED_PAYLOAD.to_string()
    } else {
        headers
            .get("x-amz-content-sha256")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| UNSIGNED_PAYLOAD.to_string())
    };
    format!(
        "{method}\n{uri}\n{}\n{lines}\n{}\n{payload}",
        query.join("&"),
        signed.join(";")
    )
}

/// A header value trimmed, with inner runs of spaces made one.
fn fold_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// AWS SigV4: `AWS4` + secret, scope `date/region/s3/aws4_request`.
pub const AWS_V4: Family = Family {
    algorithm: ALGORITHM,
    secret_prefix: "AWS4",
    service: "s3",
    terminal: "aws4_request",
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Amazon's documented example: GET /test.txt with Range, 2013-05-24,
    /// key AKIAIOSFODNN7EXAMPLE.
    #[test]
    fn amazons_get_object_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        headers.insert("range", "bytes=0-9".parse().unwrap());
        headers.insert(
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20130524T000000Z".parse().unwrap());
        let target = Target::parse(&"/test.txt".parse().unwrap());
        let signed: Vec<String> = ["host", "range", "x-amz-content-sha256", "x-amz-date"]
            .map(String::from)
            .to_vec();
        let canonical = canonical_request("GET", &target, &headers, &signed, false);
        let sts = AWS_V4.string_to_sign("20130524T000000Z", "us-east-1", &canonical);
        assert_eq!(
            AWS_V4.signature(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "20130524",
                "us-east-1",
                &sts
            ),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}

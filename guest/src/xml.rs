//! The OSS XML documents ferry reads and writes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    pub upload_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part")]
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletePart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Deserialize)]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// An OSS error response.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ErrorResponse {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

pub fn parse<'de, T: Deserialize<'de>>(body: &'de str) -> Result<T, String> {
    quick_xml::de::from_str(body).map_err(|e| e.to_string())
}

pub fn complete_body(parts: &[(u32, String)]) -> String {
    let doc = CompleteMultipartUpload {
        parts: parts
            .iter()
            .map(|(n, etag)| CompletePart {
                part_number: *n,
                etag: etag.clone(),
            })
            .collect(),
    };
    quick_xml::se::to_string(&doc).expect("the document always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_initiate_result() {
        let r: InitiateMultipartUploadResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>
            <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId></InitiateMultipartUploadResult>"#,
        )
        .unwrap();
        assert_eq!(r.upload_id, "0004B9894A22E5B1888A1E29F823****");
    }

    #[test]
    fn writes_complete_body() {
        assert_eq!(
            complete_body(&[(1, "\"A\"".into()), (2, "\"B\"".into())]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"A\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"B\"</ETag></Part></CompleteMultipartUpload>"
        );
    }

    #[test]
    fn reads_errors() {
        let e: ErrorResponse = parse(
            "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message>\
             <RequestId>5C3D9175B6FC201293AD****</RequestId><BucketName>x</BucketName></Error>",
        )
        .unwrap();
        assert_eq!(e.code, "NoSuchBucket");
    }
}

//! The XML bodies of the multipart API and of errors, in OSS's element names.

use serde::{Deserialize, Serialize};

use super::error::OssError;

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Serializes a response document with the XML declaration OSS sends.
pub fn document<T: Serialize>(value: &T) -> String {
    let body = quick_xml::se::to_string(value).expect("response types serialize");
    format!("{DECLARATION}{body}")
}

#[derive(Serialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub struct InitiateResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

#[derive(Serialize)]
#[serde(rename = "CopyPartResult", rename_all = "PascalCase")]
pub struct CopyPartResult {
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Serialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub struct CompleteResult {
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// S3's full-object CRC-64/NVME (base64), for an upload that took it.
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub checksum_crc64nvme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

#[derive(Serialize)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
pub struct ListPartsResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    #[serde(rename = "Part")]
    pub parts: Vec<PartEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub hash_crc64ecma: String,
    /// The part's CRC-64/NVME (base64), for an upload that takes it.
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub checksum_crc64nvme: Option<String>,
    pub size: u64,
}

#[derive(Serialize)]
#[serde(rename = "ListMultipartUploadsResult", rename_all = "PascalCase")]
pub struct ListUploadsResult {
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub next_key_marker: String,
    pub next_upload_id_marker: String,
    pub delimiter: String,
    pub prefix: String,
    pub max_uploads: u32,
    pub is_truncated: bool,
    #[serde(rename = "Upload")]
    pub uploads: Vec<UploadEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiated: String,
}

#[derive(Serialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListObjectsV2Result {
    pub name: String,
    pub prefix: String,
    pub start_after: String,
    pub continuation_token: String,
    pub max_keys: u32,
    /// Empty, or `url`: keys and tokens are then percent-encoded.
    pub encoding_type: String,
    pub is_truncated: bool,
    pub next_continuation_token: String,
    pub key_count: u32,
    #[serde(rename = "Contents")]
    pub contents: Vec<ObjectEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub size: u64,
    pub storage_class: String,
}

/// The body of CompleteMultipartUpload.
#[derive(Deserialize, Debug)]
pub struct CompleteRequest {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

#[derive(Deserialize, Debug)]
pub struct CompletePart {
    #[serde(rename = "PartNumber")]
    pub part_number: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// Parses a CompleteMultipartUpload body into `(part number, etag)`.
pub fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, OssError> {
    let text = std::str::from_utf8(body).map_err(|_| OssError::MalformedXml)?;
    let doc: CompleteRequest = quick_xml::de::from_str(text).map_err(|_| OssError::MalformedXml)?;
    doc.parts
        .into_iter()
        .map(|p| {
            let n = p
                .part_number
                .trim()
                .parse()
                .map_err(|_| OssError::MalformedXml)?;
            Ok((n, p.etag.trim().to_string()))
        })
        .collect()
}

/// The error document: Code, Message, RequestId, HostId, then details.
pub fn error(err: &OssError, request_id: &str, host_id: &str) -> String {
    use quick_xml::escape::escape;
    let mut out = format!(
        "{DECLARATION}<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>{}</HostId>\n",
        err.code(),
        escape(err.to_string().as_str()),
        escape(request_id),
        escape(host_id)
    );
    for (name, value) in err.details() {
        out.push_str(&format!("  <{name}>{}</{name}>\n", escape(value.as_str())));
    }
    out.push_str("</Error>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_complete_body() {
        let body = br#"<CompleteMultipartUpload>
            <Part><PartNumber>1</PartNumber><ETag>"AA"</ETag></Part>
            <Part><PartNumber> 5 </PartNumber><ETag>"BB"</ETag></Part>
        </CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(body).unwrap(),
            vec![(1, "\"AA\"".to_string()), (5, "\"BB\"".to_string())]
        );
        assert_eq!(parse_complete(b"<nope"), Err(OssError::MalformedXml));
    }

    #[test]
    fn list_parts_uses_oss_names() {
        let doc = document(&ListPartsResult {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "U".into(),
            part_number_marker: 0,
            next_part_number_marker: 2,
            max_parts: 1000,
            is_truncated: false,
            parts: vec![PartEntry {
                part_number: 2,
                last_modified: "2012-02-23T07:01:34.000Z".into(),
                etag: "\"E\"".into(),
                hash_crc64ecma: "9".into(),
                checksum_crc64nvme: None,
                size: 5,
            }],
        });
        assert!(doc.starts_with("<?xml"), "{doc}");
        for needle in [
            "<ListPartsResult>",
            "<NextPartNumberMarker>2</NextPartNumberMarker>",
            "<IsTruncated>false</IsTruncated>",
            "<Part><PartNumber>2</PartNumber>",
            "<HashCrc64ecma>9</HashCrc64ecma>",
            "<Size>5</Size></Part>",
        ] {
            assert!(doc.contains(needle), "{needle} missing in {doc}");
        }
    }

    #[test]
    fn error_document_escapes() {
        let doc = error(&OssError::NoSuchKey { key: "a<b".into() }, "RID", "host");
        assert!(doc.contains("<Code>NoSuchKey</Code>"));
        assert!(doc.contains("<Key>a&lt;b</Key>"));
        assert!(doc.contains("<RequestId>RID</RequestId>"));
    }
}

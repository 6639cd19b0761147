//! The OSS XML documents ferry reads and writes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    pub upload_id: String,
    /// The additional checksum the upload takes (S3), when the store says
    /// so in the document rather than in `x-amz-checksum-algorithm`.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
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
    /// The part's CRC-64/NVME (base64), for an upload that takes it.
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub checksum_crc64nvme: Option<String>,
}

/// The answer to UploadPartCopy.
#[derive(Debug, Deserialize)]
pub struct CopyPartResult {
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Deserialize)]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "ETag")]
    pub etag: String,
    /// The object's CRC-64/NVME (base64), for an upload that takes it.
    #[serde(rename = "ChecksumCRC64NVME", default)]
    pub checksum_crc64nvme: Option<String>,
}

/// One page of ListParts.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListPartsResult {
    pub is_truncated: bool,
    pub next_part_number_marker: Option<u32>,
    #[serde(rename = "Part")]
    pub parts: Vec<ListedPart>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListedPart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    /// Decimal CRC-64 of the part; absent from stores that do not keep one.
    pub hash_crc64ecma: Option<String>,
    /// The part's CRC-64/NVME (base64), from an S3 store that keeps it.
    #[serde(rename = "ChecksumCRC64NVME")]
    pub checksum_crc64nvme: Option<String>,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListMultipartUploadsResult {
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload")]
    pub uploads: Vec<ListedUpload>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListedUpload {
    pub key: String,
    pub upload_id: String,
    /// ISO 8601, which sorts as it reads.
    pub initiated: String,
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
    let parts: Vec<(u32, String, Option<u64>)> =
        parts.iter().map(|(n, e)| (*n, e.clone(), None)).collect();
    complete_body_with(&parts)
}

/// The CompleteMultipartUpload document, with each part's CRC-64/NVME where
/// given.
pub fn complete_body_with(parts: &[(u32, String, Option<u64>)]) -> String {
    let doc = CompleteMultipartUpload {
        parts: parts
            .iter()
            .map(|(n, etag, crc)| CompletePart {
                part_number: *n,
                etag: etag.clone(),
                checksum_crc64nvme: crc.map(crate::crc::to_base64),
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
    fn writes_part_checksums_and_reads_s3s_answers() {
        assert_eq!(
            complete_body_with(&[(1, "\"A\"".into(), Some(0xAE8B_1486_0A79_9888))]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"A\"</ETag>\
             <ChecksumCRC64NVME>rosUhgp5mIg=</ChecksumCRC64NVME></Part></CompleteMultipartUpload>"
        );
        let r: InitiateMultipartUploadResult = parse(
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>\
             <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>\
             </InitiateMultipartUploadResult>",
        )
        .unwrap();
        assert_eq!(r.checksum_algorithm.as_deref(), Some("CRC64NVME"));
        let c: CompleteMultipartUploadResult = parse(
            "<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag>\
             <ChecksumCRC64NVME>rosUhgp5mIg=</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType>\
             </CompleteMultipartUploadResult>",
        )
        .unwrap();
        assert_eq!(c.checksum_crc64nvme.as_deref(), Some("rosUhgp5mIg="));
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
    fn reads_list_parts() {
        let r: ListPartsResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListPartsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
              <Bucket>multipart_upload</Bucket><Key>multipart.data</Key>
              <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>
              <NextPartNumberMarker>5</NextPartNumberMarker><MaxParts>1000</MaxParts>
              <IsTruncated>false</IsTruncated>
              <Part><PartNumber>1</PartNumber><LastModified>2012-02-23T07:01:34.000Z</LastModified>
                <ETag>"3349DC700140D7F86A0784842780****"</ETag>
                <HashCrc64ecma>1234</HashCrc64ecma><Size>6291456</Size></Part>
              <Part><PartNumber>2</PartNumber><LastModified>2012-02-23T07:01:12.000Z</LastModified>
                <ETag>"3349DC700140D7F86A0784842780****"</ETag><Size>6291456</Size></Part>
            </ListPartsResult>"#,
        )
        .unwrap();
        assert!(!r.is_truncated);
        assert_eq!(r.next_part_number_marker, Some(5));
        assert_eq!(r.parts.len(), 2);
        assert_eq!(r.parts[0].hash_crc64ecma.as_deref(), Some("1234"));
        assert_eq!(r.parts[1].hash_crc64ecma, None);
        assert_eq!(r.parts[1].size, 6291456);
    }

    #[test]
    fn reads_list_uploads() {
        let r: ListMultipartUploadsResult = parse(
            r#"<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>true</IsTruncated>
              <NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>U2</NextUploadIdMarker>
              <Upload><Key>k</Key><UploadId>U1</UploadId><Initiated>2012-02-23T04:18:23.000Z</Initiated></Upload>
              <Upload><Key>k</Key><UploadId>U2</UploadId><Initiated>2012-02-23T04:18:24.000Z</Initiated></Upload>
            </ListMultipartUploadsResult>"#,
        )
        .unwrap();
        assert!(r.is_truncated);
        assert_eq!(r.uploads.len(), 2);
        assert_eq!(r.uploads[1].upload_id, "U2");
        assert_eq!(r.next_upload_id_marker.as_deref(), Some("U2"));
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

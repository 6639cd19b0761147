//! OSS error responses: the documented codes, their HTTP statuses, and the
//! XML body OSS sends with them.

use hyper::StatusCode;

/// An error the store answers with, by OSS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OssError {
    #[error("{0}")]
    AccessDenied(String),
    #[error("The OSS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId { key_id: String },
    /// A temporary (STS) key without its security token, or with another one.
    #[error("The security token you provided is invalid.")]
    InvalidSecurityToken { key_id: String, missing: bool },
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureDoesNotMatch {
        key_id: String,
        string_to_sign: String,
    },
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed {
        request_time: String,
        server_time: String,
    },
    #[error("The specified bucket does not exist.")]
    NoSuchBucket { bucket: String },
    #[error("The specified key does not exist.")]
    NoSuchKey { key: String },
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload { upload_id: String },
    #[error("One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")]
    InvalidPart { part_number: u32 },
    #[error("The list of parts was not in ascending order. The parts list must be specified in order by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed size.")]
    EntityTooSmall { part_number: u32, size: u64 },
    #[error("{message}")]
    InvalidArgument {
        message: String,
        name: String,
        value: String,
    },
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    /// A stated checksum (S3's `x-amz-checksum-*`) that the bytes do not have.
    #[error("The checksum you specified did not match what we received.")]
    BadDigest,
    #[error("The XML you provided was not well-formed or did not validate against our published schema.")]
    MalformedXml,
    /// A copy's `x-oss-copy-source-if-match` did not match the source.
    #[error("At least one of the pre-conditions you specified did not hold.")]
    PreconditionFailed { condition: String },
    /// `x-oss-forbid-overwrite: true` on a write to a key that exists.
    #[error("The object you specified already exists and can not be overwritten.")]
    FileAlreadyExists,
    #[error("{0}")]
    NotImplemented(String),
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed,
    #[error("{0}")]
    InternalError(String),
    /// An error injected by a fault knob: `status` with the OSS code that
    /// goes with it (see [`OssError::code`]) and optional `Retry-After`.
    #[error("{}", injected_message(*status))]
    Injected {
        status: u16,
        retry_after: Option<u32>,
    },
}

/// The code OSS sends with an injected status.
fn injected_code(status: u16) -> &'static str {
    match status {
        429 => "QpsLimitExceeded",
        503 => "ServiceUnavailable",
        403 => "AccessDenied",
        404 => "NoSuchUpload",
        400 => "InvalidRequest",
        409 => "OperationConflict",
        s if s >= 500 => "InternalError",
        _ => "InvalidRequest",
    }
}

/// The message OSS sends with an injected status.
fn injected_message(status: u16) -> &'static str {
    match status {
        429 => "Please reduce your request rate.",
        503 => "Thread pool is almost full, please retry later.",
        403 => "You have no right to access this object because of bucket acl.",
        404 => "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        s if s >= 500 => "We encountered an internal error. Please try again.",
        _ => "The request was refused (fault injected by the ferry test bed).",
    }
}

impl OssError {
    /// The `<Code>` OSS sends.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied(_) => "AccessDenied",
            // OSS reports token problems under InvalidAccessKeyId (EC
            // 0002-00000003 / 0002-00000008).
            Self::InvalidAccessKeyId { .. } | Self::InvalidSecurityToken { .. } => {
                "InvalidAccessKeyId"
            }
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            Self::NoSuchBucket { .. } => "NoSuchBucket",
            Self::NoSuchKey { .. } => "NoSuchKey",
            Self::NoSuchUpload { .. } => "NoSuchUpload",
            Self::InvalidPart { .. } => "InvalidPart",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::EntityTooSmall { .. } => "EntityTooSmall",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::InvalidDigest => "InvalidDigest",
            Self::BadDigest => "BadDigest",
            Self::MalformedXml => "MalformedXML",
            Self::PreconditionFailed { .. } => "PreconditionFailed",
            Self::FileAlreadyExists => "FileAlreadyExists",
            Self::NotImplemented(_) => "NotImplemented",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::InternalError(_) => "InternalError",
            Self::Injected { status, .. } => injected_code(*status),
        }
    }

    /// The HTTP status OSS pairs with the code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AccessDenied(_)
            | Self::InvalidAccessKeyId { .. }
            | Self::InvalidSecurityToken { .. }
            | Self::SignatureDoesNotMatch { .. }
            | Self::RequestTimeTooSkewed { .. } => StatusCode::FORBIDDEN,
            Self::NoSuchBucket { .. } | Self::NoSuchKey { .. } | Self::NoSuchUpload { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::InvalidPart { .. }
            | Self::InvalidPartOrder
            | Self::EntityTooSmall { .. }
            | Self::InvalidArgument { .. }
            | Self::InvalidDigest
            | Self::BadDigest
            | Self::MalformedXml => StatusCode::BAD_REQUEST,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::FileAlreadyExists => StatusCode::CONFLICT,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InternalError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Injected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// Seconds for a `Retry-After` header, if this error sends one.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::Injected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Extra elements OSS adds after `<HostId>` for this error. Never holds a
    /// secret: the string to sign is built from the request alone.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::InvalidAccessKeyId { key_id } => vec![("OSSAccessKeyId", key_id.clone())],
            Self::InvalidSecurityToken { key_id, missing } => vec![
                ("OSSAccessKeyId", key_id.clone()),
                (
                    "EC",
                    if *missing {
                        "0002-00000003"
                    } else {
                        "0002-00000008"
                    }
                    .to_string(),
                ),
            ],
            Self::SignatureDoesNotMatch {
                key_id,
                string_to_sign,
            } => vec![
                ("StringToSign", string_to_sign.clone()),
                ("OSSAccessKeyId", key_id.clone()),
            ],
            Self::RequestTimeTooSkewed {
                request_time,
                server_time,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
                ("MaxAllowedSkewMilliseconds", "900000".to_string()),
            ],
            Self::NoSuchBucket { bucket } => vec![("BucketName", bucket.clone())],
            Self::NoSuchKey { key } => vec![("Key", key.clone())],
            Self::NoSuchUpload { upload_id } => vec![("UploadId", upload_id.clone())],
            Self::InvalidPart { part_number } => vec![("PartNumber", part_number.to_string())],
            Self::EntityTooSmall { part_number, size } => vec![
                ("PartNumber", part_number.to_string()),
                ("ProposedSize", size.to_string()),
                ("MinSizeAllowed", super::MIN_PART_SIZE.to_string()),
            ],
            Self::InvalidArgument { name, value, .. } => vec![
                ("ArgumentName", name.clone()),
                ("ArgumentValue", value.clone()),
            ],
            _ => Vec::new(),
        }
    }

    /// A shorthand for `InvalidArgument`.
    pub fn argument(name: &str, value: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            message: message.into(),
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

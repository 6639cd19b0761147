//! The engine's error: a [`Failure`] for people and programs, plus whether
//! trying the same step again may help.

use crate::{Failure, FailureKind};
use std::fmt;
use std::time::Duration;

/// An error inside the engine.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: FailureKind,
    pub message: String,
    pub part_number: Option<u32>,
    /// A retry of the same step may succeed (connection reset, 5xx, 429,
    /// a CRC mismatch, a truncated body).
    pub transient: bool,
    /// How long the server asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The upload kept for a resume, when the job asked to keep it.
    pub upload_id: Option<String>,
    /// The HTTP status the source or store answered, when one did.
    pub status: Option<u16>,
    /// The store's error code (`NoSuchUpload`, `SlowDown`...).
    pub code: Option<String>,
    /// The store's request id.
    pub request_id: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            part_number: None,
            transient: false,
            retry_after: None,
            upload_id: None,
            status: None,
            code: None,
            request_id: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(FailureKind::InvalidInput, message)
    }

    pub fn source(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Source, message)
    }

    pub fn store(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Store, message)
    }

    pub fn integrity(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Integrity, message).transient()
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Internal, message)
    }

    /// Marks the error as worth retrying.
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Records the server's `Retry-After` (seconds or an HTTP date).
    pub fn retry_after(mut self, header: Option<&str>) -> Self {
        self.retry_after = header.and_then(parse_retry_after);
        self
    }

    /// Prefixes the message with what was being done.
    pub fn with_context(mut self, doing: &str) -> Self {
        self.message = format!("{doing}: {}", self.message);
        self
    }

    /// Records the HTTP status the source or store answered.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Whether the store answered with error code `code` (`NoSuchUpload`):
    /// read from its code, never from its words.
    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Whether a transient failure is the store or source asking for fewer
    /// requests: HTTP 429 or 503, or a throttling code (S3's `SlowDown`,
    /// OSS's and others' rate limits). Read from the failure's status and
    /// code, which cross the fan-out with it; never from its message.
    pub fn is_throttle(&self) -> bool {
        const CODES: [&str; 9] = [
            "SlowDown",
            "TooManyRequests",
            "Throttling",
            "RequestLimitExceeded",
            "QpsLimitExceeded",
            "RequestRateTooHigh",
            "UploadTrafficRateLimitExceeded",
            "DownloadTrafficRateLimitExceeded",
            "ServiceUnavailable",
        ];
        self.transient
            && (matches!(self.status, Some(429 | 503))
                || self.code.as_deref().is_some_and(|c| CODES.contains(&c)))
    }

    /// Attributes the error to a part.
    pub fn part(mut self, part_number: u32) -> Self {
        self.part_number.get_or_insert(part_number);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.part_number {
            Some(n) => write!(f, "part {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            kind: e.kind,
            message: e.message,
            part_number: e.part_number,
            upload_id: e.upload_id,
            status: e.status,
            code: e.code,
            request_id: e.request_id,
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        Error {
            kind: f.kind,
            message: f.message,
            part_number: f.part_number,
            transient: false,
            retry_after: None,
            upload_id: f.upload_id,
            status: f.status,
            code: f.code,
            request_id: f.request_id,
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP date; at most an hour.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(delay.min(Duration::from_secs(3600)))
}

impl FailureKind {
    /// The kind as the WIT names it (`invalid-input`), which is also how
    /// its JSON says it.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Throttling is read from the status and the store's code, whatever
    /// the message says; a message that only says "SlowDown" is not.
    #[test]
    fn kinds_are_named_as_the_wit_names_them() {
        assert_eq!(FailureKind::InvalidInput.name(), "invalid-input");
        assert_eq!(FailureKind::Stopping.name(), "stopping");
    }

    #[test]
    fn throttling_comes_from_status_and_code() {
        let answered = |status: u16, code: Option<&str>| {
            let mut e = Error::store("UploadPart refused: the store is busy").transient();
            e.status = Some(status);
            e.code = code.map(str::to_string);
            e
        };
        assert!(answered(503, None).is_throttle());
        assert!(answered(429, None).is_throttle());
        assert!(answered(500, Some("SlowDown")).is_throttle());
        assert!(!answered(500, Some("InternalError")).is_throttle());
        let said = Error::store("UploadPart refused: SlowDown (HTTP 503)").transient();
        assert!(!said.is_throttle());
        let crossed = Error::from(Failure::from(answered(503, Some("SlowDown"))));
        assert!(crossed.transient().is_throttle());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("86400"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}

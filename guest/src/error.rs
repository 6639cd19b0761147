//! The engine's error: a [`Failure`] for people and programs, plus whether
//! trying the same step again may help.

use crate::{Failure, FailureKind};
use std::fmt;

/// An error inside the engine.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: FailureKind,
    pub message: String,
    pub part_number: Option<u32>,
    /// A retry of the same step may succeed (connection reset, 5xx, 429,
    /// a CRC mismatch, a truncated body).
    pub transient: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            part_number: None,
            transient: false,
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
        }
    }
}

impl FailureKind {
    /// The name used in JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::InvalidInput => "invalid-input",
            FailureKind::Source => "source",
            FailureKind::Store => "store",
            FailureKind::Integrity => "integrity",
            FailureKind::Exhausted => "exhausted",
            FailureKind::Internal => "internal",
        }
    }
}

//! Errors of the probe crate: the wire format ([`WireError`]; every variant names what was
//! wrong, because a rejected probe output turns into an `inconclusive` verdict whose detail a
//! human reads) and the random source of [`crate::sys::random`] ([`RandomError`]).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    #[error("probe output exceeds {limit} bytes")]
    OutputTooLarge { limit: usize },
    #[error("probe output line {line} exceeds {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    #[error("probe output is not UTF-8 text")]
    NotUtf8,
    #[error("probe output line {line} is not a protocol line: {excerpt:?}")]
    Garbage { line: usize, excerpt: String },
    #[error("probe output line {line}: unknown field {key:?}")]
    UnknownField { line: usize, key: String },
    #[error("probe output line {line}: field {key:?} appears twice")]
    DuplicateField { line: usize, key: String },
    #[error("probe output line {line}: field {key:?} is missing")]
    MissingField { line: usize, key: &'static str },
    #[error("probe output line {line}: field {key:?} has a bad value {value:?}")]
    BadValue {
        line: usize,
        key: String,
        value: String,
    },
    #[error("probe output reports attempt {id:?}, which the harness never asked for")]
    UnknownAttempt { id: String },
    #[error("probe output reports attempt {id:?} twice")]
    DuplicateAttempt { id: String },
    #[error("probe output has no BEGIN line for session {session:?}")]
    MissingBegin { session: String },
    #[error("probe output has no END line for session {session:?}: the probe did not finish")]
    MissingEnd { session: String },
    #[error("probe output names session {found:?}, expected {expected:?}")]
    WrongSession { expected: String, found: String },
    #[error("attempt spec {spec:?} is malformed: {reason}")]
    BadSpec { spec: String, reason: String },
}

/// The operating system's random source failed. There is no fallback: a guessable nonce is
/// worse than none.
#[derive(Debug, Error)]
#[error(
    "the operating system's random source failed ({0}); refusing to fall back to a guessable value"
)]
pub struct RandomError(#[source] pub getrandom::Error);

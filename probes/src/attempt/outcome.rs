//! How an attempt's failure becomes an [`Outcome`].
//!
//! Classification is deliberately narrow: only ECONNREFUSED, a timeout, and EHOSTUNREACH /
//! ENETUNREACH are network denials. Anything else (EMFILE, EACCES, a parse failure) is `error`,
//! which the harness never counts as contained.

use std::io;

use crate::wire::{AttemptSpec, Observation, Outcome};

const EHOSTUNREACH: i32 = 113;
const ENETUNREACH: i32 = 101;

/// An observation of `spec` that ended in `outcome`, with the errno and a note saying why.
pub(crate) fn failed(
    spec: &AttemptSpec,
    outcome: Outcome,
    errno: Option<i32>,
    note: String,
) -> Observation {
    let mut observation = Observation::new(&spec.id, outcome, 0);
    observation.errno = errno;
    observation.note = Some(note);
    observation
}

/// Maps an I/O error to an outcome; only three kinds count as the network saying no.
pub(crate) fn classify(error: &io::Error) -> Outcome {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::Timeout,
        _ => match error.raw_os_error() {
            Some(EHOSTUNREACH) | Some(ENETUNREACH) => Outcome::Unreachable,
            _ => Outcome::Error,
        },
    }
}

/// The observation of an I/O error at `stage` (connect, send, ...), classified.
pub(crate) fn from_error(spec: &AttemptSpec, stage: &str, error: &io::Error) -> Observation {
    failed(
        spec,
        classify(error),
        error.raw_os_error(),
        format!("{stage}: {error}"),
    )
}

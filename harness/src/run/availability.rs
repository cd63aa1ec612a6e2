//! Whether the backend can run a bottle here; an unavailable one is the error that exits 3.

use bottle_backends::{Availability, BottleBackend};

use crate::errors::HarnessError;
use crate::select::AnyBackend;

/// Checks availability; `Unavailable` becomes the error that exits 3.
pub(crate) async fn require_available(backend: &AnyBackend) -> Result<String, HarnessError> {
    match backend.availability().await {
        Availability::Available { version } => Ok(version),
        Availability::Unavailable { reason } => Err(HarnessError::Backend(
            bottle_backends::BackendError::Unavailable {
                backend: backend.name(),
                reason,
            },
        )),
    }
}

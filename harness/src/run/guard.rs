//! The teardown guard: tears a run down when dropped unless disarmed, which covers panics and
//! early returns (the async teardown cannot run in `Drop`, so it gets a thread of its own).

use bottle_backends::BottleBackend;

use crate::select::{AnyBackend, BackendKind};

/// Tears the run down when dropped unless disarmed: covers panics and early returns.
pub(super) struct TeardownGuard {
    pub kind: BackendKind,
    pub run_id: String,
    pub armed: bool,
}

impl Drop for TeardownGuard {
    fn drop(&mut self) {
        if self.armed {
            blocking_teardown(self.kind, self.run_id.clone());
        }
    }
}

/// Tears a run down from a plain thread with its own runtime: usable from `Drop`.
fn blocking_teardown(kind: BackendKind, run_id: String) {
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let backend = AnyBackend::new(kind);
            let _ = backend.teardown(&run_id).await;
        });
    })
    .join();
}

//! The text protocol between the harness and `bottle-probe`.
//!
//! The harness passes attempts on argv (no stdin is ever attached to an exec), one token per
//! attempt: `id=...;kind=tcp;addr=10.0.0.2:80;nonce=...;timeout_ms=800`. The probe answers on
//! stdout with one line per attempt between a BEGIN and an END line that carry the session
//! nonce the harness chose:
//!
//! ```text
//! CB2-BEGIN session=3f2a attempts=2
//! CB2 id=lan.fixture_host#0 outcome=timeout elapsed_ms=800
//! CB2 id=proxy.allowed#0 outcome=http elapsed_ms=12 status=200 ack=1
//! CB2-END session=3f2a
//! ```
//!
//! Everything the probe prints is hostile input: an agent that controls the sandbox controls this
//! text. [`ProbeOutput::parse`] is therefore strict: bounded size and line length, a closed set of
//! fields with closed value syntax, no unknown or duplicate attempt ids, and a BEGIN/END pair with
//! the right session. Any violation rejects the whole output, which the harness turns into
//! `inconclusive` (never `pass`). A probe that lies within the syntax is caught by the target-side
//! evidence the harness collects itself.
//!
//! * [`limits`]: the protocol tag and the size bounds both sides keep.
//! * [`spec`]: attempt specs and their argv token (encode, strict decode).
//! * [`observation`]: outcomes and result lines as the probe writes them.
//! * [`parser`]: the strict parser of a whole probe output.
//! * [`percent`]: the percent encoding of free-text values (notes, refusal reasons).
//! * [`refusal`]: how a proxy's own refusal is recognised (the signatures the probe reports).

pub(crate) mod limits;
mod observation;
mod parser;
mod percent;
pub mod refusal;
mod spec;

pub use limits::{MAX_ANSWERS, MAX_LINE_BYTES, MAX_OUTPUT_BYTES};
pub use observation::{Observation, Outcome, StreamEnd, TunnelEnd};
pub use parser::ProbeOutput;
pub use percent::percent_encode;
pub use refusal::{Signature, UserRefusal};
pub use spec::{AttemptKind, AttemptSpec, Stage};

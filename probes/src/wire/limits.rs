//! The protocol tag and the bounds of the wire format. The parser enforces them on hostile
//! output; the probe keeps within them when it writes (a sweep lists at most
//! [`MAX_OPEN_PORTS`], a DNS answer at most [`MAX_ANSWERS`]).

/// Protocol tag on every line; bump it when the line format changes (CB2: the proxy refusal
/// signatures `signed=` and `reason=` replaced `deny=`).
pub(crate) const PROTOCOL: &str = "CB2";
/// The most stdout the harness accepts from one probe run.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;
/// The longest single line the harness accepts.
pub const MAX_LINE_BYTES: usize = 4096;
/// The most ports a sweep result may list as open.
pub(crate) const MAX_OPEN_PORTS: usize = 128;
/// The most addresses a DNS answer may list.
pub const MAX_ANSWERS: usize = 16;

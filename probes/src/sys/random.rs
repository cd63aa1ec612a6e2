//! Random bytes from the operating system (`getrandom`), with no fallback: nonces and run ids
//! are evidence, and a guessable one (time, pid) would let injected contact look explained. A
//! failing random source is an error the caller sees, never a weaker value.

use crate::errors::RandomError;

/// Fills `buffer` from the operating system's random source.
pub fn fill(buffer: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buffer).map_err(RandomError)
}

/// As [`fill`], for callers that cannot go on without randomness.
///
/// # Panics
///
/// When the operating system's random source fails: loudly, instead of a guessable value.
pub fn must_fill(buffer: &mut [u8]) {
    if let Err(error) = fill(buffer) {
        panic!("{error}");
    }
}

/// `bytes` random bytes as lowercase hex (`2 * bytes` characters).
pub fn hex(bytes: usize) -> Result<String, RandomError> {
    let mut buffer = vec![0u8; bytes];
    fill(&mut buffer)?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_distinct_values() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        fill(&mut a).unwrap();
        must_fill(&mut b);
        assert_ne!(a, b, "two 128-bit draws collided");
        let text = hex(5).unwrap();
        assert_eq!(text.len(), 10);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}

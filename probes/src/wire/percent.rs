//! Percent encoding of free-text values (notes, deny reasons): everything outside
//! `[A-Za-z0-9._-]` is encoded, so a value never contains a space or a field separator, and
//! decoding refuses anything else (a raw space, a bad escape, invalid UTF-8).

use std::fmt::Write as _;

/// Percent-encodes everything outside `[A-Za-z0-9._-]`, so a value never contains a space.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes().take(1024) {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"._-".contains(&b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Letters, digits and `._-` stay as they are; everything else is encoded, so a value can
    /// never carry a space, a `;` or a newline into a line.
    #[test]
    fn only_unreserved_bytes_stay_plain() {
        assert_eq!(percent_encode("a.B-9_z"), "a.B-9_z");
        assert_eq!(percent_encode("a b;c\n"), "a%20b%3Bc%0A");
        assert_eq!(
            percent_decode(&percent_encode("x y")).as_deref(),
            Some("x y")
        );
    }
}

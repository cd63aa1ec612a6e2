//! DNS over TCP: every message goes with its length in front, two bytes, big-endian
//! (RFC 1035, 4.2.2). The probe, the DNS canary and the harness's liveness check all frame
//! and unframe the same way.

use std::io::{self, Read};

/// The longest message a two-byte length can announce.
pub const MAX_MESSAGE_BYTES: usize = u16::MAX as usize;

/// The message with its length in front; `None` when it is too long to frame.
pub fn frame(message: &[u8]) -> Option<Vec<u8>> {
    let length = u16::try_from(message.len()).ok()?;
    let mut framed = Vec::with_capacity(2 + message.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    Some(framed)
}

/// The length a frame announces, once its two bytes are in.
pub fn announced_length(buffer: &[u8]) -> Option<usize> {
    match buffer {
        [high, low, ..] => Some(usize::from(u16::from_be_bytes([*high, *low]))),
        _ => None,
    }
}

/// Whether `buffer` holds a whole frame (the length and at least that many bytes after it):
/// reading can stop.
pub fn is_complete(buffer: &[u8]) -> bool {
    announced_length(buffer).is_some_and(|length| buffer.len() >= 2 + length)
}

/// What a buffer read from a DNS-over-TCP peer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unframed<'a> {
    /// Fewer than the two length bytes.
    NoLength,
    /// The length came, the whole message did not.
    Truncated,
    /// The message the length announced (bytes after it are left out).
    Message(&'a [u8]),
}

/// The first message in `buffer`.
pub fn unframe(buffer: &[u8]) -> Unframed<'_> {
    let Some(length) = announced_length(buffer) else {
        return Unframed::NoLength;
    };
    match buffer.get(2..2 + length) {
        Some(message) => Unframed::Message(message),
        None => Unframed::Truncated,
    }
}

/// Reads the two length bytes of the next frame.
pub fn read_length(reader: &mut impl Read) -> io::Result<usize> {
    let mut length = [0u8; 2];
    reader.read_exact(&mut length)?;
    Ok(usize::from(u16::from_be_bytes(length)))
}

/// Reads one whole framed message (its length, then exactly that many bytes).
pub fn read_message(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut message = vec![0u8; read_length(reader)?];
    reader.read_exact(&mut message)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_unframes() {
        let framed = frame(b"abc").unwrap();
        assert_eq!(framed, [0, 3, b'a', b'b', b'c']);
        assert!(is_complete(&framed));
        assert_eq!(unframe(&framed), Unframed::Message(b"abc"));
        // Bytes after the message are not part of it.
        let mut longer = framed.clone();
        longer.push(b'x');
        assert_eq!(unframe(&longer), Unframed::Message(b"abc"));
        assert_eq!(read_message(&mut &framed[..]).unwrap(), b"abc");
    }

    #[test]
    fn short_buffers_are_not_messages() {
        assert_eq!(unframe(&[]), Unframed::NoLength);
        assert_eq!(unframe(&[0]), Unframed::NoLength);
        assert_eq!(unframe(&[0, 3, b'a']), Unframed::Truncated);
        assert!(!is_complete(&[0, 3, b'a']));
        assert!(is_complete(&[0, 0]));
        assert!(read_message(&mut &[0u8, 3, b'a'][..]).is_err());
        assert!(read_length(&mut &[0u8][..]).is_err());
    }

    #[test]
    fn the_length_is_big_endian_and_bounded() {
        let message = vec![7u8; 0x0102];
        assert_eq!(&frame(&message).unwrap()[..2], &[1, 2]);
        assert_eq!(announced_length(&[1, 2]), Some(0x0102));
        assert!(frame(&vec![0u8; MAX_MESSAGE_BYTES]).is_some());
        assert!(frame(&vec![0u8; MAX_MESSAGE_BYTES + 1]).is_none());
    }
}

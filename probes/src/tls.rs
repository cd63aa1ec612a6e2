//! A minimal TLS ClientHello codec: enough for a probe to open a tunnel with a ClientHello that
//! names a server (SNI) and carries its nonce (an ALPN name `cb-<nonce>`), and for the canary
//! and the bundle stand-in to read both back. Nothing past the ClientHello is spoken: the
//! canary answers a raw `CB-ACK` line, which is all the probe needs.
//!
//! The layout is RFC 8446 section 4.1.2 (ClientHello), the extensions RFC 6066 section 3
//! (server_name), RFC 7301 section 3.1 (ALPN) and RFC 8446 section 4.2.1 (supported_versions).
//! Every read is bounds-checked; a malformed message is `None`, never a panic. Pure Rust, every
//! platform.

/// The prefix of the ALPN name that carries a probe's nonce.
pub const NONCE_ALPN_PREFIX: &str = "cb-";

/// The largest TLS plaintext fragment (RFC 8446 section 5.1: 2^14 bytes).
pub const MAX_RECORD: usize = 16_384;

/// A TLS record header: content type, legacy version, length.
const HEADER: usize = 5;
const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_KEY_SHARE: u16 = 51;
/// TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256,
/// ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256.
const CIPHER_SUITES: [u16; 5] = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f];
/// x25519, secp256r1.
const GROUPS: [u16; 2] = [0x001d, 0x0017];
/// ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
const SIGNATURE_SCHEMES: [u16; 3] = [0x0403, 0x0804, 0x0401];
/// The longest server name and ALPN name written (both are length-prefixed with one byte in
/// ALPN, and a DNS name is at most 253 bytes).
const MAX_NAME: usize = 255;

/// What a ClientHello said that the suite looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The first `host_name` of the server_name extension.
    pub sni: Option<String>,
    /// The ALPN protocol names, in order.
    pub alpn: Vec<String>,
}

fn push_u16(out: &mut Vec<u8>, value: usize) {
    out.extend_from_slice(&(value as u16).to_be_bytes());
}

fn push_extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    push_u16(out, data.len());
    out.extend_from_slice(data);
}

fn truncated(text: &str) -> &[u8] {
    let bytes = text.as_bytes();
    &bytes[..bytes.len().min(MAX_NAME)]
}

/// One TLS record holding a ClientHello for `sni` (no server_name extension when empty) that
/// offers the ALPN names `alpn` (empty names are left out; names are cut at 255 bytes), TLS 1.3
/// and 1.2, and a fresh random and session id.
///
/// # Panics
///
/// When the operating system's random source fails (see [`crate::sys::random::must_fill`]).
pub fn client_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
    let mut random = [0u8; 32 + 32 + 32];
    crate::sys::random::must_fill(&mut random);
    let (hello_random, rest) = random.split_at(32);
    let (session_id, key_share) = rest.split_at(32);

    let mut extensions = Vec::new();
    if !sni.is_empty() {
        let name = truncated(sni);
        let mut data = Vec::with_capacity(name.len() + 5);
        push_u16(&mut data, name.len() + 3);
        data.push(0); // host_name
        push_u16(&mut data, name.len());
        data.extend_from_slice(name);
        push_extension(&mut extensions, EXT_SERVER_NAME, &data);
    }
    let mut groups = Vec::new();
    push_u16(&mut groups, GROUPS.len() * 2);
    GROUPS
        .iter()
        .for_each(|g| groups.extend_from_slice(&g.to_be_bytes()));
    push_extension(&mut extensions, EXT_SUPPORTED_GROUPS, &groups);
    let mut schemes = Vec::new();
    push_u16(&mut schemes, SIGNATURE_SCHEMES.len() * 2);
    SIGNATURE_SCHEMES
        .iter()
        .for_each(|s| schemes.extend_from_slice(&s.to_be_bytes()));
    push_extension(&mut extensions, EXT_SIGNATURE_ALGORITHMS, &schemes);
    let names: Vec<&[u8]> = alpn
        .iter()
        .map(|name| truncated(name))
        .filter(|name| !name.is_empty())
        .take(64)
        .collect();
    if !names.is_empty() {
        let mut list = Vec::new();
        for name in names {
            list.push(name.len() as u8);
            list.extend_from_slice(name);
        }
        let mut data = Vec::with_capacity(list.len() + 2);
        push_u16(&mut data, list.len());
        data.extend_from_slice(&list);
        push_extension(&mut extensions, EXT_ALPN, &data);
    }
    push_extension(
        &mut extensions,
        EXT_SUPPORTED_VERSIONS,
        &[4, 0x03, 0x04, 0x03, 0x03],
    );
    // One x25519 share (the bytes need not be a key a server could use: nothing past the
    // ClientHello is spoken).
    let mut share = Vec::with_capacity(38);
    push_u16(&mut share, 36);
    share.extend_from_slice(&GROUPS[0].to_be_bytes());
    push_u16(&mut share, 32);
    share.extend_from_slice(key_share);
    push_extension(&mut extensions, EXT_KEY_SHARE, &share);

    let mut body = Vec::with_capacity(128 + extensions.len());
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend_from_slice(hello_random);
    body.push(32);
    body.extend_from_slice(session_id);
    push_u16(&mut body, CIPHER_SUITES.len() * 2);
    CIPHER_SUITES
        .iter()
        .for_each(|c| body.extend_from_slice(&c.to_be_bytes()));
    body.extend_from_slice(&[1, 0]); // null compression
    push_u16(&mut body, extensions.len());
    body.extend_from_slice(&extensions);

    let mut record = Vec::with_capacity(HEADER + 4 + body.len());
    record.extend_from_slice(&[HANDSHAKE, 0x03, 0x01]);
    push_u16(&mut record, body.len() + 4);
    record.push(CLIENT_HELLO);
    record.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    record.extend_from_slice(&body);
    record
}

/// The total length (header included) of the TLS handshake record whose 5-byte header starts
/// `header`, for a reader that must know how much to read; `None` when it is not one (another
/// content type, not TLS 1.x, longer than [`MAX_RECORD`]).
pub fn record_len(header: &[u8]) -> Option<usize> {
    let header = header.get(..HEADER)?;
    if header[0] != HANDSHAKE || header[1] != 0x03 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    (len <= MAX_RECORD).then_some(HEADER + len)
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    /// A block with a one- or two-byte length prefix.
    fn block8(&mut self) -> Option<Reader<'a>> {
        let n = self.u8()?;
        self.take(n).map(Reader)
    }

    fn block16(&mut self) -> Option<Reader<'a>> {
        let n = self.u16()?;
        self.take(n).map(Reader)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads the ClientHello in the first TLS record of `bytes` (the whole record must be there; a
/// ClientHello split over records is `None`).
pub fn parse_client_hello(bytes: &[u8]) -> Option<ClientHello> {
    let total = record_len(bytes)?;
    let mut record = Reader(bytes.get(HEADER..total)?);
    if record.u8()? != usize::from(CLIENT_HELLO) {
        return None;
    }
    let len = record.take(3)?;
    let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
    let mut body = Reader(record.take(len)?);
    body.take(2 + 32)?; // legacy_version, random
    if body.block8()?.0.len() > 32 {
        return None; // legacy_session_id
    }
    let suites = body.block16()?;
    if suites.0.is_empty() || suites.0.len() % 2 != 0 {
        return None;
    }
    if body.block8()?.is_empty() {
        return None; // legacy_compression_methods
    }
    let mut hello = ClientHello::default();
    if body.is_empty() {
        return Some(hello); // no extensions at all
    }
    let mut extensions = body.block16()?;
    if !body.is_empty() {
        return None;
    }
    let (mut seen_sni, mut seen_alpn) = (false, false);
    while !extensions.is_empty() {
        let kind = extensions.u16()?;
        let mut data = extensions.block16()?;
        match kind as u16 {
            EXT_SERVER_NAME if !seen_sni => {
                seen_sni = true;
                let mut list = data.block16()?;
                while !list.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.block16()?;
                    if name_type == 0 && hello.sni.is_none() {
                        hello.sni = Some(String::from_utf8(name.0.to_vec()).ok()?);
                    }
                }
            }
            EXT_ALPN if !seen_alpn => {
                seen_alpn = true;
                let mut list = data.block16()?;
                while !list.is_empty() {
                    let name = list.block8()?;
                    if name.is_empty() {
                        return None;
                    }
                    hello
                        .alpn
                        .push(String::from_utf8_lossy(name.0).into_owned());
                }
            }
            // A repeated server_name or ALPN extension is malformed (RFC 8446 section 4.2).
            EXT_SERVER_NAME | EXT_ALPN => return None,
            _ => {}
        }
    }
    Some(hello)
}

/// The nonce a ClientHello carries in an ALPN name `cb-<nonce>`.
pub fn nonce_of(hello: &ClientHello) -> Option<&str> {
    hello
        .alpn
        .iter()
        .find_map(|name| name.strip_prefix(NONCE_ALPN_PREFIX))
        .filter(|nonce| !nonce.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_client_hello_round_trips() {
        let bytes = client_hello("Denied.Fixture.Test", &["cb-n1", "http/1.1"]);
        assert_eq!(record_len(&bytes), Some(bytes.len()));
        let hello = parse_client_hello(&bytes).unwrap();
        assert_eq!(hello.sni.as_deref(), Some("Denied.Fixture.Test"));
        assert_eq!(hello.alpn, ["cb-n1", "http/1.1"]);
        assert_eq!(nonce_of(&hello), Some("n1"));
        // Two hellos differ (fresh random and session id).
        assert_ne!(
            bytes,
            client_hello("Denied.Fixture.Test", &["cb-n1", "http/1.1"])
        );
    }

    #[test]
    fn sni_and_alpn_are_optional() {
        let hello = parse_client_hello(&client_hello("", &[])).unwrap();
        assert_eq!(hello, ClientHello::default());
        assert_eq!(nonce_of(&hello), None);
        let hello = parse_client_hello(&client_hello("a.test", &["", "h2"])).unwrap();
        assert_eq!(hello.alpn, ["h2"]);
        assert_eq!(
            nonce_of(&ClientHello {
                sni: None,
                alpn: vec!["cb-".into()]
            }),
            None
        );
    }

    #[test]
    fn malformed_records_are_none() {
        let bytes = client_hello("a.test", &["cb-n"]);
        // Cut short anywhere: None.
        for cut in 0..bytes.len() {
            assert_eq!(parse_client_hello(&bytes[..cut]), None, "cut at {cut}");
        }
        // Not a handshake record, not a ClientHello, too long a record.
        let mut other = bytes.clone();
        other[0] = 23;
        assert_eq!(parse_client_hello(&other), None);
        let mut server = bytes.clone();
        server[HEADER] = 2;
        assert_eq!(parse_client_hello(&server), None);
        assert_eq!(record_len(&[22, 3, 1, 0x40, 1]), None);
        assert_eq!(record_len(&[22, 3, 1, 0x40, 0]), Some(HEADER + MAX_RECORD));
        assert_eq!(record_len(b"CB-NONCE x\n"), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_client_hello(&bytes);
            let _ = record_len(&bytes);
        }

        #[test]
        fn parsing_a_mutated_hello_never_panics(
            flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..8),
        ) {
            let mut bytes = client_hello("allowed.fixture.test", &["cb-abc"]);
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            let _ = parse_client_hello(&bytes);
        }

        #[test]
        fn any_name_round_trips(sni in "[a-z0-9.-]{1,200}", nonce in "[a-zA-Z0-9_-]{1,100}") {
            let alpn = format!("{NONCE_ALPN_PREFIX}{nonce}");
            let hello = parse_client_hello(&client_hello(&sni, &[&alpn])).unwrap();
            prop_assert_eq!(hello.sni.as_deref(), Some(sni.as_str()));
            prop_assert_eq!(nonce_of(&hello), Some(nonce.as_str()));
        }
    }
}

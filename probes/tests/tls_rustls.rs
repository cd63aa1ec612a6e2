//! A real TLS server's parser (rustls's server-side `Acceptor`) reads the ClientHello of
//! `tls::client_hello` as a valid ClientHello, with its SNI and ALPN names.

use bottle_probes::tls;

#[test]
fn rustls_accepts_the_client_hello() {
    let bytes = tls::client_hello("allowed.fixture.test", &["cb-n1", "http/1.1"]);
    let mut acceptor = rustls::server::Acceptor::default();
    let mut input = &bytes[..];
    acceptor.read_tls(&mut input).unwrap();
    let accepted = acceptor
        .accept()
        .map_err(|(error, _)| error)
        .unwrap()
        .expect("one whole ClientHello");
    let hello = accepted.client_hello();
    assert_eq!(hello.server_name(), Some("allowed.fixture.test"));
    let alpn: Vec<&[u8]> = hello.alpn().unwrap().collect();
    assert_eq!(alpn, [&b"cb-n1"[..], b"http/1.1"]);
}

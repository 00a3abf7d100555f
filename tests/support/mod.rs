#![allow(dead_code)]
pub mod daemon;
pub mod http;
pub mod server;
pub mod sipp;

/// Reads from a TCP stream until `n` SIP status lines have arrived; panics after 3 s or when
/// the peer closes first.
pub fn read_answers(stream: &mut std::net::TcpStream, n: usize) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while got.matches("SIP/2.0 ").count() < n {
        let k = stream.read(&mut buf).expect("an answer in time");
        assert!(k > 0, "connection closed early; got {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..k]));
    }
    got
}

//! A TFTP client for provisioning files: a read request (RFC 1350) in octet mode, with the
//! options of RFC 2347: `blksize` (RFC 2348) and `tsize` (RFC 2349).
//!
//! * The request asks for blocks of [`BLKSIZE`] bytes (a block fits one Ethernet frame) and
//!   for the file's size (`tsize 0`). The server's OACK decides: a block size it lowers is
//!   used, one above the request is refused. A server that ignores options answers with the
//!   first DATA block, and the transfer goes on with blocks of 512 bytes. A server that
//!   refuses them with ERROR 8 is asked again, once, without options.
//! * A `tsize` above `provisioning.max_file_size` ends the transfer before the first block
//!   (ERROR 8 to the server); without `tsize`, the transfer ends with ERROR 3 as soon as the
//!   blocks received pass the limit.
//! * Each packet sent is sent again when no answer comes within [`PACKET_TIMEOUT`], at most
//!   [`RETRIES`] times; the whole transfer is bounded by `provisioning.timeout_secs`.
//! * The server's transfer identifier (its port) is the source of its first answer; a packet
//!   from any other address or port gets ERROR 5 (RFC 1350 §4) and is otherwise ignored.
//! * Block numbers wrap from 65535 to 0, as most servers (tftpd-hpa among them) count them.
//! * An ERROR packet ends the transfer with [`FetchError::Tftp`], its code and message.
//!
//! TFTP has no conditional request: every run transfers the whole file, and the engine finds
//! it unchanged by its digest.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use sip_resync_core::engine::FetchError;
use sip_resync_core::escape;
use tokio::net::UdpSocket;
use tokio::time::Instant;

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// The block size asked for: 1428 bytes of data, with the TFTP, UDP and IPv4 headers, fill
/// an Ethernet frame of 1500 bytes less room for a tunnel (RFC 2348's own example).
pub(super) const BLKSIZE: u16 = 1428;
/// The block size of RFC 1350, when the server ignores options.
const DEFAULT_BLKSIZE: usize = 512;
/// The smallest block size RFC 2348 allows.
const MIN_BLKSIZE: u16 = 8;
/// Wait for an answer before a packet is sent again.
pub(super) const PACKET_TIMEOUT: Duration = Duration::from_secs(1);
/// How often one packet is sent again before the transfer is given up.
pub(super) const RETRIES: u32 = 5;
/// Longest read request sent: many servers read at most 512 bytes of it.
const MAX_REQUEST: usize = 512;
/// Packets from strangers answered with ERROR 5 per transfer; later ones are dropped unanswered.
const MAX_STRANGER_ERRORS: u32 = 16;

/// The bounds of one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TftpLimits {
    /// The whole transfer, from the request to the last block.
    pub timeout: Duration,
    /// Wait for each answer before sending again.
    pub packet_timeout: Duration,
    /// Sends of one packet after the first.
    pub retries: u32,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Block size asked for.
    pub blksize: u16,
}

impl TftpLimits {
    /// The bounds for a fetch with this total timeout and size limit.
    pub(super) fn new(timeout: Duration, max_bytes: u64) -> TftpLimits {
        TftpLimits {
            timeout,
            packet_timeout: PACKET_TIMEOUT.min(timeout),
            retries: RETRIES,
            max_bytes,
            blksize: BLKSIZE,
        }
    }
}

/// Reads `path` from the TFTP server at `host`:`port`.
pub(super) async fn get(
    host: &str,
    port: u16,
    path: &str,
    limits: &TftpLimits,
) -> Result<Vec<u8>, FetchError> {
    let deadline = Instant::now() + limits.timeout;
    let transfer = async {
        let server = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| FetchError::Connect(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| FetchError::Connect(format!("{host} has no address")))?;
        match session(server, path, limits, true).await {
            // RFC 2347: a server that refuses the options is asked again without them.
            Err(FetchError::Tftp { code: 8, .. }) => session(server, path, limits, false).await,
            other => other,
        }
    };
    tokio::time::timeout_at(deadline, transfer)
        .await
        .unwrap_or(Err(FetchError::Timeout(limits.timeout)))
}

/// A packet received, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Packet<'a> {
    Data(u16, &'a [u8]),
    Oack(Vec<(String, String)>),
    Error(u16, &'a [u8]),
    Other(u16),
}

fn parse(packet: &[u8]) -> Result<Packet<'_>, FetchError> {
    let short = || FetchError::Protocol(format!("a packet of {} bytes", packet.len()));
    if packet.len() < 2 {
        return Err(short());
    }
    let opcode = u16::from_be_bytes([packet[0], packet[1]]);
    let rest = &packet[2..];
    let number = || {
        rest.get(..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(short)
    };
    Ok(match opcode {
        DATA => Packet::Data(number()?, &rest[2..]),
        ERROR => {
            let text = &rest.get(2..).ok_or_else(short)?;
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            Packet::Error(number()?, &text[..end])
        }
        OACK => {
            // name NUL value NUL, repeated: an even number of fields, each ended by a NUL.
            let malformed = || FetchError::Protocol("a malformed OACK".into());
            let body = rest.strip_suffix(&[0]).ok_or_else(malformed)?;
            let fields: Vec<&[u8]> = body.split(|&b| b == 0).collect();
            if body.is_empty() || !fields.len().is_multiple_of(2) {
                return Err(malformed());
            }
            let options = fields
                .chunks(2)
                .map(|pair| {
                    (
                        String::from_utf8_lossy(pair[0]).to_ascii_lowercase(),
                        String::from_utf8_lossy(pair[1]).into_owned(),
                    )
                })
                .collect();
            Packet::Oack(options)
        }
        other => Packet::Other(other),
    })
}

fn read_request(path: &str, options: Option<u16>) -> Result<Vec<u8>, FetchError> {
    let mut p = Vec::with_capacity(64 + path.len());
    p.extend_from_slice(&RRQ.to_be_bytes());
    for field in [path, "octet"] {
        p.extend_from_slice(field.as_bytes());
        p.push(0);
    }
    if let Some(blksize) = options {
        for field in ["blksize", &blksize.to_string(), "tsize", "0"] {
            p.extend_from_slice(field.as_bytes());
            p.push(0);
        }
    }
    if p.len() > MAX_REQUEST {
        return Err(FetchError::Protocol(format!(
            "the file name is too long for a TFTP read request ({} bytes; at most {MAX_REQUEST} \
             bytes with the options)",
            path.len()
        )));
    }
    Ok(p)
}

fn ack(block: u16) -> Vec<u8> {
    let mut p = ACK.to_be_bytes().to_vec();
    p.extend_from_slice(&block.to_be_bytes());
    p
}

fn error_packet(code: u16, message: &str) -> Vec<u8> {
    let mut p = ERROR.to_be_bytes().to_vec();
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

/// One transfer's socket and peer.
struct Session<'a> {
    socket: UdpSocket,
    /// Where the request goes (port 69 by default).
    server: SocketAddr,
    /// The server's transfer identifier, once it answered.
    tid: Option<SocketAddr>,
    limits: &'a TftpLimits,
    /// Strangers answered so far.
    stranger_errors: u32,
}

impl Session<'_> {
    fn peer(&self) -> SocketAddr {
        self.tid.unwrap_or(self.server)
    }

    async fn send(&self, packet: &[u8]) -> Result<(), FetchError> {
        self.socket
            .send_to(packet, self.peer())
            .await
            .map(|_| ())
            .map_err(|e| FetchError::Connect(e.to_string()))
    }

    /// Tells the server why the transfer ends (best effort: the answer is not awaited).
    async fn abort(&self, code: u16, message: &str) {
        let _ = self
            .socket
            .send_to(&error_packet(code, message), self.peer())
            .await;
    }

    /// Waits for the next packet of the server, sending `last` again after each
    /// `packet_timeout` without one, at most `retries` times. Returns its length in `buf`.
    async fn receive(&mut self, last: &[u8], buf: &mut [u8]) -> Result<usize, FetchError> {
        let mut sent_again = 0;
        loop {
            let until = Instant::now() + self.limits.packet_timeout;
            while let Ok(got) = tokio::time::timeout_at(until, self.socket.recv_from(buf)).await {
                let (n, from) = got.map_err(|e| FetchError::Connect(e.to_string()))?;
                match self.tid {
                    Some(tid) if from == tid => return Ok(n),
                    None if from.ip() == self.server.ip() => {
                        self.tid = Some(from);
                        return Ok(n);
                    }
                    _ => {
                        // RFC 1350 §4: a packet from another transfer ID gets ERROR 5 and does
                        // not disturb this transfer.
                        tracing::debug!(target: "sip_resync::engine", from = %from, "TFTP packet from an unknown transfer ID ignored");
                        if self.stranger_errors < MAX_STRANGER_ERRORS {
                            self.stranger_errors += 1;
                            let _ = self
                                .socket
                                .send_to(&error_packet(5, "Unknown transfer ID"), from)
                                .await;
                        }
                    }
                }
            }
            if sent_again == self.limits.retries {
                return Err(FetchError::Protocol(format!(
                    "no answer from the TFTP server after {} sends of one packet, {:?} apart",
                    self.limits.retries + 1,
                    self.limits.packet_timeout
                )));
            }
            sent_again += 1;
            self.send(last).await?;
        }
    }
}

/// One read request and its transfer; `options` asks for `blksize` and `tsize`.
async fn session(
    server: SocketAddr,
    path: &str,
    limits: &TftpLimits,
    options: bool,
) -> Result<Vec<u8>, FetchError> {
    let local = match server.ip() {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let mut s = Session {
        socket,
        server,
        tid: None,
        limits,
        stranger_errors: 0,
    };
    let mut last = read_request(path, options.then_some(limits.blksize))?;
    s.send(&last).await?;
    let mut buf = vec![0u8; 65_536];
    let mut blksize = DEFAULT_BLKSIZE;
    let mut expected: u16 = 1;
    let mut data = Vec::new();
    // Until the first DATA block: an OACK may come (once, or again if our ACK 0 was lost).
    let mut started = false;
    loop {
        let n = s.receive(&last, &mut buf).await?;
        let packet = match parse(&buf[..n]) {
            Ok(p) => p,
            Err(e) => {
                s.abort(4, "Malformed packet").await;
                return Err(e);
            }
        };
        match packet {
            Packet::Error(code, message) => {
                return Err(FetchError::Tftp {
                    code,
                    message: escape::excerpt(message),
                })
            }
            Packet::Oack(offered) if options && !started => {
                match negotiate(&offered, limits) {
                    Ok(size) => blksize = size,
                    Err(e) => {
                        s.abort(8, "Option negotiation refused").await;
                        return Err(e);
                    }
                }
                last = ack(0);
                s.send(&last).await?;
            }
            Packet::Data(block, payload) if block == expected => {
                started = true;
                if payload.len() > blksize {
                    s.abort(4, "Block larger than negotiated").await;
                    return Err(FetchError::Protocol(format!(
                        "block {block} holds {} bytes, more than the block size of {blksize}",
                        payload.len()
                    )));
                }
                if (data.len() + payload.len()) as u64 > limits.max_bytes {
                    s.abort(3, "File larger than the client accepts").await;
                    return Err(FetchError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
                data.extend_from_slice(payload);
                last = ack(block);
                s.send(&last).await?;
                if payload.len() < blksize {
                    tracing::debug!(target: "sip_resync::engine", bytes = data.len(), blksize, options, "TFTP transfer complete");
                    return Ok(data);
                }
                expected = expected.wrapping_add(1);
            }
            // The server did not get our last ACK and sent its block again: ACK it again.
            Packet::Data(block, _) if started && block == expected.wrapping_sub(1) => {
                s.send(&last).await?;
            }
            // A late duplicate of the OACK: our ACK 0 answers it again.
            Packet::Oack(_) if options && !started && last == ack(0) => {
                s.send(&last).await?;
            }
            Packet::Data(block, _) => {
                s.abort(4, "Unexpected block").await;
                return Err(FetchError::Protocol(format!(
                    "block {block} came when block {expected} was expected"
                )));
            }
            Packet::Oack(_) | Packet::Other(_) => {
                let what = match packet {
                    Packet::Other(op) => format!("a packet of opcode {op}"),
                    _ => "an OACK to a request without options".to_owned(),
                };
                s.abort(4, "Illegal TFTP operation").await;
                return Err(FetchError::Protocol(format!(
                    "{what} came during a read; only DATA, OACK and ERROR are expected"
                )));
            }
        }
    }
}

/// Checks the server's OACK against the request: returns the block size to use. A `tsize`
/// above the limit, a block size above the one asked for, or an option not asked for refuses
/// the transfer before it starts.
fn negotiate(offered: &[(String, String)], limits: &TftpLimits) -> Result<usize, FetchError> {
    let mut blksize = DEFAULT_BLKSIZE;
    for (name, value) in offered {
        let bad = || {
            FetchError::Protocol(format!(
                "the server's OACK gives {name} = \"{}\"",
                escape::excerpt(value.as_bytes())
            ))
        };
        match name.as_str() {
            "blksize" => {
                let size: u16 = value.trim().parse().map_err(|_| bad())?;
                if !(MIN_BLKSIZE..=limits.blksize).contains(&size) {
                    return Err(bad());
                }
                blksize = usize::from(size);
            }
            "tsize" => {
                let size: u64 = value.trim().parse().map_err(|_| bad())?;
                if size > limits.max_bytes {
                    return Err(FetchError::AnnouncedTooLarge {
                        size,
                        limit: limits.max_bytes,
                    });
                }
            }
            _ => {
                return Err(FetchError::Protocol(format!(
                    "the server's OACK holds the option {}, which was not asked for",
                    escape::excerpt(name.as_bytes())
                )))
            }
        }
    }
    Ok(blksize)
}

#[cfg(test)]
mod tests {
    //! The client's state machine against a scripted peer on a loopback UDP socket: each
    //! script step says what the peer expects and what it answers, so retransmissions, a
    //! stranger's packets and wrap-around are exercised over real sockets, in bounded time.

    use super::*;

    fn data(block: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = DATA.to_be_bytes().to_vec();
        p.extend_from_slice(&block.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn oack(options: &[(&str, &str)]) -> Vec<u8> {
        let mut p = OACK.to_be_bytes().to_vec();
        for (n, v) in options {
            for f in [n, v] {
                p.extend_from_slice(f.as_bytes());
                p.push(0);
            }
        }
        p
    }

    fn limits() -> TftpLimits {
        TftpLimits {
            timeout: Duration::from_secs(5),
            packet_timeout: Duration::from_millis(150),
            retries: 3,
            max_bytes: 1 << 20,
            blksize: BLKSIZE,
        }
    }

    /// A peer: `listen` takes the request on the "port 69" socket; the transfer goes on from
    /// `tid`, another socket, as a real server's does.
    struct Peer {
        listen: tokio::net::UdpSocket,
        tid: tokio::net::UdpSocket,
        client: Option<SocketAddr>,
    }

    impl Peer {
        async fn new() -> Peer {
            Peer {
                listen: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
                tid: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
                client: None,
            }
        }

        fn port(&self) -> u16 {
            self.listen.local_addr().unwrap().port()
        }

        async fn recv_on(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
            let mut buf = vec![0u8; 65_536];
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf))
                    .await
                    .expect("a packet from the client within 3 s")
                    .unwrap();
            buf.truncate(n);
            (buf, from)
        }

        async fn request(&mut self) -> Vec<u8> {
            let (p, from) = Peer::recv_on(&self.listen).await;
            self.client = Some(from);
            p
        }

        async fn recv(&self) -> Vec<u8> {
            Peer::recv_on(&self.tid).await.0
        }

        async fn send(&self, packet: &[u8]) {
            self.tid
                .send_to(packet, self.client.unwrap())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn options_are_asked_the_oack_decides_and_blocks_wrap_around() {
        let mut peer = Peer::new().await;
        let port = peer.port();
        let client = tokio::spawn(async move {
            let mut l = limits();
            l.timeout = Duration::from_secs(60);
            // A stall of the test's loop must not look like a lost packet.
            l.packet_timeout = Duration::from_secs(5);
            get("127.0.0.1", port, "dir/a.cfg", &l).await
        });
        let rrq = peer.request().await;
        assert_eq!(
            rrq,
            b"\x00\x01dir/a.cfg\x00octet\x00blksize\x001428\x00tsize\x000\x00"
        );
        // The server lowers the block size to 8 bytes: 65,536 full blocks and a last one,
        // so the block number wraps from 65535 to 0.
        peer.send(&oack(&[("blksize", "8"), ("tsize", "524289")]))
            .await;
        assert_eq!(peer.recv().await, ack(0));
        let mut block: u16 = 1;
        for i in 0..=65_536u32 {
            let payload: &[u8] = if i == 65_536 { b"z" } else { b"abcdefgh" };
            peer.send(&data(block, payload)).await;
            assert_eq!(peer.recv().await, ack(block), "block {i}");
            block = block.wrapping_add(1);
        }
        let got = client.await.unwrap().unwrap();
        assert_eq!(got.len(), 65_536 * 8 + 1);
        assert_eq!(&got[got.len() - 9..], b"abcdefghz");
    }

    #[tokio::test]
    async fn lost_packets_are_sent_again_and_strangers_get_error_5() {
        let mut peer = Peer::new().await;
        let port = peer.port();
        let client = tokio::spawn(async move { get("127.0.0.1", port, "a.cfg", &limits()).await });
        let first = peer.request().await;
        // The request is lost: it comes again after the packet timeout.
        let (again, _) = Peer::recv_on(&peer.listen).await;
        assert_eq!(again, first);
        // A server that ignores options answers with DATA 1 of 512 bytes.
        peer.send(&data(1, &[b'a'; 512])).await;
        assert_eq!(peer.recv().await, ack(1));
        // A stranger (another port) sends a block: it gets ERROR 5; the transfer goes on.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stranger
            .send_to(&data(2, b"evil"), peer.client.unwrap())
            .await
            .unwrap();
        let (answer, _) = Peer::recv_on(&stranger).await;
        assert_eq!(&answer[..4], b"\x00\x05\x00\x05");
        // Our ACK 1 is "lost": block 1 comes again and is acknowledged again.
        peer.send(&data(1, &[b'a'; 512])).await;
        assert_eq!(peer.recv().await, ack(1));
        // No block 2 for a while: ACK 1 is sent again.
        assert_eq!(peer.recv().await, ack(1));
        peer.send(&data(2, b"end")).await;
        // (More copies of ACK 1 may be on their way if this test was slow.)
        while peer.recv().await != ack(2) {}
        let got = client.await.unwrap().unwrap();
        assert_eq!(got.len(), 515);
        assert!(got.ends_with(b"aend"));
    }

    #[tokio::test]
    async fn a_silent_server_is_given_up_after_the_retries() {
        let mut peer = Peer::new().await;
        let port = peer.port();
        let started = std::time::Instant::now();
        let client = tokio::spawn(async move { get("127.0.0.1", port, "a.cfg", &limits()).await });
        let first = peer.request().await;
        for _ in 0..3 {
            assert_eq!(Peer::recv_on(&peer.listen).await.0, first);
        }
        let e = client.await.unwrap().unwrap_err();
        assert!(
            e.to_string()
                .contains("after 4 sends of one packet, 150ms apart"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_tsize_over_the_limit_refuses_before_the_first_block() {
        let mut peer = Peer::new().await;
        let port = peer.port();
        let client = tokio::spawn(async move {
            let mut l = limits();
            l.max_bytes = 1000;
            get("127.0.0.1", port, "a.cfg", &l).await
        });
        peer.request().await;
        peer.send(&oack(&[("blksize", "1428"), ("tsize", "1001")]))
            .await;
        let refusal = peer.recv().await;
        assert_eq!(&refusal[..4], b"\x00\x05\x00\x08");
        assert_eq!(
            client.await.unwrap().unwrap_err(),
            FetchError::AnnouncedTooLarge {
                size: 1001,
                limit: 1000
            }
        );
    }

    #[tokio::test]
    async fn error_8_is_answered_by_a_request_without_options() {
        let mut peer = Peer::new().await;
        let port = peer.port();
        let client = tokio::spawn(async move { get("127.0.0.1", port, "a.cfg", &limits()).await });
        peer.request().await;
        peer.send(&error_packet(8, "no options")).await;
        let plain = peer.request().await;
        assert_eq!(plain, b"\x00\x01a.cfg\x00octet\x00");
        peer.send(&data(1, b"small")).await;
        assert_eq!(peer.recv().await, ack(1));
        assert_eq!(client.await.unwrap().unwrap(), b"small");
    }

    #[tokio::test]
    async fn without_tsize_the_size_bound_ends_the_transfer_with_error_3() {
        let mut peer = Peer::new().await;
        let port = peer.port();
        let client = tokio::spawn(async move {
            let mut l = limits();
            l.max_bytes = 600;
            get("127.0.0.1", port, "a.cfg", &l).await
        });
        peer.request().await;
        peer.send(&data(1, &[b'a'; 512])).await;
        assert_eq!(peer.recv().await, ack(1));
        peer.send(&data(2, &[b'a'; 512])).await;
        let refusal = peer.recv().await;
        assert_eq!(&refusal[..4], b"\x00\x05\x00\x03");
        assert_eq!(
            client.await.unwrap().unwrap_err(),
            FetchError::TooLarge { limit: 600 }
        );
    }

    #[test]
    fn packets_parse_and_bad_options_are_refused() {
        assert_eq!(
            parse(b"\x00\x05\x00\x01File not found\x00").unwrap(),
            Packet::Error(1, b"File not found")
        );
        assert!(parse(b"\x00").is_err());
        assert!(parse(b"\x00\x06blksize\x00").is_err());
        let l = limits();
        let opts = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(negotiate(&opts(&[("blksize", "1024")]), &l), Ok(1024));
        assert_eq!(negotiate(&opts(&[("tsize", "10")]), &l), Ok(512));
        for bad in [
            [("blksize", "2000")],
            [("blksize", "7")],
            [("tsize", "x")],
            [("windowsize", "4")],
        ] {
            assert!(negotiate(&opts(&bad), &l).is_err(), "{bad:?}");
        }
        assert!(read_request(&"a".repeat(500), Some(BLKSIZE)).is_err());
    }
}

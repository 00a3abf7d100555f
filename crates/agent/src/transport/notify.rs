//! The tokio driver for [`NotifyClient`]: sends one NOTIFY and waits for the final response.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

use sip_resync_core::sip::client::{FinalResponse, NotifyClient};
use sip_resync_core::sip::{Limits, StreamFramer, StreamItem};
use sip_resync_core::Transport;

/// Why no final response was obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// No final response before the deadline.
    #[error("no final response from {target} within {} s (is sip-resync or the phone listening there, and is the port open?)", timeout.as_secs())]
    Timeout {
        /// Where the NOTIFY went.
        target: SocketAddr,
        /// How long it waited.
        timeout: Duration,
    },
    /// The target URI (`--to`) is not a SIP URI.
    #[error("{0}")]
    Uri(sip_resync_core::sip::client::UriError),
    /// The transport is one this sender does not speak (TLS: see `docs/tls.md` for
    /// sending over TLS with `openssl s_client`).
    #[error(
        "sending a NOTIFY over {0} is not supported; over TLS, use openssl s_client (docs/tls.md)"
    )]
    Unsupported(Transport),
    /// A socket operation failed.
    #[error("{what} {target}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where to.
        target: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Sends one out-of-dialog NOTIFY with `Event: {event}` to `target` and returns the final
/// response. Over UDP it retransmits per Timer E; it gives up after `timeout`.
pub async fn send_notify(
    transport: Transport,
    target: SocketAddr,
    event: &str,
    to_uri: &str,
    timeout: Duration,
) -> Result<FinalResponse, NotifyError> {
    let deadline = Instant::now() + timeout;
    let io = |what| {
        move |source| NotifyError::Io {
            what,
            target,
            source,
        }
    };
    let timed_out = || NotifyError::Timeout { target, timeout };
    match transport {
        Transport::Udp => {
            let bind: SocketAddr = if target.is_ipv4() {
                "0.0.0.0:0".parse().expect("valid")
            } else {
                "[::]:0".parse().expect("valid")
            };
            let socket = UdpSocket::bind(bind)
                .await
                .map_err(io("cannot bind a UDP socket for"))?;
            socket.connect(target).await.map_err(io("cannot reach"))?;
            let local = socket
                .local_addr()
                .map_err(io("cannot bind a UDP socket for"))?;
            let client =
                NotifyClient::new(transport, local, event, to_uri).map_err(NotifyError::Uri)?;
            let mut buf = vec![0u8; 65_536];
            let (mut sent, mut provisional) = (0u32, false);
            loop {
                socket
                    .send(client.request())
                    .await
                    .map_err(io("cannot send to"))?;
                let next = (Instant::now() + NotifyClient::retransmit_interval(sent, provisional))
                    .min(deadline);
                sent += 1;
                loop {
                    match timeout_at(next, socket.recv(&mut buf)).await {
                        Err(_) if next >= deadline => return Err(timed_out()),
                        Err(_) => break,
                        // ICMP port unreachable: nobody listens; keep trying until the deadline
                        // as a PBX would, but do not spin.
                        Ok(Err(_)) => {
                            tokio::time::sleep_until(next).await;
                            if next >= deadline {
                                return Err(timed_out());
                            }
                            break;
                        }
                        Ok(Ok(n)) => match client.on_response(&buf[..n]) {
                            Some(Ok(fin)) => return Ok(fin),
                            Some(Err(_)) => provisional = true,
                            None => {}
                        },
                    }
                }
            }
        }
        Transport::Tcp => {
            let mut stream = timeout_at(deadline, TcpStream::connect(target))
                .await
                .map_err(|_| timed_out())?
                .map_err(io("cannot connect to"))?;
            let local = stream.local_addr().map_err(io("cannot connect to"))?;
            let client =
                NotifyClient::new(transport, local, event, to_uri).map_err(NotifyError::Uri)?;
            stream
                .write_all(client.request())
                .await
                .map_err(io("cannot send to"))?;
            let mut framer = StreamFramer::new(Limits::default());
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                loop {
                    match framer.next_item() {
                        Ok(Some(StreamItem::Message(msg))) => {
                            if let Some(Ok(fin)) = client.on_response(&msg) {
                                return Ok(fin);
                            }
                        }
                        Ok(Some(StreamItem::Ping)) => {}
                        Ok(None) => break,
                        Err(_) => {
                            return Err(NotifyError::Io {
                                what: "unframeable response from",
                                target,
                                source: std::io::ErrorKind::InvalidData.into(),
                            })
                        }
                    }
                }
                let n = timeout_at(deadline, stream.read(&mut buf))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(io("cannot read from"))?;
                if n == 0 {
                    return Err(NotifyError::Io {
                        what: "connection closed by",
                        target,
                        source: std::io::ErrorKind::UnexpectedEof.into(),
                    });
                }
                if framer.push(&buf[..n]).is_err() {
                    return Err(NotifyError::Io {
                        what: "oversized response from",
                        target,
                        source: std::io::ErrorKind::InvalidData.into(),
                    });
                }
            }
        }
        // The client sends over UDP and TCP only.
        _ => Err(NotifyError::Unsupported(transport)),
    }
}

//! The TCP and TLS listeners: a connection cap, per-connection framing with a buffer cap, an
//! idle timeout, and a deadline for a message that has started but not finished. A connection
//! from a refused source is closed at once when refused sources are dropped, before any TLS
//! handshake. A TLS connection must finish its handshake within the handshake deadline; then
//! it is served exactly like a TCP connection, by the same code over the decrypted stream.
//!
//! A message over a request rate limit is dropped by the endpoint like any other unanswered
//! input; the connection stays open. Framing goes on, so the stream stays in step, and the
//! connection cap and the per-source limit bound what one peer can make this side do.
//!
//! A connection accepted on one of the descriptors kept for provisioning (see `fds`) is closed
//! at once. Accept failures (out of descriptors, mostly) back off briefly; both are logged at
//! most once per drop-log interval, with the count of those in between.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use super::fds::{self, Ration};
use super::{after_reply, SharedEndpoint, SharedTls, Sink, TlsServer};
use crate::config::TcpOptions;
use sip_resync_core::sip::{ConnectionAdmission, StreamFramer, StreamItem, PONG};
use sip_resync_core::Transport;

/// How long closing a TLS connection may wait to send its close_notify alert.
const CLOSE_NOTIFY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The pause after a failed accept: the failure (out of descriptors, mostly) lasts until some
/// connection closes, and accepting again at once would spin.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Serves the connections of `listener`: plain TCP, or TLS with the configuration `tls`
/// holds when each connection is accepted.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<SharedTls>,
    endpoint: SharedEndpoint,
    sink: Sink,
    opts: TcpOptions,
    mut stop: watch::Receiver<bool>,
) {
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    let name = label(transport);
    let permits = Arc::new(Semaphore::new(opts.max_connections));
    let mut connections = JoinSet::new();
    let interval = endpoint.tcp().config().drop_log_interval;
    let (mut failures, mut reserved) = (Ration::new(interval), Ration::new(interval));
    let ceiling = fds::ceiling();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    if let Some(counted) = failures.allow(Instant::now().into_std()) {
                        tracing::warn!(error = %e, counted, "{name} accept failed; pausing accepts for {} ms (further failures are counted, not logged, for {} s)", ACCEPT_BACKOFF.as_millis(), failures.secs());
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.changed() => break,
        };
        let now = Instant::now().into_std();
        if ceiling.is_some_and(|c| stream.as_raw_fd() >= c) {
            if let Some(counted) = reserved.allow(now) {
                tracing::warn!(%peer, counted, "closed a {name} connection at once: the last {} descriptors under the open-file limit are kept for provisioning (further ones are counted, not logged, for {} s)", fds::RESERVE, reserved.secs());
            }
            drop(stream);
            continue;
        }
        if let ConnectionAdmission::Refuse { log } = endpoint.tcp().admit_connection(now, peer) {
            if log {
                tracing::warn!(%peer, "closed a {name} connection at once: the source is not in [sip] allow and refused sources are dropped (further ones from this source are counted, not logged, for a while)");
            }
            drop(stream);
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, max = opts.max_connections, "{name} connection refused: connection cap reached");
            drop(stream);
            continue;
        };
        let conn = Connection {
            peer,
            transport,
            endpoint: endpoint.clone(),
            sink: sink.clone(),
            opts,
        };
        let stop = stop.clone();
        // Read once per connection: a reload affects the connections accepted after it.
        let server = tls.as_ref().map(SharedTls::current);
        connections.spawn(async move {
            let _permit = permit;
            match server {
                Some(server) => conn.serve_tls(stream, &server, stop).await,
                None => conn.serve(&mut { stream }, stop).await,
            }
        });
    }
    connections.shutdown().await;
}

/// One accepted connection, TCP or TLS, and what serving it needs.
struct Connection {
    peer: SocketAddr,
    transport: Transport,
    endpoint: SharedEndpoint,
    sink: Sink,
    opts: TcpOptions,
}

impl Connection {
    /// A stream error from this peer: counted, and logged when the source's log budget allows.
    fn stream_error(&self) -> bool {
        self.endpoint
            .tcp()
            .note_stream_error(Instant::now().into_std(), self.peer)
    }

    /// Performs the TLS handshake within the handshake deadline, then serves the connection
    /// like a TCP one. A failed or late handshake is counted as a stream error.
    async fn serve_tls(
        self,
        stream: TcpStream,
        server: &TlsServer,
        mut stop: watch::Receiver<bool>,
    ) {
        let deadline = server.handshake_timeout();
        let failure = tokio::select! {
            r = tokio::time::timeout(deadline, server.acceptor().accept(stream)) => match r {
                Ok(Ok(mut stream)) => {
                    self.serve(&mut stream, stop).await;
                    // close_notify (RFC 8446 §6.1), so the peer can tell a close from a cut;
                    // not waited for long, as a peer that reads nothing never takes it.
                    let _ = tokio::time::timeout(CLOSE_NOTIFY_WAIT, stream.shutdown()).await;
                    return;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("not completed within {} s", deadline.as_secs_f32()),
            },
            _ = stop.changed() => return,
        };
        if self.stream_error() {
            let peer = self.peer;
            tracing::warn!(%peer, error = %sip_resync_core::escape::excerpt(failure.as_bytes()), "TLS handshake failed (further such failures from this source are counted, not logged, for a while)");
        }
    }

    /// Frames and answers messages until the peer closes, a limit is hit or serving stops.
    async fn serve<S>(&self, stream: &mut S, mut stop: watch::Receiver<bool>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = label(self.transport);
        let peer = self.peer;
        let limits = self.endpoint.tcp().config().message_limits;
        let mut framer = StreamFramer::new(limits);
        let mut buf = vec![0u8; 16 * 1024];
        // Deadline for the message currently being received, set by its first byte.
        let mut message_deadline: Option<Instant> = None;
        loop {
            // Frame everything already buffered.
            loop {
                match framer.next_item() {
                    Ok(Some(StreamItem::Ping)) => {
                        if send(stream, PONG).await.is_err() {
                            return;
                        }
                    }
                    Ok(Some(StreamItem::Message(msg))) => {
                        message_deadline = None;
                        let now = Instant::now().into_std();
                        let handled = self.endpoint.tcp().handle(now, peer, self.transport, &msg);
                        if let Some(reply) = &handled.reply {
                            if send(stream, reply).await.is_err() {
                                return;
                            }
                        }
                        let close = handled.close;
                        after_reply(handled, peer, self.transport, &self.sink);
                        if close {
                            let _ = stream.shutdown().await;
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        if self.stream_error() {
                            tracing::warn!(%peer, error = %e, "closing {name} connection: cannot frame the stream (further such closes from this source are counted, not logged, for a while)");
                        }
                        return;
                    }
                }
            }
            if framer.mid_message() {
                message_deadline.get_or_insert_with(|| Instant::now() + self.opts.message_deadline);
            } else {
                message_deadline = None;
            }
            let deadline =
                message_deadline.unwrap_or_else(|| Instant::now() + self.opts.idle_timeout);
            let room = framer.capacity_left().min(buf.len());
            if room == 0 {
                if self.stream_error() {
                    tracing::warn!(%peer, "closing {name} connection: message exceeds the size limit");
                }
                return;
            }
            let n = tokio::select! {
                r = timeout_at(deadline, stream.read(&mut buf[..room])) => match r {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => n,
                    Err(_) => {
                        if message_deadline.is_some() && self.stream_error() {
                            tracing::warn!(%peer, "closing {name} connection: message not completed in time");
                        }
                        return;
                    }
                },
                _ = stop.changed() => return,
            };
            if let Err(e) = framer.push(&buf[..n]) {
                if self.stream_error() {
                    tracing::warn!(%peer, error = %e, "closing {name} connection");
                }
                return;
            }
        }
    }
}

/// The transport's name in log lines.
fn label(transport: Transport) -> &'static str {
    match transport {
        Transport::Tls => "TLS",
        Transport::Tcp => "TCP",
        Transport::Udp => "UDP",
        // The agent listens on UDP, TCP and TLS only.
        _ => "other",
    }
}

/// Writes `bytes` and flushes them: over TLS, a write may leave records in the session's
/// buffer when the socket is full, and only a flush guarantees they go out (a no-op on TCP).
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

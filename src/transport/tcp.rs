//! The TCP listener: a connection cap, per-connection framing with a buffer cap, an idle
//! timeout, and a deadline for a message that has started but not finished. A connection
//! from a refused source is closed at once when refused sources are dropped.
//!
//! A message over a request rate limit is dropped by the endpoint like any other unanswered
//! input; the connection stays open. Framing goes on, so the stream stays in step, and the
//! connection cap and the per-source limit bound what one peer can make this side do.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use super::{after_reply, SharedEndpoint, Sink};
use crate::config::TcpOptions;
use crate::resync::Transport;
use crate::sip::{Admission, StreamFramer, StreamItem, PONG};

pub(super) async fn serve(
    listener: TcpListener,
    endpoint: SharedEndpoint,
    sink: Sink,
    opts: TcpOptions,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(opts.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.changed() => break,
        };
        let now = Instant::now().into_std();
        if let Admission::Refuse { log } = endpoint.tcp().admit_connection(now, peer) {
            if log {
                tracing::warn!(%peer, "closed a TCP connection at once: the source is not in [sip] allow and refused sources are dropped (further ones from this source are counted, not logged, for a while)");
            }
            drop(stream);
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, max = opts.max_connections, "TCP connection refused: connection cap reached");
            drop(stream);
            continue;
        };
        let (endpoint, sink, stop) = (endpoint.clone(), sink.clone(), stop.clone());
        connections.spawn(async move {
            let _permit = permit;
            connection(stream, peer, endpoint, sink, opts, stop).await;
        });
    }
    connections.shutdown().await;
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    endpoint: SharedEndpoint,
    sink: Sink,
    opts: TcpOptions,
    mut stop: watch::Receiver<bool>,
) {
    let limits = endpoint.tcp().config().limits;
    let mut framer = StreamFramer::new(limits);
    let mut buf = vec![0u8; 16 * 1024];
    // Deadline for the message currently being received, set by its first byte.
    let mut message_deadline: Option<Instant> = None;
    loop {
        // Frame everything already buffered.
        loop {
            match framer.next_item() {
                Ok(Some(StreamItem::Ping)) => {
                    if stream.write_all(PONG).await.is_err() {
                        return;
                    }
                }
                Ok(Some(StreamItem::Message(msg))) => {
                    message_deadline = None;
                    let now = Instant::now().into_std();
                    let handled = endpoint.tcp().handle(now, peer, Transport::Tcp, &msg);
                    if let Some(reply) = &handled.reply {
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                    let close = handled.close;
                    after_reply(handled, peer, Transport::Tcp, &sink);
                    if close {
                        let _ = stream.shutdown().await;
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if endpoint
                        .tcp()
                        .note_stream_error(Instant::now().into_std(), peer)
                    {
                        tracing::warn!(%peer, error = %e, "closing TCP connection: cannot frame the stream (further such closes from this source are counted, not logged, for a while)");
                    }
                    return;
                }
            }
        }
        if framer.mid_message() {
            message_deadline.get_or_insert_with(|| Instant::now() + opts.message_deadline);
        } else {
            message_deadline = None;
        }
        let deadline = message_deadline.unwrap_or_else(|| Instant::now() + opts.idle_timeout);
        let room = framer.capacity_left().min(buf.len());
        if room == 0 {
            if endpoint
                .tcp()
                .note_stream_error(Instant::now().into_std(), peer)
            {
                tracing::warn!(%peer, "closing TCP connection: message exceeds the size limit");
            }
            return;
        }
        let n = tokio::select! {
            r = timeout_at(deadline, stream.read(&mut buf[..room])) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => n,
                Err(_) => {
                    if message_deadline.is_some() && endpoint.tcp().note_stream_error(Instant::now().into_std(), peer) {
                        tracing::warn!(%peer, "closing TCP connection: message not completed in time");
                    }
                    return;
                }
            },
            _ = stop.changed() => return,
        };
        if let Err(e) = framer.push(&buf[..n]) {
            if endpoint
                .tcp()
                .note_stream_error(Instant::now().into_std(), peer)
            {
                tracing::warn!(%peer, error = %e, "closing TCP connection");
            }
            return;
        }
    }
}

//! The UDP listener: one datagram is one message; replies go to the source address and port.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::{after_reply, lock, SharedEndpoint};
use crate::resync::{ResyncRequest, Transport};

/// Largest UDP payload (65,535 minus the IP and UDP headers is less; this is a safe bound).
const DATAGRAM_BUFFER: usize = 65_536;

pub(super) async fn serve(
    socket: Arc<UdpSocket>,
    endpoint: SharedEndpoint,
    sink: mpsc::Sender<ResyncRequest>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    loop {
        let (n, source) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port-unreachable from an earlier send surfaces here on some
                    // systems; it concerns a past peer, not the socket.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let now = tokio::time::Instant::now().into_std();
        let handled = lock(&endpoint).handle(now, source, Transport::Udp, &buf[..n]);
        if let Some(reply) = &handled.reply {
            if let Err(e) = socket.send_to(reply, source).await {
                tracing::debug!(%source, error = %e, "UDP send failed");
            }
        }
        after_reply(handled, source, Transport::Udp, &sink);
    }
}

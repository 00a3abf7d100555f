//! What the SIP path hands to the provisioning engine.

use std::net::SocketAddr;
use std::time::Instant;

/// The transport a message arrived on.
///
/// New transports may be added: a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP: one datagram is one message.
    Udp,
    /// TCP: messages framed by Content-Length on a connection.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2, `Via: SIP/2.0/TLS`): framed like TCP, on a connection
    /// whose peer completed a TLS handshake (and showed a client certificate, with mutual TLS).
    Tls,
    /// SIP over WebSocket (RFC 7118, `Via: SIP/2.0/WS`): one WebSocket message is one SIP
    /// message (Content-Length is not needed), on a reliable connection: no retransmissions,
    /// the reply goes back on the connection the request came on. The host owns the
    /// WebSocket connection and hands in each message.
    Ws,
    /// SIP over secure WebSocket (RFC 7118, `Via: SIP/2.0/WSS`): [`Transport::Ws`] over TLS.
    Wss,
}

impl Transport {
    /// `"udp"`, `"tcp"`, `"tls"`, `"ws"` or `"wss"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        }
    }

    /// The transport named by a Via header's transport token (`UDP`, `TCP`, `TLS`, `WS`, `WSS`;
    /// RFC 3261 §20.42, RFC 7118 §5.1), in any case, alone or with its protocol
    /// (`SIP/2.0/WSS`): what a host stack's parsed Via gives. `None` for any other (SCTP).
    ///
    /// ```
    /// use sip_resync_core::Transport;
    /// assert_eq!(Transport::from_via("SIP/2.0/WSS"), Some(Transport::Wss));
    /// assert_eq!(Transport::from_via("udp"), Some(Transport::Udp));
    /// assert_eq!(Transport::from_via("SCTP"), None);
    /// ```
    pub fn from_via(token: &str) -> Option<Transport> {
        let token = token.rsplit('/').next().unwrap_or_default().trim();
        [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(token))
    }

    /// True for the byte-stream transports (TCP, TLS): messages are framed by
    /// Content-Length, and a reply goes back on the connection the request came on.
    /// WebSocket frames each message itself (RFC 7118 §5.1) and is not a stream in this sense.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// True for the reliable transports (all but UDP): the sender never retransmits a
    /// request (RFC 3261 §17.1.2.2; RFC 7118 §5 for WebSocket), so no completed transaction is
    /// kept for it, and the reply goes back on the connection the request came on.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parameter of the Event header (`reboot=true`, `id=7`, `flag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventParam {
    /// Parameter name as sent.
    pub name: String,
    /// Value, unquoted; `None` for a bare flag.
    pub value: Option<String>,
}

/// An accepted resync trigger from the SIP path: a NOTIFY that was answered 200 OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncRequest {
    /// Address and port the NOTIFY came from.
    pub source: SocketAddr,
    /// Transport it came on.
    pub transport: Transport,
    /// The event-type token as sent (e.g. `check-sync`).
    pub event: String,
    /// The Event header's parameters.
    pub params: Vec<EventParam>,
    /// The sender's reboot wish: `reboot=true` → `Some(true)`, `reboot=false` →
    /// `Some(false)`, absent → `None` (the local policy decides).
    pub reboot: Option<bool>,
    /// The NOTIFY's Call-ID, for correlating logs with the PBX.
    pub call_id: String,
    /// When the NOTIFY was received (the `now` passed to the endpoint).
    pub received_at: Instant,
}

/// Where the SIP listeners hand each accepted resync request, on the thread that received it.
///
/// [`crate::engine::EngineHandle`] is one (each request becomes a provisioning trigger, and
/// triggers coalesce), and so is any `Fn(ResyncRequest)`: an application that runs its own
/// provisioning gives one to [`crate::AgentOptions::resync_sink`]. Called after the reply was
/// sent; it must return quickly and never block, because it runs on the listener's thread
/// between two messages.
pub trait ResyncSink: Send + Sync + 'static {
    /// Takes one accepted resync request.
    fn resync(&self, request: ResyncRequest);
}

impl<F> ResyncSink for F
where
    F: Fn(ResyncRequest) + Send + Sync + 'static,
{
    fn resync(&self, request: ResyncRequest) {
        self(request)
    }
}

impl std::fmt::Debug for dyn ResyncSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResyncSink")
    }
}

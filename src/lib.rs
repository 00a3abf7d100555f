//! sip-resync keeps a SIP phone's provisioning current.
//!
//! A PBX tells a phone "your provisioning changed" with an out-of-dialog SIP `NOTIFY`
//! carrying `Event: check-sync` (or whatever text the administrator configured). This crate
//! answers such requests by the book and turns each accepted one into exactly one
//! [`ResyncRequest`] for the provisioning engine.
//!
//! The crate is layered the way sans-IO protocol stacks are:
//!
//! ```text
//!   bytes + source + transport + now
//!            │
//!   ┌────────▼─────────┐   sip::StreamFramer (TCP only: Content-Length framing, CRLF keep-alives)
//!   │  sip::Endpoint   │   front end → normalise → rsip model → transaction table → decision
//!   └────────┬─────────┘
//!            │ Handled { reply bytes, optional ResyncRequest }
//!   ┌────────▼─────────┐
//!   │ transport (tokio)│   UDP / TCP listeners: feed bytes in, send replies, forward requests
//!   └──────────────────┘
//! ```
//!
//! Nothing in [`sip`] performs I/O or reads a clock: time is always an argument, so a host
//! stack that already owns port 5060 can hand messages to [`sip::Endpoint`] directly, and
//! tests can run 32 s of Timer J in microseconds. The [`transport`] module holds the thin
//! tokio drivers used by the daemon.
//!
//! A host stack that owns port 5060 hands each received message to the endpoint, sends the
//! reply it gets back, then acts on the resync request:
//!
//! ```
//! use std::time::Instant;
//! use sip_resync::sip::{Endpoint, EndpointConfig, EventMatch, EventMatcher};
//! use sip_resync::Transport;
//!
//! let mut endpoint = Endpoint::new(EndpointConfig {
//!     events: EventMatcher::new(["check-sync", "resync"], EventMatch::CaseInsensitive),
//!     ..EndpointConfig::default()
//! });
//! let datagram = b"NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
//! From: <sip:pbx@192.0.2.1>;tag=1928301774\r\n\
//! To: <sip:1001@192.0.2.10>\r\n\
//! Call-ID: a84b4c76e66710@192.0.2.1\r\n\
//! CSeq: 102 NOTIFY\r\n\
//! o: check-sync;reboot=false\r\n\
//! Content-Length: 0\r\n\r\n";
//! let source = "192.0.2.1:5060".parse().unwrap();
//! let handled = endpoint.handle(Instant::now(), source, Transport::Udp, datagram);
//!
//! let reply = handled.reply.expect("a NOTIFY is always answered");
//! assert!(reply.starts_with(b"SIP/2.0 200 OK\r\n"));
//! // send `reply` to `source` first, then:
//! let request = handled.resync.expect("check-sync is accepted");
//! assert_eq!(request.event, "check-sync");
//! assert_eq!(request.reboot, Some(false));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod engine;
pub mod resync;
pub mod schedule;
pub mod sip;
pub mod transport;

pub use resync::{EventParam, ResyncRequest, Transport};

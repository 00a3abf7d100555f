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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod resync;
pub mod schedule;
pub mod sip;
pub mod transport;

pub use resync::{EventParam, ResyncRequest, Transport};

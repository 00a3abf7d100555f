//! The decisions of sip-resync, without a runtime.
//!
//! This crate is the sans-IO core of [sip-resync](https://docs.rs/sip-resync): code that turns
//! bytes, a source address, a transport, settings and the current time into decisions. It
//! holds
//!
//! * the SIP side ([`sip`]): the front end that reads each message once, the endpoint that
//!   decides the answer (trust, rate limits, server transactions, the digest challenge), the
//!   claim rule a host stack asks first, and the sans-IO half of the NOTIFY sender;
//! * [`Embedded`], the entry point for a host SIP stack that owns port 5060: bytes in, a
//!   [`Verdict`] out;
//! * the schedule ([`schedule`]): vendor polling keys → one rule → the next poll;
//! * the provisioning engine's decisions ([`engine`]): the planner (coalescing, run admission,
//!   spread, schedule and retries), outcomes, the URL templates of provisioning files;
//! * every configuration reader ([`config`]): our TOML, Panasonic `.cfg`, Snom XML, each a
//!   pure function of bytes into one [`config::Settings`] model;
//! * the fleet preview ([`fleet`]): the same planner over thousands of simulated phones;
//! * at ground level, [`escape`] (short, escaped excerpts of peer bytes) and [`digest`]
//!   (RFC 7616 parameters, computation, a client's answer and the server's nonces).
//!
//! It never opens a socket or a file, spawns a task or thread, or reads a clock: time is an
//! argument (`now`), so tests run 32 s of Timer J or days of schedule in microseconds. Its
//! dependency tree holds no async runtime, HTTP, TLS, socket or command-line crate (`.ci/run`
//! checks this with `scripts/check-core.sh`). The only ambient input is the operating
//! system's random source, drawn for nonce keys and client nonces.
//!
//! The agent crate `sip-resync` drives this core with tokio sockets, timers, HTTP and the file
//! system, and re-exports its public types; an application that only embeds the endpoint in
//! its own SIP stack can depend on this crate alone:
//!
//! ```
//! use std::time::Instant;
//! use sip_resync_core::config::SipSettings;
//! use sip_resync_core::{Embedded, Transport, Verdict};
//!
//! let mut embedded = Embedded::new(&SipSettings::default());
//! let datagram = b"NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
//! From: <sip:pbx@192.0.2.1>;tag=1928301774\r\n\
//! To: <sip:1001@192.0.2.10>\r\n\
//! Call-ID: a84b4c76e66710@192.0.2.1\r\n\
//! CSeq: 102 NOTIFY\r\n\
//! Event: check-sync\r\n\
//! Content-Length: 0\r\n\r\n";
//! let source = "192.0.2.1:5060".parse().unwrap();
//! match embedded.handle(Instant::now(), source, Transport::Udp, datagram) {
//!     Verdict::Ours { reply, resync, .. } => {
//!         assert!(reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"));
//!         assert_eq!(resync.unwrap().event, "check-sync");
//!     }
//!     Verdict::NotOurs => unreachable!(),
//! }
//! ```
//!
//! `crates/core/public-api.txt` lists every public item; `tests/public_api.rs` keeps the two
//! in step.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod digest;
pub mod escape;
pub mod sync;
#[macro_use]
pub mod sip;
pub mod config;
pub mod crypt;
mod embedded;
pub mod engine;
pub mod fleet;
mod naming;
mod resync;
pub mod schedule;
// The fuzz targets' checks (`fuzz/`): only in the unit tests and under `cfg(fuzzing)`, which
// cargo-fuzz sets; public there for the targets, hidden from the documentation.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;

pub use embedded::{Embedded, Verdict};
pub use naming::{check_file_name, redact, NameError, MANIFEST};
pub use resync::{EventParam, ResyncRequest, ResyncSink, Transport};
pub use sip::{AuthFailure, Counters, Disposition, Reply, ToTag};

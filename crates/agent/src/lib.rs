//! sip-resync keeps a SIP phone's provisioning current.
//!
//! A PBX tells a phone "your provisioning changed" with an out-of-dialog SIP `NOTIFY`
//! carrying `Event: check-sync` (or whatever text the administrator configured). This crate
//! answers such requests by the book and turns each accepted one into exactly one
//! [`ResyncRequest`] for the provisioning engine.
//!
//! # What this crate holds, and what it never does
//!
//! The decisions live in the core crate, [`sip_resync_core`]: the SIP front end and endpoint,
//! the digest challenge, the schedule, the engine's planner and every configuration reader,
//! all sans-IO (no socket, no file, no task, no clock). This crate is the agent on tokio that
//! drives it:
//!
//! ```text
//!   Agent ── listeners (UDP workers, TCP, TLS) ── bytes + now ──► core: Endpoint ─► reply
//!     │          │  accepted ResyncRequest ─► ResyncSink (the engine, or the application's)
//!     │          └─ timer task at Endpoint::poll_timeout
//!     ├── engine task ── core: Planner (now) ─► fetch (HTTP(S), file://) ─► validate (core)
//!     │                                          ─► apply the set on disk ─► outcome, hook
//!     └── settings owner: local settings + applied files ─► watch ─► endpoints, engine
//! ```
//!
//! It holds the sockets, the tasks, the clock, HTTP, TLS, the state directory and the
//! post-update command; [`config::load`] reads the configuration file and the files it
//! names. It never parses a SIP message or decides an answer, a schedule or a run itself: it
//! hands bytes and `now` to the core and carries out what comes back. Its public types are
//! mostly the core's, re-exported under the same paths (`sip_resync::config`,
//! `sip_resync::schedule`, [`Embedded`], …), so an application names one crate.
//! `docs/architecture.md` draws the layers and the path of a NOTIFY and of a timed poll.
//!
//! # Two ways to use it
//!
//! **Standalone** ([`Agent`]): the component binds its own UDP and TCP listeners and runs the
//! provisioning engine and its schedule on a tokio runtime until a future completes. This is
//! what `sip-resync run` does. An [`AgentHandle`] triggers runs, reports outcomes, replaces
//! the settings and reads the counters while it runs.
//!
//! ```no_run
//! use sip_resync::{Agent, AgentOptions};
//!
//! # async fn demo() -> Result<(), sip_resync::AgentError> {
//! let agent = Agent::start(AgentOptions::load("fixtures/demo.toml")?.state_dir("/var/lib/sip-resync")).await?;
//! let mut outcomes = agent.handle().subscribe();
//! tokio::spawn(async move {
//!     while let Ok(outcome) = outcomes.recv().await {
//!         println!("{outcome}"); // and reboot when outcome.reboot_requested
//!     }
//! });
//! agent.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(())
//! # }
//! ```
//!
//! **Embedded** ([`Embedded`]): a host SIP stack that already owns port 5060 hands each
//! received message in, sends the reply it gets back, and acts on the resync request. Anything
//! that is not a resync NOTIFY (calls, registrations, other events, in-dialog requests) comes
//! back as [`Verdict::NotOurs`] for the host to process. No runtime, no sockets, no clock:
//!
//! ```
//! use std::time::Instant;
//! use sip_resync::config::SipSettings;
//! use sip_resync::{Embedded, Transport, Verdict};
//!
//! let mut embedded = Embedded::new(&SipSettings {
//!     events: vec!["check-sync".into(), "resync".into()],
//!     ..SipSettings::default()
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
//! match embedded.handle(Instant::now(), source, Transport::Udp, datagram) {
//!     Verdict::Ours { reply, resync, .. } => {
//!         let reply = reply.expect("a NOTIFY is always answered");
//!         assert!(reply.starts_with(b"SIP/2.0 200 OK\r\n"));
//!         // send `reply` to `source` first, then:
//!         let request = resync.expect("check-sync is accepted");
//!         assert_eq!(request.event, "check-sync");
//!         assert_eq!(request.reboot, Some(false));
//!     }
//!     Verdict::NotOurs => unreachable!("the host would process it itself"),
//! }
//! ```
//!
//! # The public API
//!
//! At the crate root: the two entry points and what they hand out ([`Agent`],
//! [`AgentHandle`], [`AgentOptions`], [`AgentStatus`], [`AgentError`]; [`Embedded`],
//! [`Verdict`], [`Disposition`]; [`ResyncRequest`], [`ResyncSink`], [`Transport`],
//! [`Counters`]) and the one-shot NOTIFY sender ([`send_notify`]). Then four modules:
//! [`config`] (the settings and their loaders), [`engine`] (provisioning runs, their causes
//! and outcomes), [`schedule`] (the timed polls, previewable without running anything) and
//! [`fleet`] (the load a fleet of phones puts on a provisioning server).
//! `crates/agent/public-api.txt` lists every public item; `tests/public_api.rs` keeps the two
//! in step.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod agent;
pub mod config;
mod crypto;
pub mod engine;
mod hosted;
mod pem;
mod settings;
mod transport;

/// `docs/embedding.md`, whose code blocks are compiled with the documentation tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/embedding.md")]
pub struct EmbeddingGuide;

pub use agent::{Agent, AgentError, AgentHandle, AgentOptions, AgentStatus};
pub use hosted::HostedAgent;
pub use sip_resync_core::{
    fleet, schedule, AuthFailure, Counters, Disposition, Embedded, EventParam, Reply,
    ResyncRequest, ResyncSink, ToTag, Transport, Verdict,
};
pub use transport::{send_notify, NotifyError, TlsError, TransportError};

//! The agent without sockets, for a host SIP stack that owns the port and its transactions
//! (rsipstack, pjsip, Sofia-SIP, libre): the host hands in each request it may share with
//! sip-resync and answers it with what comes back; everything else (the engine, the
//! schedule, the endpoint's timers, the settings a fetched file brings) runs here, on the
//! host's tokio runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;

use crate::agent::{start_hosted, AgentError, AgentHandle, AgentOptions, HostedParts};
use crate::engine::EngineHandle;
use crate::transport::{after_reply, timer, Sink};
use sip_resync_core::sip::Counters;
use sip_resync_core::{Transport, Verdict};

/// An agent inside a host SIP stack: the provisioning engine, the schedule, the endpoint's
/// timers and the settings in effect, with no socket of its own.
///
/// The host asks [`HostedAgent::claims`] with the fields it has already parsed (method,
/// To-tag, Event), and for a claimed request calls [`HostedAgent::handle_transaction`] with
/// the bytes, then answers in its own server transaction with the [`Verdict::Ours`]'s
/// `answer` (status, reason, To-tag, headers, close), or sends its `reply` bytes. An accepted
/// NOTIFY has already been handed to the engine (or to the [`AgentOptions::resync_sink`]);
/// a fetched file that changes the accepted event (`CFG_RESYNC_FROM_SIP`), the allowlist or
/// the credentials applies to the next request; the trigger limit's held-back request is
/// released by the timer task. [`HostedAgent::set_busy`] tells it about calls.
///
/// Cheap to clone; the tasks stop when [`HostedAgent::shutdown`] is called or the last clone
/// is dropped.
///
/// ```no_run
/// use sip_resync::{AgentOptions, HostedAgent, Transport, Verdict};
///
/// # async fn demo(source: std::net::SocketAddr, bytes: &[u8]) -> Result<(), sip_resync::AgentError> {
/// let agent = HostedAgent::start(AgentOptions::load("phone.toml")?.state_dir("/var/lib/phone"))?;
/// // In the host's handler of a new server transaction:
/// if agent.claims("NOTIFY", None, Some("check-sync")) {
///     if let Verdict::Ours { answer: Some(answer), .. } =
///         agent.handle_transaction(source, Transport::Udp, bytes)
///     {
///         println!("answer {} {}", answer.status, answer.reason); // the host replies
///     }
/// }
/// agent.set_busy(true); // a call is up: runs wait
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HostedAgent {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    handle: AgentHandle,
    sink: Sink,
    engine: Option<EngineHandle>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(engine) = &self.engine {
            engine.shutdown();
        }
        for task in &self.tasks {
            task.abort();
        }
        self.handle.set_running(false);
    }
}

impl HostedAgent {
    /// Applies the options and checks the settings as [`crate::Agent::start`] does, creates the
    /// state directory and starts, on the current tokio runtime, the provisioning engine
    /// (when files are configured: its start-up run begins at once) and the endpoint's timer.
    /// Listening addresses are not used. Must be called within a tokio runtime.
    pub fn start(options: AgentOptions) -> Result<HostedAgent, AgentError> {
        let HostedParts {
            handle,
            sink,
            engine,
        } = start_hosted(options)?;
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(timer(
            handle.endpoints().clone(),
            sink.clone(),
            handle.stop_flag(),
        )));
        let engine_handle = engine.as_ref().map(|(h, _)| h.clone());
        if let Some((_, task)) = engine {
            tasks.push(task);
        }
        Ok(HostedAgent {
            inner: Arc::new(Inner {
                handle,
                sink,
                engine: engine_handle,
                tasks,
            }),
        })
    }

    /// Whether a request the host has already parsed is a resync NOTIFY: `method` exactly
    /// `NOTIFY`, no `to_tag`, and an `event` (the Event header's value, parameters allowed)
    /// whose event type the settings in effect accept. Nothing is parsed or counted.
    pub fn claims(&self, method: &str, to_tag: Option<&str>, event: Option<&str>) -> bool {
        self.inner
            .handle
            .endpoints()
            .tcp()
            .claims(method, to_tag, event)
    }

    /// Answers a request for a host whose transaction layer absorbs retransmissions: each
    /// call is a new request, answered on its own merits; nothing is remembered for
    /// retransmissions. `bytes` is the request as received (or as the host serialises it),
    /// `source` its sender, `transport` what it came on. [`Verdict::NotOurs`] when it is not a
    /// resync NOTIFY after all. An accepted one has been handed to the engine when this
    /// returns; the host sends the answer.
    pub fn handle_transaction(
        &self,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Verdict {
        self.handle_with(source, transport, bytes, false)
    }

    /// Answers a message for a host without a transaction layer of its own (raw datagrams):
    /// as [`HostedAgent::handle_transaction`], but a UDP retransmission is answered from the
    /// completed transactions kept here (32 s, Timer J), as [`sip_resync_core::Embedded::handle`]
    /// does.
    pub fn handle_message(
        &self,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Verdict {
        self.handle_with(source, transport, bytes, true)
    }

    fn handle_with(
        &self,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
        table: bool,
    ) -> Verdict {
        let now = Instant::now();
        let (handled, answer) = {
            let mut endpoint = self.inner.handle.endpoints().tcp();
            let handled = if table {
                endpoint.handle_if_claimed(now, source, transport, bytes)
            } else {
                endpoint.handle_if_claimed_untracked(now, source, transport, bytes)
            };
            let Some(handled) = handled else {
                return Verdict::NotOurs;
            };
            let answer = endpoint.reply_parts(&handled);
            (handled, answer)
        };
        let verdict = Verdict::from_handled(&handled, answer);
        after_reply(handled, source, transport, &self.inner.sink);
        verdict
    }

    /// Declares the phone busy in a call or idle again ([`AgentHandle::set_busy`]).
    pub fn set_busy(&self, busy: bool) {
        self.inner.handle.set_busy(busy);
    }

    /// The handle: trigger, subscribe to outcomes, status, new settings, clock validity.
    pub fn handle(&self) -> AgentHandle {
        self.inner.handle.clone()
    }

    /// The counters of the requests handed in and claimed.
    pub fn counters(&self) -> Counters {
        self.inner.handle.endpoints().counters()
    }

    /// Stops the engine (a run in flight is cancelled; an apply under way completes) and the
    /// timer. Also done when the last clone is dropped.
    pub fn shutdown(&self) {
        self.inner.handle.shutdown();
        if let Some(engine) = &self.inner.engine {
            engine.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunResult;

    const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

    fn notify(branch: &str, event: &str) -> Vec<u8> {
        format!(
            "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch={branch}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: {branch}@pbx\r\nCSeq: 1 NOTIFY\r\nEvent: {event}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    /// A phone whose provisioning file (read over `file://`) changes the accepted event.
    fn options(dir: &std::path::Path, file_text: &str) -> AgentOptions {
        let file = dir.join("master.cfg");
        std::fs::write(&file, format!("{MAGIC}{file_text}")).unwrap();
        let toml = format!(
            "[provisioning]\nfiles = [{{ url = \"file://{}\" }}]\nrun_budget_refill_secs = 0\n",
            file.display()
        );
        let settings = crate::config::from_bytes(toml.as_bytes(), &dir.join("phone.toml")).unwrap();
        AgentOptions::new(settings).state_dir(dir.join("state"))
    }

    #[tokio::test]
    async fn a_fetched_file_that_changes_the_event_applies_to_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let agent =
            HostedAgent::start(options(dir.path(), "CFG_RESYNC_FROM_SIP=\"resync\"\r\n")).unwrap();
        let mut outcomes = agent.handle().subscribe();
        assert!(agent.claims("NOTIFY", None, Some("check-sync")));
        // The start-up run applies the file: from then on the event is `resync`.
        let outcome = outcomes.recv().await.unwrap();
        assert!(
            matches!(outcome.result, RunResult::Updated { .. }),
            "{outcome}"
        );
        assert!(!agent.claims("NOTIFY", None, Some("check-sync")));
        assert!(agent.claims("NOTIFY", None, Some("resync")));
        let src = "127.0.0.1:5999".parse().unwrap();
        assert_eq!(
            agent.handle_transaction(src, Transport::Udp, &notify("z9hG4bKa", "check-sync")),
            Verdict::NotOurs
        );
        let Verdict::Ours {
            answer: Some(answer),
            resync: Some(_),
            ..
        } = agent.handle_transaction(src, Transport::Udp, &notify("z9hG4bKb", "resync"))
        else {
            panic!("the new event is ours");
        };
        assert_eq!(answer.status, 200);
        // The accepted NOTIFY went to the engine: a second run.
        let outcome = outcomes.recv().await.unwrap();
        assert_eq!(outcome.run, 2, "{outcome}");
        assert_eq!(agent.counters().resync_requests, 1);
        agent.shutdown();
    }

    #[tokio::test]
    async fn a_check_sync_while_busy_waits_for_idle() {
        let dir = tempfile::tempdir().unwrap();
        let agent = HostedAgent::start(options(dir.path(), "X=\"1\"\r\n")).unwrap();
        let mut outcomes = agent.handle().subscribe();
        outcomes.recv().await.unwrap(); // the start-up run
        agent.set_busy(true);
        let src = "127.0.0.1:5999".parse().unwrap();
        let verdict =
            agent.handle_transaction(src, Transport::Tcp, &notify("z9hG4bKc", "check-sync"));
        assert!(matches!(
            verdict,
            Verdict::Ours {
                resync: Some(_),
                ..
            }
        ));
        // Nothing while the call lasts (the bound is 2 h).
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(300), outcomes.recv()).await;
        assert!(waited.is_err(), "a run during the call: {waited:?}");
        agent.set_busy(false);
        let outcome = outcomes.recv().await.unwrap();
        assert_eq!(outcome.run, 2, "{outcome}");
        agent.shutdown();
    }
}

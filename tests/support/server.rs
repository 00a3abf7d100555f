//! A real listener on 127.0.0.1 (UDP and TCP, port 0) running in a background runtime, with
//! the resync requests it emits collected for assertions.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sip_resync::config::{
    self, Allowlist, AuthConfig, EventMatch, RateLimits, RefusedAction, TcpOptions,
};
use sip_resync::{Agent, AgentHandle, AgentOptions, Counters, ResyncRequest, Transport};

/// Options for [`TestServer::start`].
#[derive(Debug, Clone)]
pub struct TestServerOptions {
    /// Accepted events.
    pub events: Vec<String>,
    /// Byte-exact event matching.
    pub strict_events: bool,
    /// TCP bounds.
    pub tcp: TcpOptions,
    /// `[sip] allow` entries (CIDR or bare addresses); empty allows every source.
    pub allow: Vec<String>,
    /// What a refused source gets.
    pub refused: RefusedAction,
    /// Rate limits (the library's defaults unless a test says otherwise).
    pub rate_limits: RateLimits,
    /// Address to listen on (UDP and TCP, port 0).
    pub bind: IpAddr,
    /// The digest challenge (off by default).
    pub auth: AuthConfig,
    /// `[sip] udp_workers` (1, the default; 0 is one per core).
    pub udp_workers: usize,
}

impl Default for TestServerOptions {
    fn default() -> Self {
        TestServerOptions {
            events: vec!["check-sync".into()],
            strict_events: false,
            tcp: TcpOptions::default(),
            allow: Vec::new(),
            refused: RefusedAction::Answer,
            rate_limits: RateLimits::default(),
            bind: IpAddr::from([127, 0, 0, 1]),
            auth: AuthConfig::default(),
            udp_workers: 1,
        }
    }
}

/// A summary of one resync signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Event token as sent.
    pub event: String,
    /// Reboot wish.
    pub reboot: Option<bool>,
    /// "udp" or "tcp".
    pub transport: &'static str,
}

/// The running agent, without provisioning files, its resync requests collected by a
/// [`sip_resync::ResyncSink`]; dropping it stops the agent.
pub struct TestServer {
    udp: SocketAddr,
    tcp: SocketAddr,
    handle: AgentHandle,
    signals: Arc<Mutex<Vec<ResyncRequest>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts an [`Agent`] listening on UDP and TCP port 0 of `opts.bind` (127.0.0.1 by
    /// default) in a background thread.
    pub fn start(opts: TestServerOptions) -> TestServer {
        let mut settings =
            config::from_bytes(b"", "test-server.toml".as_ref()).expect("empty TOML is valid");
        let any = |t: &str| {
            format!("{t}:{}", SocketAddr::new(opts.bind, 0))
                .parse()
                .unwrap()
        };
        let sip = &mut settings.sip;
        sip.listen = vec![any("udp"), any("tcp")];
        sip.events = opts.events.clone();
        sip.event_match = if opts.strict_events {
            EventMatch::Strict
        } else {
            EventMatch::CaseInsensitive
        };
        sip.tcp = opts.tcp;
        sip.allow = Allowlist::new(
            opts.allow
                .iter()
                .map(|a| a.parse().unwrap_or_else(|e| panic!("allow entry {a}: {e}"))),
        );
        sip.refused = opts.refused;
        sip.limits = opts.rate_limits;
        sip.auth = opts.auth.clone();
        sip.udp_workers = opts.udp_workers;
        let signals = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let signals = signals.clone();
            move |req: ResyncRequest| signals.lock().unwrap().push(req)
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let agent = Agent::start(AgentOptions::new(settings).resync_sink(sink))
                    .await
                    .expect("the agent starts on loopback");
                ready_tx
                    .send((agent.local_addrs(), agent.handle()))
                    .unwrap();
                agent.run(std::future::pending()).await;
            });
        });
        let (addrs, handle) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listeners bound");
        let find = |t: Transport| addrs.iter().find(|(tr, _)| *tr == t).unwrap().1;
        TestServer {
            udp: find(Transport::Udp),
            tcp: find(Transport::Tcp),
            handle,
            signals,
            thread: Some(thread),
        }
    }

    /// The UDP listener's address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// The TCP listener's address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// Resync signals received so far.
    pub fn signal_count(&self) -> usize {
        self.signals.lock().unwrap().len()
    }

    /// The resync requests received so far, in full.
    pub fn requests(&self) -> Vec<ResyncRequest> {
        self.signals.lock().unwrap().clone()
    }

    /// Summaries of the resync signals received so far.
    pub fn signals(&self) -> Vec<Signal> {
        self.signals
            .lock()
            .unwrap()
            .iter()
            .map(|r| Signal {
                event: r.event.clone(),
                reboot: r.reboot,
                transport: r.transport.as_str(),
            })
            .collect()
    }

    /// Waits until at least `n` signals arrived or `timeout` passed; returns what arrived.
    pub fn wait_for_signals(&self, n: usize, timeout: Duration) -> Vec<Signal> {
        let end = Instant::now() + timeout;
        while self.signal_count() < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.signals()
    }

    /// The counters of the endpoints (every UDP worker's and the TCP one) together.
    pub fn counters(&self) -> Counters {
        self.handle.status().counters
    }

    /// The agent's handle.
    pub fn handle(&self) -> &AgentHandle {
        &self.handle
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! A real listener on 127.0.0.1 (UDP and TCP, port 0) running in a background runtime, with
//! the resync requests it emits collected for assertions.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sip_resync::sip::{
    Allowlist, AuthConfig, Counters, EndpointConfig, EventMatch, EventMatcher, RateLimits,
    RefusedAction,
};
use sip_resync::transport::{Listeners, SharedEndpoint, TcpOptions, UdpOptions};
use sip_resync::{ResyncRequest, Transport};

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
    /// UDP workers and batching (the library's defaults unless a test says otherwise).
    pub udp: UdpOptions,
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
            udp: UdpOptions::default(),
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

/// The running server; dropping it shuts the listeners down.
pub struct TestServer {
    udp: SocketAddr,
    tcp: SocketAddr,
    endpoint: SharedEndpoint,
    signals: Arc<Mutex<Vec<ResyncRequest>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Binds UDP and TCP on port 0 of `opts.bind` (127.0.0.1 by default) and serves in a
    /// background thread.
    pub fn start(opts: TestServerOptions) -> TestServer {
        let mode = if opts.strict_events {
            EventMatch::Strict
        } else {
            EventMatch::CaseInsensitive
        };
        let allow = opts
            .allow
            .iter()
            .map(|a| a.parse().unwrap_or_else(|e| panic!("allow entry {a}: {e}")));
        let config = EndpointConfig {
            events: EventMatcher::new(&opts.events, mode),
            allow: Allowlist::new(allow),
            refused: opts.refused,
            rate_limits: opts.rate_limits,
            auth: opts.auth.clone(),
            ..EndpointConfig::default()
        };
        let signals = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sig = signals.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let localhost = SocketAddr::new(opts.bind, 0);
                let listeners = Listeners::bind_with(&[localhost], &[localhost], opts.udp)
                    .await
                    .expect("bind on loopback");
                let ep = listeners.endpoints(config);
                addr_tx.send((listeners.local_addrs(), ep.clone())).unwrap();
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                let collector = tokio::spawn(async move {
                    while let Some(req) = rx.recv().await {
                        sig.lock().unwrap().push(req);
                    }
                });
                listeners
                    .serve(ep, tx, opts.tcp, async {
                        let _ = stop_rx.await;
                    })
                    .await;
                let _ = collector.await;
            });
        });
        let (addrs, endpoint) = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("listeners bound");
        let find = |t: Transport| addrs.iter().find(|(tr, _)| *tr == t).unwrap().1;
        TestServer {
            udp: find(Transport::Udp),
            tcp: find(Transport::Tcp),
            endpoint,
            signals,
            stop: Some(stop_tx),
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
        self.endpoint.counters()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

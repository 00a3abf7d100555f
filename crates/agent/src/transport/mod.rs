//! tokio drivers: UDP workers and TCP and TLS listeners that feed the sans-IO `Endpoint`s.
//!
//! These are the only parts of the SIP path that touch sockets, tasks and the clock. Each UDP
//! worker owns a socket and an endpoint (`udp`); the TCP and TLS connections share one
//! endpoint (`endpoints`), and a TLS connection is a TCP connection after a handshake
//! (`tls`). A received datagram or framed message goes to its endpoint (a short critical
//! section, never held across an `.await`), the reply is sent first, and only then is the
//! `ResyncRequest` handed to the [`Sink`], on the same thread: no queue, no task between the
//! listener and the engine.

mod endpoints;
pub(crate) mod fds;
mod notify;
mod tcp;
mod tls;
mod udp;

pub(crate) use endpoints::Endpoints;
pub use notify::{send_notify, NotifyError};
pub use tls::TlsError;
pub(crate) use tls::{SharedTls, TlsServer};
pub(crate) use udp::{UdpOptions, MAX_BATCH};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::TcpOptions;
use sip_resync_core::config::Settings;
use sip_resync_core::sip::{Counters, Disposition, Handled};
use sip_resync_core::ResyncRequest;
use sip_resync_core::Transport;

#[cfg(doc)]
use sip_resync_core::sip::Endpoint;

/// The endpoints of a set of listeners, shared with whoever reads their counters or changes
/// their settings.
pub(crate) type SharedEndpoint = Arc<Endpoints>;

/// Where accepted resync requests go: shared by every listener task and UDP worker.
pub(crate) type Sink = Arc<dyn sip_resync_core::ResyncSink>;

/// How often, at most, a summary of refused, rate-limited and dropped input is logged.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Errors of the listeners.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A listening address could not be bound.
    #[error("cannot listen on {transport}:{addr}: {source}{hint}")]
    Bind {
        /// Transport of the listener.
        transport: Transport,
        /// Address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// Nothing to listen on.
    #[error("no listen address configured: give --listen udp:ADDR:PORT, tcp:ADDR:PORT or tls:ADDR:PORT, or [sip] listen in the configuration")]
    NothingToListenOn,
}

/// Bound but not yet serving listeners.
#[derive(Debug)]
pub(crate) struct Listeners {
    /// Every UDP worker's socket, grouped by address.
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    /// The TLS listening sockets and the configuration their connections are accepted with.
    tls: Vec<TcpListener>,
    tls_config: Option<SharedTls>,
    batch: usize,
}

fn bind_error(transport: Transport, addr: SocketAddr, source: std::io::Error) -> TransportError {
    let hint = match (source.kind(), transport) {
        (std::io::ErrorKind::AddrInUse, Transport::Udp) => {
            " (another process holds this port: a PBX, a softphone or another sip-resync? Stop it, or choose another port with --listen udp:ADDR:PORT or [sip] listen)"
        }
        (std::io::ErrorKind::AddrInUse, Transport::Tcp) => {
            " (another process holds this port: a PBX, a softphone or another sip-resync? Stop it, or choose another port with --listen tcp:ADDR:PORT or [sip] listen)"
        }
        (std::io::ErrorKind::AddrInUse, Transport::Tls) => {
            " (another process holds this port: a PBX, a softphone or another sip-resync? Stop it, or choose another port with --listen tls:ADDR:PORT or [sip] listen)"
        }
        (std::io::ErrorKind::PermissionDenied, _) => {
            " (ports below 1024 need privileges: run with CAP_NET_BIND_SERVICE or choose a port above 1023)"
        }
        (std::io::ErrorKind::AddrNotAvailable, _) => {
            " (this address does not belong to this machine: listen on one of its addresses, or on 0.0.0.0 / [::] for all)"
        }
        _ => "",
    };
    TransportError::Bind {
        transport,
        addr,
        source,
        hint,
    }
}

impl Listeners {
    /// Binds every address: [`UdpOptions::worker_count`] sockets for each UDP address, a
    /// listening socket for each TCP address, and one for each TLS address, whose connections
    /// are accepted with the configuration the [`SharedTls`] holds at the time.
    pub(crate) async fn bind_with(
        udp: &[SocketAddr],
        tcp: &[SocketAddr],
        tls: Option<(&[SocketAddr], SharedTls)>,
        options: UdpOptions,
    ) -> Result<Listeners, TransportError> {
        let (tls, tls_config) = match tls {
            Some((addrs, config)) => (addrs, Some(config)),
            None => (&[][..], None),
        };
        if udp.is_empty() && tcp.is_empty() && tls.is_empty() {
            return Err(TransportError::NothingToListenOn);
        }
        let mut out = Listeners {
            udp: Vec::new(),
            tcp: Vec::new(),
            tls: Vec::new(),
            tls_config,
            batch: options.batch.clamp(1, MAX_BATCH),
        };
        let workers = options.worker_count();
        for &addr in udp {
            let sockets =
                udp::bind(addr, workers).map_err(|e| bind_error(Transport::Udp, addr, e))?;
            out.udp.extend(sockets);
        }
        for &addr in tcp {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| bind_error(Transport::Tcp, addr, e))?;
            out.tcp.push(l);
        }
        for &addr in tls {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| bind_error(Transport::Tls, addr, e))?;
            out.tls.push(l);
        }
        Ok(out)
    }

    /// The bound addresses, in the order given to [`Listeners::bind_with`], UDP first (each
    /// once, whatever the number of workers), then TCP, then TLS.
    pub(crate) fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        let mut udp: Vec<(Transport, SocketAddr)> = Vec::new();
        for a in self.udp.iter().filter_map(|s| s.local_addr().ok()) {
            if !udp.iter().any(|(_, b)| *b == a) {
                udp.push((Transport::Udp, a));
            }
        }
        let udp = udp.into_iter();
        let stream = |listeners: &[TcpListener], transport| {
            listeners
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .map(move |a| (transport, a))
                .collect::<Vec<_>>()
        };
        udp.chain(stream(&self.tcp, Transport::Tcp))
            .chain(stream(&self.tls, Transport::Tls))
            .collect()
    }

    /// The endpoints these listeners serve with: one per UDP socket, one for TCP and TLS, all
    /// following `settings` and sharing one global budget.
    pub(crate) fn endpoints(&self, settings: watch::Receiver<Arc<Settings>>) -> SharedEndpoint {
        Arc::new(Endpoints::new(settings, self.udp.len()))
    }

    /// Serves until `shutdown` completes, with `endpoint` from [`Listeners::endpoints`].
    /// Accepted resync requests go to `sink`, on the thread that received them. TCP and TLS
    /// connections alike are bounded by `tcp`.
    pub(crate) async fn serve<F>(
        self,
        endpoint: SharedEndpoint,
        sink: Sink,
        tcp: TcpOptions,
        shutdown: F,
    ) where
        F: Future<Output = ()>,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        // Batched UDP workers run on threads of their own and look at this flag; it is set
        // when serving ends, also when this future is dropped.
        let halt = udp::HaltOnDrop(Arc::new(AtomicBool::new(false)));
        for (i, socket) in self.udp.into_iter().enumerate() {
            udp::spawn(
                &mut tasks,
                socket,
                endpoint.udp(i),
                sink.clone(),
                self.batch,
                stop_rx.clone(),
                halt.0.clone(),
            );
        }
        let tls = self.tls_config;
        let plain = self.tcp.into_iter().map(|l| (l, None));
        let secure = self.tls.into_iter().map(|l| (l, tls.clone()));
        for (listener, tls) in plain.chain(secure) {
            tasks.spawn(tcp::serve(
                listener,
                tls,
                endpoint.clone(),
                sink.clone(),
                tcp,
                stop_rx.clone(),
            ));
        }
        tasks.spawn(timer(endpoint.clone(), sink.clone(), stop_rx.clone()));
        tasks.spawn(summarize(
            endpoint.clone(),
            SUMMARY_INTERVAL,
            stop_rx.clone(),
        ));
        shutdown.await;
        let _ = stop_tx.send(true);
        drop(halt);
        while tasks.join_next().await.is_some() {}
    }
}

/// The endpoints' timer: at their [`Endpoint::poll_timeout`], expires transactions and
/// releases a resync request held back by a trigger limit once the limit allows it.
pub(crate) async fn timer(endpoint: SharedEndpoint, sink: Sink, stop: watch::Receiver<bool>) {
    let release = |req: ResyncRequest| {
        tracing::info!(source = %req.source, transport = %req.transport, "releasing the resync held back by the trigger rate limit");
        sink.resync(req);
    };
    endpoint.run_timer(release, stop).await;
}

/// What a periodic summary reports: the counts since the previous snapshot, when any of
/// them points at unwanted input ([`Counters::unwanted`]); `None` on a quiet network.
pub(crate) fn summary_since(previous: &Counters, current: &Counters) -> Option<Counters> {
    let delta = current.since(previous);
    (delta.unwanted() > 0).then_some(delta)
}

/// Logs, at most once per `interval`, how much input was refused, rate-limited or dropped
/// since the last summary; nothing when there was none. Individual drops are logged only
/// once per source per minute, so this is where the totals of a flood show up.
async fn summarize(endpoint: SharedEndpoint, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut previous = endpoint.counters();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let current = endpoint.counters();
                if let Some(d) = summary_since(&previous, &current) {
                    sip_resync_core::log_counters!(
                        WARN,
                        "sip_resync::transport",
                        d,
                        interval_secs = interval.as_secs(),
                        "unwanted input since the last summary (refused, rate-limited or dropped; counted, not logged one by one)"
                    );
                }
                previous = current;
            }
            _ = stop.changed() => return,
        }
    }
}

/// Logs what deserves it and forwards the resync request; called after the reply was sent.
pub(crate) fn after_reply(handled: Handled, source: SocketAddr, transport: Transport, sink: &Sink) {
    match &handled.disposition {
        Disposition::Dropped { reason, log: true } => {
            tracing::warn!(%source, %transport, %reason, "dropped a message (further drops from this source are counted, not logged, for a while)");
        }
        Disposition::Refused { log: true } => {
            let action = if handled.reply.is_some() {
                "answered 403 Forbidden"
            } else {
                "dropped"
            };
            tracing::warn!(%source, %transport, "{action}: the source is not in [sip] allow (further refusals and drops from this source are counted, not logged, for a while)");
        }
        Disposition::RateLimited { limit, log: true } => {
            tracing::warn!(%source, %transport, %limit, "dropped a request over the {limit} request rate limit, unanswered (further ones are counted, not logged, for a while)");
        }
        Disposition::TriggerLimited { limit, log: true } => {
            tracing::warn!(%source, %transport, %limit, "answered a resync NOTIFY over the {limit} trigger rate limit with 200 OK; its resync is held back until the limit allows (further ones are counted, not logged, for a while)");
        }
        Disposition::Challenged { reason, log: true } => {
            tracing::warn!(%source, %transport, reason = reason.describe(), "answered a resync NOTIFY 401 with a new challenge: its credentials were refused (further refusals from this source are counted, not logged, for a while)");
        }
        Disposition::AuthThrottled {
            failures,
            log: true,
        } => {
            tracing::warn!(%source, %transport, failures, "dropped a resync NOTIFY unchecked: its source (or user) gave too many failed digest answers and is held back (a summary per source: further ones are counted in auth_throttled, not logged, for a while)");
        }
        Disposition::Challenged { reason, log: false } => {
            tracing::debug!(%source, %transport, reason = reason.describe(), "answered a resync NOTIFY 401 with a digest challenge");
        }
        Disposition::Dropped { .. }
        | Disposition::Refused { .. }
        | Disposition::RateLimited { .. }
        | Disposition::TriggerLimited { .. }
        | Disposition::AuthThrottled { .. }
        | Disposition::Absorbed => {}
        Disposition::Answered(code) => tracing::debug!(%source, %transport, code, "answered"),
        Disposition::Retransmission | Disposition::Duplicate => {
            tracing::debug!(%source, %transport, disposition = ?handled.disposition, "answered again from the transaction table")
        }
        Disposition::Resync => {}
        // A disposition added to the core later: counted there, not logged here.
        _ => {}
    }
    if let Some(req) = handled.resync {
        tracing::debug!(%source, %transport, event = %sip_resync_core::escape::excerpt(req.event.as_bytes()), reboot = ?req.reboot, call_id = %sip_resync_core::escape::excerpt(req.call_id.as_bytes()), "resync requested");
        sink.resync(req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_resync_core::sip::{Endpoint, EndpointConfig};
    use std::time::Instant;

    #[test]
    fn a_summary_only_when_unwanted_input_was_counted() {
        let mut e = Endpoint::new(EndpointConfig::default());
        let t0 = Instant::now();
        let src = "192.0.2.1:5060".parse().unwrap();
        let options = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let start = e.counters();
        e.handle(t0, src, Transport::Udp, options);
        let quiet = e.counters();
        assert_eq!(
            summary_since(&start, &quiet),
            None,
            "keep-alive OPTIONS are no news"
        );
        for _ in 0..3 {
            e.handle(t0, src, Transport::Udp, b"\x16\x03\x01 garbage");
        }
        let d = summary_since(&quiet, &e.counters()).expect("garbage is reported");
        assert_eq!((d.dropped_garbage, d.received), (3, 3));
        assert_eq!(summary_since(&e.counters(), &e.counters()), None);
    }

    /// Listeners on 127.0.0.1 with these UDP options and no rate limits, served on a runtime
    /// of their own; the resync requests they hand out are collected.
    struct Loopback {
        udp: SocketAddr,
        endpoint: SharedEndpoint,
        requests: Arc<std::sync::Mutex<Vec<ResyncRequest>>>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Loopback {
        fn start(udp: UdpOptions) -> Loopback {
            let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
            let collected = requests.clone();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
                    let listeners = Listeners::bind_with(&[local], &[], None, udp)
                        .await
                        .unwrap();
                    let mut settings =
                        crate::config::from_bytes(b"", "loopback.toml".as_ref()).unwrap();
                    settings.sip.limits = sip_resync_core::sip::RateLimits::unlimited();
                    let (_owner, subscription) = watch::channel(Arc::new(settings));
                    let endpoint = listeners.endpoints(subscription);
                    ready_tx
                        .send((listeners.local_addrs()[0].1, endpoint.clone()))
                        .unwrap();
                    let sink: Sink =
                        Arc::new(move |r: ResyncRequest| collected.lock().unwrap().push(r));
                    let tcp = TcpOptions::default();
                    listeners
                        .serve(endpoint, sink, tcp, async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            });
            let (udp, endpoint) = ready_rx.recv().unwrap();
            Loopback {
                udp,
                endpoint,
                requests,
                stop: Some(stop),
                thread: Some(thread),
            }
        }

        /// Waits up to 2 s for `n` requests; returns how many arrived.
        fn wait_for(&self, n: usize) -> usize {
            let end = Instant::now() + Duration::from_secs(2);
            while self.requests.lock().unwrap().len() < n && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.requests.lock().unwrap().len()
        }
    }

    impl Drop for Loopback {
        fn drop(&mut self) {
            let _ = self.stop.take().map(|s| s.send(()));
            let _ = self.thread.take().map(|t| t.join());
        }
    }

    fn notify(branch: &str, cseq: u32) -> Vec<u8> {
        format!(
            "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch={branch}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: sock-{branch}\r\nCSeq: {cseq} NOTIFY\r\nEvent: check-sync\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn client() -> std::net::UdpSocket {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    /// The same exchange over each UDP path: the plain one (one call per datagram, what a
    /// platform without `recvmmsg` uses) with one and with three workers, and the batched one
    /// with three workers. Every retransmission reaches the worker that holds its transaction,
    /// and the counters add up over the workers.
    #[test]
    fn every_udp_path_answers_retransmissions_from_one_worker_and_counts_them_all() {
        for (workers, batch) in [(1, 1), (3, 1), (3, udp::DEFAULT_BATCH)] {
            let server = Loopback::start(UdpOptions { workers, batch });
            for i in 0..12 {
                let sock = client();
                let msg = notify(&format!("z9hG4bKw{workers}b{batch}c{i}"), 1);
                let mut replies = Vec::new();
                for _ in 0..3 {
                    sock.send_to(&msg, server.udp).unwrap();
                    let mut buf = [0u8; 4096];
                    let (n, from) = sock.recv_from(&mut buf).unwrap();
                    assert_eq!(from, server.udp, "the reply comes from the bound port");
                    replies.push(buf[..n].to_vec());
                }
                assert!(replies.windows(2).all(|w| w[0] == w[1]), "client {i}");
                assert!(replies[0].starts_with(b"SIP/2.0 200 OK\r\n"), "client {i}");
            }
            assert_eq!(server.wait_for(12), 12, "{workers} workers, batch {batch}");
            let c = server.endpoint.counters();
            assert_eq!(
                (c.received, c.retransmissions, c.resync_requests),
                (36, 24, 12),
                "{workers} workers, batch {batch}"
            );
        }
    }

    /// A burst larger than a batch, from one client, all at once: every datagram is answered.
    #[test]
    fn a_burst_larger_than_a_batch_is_answered_in_full() {
        let server = Loopback::start(UdpOptions {
            workers: 1,
            batch: 8,
        });
        let sock = client();
        for i in 0..50 {
            sock.send_to(&notify(&format!("z9hG4bKburst{i}"), i), server.udp)
                .unwrap();
        }
        let mut buf = [0u8; 4096];
        for _ in 0..50 {
            let (n, _) = sock.recv_from(&mut buf).expect("every NOTIFY answered");
            assert!(buf[..n].starts_with(b"SIP/2.0 200 OK\r\n"));
        }
        assert_eq!(server.endpoint.counters().received, 50);
    }
}

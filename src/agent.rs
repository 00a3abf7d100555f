//! Running sip-resync inside another program.
//!
//! There are two entry points:
//!
//! * **Standalone: [`Agent`].** It binds its own UDP and TCP listeners, answers the PBX's
//!   NOTIFYs, runs the provisioning engine and its schedule, and stops when a future of the
//!   caller's completes. This is what `sip-resync run` does; it needs a tokio runtime. An
//!   [`AgentHandle`] triggers runs, reports outcomes, replaces the settings and reads counters
//!   while it runs.
//! * **Embedded: [`Embedded`].** For a host SIP stack that already owns port 5060. The host
//!   hands in every message it receives; [`Embedded::handle`] says whether it was a resync
//!   NOTIFY ([`Verdict::Ours`], with the reply to send and the resync request to act on) or
//!   the host's own business ([`Verdict::NotOurs`]). Sans-IO: no sockets, no tasks, no clock;
//!   time is an argument, and [`Embedded::poll_timeout`] / [`Embedded::handle_timeout`] drive
//!   its timers.
//!
//! The component never reboots anything: an [`Outcome`] with
//! [`reboot_requested`](Outcome::reboot_requested) asks the application to do it.
//!
//! `docs/embedding.md` describes both at length.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{self, ConfigError, ListenAddr, Settings, SipSettings};
use crate::engine::{
    Cause, ClockValidity, Engine, EngineConfig, EngineError, EngineHandle, EngineStatus, Outcome,
};
use crate::resync::{ResyncRequest, Transport};
use crate::sip::{Counters, Disposition, Endpoint, EndpointConfig, RefusedAction};
use crate::transport::{Listeners, SharedEndpoint, TcpOptions, TransportError, UdpOptions};

/// Target of the agent's own log lines: the same as the `sip-resync` command's, so that a
/// log reads the same whoever runs the agent.
const LOG_TARGET: &str = "sip_resync";

/// Resync requests waiting for the engine; more are coalesced (a run is pending anyway).
const RESYNC_CHANNEL: usize = 64;

/// What an [`Agent`] is built from: the settings, and what the command line may override.
///
/// ```
/// use sip_resync::agent::AgentOptions;
/// use sip_resync::engine::ClockValidity;
///
/// let settings = sip_resync::config::from_bytes(
///     b"[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n",
///     "phone.toml".as_ref(),
/// )?;
/// let options = AgentOptions::new(settings)
///     .listen(["udp:127.0.0.1:5062".parse()?])
///     .mac("00:80:F0:A1:B2:C3")
///     .model("KX-HDV230")
///     .state_dir("/var/lib/sip-resync")
///     .clock(ClockValidity::NotYet);
/// assert_eq!(options.settings().sip.events, ["check-sync"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AgentOptions {
    settings: Settings,
    state_dir: Option<PathBuf>,
    mac: Option<String>,
    model: Option<String>,
    listen: Vec<ListenAddr>,
    clock: ClockValidity,
}

impl AgentOptions {
    /// Options for `settings` (from [`config::load`], [`config::from_bytes`], or built in
    /// code), with nothing overridden and the clock judged valid once the system clock reads
    /// 2025 or later ([`ClockValidity::FromSystem`]).
    pub fn new(settings: Settings) -> AgentOptions {
        AgentOptions {
            settings,
            state_dir: None,
            mac: None,
            model: None,
            listen: Vec::new(),
            clock: ClockValidity::FromSystem,
        }
    }

    /// Reads a configuration file of any dialect ([`config::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<AgentOptions, AgentError> {
        Ok(AgentOptions::new(config::load(path.as_ref())?))
    }

    /// The directory for applied files and persisted state, instead of
    /// `provisioning.state_dir`; created (with its parents) when missing.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> AgentOptions {
        self.state_dir = Some(dir.into());
        self
    }

    /// The MAC address replacing `{MAC}` in file URLs and seeding the schedule's random draws,
    /// instead of `provisioning.mac`: `0080F0A1B2C3` or `00:80:F0:A1:B2:C3`. Checked by
    /// [`Agent::start`].
    pub fn mac(mut self, mac: impl Into<String>) -> AgentOptions {
        self.mac = Some(mac.into());
        self
    }

    /// The model name replacing `{MODEL}` in file URLs, instead of `provisioning.model`.
    pub fn model(mut self, model: impl Into<String>) -> AgentOptions {
        self.model = Some(model.into());
        self
    }

    /// Where to listen, replacing `[sip] listen` entirely (an empty list keeps it). Port 0
    /// picks a free port; [`Agent::local_addrs`] tells which.
    pub fn listen(mut self, addrs: impl IntoIterator<Item = ListenAddr>) -> AgentOptions {
        self.listen = addrs.into_iter().collect();
        self
    }

    /// How the validity of the wall clock is judged: daily schedules (Panasonic
    /// `CFG_RESYNC_TIME`, Snom `abs`) wait for a valid clock. With [`ClockValidity::NotYet`],
    /// call [`AgentHandle::set_clock_valid`] once the clock is set (after NTP).
    pub fn clock(mut self, clock: ClockValidity) -> AgentOptions {
        self.clock = clock;
        self
    }

    /// The settings, before the overrides are applied.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Why an [`Agent`] cannot start, or new settings cannot be taken.
///
/// The `sip-resync` command exits 4 for [`AgentError::Bind`] and 2 for every other variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The configuration cannot be read or is invalid (it names the file, line and key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The MAC address given in the options is malformed.
    #[error("--mac: {0}")]
    Mac(String),
    /// The state directory cannot be created.
    #[error("cannot create the state directory {}: {source} (choose a writable --state-dir or provisioning.state_dir)", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Provisioning files are configured, but no state directory to apply them in.
    #[error("provisioning files are configured but there is no state directory for them: give --state-dir DIR or provisioning.state_dir")]
    NoStateDir,
    /// Neither the options nor the settings name an address to listen on.
    #[error("no listen address: give --listen udp:ADDR:PORT or tcp:ADDR:PORT, or [sip] listen in the configuration")]
    NoListenAddress,
    /// A listening address cannot be bound (in use, privileged port, not this machine's).
    #[error(transparent)]
    Bind(#[from] TransportError),
    /// The provisioning engine cannot start: a file URL cannot be resolved, or the state
    /// directory cannot be used.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A standalone agent: its own listeners, the provisioning engine, the schedule.
///
/// [`Agent::start`] checks the settings, binds the listeners and starts the engine (whose
/// start-up run, if configured, begins at once); [`Agent::run`] serves until a future
/// completes. Subscribe to outcomes ([`AgentHandle::subscribe`]) between the two to see
/// every run, the start-up run included. Dropping an agent that was never run stops its
/// engine.
///
/// ```no_run
/// use sip_resync::agent::{Agent, AgentOptions};
///
/// # async fn demo() -> Result<(), sip_resync::agent::AgentError> {
/// let agent = Agent::start(AgentOptions::load("fixtures/demo.toml")?).await?;
/// let handle = agent.handle();
/// let mut outcomes = handle.subscribe();
/// tokio::spawn(async move {
///     while let Ok(outcome) = outcomes.recv().await {
///         println!("{outcome}");
///         if outcome.reboot_requested {
///             // The application reboots the phone, when it sees fit.
///         }
///     }
/// });
/// let counters = agent
///     .run(async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await;
/// println!("{} resync requests", counters.resync_requests);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Agent {
    handle: AgentHandle,
    listeners: Option<Listeners>,
    engine: Option<(EngineHandle, JoinHandle<()>)>,
    engine_outcomes: Option<broadcast::Receiver<Outcome>>,
    tcp: TcpOptions,
}

impl Agent {
    /// Applies the options, checks the settings, creates the state directory, binds every
    /// listening address and starts the provisioning engine (when files are configured).
    /// Logs the configuration warnings, one line per listener and who may send requests.
    ///
    /// Must be called within a tokio runtime (the engine is a task on it).
    pub async fn start(options: AgentOptions) -> Result<Agent, AgentError> {
        let AgentOptions {
            mut settings,
            state_dir,
            mac,
            model,
            listen,
            clock,
        } = options;
        for w in &settings.warnings {
            tracing::warn!(target: LOG_TARGET, "{w}");
        }
        let overrides = Overrides {
            mac: mac
                .map(|m| config::provisioning::normalise_mac(&m).map_err(AgentError::Mac))
                .transpose()?,
            model,
            state_dir,
        };
        overrides.apply(&mut settings);
        let zone = settings.zone()?;
        if let Some(dir) = &settings.provisioning.state_dir {
            std::fs::create_dir_all(dir).map_err(|source| AgentError::StateDir {
                path: dir.clone(),
                source,
            })?;
        }
        let listen_override = !listen.is_empty();
        let listen = if listen_override {
            listen
        } else {
            settings.sip.listen.clone()
        };
        if listen.is_empty() {
            return Err(AgentError::NoListenAddress);
        }
        let pick = |t: Transport| -> Vec<SocketAddr> {
            listen
                .iter()
                .filter(|l| l.transport == t)
                .map(|l| l.addr)
                .collect()
        };
        let udp = UdpOptions {
            workers: settings.sip.udp_workers,
            ..UdpOptions::default()
        };
        let listeners =
            Listeners::bind_with(&pick(Transport::Udp), &pick(Transport::Tcp), udp).await?;
        let (engine, engine_outcomes) = if settings.provisioning.files.is_empty() {
            tracing::warn!(target: LOG_TARGET, "no provisioning files configured: NOTIFYs are answered, nothing is fetched (set [provisioning] files, or CFG_MASTER_FILE_PATH in a Panasonic file)");
            (None, None)
        } else {
            let Some(dir) = settings.provisioning.state_dir.clone() else {
                return Err(AgentError::NoStateDir);
            };
            let (handle, outcomes, task) = Engine::start_subscribed(EngineConfig {
                settings: settings.clone(),
                state_dir: dir,
                time_zone: zone,
                clock,
            })?;
            (Some((handle, task)), Some(outcomes))
        };
        // The applied set may carry its own SIP settings (CFG_RESYNC_FROM_SIP).
        let effective = match &engine {
            Some((h, _)) => h.settings().borrow().clone(),
            None => Arc::new(settings.clone()),
        };
        let endpoint_config = effective.sip.endpoint_config();
        let local_addrs = listeners.local_addrs();
        for (transport, addr) in &local_addrs {
            tracing::info!(
                target: LOG_TARGET,
                "listening on {transport}:{addr} for NOTIFY with Event {}",
                endpoint_config.events.allow_events()
            );
        }
        log_allowlist(&settings.sip);
        let (outcomes, _) = broadcast::channel(crate::engine::OUTCOME_BUFFER);
        let handle = AgentHandle {
            inner: Arc::new(Inner {
                endpoint: listeners.endpoints(endpoint_config),
                engine: engine.as_ref().map(|(h, _)| h.clone()),
                local_addrs,
                outcomes: Mutex::new(Some(outcomes)),
                last_outcome: Mutex::new(None),
                settings: Mutex::new(effective),
                started: StartedWith {
                    listen: settings.sip.listen.clone(),
                    listen_override,
                    tcp: settings.sip.tcp,
                },
                overrides,
                stop: watch::channel(false).0,
                running: Mutex::new(false),
            }),
        };
        if let Some((h, _)) = &engine {
            // Settings the engine publishes (a fetched CFG_RESYNC_FROM_SIP, or
            // AgentHandle::update_settings) re-arm the endpoint synchronously, in order; those
            // published since the endpoint was built are taken now. A weak reference: the
            // engine must not keep the agent alive.
            let weak = Arc::downgrade(&handle.inner);
            h.set_settings_hook(Box::new(move |settings| {
                if let Some(inner) = weak.upgrade() {
                    inner.take_settings(settings);
                }
            }));
        }
        Ok(Agent {
            handle,
            listeners: Some(listeners),
            engine,
            engine_outcomes,
            tcp: settings.sip.tcp,
        })
    }

    /// A handle on the agent, usable before, while and after it runs.
    pub fn handle(&self) -> AgentHandle {
        self.handle.clone()
    }

    /// The bound listening addresses, UDP first (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        self.handle.inner.local_addrs.clone()
    }

    /// Serves until `shutdown` completes (or [`AgentHandle::shutdown`] is called): answers
    /// NOTIFYs, hands accepted ones to the engine, runs the schedule. Then stops gracefully:
    /// open TCP connections are closed, the engine stops (a run in flight is cancelled; an
    /// apply under way completes, atomically either way), the outcome channel closes, and the
    /// final counters are logged (`stopped …`) and returned.
    pub async fn run<F>(mut self, shutdown: F) -> Counters
    where
        F: Future<Output = ()>,
    {
        let inner = self.handle.inner.clone();
        *lock(&inner.running) = true;
        let listeners = self.listeners.take().expect("an agent runs once");
        let (tx, mut rx) = mpsc::channel::<ResyncRequest>(RESYNC_CHANNEL);
        // Each accepted NOTIFY becomes a trigger; the engine coalesces them.
        let trigger = inner.engine.clone();
        let consumer = tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                if let Some(h) = &trigger {
                    h.trigger(Cause::from_request(&req));
                }
            }
        });
        // The endpoint is already current: the engine calls the settings hook installed by
        // `start` with every change, before the change is visible anywhere else.
        let mut guard = RunGuard {
            inner: inner.clone(),
            tasks: Vec::new(),
        };
        // Outcomes go to the agent's subscribers, and the latest is kept for status().
        let (forward_stop, mut forward_stopped) = oneshot::channel::<()>();
        let forwarder = self.engine_outcomes.take().map(|mut outcomes| {
            let inner = inner.clone();
            tokio::spawn(async move {
                let publish = |o: Outcome| {
                    *lock(&inner.last_outcome) = Some(o.clone());
                    if let Some(tx) = lock(&inner.outcomes).as_ref() {
                        let _ = tx.send(o);
                    }
                };
                loop {
                    tokio::select! {
                        r = outcomes.recv() => match r {
                            Ok(o) => publish(o),
                            Err(broadcast::error::RecvError::Lagged(_)) => {}
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = &mut forward_stopped => {
                            // The engine has stopped: pass on what it sent last.
                            while let Ok(o) = outcomes.try_recv() {
                                publish(o);
                            }
                            return;
                        }
                    }
                }
            })
        });
        let mut stop = inner.stop.subscribe();
        if let Some(forwarder) = &forwarder {
            guard.tasks.push(forwarder.abort_handle());
        }
        let stop_requested = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let either = async move {
            tokio::pin!(shutdown);
            tokio::pin!(stop_requested);
            tokio::select! {
                _ = &mut shutdown => {}
                _ = &mut stop_requested => {}
            }
        };
        listeners
            .serve(inner.endpoint.clone(), tx, self.tcp, either)
            .await;
        let _ = consumer.await;
        if let Some((h, task)) = self.engine.take() {
            h.shutdown();
            let _ = task.await;
        }
        if let Some(forwarder) = forwarder {
            let _ = forward_stop.send(());
            let _ = forwarder.await;
        }
        drop(guard);
        let c = inner.endpoint.counters();
        tracing::info!(
            target: LOG_TARGET,
            received = c.received,
            resync_requests = c.resync_requests,
            rejected = c.rejected,
            dropped = c.dropped(),
            refused_source = c.refused_source,
            rate_limited_requests = c.rate_limited_requests,
            rate_limited_triggers = c.rate_limited_triggers,
            auth_challenges = c.auth_challenges,
            auth_failures = c.auth_failures,
            "stopped"
        );
        c
    }
}

/// Ends what [`Agent::run`] started, also when its future is dropped before it completes:
/// the helper tasks stop, subscribers see the outcome channel close once they have read
/// everything, and the status no longer says running.
struct RunGuard {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        lock(&self.inner.outcomes).take();
        *lock(&self.inner.running) = false;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Never run (or run was cancelled): the engine task would otherwise go on alone.
        if let Some((h, _)) = &self.engine {
            h.shutdown();
        }
    }
}

/// What the options override in the settings; applied again to settings given to
/// [`AgentHandle::update_settings`].
#[derive(Debug, Clone)]
struct Overrides {
    mac: Option<String>,
    model: Option<String>,
    state_dir: Option<PathBuf>,
}

impl Overrides {
    fn apply(&self, settings: &mut Settings) {
        let p = &mut settings.provisioning;
        if self.mac.is_some() {
            p.mac.clone_from(&self.mac);
        }
        if self.model.is_some() {
            p.model.clone_from(&self.model);
        }
        if self.state_dir.is_some() {
            p.state_dir.clone_from(&self.state_dir);
        }
    }
}

/// What was bound at start, to tell which settings changes need a new start.
#[derive(Debug)]
struct StartedWith {
    listen: Vec<ListenAddr>,
    listen_override: bool,
    tcp: TcpOptions,
}

#[derive(Debug)]
struct Inner {
    endpoint: SharedEndpoint,
    engine: Option<EngineHandle>,
    local_addrs: Vec<(Transport, SocketAddr)>,
    /// `None` once the agent has stopped.
    outcomes: Mutex<Option<broadcast::Sender<Outcome>>>,
    last_outcome: Mutex<Option<Outcome>>,
    /// The settings in effect (the engine's, when there is one).
    settings: Mutex<Arc<Settings>>,
    started: StartedWith,
    overrides: Overrides,
    stop: watch::Sender<bool>,
    running: Mutex<bool>,
}

impl Inner {
    /// Makes `settings` the settings in effect and re-arms the endpoint with them, unless
    /// they are already.
    fn take_settings(&self, settings: &Arc<Settings>) {
        let mut current = lock(&self.settings);
        if Arc::ptr_eq(&current, settings) {
            return;
        }
        let previous = std::mem::replace(&mut *current, settings.clone());
        rearm_endpoint(&self.endpoint, &previous.sip, &settings.sip);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs who may send requests.
fn log_allowlist(sip: &SipSettings) {
    if sip.allow.is_empty() {
        tracing::info!(target: LOG_TARGET, "accepting requests from any source: set [sip] allow to the PBX's addresses so that no other host can trigger a resync");
    } else {
        let refused = match sip.refused {
            RefusedAction::Answer => "answered 403 Forbidden",
            RefusedAction::Drop => "dropped",
        };
        tracing::info!(
            target: LOG_TARGET,
            "accepting requests only from {}; other sources are {refused}",
            sip.allow
        );
    }
    let auth = &sip.auth;
    if auth.challenge {
        let algorithms: Vec<&str> = auth.algorithms.iter().map(|a| a.name()).collect();
        tracing::info!(
            target: LOG_TARGET,
            "challenging resync NOTIFYs: digest realm \"{}\", {}, {} credential(s)",
            auth.realm,
            algorithms.join(" then "),
            auth.credentials.len()
        );
        if auth.credentials.is_empty() {
            tracing::warn!(target: LOG_TARGET, "no credentials for the digest challenge yet: every resync NOTIFY is answered 401 until [[sip.auth.credentials]] are configured or provisioned files bring SIP_AUTHID_n / SIP_PASS_n");
        }
    }
}

/// Gives the endpoint new settings, keeping its transactions, budgets and counters. Says so
/// in the log only for what changed: the accepted events, the allowlist.
fn rearm_endpoint(endpoint: &SharedEndpoint, previous: &SipSettings, sip: &SipSettings) {
    let config = sip.endpoint_config();
    if previous.events != sip.events || previous.event_match != sip.event_match {
        tracing::info!(
            target: LOG_TARGET,
            "accepting NOTIFY with Event {}",
            config.events.allow_events()
        );
    }
    if previous.allow != sip.allow || previous.refused != sip.refused {
        log_allowlist(sip);
    }
    endpoint.reconfigure(config);
}

/// A handle on an [`Agent`]; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    inner: Arc<Inner>,
}

impl AgentHandle {
    /// Asks for a provisioning run, e.g. `Cause::Manual { reason: "user pressed
    /// Update".into() }`. Never blocks; triggers during a run coalesce into one follow-up
    /// run. Without provisioning files there is no engine, and the trigger is ignored
    /// (returns `false`).
    pub fn trigger(&self, cause: Cause) -> bool {
        match &self.inner.engine {
            Some(h) => {
                h.trigger(cause);
                true
            }
            None => {
                tracing::debug!(target: LOG_TARGET, %cause, "trigger ignored: no provisioning files are configured");
                false
            }
        }
    }

    /// The outcomes of the runs that finish from now on (at most
    /// [`crate::engine::OUTCOME_BUFFER`] are kept for a slow receiver, which then sees
    /// `Lagged`). The channel closes when the agent stops; a receiver taken after that is
    /// closed at once.
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome> {
        match lock(&self.inner.outcomes).as_ref() {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Declares the wall clock valid (set by NTP, say) or not. Daily schedules (Panasonic
    /// `CFG_RESYNC_TIME`, Snom `abs` and `random`) wait for a valid clock; see
    /// [`AgentOptions::clock`]. No effect without provisioning files.
    pub fn set_clock_valid(&self, valid: bool) {
        if let Some(h) = &self.inner.engine {
            h.set_clock_valid(valid);
        }
    }

    /// Takes new settings, for example after the user edited them, as a fetched file changes
    /// them: the accepted events, the allowlist (`allow`, `refused`) and the rate limits
    /// apply to the next message, keeping remembered transactions, budgets and counters; the
    /// schedule and time zone are re-armed; the applied files still win where they set
    /// something. The overrides of the [`AgentOptions`] (MAC, model, state directory) stay.
    ///
    /// What is bound or started stays as it was, with a warning when it changed: the listening
    /// addresses, the `[sip.tcp]` bounds, `max_transactions` and the `[provisioning]` table
    /// take effect when an agent is started again. Fails, changing nothing, when the settings
    /// name an unknown time zone.
    pub fn update_settings(&self, mut settings: Settings) -> Result<(), AgentError> {
        let inner = &self.inner;
        inner.overrides.apply(&mut settings);
        settings.zone()?;
        for w in &settings.warnings {
            tracing::warn!(target: LOG_TARGET, "{w}");
        }
        let started = &inner.started;
        if (!started.listen_override && settings.sip.listen != started.listen)
            || settings.sip.tcp != started.tcp
        {
            tracing::warn!(target: LOG_TARGET, "the listening addresses and [sip.tcp] settings changed; they take effect when the agent is started again");
        }
        match &inner.engine {
            // The engine overlays the applied files and publishes the result before it
            // returns; its settings hook re-arms the endpoint (see Agent::start).
            Some(h) => h.update_settings(settings)?,
            None => {
                let settings = Arc::new(settings);
                let previous = std::mem::replace(&mut *lock(&inner.settings), settings.clone());
                if previous.provisioning != settings.provisioning {
                    tracing::warn!(target: LOG_TARGET, "the [provisioning] settings changed; they take effect when the agent is started again");
                }
                rearm_endpoint(&inner.endpoint, &previous.sip, &settings.sip);
            }
        }
        Ok(())
    }

    /// A snapshot: counters, listening addresses, the last outcome, the settings in effect
    /// and the engine's plan.
    pub fn status(&self) -> AgentStatus {
        let inner = &self.inner;
        AgentStatus {
            counters: inner.endpoint.counters(),
            listening: inner.local_addrs.clone(),
            last_outcome: lock(&inner.last_outcome).clone(),
            settings: lock(&inner.settings).clone(),
            engine: inner.engine.as_ref().map(EngineHandle::status),
            running: *lock(&inner.running),
        }
    }

    /// Stops a running agent, as if the future given to [`Agent::run`] had completed (also
    /// before it runs: `run` then returns at once).
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }
}

/// A snapshot of a running agent, from [`AgentHandle::status`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentStatus {
    /// The endpoint's running totals: messages received, resync requests, rejections,
    /// refused sources, rate-limited requests and triggers, drops.
    pub counters: Counters,
    /// The bound listening addresses, UDP first.
    pub listening: Vec<(Transport, SocketAddr)>,
    /// The outcome of the last run that finished, if any.
    pub last_outcome: Option<Outcome>,
    /// The settings in effect: the local configuration overlaid by the applied files.
    pub settings: Arc<Settings>,
    /// The engine's next poll and schedule; `None` without provisioning files.
    pub engine: Option<EngineStatus>,
    /// True while [`Agent::run`] serves.
    pub running: bool,
}

/// What [`Embedded::handle`] decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a resync NOTIFY: the host processes the message itself, exactly as if this crate
    /// were not there. Nothing was counted, answered or charged to a rate limit.
    NotOurs,
    /// A resync NOTIFY (see [`crate::sip::is_resync_notify`]): the host must not process it
    /// further.
    #[non_exhaustive]
    Ours {
        /// Bytes to send back first: to the source address and port over UDP, on the same
        /// connection over TCP. `None` means no answer at all (a source outside the allowlist
        /// with `refused = "drop"`, or over a request rate limit).
        reply: Option<Bytes>,
        /// The resync request to act on once the reply has been sent: hand it to the engine
        /// (`EngineHandle::trigger(Cause::from_request(&req))`) or to the application.
        /// `None` for a retransmission, a rejected or refused request, or one held back by a
        /// trigger limit (then [`Embedded::handle_timeout`] releases it later).
        resync: Option<ResyncRequest>,
        /// What happened, for logs: an accepted NOTIFY, a 4xx answer, a retransmission, a
        /// refusal, a rate limit. The `log` flags say when a line is due (once per source per
        /// minute for drops and refusals).
        disposition: Disposition,
    },
}

/// The resync endpoint embedded in a host SIP stack that owns the port.
///
/// The host receives every message; it hands each one, as received, to
/// [`Embedded::handle`] with the source address, the transport and the current time:
///
/// * [`Verdict::NotOurs`]: the host handles the message as usual (INVITE, REGISTER
///   responses, in-dialog NOTIFYs, NOTIFYs for other events such as `message-summary`,
///   OPTIONS, garbage, keep-alives). Nothing was counted or answered.
/// * [`Verdict::Ours`]: the host sends `reply`, if any, to the source, then acts on `resync`,
///   if any. It does not process the message any further.
///
/// Timers: at [`Embedded::poll_timeout`] (or once a second), the host calls
/// [`Embedded::handle_timeout`], which expires transactions and may release a resync request
/// held back by a trigger limit. No sockets, no tasks, no clock: a plain `&mut` value, which
/// the host may keep in a `Mutex` to share between threads.
///
/// ```
/// use std::time::Instant;
/// use sip_resync::agent::{Embedded, Verdict};
/// use sip_resync::Transport;
///
/// let settings = sip_resync::config::from_bytes(
///     b"[sip]\nevents = [\"check-sync\"]\nallow = [\"192.0.2.0/24\"]\n",
///     "phone.toml".as_ref(),
/// )?;
/// let mut embedded = Embedded::new(&settings.sip);
/// let pbx = "192.0.2.1:5060".parse()?;
/// let now = Instant::now();
///
/// let notify = b"NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\n\
/// Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
/// From: <sip:pbx@192.0.2.1>;tag=1928301774\r\nTo: <sip:1001@192.0.2.10>\r\n\
/// Call-ID: a84b4c76e66710@192.0.2.1\r\nCSeq: 102 NOTIFY\r\n\
/// Event: check-sync;reboot=false\r\nContent-Length: 0\r\n\r\n";
/// match embedded.handle(now, pbx, Transport::Udp, notify) {
///     Verdict::Ours { reply, resync, .. } => {
///         assert!(reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n")); // send it to `pbx`
///         assert_eq!(resync.unwrap().reboot, Some(false));           // then act on it
///     }
///     Verdict::NotOurs => unreachable!(),
/// }
///
/// // Voicemail notifications, calls, responses: the host's own business.
/// let mwi = String::from_utf8(notify.to_vec())?.replace("check-sync;reboot=false", "message-summary");
/// assert_eq!(embedded.handle(now, pbx, Transport::Udp, mwi.as_bytes()), Verdict::NotOurs);
/// assert_eq!(embedded.counters().received, 1);
///
/// // Timers: transactions expire, held-back requests are released.
/// if let Some(at) = embedded.poll_timeout() {
///     if let Some(request) = embedded.handle_timeout(at) {
///         println!("resync released: {}", request.event);
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Embedded {
    endpoint: Endpoint,
}

impl Embedded {
    /// An endpoint for these SIP settings ([`SipSettings::endpoint_config`]): the accepted
    /// events, the allowlist, the rate limits, the transaction bound. `listen` and `tcp` are
    /// the host's business and not used.
    pub fn new(sip: &SipSettings) -> Embedded {
        Embedded::with_config(sip.endpoint_config())
    }

    /// An endpoint with explicit settings.
    pub fn with_config(config: EndpointConfig) -> Embedded {
        Embedded {
            endpoint: Endpoint::new(config),
        }
    }

    /// Decides whether a received message is a resync NOTIFY and, if it is, answers it. See
    /// [`crate::sip::is_resync_notify`] for the exact rule; only what it claims reaches the
    /// endpoint (allowlist, rate limits, transactions, the response table of `docs/sip.md`).
    ///
    /// `bytes` is one whole UDP datagram, or one message the host framed off a TCP stream
    /// (Content-Length is mandatory there).
    pub fn handle(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Verdict {
        // One parse answers both "is this ours?" and "what to send".
        let Some(handled) = self
            .endpoint
            .handle_if_claimed(now, source, transport, bytes)
        else {
            return Verdict::NotOurs;
        };
        Verdict::Ours {
            reply: handled.reply,
            resync: handled.resync,
            disposition: handled.disposition,
        }
    }

    /// When [`Embedded::handle_timeout`] next has work: a transaction to expire, or a resync
    /// request held back by a trigger limit to release. `None` when there is nothing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    /// Expires transactions whose Timer J has fired by `now`, and returns the resync request
    /// held back by a trigger limit once the limit admits it: act on it like
    /// [`Verdict::Ours::resync`](Verdict::Ours).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ResyncRequest> {
        self.endpoint.handle_timeout(now);
        self.endpoint.poll_deferred(now)
    }

    /// Takes new SIP settings for the next message, keeping transactions, budgets and
    /// counters (see [`Endpoint::reconfigure`]).
    pub fn reconfigure(&mut self, sip: &SipSettings) {
        self.endpoint.reconfigure(sip.endpoint_config());
    }

    /// The running totals of the messages claimed so far.
    pub fn counters(&self) -> Counters {
        self.endpoint.counters()
    }

    /// The endpoint inside, for what this wrapper does not offer.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint inside, mutably.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PBX: &str = "192.0.2.1:5060";

    fn notify(branch: &str, event: &str, to_tag: &str) -> Vec<u8> {
        format!(
            "NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\nFrom: <sip:pbx@192.0.2.1>;tag=f1\r\nTo: <sip:1001@192.0.2.10>{to_tag}\r\nCall-ID: {branch}@pbx\r\nCSeq: 1 NOTIFY\r\nEvent: {event}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn settings(toml: &str) -> Settings {
        config::from_bytes(toml.as_bytes(), Path::new("t.toml")).unwrap()
    }

    fn ours(v: &Verdict) -> (Option<&[u8]>, bool) {
        match v {
            Verdict::Ours { reply, resync, .. } => (reply.as_deref(), resync.is_some()),
            Verdict::NotOurs => panic!("expected ours"),
        }
    }

    #[test]
    fn the_handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<AgentHandle>();
        send_sync::<AgentStatus>();
        send::<Agent>();
        send_sync::<Embedded>();
    }

    #[test]
    fn only_what_is_ours_is_counted_and_answered() {
        let mut e = Embedded::new(&settings("").sip);
        let (now, src) = (Instant::now(), PBX.parse().unwrap());
        let first = e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKe1", "check-sync", ""),
        );
        let (reply, resync) = ours(&first);
        assert!(reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"));
        assert!(resync);
        // The retransmission is ours too: the same answer, no second request.
        let again = e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKe1", "check-sync", ""),
        );
        assert_eq!(ours(&again), (reply, false));
        for not_ours in [
            notify("z9hG4bKe2", "message-summary", ""),
            notify("z9hG4bKe3", "check-sync", ";tag=dlg"),
            b"OPTIONS sip:1001@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKo\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n".to_vec(),
            b"garbage".to_vec(),
        ] {
            assert_eq!(e.handle(now, src, Transport::Udp, &not_ours), Verdict::NotOurs);
        }
        let c = e.counters();
        assert_eq!(
            (
                c.received,
                c.responses,
                c.resync_requests,
                c.retransmissions,
                c.dropped()
            ),
            (2, 2, 1, 1, 0)
        );
    }

    #[test]
    fn a_refused_source_is_ours_and_answered_or_dropped() {
        let mut e = Embedded::new(&settings("[sip]\nallow = [\"192.0.2.0/24\"]\n").sip);
        let stranger = "198.51.100.7:5060".parse().unwrap();
        let now = Instant::now();
        let v = e.handle(
            now,
            stranger,
            Transport::Udp,
            &notify("z9hG4bKr1", "check-sync", ""),
        );
        let (reply, resync) = ours(&v);
        assert!(reply.unwrap().starts_with(b"SIP/2.0 403 Forbidden\r\n"));
        assert!(!resync);
        // The stranger's other traffic is not ours to refuse.
        assert_eq!(
            e.handle(
                now,
                stranger,
                Transport::Udp,
                &notify("z9hG4bKr2", "presence", "")
            ),
            Verdict::NotOurs
        );
        e.reconfigure(&settings("[sip]\nallow = [\"192.0.2.0/24\"]\nrefused = \"drop\"\n").sip);
        let v = e.handle(
            now,
            stranger,
            Transport::Udp,
            &notify("z9hG4bKr3", "check-sync", ""),
        );
        assert_eq!(ours(&v), (None, false));
        assert_eq!(e.counters().refused_source, 2);
    }

    #[test]
    fn a_held_back_trigger_is_released_by_handle_timeout() {
        let mut e =
            Embedded::new(&settings("[sip.limits]\ntriggers_per_minute_per_source = 1\n").sip);
        let (t0, src) = (Instant::now(), PBX.parse().unwrap());
        let v = e.handle(
            t0,
            src,
            Transport::Udp,
            &notify("z9hG4bKh1", "check-sync", ""),
        );
        assert!(ours(&v).1);
        let v = e.handle(
            t0,
            src,
            Transport::Udp,
            &notify("z9hG4bKh2", "check-sync", ""),
        );
        let (reply, resync) = ours(&v);
        assert!(
            reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"),
            "answered 200"
        );
        assert!(!resync, "held back");
        let at = e.poll_timeout().expect("a timer is armed");
        assert!(at > t0);
        let mut released = None;
        let mut now = t0;
        while released.is_none() && now < t0 + std::time::Duration::from_secs(120) {
            now = e
                .poll_timeout()
                .unwrap_or(now + std::time::Duration::from_secs(1))
                .max(now);
            released = e.handle_timeout(now);
            if released.is_none() {
                now += std::time::Duration::from_millis(100);
            }
        }
        let req = released.expect("released within the minute");
        assert_eq!(req.call_id, "z9hG4bKh2@pbx");
        assert!(now <= t0 + std::time::Duration::from_secs(61));
    }
}

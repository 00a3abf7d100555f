//! The standalone agent: listeners, engine and schedule on a tokio runtime, until a future
//! completes. [`AgentHandle`] is how the application talks to it while it runs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::TcpOptions;
use crate::config::{self, ConfigError, ListenAddr, Settings, SipSettings, TlsSettings};
use crate::engine::{
    Cause, ClockValidity, Engine, EngineConfig, EngineError, EngineHandle, EngineStatus, Outcome,
};
use crate::transport::{
    Listeners, SharedEndpoint, SharedTls, Sink, TlsError, TlsServer, TransportError, UdpOptions,
};
use sip_resync_core::sip::{Counters, RefusedAction};
use sip_resync_core::sync::lock;

use crate::settings::SettingsOwner;
use sip_resync_core::ResyncSink;
use sip_resync_core::{ResyncRequest, Transport};

/// Target of the agent's own log lines: the same as the `sip-resync` command's, so that a
/// log reads the same whoever runs the agent.
const LOG_TARGET: &str = "sip_resync";

/// What an [`Agent`] is built from: the settings, and what the command line may override.
///
/// ```
/// use sip_resync::AgentOptions;
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
    sink: CustomSink,
}

/// An application's own [`ResyncSink`], if it gave one.
#[derive(Debug, Clone, Default)]
struct CustomSink(Option<Sink>);

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
            sink: CustomSink::default(),
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

    /// Hands the resync requests of accepted NOTIFYs to `sink` instead of the agent's own
    /// provisioning engine: for an application that runs its provisioning itself but lets
    /// the agent own the SIP port. The engine still runs the start-up run and the schedule
    /// when files are configured, and [`AgentHandle::trigger`] still reaches it.
    pub fn resync_sink(mut self, sink: impl ResyncSink) -> AgentOptions {
        self.sink = CustomSink(Some(Arc::new(sink)));
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
    Mac(config::ValueError),
    /// The state directory cannot be created. The message says what to do: a path that is,
    /// or runs through, a file needs another name; a directory this user may not write needs
    /// its owner or mode changed.
    #[error("cannot create the state directory {}: {source} ({})", path.display(), state_dir_hint(path, source))]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state directory exists, but a file cannot be written in it (checked at start, so
    /// that the first provisioning run does not find out). The message names the user and
    /// the commands that would let it write there.
    #[error("cannot write in the state directory {}: {source} ({})", path.display(), state_dir_hint(path, source))]
    StateDirNotWritable {
        /// The directory.
        path: PathBuf,
        /// The OS error of writing a file in it.
        source: std::io::Error,
    },
    /// Provisioning files are configured, but no state directory to apply them in.
    #[error("provisioning files are configured but there is no state directory for them: give --state-dir DIR or provisioning.state_dir")]
    NoStateDir,
    /// Neither the options nor the settings name an address to listen on.
    #[error("no listen address: give --listen udp:ADDR:PORT, tcp:ADDR:PORT or tls:ADDR:PORT, or [sip] listen in the configuration")]
    NoListenAddress,
    /// The TLS listener cannot be set up: `[sip.tls]` is missing, or a file it names cannot
    /// be used (the error names the setting, the file and the reason).
    #[error(transparent)]
    Tls(#[from] TlsError),
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
/// use sip_resync::{Agent, AgentOptions};
///
/// # async fn demo() -> Result<(), sip_resync::AgentError> {
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
    tcp: TcpOptions,
    /// Where the listeners hand accepted resync requests: the application's sink, else the
    /// engine, else nowhere (no files configured: the NOTIFY was answered, nothing to fetch).
    sink: Sink,
}

impl Agent {
    /// Applies the options, checks the settings, creates the state directory, binds every
    /// listening address and starts the provisioning engine (when files are configured).
    /// Logs the configuration warnings, one line per listener and who may send requests.
    ///
    /// Must be called within a tokio runtime (the engine is a task on it).
    pub async fn start(options: AgentOptions) -> Result<Agent, AgentError> {
        let (settings, overrides, zone, listen, clock, sink) = prepare(options)?;
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
        let tls_addrs = pick(Transport::Tls);
        let tls = if tls_addrs.is_empty() {
            None
        } else {
            let config = settings.sip.tls.as_ref().ok_or(TlsError::NotConfigured)?;
            let server = TlsServer::load(config, jiff::Timestamp::now())?;
            log_tls("TLS", config, &server);
            Some(SharedTls::new(server))
        };
        crate::transport::fds::prepare(
            pick(Transport::Tcp).len() + tls_addrs.len(),
            settings.sip.tcp.max_connections,
        );
        let listeners = Listeners::bind_with(
            &pick(Transport::Udp),
            &pick(Transport::Tcp),
            tls.clone().map(|t| (&tls_addrs[..], t)),
            udp,
        )
        .await?;
        let (owner, engine) = start_engine(&settings, zone, clock)?;
        // The applied set may carry its own SIP settings (CFG_RESYNC_FROM_SIP).
        let effective = owner.current();
        let local_addrs = listeners.local_addrs();
        for (transport, addr) in &local_addrs {
            tracing::info!(
                target: LOG_TARGET,
                "listening on {transport}:{addr} for NOTIFY with Event {}",
                effective.sip.matcher().allow_events()
            );
        }
        log_allowlist(&settings.sip);
        let handle = AgentHandle {
            inner: Arc::new(Inner {
                endpoint: listeners.endpoints(owner.subscribe()),
                engine: engine.as_ref().map(|(h, _)| h.clone()),
                local_addrs,
                settings: owner,
                started: StartedWith {
                    listen: settings.sip.listen.clone(),
                    listen_override,
                    tcp: settings.sip.tcp,
                },
                overrides,
                tls,
                stop: watch::channel(false).0,
                running: Mutex::new(false),
            }),
        };
        let sink = sink.or_engine(&engine);
        Ok(Agent {
            sink,
            handle,
            listeners: Some(listeners),
            engine,
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
        // The endpoints follow the settings owner on their own; outcomes go from the engine
        // to the subscribers directly.
        let guard = RunGuard {
            inner: inner.clone(),
        };
        let mut stop = inner.stop.subscribe();
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
            .serve(inner.endpoint.clone(), self.sink.clone(), self.tcp, either)
            .await;
        if let Some((h, task)) = self.engine.take() {
            h.shutdown();
            let _ = task.await;
        }
        drop(guard);
        let c = inner.endpoint.counters();
        sip_resync_core::log_counters!(INFO, LOG_TARGET, c, "stopped");
        c
    }
}

/// Ends what [`Agent::run`] started, also when its future is dropped before it completes:
/// the engine is told to stop (its outcome channel then closes, once subscribers have read
/// everything), and the status no longer says running.
struct RunGuard {
    inner: Arc<Inner>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(engine) = &self.inner.engine {
            engine.shutdown();
        }
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

impl CustomSink {
    /// Where accepted resync requests go: the application's sink, else the engine, else
    /// nowhere (no files configured: the NOTIFY was answered, nothing to fetch).
    fn or_engine(self, engine: &Option<(EngineHandle, JoinHandle<()>)>) -> Sink {
        match (self.0, engine) {
            (Some(custom), _) => custom,
            (None, Some((h, _))) => Arc::new(h.clone()),
            (None, None) => Arc::new(|_: ResyncRequest| {}),
        }
    }
}

/// The options taken apart: the settings with the overrides applied (warnings logged, the
/// time zone known, the state directory created and writable), and the rest.
type Prepared = (
    Settings,
    Overrides,
    jiff::tz::TimeZone,
    Vec<ListenAddr>,
    ClockValidity,
    CustomSink,
);

fn prepare(options: AgentOptions) -> Result<Prepared, AgentError> {
    let AgentOptions {
        mut settings,
        state_dir,
        mac,
        model,
        listen,
        clock,
        sink,
    } = options;
    for w in &settings.warnings {
        tracing::warn!(target: LOG_TARGET, "{w}");
    }
    let overrides = Overrides {
        mac: mac
            .map(|m| config::normalise_mac(&m).map_err(AgentError::Mac))
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
        probe_writable(dir).map_err(|source| AgentError::StateDirNotWritable {
            path: dir.clone(),
            source,
        })?;
    }
    Ok((settings, overrides, zone, listen, clock, sink))
}

/// The one owner of the settings in effect (the engine publishes the applied files to it,
/// `update_settings` the local ones; the endpoints and the engine subscribe), and the engine
/// when files are configured.
#[allow(clippy::type_complexity)]
fn start_engine(
    settings: &Settings,
    zone: jiff::tz::TimeZone,
    clock: ClockValidity,
) -> Result<(Arc<SettingsOwner>, Option<(EngineHandle, JoinHandle<()>)>), AgentError> {
    let owner = SettingsOwner::new(settings.clone(), zone.clone());
    let engine = if settings.provisioning.files.is_empty() {
        tracing::warn!(target: LOG_TARGET, "no provisioning files configured: NOTIFYs are answered, nothing is fetched (set [provisioning] files, CFG_STANDARD_FILE_PATH in a Panasonic file, or setting_server in a Snom file)");
        None
    } else {
        let Some(dir) = settings.provisioning.state_dir.clone() else {
            return Err(AgentError::NoStateDir);
        };
        let (handle, task) = Engine::start_with_owner(
            EngineConfig {
                settings: settings.clone(),
                state_dir: dir,
                time_zone: zone,
                clock,
            },
            owner.clone(),
        )?;
        Some((handle, task))
    };
    Ok((owner, engine))
}

/// An agent without sockets, for a host SIP stack that owns the port and its transactions:
/// what [`HostedAgent::start`] builds.
pub(crate) struct HostedParts {
    pub(crate) handle: AgentHandle,
    pub(crate) sink: Sink,
    pub(crate) engine: Option<(EngineHandle, JoinHandle<()>)>,
}

/// Starts everything of an [`Agent`] but the listeners: the settings owner, the engine and
/// schedule, one endpoint following the settings in effect.
pub(crate) fn start_hosted(options: AgentOptions) -> Result<HostedParts, AgentError> {
    let (settings, overrides, zone, _listen, clock, sink) = prepare(options)?;
    let (owner, engine) = start_engine(&settings, zone, clock)?;
    log_allowlist(&settings.sip);
    let endpoint = Arc::new(crate::transport::Endpoints::new(owner.subscribe(), 0));
    let handle = AgentHandle {
        inner: Arc::new(Inner {
            endpoint,
            engine: engine.as_ref().map(|(h, _)| h.clone()),
            local_addrs: Vec::new(),
            settings: owner,
            started: StartedWith {
                listen: settings.sip.listen.clone(),
                listen_override: false,
                tcp: settings.sip.tcp,
            },
            overrides,
            tls: None,
            stop: watch::channel(false).0,
            running: Mutex::new(true),
        }),
    };
    let sink = sink.or_engine(&engine);
    Ok(HostedParts {
        handle,
        sink,
        engine,
    })
}

impl AgentHandle {
    /// The endpoint shared by the host's messages (that of TCP and TLS in an [`Agent`]).
    pub(crate) fn endpoints(&self) -> &crate::transport::SharedEndpoint {
        &self.inner.endpoint
    }

    /// The stop flag [`AgentHandle::shutdown`] sets.
    pub(crate) fn stop_flag(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    /// Marks the agent stopped in its status.
    pub(crate) fn set_running(&self, running: bool) {
        *lock(&self.inner.running) = running;
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
    /// The one owner of the settings in effect.
    settings: Arc<SettingsOwner>,
    started: StartedWith,
    overrides: Overrides,
    /// The configuration of the TLS listeners, when there are any.
    tls: Option<SharedTls>,
    stop: watch::Sender<bool>,
    running: Mutex<bool>,
}

/// Logs who may send requests.
pub(crate) fn log_allowlist(sip: &SipSettings) {
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
            tracing::warn!(target: LOG_TARGET, "no credentials for the digest challenge yet: every resync NOTIFY is answered 401 until the configuration or a provisioned file brings them ([[sip.auth.credentials]] in sip-resync TOML, SIP_AUTHID_n / SIP_PASS_n in a Panasonic file, user_name / user_pname / user_pass with idx in Snom XML)");
        }
    }
}

/// Logs the certificate the TLS listeners serve and whom they admit.
fn log_tls(what: &str, config: &TlsSettings, server: &TlsServer) {
    let until = server
        .not_after()
        .map(|t| format!(" (valid until {t})"))
        .unwrap_or_default();
    let peers = match &config.client_ca {
        Some(ca) => format!(
            "peers must present a certificate signed by a CA of {}",
            ca.display()
        ),
        None => "no client certificate asked for (sip.tls.client_ca turns on mutual TLS)".into(),
    };
    tracing::info!(
        target: LOG_TARGET,
        "{what} certificate {}{until}; {peers}",
        config.certificate.display()
    );
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
        match &self.inner.engine {
            Some(h) => h.subscribe(),
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

    /// Declares the phone busy in a call (`true`) or idle again (`false`), as Cisco and
    /// Yealink phones look at their call state: while it is busy, provisioning runs that come
    /// due (NOTIFY, schedule, retry, [`AgentHandle::trigger`]) wait, and the reboot their
    /// outcome may ask for with them, until it is idle, or for at most
    /// `provisioning.busy_max_wait_secs` (2 h by default), after which they proceed. A run
    /// under way goes on. No effect without provisioning files.
    pub fn set_busy(&self, busy: bool) {
        if let Some(h) = &self.inner.engine {
            h.set_busy(busy);
        }
    }

    /// Takes new settings, for example after the user edited them, as a fetched file changes
    /// them: the accepted events, the allowlist (`allow`, `refused`) and the rate limits
    /// apply to the next message, keeping remembered transactions, budgets and counters; the
    /// schedule and time zone are re-armed; the applied files still win where they set
    /// something. The overrides of the [`AgentOptions`] (MAC, model, state directory) stay.
    ///
    /// With TLS listeners, the files of `[sip.tls]` are read again, even when the settings
    /// name the same files: connections accepted from then on get the new certificate, key
    /// and client CA; open connections, UDP and TCP go on undisturbed.
    ///
    /// What is bound or started stays as it was, with a warning when it changed: the listening
    /// addresses, the `[sip.tcp]` bounds, `max_transactions` and the `[provisioning]` table
    /// take effect when an agent is started again. Fails, changing nothing, when the settings
    /// name an unknown time zone, or when the TLS listeners cannot use `[sip.tls]` (the error
    /// names the setting, the file and the reason).
    pub fn update_settings(&self, mut settings: Settings) -> Result<(), AgentError> {
        let inner = &self.inner;
        inner.overrides.apply(&mut settings);
        let zone = settings.zone()?;
        let tls = match &inner.tls {
            Some(shared) => {
                let config = settings.sip.tls.clone().ok_or(TlsError::NotConfigured)?;
                let server = TlsServer::load(&config, jiff::Timestamp::now())?;
                Some((shared, config, server))
            }
            None => None,
        };
        for w in &settings.warnings {
            tracing::warn!(target: LOG_TARGET, "{w}");
        }
        let started = &inner.started;
        if (!started.listen_override && settings.sip.listen != started.listen)
            || settings.sip.tcp != started.tcp
        {
            tracing::warn!(target: LOG_TARGET, "the listening addresses and [sip.tcp] settings changed; they take effect when the agent is started again");
        }
        // The owner overlays the applied files and publishes the result before this returns:
        // the next message each endpoint handles is handled with it; the engine re-arms its
        // schedule when it sees the change.
        inner.settings.set_local(settings, zone);
        if let Some((shared, config, server)) = tls {
            log_tls("TLS reloaded:", &config, &server);
            shared.replace(server);
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
            last_outcome: inner.engine.as_ref().and_then(EngineHandle::last_outcome),
            settings: inner.settings.current(),
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

/// What to do about a state directory that cannot be created or written.
fn state_dir_hint(dir: &Path, error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    const ELSEWHERE: &str = "choose another --state-dir or provisioning.state_dir";
    match error.kind() {
        ErrorKind::AlreadyExists | ErrorKind::NotADirectory => format!(
            "it, or a directory above it, is a file: remove or rename the file, or {ELSEWHERE}"
        ),
        ErrorKind::PermissionDenied => {
            let user = current_user();
            let name = user.name.as_deref().unwrap_or("THIS-USER");
            let who = match (&user.name, user.uid) {
                (Some(n), Some(uid)) => format!("user {n} (uid {uid})"),
                (None, Some(uid)) => format!("uid {uid}"),
                _ => "this user".to_owned(),
            };
            format!(
                "{who} may not write there: chown {name} {d} or chmod u+w it (or create it as \
                 that user if it is missing), run as its owner, or {ELSEWHERE}",
                d = dir.display()
            )
        }
        ErrorKind::ReadOnlyFilesystem => {
            format!("the file system is mounted read-only: {ELSEWHERE} on a writable one")
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            format!("free some space, or {ELSEWHERE}")
        }
        _ => format!("check the path and its permissions, or {ELSEWHERE}"),
    }
}

/// The user this process runs as, for messages: the effective uid and its name, where the
/// system says (Linux `/proc/self/status` and `/etc/passwd`).
struct CurrentUser {
    uid: Option<u32>,
    name: Option<String>,
}

fn current_user() -> CurrentUser {
    let uid: Option<u32> = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            // `Uid:` real, effective, saved, file system.
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|u| u.parse().ok()))
        });
    let name = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
    });
    CurrentUser { uid, name }
}

/// Creates and removes a file in `dir`: whether the engine will be able to write there.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".write-test.tmp-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_errors_say_what_to_do() {
        use std::io::{Error, ErrorKind};
        let dir = PathBuf::from("/var/lib/sip-resync");
        let denied = AgentError::StateDirNotWritable {
            path: dir.clone(),
            source: Error::from(ErrorKind::PermissionDenied),
        }
        .to_string();
        assert!(
            denied.starts_with("cannot write in the state directory /var/lib/sip-resync: ")
                && denied.contains(" may not write there: chown ")
                && denied.contains(" /var/lib/sip-resync or chmod u+w it")
                && denied.ends_with("or choose another --state-dir or provisioning.state_dir)"),
            "{denied}"
        );
        // The user is named, as `ls -l` would show it.
        let user = current_user();
        if let (Some(name), Some(uid)) = (user.name, user.uid) {
            assert!(
                denied.contains(&format!(
                    "user {name} (uid {uid}) may not write there: chown {name} "
                )),
                "{denied}"
            );
        }
        for kind in [ErrorKind::AlreadyExists, ErrorKind::NotADirectory] {
            let file = AgentError::StateDir {
                path: dir.clone(),
                source: Error::from(kind),
            }
            .to_string();
            assert!(
                file.ends_with("(it, or a directory above it, is a file: remove or rename the file, or choose another --state-dir or provisioning.state_dir)"),
                "{file}"
            );
        }
    }

    #[test]
    fn a_state_directory_that_cannot_be_written_stops_the_start() {
        // Root writes in any directory whatever its mode; a file where a directory should be
        // stops everyone.
        let dir = tempfile::tempdir().unwrap();
        assert!(probe_writable(dir.path()).is_ok());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe is removed"
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(probe_writable(&file).is_err());
    }

    #[test]
    fn the_handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<AgentHandle>();
        send_sync::<AgentStatus>();
        send::<Agent>();
    }
}

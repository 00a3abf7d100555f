//! Runs SIPp (`sipp`, Debian package `sip-tester`) scenarios from `fixtures/sipp/` against a
//! listener on loopback and collects everything needed to explain a failure.
//!
//! Every run gets its own work directory under the system temp dir, its own free local SIP
//! port and its own free control port, so runs can go on in parallel (cargo runs tests on
//! several threads). SIPp never listens on anything but 127.0.0.1 (`-bind_local`), and a
//! run can never hang: SIPp's global `-timeout` plus a watchdog here that kills it.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// SIPp's global timeout (`-timeout`, with `-timeout_error` so reaching it is a failure).
pub const SIPP_GLOBAL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `<recv>` may wait before the call fails (`-recv_timeout`).
pub const SIPP_RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// The watchdog: SIPp is killed if it is still running this long after it started.
const WATCHDOG: Duration = Duration::from_secs(30);
/// SIPp's exit code for "fatal error binding a socket" (-2): the port was taken between
/// picking it and SIPp binding it, so the run is retried on fresh ports.
const SIPP_EXIT_BIND_ERROR: i32 = 254;
const BIND_RETRIES: usize = 5;
/// At most this much of each log is kept in a [`SippRun`] (the end of it).
const LOG_TAIL: u64 = 256 * 1024;

/// Which SIPp transport mode to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SippTransport {
    /// `-t u1`: UDP, one socket for all calls.
    Udp,
    /// `-t t1`: TCP, one connection for all calls.
    Tcp,
}

impl SippTransport {
    /// The value of SIPp's `-t` option.
    pub fn sipp_flag(self) -> &'static str {
        match self {
            SippTransport::Udp => "u1",
            SippTransport::Tcp => "t1",
        }
    }

    /// "udp" or "tcp", as in the server's signals.
    pub fn as_str(self) -> &'static str {
        match self {
            SippTransport::Udp => "udp",
            SippTransport::Tcp => "tcp",
        }
    }
}

/// A path relative to the crate root (`CARGO_MANIFEST_DIR`), e.g.
/// `fixture("fixtures/sipp/notify_ok.xml")`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The `sipp` executable: `$SIPP_BIN` if set, else the first `sipp` on `PATH`, else
/// `/usr/bin/sipp` or `/usr/sbin/sipp`. Panics (never skips) when there is none.
pub fn sipp_binary() -> PathBuf {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        if let Some(explicit) = std::env::var_os("SIPP_BIN") {
            let p = PathBuf::from(explicit);
            return is_executable(&p).then_some(p);
        }
        let on_path = std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("sipp"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        on_path
            .into_iter()
            .chain([
                PathBuf::from("/usr/bin/sipp"),
                PathBuf::from("/usr/sbin/sipp"),
            ])
            .find(|p| is_executable(p))
    });
    match found {
        Some(p) => p.clone(),
        None => panic!(
            "\n\n\
             ************************************************************************\n\
             *  SIPp (`sipp`) NOT FOUND: the SIPp integration tests cannot run.      *\n\
             *                                                                      *\n\
             *  Run `scripts/test.sh`, which installs the Debian package            *\n\
             *  `sip-tester` (it provides /usr/bin/sipp), or install it yourself:   *\n\
             *      sudo apt-get install sip-tester                                 *\n\
             *  (or point SIPP_BIN at a sipp binary). These tests are never skipped. *\n\
             ************************************************************************\n"
        ),
    }
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Everything one SIPp run left behind.
#[derive(Debug)]
pub struct SippRun {
    /// Scenario file name (under `fixtures/sipp/`).
    pub scenario: String,
    pub transport: SippTransport,
    pub target: SocketAddr,
    /// Number of calls asked for (`-m`).
    pub calls: u32,
    /// The command line, ready to paste into a shell.
    pub command: String,
    /// `None` when the watchdog had to kill SIPp.
    pub status: Option<ExitStatus>,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
    /// `-trace_err`: unexpected messages, failed checks, discarded messages. Empty when
    /// nothing went wrong (SIPp only creates the file on the first error).
    pub error_log: String,
    /// `-trace_msg`: every message sent and received.
    pub message_log: String,
    /// `-trace_screen`: the final statistics screens.
    pub screen_log: String,
    /// `-trace_stat`: the statistics CSV.
    pub stats: String,
    /// Where the logs were written. Removed after a successful run, kept otherwise.
    pub work_dir: PathBuf,
}

impl SippRun {
    /// SIPp's exit code (0: all calls succeeded, 1: at least one failed, 255: fatal error
    /// or global timeout, 254: could not bind a socket). `None` if it was killed.
    pub fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn success(&self) -> bool {
        self.exit_code() == Some(0)
    }

    /// Panics with the full report unless SIPp exited with 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        if !self.success() {
            panic!("SIPp scenario failed\n{}", self.report());
        }
        self
    }

    /// Panics unless SIPp exited with a non-zero code (for checks of the scenarios themselves).
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        if self.success() {
            panic!(
                "SIPp scenario was expected to fail but passed\n{}",
                self.report()
            );
        }
        self
    }

    /// Messages SIPp received but could not attribute to a call and therefore threw away
    /// (e.g. an answer to garbage, a response for an unknown Call-ID, or one arriving after
    /// its call ended): the matching lines of the errors log, plus the non-zero
    /// "dead call msg" / "out-of-call msg" counters of the final screen. A listener that stays
    /// silent when it should produces none.
    pub fn discarded_messages(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .error_log
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("discard") || l.contains("can't be mapped")
            })
            .map(str::to_owned)
            .collect();
        for marker in ["dead call msg (discarded)", "out-of-call msg (discarded)"] {
            let worst = self
                .screen_log
                .lines()
                .filter_map(|line| {
                    let before = line[..line.find(marker)?].trim_end();
                    let digits =
                        before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                    before[before.len() - digits..].parse::<u64>().ok()
                })
                .max()
                .unwrap_or(0);
            if worst > 0 {
                found.push(format!("final screen: {worst} {marker}"));
            }
        }
        found
    }

    /// Panics if SIPp discarded any message (see [`SippRun::discarded_messages`]).
    #[track_caller]
    pub fn assert_no_stray_messages(&self) -> &Self {
        let stray = self.discarded_messages();
        if !stray.is_empty() {
            panic!(
                "SIPp received messages it could not match to a call: {stray:#?}\n{}",
                self.report()
            );
        }
        self
    }

    /// A human-readable account of the run: command, exit status and all the logs.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario : {} over {} ({} call(s)) against {}",
            self.scenario,
            self.transport.as_str(),
            self.calls,
            self.target
        );
        let _ = writeln!(out, "command  : {}", self.command);
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => format!("killed by the watchdog after {WATCHDOG:?}"),
        };
        let _ = writeln!(out, "status   : {status} after {:?}", self.elapsed);
        let _ = writeln!(out, "work dir : {}", self.work_dir.display());
        for (name, body) in [
            ("errors log (-trace_err)", &self.error_log),
            ("message log (-trace_msg)", &self.message_log),
            ("stderr", &self.stderr),
            ("final screen (-trace_screen)", &self.screen_log),
        ] {
            let _ = writeln!(out, "----- {name} -----");
            if body.trim().is_empty() {
                let _ = writeln!(out, "(empty)");
            } else {
                let _ = writeln!(out, "{}", body.trim_end());
            }
        }
        out
    }
}

/// Runs `fixtures/sipp/<scenario>` as a UAC against `target` with `calls` calls and waits for
/// SIPp to finish (it always does: `-timeout`, `-recv_timeout` and a watchdog).
///
/// The command line is
/// `sipp <target> -sf <scenario> -m <calls> -r 1000 -t u1|t1 -i 127.0.0.1 -p <free port>
///  -bind_local -ci 127.0.0.1 -cp <free port> -nostdin -timeout 20s -timeout_error
///  -recv_timeout 5000 -default_behaviors all,-bye -trace_err -error_file <dir>/errors.log
///  -trace_msg -message_file <dir>/messages.log -trace_stat -stf <dir>/stats.csv
///  -trace_screen -screen_file <dir>/screen.log`
pub fn run_scenario(
    scenario: &str,
    target: SocketAddr,
    transport: SippTransport,
    calls: u32,
) -> SippRun {
    run_scenario_with(scenario, target, transport, calls, &[])
}

/// [`run_scenario`] with more SIPp options appended (e.g. `-au USER -ap PASS -s SERVICE`).
pub fn run_scenario_with(
    scenario: &str,
    target: SocketAddr,
    transport: SippTransport,
    calls: u32,
    extra: &[&str],
) -> SippRun {
    let scenario_path = fixture(&format!("fixtures/sipp/{scenario}"));
    assert!(
        scenario_path.is_file(),
        "no such SIPp scenario: {}",
        scenario_path.display()
    );
    assert!(
        target.ip().is_loopback(),
        "SIPp tests only talk to loopback, not {target}"
    );
    assert!(calls > 0, "at least one call");
    let sipp = sipp_binary();

    let mut attempt = 0;
    loop {
        attempt += 1;
        let (sip_port, control_port) = (reserve_port(true), reserve_port(false));
        let run = run_once(
            &sipp,
            scenario,
            &scenario_path,
            target,
            transport,
            calls,
            sip_port,
            control_port,
            extra,
        );
        release_port(sip_port);
        release_port(control_port);
        if run.exit_code() == Some(SIPP_EXIT_BIND_ERROR) && attempt < BIND_RETRIES {
            let _ = std::fs::remove_dir_all(&run.work_dir);
            continue;
        }
        return run;
    }
}

#[allow(clippy::too_many_arguments)]
fn run_once(
    sipp: &Path,
    scenario: &str,
    scenario_path: &Path,
    target: SocketAddr,
    transport: SippTransport,
    calls: u32,
    sip_port: u16,
    control_port: u16,
    extra: &[&str],
) -> SippRun {
    let work_dir = work_dir(scenario, transport);
    let local_ip = match target.ip() {
        IpAddr::V4(_) => "127.0.0.1",
        IpAddr::V6(_) => "::1",
    };
    let errors = work_dir.join("errors.log");
    let messages = work_dir.join("messages.log");
    let stats = work_dir.join("stats.csv");
    let screen = work_dir.join("screen.log");
    let mut args: Vec<String> = vec![
        target.to_string(),
        "-sf".into(),
        scenario_path.display().to_string(),
        "-m".into(),
        calls.to_string(),
        "-r".into(),
        "1000".into(),
        "-t".into(),
        transport.sipp_flag().into(),
        "-i".into(),
        local_ip.into(),
        "-p".into(),
        sip_port.to_string(),
        "-bind_local".into(),
        "-ci".into(),
        local_ip.into(),
        "-cp".into(),
        control_port.to_string(),
        "-nostdin".into(),
        "-timeout".into(),
        format!("{}s", SIPP_GLOBAL_TIMEOUT.as_secs()),
        "-timeout_error".into(),
        "-recv_timeout".into(),
        SIPP_RECV_TIMEOUT.as_millis().to_string(),
        "-default_behaviors".into(),
        "all,-bye".into(),
        "-trace_err".into(),
        "-error_file".into(),
        errors.display().to_string(),
        "-trace_msg".into(),
        "-message_file".into(),
        messages.display().to_string(),
        "-trace_stat".into(),
        "-stf".into(),
        stats.display().to_string(),
        "-trace_screen".into(),
        "-screen_file".into(),
        screen.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let command = std::iter::once(sipp.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ");

    let stdout_path = work_dir.join("stdout.txt");
    let stderr_path = work_dir.join("stderr.txt");
    let started = Instant::now();
    let mut child = Command::new(sipp)
        .args(&args)
        .current_dir(&work_dir)
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create sipp stdout file"))
        .stderr(File::create(&stderr_path).expect("create sipp stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}\ncommand: {command}", sipp.display()));
    let status = loop {
        match child.try_wait().expect("wait for sipp") {
            Some(status) => break Some(status),
            None if started.elapsed() > WATCHDOG => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let elapsed = started.elapsed();

    let run = SippRun {
        scenario: scenario.to_owned(),
        transport,
        target,
        calls,
        command,
        status,
        elapsed,
        stdout: read_tail(&stdout_path),
        stderr: read_tail(&stderr_path),
        error_log: read_tail(&errors),
        message_log: read_tail(&messages),
        screen_log: read_tail(&screen),
        stats: read_tail(&stats),
        work_dir,
    };
    if run.success() && run.error_log.is_empty() {
        let _ = std::fs::remove_dir_all(&run.work_dir);
    }
    run
}

/// A fresh, empty directory for one run's logs.
fn work_dir(scenario: &str, transport: SippTransport) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stem = scenario.trim_end_matches(".xml").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
        "_",
    );
    let dir = std::env::temp_dir().join(format!(
        "sip-resync-sipp-{}-{n}-{stem}-{}",
        std::process::id(),
        transport.as_str()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Ports handed out and not yet released, so two runs in this process never get the same one.
fn reserved() -> &'static Mutex<HashSet<u16>> {
    static RESERVED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    RESERVED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A port that is currently free on 127.0.0.1 for UDP (and for TCP too when `also_tcp`):
/// bind port 0, check, drop. Another process can still take it before SIPp binds it; SIPp
/// then exits with 254 and [`run_scenario`] retries.
fn reserve_port(also_tcp: bool) -> u16 {
    for _ in 0..100 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        let port = addr.port();
        if also_tcp && TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        drop(udp);
        if reserved().lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 after 100 attempts");
}

fn release_port(port: u16) {
    reserved().lock().unwrap().remove(&port);
}

/// The file's content (its last [`LOG_TAIL`] bytes if larger), lossily decoded; "" if absent.
fn read_tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut prefix = String::new();
    if len > LOG_TAIL {
        let _ = f.seek(SeekFrom::Start(len - LOG_TAIL));
        prefix = format!(
            "[... {} earlier bytes not shown; see {} ...]\n",
            len - LOG_TAIL,
            path.display()
        );
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    prefix + &String::from_utf8_lossy(&buf)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

//! The `sip-resync` daemon as a child process on free loopback ports, with its log lines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sip-resync");

pub struct Daemon {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub log: Vec<String>,
    /// `udp:127.0.0.1:PORT`
    pub udp: String,
    /// `tcp:127.0.0.1:PORT`
    pub tcp: String,
    /// `tls:127.0.0.1:PORT`, when started with a TLS listener.
    pub tls: Option<String>,
    state: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Starts `sip-resync run --config FILE` on free loopback ports, with a fresh state
    /// directory; `config` is relative to the repository unless absolute.
    pub fn start(config: &str) -> Daemon {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().to_str().unwrap().to_owned();
        let mut d = Daemon::start_with(config, &["--state-dir", &dir]);
        d.state = Some(state);
        d
    }

    /// Starts `sip-resync run --config FILE ARGS…` on free loopback ports.
    pub fn start_with(config: &str, args: &[&str]) -> Daemon {
        Daemon::start_listening(config, args, &["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
    }

    /// Starts `sip-resync run --config FILE ARGS…` with `--listen` for each of `listen`.
    pub fn start_listening(config: &str, args: &[&str], listen: &[&str]) -> Daemon {
        Daemon::spawn(config, args, listen, None)
    }

    /// Like [`Daemon::start_with`], with the soft and hard `RLIMIT_NOFILE` of the child set
    /// to `nofile` before it runs.
    #[allow(dead_code)]
    pub fn start_with_nofile(config: &str, args: &[&str], nofile: (u64, u64)) -> Daemon {
        let listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"];
        Daemon::spawn(config, args, &listen, Some(nofile))
    }

    fn spawn(config: &str, args: &[&str], listen: &[&str], nofile: Option<(u64, u64)>) -> Daemon {
        let config = if config.starts_with('/') {
            config.to_owned()
        } else {
            format!("{}/{config}", env!("CARGO_MANIFEST_DIR"))
        };
        let mut command = Command::new(BIN);
        if let Some((soft, hard)) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only setrlimit, which is async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    nix::sys::resource::setrlimit(
                        nix::sys::resource::Resource::RLIMIT_NOFILE,
                        soft,
                        hard,
                    )
                    .map_err(std::io::Error::from)
                });
            }
        }
        let mut child = command
            .args(["run", "--config", &config])
            .args(args)
            .args(listen.iter().flat_map(|l| ["--listen", l]))
            // The per-NOTIFY `resync requested` line is DEBUG: the tests count it.
            .env("RUST_LOG", "info,sip_resync::transport=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sip-resync run");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut found: Vec<String> = Vec::new();
        let mut log = Vec::new();
        while found.len() < listen.len() {
            let line = lines
                .recv_timeout(Duration::from_secs(10))
                .expect("daemon reports its listeners");
            log.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                found.push(rest.split(' ').next().unwrap().to_owned());
            }
        }
        let pick = |t: &str| found.iter().find(|a| a.starts_with(t)).cloned();
        Daemon {
            child,
            lines,
            log,
            udp: pick("udp:").unwrap_or_default(),
            tcp: pick("tcp:").unwrap_or_default(),
            tls: pick("tls:"),
            state: None,
        }
    }

    /// The state directory `start` made for it.
    pub fn state_dir(&self) -> Option<&std::path::Path> {
        self.state.as_ref().map(|s| s.path())
    }

    /// Reads the lines logged so far.
    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
    }

    /// Log lines so far containing `needle`, waiting up to `wait` for at least `min`.
    pub fn count(&mut self, needle: &str, min: usize, wait: Duration) -> usize {
        let end = Instant::now() + wait;
        loop {
            self.drain();
            let n = self.log.iter().filter(|l| l.contains(needle)).count();
            if n >= min || Instant::now() > end {
                return n;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The UDP address as a socket address.
    pub fn udp_addr(&self) -> std::net::SocketAddr {
        self.udp.trim_start_matches("udp:").parse().unwrap()
    }

    /// The TCP address as a socket address.
    pub fn tcp_addr(&self) -> std::net::SocketAddr {
        self.tcp.trim_start_matches("tcp:").parse().unwrap()
    }

    /// The TLS address as a socket address.
    pub fn tls_addr(&self) -> std::net::SocketAddr {
        let tls = self.tls.as_deref().expect("started with a TLS listener");
        tls.trim_start_matches("tls:").parse().unwrap()
    }

    /// Sends SIGHUP: the daemon reads its configuration file again.
    pub fn hangup(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Kills the daemon with SIGKILL and reaps it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the daemon with SIGTERM; returns its exit status and every line it logged,
    /// the summary written on the way out included.
    pub fn terminate_with_log(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            match self.lines.recv_timeout(Duration::from_millis(10)) {
                Ok(line) => self.log.push(line),
                // The reader thread ends when the daemon closes standard error.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > end => {
                    let _ = self.child.kill();
                    panic!("sip-resync did not stop within 5 s of SIGTERM");
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let status = self.child.wait().unwrap();
        (status, std::mem::take(&mut self.log))
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..500 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("sip-resync did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Daemon {
    /// A test that panics before stopping its daemon must not leave it running: kill and reap
    /// it (a no-op once `terminate` or `kill9` has).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

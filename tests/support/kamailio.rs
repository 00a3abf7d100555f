//! Kamailio 5.6 (Debian package kamailio) as a child process, stopped with all its workers
//! when dropped, also when the test panics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

/// A running Kamailio and the lines of its log.
pub struct Kamailio {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub log: Vec<String>,
}

/// The binary, from the Debian package.
pub fn binary() -> PathBuf {
    ["/usr/sbin/kamailio", "/usr/bin/kamailio"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("kamailio is not installed (Debian package kamailio; scripts/test.sh installs it)")
}

/// Debian's module directory, /usr/lib/<multiarch triplet>/kamailio/modules/.
pub fn modules() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("kamailio/modules"))
        .find(|d| d.join("tm.so").is_file())
        .expect("kamailio's modules (tm.so) under /usr/lib/*/kamailio/modules")
}

impl Kamailio {
    /// Writes `config` (with `@MPATH@` replaced by the module directory) into `dir` and runs
    /// Kamailio on it in the foreground, in a process group of its own (it forks workers).
    pub fn start(dir: &Path, config: &str) -> Kamailio {
        let text = config.replace("@MPATH@", &format!("{}/", modules().display()));
        let path = dir.join("kamailio.cfg");
        std::fs::write(&path, text).unwrap();
        let run_dir = dir.join("kamailio-run");
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut child = Command::new(binary())
            .process_group(0)
            .args(["-DD", "-E", "-f"])
            .arg(&path)
            .arg("-Y")
            .arg(&run_dir)
            .arg("-w")
            .arg(&run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kamailio");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut k = Kamailio {
            child,
            lines,
            log: Vec::new(),
        };
        k.wait_for("processes (at least)", Duration::from_secs(10));
        k
    }

    /// Reads the log until a line contains `needle` (true), or `wait` passes (false).
    pub fn wait_for(&mut self, needle: &str, wait: Duration) -> bool {
        if self.log.iter().any(|l| l.contains(needle)) {
            return true;
        }
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.log.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Everything logged so far, one line each.
    pub fn log_text(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        stop_process_group(&mut self.child);
    }
}

/// Stops the process group led by `child` (SIGTERM, then SIGKILL after 5 s) and reaps it.
pub fn stop_process_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever is left of the group, the leader included.
    signal("-KILL");
    let _ = child.wait();
}

//! The documentation's examples, run as a reader runs them, compared with what they show.
//!
//! Every fenced block of `README.md` and `docs/*.md` that holds a `$ COMMAND` line is run, one
//! command after the other, each file as one session in a scratch copy of `fixtures/` (so an
//! edit step changes no tracked file):
//!
//! * `cargo run [--release] [-q] -- ARGS` and `sip-resync ARGS` run the binary under test.
//! * A `run` command starts the agent in the background for the rest of the file (a later
//!   `run` replaces it). It listens on free ports instead of the documented ones; later
//!   commands naming a documented address (`udp:127.0.0.1:5060`) reach the agent's. The lines
//!   shown under it are log lines, compared in any order (the agent is concurrent).
//! * A `text` block made only of log lines (`INFO …`, `WARN …`), while an agent runs, shows
//!   what the agent logs after the previous command; compared in any order.
//! * Any other command's lines are compared with its standard output and error, in order.
//!   `echo $?` alone prints the previous command's exit status; `NAME="value"` alone sets a
//!   variable for the later commands of the file.
//!
//! Shown lines and printed lines must match one to one. In a shown line, `…` stands for any
//! text; a line that is only `…` stands for any number of lines. Before comparing, the log
//! timestamp is cut off, any `127.0.0.1:PORT` reads `127.0.0.1:PORT`, and a `call_id=` value
//! reads `call_id=ID`. A block preceded by `<!-- docs-test: skip: REASON -->` is not run.
//!
//! A documented address is replaced only where it stands whole (`127.0.0.1:5060` is not the
//! start of `127.0.0.1:50601`), in one pass, so a replacement is never replaced again. Every
//! process a document starts runs in its own process group, killed and reaped when the
//! document ends, however it ends. Every document is checked even after one fails; the
//! failures are reported together at the end.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sip-resync");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How long shown log lines may take to appear.
const LOG_WAIT: Duration = Duration::from_secs(15);
/// After the shown lines appeared: time for a line the document does not show to turn up.
const SETTLE: Duration = Duration::from_millis(400);
const SKIP: &str = "<!-- docs-test: skip:";

#[derive(Debug)]
enum Block {
    /// `$` commands, each with the lines shown under it.
    Console(Vec<(String, Vec<String>)>),
    /// Log lines of the running agent.
    Log(Vec<String>),
}

/// The checked blocks of a Markdown text, with their first line numbers.
fn blocks(markdown: &str) -> Vec<(usize, Block)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let indent = lines[i].len() - fence.len();
        let lang = fence.trim_start_matches('`').trim().to_owned();
        let skipped = i > 0 && {
            let prev = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            prev.is_some_and(|l| l.trim_start().starts_with(SKIP))
        };
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].trim_start().starts_with("```") {
            end += 1;
        }
        let body: Vec<String> = lines[start..end.min(lines.len())]
            .iter()
            .map(|l| l.get(indent..).unwrap_or(l.trim_start()).to_owned())
            .collect();
        i = end + 1;
        if skipped {
            continue;
        }
        if body.iter().any(|l| l.starts_with("$ ")) {
            out.push((start, Block::Console(console_steps(&body))));
        } else if lang == "text" && !body.is_empty() && body.iter().all(|l| is_log_line(l)) {
            out.push((start, Block::Log(body)));
        }
    }
    out
}

fn console_steps(body: &[String]) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for line in body {
        if continued {
            let (cmd, _) = steps.last_mut().unwrap();
            cmd.push_str(line.trim());
            continued = cmd.ends_with('\\');
            if continued {
                cmd.pop();
            }
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            let mut cmd = cmd.trim().to_owned();
            continued = cmd.ends_with('\\');
            if continued {
                cmd.pop();
            }
            steps.push((cmd, Vec::new()));
        } else if let Some((_, shown)) = steps.last_mut() {
            if !line.trim().is_empty() {
                shown.push(line.clone());
            }
        }
    }
    steps
}

fn is_log_line(line: &str) -> bool {
    let l = line.trim_start_matches("… ");
    ["INFO ", "WARN ", "ERROR ", "DEBUG "]
        .iter()
        .any(|p| l.starts_with(p))
        || line.trim() == "…"
}

/// The forms a reader types to run the binary.
const INVOCATIONS: [&str; 5] = [
    "cargo run --release -q -- ",
    "cargo run --release -- ",
    "cargo run -q -- ",
    "cargo run -- ",
    "sip-resync ",
];

/// The command with the binary under test in place of `cargo run … --`, or `None` when it
/// does not run the binary.
fn binary_command(cmd: &str) -> Option<String> {
    INVOCATIONS
        .iter()
        .find_map(|p| cmd.strip_prefix(p))
        .map(|rest| format!("{BIN} {rest}"))
}

/// A printed or shown line as compared: no timestamp, no leading `… `, ports and Call-IDs
/// replaced.
fn normalise(line: &str) -> String {
    let mut l = line.trim_end().to_owned();
    // `2026-11-25T16:13:54.347381Z  INFO …` (text log format)
    if let Some((stamp, rest)) = l.split_once("Z ") {
        if stamp.len() >= 20 && stamp.as_bytes()[4] == b'-' && stamp.contains('T') {
            l = rest.trim_start().to_owned();
        }
    }
    if let Some(rest) = l.strip_prefix("… ") {
        l = rest.to_owned();
    }
    l = replace_after(&l, "127.0.0.1:", |c| c.is_ascii_digit(), "PORT");
    replace_after(&l, "call_id=", |c| c.is_ascii_hexdigit(), "ID")
}

/// Replaces each run of `class` characters following `marker` with `with`.
fn replace_after(s: &str, marker: &str, class: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        let n = rest.find(|c| !class(c)).unwrap_or(rest.len());
        if n > 0 {
            out.push_str(with);
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// Whether `line` matches the shown `pattern`, where `…` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// In order: every printed line matches the next shown line; a shown `…` line takes any number.
fn matches_in_order(shown: &[String], printed: &[String]) -> bool {
    match shown.split_first() {
        None => printed.is_empty(),
        Some((first, rest)) if first == "…" => {
            (0..=printed.len()).any(|k| matches_in_order(rest, &printed[k..]))
        }
        Some((first, rest)) => printed
            .split_first()
            .is_some_and(|(p, more)| matches(first, p) && matches_in_order(rest, more)),
    }
}

/// In any order: each shown line takes one printed line; with a shown `…` line, printed lines
/// may be left over. Returns the shown lines not printed, and the printed lines not shown.
fn unmatched_any_order(shown: &[String], printed: &[String]) -> (Vec<String>, Vec<String>) {
    let open = shown.iter().any(|l| l == "…");
    let mut left: Vec<&String> = printed.iter().collect();
    let mut missing = Vec::new();
    for s in shown.iter().filter(|l| *l != "…") {
        match left.iter().position(|p| matches(s, p)) {
            Some(k) => {
                left.remove(k);
            }
            None => missing.push(s.clone()),
        }
    }
    let extra = if open {
        Vec::new()
    } else {
        left.into_iter().cloned().collect()
    };
    (missing, extra)
}

/// A child process leading its own process group. Dropped, it kills the whole group and
/// reaps the child: nothing a document started outlives its check, even when the check
/// panics.
struct Group {
    child: Child,
}

impl Group {
    /// Spawns `command` as the leader of a new process group.
    fn spawn(command: &mut Command) -> std::io::Result<Group> {
        command
            .process_group(0)
            .spawn()
            .map(|child| Group { child })
    }

    /// Sends `signal` to every process of the group.
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl std::ops::Deref for Group {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Group {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The leader may be gone while others of its group run on: signal the group first.
        self.signal("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent started by a `run` step, its log lines, and where it listens.
struct Agent {
    child: Group,
    lines: Arc<Mutex<Vec<String>>>,
    /// Lines before this index were compared already.
    seen: usize,
    /// Documented `transport:address` → the agent's.
    addresses: Vec<(String, String)>,
}

impl Agent {
    fn start(cmd: &str, shown: &[String], dir: &Path) -> Agent {
        // The documented addresses: --listen arguments, else the shown "listening on" lines.
        let mut words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        let mut documented = Vec::new();
        while let Some(k) = words.iter().position(|w| w == "--listen") {
            documented.push(words.remove(k + 1));
            words.remove(k);
        }
        if documented.is_empty() {
            documented = shown
                .iter()
                .filter_map(|l| l.split("listening on ").nth(1))
                .filter_map(|r| r.split(' ').next())
                .map(str::to_owned)
                .collect();
        }
        assert!(
            !documented.is_empty(),
            "`{cmd}`: no --listen and no `listening on` line shown to tell where it listens"
        );
        for attempt in 1.. {
            // One free port for every transport, as documented (UDP and TCP on 5060).
            let port = free_port();
            let mut listen = words.clone();
            for d in &documented {
                let transport = d.split(':').next().unwrap();
                listen.push("--listen".into());
                listen.push(format!("{transport}:127.0.0.1:{port}"));
            }
            if let Some(mut agent) = Agent::spawn(&listen.join(" "), dir, documented.len()) {
                for d in &documented {
                    let (transport, address) = d.split_once(':').unwrap();
                    let actual = format!("127.0.0.1:{port}");
                    agent
                        .addresses
                        .push((d.clone(), format!("{transport}:{actual}")));
                    agent.addresses.push((address.to_owned(), actual));
                }
                return agent;
            }
            assert!(attempt < 5, "`{cmd}` could not bind a free port 5 times");
        }
        unreachable!()
    }

    /// Starts the agent; `None` when it exits 4 (the port was taken meanwhile).
    fn spawn(cmd: &str, dir: &Path, listeners: usize) -> Option<Agent> {
        let mut child = Group::spawn(
            Command::new("bash")
                .arg("-c")
                .arg(format!("exec {cmd}"))
                .current_dir(dir)
                .env("RUST_LOG", "info")
                .env("PATH", path_with_binary())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        )
        .expect("start the agent");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let listening = lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("listening on "))
                .count();
            if listening == listeners {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                if status.code() == Some(4) {
                    return None;
                }
            }
            assert!(
                Instant::now() < deadline && child.try_wait().unwrap().is_none(),
                "`{cmd}` did not start listening:\n{}",
                lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Agent {
            child,
            lines,
            seen: 0,
            addresses: Vec::new(),
        })
    }

    /// Waits until the lines printed since the last check hold every shown line, then
    /// compares them in any order.
    fn expect_lines(&mut self, shown: &[String], place: &str) {
        let shown: Vec<String> = shown.iter().map(|l| normalise(l)).collect();
        let since = |seen: usize| -> Vec<String> {
            self.lines.lock().unwrap()[seen..]
                .iter()
                .map(|l| normalise(l))
                .collect()
        };
        let deadline = Instant::now() + LOG_WAIT;
        while !unmatched_any_order(&shown, &since(self.seen)).0.is_empty()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(SETTLE);
        let printed = since(self.seen);
        self.seen += printed.len();
        let (missing, extra) = unmatched_any_order(&shown, &printed);
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{place}: the agent's log differs from the document.\nshown but not printed:\n  {}\nprinted but not shown:\n  {}\nall printed:\n  {}",
            missing.join("\n  "),
            extra.join("\n  "),
            printed.join("\n  ")
        );
    }

    /// The command with documented addresses replaced by the agent's.
    fn rewrite(&self, cmd: &str) -> String {
        replace_addresses(cmd, &self.addresses)
    }

    /// Stops the agent as a reader does, with SIGTERM; the group is killed and reaped when
    /// `self` is dropped (at once when it has not stopped within 10 s).
    fn stop(mut self) {
        self.child.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `text` with each documented address of `pairs` (documented, actual) replaced by the
/// actual one, where it stands whole: not preceded by a digit or `.`, not followed by a
/// digit. One pass, trying the longest documented address first at each place, so the text
/// put in is never looked at again (port 50629 in place of 5062 stays 50629).
fn replace_addresses(text: &str, pairs: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = pairs.iter().collect();
    pairs.sort_by_key(|(doc, _)| std::cmp::Reverse(doc.len()));
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < text.len() {
        let before_ok = i == 0 || !(bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.');
        if before_ok {
            for (doc, actual) in &pairs {
                let end = i + doc.len();
                if text[i..].starts_with(doc.as_str())
                    && !bytes.get(end).is_some_and(u8::is_ascii_digit)
                {
                    out.push_str(actual);
                    i = end;
                    continue 'scan;
                }
            }
        }
        let c = text[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// A loopback port free for both UDP and TCP just now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn path_with_binary() -> String {
    let dir = Path::new(BIN)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // `sip-resync` on PATH is the binary under test.
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// `NAME="value"` (or `NAME=value`): a shell variable the reader sets for later commands.
fn assignment(cmd: &str) -> Option<(String, String)> {
    let (name, value) = cmd.split_once('=')?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| (name.to_owned(), value.trim_matches('"').to_owned()))
}

/// Runs a command to completion (bounded), stdout and stderr together, as a reader sees them.
fn run(cmd: &str, dir: &Path, vars: &[(String, String)]) -> (i32, Vec<String>) {
    let mut child = Group::spawn(
        Command::new("bash")
            .arg("-c")
            .arg(format!("{cmd} 2>&1"))
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .env("PATH", path_with_binary())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .expect("run a documented command");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            // Dropping the group kills whatever it started.
            drop(child);
            panic!("`{cmd}` did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the command left running in the background goes with it.
    drop(child);
    (status.code().unwrap_or(-1), reader.join().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs every checked block of one document; returns how many commands and log blocks it
/// checked.
fn check_document(relative: &str) -> usize {
    let path = Path::new(ROOT).join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(ROOT).join("fixtures"),
        &scratch.path().join("fixtures"),
    );
    let dir = scratch.path();
    let mut agent: Option<Agent> = None;
    let mut last_status = 0;
    let mut vars = Vec::new();
    let mut checked = 0;
    for (line, block) in blocks(&text) {
        let place = format!("{relative}:{line}");
        match block {
            Block::Log(shown) => {
                let agent = agent.as_mut().unwrap_or_else(|| {
                    panic!("{place}: log lines shown, but no agent was started above")
                });
                agent.expect_lines(&shown, &place);
                checked += 1;
            }
            Block::Console(steps) => {
                for (cmd, shown) in steps {
                    let place = format!("{place}: `{cmd}`");
                    let is_run = binary_command(&cmd)
                        .is_some_and(|c| c.split_whitespace().nth(1) == Some("run"));
                    if let Some(var) = assignment(&cmd) {
                        vars.push(var);
                        continue;
                    }
                    if is_run {
                        if let Some(old) = agent.take() {
                            old.stop();
                        }
                        let command = binary_command(&cmd).unwrap();
                        let mut started = Agent::start(&command, &shown, dir);
                        started.expect_lines(&shown, &place);
                        agent = Some(started);
                    } else {
                        let command = if cmd == "echo $?" {
                            format!("echo {last_status}")
                        } else {
                            let c = binary_command(&cmd).unwrap_or(cmd.clone());
                            match &agent {
                                Some(a) => a.rewrite(&c),
                                None => c,
                            }
                        };
                        let (status, printed) = run(&command, dir, &vars);
                        last_status = status;
                        let printed: Vec<String> = printed.iter().map(|l| normalise(l)).collect();
                        let shown: Vec<String> = shown
                            .iter()
                            .map(|l| {
                                if l.trim() == "…" {
                                    "…".to_owned()
                                } else {
                                    normalise(l)
                                }
                            })
                            .collect();
                        assert!(
                            matches_in_order(&shown, &printed),
                            "{place}: the output differs from the document (exit {status}).\nshown:\n  {}\nprinted:\n  {}",
                            shown.join("\n  "),
                            printed.join("\n  ")
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    if let Some(a) = agent {
        a.stop();
    }
    checked
}

fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_owned()];
    let mut more: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(
        more.iter()
            .map(|p| format!("docs/{}", p.file_name().unwrap().to_str().unwrap())),
    );
    docs
}

#[test]
fn every_documented_command_prints_what_its_document_shows() {
    let mut total = 0;
    let mut failures = Vec::new();
    for doc in documents() {
        // A failing document stops only itself: its agent is stopped and its scratch folder
        // removed as the panic unwinds, and the next document is checked.
        match std::panic::catch_unwind(|| check_document(&doc)) {
            Ok(checked) => total += checked,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(a panic without a message)".to_owned());
                failures.push(format!("{doc}: {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} documents differ from what they show:\n\n{}",
        failures.len(),
        documents().len(),
        failures.join("\n\n")
    );
    // The README walkthrough alone runs more than ten commands and log blocks.
    assert!(total > 20, "only {total} examples were checked");
}

#[test]
fn documented_addresses_are_replaced_whole_and_once() {
    // Two transports on one documented port give the bare address twice; port 50629 starts
    // with the documented 5062.
    let pairs: Vec<(String, String)> = [
        ("udp:127.0.0.1:5062", "udp:127.0.0.1:50629"),
        ("127.0.0.1:5062", "127.0.0.1:50629"),
        ("tcp:127.0.0.1:5062", "tcp:127.0.0.1:50629"),
        ("127.0.0.1:5062", "127.0.0.1:50629"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        replace_addresses(
            "notify udp:127.0.0.1:5062 tcp:127.0.0.1:5062 sip:1001@127.0.0.1:5062;x 127.0.0.1:5062",
            &pairs
        ),
        "notify udp:127.0.0.1:50629 tcp:127.0.0.1:50629 sip:1001@127.0.0.1:50629;x 127.0.0.1:50629"
    );
    // Only whole addresses: other ports and longer addresses stay as written.
    for other in [
        "127.0.0.1:50620",
        "127.0.0.1:5062999",
        "10.127.0.0.1:5062",
        "1127.0.0.1:5062",
    ] {
        assert_eq!(replace_addresses(other, &pairs), other);
    }
    // An agent on 5062 with the documented 5060 next to it: each replaced by its own.
    let pairs: Vec<(String, String)> = [
        ("127.0.0.1:5060", "127.0.0.1:5062"),
        ("127.0.0.1:5062", "127.0.0.1:40000"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        replace_addresses("127.0.0.1:5060 127.0.0.1:5062", &pairs),
        "127.0.0.1:5062 127.0.0.1:40000"
    );
}

#[test]
fn a_process_group_is_killed_with_its_guard() {
    // A command that leaves a child behind (`sleep &`): dropping the guard ends both.
    let mut group = Group::spawn(
        Command::new("bash")
            .arg("-c")
            .arg("sleep 600 & echo $!; wait")
            .stdout(Stdio::piped()),
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(group.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sleeper = line.trim().to_owned();
    let alive = |pid: &str| {
        Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(alive(&sleeper));
    drop(group);
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(&sleeper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(&sleeper),
        "the background child {sleeper} was killed"
    );
}

#[test]
fn the_matcher_is_strict_where_it_should_be() {
    let n = |l: &str| normalise(l);
    assert_eq!(
        n("2026-11-25T16:13:55.359104Z  INFO sip_resync::transport: resync requested source=127.0.0.1:46578 call_id=8b7adc4b2a589eaf"),
        "INFO sip_resync::transport: resync requested source=127.0.0.1:PORT call_id=ID"
    );
    assert!(matches("a … c", "a b b c"));
    assert!(!matches("a … c", "a b b d"));
    assert!(!matches("run 2 (startup)", "run 2 (startup): unchanged"));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(matches_in_order(
        &s(&["x", "…", "z"]),
        &s(&["x", "1", "2", "z"])
    ));
    assert!(!matches_in_order(&s(&["x", "z"]), &s(&["x", "1", "z"])));
    assert!(!matches_in_order(&s(&["x"]), &s(&["x", "extra"])));
    let (missing, extra) = unmatched_any_order(&s(&["b", "a"]), &s(&["a", "b", "c"]));
    assert!(missing.is_empty());
    assert_eq!(
        extra,
        ["c"],
        "a printed line the document omits is reported"
    );
    let (missing, extra) = unmatched_any_order(&s(&["b", "…"]), &s(&["a", "b"]));
    assert!(missing.is_empty() && extra.is_empty());
    let steps = console_steps(&s(&["$ a \\", "  b", "out", "$ echo $?", "0"]));
    assert_eq!(steps[0], ("a b".to_owned(), s(&["out"])));
    assert_eq!(steps[1], ("echo $?".to_owned(), s(&["0"])));
}

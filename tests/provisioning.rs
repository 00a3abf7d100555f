//! The daemon end to end, on the default settings: SIPp sends check-sync, the daemon fetches
//! from a real HTTP server on loopback; a check-sync in a quiet spell is fetched at once, an
//! administrator's pace is followed, a flood stays cheap, a trigger during a run gives one
//! follow-up; SIGKILL in the middle of runs and applies.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use support::daemon::Daemon;
use support::http::{Fault, HttpServer};
use support::sipp::{run_scenario, SippTransport};

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

/// `agent.toml` in `dir` for the files `names` of `server`, then `extra` lines.
fn write_config(dir: &Path, server: &HttpServer, names: &[&str], extra: &str) -> String {
    let urls: Vec<String> = names.iter().map(|n| server.url(n)).collect();
    support::write_agent_config(dir, &urls, extra)
}

/// The tests of this file take turns: each runs a daemon and an HTTP server, and the ones
/// that time a fetch must not share the machine with a neighbour's SIGKILL loop or flood.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A server with Panasonic's three files.
fn three_files() -> (HttpServer, [&'static str; 3]) {
    let server = HttpServer::start();
    let names = ["master.cfg", "product.cfg", "standard.cfg"];
    for n in names {
        server.put(n, format!("{MAGIC}X=\"{n}\"\r\n"));
    }
    (server, names)
}

/// Lines that report the end of a run.
const OUTCOME: &str = "sip_resync::engine: run ";

#[test]
fn sipp_check_sync_fetches_each_configured_file_exactly_once() {
    let _turn = one_at_a_time();
    let (server, names) = three_files();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, &names, "fetch_at_startup = false\n");
    let mut daemon = Daemon::start(&config);
    for (i, transport) in [SippTransport::Udp, SippTransport::Tcp]
        .into_iter()
        .enumerate()
    {
        let target = match transport {
            SippTransport::Udp => daemon.udp_addr(),
            SippTransport::Tcp => daemon.tcp_addr(),
        };
        run_scenario("notify_ok.xml", target, transport, 1).assert_success();
        assert_eq!(
            daemon.count(OUTCOME, i + 1, Duration::from_secs(10)),
            i + 1,
            "one run per check-sync ({transport:?})"
        );
        for n in names {
            assert_eq!(
                server.get_count(n),
                i + 1,
                "exactly one GET of {n} per check-sync ({transport:?})"
            );
        }
    }
    assert_eq!(server.total_gets(), 6);
    assert!(daemon
        .log
        .iter()
        .any(|l| l.contains("run 1 (notify check-sync from udp:") && l.contains("updated")));
    assert!(daemon
        .log
        .iter()
        .any(|l| l.contains("run 2 (notify check-sync from tcp:") && l.contains("unchanged")));
    assert!(daemon.terminate().success());
}

/// The `i`-th check-sync NOTIFY of a test.
fn notify(i: usize) -> Vec<u8> {
    support::notify_datagram(&format!("burst-{i}"), "check-sync")
}

/// A PBX on a UDP socket: sends NOTIFYs and reads their answers.
struct Pbx {
    socket: UdpSocket,
    target: std::net::SocketAddr,
    sent: usize,
}

impl Pbx {
    fn new(target: std::net::SocketAddr) -> Pbx {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(2000)))
            .unwrap();
        Pbx {
            socket,
            target,
            sent: 0,
        }
    }

    /// Sends one NOTIFY and waits for its 200 OK; returns when it was sent.
    fn notify(&mut self) -> Instant {
        let at = Instant::now();
        self.socket
            .send_to(&notify(self.sent), self.target)
            .unwrap();
        self.sent += 1;
        let mut buf = [0u8; 2048];
        let n = self.socket.recv(&mut buf).expect("an answer within 2 s");
        assert!(
            buf[..n].starts_with(b"SIP/2.0 200 "),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        at
    }
}

/// A one-file configuration on the defaults, plus `extra` lines of `[provisioning]` and
/// tables after it.
fn one_file(dir: &Path, server: &HttpServer, extra: &str) -> String {
    server.put("a.cfg", format!("{MAGIC}V=\"0\"\r\n"));
    write_config(dir, server, &["a.cfg"], extra)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The defaults' promise for a quiet spell: a check-sync starts its fetch at once.
const AT_ONCE: Duration = Duration::from_millis(50);

#[test]
fn a_check_sync_in_a_quiet_spell_is_fetched_at_once_after_start_up_and_after_a_timed_poll() {
    let _turn = one_at_a_time();
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The defaults, with a timed poll every 4 s to have one to follow.
    let config = one_file(
        dir.path(),
        &server,
        "\n[schedule.snom]\nprov_polling_enabled = true\nprov_polling_mode = \"rel\"\nprov_polling_period = 4\n",
    );
    let mut daemon = Daemon::start(&config);
    let mut pbx = Pbx::new(daemon.udp_addr());
    assert_eq!(
        daemon.count("run 1 (startup)", 1, Duration::from_secs(10)),
        1
    );
    assert_eq!(server.total_gets(), 1);

    let sent = pbx.notify();
    let seen = server.wait_for_gets(2, Duration::from_secs(5));
    let after_start_up = seen[1].at.saturating_duration_since(sent);
    println!(
        "after the start-up run: NOTIFY -> first HTTP byte {:.2} ms",
        ms(after_start_up)
    );
    assert!(after_start_up <= AT_ONCE, "{after_start_up:?}");

    assert_eq!(
        daemon.count("run 3 (schedule (", 1, Duration::from_secs(10)),
        1
    );
    let sent = pbx.notify();
    let seen = server.wait_for_gets(4, Duration::from_secs(5));
    let after_poll = seen[3].at.saturating_duration_since(sent);
    println!(
        "after a timed poll: NOTIFY -> first HTTP byte {:.2} ms",
        ms(after_poll)
    );
    assert!(after_poll <= AT_ONCE, "{after_poll:?}");
    assert!(daemon.terminate().success());
}

#[test]
fn an_administrators_three_check_syncs_3_s_apart_are_each_applied_within_1_s() {
    let _turn = one_at_a_time();
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = one_file(dir.path(), &server, "");
    let mut daemon = Daemon::start(&config);
    let mut pbx = Pbx::new(daemon.udp_addr());
    assert_eq!(
        daemon.count("run 1 (startup)", 1, Duration::from_secs(10)),
        1
    );
    let applied = daemon.state_dir().unwrap().join("current/a.cfg");
    let mut next = Instant::now();
    for i in 1..=3 {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let body = format!("{MAGIC}V=\"{i}\"\r\n");
        server.put("a.cfg", body.clone());
        let sent = pbx.notify();
        next = sent + Duration::from_secs(3);
        let deadline = sent + Duration::from_secs(1);
        while std::fs::read(&applied).ok().as_deref() != Some(body.as_bytes()) {
            assert!(
                Instant::now() < deadline,
                "change {i} not applied within 1 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        println!(
            "change {i}: applied {:.1} ms after its NOTIFY",
            ms(sent.elapsed())
        );
    }
    assert_eq!(server.total_gets(), 4, "start-up and one fetch per NOTIFY");
    assert!(daemon.terminate().success());
}

#[test]
fn a_ten_second_flood_gives_at_most_four_fetches_the_first_at_once_and_the_last_after_it() {
    let _turn = one_at_a_time();
    const FLOOD: Duration = Duration::from_secs(10);
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The defaults, with the listener's limits off: the engine's admission alone is measured,
    // at the highest rate the daemon answers.
    let config = one_file(
        dir.path(),
        &server,
        "\n[sip.limits]\nrequests_per_second_per_source = 0\nrequests_per_second = 0\ntriggers_per_minute_per_source = 0\ntriggers_per_minute = 0\n",
    );
    let mut daemon = Daemon::start(&config);
    assert_eq!(
        daemon.count("run 1 (startup)", 1, Duration::from_secs(10)),
        1
    );
    server.clear_log();
    let applied = daemon.state_dir().unwrap().join("current/a.cfg");
    let last_change = format!("{MAGIC}V=\"last\"\r\n");

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let target = daemon.udp_addr();
    // Up to 32 NOTIFYs outstanding, as a load generator's window, so that the kernel's
    // socket buffers do not overflow.
    let mut buf = [0u8; 2048];
    let (mut sent, mut answered, mut outstanding) = (0usize, 0usize, 0usize);
    let first = Instant::now();
    let mut last_sent = first;
    let mut changed = false;
    while first.elapsed() < FLOOD || outstanding > 0 {
        if first.elapsed() < FLOOD && outstanding < 32 {
            if !changed && first.elapsed() >= FLOOD - Duration::from_millis(500) {
                server.put("a.cfg", last_change.clone());
                changed = true;
            }
            socket.send_to(&notify(sent), target).unwrap();
            last_sent = Instant::now();
            sent += 1;
            outstanding += 1;
            continue;
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    answered += 1;
                }
                outstanding -= 1;
            }
            Err(_) => outstanding = 0,
        }
    }
    // The follow-up that answers the flood's end waits for the budget's next run (20 s
    // after its first); then nothing more may come.
    server.wait_for_gets(4, Duration::from_secs(30));
    daemon.count(OUTCOME, 5, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(1));
    let seen: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|s| s.method == "GET")
        .collect();
    assert!(seen.len() >= 2, "{seen:?}");
    let first_fetch = seen[0].at.saturating_duration_since(first);
    let last_fetch = seen.last().unwrap().at;
    println!(
        "flood of {sent} NOTIFYs in {:.1} s ({answered} answered 200): {} fetches; first NOTIFY -> first fetch {:.2} ms; last NOTIFY -> last fetch {:.1} s",
        FLOOD.as_secs_f64(),
        seen.len(),
        ms(first_fetch),
        last_fetch.saturating_duration_since(last_sent).as_secs_f64()
    );
    assert_eq!(answered, sent, "every NOTIFY is answered");
    assert!(seen.len() <= 4, "{} fetches", seen.len());
    assert!(first_fetch <= AT_ONCE, "{first_fetch:?}");
    assert!(
        last_fetch > last_sent,
        "the last fetch starts after the last NOTIFY"
    );
    assert_eq!(
        std::fs::read(&applied).unwrap(),
        last_change.as_bytes(),
        "the last change is applied"
    );
    assert!(daemon.terminate().success());
}

#[test]
fn a_trigger_during_a_run_gives_exactly_one_follow_up() {
    let _turn = one_at_a_time();
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = one_file(dir.path(), &server, "");
    // The server holds its answers: the run stays in flight until the test lets it go.
    server.hold("a.cfg");
    let mut daemon = Daemon::start(&config);
    let mut pbx = Pbx::new(daemon.udp_addr());
    let settle = Duration::from_millis(1500);

    // Five NOTIFYs during the start-up run: one follow-up.
    server.wait_for_gets(1, Duration::from_secs(10));
    for _ in 0..5 {
        pbx.notify();
    }
    assert_eq!(
        daemon.count(OUTCOME, 1, Duration::ZERO),
        0,
        "the run is in flight"
    );
    server.release("a.cfg");
    assert_eq!(daemon.count(OUTCOME, 2, Duration::from_secs(10)), 2);
    std::thread::sleep(settle);
    assert_eq!(
        (
            daemon.count(OUTCOME, 3, Duration::ZERO),
            server.total_gets()
        ),
        (2, 2)
    );
    assert!(daemon
        .log
        .iter()
        .any(|l| l.contains("run 2 (notify") && l.contains("coalesced=5")));

    // A single NOTIFY during a NOTIFY's run: one follow-up too, never none.
    server.hold("a.cfg");
    pbx.notify();
    server.wait_for_gets(3, Duration::from_secs(10));
    pbx.notify();
    server.release("a.cfg");
    assert_eq!(daemon.count(OUTCOME, 4, Duration::from_secs(10)), 4);
    std::thread::sleep(settle);
    assert_eq!(
        (
            daemon.count(OUTCOME, 5, Duration::ZERO),
            server.total_gets()
        ),
        (4, 4)
    );
    assert!(daemon.terminate().success());
}

fn version(tag: &str, i: usize) -> Vec<u8> {
    // About 64 KiB per file, so that writing and fsyncing the set takes a while.
    let mut text = format!("{MAGIC}VERSION=\"{tag}\"\r\nFILE=\"{i}\"\r\n");
    for line in 0..1600 {
        text.push_str(&format!("PAD_{line:03}=\"{tag}{}\"\r\n", "x".repeat(20)));
    }
    text.into_bytes()
}

/// What a killed daemon left: the version of the complete current set, or a panic if the
/// set is mixed or partial; and whether an unfinished new set was lying next to it.
/// The highest set number on disk (sets are numbered upwards).
fn newest_set(state: &Path) -> u64 {
    std::fs::read_dir(state.join(support::state::SETS))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

fn inspect(state: &Path, names: &[String]) -> (Option<String>, bool) {
    let current = support::state::current_set(state);
    let mismatched = current.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
    assert!(
        mismatched.is_empty(),
        "files differ from the manifest: {mismatched:?}"
    );
    let partial = std::fs::read_dir(state.join(support::state::SETS))
        .map(|d| d.count() > 1)
        .unwrap_or(false);
    let Some(current) = current else {
        return (None, partial);
    };
    let (contents, _) = current;
    let listed: Vec<&String> = contents.keys().collect();
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    assert_eq!(listed, sorted, "the set has every file");
    let mut tags = std::collections::BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let bytes = &contents[name];
        let tag = if *bytes == version("A", i) {
            "A"
        } else if *bytes == version("B", i) {
            "B"
        } else {
            panic!("{name} is neither version A nor B: a partial file")
        };
        tags.insert(tag);
    }
    assert_eq!(tags.len(), 1, "a mixed set: {tags:?}");
    (tags.into_iter().next().map(str::to_owned), partial)
}

#[test]
fn sigkill_in_the_middle_of_runs_leaves_the_old_or_the_new_set_never_a_mix() {
    let _turn = one_at_a_time();
    const FILES: usize = 16;
    const KILLS: usize = 16;
    let server = HttpServer::start();
    let names: Vec<String> = (0..FILES).map(|i| format!("f{i:02}.cfg")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let put_all = |tag: &str| {
        for (i, n) in names.iter().enumerate() {
            server.put(n, version(tag, i));
        }
    };
    put_all("A");
    // The last file trickles in: the window between the first and the last file is wide.
    server.set_fault(
        &names[FILES - 1],
        Fault::SlowBody {
            chunk: 16 * 1024,
            pause: Duration::from_millis(20),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap().to_owned();
    let config = write_config(dir.path(), &server, &refs, "fetch_at_startup = true\n");

    // A complete run first: version A applied; it also measures how long a run takes.
    let mut d = Daemon::start_with(&config, &["--state-dir", &state_arg]);
    let t0 = Instant::now();
    assert_eq!(d.count(OUTCOME, 1, Duration::from_secs(20)), 1);
    let run_time = t0.elapsed();
    d.kill9();
    assert_eq!(inspect(&state, &names).0.as_deref(), Some("A"));

    let mut seen = std::collections::BTreeMap::new();
    let mut mid_apply = 0;
    let mut tag = inspect(&state, &names).0.unwrap();
    for k in 0..KILLS {
        // The server now has the other version; the daemon starts and fetches at start-up.
        tag = if tag == "A" { "B".into() } else { "A".into() };
        put_all(&tag);
        let before = inspect(&state, &names).0;
        let newest_before = newest_set(&state);
        let mut d = Daemon::start_with(&config, &["--state-dir", &state_arg]);
        if k % 2 == 0 {
            // At a point spread over the whole run.
            std::thread::sleep(run_time.mul_f64((k as f64 + 0.5) / KILLS as f64));
        } else {
            // In the apply: as soon as the new set's directory exists, then 0, 1, 2… ms
            // later, into the writing of the files, the manifest and the switch.
            let end = Instant::now() + Duration::from_secs(10);
            while newest_set(&state) <= newest_before && Instant::now() < end {
                std::hint::spin_loop();
            }
            std::thread::sleep(Duration::from_millis(k as u64 / 2));
        }
        // A run that finished by applying the new set (a failed run says outcome="failed").
        let finished = d.count("outcome=\"updated\"", 1, Duration::ZERO) >= 1;
        d.kill9();
        let (after, partial) = inspect(&state, &names);
        if partial {
            mid_apply += 1;
        }
        let after = after.expect("a set is always there");
        assert!(
            Some(&after) == before.as_ref() || after == tag,
            "after a kill the set is the old {before:?} or the new {tag}, not {after}"
        );
        if finished {
            assert_eq!(after, tag, "a finished run applied the new set");
        }
        *seen
            .entry(if Some(&after) == before.as_ref() {
                "old"
            } else {
                "new"
            })
            .or_insert(0) += 1;
        // The next iteration starts from what is on disk now.
        tag = after;
    }
    println!(
        "run time {run_time:?}; {KILLS} SIGKILLs: {seen:?}; {mid_apply} killed while writing a new set (an unfinished set left next to the current one)"
    );
    assert_eq!(seen.values().sum::<usize>(), KILLS);
    assert!(
        mid_apply > 0,
        "no kill landed while a set was being written"
    );

    // A clean restart removes what the kills left and applies the server's set.
    put_all("B");
    server.set_fault(&names[FILES - 1], Fault::None);
    let mut d = Daemon::start_with(&config, &["--state-dir", &state_arg]);
    assert_eq!(d.count(OUTCOME, 1, Duration::from_secs(20)), 1);
    assert!(d.terminate().success());
    assert_eq!(inspect(&state, &names), (Some("B".into()), false));
}

/// Run with an open-file limit of 64 (soft and hard, so it cannot be raised): the start-up
/// says that `max_connections` does not fit; with 60 TCP connections held open, a check-sync
/// still fetches and applies, as connections never take the descriptors kept for
/// provisioning, and the connections closed for that are logged once, not once each. With a
/// hard limit above the soft one, the soft limit is raised at start.
#[test]
fn with_64_descriptors_and_60_connections_held_a_check_sync_still_fetches() {
    let _turn = one_at_a_time();
    let server = HttpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = one_file(dir.path(), &server, "");
    let state = tempfile::tempdir().unwrap();
    let state_arg = ["--state-dir", state.path().to_str().unwrap()];
    let mut daemon = Daemon::start_with_nofile(&config, &state_arg, (64, 64));
    assert!(
        daemon.count("run 1 (startup): updated", 1, Duration::from_secs(20)) == 1,
        "{}",
        daemon.log.join("\n")
    );
    let warning = daemon
        .log
        .iter()
        .find(|l| l.contains("the open-file limit (RLIMIT_NOFILE) is 64"))
        .unwrap_or_else(|| panic!("no descriptor warning:\n{}", daemon.log.join("\n")));
    assert!(
        warning.contains("max_connections 256") && warning.contains("WARN"),
        "{warning}"
    );

    let held: Vec<std::net::TcpStream> = (0..60)
        .map(|_| std::net::TcpStream::connect(daemon.tcp_addr()).unwrap())
        .collect();
    // The agent accepts them all, and closes at once those that would take the reserve.
    std::thread::sleep(Duration::from_millis(500));
    let open = held
        .iter()
        .filter(|s| {
            // A kept connection has nothing to read yet; a closed one reads EOF or a reset.
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut b = [0u8; 1];
            std::io::Read::read(&mut &**s, &mut b).is_err_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            })
        })
        .count();
    eprintln!("{open} of 60 connections kept open by the agent");

    server.put("a.cfg", format!("{MAGIC}V=\"1\"\r\n"));
    Pbx::new(daemon.udp_addr()).notify();
    let done = daemon.count(OUTCOME, 2, Duration::from_secs(20));
    let outcome = daemon.log.iter().filter(|l| l.contains(OUTCOME)).nth(1);
    assert!(
        done >= 2 && outcome.is_some_and(|l| l.contains("updated")),
        "{}",
        daemon.log.join("\n")
    );
    assert_eq!(
        std::fs::read_to_string(state.path().join("current/a.cfg")).unwrap(),
        format!("{MAGIC}V=\"1\"\r\n")
    );
    assert!((1..60).contains(&open), "{open} of 60 kept");
    let closed_lines = daemon
        .log
        .iter()
        .filter(|l| l.contains("closed a TCP connection at once"))
        .count();
    assert_eq!(closed_lines, 1, "{}", daemon.log.join("\n"));
    drop(held);
    assert!(daemon.terminate().success());

    let mut daemon = Daemon::start_with_nofile(&config, &state_arg, (64, 1024));
    daemon.count(OUTCOME, 1, Duration::from_secs(20));
    assert!(
        daemon.log.iter().any(|l| l
            .contains("raised the open-file limit (RLIMIT_NOFILE) from 64 to its hard limit 1024")),
        "{}",
        daemon.log.join("\n")
    );
    assert!(
        !daemon.log.iter().any(|l| l.contains("does not fit")),
        "{}",
        daemon.log.join("\n")
    );
    assert!(daemon.terminate().success());
}

//! The daemon end to end: SIPp sends check-sync, the daemon fetches from a real HTTP server
//! on loopback; a burst of NOTIFYs; SIGKILL in the middle of runs and applies.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use sip_resync::engine::set;
use support::daemon::Daemon;
use support::http::{Fault, HttpServer};
use support::sipp::{run_scenario, SippTransport};

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

fn write_config(dir: &Path, server: &HttpServer, names: &[&str], extra: &str) -> String {
    let files: Vec<String> = names
        .iter()
        .map(|n| format!("{{ url = \"{}\" }}", server.url(n)))
        .collect();
    let text = format!(
        "[sip]\nlisten = []\n[provisioning]\nfiles = [{}]\n{extra}",
        files.join(", ")
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
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

fn notify_datagram(i: usize) -> Vec<u8> {
    format!(
        "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-burst-{i}\r\n\
         From: <sip:pbx@127.0.0.1>;tag=burst{i}\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: burst-{i}@127.0.0.1\r\n\
         CSeq: 1 NOTIFY\r\n\
         Event: check-sync\r\n\
         Subscription-State: terminated\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_burst_of_1000_notifies_gives_at_most_two_runs() {
    const N: usize = 1000;
    let (server, names) = three_files();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &server,
        &names,
        // The engine's coalescing alone is measured here: the listener's rate limits, which
        // would drop most of this burst before it is read, are turned off.
        "fetch_at_startup = false\nmin_interval_secs = 2\n\n[sip.limits]\nrequests_per_second_per_source = 0\nrequests_per_second = 0\ntriggers_per_minute_per_source = 0\ntriggers_per_minute = 0\n",
    );
    let mut daemon = Daemon::start(&config);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let target = daemon.udp_addr();
    // As fast as the daemon answers, with up to 32 NOTIFYs outstanding (as a load
    // generator's window), so the kernel's socket buffers do not overflow.
    let started = Instant::now();
    let (mut answered, mut lost) = (0usize, 0usize);
    let mut buf = [0u8; 2048];
    let mut outstanding = 0usize;
    for i in 0..N {
        socket.send_to(&notify_datagram(i), target).unwrap();
        outstanding += 1;
        while outstanding >= 32 || (i == N - 1 && outstanding > 0) {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    if buf[..n].starts_with(b"SIP/2.0 200") {
                        answered += 1;
                    }
                    outstanding -= 1;
                }
                Err(_) => {
                    lost += outstanding;
                    outstanding = 0;
                }
            }
        }
    }
    let sent_in = started.elapsed();
    // The follow-up run starts 2 s after the first; allow both to finish, and a third to
    // show itself if it were (wrongly) coming.
    daemon.count(OUTCOME, 3, Duration::from_secs(5));
    let runs = daemon.count(OUTCOME, 3, Duration::ZERO);
    let gets = server.total_gets();
    println!(
        "burst of {N} NOTIFYs in {sent_in:?}: {answered} answered 200 OK, {lost} unanswered, {runs} runs, {gets} GETs for {} files",
        names.len()
    );
    assert_eq!(answered, N, "every NOTIFY is answered");
    assert!((1..=2).contains(&runs), "{runs} runs");
    assert!(gets <= 2 * names.len(), "{gets} GETs");
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
    std::fs::read_dir(state.join(set::SETS))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

fn inspect(state: &Path, names: &[String]) -> (Option<String>, bool) {
    let (current, mismatched) = set::load_current(state, 1 << 20).expect("state is readable");
    assert!(
        mismatched.is_empty(),
        "files differ from the manifest: {mismatched:?}"
    );
    let partial = std::fs::read_dir(state.join(set::SETS))
        .map(|d| d.count() > 1)
        .unwrap_or(false);
    let Some(current) = current else {
        return (None, partial);
    };
    let listed: Vec<&String> = current.manifest.files.keys().collect();
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    assert_eq!(listed, sorted, "the set has every file");
    let mut tags = std::collections::BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let bytes = &current.contents[name];
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
        let finished = d.count(OUTCOME, 1, Duration::ZERO) == 1;
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

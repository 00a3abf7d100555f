//! Time to fetch: from a check-sync NOTIFY leaving the PBX's socket to the first byte of the
//! HTTP request it causes, against the real daemon on loopback; and a 10 s NOTIFY flood's
//! fetches. `scripts/fetch_latency.sh` builds and runs it.
//!
//! ```text
//! cargo build --release --bin sip-resync --example fetch_latency
//! target/release/examples/fetch_latency target/release/sip-resync --notifies 20 --flood-secs 10
//! ```
//!
//! Both clocks are this process's: it is the PBX (a UDP socket) and the provisioning server
//! (the HTTP server of the test suite, which notes when each request's first byte arrived).
//!
//! * Latency: one daemon on the defaults but `run_budget = N` and the listener's trigger
//!   limits off (10 a minute per source by default), so that each of the N NOTIFYs is
//!   admitted at once; each is sent in a quiet spell (the previous run finished).
//!   Reported: p50, p99 and max over the N, and the daemon's CPU time per NOTIFY and run.
//! * Flood: a second daemon on the defaults with the listener's limits off, fed NOTIFYs with
//!   64 outstanding (as fast as it answers) for the given seconds. Reported: NOTIFYs sent
//!   and answered, the fetches the server saw, first NOTIFY → first fetch and last NOTIFY →
//!   last fetch.

#[path = "../tests/support/http.rs"]
#[allow(dead_code)]
mod http;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use http::HttpServer;

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

#[derive(Parser, Debug)]
#[command(
    name = "fetch_latency",
    about = "Measures check-sync NOTIFY -> first HTTP request byte against the sip-resync daemon"
)]
struct Args {
    /// The daemon binary (a release build).
    daemon: String,
    /// NOTIFYs measured one by one.
    #[arg(long, default_value_t = 20)]
    notifies: u32,
    /// Seconds of flood (0: none).
    #[arg(long, default_value_t = 10)]
    flood_secs: u64,
}

/// A daemon child process on a free loopback UDP port.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    _lines: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(bin: &str, server: &HttpServer, extra: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[provisioning]\nstate_dir = \"{}\"\nfiles = [{{ url = \"{}\" }}]\n{extra}",
                dir.path().join("state").display(),
                server.url("a.cfg")
            ),
        )
        .expect("write the configuration");
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn,sip_resync=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let addr = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(10))
                .expect("the daemon reports its listener");
            if let Some(rest) = line.split("listening on udp:").nth(1) {
                break rest.split(' ').next().unwrap().parse().expect("an address");
            }
        };
        Daemon {
            child,
            addr,
            _lines: lines,
            _dir: dir,
        }
    }

    /// User plus system CPU time so far (from /proc).
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields
            .get(11..13)
            .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        // CLK_TCK is 100 on every Linux this runs on.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notify(seq: usize) -> Vec<u8> {
    format!(
        "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-ftl-{seq}\r\n\
         From: <sip:pbx@127.0.0.1>;tag=ftl{seq}\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: ftl-{seq}@127.0.0.1\r\n\
         CSeq: 1 NOTIFY\r\n\
         Event: check-sync\r\n\
         Subscription-State: terminated\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn gets(server: &HttpServer) -> Vec<http::Seen> {
    server
        .requests()
        .into_iter()
        .filter(|s| s.method == "GET")
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn latency(args: &Args) {
    let server = HttpServer::start();
    server.put("a.cfg", format!("{MAGIC}V=\"0\"\r\n"));
    let daemon = Daemon::start(
        &args.daemon,
        &server,
        &format!(
            "run_budget = {}\n[sip.limits]\ntriggers_per_minute_per_source = 0\ntriggers_per_minute = 0\n",
            args.notifies.max(1)
        ),
    );
    assert!(
        !server.wait_for_gets(1, Duration::from_secs(10)).is_empty(),
        "the start-up run fetches"
    );
    std::thread::sleep(Duration::from_millis(200));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let cpu_before = daemon.cpu();
    let mut samples = Vec::new();
    let mut buf = [0u8; 2048];
    for i in 0..args.notifies as usize {
        let before = gets(&server).len();
        let sent = Instant::now();
        socket.send_to(&notify(i), daemon.addr).unwrap();
        let n = socket.recv(&mut buf).expect("an answer");
        assert!(buf[..n].starts_with(b"SIP/2.0 200 "), "answered 200");
        let seen = server.wait_for_gets(before + 1, Duration::from_secs(5));
        let fetch = seen
            .iter()
            .filter(|s| s.method == "GET")
            .nth(before)
            .expect("a fetch for the NOTIFY");
        assert!(fetch.at >= sent, "the fetch follows the NOTIFY");
        samples.push(fetch.at - sent);
        // A quiet spell: the run ends well within this.
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu = daemon.cpu().saturating_sub(cpu_before);
    samples.sort();
    println!(
        "time to fetch (NOTIFY sent -> first HTTP request byte), {} NOTIFYs each admitted at once: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; daemon CPU {:.2} ms per NOTIFY and run",
        samples.len(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(*samples.last().unwrap()),
        ms(cpu) / f64::from(args.notifies.max(1)),
    );
}

fn flood(args: &Args) {
    let server = HttpServer::start();
    server.put("a.cfg", format!("{MAGIC}V=\"0\"\r\n"));
    let daemon = Daemon::start(
        &args.daemon,
        &server,
        "[sip.limits]\nrequests_per_second_per_source = 0\nrequests_per_second = 0\ntriggers_per_minute_per_source = 0\ntriggers_per_minute = 0\n",
    );
    server.wait_for_gets(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    server.clear_log();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let length = Duration::from_secs(args.flood_secs);
    let (mut sent, mut answered, mut outstanding) = (0usize, 0usize, 0usize);
    let mut buf = [0u8; 2048];
    let first = Instant::now();
    let mut last = first;
    while first.elapsed() < length || outstanding > 0 {
        if first.elapsed() < length && outstanding < 64 {
            socket.send_to(&notify(sent), daemon.addr).unwrap();
            last = Instant::now();
            sent += 1;
            outstanding += 1;
            continue;
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                answered += usize::from(buf[..n].starts_with(b"SIP/2.0 200"));
                outstanding -= 1;
            }
            Err(_) => outstanding = 0,
        }
    }
    let sending = last - first;
    // The budget's next run comes at most 20 s after its first; then nothing more may.
    server.wait_for_gets(4, Duration::from_secs(25));
    std::thread::sleep(Duration::from_secs(2));
    let seen = gets(&server);
    let first_fetch = seen.first().map(|s| s.at.saturating_duration_since(first));
    let last_fetch = seen.last().map(|s| s.at);
    println!(
        "flood: {sent} NOTIFYs in {:.1} s ({:.0}/s), {answered} answered 200; {} fetches; first NOTIFY -> first fetch {}; last NOTIFY -> last fetch {}",
        sending.as_secs_f64(),
        sent as f64 / sending.as_secs_f64().max(1e-9),
        seen.len(),
        first_fetch.map_or("none".into(), |d| format!("{:.3} ms", ms(d))),
        match last_fetch {
            Some(at) if at > last => format!("{:.3} s after", (at - last).as_secs_f64()),
            Some(at) => format!("{:.3} s BEFORE", (last - at).as_secs_f64()),
            None => "none".into(),
        },
    );
}

fn main() {
    let args = Args::parse();
    latency(&args);
    if args.flood_secs > 0 {
        flood(&args);
    }
}

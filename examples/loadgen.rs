//! A UDP load generator for SIP servers that answer NOTIFY: the one `scripts/bench.sh` runs
//! against sip-resync, Kamailio and a raw echo server alike.
//!
//! ```text
//! cargo build --release --example loadgen
//! target/release/examples/loadgen 127.0.0.1:5060 --window 16 --duration 5
//! target/release/examples/loadgen 127.0.0.1:5060 --rate 20000 --count 100000 --json
//! ```
//!
//! Every request is a new out-of-dialog NOTIFY (the contract's check-sync request, with its
//! own Call-ID and Via branch, both carrying a per-run nonce and a sequence number). A
//! response is matched to its request by the Call-ID and the Via branch it copies; both must
//! name the same request.
//!
//! Two ways of offering load:
//!
//! * `--window N` (closed loop, one thread): N requests are outstanding at all times; each
//!   response, or each request given up after the timeout, lets the next one go. `--window 1`
//!   is ping-pong and measures the bare round trip.
//! * `--rate R` (open loop, two threads): requests leave at R per second whatever comes back
//!   (the sender sleeps and then sends whatever is due, so at high rates they leave in small
//!   bursts), and a receiver thread matches the responses.
//!
//! A request without a response within `--timeout-ms` (default 500 ms, SIP's T1: a PBX would
//! retransmit then) is lost; a response that arrives later still counts as a loss ("late").
//! Latency is from just before `send` to just after `recv`, per request; the percentiles are
//! nearest-rank over every answered request. The achieved rate is the number of requests
//! answered in time divided by the time from the first send to the last such answer.
//!
//! Output: one line of `key=value` text, or with `--json` one JSON object.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{ErrorKind, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Sends check-sync NOTIFYs over UDP and reports the achieved rate, losses and latency"
)]
struct Args {
    /// The server: ADDR:PORT.
    target: SocketAddr,
    /// Requests outstanding at once (closed loop). The default when --rate is not given: 1.
    #[arg(long, conflicts_with = "rate")]
    window: Option<usize>,
    /// Requests per second, whatever comes back (open loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to send for (default 5 unless --count is given).
    #[arg(long)]
    duration: Option<f64>,
    /// Requests to send (with --duration, whichever ends first).
    #[arg(long)]
    count: Option<u64>,
    /// A request unanswered this long is lost.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    /// Event header value.
    #[arg(long, default_value = "check-sync")]
    event: String,
    /// Local address to send from.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Print one JSON object instead of the text line.
    #[arg(long)]
    json: bool,
    /// A label copied into the output (for scripts).
    #[arg(long, default_value = "")]
    label: String,
}

/// Sequence numbers whose requests are outstanding, with their send times.
///
/// Slot `seq % SLOTS` holds `(seq mod 2^24) << 40 | (sent_ns + 1)`, or 0 when free: one atomic
/// word, so the sender and the receiver never disagree about which request a time belongs to.
/// Sending to a slot that still holds an unanswered request reports that request as lost.
struct Ring {
    slots: Vec<AtomicU64>,
    start: Instant,
}

const SLOTS: usize = 1 << 20;
const TAG_SHIFT: u32 = 40;
const TIME_MASK: u64 = (1 << TAG_SHIFT) - 1;
const TAG_MASK: u64 = (1 << 24) - 1;
/// Send times are kept in 40 bits of nanoseconds (18 minutes): a run stays well inside that.
const MAX_DURATION: Duration = Duration::from_secs(900);

impl Ring {
    fn new(start: Instant) -> Ring {
        Ring {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            start,
        }
    }

    fn ns(&self, at: Instant) -> u64 {
        at.duration_since(self.start).as_nanos() as u64
    }

    fn slot(&self, seq: u64) -> &AtomicU64 {
        &self.slots[(seq as usize) % SLOTS]
    }

    /// Records a send; true when the slot still held an unanswered request (now lost).
    fn sent(&self, seq: u64, at: Instant) -> bool {
        let word = ((seq & TAG_MASK) << TAG_SHIFT) | ((self.ns(at) + 1) & TIME_MASK);
        self.slot(seq).swap(word, Ordering::AcqRel) != 0
    }

    /// Marks `seq` answered at `at`; its latency when it was outstanding.
    fn answered(&self, seq: u64, at: Instant) -> Option<Duration> {
        let slot = self.slot(seq);
        let word = slot.load(Ordering::Acquire);
        if word == 0 || word >> TAG_SHIFT != seq & TAG_MASK {
            return None;
        }
        slot.compare_exchange(word, 0, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let sent = (word & TIME_MASK) - 1;
        Some(Duration::from_nanos(self.ns(at).saturating_sub(sent)))
    }

    /// Gives `seq` up; true when it was still outstanding.
    fn give_up(&self, seq: u64) -> bool {
        let slot = self.slot(seq);
        let word = slot.load(Ordering::Acquire);
        word != 0
            && word >> TAG_SHIFT == seq & TAG_MASK
            && slot
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn is_outstanding(&self, seq: u64) -> bool {
        let word = self.slot(seq).load(Ordering::Acquire);
        word != 0 && word >> TAG_SHIFT == seq & TAG_MASK
    }

    /// Requests still outstanding (after the last wait): all lost.
    fn outstanding(&self) -> u64 {
        self.slots
            .iter()
            .filter(|s| s.load(Ordering::Acquire) != 0)
            .count() as u64
    }
}

/// Builds the NOTIFY for a sequence number into a reused buffer.
struct Requests {
    nonce: String,
    local: SocketAddr,
    target: SocketAddr,
    event: String,
}

impl Requests {
    fn write(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        let (local, target, nonce) = (self.local, self.target, &self.nonce);
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "NOTIFY sip:1001@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{nonce}-{seq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:pbx@{local}>;tag={nonce}\r\n\
             To: <sip:1001@{target}>\r\n\
             Call-ID: {nonce}-{seq}@{ip}\r\n\
             CSeq: 102 NOTIFY\r\n\
             Event: {event};reboot=false\r\n\
             Subscription-State: terminated\r\n\
             Content-Length: 0\r\n\r\n",
            ip = local.ip(),
            event = self.event,
        );
    }

    /// The sequence number a response answers, when its Call-ID and top Via branch both
    /// name the same request of this run.
    fn match_response(&self, msg: &[u8]) -> Option<u64> {
        let call_id = header(msg, &["call-id", "i"])?;
        let via = header(msg, &["via", "v"])?;
        let from_call_id = call_id
            .strip_prefix(self.nonce.as_bytes())?
            .strip_prefix(b"-")?;
        let at = from_call_id.iter().position(|&b| b == b'@')?;
        let seq = parse_u64(&from_call_id[..at])?;
        let branch_at = find(via, b"branch=z9hG4bK-")? + b"branch=z9hG4bK-".len();
        let branch = via[branch_at..]
            .strip_prefix(self.nonce.as_bytes())?
            .strip_prefix(b"-")?;
        let end = branch
            .iter()
            .position(|&b| !b.is_ascii_digit())
            .unwrap_or(branch.len());
        (parse_u64(&branch[..end])? == seq).then_some(seq)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

/// The value of the first header with one of `names` (lower case), trimmed.
fn header<'a>(msg: &'a [u8], names: &[&str]) -> Option<&'a [u8]> {
    for line in msg.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if names
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            return Some(line[colon + 1..].trim_ascii());
        }
    }
    None
}

/// The status code of a response, or 0.
fn status(msg: &[u8]) -> u16 {
    msg.get(8..12)
        .filter(|_| msg.starts_with(b"SIP/2.0 "))
        .and_then(|s| std::str::from_utf8(&s[..3]).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What the receiving side saw.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    late: u64,
    unmatched: u64,
    recv_errors: u64,
    codes: Vec<(u16, u64)>,
    reply_bytes: u64,
    last_answer: Option<Instant>,
}

impl Tally {
    fn response(&mut self, requests: &Requests, ring: &Ring, msg: &[u8], timeout: Duration) {
        let now = Instant::now();
        let Some(seq) = requests.match_response(msg) else {
            self.unmatched += 1;
            return;
        };
        let Some(latency) = ring.answered(seq, now) else {
            // Given up on already, or a second response to one request.
            self.unmatched += 1;
            return;
        };
        if latency > timeout {
            self.late += 1;
            return;
        }
        self.latencies_ns.push(latency.as_nanos() as u64);
        self.reply_bytes += msg.len() as u64;
        self.last_answer = Some(now);
        let code = status(msg);
        match self.codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.codes.push((code, 1)),
        }
    }
}

/// The totals of a run.
struct Report {
    mode: &'static str,
    window: Option<usize>,
    offered_rate: Option<f64>,
    sent: u64,
    send_errors: u64,
    lost: u64,
    send_interval: Duration,
    tally: Tally,
    /// Datagrams the kernel dropped on this generator's own socket (its receive buffer was
    /// full), from /proc/net/udp; `None` where that file is not available.
    own_drops: Option<u64>,
}

/// The kernel's drop counter of a bound IPv4 UDP socket (last column of /proc/net/udp).
fn socket_drops(socket: &UdpSocket) -> Option<u64> {
    let local = socket.local_addr().ok()?;
    let SocketAddr::V4(v4) = local else {
        return None;
    };
    let ip = u32::from(*v4.ip()).swap_bytes();
    let key = format!("{ip:08X}:{:04X}", v4.port());
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    table
        .lines()
        .skip(1)
        .find(|line| line.split_whitespace().nth(1) == Some(key.as_str()))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The smallest rank whose share reaches p; the epsilon keeps 99.9 % of 1000 at rank 999
    // (in floating point 0.999 * 1000 is a hair above 999).
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let args = Args::parse();
    if let Some(rate) = args.rate {
        if !(rate > 0.0 && rate.is_finite()) {
            eprintln!("loadgen: --rate must be a positive number");
            std::process::exit(2);
        }
        if rate * (args.timeout_ms as f64 / 1000.0) > (SLOTS / 2) as f64 {
            eprintln!("loadgen: --rate times --timeout-ms exceeds the {SLOTS} tracking slots");
            std::process::exit(2);
        }
    }
    let window = args.window.unwrap_or(1);
    if window == 0 || window > SLOTS / 2 {
        eprintln!("loadgen: --window must be between 1 and {}", SLOTS / 2);
        std::process::exit(2);
    }
    let duration = match (args.duration, args.count) {
        (Some(d), _) => Duration::from_secs_f64(d),
        (None, Some(_)) => MAX_DURATION,
        (None, None) => Duration::from_secs(5),
    };
    if duration > MAX_DURATION {
        eprintln!(
            "loadgen: --duration is limited to {} s",
            MAX_DURATION.as_secs()
        );
        std::process::exit(2);
    }
    let count = args.count.unwrap_or(u64::MAX);
    let timeout = Duration::from_millis(args.timeout_ms);

    let socket = match UdpSocket::bind(args.bind).and_then(|s| s.connect(args.target).map(|_| s)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "loadgen: cannot open a UDP socket towards {}: {e}",
                args.target
            );
            std::process::exit(4);
        }
    };
    let requests = Requests {
        nonce: format!(
            "lg{:x}{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ),
        local: socket.local_addr().expect("a bound socket has an address"),
        target: args.target,
        event: args.event.clone(),
    };
    let start = Instant::now();
    let ring = Ring::new(start);
    let report = match args.rate {
        None => closed_loop(
            &socket, &requests, &ring, window, duration, count, timeout, start,
        ),
        Some(rate) => open_loop(
            socket, requests, ring, rate, duration, count, timeout, start,
        ),
    };
    print_report(&args, report, start);
}

/// `--window N`: keeps N requests outstanding, on one thread.
#[allow(clippy::too_many_arguments)]
fn closed_loop(
    socket: &UdpSocket,
    requests: &Requests,
    ring: &Ring,
    window: usize,
    duration: Duration,
    count: u64,
    timeout: Duration,
    start: Instant,
) -> Report {
    let _ = socket.set_read_timeout(Some(timeout.min(Duration::from_millis(10))));
    let deadline = start + duration;
    let mut out = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 65_536];
    let mut tally = Tally::default();
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let (mut seq, mut outstanding, mut lost, mut send_errors) = (0u64, 0usize, 0u64, 0u64);
    let mut send_end = None;
    loop {
        let now = Instant::now();
        let sending = now < deadline && seq < count;
        if !sending && send_end.is_none() {
            send_end = Some(now);
        }
        while sending && outstanding < window {
            requests.write(seq, &mut out);
            let at = Instant::now();
            if ring.sent(seq, at) {
                lost += 1;
            }
            match socket.send(&out) {
                Ok(_) => {
                    pending.push_back((seq, at));
                    outstanding += 1;
                }
                Err(_) => {
                    ring.give_up(seq);
                    send_errors += 1;
                }
            }
            seq += 1;
        }
        if !sending && outstanding == 0 {
            break;
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                let before = tally.latencies_ns.len() + tally.late as usize;
                tally.response(requests, ring, &buf[..n], timeout);
                if tally.latencies_ns.len() + tally.late as usize > before {
                    outstanding -= 1;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => tally.recv_errors += 1,
        }
        let now = Instant::now();
        while let Some(&(s, at)) = pending.front() {
            if !ring.is_outstanding(s) {
                pending.pop_front();
            } else if now.duration_since(at) > timeout {
                if ring.give_up(s) {
                    lost += 1;
                    outstanding -= 1;
                }
                pending.pop_front();
            } else {
                break;
            }
        }
    }
    lost += tally.late;
    Report {
        mode: "window",
        window: Some(window),
        offered_rate: None,
        sent: seq - send_errors,
        send_errors,
        lost,
        send_interval: send_end.unwrap_or_else(Instant::now).duration_since(start),
        tally,
        own_drops: socket_drops(socket),
    }
}

/// `--rate R`: a sender thread paced to R per second and a receiver thread.
#[allow(clippy::too_many_arguments)]
fn open_loop(
    socket: UdpSocket,
    requests: Requests,
    ring: Ring,
    rate: f64,
    duration: Duration,
    count: u64,
    timeout: Duration,
    start: Instant,
) -> Report {
    let requests = Arc::new(requests);
    let ring = Arc::new(ring);
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let socket = socket.try_clone().expect("a UDP socket can be cloned");
        let _ = socket.set_read_timeout(Some(Duration::from_millis(10)));
        let (requests, ring, done) = (requests.clone(), ring.clone(), done.clone());
        std::thread::spawn(move || {
            let mut tally = Tally::default();
            let mut buf = vec![0u8; 65_536];
            while !done.load(Ordering::Acquire) {
                match socket.recv(&mut buf) {
                    Ok(n) => tally.response(&requests, &ring, &buf[..n], timeout),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => tally.recv_errors += 1,
                }
            }
            tally
        })
    };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let deadline = start + duration;
    let mut out = Vec::with_capacity(1024);
    let (mut seq, mut lost, mut send_errors) = (0u64, 0u64, 0u64);
    let mut due = start;
    // Sends every request that is due, then sleeps until the next one.
    'send: loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if due > now {
            std::thread::sleep(due - now);
            continue;
        }
        while due <= now {
            if seq >= count {
                break 'send;
            }
            requests.write(seq, &mut out);
            let at = Instant::now();
            // Above what one thread can send, `due` never catches up with `now`: the
            // deadline must end the burst too, or the run overshoots its duration.
            if at >= deadline {
                break 'send;
            }
            if ring.sent(seq, at) {
                lost += 1;
            }
            if socket.send(&out).is_err() {
                ring.give_up(seq);
                send_errors += 1;
            }
            seq += 1;
            due += interval;
        }
    }
    let send_end = Instant::now();
    std::thread::sleep(timeout);
    done.store(true, Ordering::Release);
    let tally = receiver.join().expect("the receiver does not panic");
    lost += ring.outstanding() + tally.late;
    let own_drops = socket_drops(&socket);
    Report {
        mode: "rate",
        window: None,
        offered_rate: Some(rate),
        sent: seq - send_errors,
        send_errors,
        lost,
        send_interval: send_end.duration_since(start),
        tally,
        own_drops,
    }
}

fn print_report(args: &Args, mut report: Report, start: Instant) {
    let answered = report.tally.latencies_ns.len() as u64;
    report.tally.latencies_ns.sort_unstable();
    let lat = &report.tally.latencies_ns;
    let elapsed = report
        .tally
        .last_answer
        .map(|t| t.duration_since(start))
        .unwrap_or(report.send_interval)
        .max(Duration::from_micros(1))
        .as_secs_f64();
    let rate = answered as f64 / elapsed;
    let sent_rate = report.sent as f64 / report.send_interval.as_secs_f64().max(1e-6);
    let (p50, p99, p999) = (
        percentile(lat, 50.0),
        percentile(lat, 99.0),
        percentile(lat, 99.9),
    );
    let max = lat.last().map_or(f64::NAN, |&m| m as f64 / 1000.0);
    let reply_bytes = if answered > 0 {
        report.tally.reply_bytes as f64 / answered as f64
    } else {
        f64::NAN
    };
    report.tally.codes.sort_unstable();
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.1}")
        } else {
            "null".to_owned()
        }
    };
    let drops = report
        .own_drops
        .map_or("null".to_owned(), |d| d.to_string());
    let mut line = String::new();
    if args.json {
        let codes: Vec<String> = report
            .tally
            .codes
            .iter()
            .map(|(c, n)| format!("\"{c}\":{n}"))
            .collect();
        let _ = write!(
            line,
            "{{\"label\":\"{}\",\"target\":\"{}\",\"mode\":\"{}\",\"window\":{},\"offered_rate\":{},\
             \"elapsed_s\":{:.3},\"sent\":{},\"answered\":{},\"lost\":{},\"late\":{},\
             \"unmatched\":{},\"send_errors\":{},\"recv_errors\":{},\"rate\":{},\"sent_rate\":{},\
             \"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"reply_bytes\":{},\
             \"own_drops\":{},\"codes\":{{{}}}}}",
            json_escape(&args.label),
            args.target,
            report.mode,
            report.window.map_or("null".to_owned(), |w| w.to_string()),
            report.offered_rate.map_or("null".to_owned(), num),
            elapsed,
            report.sent,
            answered,
            report.lost,
            report.tally.late,
            report.tally.unmatched,
            report.send_errors,
            report.tally.recv_errors,
            num(rate),
            num(sent_rate),
            num(p50),
            num(p99),
            num(p999),
            num(max),
            num(reply_bytes),
            drops,
            codes.join(",")
        );
    } else {
        let codes: Vec<String> = report
            .tally
            .codes
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        let load = match (report.window, report.offered_rate) {
            (Some(w), _) => format!("window={w}"),
            (None, Some(r)) => format!("offered={r:.0}/s"),
            (None, None) => String::new(),
        };
        let _ = write!(
            line,
            "{}target={} mode={} {load} elapsed={elapsed:.3}s sent={} answered={answered} \
             lost={} late={} unmatched={} errors={} rate={rate:.0}/s sent_rate={sent_rate:.0}/s \
             p50={}us p99={}us p99.9={}us max={}us reply={}B own_drops={} codes={}",
            if args.label.is_empty() {
                String::new()
            } else {
                format!("label={} ", args.label)
            },
            args.target,
            report.mode,
            report.sent,
            report.lost,
            report.tally.late,
            report.tally.unmatched,
            report.send_errors + report.tally.recv_errors,
            num(p50),
            num(p99),
            num(p999),
            num(max),
            num(reply_bytes),
            drops,
            codes.join(",")
        );
    }
    println!("{line}");
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests() -> Requests {
        Requests {
            nonce: "lgabc".to_owned(),
            local: "127.0.0.1:40000".parse().unwrap(),
            target: "127.0.0.1:5060".parse().unwrap(),
            event: "check-sync".to_owned(),
        }
    }

    /// A response the way a server writes it: Via and Call-ID copied, received/rport added.
    fn response_to(request: &[u8], status_line: &str) -> Vec<u8> {
        let text = std::str::from_utf8(request).unwrap();
        let mut out = format!("{status_line}\r\n");
        for line in text.split("\r\n").skip(1) {
            if line.starts_with("Via:") {
                out.push_str(&format!("{line}=40000;received=127.0.0.1\r\n"));
            } else if line.starts_with("Call-ID:") || line.starts_with("CSeq:") {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }

    #[test]
    fn a_response_is_matched_by_call_id_and_branch() {
        let r = requests();
        let mut req = Vec::new();
        r.write(41, &mut req);
        let resp = response_to(&req, "SIP/2.0 200 OK");
        assert_eq!(r.match_response(&resp), Some(41));
        assert_eq!(status(&resp), 200);
        assert_eq!(status(b"SIP/2.0 489 Bad Event\r\n\r\n"), 489);
        assert_eq!(status(b"NOTIFY sip:x SIP/2.0\r\n\r\n"), 0);
    }

    #[test]
    fn call_id_and_branch_must_name_the_same_request_of_this_run() {
        let r = requests();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        r.write(7, &mut a);
        r.write(8, &mut b);
        let resp_a = String::from_utf8(response_to(&a, "SIP/2.0 200 OK")).unwrap();
        // The Via of request 7 with the Call-ID of request 8.
        let mixed = resp_a.replace("lgabc-7@", "lgabc-8@");
        assert_eq!(r.match_response(mixed.as_bytes()), None);
        // Another run's nonce.
        let other = resp_a.replace("lgabc", "lgxyz");
        assert_eq!(r.match_response(other.as_bytes()), None);
        // Compact header names are read too.
        let compact = resp_a.replace("Call-ID:", "i:").replace("Via:", "v:");
        assert_eq!(r.match_response(compact.as_bytes()), Some(7));
    }

    #[test]
    fn the_ring_answers_each_request_once_and_reports_reuse() {
        let start = Instant::now();
        let ring = Ring::new(start);
        assert!(!ring.sent(3, start));
        assert!(ring.is_outstanding(3));
        // A response naming another request in the same slot is not this one.
        assert_eq!(ring.answered(3 + SLOTS as u64, start), None);
        assert!(ring.answered(3, start + Duration::from_micros(5)).is_some());
        assert_eq!(ring.answered(3, start), None, "answered once only");
        assert!(!ring.give_up(3));
        // A slot still holding an unanswered request reports it lost when reused.
        assert!(!ring.sent(4, start));
        assert!(ring.sent(4 + SLOTS as u64, start));
        assert_eq!(ring.outstanding(), 1);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        assert_eq!(percentile(&v, 50.0), 500.0);
        assert_eq!(percentile(&v, 99.0), 990.0);
        assert_eq!(percentile(&v, 99.9), 999.0);
        assert_eq!(percentile(&v[..1], 99.9), 1.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}

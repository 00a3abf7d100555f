//! A host SIP stack that owns its UDP port and embeds sip-resync for check-sync NOTIFYs.
//!
//! ```text
//! cargo run --example host_stack -- 5070                 # 127.0.0.1:5070 until Ctrl-C
//! cargo run --example host_stack -- 0 --exit-after 3     # any free port, stop after 3 messages
//! cargo run -- notify udp:127.0.0.1:5070                 # from another terminal
//! ```
//!
//! The "host" here is deliberately small: it answers OPTIONS itself and only reports every
//! other message it would process (INVITE, REGISTER responses, in-dialog NOTIFYs, voicemail
//! NOTIFYs). Every received datagram goes to [`Embedded::handle`] first; what is not a resync
//! NOTIFY comes back as [`Verdict::NotOurs`] and is the host's. No async runtime: a blocking
//! socket, with the read timeout set from [`Embedded::poll_timeout`] so that held-back
//! triggers are released and transactions expire on time.
//!
//! Each message gives one line on standard output:
//!
//! ```text
//! host_stack: listening on udp:127.0.0.1:5070
//! sip-resync: NOTIFY from 127.0.0.1:41000 answered SIP/2.0 200 OK; resync requested: event check-sync, reboot None
//! host: OPTIONS from 127.0.0.1:41000 answered SIP/2.0 200 OK by the host
//! host: INVITE from 127.0.0.1:41000 handled by the host (not a resync NOTIFY)
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use sip_resync::config;
use sip_resync::{Embedded, ResyncRequest, Transport, Verdict};

#[derive(Parser, Debug)]
#[command(
    name = "host_stack",
    about = "A host SIP stack on 127.0.0.1 that hands check-sync NOTIFYs to sip-resync"
)]
struct Args {
    /// UDP port on 127.0.0.1 (0 picks a free one; the address is printed).
    #[arg(default_value_t = 0)]
    port: u16,
    /// sip-resync configuration for the accepted events, allowlist and limits (any dialect);
    /// default: check-sync from loopback sources only.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Stop after this many received messages.
    #[arg(long, value_name = "N")]
    exit_after: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

/// The settings when no file is given.
const DEFAULT_SETTINGS: &str =
    "[sip]\nevents = [\"check-sync\"]\nallow = [\"127.0.0.1\", \"::1\"]\n";

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let settings = match &args.config {
        Some(path) => config::load(path),
        None => config::from_bytes(DEFAULT_SETTINGS.as_bytes(), "built-in.toml".as_ref()),
    };
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("host_stack: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let socket = match UdpSocket::bind(("127.0.0.1", args.port)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "host_stack: cannot listen on udp:127.0.0.1:{}: {e}",
                args.port
            );
            return std::process::ExitCode::from(4);
        }
    };
    println!(
        "host_stack: listening on udp:{}",
        socket.local_addr().expect("bound")
    );

    let mut embedded = Embedded::new(&settings.sip);
    let stop_at = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut received = 0u64;
    let mut buf = vec![0u8; 65_536];
    while args.exit_after.is_none_or(|n| received < n) {
        let now = Instant::now();
        if stop_at.is_some_and(|at| now >= at) {
            println!("host_stack: timeout after {received} message(s)");
            break;
        }
        // Sleep until the next message, the endpoint's next timer or the end, whichever
        // comes first (at most a second, as a host's own timers would).
        let wake = [embedded.poll_timeout(), stop_at]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_secs(1), |at| {
                at.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        socket
            .set_read_timeout(Some(wake))
            .expect("nonzero timeout");
        let (n, source) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if let Some(request) = embedded.handle_timeout(Instant::now()) {
                    println!(
                        "sip-resync: resync released after the trigger limit: {}",
                        describe(&request)
                    );
                }
                continue;
            }
            Err(e) => {
                eprintln!("host_stack: receive error: {e}");
                continue;
            }
        };
        received += 1;
        let message = &buf[..n];
        match embedded.handle(Instant::now(), source, Transport::Udp, message) {
            Verdict::Ours { reply, resync, .. } => {
                let answer = match &reply {
                    Some(bytes) => {
                        if let Err(e) = socket.send_to(bytes, source) {
                            eprintln!("host_stack: cannot answer {source}: {e}");
                        }
                        format!("answered {}", first_line(bytes))
                    }
                    None => "not answered".to_owned(),
                };
                // A real host would now hand the request to the provisioning engine:
                // engine.trigger(Cause::from_request(&request)).
                let action = match &resync {
                    Some(request) => format!("resync requested: {}", describe(request)),
                    None => "no resync".to_owned(),
                };
                println!(
                    "sip-resync: {} from {source} {answer}; {action}",
                    method(message)
                );
            }
            Verdict::NotOurs => host_handles(&socket, source, message),
        }
    }
    let c = embedded.counters();
    println!(
        "host_stack: done: {received} message(s), {} for sip-resync, {} resync request(s)",
        c.received, c.resync_requests
    );
    std::process::ExitCode::SUCCESS
}

/// The host's own processing. Here it answers OPTIONS and reports everything else.
fn host_handles(socket: &UdpSocket, source: SocketAddr, message: &[u8]) {
    let method = method(message);
    if method == "OPTIONS" {
        let reply = host_response(message, "200 OK");
        let _ = socket.send_to(&reply, source);
        println!(
            "host: OPTIONS from {source} answered {} by the host",
            first_line(&reply)
        );
    } else {
        println!("host: {method} from {source} handled by the host (not a resync NOTIFY)");
    }
}

/// A response the way a host stack would build one: Via, From, To, Call-ID and CSeq copied.
fn host_response(request: &[u8], status: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Server: host_stack example\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn first_line(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == b'\r' || b == b'\n');
    String::from_utf8_lossy(&bytes[..end.unwrap_or(bytes.len())]).into_owned()
}

/// The method of a request, or what the message is.
fn method(message: &[u8]) -> String {
    let line = first_line(message);
    match line.split(' ').next() {
        Some("SIP/2.0") => format!("response ({line})"),
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => m.to_owned(),
        _ => "unreadable input".to_owned(),
    }
}

fn describe(request: &ResyncRequest) -> String {
    format!("event {}, reboot {:?}", request.event, request.reboot)
}

//! The ceiling for `scripts/bench.sh`: a UDP server that does no SIP at all.
//!
//! ```text
//! cargo build --release --example udp_echo
//! target/release/examples/udp_echo 127.0.0.1:5099 --reply-bytes 300
//! ```
//!
//! Each datagram is answered, from the same thread that received it, with a reply of a fixed
//! size: `SIP/2.0 200 OK`, then the request's bytes after its first line (so the reply carries
//! the request's Via and Call-ID and a load generator can match it), padded or cut to
//! `--reply-bytes`. That is one `recv_from`, one copy and one `send_to` per request: what any
//! UDP server pays before it does any work, on the same loopback and the same machine.
//!
//! It runs until it is killed. Blocking std sockets, `--threads` threads (default 1) sharing
//! the socket.

use std::net::{SocketAddr, UdpSocket};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "udp_echo",
    about = "Answers every UDP datagram with a fixed-size 200 OK that copies the request's headers"
)]
struct Args {
    /// Where to listen: ADDR:PORT (port 0 picks one; the address is printed).
    listen: SocketAddr,
    /// Size of every reply in bytes.
    #[arg(long, default_value_t = 300)]
    reply_bytes: usize,
    /// Threads receiving and answering on the one socket.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

const STATUS_LINE: &[u8] = b"SIP/2.0 200 OK\r\n";

/// The reply to `request`, written into `out`: exactly `size` bytes.
fn reply(request: &[u8], size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(STATUS_LINE);
    let rest = match request.iter().position(|&b| b == b'\n') {
        Some(i) => &request[i + 1..],
        None => &[][..],
    };
    out.extend_from_slice(rest);
    out.resize(size.max(STATUS_LINE.len()), b' ');
}

fn serve(socket: UdpSocket, size: usize) {
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::with_capacity(size.max(65_536));
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => continue,
        };
        reply(&buf[..n], size, &mut out);
        let _ = socket.send_to(&out, peer);
    }
}

fn main() {
    let args = Args::parse();
    let socket = match UdpSocket::bind(args.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp_echo: cannot listen on {}: {e}", args.listen);
            std::process::exit(4);
        }
    };
    println!(
        "udp_echo: listening on udp:{}",
        socket.local_addr().expect("bound")
    );
    let threads: Vec<_> = (1..args.threads.max(1))
        .map(|_| {
            let socket = socket.try_clone().expect("a UDP socket can be cloned");
            std::thread::spawn(move || serve(socket, args.reply_bytes))
        })
        .collect();
    serve(socket, args.reply_bytes);
    for t in threads {
        let _ = t.join();
    }
}

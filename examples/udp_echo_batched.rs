//! The second ceiling for `scripts/bench.sh`: a UDP server that does no SIP at all, with the
//! I/O of the fast servers.
//!
//! ```text
//! cargo build --release --example udp_echo_batched
//! target/release/examples/udp_echo_batched 127.0.0.1:5099 --reply-bytes 300 --threads 2
//! ```
//!
//! Like `udp_echo` (each datagram answered with `SIP/2.0 200 OK`, then the request's bytes
//! after its first line, padded or cut to `--reply-bytes`), but each of `--threads` threads
//! (default: one per core) has its own `SO_REUSEPORT` socket on the port, receives up to
//! `--batch` datagrams with one `recvmmsg` and answers them with one `sendmmsg`: what
//! sip-resync's UDP workers pay for I/O, without the SIP.
//!
//! It runs until it is killed. Linux (and the other systems with `recvmmsg`) only.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use clap::Parser;
use nix::sys::socket::{
    bind, recvmmsg, sendmmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessage, MsgFlags,
    MultiHeaders, SockFlag, SockType, SockaddrLike, SockaddrStorage,
};

#[derive(Parser, Debug)]
#[command(
    name = "udp_echo_batched",
    about = "Answers UDP datagrams in batches (recvmmsg/sendmmsg) with a fixed-size 200 OK"
)]
struct Args {
    /// Where to listen: ADDR:PORT (port 0 picks one; the address is printed).
    listen: SocketAddr,
    /// Size of every reply in bytes.
    #[arg(long, default_value_t = 300)]
    reply_bytes: usize,
    /// Threads, each with its own socket on the port (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Datagrams per system call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
}

const STATUS_LINE: &[u8] = b"SIP/2.0 200 OK\r\n";
const SLOT: usize = 65_536;
const MAX_BATCH: usize = 64;

fn bind_socket(addr: SocketAddr) -> nix::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(fd)
}

fn serve(fd: OwnedFd, size: usize, batch: usize) {
    let fd = fd.as_raw_fd();
    let mut buf = vec![0u8; batch * SLOT];
    let mut replies = vec![0u8; batch * size.max(STATUS_LINE.len())];
    let reply_len = size.max(STATUS_LINE.len());
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(batch, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(batch, None);
    let mut got: Vec<(usize, Option<SockaddrStorage>)> = Vec::with_capacity(batch);
    loop {
        got.clear();
        {
            let mut slots = buf.chunks_exact_mut(SLOT);
            let mut iovs: [[IoSliceMut<'_>; 1]; MAX_BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
            match recvmmsg(
                fd,
                &mut recv_headers,
                iovs[..batch].iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(messages) => got.extend(messages.map(|m| (m.bytes, m.address))),
                Err(_) => continue,
            }
        }
        let mut addrs: Vec<Option<SockaddrStorage>> = Vec::with_capacity(got.len());
        for (i, (n, from)) in got.iter().enumerate() {
            let request = &buf[i * SLOT..i * SLOT + n];
            let out = &mut replies[addrs.len() * reply_len..(addrs.len() + 1) * reply_len];
            let rest = match request.iter().position(|&b| b == b'\n') {
                Some(j) => &request[j + 1..],
                None => &[][..],
            };
            out.fill(b' ');
            out[..STATUS_LINE.len()].copy_from_slice(STATUS_LINE);
            let take = rest.len().min(reply_len - STATUS_LINE.len());
            out[STATUS_LINE.len()..STATUS_LINE.len() + take].copy_from_slice(&rest[..take]);
            addrs.push(from.filter(|a| a.len() > 0));
        }
        let iovs: [[IoSlice<'_>; 1]; MAX_BATCH] = std::array::from_fn(|i| {
            [IoSlice::new(
                replies
                    .get(i * reply_len..(i + 1) * reply_len)
                    .unwrap_or_default(),
            )]
        });
        let none: [ControlMessage<'_>; 0] = [];
        let mut sent = 0;
        while sent < addrs.len() {
            match sendmmsg(
                fd,
                &mut send_headers,
                &iovs[sent..addrs.len()],
                &addrs[sent..],
                none,
                MsgFlags::empty(),
            ) {
                Ok(r) => sent += r.count().max(1),
                Err(_) => sent += 1,
            }
        }
    }
}

fn main() {
    let args = Args::parse();
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let batch = args.batch.clamp(1, MAX_BATCH);
    let first = match bind_socket(args.listen) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("udp_echo_batched: cannot listen on {}: {e}", args.listen);
            std::process::exit(4);
        }
    };
    let bound = std::net::UdpSocket::from(first);
    let addr = bound.local_addr().expect("bound");
    println!("udp_echo_batched: listening on udp:{addr} with {threads} threads");
    let mut handles = Vec::new();
    for _ in 1..threads {
        let fd = bind_socket(addr).expect("a second socket on the port");
        handles.push(std::thread::spawn(move || {
            serve(fd, args.reply_bytes, batch)
        }));
    }
    serve(OwnedFd::from(bound), args.reply_bytes, batch);
    for h in handles {
        let _ = h.join();
    }
}

//! The UDP workers: one datagram is one message; replies go to the source address and port.
//!
//! Each worker owns one socket and one endpoint. With several workers per address the sockets
//! share the port through `SO_REUSEPORT`, and the kernel hashes each datagram's addresses and
//! ports to one of them, so a retransmission reaches the worker that answered the original.
//!
//! Where the platform has them (Linux, Android, FreeBSD, NetBSD), a worker receives up to
//! [`UdpOptions::batch`] datagrams with one `recvmmsg`, decides them under one lock of its own
//! endpoint, and sends the replies with one `sendmmsg` (through `nix`). Elsewhere, or with a
//! batch of 1, it uses the plain path: one `recv_from` and one `send_to` per datagram.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::endpoints::{lock_armed, Armed};
use super::{after_reply, Sink};
use sip_resync_core::sip::Handled;
use sip_resync_core::Transport;

/// Largest UDP payload (65,535 minus the IP and UDP headers is less; this is a safe bound).
const DATAGRAM_BUFFER: usize = 65_536;

/// How the UDP listeners are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UdpOptions {
    /// Workers (sockets) per UDP address; 0 means one per core.
    pub workers: usize,
    /// Datagrams received and answered per system call; 1 selects the plain path (one
    /// `recv_from` and one `send_to` per datagram), which platforms without
    /// `recvmmsg`/`sendmmsg` always use.
    pub batch: usize,
}

/// Datagrams per `recvmmsg` by default. Each slot is a 64 KiB buffer, of which the kernel
/// touches only what a datagram fills.
pub(crate) const DEFAULT_BATCH: usize = 32;

/// The most [`UdpOptions::batch`] may be.
pub(crate) const MAX_BATCH: usize = 64;

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            workers: 0,
            batch: DEFAULT_BATCH,
        }
    }
}

impl UdpOptions {
    /// The number of workers per address: `workers`, or one per core when 0.
    pub(crate) fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// Binds `count` sockets to `addr` (the first one picks the port when it is 0), sharing it
/// with `SO_REUSEPORT` when there is more than one.
///
/// One socket binds the port alone: any other process then gets "address in use". Several
/// need `SO_REUSEPORT`, which a socket of another process of the same user could join too;
/// so the port is first bound alone, without it, and released just before the group binds:
/// a port that anyone holds (another sip-resync, a PBX, a softphone) fails here with "address
/// in use", as with one worker.
pub(super) fn bind(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    let addr = if count > 1 {
        let probe = bind_one(addr, false)?;
        probe.local_addr()?
    } else {
        addr
    };
    let first = bind_one(addr, count > 1)?;
    let addr = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..count {
        out.push(bind_one(addr, true)?);
    }
    Ok(out)
}

#[cfg(unix)]
fn bind_one(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    if reuse_port {
        socket::setsockopt(&fd, sockopt::ReusePort, &true)?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

#[cfg(not(unix))]
fn bind_one(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    if reuse_port {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "several UDP workers need SO_REUSEPORT; set [sip] udp_workers = 1",
        ));
    }
    let s = std::net::UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s)
}

/// How often a blocked batched worker looks at the stop flag.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether this platform has the batched path.
const BATCHED: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
));

/// Sets the flag when dropped: a serving future that is dropped stops its worker threads.
pub(super) struct HaltOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for HaltOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Serves one socket with its own endpoint: on a thread of its own with batched calls where
/// the platform has them and `batch` > 1 (until `halt` is set), else as a task with one call
/// per datagram (until `stop` changes).
pub(super) fn spawn(
    tasks: &mut tokio::task::JoinSet<()>,
    socket: UdpSocket,
    endpoint: Arc<Mutex<Armed>>,
    sink: Sink,
    batch: usize,
    stop: watch::Receiver<bool>,
    halt: Arc<AtomicBool>,
) {
    if BATCHED && batch > 1 {
        match socket.into_std() {
            Ok(socket) => {
                tasks.spawn_blocking(move || {
                    #[cfg(any(
                        target_os = "linux",
                        target_os = "android",
                        target_os = "freebsd",
                        target_os = "netbsd"
                    ))]
                    batched::serve(socket, endpoint, sink, batch.min(MAX_BATCH), halt);
                    #[cfg(not(any(
                        target_os = "linux",
                        target_os = "android",
                        target_os = "freebsd",
                        target_os = "netbsd"
                    )))]
                    drop((socket, endpoint, sink, halt));
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot take over a UDP socket for batched I/O"),
        }
        return;
    }
    let _ = halt;
    tasks.spawn(plain(socket, endpoint, sink, stop));
}

/// One `recv_from` and one `send_to` per datagram.
async fn plain(
    socket: UdpSocket,
    endpoint: Arc<Mutex<Armed>>,
    sink: Sink,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    loop {
        let (n, source) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port-unreachable from an earlier send surfaces here on some
                    // systems; it concerns a past peer, not the socket.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let now = tokio::time::Instant::now().into_std();
        let handled = lock_armed(&endpoint).handle(now, source, Transport::Udp, &buf[..n]);
        if let Some(reply) = &handled.reply {
            if let Err(e) = socket.send_to(reply, source).await {
                tracing::debug!(%source, error = %e, "UDP send failed");
            }
        }
        after_reply(handled, source, Transport::Udp, &sink);
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd"
))]
mod batched {
    use std::io::{IoSlice, IoSliceMut};
    use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use nix::errno::Errno;
    use nix::sys::socket::{
        recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
    };
    use smallvec::SmallVec;

    use super::{
        after_reply, lock_armed, Armed, Handled, Sink, DATAGRAM_BUFFER, MAX_BATCH, STOP_POLL,
    };
    use sip_resync_core::Transport;

    fn std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = a.as_sockaddr_in() {
            return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
        }
        a.as_sockaddr_in6()
            .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
    }

    /// The worker loop, on its own thread: waits for a datagram (`MSG_WAITFORONE`: then
    /// takes whatever else is queued, up to `batch`), decides them under one lock of its own
    /// endpoint, answers them with `sendmmsg`, then logs and forwards. Buffers are allocated
    /// once per worker. Returns within [`STOP_POLL`] of `halt` being set.
    pub(super) fn serve(
        socket: std::net::UdpSocket,
        endpoint: Arc<Mutex<Armed>>,
        sink: Sink,
        batch: usize,
        halt: Arc<AtomicBool>,
    ) {
        if let Err(e) = socket
            .set_nonblocking(false)
            .and_then(|()| socket.set_read_timeout(Some(STOP_POLL)))
        {
            tracing::error!(error = %e, "cannot set up a UDP socket for batched I/O");
            return;
        }
        // Pages of the slots are only backed once a datagram is written into them.
        let mut buf = vec![0u8; batch * DATAGRAM_BUFFER];
        let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(batch, None);
        let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(batch, None);
        let mut received: Vec<(usize, Option<SocketAddr>)> = Vec::with_capacity(batch);
        let mut decided: Vec<(SocketAddr, Handled)> = Vec::with_capacity(batch);
        let fd = socket.as_raw_fd();
        while !halt.load(Ordering::Relaxed) {
            received.clear();
            let r = {
                // A plain array (no Drop), so that the slices may borrow for as long as the
                // array itself.
                let mut slots = buf.chunks_exact_mut(DATAGRAM_BUFFER);
                let mut iovs: [[IoSliceMut<'_>; 1]; MAX_BATCH] =
                    std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
                recvmmsg(
                    fd,
                    &mut recv_headers,
                    iovs[..batch].iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                )
                .map(|messages| {
                    for m in messages {
                        received.push((m.bytes, m.address.as_ref().and_then(std_addr)));
                    }
                })
            };
            match r {
                Ok(()) => {}
                // The receive timeout: time to look at the stop flag.
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) => {
                    // ICMP errors of earlier sends surface here; they concern a past peer.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            }
            let now = Instant::now();
            {
                let mut endpoint = lock_armed(&endpoint);
                for (i, &(n, source)) in received.iter().enumerate() {
                    let Some(source) = source else { continue };
                    let at = i * DATAGRAM_BUFFER;
                    let handled = endpoint.handle(now, source, Transport::Udp, &buf[at..at + n]);
                    decided.push((source, handled));
                }
            }
            send_replies(fd, &mut send_headers, &decided);
            for (source, handled) in decided.drain(..) {
                after_reply(handled, source, Transport::Udp, &sink);
            }
        }
    }

    /// Sends every reply of a batch with as few `sendmmsg` calls as the socket takes.
    fn send_replies(
        fd: std::os::fd::RawFd,
        headers: &mut MultiHeaders<SockaddrStorage>,
        decided: &[(SocketAddr, Handled)],
    ) {
        let replies: SmallVec<[(SockaddrStorage, &[u8]); MAX_BATCH]> = decided
            .iter()
            .filter_map(|(to, h)| Some((SockaddrStorage::from(*to), h.reply.as_deref()?)))
            .collect();
        let mut sent = 0;
        while sent < replies.len() {
            let rest = &replies[sent..];
            let iovs: [[IoSlice<'_>; 1]; MAX_BATCH] =
                std::array::from_fn(|i| [IoSlice::new(rest.get(i).map_or(&[][..], |(_, b)| b))]);
            let addrs: SmallVec<[Option<SockaddrStorage>; MAX_BATCH]> =
                rest.iter().map(|(a, _)| Some(*a)).collect();
            let none: [ControlMessage<'_>; 0] = [];
            let iovs = &iovs[..rest.len()];
            match sendmmsg(fd, headers, iovs, &addrs, none, MsgFlags::empty()) {
                Ok(results) => sent += results.count().max(1),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    // The first datagram of the rest could not be sent (its peer is gone,
                    // say): skip it, send the others.
                    tracing::debug!(to = ?rest[0].0, error = %e, "UDP send failed");
                    sent += 1;
                }
            }
        }
    }
}

//! The smallest program a phone firmware would build on the core alone: a blocking UDP socket
//! whose every datagram goes to [`Embedded::handle`], with the read timeout set from
//! [`Embedded::poll_timeout`]. No runtime, no HTTP, no TLS; only `sip-resync-core` and std.
//!
//! ```text
//! cargo run -p sip-resync-core --release --example embedded_min -- 127.0.0.1:5070 [N]
//! cargo run -- notify udp:127.0.0.1:5070      # from another terminal
//! ```
//!
//! It prints `listening on ADDR` and then one line per resync request; with `N`, it stops after
//! N datagrams. `scripts/footprint.sh` measures the size of its stripped release build: what
//! the core costs a firmware image.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sip_resync_core::config::SipSettings;
use sip_resync_core::{Embedded, Transport, Verdict};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5070".into());
    let limit: Option<u64> = args.next().and_then(|n| n.parse().ok());
    let socket = UdpSocket::bind(&addr)?;
    println!("listening on {}", socket.local_addr()?);
    let mut embedded = Embedded::new(&SipSettings::default());
    let mut buf = vec![0u8; 65_536];
    let mut received = 0u64;
    while limit.is_none_or(|n| received < n) {
        // Wake at the endpoint's next timer (Timer J, a held-back trigger), or once a minute.
        let wait = embedded
            .poll_timeout()
            .map_or(Duration::from_secs(60), |at| {
                at.saturating_duration_since(Instant::now())
            })
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait))?;
        let (n, source) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if let Some(request) = embedded.handle_timeout(Instant::now()) {
                    println!("resync released: {}", request.event);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        received += 1;
        match embedded.handle(Instant::now(), source, Transport::Udp, &buf[..n]) {
            Verdict::Ours { reply, resync, .. } => {
                if let Some(reply) = reply {
                    socket.send_to(&reply, source)?;
                }
                if let Some(request) = resync {
                    println!("resync requested by {source}: {}", request.event);
                }
            }
            // A host stack would process it; this one has nothing else to do.
            Verdict::NotOurs => {}
        }
    }
    Ok(())
}

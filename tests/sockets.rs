//! Raw-socket tests of the listeners on 127.0.0.1: UDP retransmissions, TCP framing across
//! reads, keep-alives, and the TCP bounds.

mod support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use sip_resync::config::TcpOptions;
use support::read_answers;
use support::server::{TestServer, TestServerOptions};

fn notify(branch: &str, cseq: u32) -> Vec<u8> {
    format!(
        "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch={branch}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: sock-{branch}\r\nCSeq: {cseq} NOTIFY\r\nEvent: check-sync\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn udp_retransmissions_get_identical_answers_and_one_signal() {
    let server = TestServer::start(TestServerOptions::default());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let msg = notify("z9hG4bKretrans1", 1);
    let mut replies = Vec::new();
    for _ in 0..5 {
        sock.send_to(&msg, server.udp_addr()).unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(from, server.udp_addr());
        replies.push(buf[..n].to_vec());
    }
    assert!(
        replies.windows(2).all(|w| w[0] == w[1]),
        "every retransmission gets the same bytes"
    );
    assert!(replies[0].starts_with(b"SIP/2.0 200 OK\r\n"));
    assert_eq!(server.wait_for_signals(1, Duration::from_secs(1)).len(), 1);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        server.signal_count(),
        1,
        "exactly one signal for five copies"
    );
    assert_eq!(server.counters().retransmissions, 4);
}

/// Several UDP workers (each its own socket on the same port) with the default batching:
/// many clients, each with its own port, spread over the workers by the kernel; every
/// retransmission still reaches the worker that holds its transaction, and the counters add
/// up over the workers. The plain, one-datagram-per-call path is tested inside the crate
/// (`transport::tests`), where the batch size can be set.
#[test]
fn udp_workers_answer_retransmissions_from_one_worker_and_count_them_all() {
    use sip_resync::config::RateLimits;
    for workers in [1, 3] {
        let server = TestServer::start(TestServerOptions {
            udp_workers: workers,
            rate_limits: RateLimits::unlimited(),
            ..TestServerOptions::default()
        });
        let clients: Vec<UdpSocket> = (0..12)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                s
            })
            .collect();
        for (i, sock) in clients.iter().enumerate() {
            let msg = notify(&format!("z9hG4bKw{workers}c{i}"), 1);
            let mut replies = Vec::new();
            for _ in 0..3 {
                sock.send_to(&msg, server.udp_addr()).unwrap();
                let mut buf = [0u8; 4096];
                let (n, from) = sock.recv_from(&mut buf).unwrap();
                assert_eq!(
                    from,
                    server.udp_addr(),
                    "the reply comes from the bound port"
                );
                replies.push(buf[..n].to_vec());
            }
            assert!(replies.windows(2).all(|w| w[0] == w[1]), "client {i}");
            assert!(replies[0].starts_with(b"SIP/2.0 200 OK\r\n"), "client {i}");
        }
        assert_eq!(
            server.wait_for_signals(12, Duration::from_secs(2)).len(),
            12,
            "{workers} workers"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(server.signal_count(), 12, "one signal per NOTIFY");
        let c = server.counters();
        assert_eq!(
            (c.received, c.retransmissions, c.resync_requests),
            (36, 24, 12),
            "{workers} workers"
        );
    }
}

#[test]
fn tcp_several_messages_in_one_write_and_one_split_over_many() {
    let server = TestServer::start(TestServerOptions::default());
    let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
    let mut two = notify("z9hG4bKt1", 1);
    two.extend_from_slice(&notify("z9hG4bKt2", 2));
    s.write_all(&two).unwrap();
    let got = read_answers(&mut s, 2);
    assert_eq!(got.matches("SIP/2.0 200 OK").count(), 2, "{got}");
    let third = notify("z9hG4bKt3", 3);
    for chunk in third.chunks(7) {
        s.write_all(chunk).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let got = read_answers(&mut s, 1);
    assert!(got.contains("CSeq: 3 NOTIFY"), "{got}");
    assert_eq!(server.wait_for_signals(3, Duration::from_secs(2)).len(), 3);
    assert!(server.signals().iter().all(|s| s.transport == "tcp"));
}

#[test]
fn tcp_double_crlf_gets_a_single_crlf() {
    let server = TestServer::start(TestServerOptions::default());
    let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
    s.write_all(b"\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\r\n");
    // The connection is still usable afterwards.
    s.write_all(&notify("z9hG4bKping", 1)).unwrap();
    assert!(read_answers(&mut s, 1).starts_with("SIP/2.0 200 OK"));
}

#[test]
fn tcp_bad_content_length_closes_the_connection() {
    let server = TestServer::start(TestServerOptions::default());
    let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
    let msg = String::from_utf8(notify("z9hG4bKncl", 1))
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: -999");
    s.write_all(msg.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        s.read(&mut buf).unwrap_or(0),
        0,
        "closed without processing"
    );
    assert_eq!(server.signal_count(), 0);
}

#[test]
fn tcp_incomplete_message_hits_its_deadline_and_idle_connections_time_out() {
    let server = TestServer::start(TestServerOptions {
        tcp: TcpOptions {
            max_connections: 4,
            idle_timeout: Duration::from_millis(400),
            message_deadline: Duration::from_millis(300),
        },
        ..TestServerOptions::default()
    });
    let mut slow = TcpStream::connect(server.tcp_addr()).unwrap();
    slow.write_all(&notify("z9hG4bKslow", 1)[..40]).unwrap();
    let idle = TcpStream::connect(server.tcp_addr()).unwrap();
    for mut s in [slow, idle] {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 16];
        let started = std::time::Instant::now();
        assert_eq!(
            s.read(&mut buf).unwrap_or(0),
            0,
            "the server closes the connection"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn tcp_connection_cap_leaves_udp_answering() {
    let server = TestServer::start(TestServerOptions {
        tcp: TcpOptions {
            max_connections: 3,
            ..TcpOptions::default()
        },
        ..TestServerOptions::default()
    });
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.tcp_addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // A fourth connection is accepted and closed at once.
    let mut extra = TcpStream::connect(server.tcp_addr()).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = extra.write_all(&notify("z9hG4bKcap", 1));
    let mut buf = [0u8; 64];
    assert_eq!(extra.read(&mut buf).unwrap_or(0), 0);
    // UDP is unaffected.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&notify("z9hG4bKudp", 1), server.udp_addr())
        .unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    drop(held);
}

#[test]
fn ipv6_loopback_udp_and_tcp_with_the_notify_client() {
    use sip_resync::{send_notify, Agent, AgentOptions, ResyncRequest};

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let settings = sip_resync::config::from_bytes(b"", "ipv6.toml".as_ref()).unwrap();
        let options = AgentOptions::new(settings)
            .listen([
                "udp:[::1]:0".parse().unwrap(),
                "tcp:[::1]:0".parse().unwrap(),
            ])
            .resync_sink(move |req: ResyncRequest| {
                let _ = tx.send(req);
            });
        let agent = Agent::start(options)
            .await
            .expect("IPv6 loopback is available");
        let addrs = agent.local_addrs();
        let handle = agent.handle();
        let server = tokio::spawn(agent.run(std::future::pending()));
        for (transport, addr) in addrs {
            let fin = send_notify(
                transport,
                addr,
                "check-sync",
                "sip:1001@[::1]",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            assert_eq!(fin.code, 200, "{transport}");
            let req = rx.recv().await.unwrap();
            assert_eq!(req.transport, transport);
            assert!(req.source.is_ipv6());
        }
        handle.shutdown();
        server.await.unwrap();
    });
}

//! Self-tests of the HTTP test server in `support::http`, driven by a raw `TcpStream` client.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::http::{Fault, HttpServer};

/// A parsed response.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Sends one request with the given extra header lines.
fn send_request(stream: &mut TcpStream, method: &str, path: &str, extra: &[&str]) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for line in extra {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
}

/// Reads one response head, then exactly Content-Length body bytes (none for 304 or HEAD).
fn read_response(stream: &mut TcpStream, head_request: bool) -> Response {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "EOF inside head");
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if !head_request && status != 304 {
        let len: usize = resp.header("content-length").unwrap().parse().unwrap();
        resp.body = vec![0; len];
        stream.read_exact(&mut resp.body).unwrap();
    }
    resp
}

/// One GET on a fresh connection.
fn get(server: &HttpServer, path: &str, extra: &[&str]) -> Response {
    let mut stream = connect(server.addr());
    send_request(&mut stream, "GET", path, extra);
    read_response(&mut stream, false)
}

#[test]
fn get_returns_body_with_etag_and_last_modified() {
    let server = HttpServer::start();
    server.put("cfg/phone.xml", "<config/>");
    let resp = get(&server, "/cfg/phone.xml", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"<config/>");
    assert_eq!(resp.header("content-length"), Some("9"));
    assert_eq!(
        resp.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        resp.header("last-modified"),
        Some("Sat, 21 Nov 2026 10:00:00 GMT")
    );
    let etag = resp.header("etag").unwrap().to_string();
    assert_eq!(etag.len(), 18, "quoted 16 hex digits: {etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert!(etag[1..17].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        server.etag("/cfg/phone.xml").as_deref(),
        Some(etag.as_str())
    );

    // A new put changes the ETag and advances Last-Modified by one second.
    server.put("/cfg/phone.xml", "<config v='2'/>");
    let resp = get(&server, "/cfg/phone.xml", &[]);
    assert_ne!(resp.header("etag"), Some(etag.as_str()));
    assert_eq!(
        resp.header("last-modified"),
        Some("Sat, 21 Nov 2026 10:00:01 GMT")
    );

    // Without ETags only Last-Modified is sent; unknown paths are 404.
    server.set_etags(false);
    let resp = get(&server, "/cfg/phone.xml", &[]);
    assert_eq!(resp.header("etag"), None);
    assert!(resp.header("last-modified").is_some());
    assert_eq!(get(&server, "/missing", &[]).status, 404);
    assert_eq!(
        server.url("x.cfg"),
        format!("http://{}/x.cfg", server.addr())
    );
}

#[test]
fn conditional_get_answers_304_on_one_keep_alive_connection() {
    let server = HttpServer::start();
    server.put("/a.cfg", "alpha");
    let etag = server.etag("/a.cfg").unwrap();
    let last_modified = server.last_modified("/a.cfg").unwrap();

    let mut stream = connect(server.addr());
    send_request(&mut stream, "GET", "/a.cfg", &[]);
    assert_eq!(read_response(&mut stream, false).status, 200);

    let inm = format!("If-None-Match: {etag}");
    send_request(&mut stream, "GET", "/a.cfg", &[&inm]);
    let resp = read_response(&mut stream, false);
    assert_eq!(resp.status, 304);
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    assert_eq!(resp.header("content-length"), None);

    let ims = format!("If-Modified-Since: {last_modified}");
    send_request(&mut stream, "GET", "/a.cfg", &[&ims]);
    assert_eq!(read_response(&mut stream, false).status, 304);

    // A stale ETag gets the full body again.
    send_request(&mut stream, "GET", "/a.cfg", &["If-None-Match: \"0000\""]);
    let resp = read_response(&mut stream, false);
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"alpha"[..]));

    let log = server.requests();
    let statuses: Vec<u16> = log.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [200, 304, 304, 200]);
    assert_eq!(log[1].header("If-None-Match"), Some(etag.as_str()));
    assert!(log[1].headers.iter().any(|(n, _)| n == "if-none-match"));
}

#[test]
fn status_fault_overrides_and_clears() {
    let server = HttpServer::start();
    server.put("/a.cfg", "alpha");
    server.set_fault("/a.cfg", Fault::Status(500));
    let etag = server.etag("/a.cfg").unwrap();
    let inm = format!("If-None-Match: {etag}");
    let resp = get(&server, "/a.cfg", &[&inm]);
    assert_eq!(
        resp.status, 500,
        "a fault is applied before the conditional logic"
    );
    assert!(!resp.body.is_empty());

    server.set_fault("a.cfg", Fault::None);
    assert_eq!(get(&server, "/a.cfg", &[]).status, 200);
    let statuses: Vec<u16> = server.requests().iter().map(|s| s.status).collect();
    assert_eq!(statuses, [500, 200]);
}

#[test]
fn truncate_fault_sends_fewer_bytes_then_closes() {
    let server = HttpServer::start();
    server.put("/big.bin", vec![7u8; 1000]);
    server.set_fault("/big.bin", Fault::Truncate { send: 10 });
    let mut stream = connect(server.addr());
    send_request(&mut stream, "GET", "/big.bin", &[]);
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .expect("EOF after the truncated body");
    let text = String::from_utf8_lossy(&all);
    let split = text.find("\r\n\r\n").expect("complete head") + 4;
    assert!(text.starts_with("HTTP/1.1 200 "));
    assert!(text[..split].contains("Content-Length: 1000\r\n"));
    assert_eq!(all.len() - split, 10);
}

#[test]
fn counts_gets_per_path() {
    let server = HttpServer::start();
    server.put("/a", "a");
    server.put("/b", "b");
    for _ in 0..3 {
        get(&server, "/a", &[]);
    }
    get(&server, "/b", &[]);
    get(&server, "/nope", &[]);
    let mut stream = connect(server.addr());
    send_request(&mut stream, "HEAD", "/a", &[]);
    let head = read_response(&mut stream, true);
    assert_eq!(head.header("content-length"), Some("1"));
    send_request(&mut stream, "POST", "/a", &["Content-Length: 0"]);
    assert_eq!(read_response(&mut stream, false).status, 405);

    assert_eq!(server.get_count("/a"), 3);
    assert_eq!(server.get_count("b"), 1);
    assert_eq!(server.get_count("/nope"), 1);
    assert_eq!(server.total_gets(), 5);
    assert_eq!(server.requests().len(), 7);
    server.clear_log();
    assert_eq!(server.total_gets(), 0);
    assert!(server.requests().is_empty());
}

#[test]
fn drop_is_prompt_with_slow_responses_pending() {
    let server = HttpServer::start();
    server.put("/slow", vec![1u8; 100]);
    server.set_fault(
        "/slow",
        Fault::SlowBody {
            chunk: 1,
            pause: Duration::from_secs(1),
        },
    );
    server.put("/late", "x");
    server.set_fault("/late", Fault::Delay(Duration::from_secs(30)));
    let mut slow = connect(server.addr());
    send_request(&mut slow, "GET", "/slow", &[]);
    let mut late = connect(server.addr());
    send_request(&mut late, "GET", "/late", &[]);
    // Both are logged as soon as they are answered.
    let start = Instant::now();
    while server.requests().len() < 2 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.requests().len(), 2);

    let addr = server.addr();
    let start = Instant::now();
    drop(server);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "drop took {:?}",
        start.elapsed()
    );
    // Pending connections are closed and the port no longer accepts.
    let mut rest = Vec::new();
    let _ = late.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

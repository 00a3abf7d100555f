//! A small, real HTTP/1.1 file server on 127.0.0.1 for provisioning tests.
//!
//! It serves in-memory files with strong ETags and deterministic Last-Modified dates, answers
//! conditional GETs with 304, can inject per-path faults (error statuses, delays, slow or
//! truncated bodies, redirects, Basic or Digest authentication) and logs every request it saw.
//! [`HttpServer::start_tls`] serves HTTPS instead (rustls through tokio-rustls), optionally
//! requiring a client certificate signed by a given CA. The API is blocking, so it is usable
//! from plain `#[test]` functions; the server runs on its own thread with a current-thread
//! tokio runtime and stops when dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::rustls;

/// Largest request head (request line plus headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Unix time of the first put's Last-Modified: Sat, 21 Nov 2026 10:00:00 GMT.
const FIRST_LAST_MODIFIED: i64 = 1_795_255_200;

/// A fault injected for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No fault: serve normally.
    None,
    /// Answer with this status and a short body.
    Status(u16),
    /// 503 with `Retry-After` set to the value given.
    ServiceUnavailable { retry_after: String },
    /// Wait this long before sending the response head (a 304 is still possible).
    Delay(Duration),
    /// Send the head with the full Content-Length, then the body in `chunk`-byte pieces with
    /// `pause` between them (a 304 is still possible).
    SlowBody { chunk: usize, pause: Duration },
    /// Send the head with the full Content-Length but only `send` body bytes, then close.
    Truncate { send: usize },
    /// Answer `status` with `Location: to` (an absolute URL or a path).
    Redirect { to: String, status: u16 },
    /// 304 Not Modified whatever the request carried (with the file's validators).
    NotModified,
    /// The file's body gzip-encoded, with `Content-Encoding: gzip` (and the file's validators;
    /// a matching conditional request still gets 304).
    Gzip,
    /// The file's body as it is, labelled with `Content-Encoding:` this value.
    Encoded(String),
    /// 401 with `WWW-Authenticate: Basic realm="test"` unless the request carries matching
    /// basic credentials, in which case the path is served normally.
    RequireBasicAuth { user: String, pass: String },
    /// 401 with one `WWW-Authenticate: Digest` challenge per algorithm of `algorithms`
    /// (`"MD5"`, `"SHA-256"`, in the order given: the server's preference), realm `test`,
    /// `qop="auth"` and an `opaque`, unless the request carries an `Authorization: Digest`
    /// that answers one of them: a nonce this server issued, the request target as `uri`, the
    /// `opaque` returned, and the RFC 7616 response digest for `user` and `pass`. Checked here
    /// independently of the crate's digest code.
    RequireDigestAuth {
        user: String,
        pass: String,
        algorithms: Vec<String>,
    },
}

/// The certificate and key an HTTPS server presents, and the CA a client certificate must be
/// signed by, if one is required (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// With a CA, only clients presenting a certificate it signed complete the handshake.
    pub client_ca: Option<PathBuf>,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Request method as sent, e.g. "GET".
    pub method: String,
    /// Path without query, always beginning with '/'.
    pub path: String,
    /// Request headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Status the server answered with.
    pub status: u16,
    /// When the first byte of the request was read.
    pub at: Instant,
}

impl Seen {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// One served file.
struct File {
    body: Vec<u8>,
    /// Quoted strong entity tag.
    etag: String,
    /// Unix seconds.
    last_modified: i64,
}

/// Everything shared between the test thread and the server thread.
struct State {
    files: HashMap<String, File>,
    faults: HashMap<String, Fault>,
    etags: bool,
    /// Whether Last-Modified is sent (see [`HttpServer::set_last_modified`]).
    last_modified: bool,
    log: Vec<Seen>,
    puts: i64,
    /// Paths whose answers wait until released (see [`HttpServer::hold`]).
    held: std::collections::HashSet<String>,
    /// Digest nonces issued.
    nonces: std::collections::HashSet<String>,
    /// TLS handshakes that failed, with rustls's reason.
    tls_failures: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

/// Locks the state, ignoring poisoning (a panicking test must not break the server).
fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running server; dropping it stops the listener and every pending connection.
pub struct HttpServer {
    addr: SocketAddr,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tls: bool,
}

/// The rustls server configuration for `files`.
fn tls_acceptor(files: &TlsFiles) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .expect("server certificate file")
        .collect::<Result<_, _>>()
        .expect("server certificate PEM");
    let key = PrivateKeyDer::from_pem_file(&files.key).expect("server key PEM");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).expect("client CA file") {
                roots.add(cert.expect("client CA PEM")).expect("client CA");
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .expect("server certificate and key");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl HttpServer {
    /// Binds 127.0.0.1:0 and serves on a background thread.
    pub fn start() -> HttpServer {
        HttpServer::spawn(None)
    }

    /// Binds 127.0.0.1:0 and serves HTTPS with `files` on a background thread.
    pub fn start_tls(files: &TlsFiles) -> HttpServer {
        HttpServer::spawn(Some(tls_acceptor(files)))
    }

    fn spawn(acceptor: Option<tokio_rustls::TlsAcceptor>) -> HttpServer {
        let tls = acceptor.is_some();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let state: Shared = Arc::new(Mutex::new(State {
            files: HashMap::new(),
            faults: HashMap::new(),
            etags: true,
            last_modified: true,
            log: Vec::new(),
            puts: 0,
            held: std::collections::HashSet::new(),
            nonces: std::collections::HashSet::new(),
            tls_failures: Vec::new(),
        }));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("http-test-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(_) => return,
                    };
                    tokio::select! {
                        _ = stop_rx => {}
                        _ = accept_loop(listener, shared, acceptor) => {}
                    }
                });
                // Dropping a current-thread runtime drops every connection task still pending
                // (delays, slow bodies, idle keep-alives), closing their sockets.
                drop(rt);
            })
            .expect("spawn server thread");
        HttpServer {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
            tls,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path` (`https://` when serving TLS); `path` may be given with
    /// or without the leading '/'.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, normalise(path))
    }

    /// The TLS handshakes that failed, with rustls's reason, once there are `n` of them or
    /// `wait` has passed.
    pub fn tls_failures(&self, n: usize, wait: Duration) -> Vec<String> {
        let end = Instant::now() + wait;
        loop {
            let failures = lock(&self.state).tls_failures.clone();
            if failures.len() >= n || Instant::now() > end {
                return failures;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sets or replaces a file. The ETag becomes `"<first 16 hex digits of sha256(body)>"` and
    /// Last-Modified advances by one second per put, starting at Sat, 21 Nov 2026 10:00:00 GMT.
    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        let body = body.into();
        let etag = etag_of(&body);
        let mut st = lock(&self.state);
        let last_modified = FIRST_LAST_MODIFIED + st.puts;
        st.puts += 1;
        st.files.insert(
            normalise(path),
            File {
                body,
                etag,
                last_modified,
            },
        );
    }

    /// Removes a file (later requests get 404).
    pub fn remove(&self, path: &str) {
        lock(&self.state).files.remove(&normalise(path));
    }

    /// Sets the fault for a path; [`Fault::None`] clears it.
    pub fn set_fault(&self, path: &str, fault: Fault) {
        let mut st = lock(&self.state);
        match fault {
            Fault::None => st.faults.remove(&normalise(path)),
            f => st.faults.insert(normalise(path), f),
        };
    }

    /// Turns ETags on (the default) or off; when off only Last-Modified is sent and
    /// If-None-Match never matches.
    pub fn set_etags(&self, on: bool) {
        lock(&self.state).etags = on;
    }

    /// Turns Last-Modified on (the default) or off; with ETags off too, answers carry no
    /// validator at all.
    pub fn set_last_modified(&self, on: bool) {
        lock(&self.state).last_modified = on;
    }

    /// The current ETag of a file (quoted), whether or not ETags are being sent.
    pub fn etag(&self, path: &str) -> Option<String> {
        lock(&self.state)
            .files
            .get(&normalise(path))
            .map(|f| f.etag.clone())
    }

    /// The current Last-Modified of a file as an HTTP-date.
    pub fn last_modified(&self, path: &str) -> Option<String> {
        lock(&self.state)
            .files
            .get(&normalise(path))
            .map(|f| http_date(f.last_modified))
    }

    /// Every request seen, in order of arrival.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state).log.clone()
    }

    /// Number of GET requests seen for `path`.
    pub fn get_count(&self, path: &str) -> usize {
        let path = normalise(path);
        lock(&self.state)
            .log
            .iter()
            .filter(|s| s.method == "GET" && s.path == path)
            .count()
    }

    /// Number of GET requests seen for any path.
    pub fn total_gets(&self) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|s| s.method == "GET")
            .count()
    }

    /// Holds the answers to requests for `path` (they are logged when they arrive) until
    /// [`HttpServer::release`]: a client's fetch stays in flight for as long as a test needs.
    pub fn hold(&self, path: &str) {
        lock(&self.state).held.insert(normalise(path));
    }

    /// Lets held answers for `path` go, and later ones through at once.
    pub fn release(&self, path: &str) {
        lock(&self.state).held.remove(&normalise(path));
    }

    /// Waits (at most `wait`) until `n` GET requests were seen, and returns every request.
    pub fn wait_for_gets(&self, n: usize, wait: Duration) -> Vec<Seen> {
        let end = Instant::now() + wait;
        loop {
            if self.total_gets() >= n || Instant::now() > end {
                return self.requests();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Forgets the requests seen so far.
    pub fn clear_log(&self) {
        lock(&self.state).log.clear();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

async fn accept_loop(
    listener: TcpListener,
    state: Shared,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                match acceptor.clone() {
                    None => {
                        tokio::spawn(serve_connection(stream, state));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            match acceptor.accept(stream).await {
                                Ok(tls) => serve_connection(tls, state).await,
                                Err(e) => lock(&state).tls_failures.push(e.to_string()),
                            }
                        });
                    }
                }
            }
            // E.g. too many open files: back off briefly rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A parsed request head.
struct Request {
    method: String,
    path: String,
    /// The request target as sent (path and query).
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
    at: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the connection may stay open after this request.
    fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "connection")
                .flat_map(|(_, v)| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.http10 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

/// Serves requests on one connection until it closes or asks to close. Never panics; I/O
/// errors just end the connection.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: Shared) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let (head, at) = match read_head(&mut stream, &mut buf).await {
            Head::Complete(head, at) => (head, at),
            Head::TooLarge => {
                let reply = Reply::text(431, "request head too large\n").closing();
                let _ = send(&mut stream, &reply).await;
                return;
            }
            Head::Closed => return,
        };
        let Some(req) = parse_head(&head, at) else {
            let _ = send(&mut stream, &Reply::text(400, "bad request\n").closing()).await;
            return;
        };
        // Request bodies are ignored: discard Content-Length bytes; chunked bodies are not
        // supported, so the connection is closed after the answer.
        let chunked = req.header("transfer-encoding").is_some();
        let length = req
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if !chunked && !discard(&mut stream, &mut buf, length).await {
            return;
        }
        let mut reply = answer(&state, &req);
        while lock(&state).held.contains(&req.path) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if chunked || !req.keep_alive() {
            reply = reply.closing();
        } else if req.http10 {
            reply
                .headers
                .push(("Connection".into(), "keep-alive".into()));
        }
        if !send(&mut stream, &reply).await || reply.close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

enum Head {
    /// The head, and when its first byte was read.
    Complete(Vec<u8>, Instant),
    TooLarge,
    Closed,
}

/// Reads up to and including the blank line ending a request head. Bytes read past it stay
/// in `buf` for the next request.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Head {
    let mut first: Option<Instant> = None;
    loop {
        // Tolerate stray CRLFs between pipelined requests.
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if !buf.is_empty() {
            first.get_or_insert_with(Instant::now);
        }
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = buf[..end + 4].to_vec();
            buf.drain(..end + 4);
            return Head::Complete(head, first.unwrap_or_else(Instant::now));
        }
        if buf.len() > MAX_HEAD {
            return Head::TooLarge;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Head::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Drops `length` body bytes, first from `buf`, then from the stream. False on EOF/error.
async fn discard<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>, length: usize) -> bool {
    let from_buf = length.min(buf.len());
    buf.drain(..from_buf);
    let mut left = length - from_buf;
    let mut chunk = [0u8; 4096];
    while left > 0 {
        match stream.read(&mut chunk[..left.min(4096)]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => left -= n,
        }
    }
    true
}

/// Parses the request line and headers; None if malformed.
fn parse_head(head: &[u8], at: Instant) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method.is_empty() || parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(Request {
        method: method.to_string(),
        path: target_path(target),
        target: target.to_string(),
        http10: version == "HTTP/1.0",
        headers,
        at,
    })
}

/// The path of a request target (origin or absolute form), without query or fragment.
fn target_path(target: &str) -> String {
    let rest = match target.split_once("://") {
        Some((_, after)) => after.find('/').map_or("/", |i| &after[i..]),
        None => target,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    normalise(&rest[..end])
}

/// Decides the answer to a request and logs it.
fn answer(state: &Shared, req: &Request) -> Reply {
    let mut st = lock(state);
    let reply = decide(&mut st, req);
    st.log.push(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers.clone(),
        status: reply.status,
        at: req.at,
    });
    reply
}

fn decide(st: &mut State, req: &Request) -> Reply {
    let head_only = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => return Reply::text(405, "method not allowed\n").header("Allow", "GET, HEAD"),
    };
    let fault = st.faults.get(&req.path).cloned().unwrap_or(Fault::None);
    // Faults answering on their own come before any conditional logic.
    let mut reply = match fault {
        Fault::Status(status) => Reply::text(status, &format!("injected status {status}\n")),
        Fault::ServiceUnavailable { retry_after } => {
            Reply::text(503, "service unavailable\n").header("Retry-After", &retry_after)
        }
        Fault::Redirect { to, status } => Reply::text(status, "redirect\n").header("Location", &to),
        Fault::RequireBasicAuth { user, pass }
            if !basic_auth_matches(req.header("authorization"), &user, &pass) =>
        {
            Reply::text(401, "unauthorized\n").header("WWW-Authenticate", "Basic realm=\"test\"")
        }
        Fault::RequireDigestAuth {
            user,
            pass,
            algorithms,
        } if !digest_auth_matches(st, req, &user, &pass, &algorithms) => {
            let nonce = format!("{:016x}", st.nonces.len() as u64 ^ 0x5eed_0000_7e57_0000);
            st.nonces.insert(nonce.clone());
            let mut reply = Reply::text(401, "unauthorized\n");
            for alg in &algorithms {
                reply = reply.header(
                    "WWW-Authenticate",
                    &format!(
                        "Digest realm=\"test\", qop=\"auth\", algorithm={alg}, \
                         nonce=\"{nonce}\", opaque=\"{DIGEST_OPAQUE}\""
                    ),
                );
            }
            reply
        }
        Fault::NotModified => match st.files.get(&req.path) {
            Some(file) => {
                let mut reply = full_response(st, file);
                reply.status = 304;
                reply.body.clear();
                reply
            }
            None => not_found(),
        },
        Fault::Gzip | Fault::Encoded(_) => {
            let mut reply = serve_file(st, req);
            if reply.status == 200 {
                let coding = match &fault {
                    Fault::Encoded(coding) => coding.clone(),
                    _ => {
                        use std::io::Write;
                        let mut enc = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        enc.write_all(&reply.body).expect("gzip");
                        reply.body = enc.finish().expect("gzip");
                        "gzip".to_owned()
                    }
                };
                reply = reply.header("Content-Encoding", &coding);
            }
            reply
        }
        Fault::Truncate { send } => match st.files.get(&req.path) {
            Some(file) => {
                let mut reply = full_response(st, file);
                reply.mode = BodyMode::Truncate(send);
                reply.close = true;
                reply
            }
            None => not_found(),
        },
        Fault::Delay(delay) => {
            let mut reply = serve_file(st, req);
            reply.delay = Some(delay);
            reply
        }
        Fault::SlowBody { chunk, pause } => {
            let mut reply = serve_file(st, req);
            reply.mode = BodyMode::Slow { chunk, pause };
            reply
        }
        Fault::None | Fault::RequireBasicAuth { .. } | Fault::RequireDigestAuth { .. } => {
            serve_file(st, req)
        }
    };
    reply.head_only = head_only;
    reply
}

/// The normal answer: 404, 304 for a matching conditional request, or 200.
fn serve_file(st: &State, req: &Request) -> Reply {
    let Some(file) = st.files.get(&req.path) else {
        return not_found();
    };
    let not_modified = match req.header("if-none-match") {
        // If-None-Match takes precedence; If-Modified-Since is then ignored.
        Some(inm) => st.etags && etag_list_matches(inm, &file.etag),
        None => req.header("if-modified-since").is_some_and(|ims| {
            let ims = ims.trim();
            ims == http_date(file.last_modified)
                || parse_http_date(ims).is_some_and(|t| t >= file.last_modified)
        }),
    };
    if not_modified {
        let mut reply = Reply::new(304);
        if st.etags {
            reply = reply.header("ETag", &file.etag);
        }
        if st.last_modified {
            reply = reply.header("Last-Modified", &http_date(file.last_modified));
        }
        reply
    } else {
        full_response(st, file)
    }
}

/// 200 with the file's body and validators.
fn full_response(st: &State, file: &File) -> Reply {
    let mut reply = Reply::new(200).header("Content-Type", "application/octet-stream");
    if st.etags {
        reply = reply.header("ETag", &file.etag);
    }
    if st.last_modified {
        reply = reply.header("Last-Modified", &http_date(file.last_modified));
    }
    reply.body = file.body.clone();
    reply
}

fn not_found() -> Reply {
    Reply::text(404, "not found\n")
}

/// `If-None-Match` (a list, weak comparison, or `*`) against the current ETag.
fn etag_list_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn basic_auth_matches(header: Option<&str>, user: &str, pass: &str) -> bool {
    let expected = base64(format!("{user}:{pass}").as_bytes());
    header
        .and_then(|h| h.trim().split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("basic") && token.trim() == expected
        })
}

/// The `opaque` of every Digest challenge; a client must return it unchanged.
const DIGEST_OPAQUE: &str = "b0a7e1f8c2d94e36";

/// Whether the request's `Authorization: Digest` answers a challenge of this server (RFC 7616
/// §3.4, `qop=auth`) for `user` with `pass`, with one of `algorithms`.
fn digest_auth_matches(
    st: &State,
    req: &Request,
    user: &str,
    pass: &str,
    algorithms: &[String],
) -> bool {
    let Some(fields) = req.header("authorization").and_then(digest_fields) else {
        return false;
    };
    let get = |name: &str| fields.get(name).map(String::as_str);
    let algorithm = get("algorithm").unwrap_or("MD5");
    let hash = |text: String| -> String {
        let bytes = if algorithm.eq_ignore_ascii_case("SHA-256") {
            Sha256::digest(text.as_bytes()).to_vec()
        } else {
            Md5::digest(text.as_bytes()).to_vec()
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let (Some(nonce), Some(uri), Some(nc), Some(cnonce), Some(response)) = (
        get("nonce"),
        get("uri"),
        get("nc"),
        get("cnonce"),
        get("response"),
    ) else {
        return false;
    };
    let ha1 = hash(format!("{user}:test:{pass}"));
    let ha2 = hash(format!("{}:{uri}", req.method));
    let expected = hash(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    algorithms.iter().any(|a| a.eq_ignore_ascii_case(algorithm))
        && get("username") == Some(user)
        && get("realm") == Some("test")
        && get("qop") == Some("auth")
        && get("opaque") == Some(DIGEST_OPAQUE)
        && nc.len() == 8
        && !cnonce.is_empty()
        && st.nonces.contains(nonce)
        && uri == req.target
        && response == expected
}

/// The parameters of a `Digest` credentials value (names lowercased, quotes and escapes
/// removed); `None` for another scheme or a malformed value.
fn digest_fields(value: &str) -> Option<HashMap<String, String>> {
    let rest = value.trim().strip_prefix("Digest ")?;
    let mut fields = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(fields);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => val.push(chars.next()?),
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_whitespace()) {
                val.push(c);
            }
        }
        fields.insert(name.trim().to_ascii_lowercase(), val);
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

enum BodyMode {
    Whole,
    Slow { chunk: usize, pause: Duration },
    Truncate(usize),
}

/// A response to write; Content-Length is always the full body length.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// HEAD: the head (with the GET Content-Length) but no body.
    head_only: bool,
    delay: Option<Duration>,
    mode: BodyMode,
    close: bool,
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            head_only: false,
            delay: None,
            mode: BodyMode::Whole,
            close: false,
        }
    }

    fn text(status: u16, body: &str) -> Reply {
        let mut reply = Reply::new(status).header("Content-Type", "text/plain");
        reply.body = body.as_bytes().to_vec();
        reply
    }

    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    /// Whether the status forbids a body (1xx, 204, 304).
    fn bodiless(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }

    fn head_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if !self.bodiless() {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// Writes a reply (after its delay, paced or cut short as asked). False if the client went
/// away or the connection must close.
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, reply: &Reply) -> bool {
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    if stream.write_all(&reply.head_bytes()).await.is_err() {
        return false;
    }
    let body: &[u8] = if reply.head_only || reply.bodiless() {
        &[]
    } else {
        &reply.body
    };
    let written = match reply.mode {
        BodyMode::Whole => stream.write_all(body).await.is_ok(),
        BodyMode::Slow { chunk, pause } => {
            let mut ok = true;
            for (i, piece) in body.chunks(chunk.max(1)).enumerate() {
                if i > 0 {
                    tokio::time::sleep(pause).await;
                }
                if stream.write_all(piece).await.is_err() {
                    ok = false;
                    break;
                }
            }
            ok
        }
        BodyMode::Truncate(send) => {
            let _ = stream.write_all(&body[..send.min(body.len())]).await;
            false
        }
    };
    let _ = stream.flush().await;
    written && !reply.close
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// Ensures a leading '/'.
fn normalise(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `"<first 16 hex digits of sha256(body)>"`.
fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in input.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds as an IMF-fixdate, e.g. "Sat, 21 Nov 2026 10:00:00 GMT".
fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days + 4).rem_euclid(7) as usize], // 1970-01-01 was a Thursday
        d,
        MONTHS[(m - 1) as usize],
        y,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// Parses an IMF-fixdate (the weekday is not checked); None for other formats.
fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let d: i64 = day.parse().ok()?;
    let m = MONTHS.iter().position(|n| n == month)? as i64 + 1;
    let y: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

//! FTP and FTPS (explicit TLS, RFC 4217) for provisioning files, with `suppaftp`.
//!
//! One control connection per file: the greeting, `AUTH TLS` then `PBSZ 0` and `PROT P` for
//! `ftps` (the data connection is encrypted too), the login (`anonymous` when the URL has no
//! `user:pass@`), `TYPE I`, `SIZE` (a size above `provisioning.max_file_size` ends the fetch
//! before the transfer; a server without `SIZE` is fine), then `RETR` in passive mode. The data
//! connection goes to the control connection's address whatever the `PASV` answer names, so
//! a server cannot point it elsewhere. The transfer is bounded while it is read, and the whole
//! exchange by `provisioning.timeout_secs` (`connect_timeout_secs` for the TCP connect).
//!
//! TLS is rustls with the trust of HTTPS: the platform's roots plus `provisioning.ca_files`,
//! and the client certificate when one is configured.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_resync_core::engine::{Credentials, FetchError};
use sip_resync_core::escape;
use sip_resync_core::sync::lock;
use suppaftp::tokio::{AsyncRustlsFtpStream, AsyncRustlsStream, AsyncTlsConnector};
use suppaftp::types::{FileType, Mode};
use suppaftp::{FtpError, FtpResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The password of an anonymous login: by custom, an address-like string naming the client.
const ANONYMOUS_PASSWORD: &str = "sip-resync@";

/// The bounds of one FTP fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FtpLimits {
    /// TCP connect.
    pub connect_timeout: Duration,
    /// The whole exchange.
    pub timeout: Duration,
    /// Largest file accepted.
    pub max_bytes: u64,
}

/// What one fetch needs to know of its URL.
pub(super) struct FtpTarget<'a> {
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    pub credentials: Option<&'a Credentials>,
    /// The TLS configuration for `ftps`; `None` for plain `ftp`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A rustls connector for suppaftp that keeps the rustls error of a failed handshake, so
/// that it can be explained as HTTPS's are.
#[derive(Clone)]
struct Connector {
    inner: tokio_rustls::TlsConnector,
    failure: Arc<Mutex<Option<rustls::Error>>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

impl AsyncTlsConnector for Connector {
    type Stream = AsyncRustlsStream;

    fn connect<'a, 'b, 'c>(
        &'a self,
        domain: &'b str,
        stream: TcpStream,
    ) -> Pin<Box<dyn Future<Output = FtpResult<Self::Stream>> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            let name = rustls_pki_types::ServerName::try_from(domain.to_owned())
                .map_err(|e| FtpError::SecureError(e.to_string()))?;
            match self.inner.connect(name, stream).await {
                Ok(tls) => Ok(AsyncRustlsStream::from(tls)),
                Err(e) => {
                    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                        *lock(&self.failure) = Some(tls.clone());
                    }
                    Err(FtpError::SecureError(e.to_string()))
                }
            }
        })
    }
}

/// What to check after a refused command.
fn hint(command: &'static str, code: u16) -> &'static str {
    match (command, code) {
        ("USER/PASS", 530) => {
            " (check the user:pass@ in the file's URL; without one, the login is anonymous)"
        }
        ("RETR" | "SIZE", 550) => " (check the URL and {MAC}/{MODEL})",
        ("AUTH TLS", _) => {
            " (the server does not offer explicit TLS: use ftp:// or enable TLS on the server)"
        }
        _ => "",
    }
}

/// Turns suppaftp's error for `command` into a [`FetchError`]; `tls` is the handshake's
/// rustls error, if one failed, and `explain` puts it in words.
fn classify(
    e: FtpError,
    command: &'static str,
    tls: &Mutex<Option<rustls::Error>>,
    explain: &(dyn Fn(&rustls::Error) -> String + Sync),
) -> FetchError {
    match e {
        FtpError::UnexpectedResponse(r) => {
            let code = u16::try_from(r.status.code()).unwrap_or(0);
            let text = String::from_utf8_lossy(&r.body);
            let text = text.trim_end();
            // The reply's text without its code ("550 No such file." or "550-...").
            let text = match text.get(..4) {
                Some(head) if head.starts_with(&code.to_string()) => &text[4..],
                _ => text,
            };
            FetchError::Ftp {
                command,
                code,
                message: escape::excerpt(text.trim().as_bytes()),
                hint: hint(command, code),
            }
        }
        FtpError::SecureError(s) => match lock(tls).take() {
            Some(rustls) => FetchError::Tls(explain(&rustls)),
            None => FetchError::Tls(s),
        },
        FtpError::ConnectionError(io) => FetchError::Truncated(format!("{command}: {io}")),
        FtpError::BadResponse => {
            FetchError::Protocol(format!("a malformed FTP reply to {command}"))
        }
        other => FetchError::Other(format!("{command}: {other}")),
    }
}

/// Retrieves one file. `explain` words a TLS failure.
pub(super) async fn get(
    target: FtpTarget<'_>,
    limits: &FtpLimits,
    explain: &(dyn Fn(&rustls::Error) -> String + Sync),
) -> Result<Vec<u8>, FetchError> {
    tokio::time::timeout(limits.timeout, exchange(target, limits, explain))
        .await
        .unwrap_or(Err(FetchError::Timeout(limits.timeout)))
}

async fn exchange(
    target: FtpTarget<'_>,
    limits: &FtpLimits,
    explain: &(dyn Fn(&rustls::Error) -> String + Sync),
) -> Result<Vec<u8>, FetchError> {
    let failure = Arc::new(Mutex::new(None));
    let err = |command: &'static str| {
        let failure = failure.clone();
        move |e: FtpError| classify(e, command, &failure, explain)
    };
    let addr: SocketAddr = tokio::net::lookup_host((target.host, target.port))
        .await
        .map_err(|e| FetchError::Connect(format!("cannot resolve {}: {e}", target.host)))?
        .next()
        .ok_or_else(|| FetchError::Connect(format!("{} has no address", target.host)))?;
    let tcp = tokio::time::timeout(limits.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| FetchError::Timeout(limits.connect_timeout))?
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let mut ftp = AsyncRustlsFtpStream::connect_with_stream(tcp)
        .await
        .map_err(err("the greeting"))?;
    if let Some(config) = target.tls {
        let connector = Connector {
            inner: tokio_rustls::TlsConnector::from(config),
            failure: failure.clone(),
        };
        ftp = ftp
            .into_secure(connector, target.host)
            .await
            .map_err(err("AUTH TLS"))?;
    }
    // The data connection goes to the control connection's address, never to another host
    // a PASV answer names; EPSV (RFC 2428) over IPv6.
    ftp.set_passive_nat_workaround(true);
    ftp.set_mode(if addr.is_ipv6() {
        Mode::ExtendedPassive
    } else {
        Mode::Passive
    });
    let (user, password) = match target.credentials {
        Some(c) => (c.user.as_str(), c.password.as_str()),
        None => ("anonymous", ANONYMOUS_PASSWORD),
    };
    ftp.login(user, password).await.map_err(err("USER/PASS"))?;
    ftp.transfer_type(FileType::Binary)
        .await
        .map_err(err("TYPE I"))?;
    let limit = limits.max_bytes;
    match ftp.size(target.path).await {
        Ok(size) if size as u64 > limit => {
            return Err(FetchError::AnnouncedTooLarge {
                size: size as u64,
                limit,
            })
        }
        // A server without SIZE (or refusing it for this file) still gets the RETR, whose
        // answer says what is wrong, if anything.
        Ok(_) | Err(FtpError::UnexpectedResponse(_) | FtpError::BadResponse) => {}
        Err(e) => return Err(err("SIZE")(e)),
    }
    let mut stream = ftp.retr_as_stream(target.path).await.map_err(err("RETR"))?;
    let mut bytes = Vec::new();
    (&mut stream)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| FetchError::Truncated(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(FetchError::TooLarge { limit });
    }
    // The 226 after the data: a transfer the server aborted is not taken as complete.
    stream.finish().await.map_err(err("RETR"))?;
    let _ = ftp.quit().await;
    Ok(bytes)
}

//! TLS for the SIP listener (RFC 3261 §26.2): the rustls server configuration built from
//! `[sip.tls]`, and the acceptor the TLS listeners share.
//!
//! The files are read and checked here, at start and at every reload: PEM syntax, a private
//! key that matches the certificate, no expired certificate (checked against the clock read
//! by the caller), and, for mutual TLS, CA certificates rustls accepts as trust anchors
//! (`WebPkiClientVerifier`: a peer without a certificate signed by one of them fails the
//! handshake). A reload builds a whole new configuration and swaps it in; a connection reads
//! the current one once, when it is accepted, and keeps it. So a reload never touches a
//! connection that is open, and a failed reload leaves the previous configuration in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;

/// Why the TLS listener cannot be set up from `[sip.tls]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A `tls:` listening address without `[sip.tls]`.
    #[error("a tls: listening address needs sip.tls.certificate and sip.tls.private_key (PEM files) in the configuration")]
    NotConfigured,
    /// A file named in `[sip.tls]` cannot be used.
    #[error("{key} {}: {reason}", path.display())]
    File {
        /// The setting that names the file (`sip.tls.certificate`, …).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        reason: String,
    },
}

fn file_error(key: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::File {
        key,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A TLS server configuration ready to accept connections with.
#[derive(Clone)]
pub(crate) struct TlsServer {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    not_after: Option<Timestamp>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Reads the files of `settings` and builds the server configuration; `now` is the wall
    /// clock the certificates' expiry is checked against.
    pub(crate) fn load(settings: &TlsSettings, now: Timestamp) -> Result<TlsServer, TlsError> {
        let provider = crate::crypto::provider();
        let chain = certificates(
            "sip.tls.certificate",
            &settings.certificate,
            now,
            "certificate",
        )?;
        let key = private_key(&settings.private_key)?;
        let not_after = validity(&chain[0]).map(|(_, end)| end);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| file_error("sip.tls.certificate", &settings.certificate, e.to_string()))?;
        let builder = match &settings.client_ca {
            Some(path) => builder.with_client_cert_verifier(client_verifier(path, now, provider)?),
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => file_error(
                "sip.tls.private_key",
                &settings.private_key,
                format!(
                    "not the key of the certificate in {}: name the matching pair",
                    settings.certificate.display()
                ),
            ),
            rustls::Error::InvalidCertificate(e) => file_error(
                "sip.tls.certificate",
                &settings.certificate,
                format!("its first certificate cannot be used: {e}"),
            ),
            e => file_error(
                "sip.tls.private_key",
                &settings.private_key,
                format!("cannot be used: {e}"),
            ),
        })?;
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            handshake_timeout: settings.handshake_timeout,
            not_after,
        })
    }

    /// The acceptor a connection performs its handshake with.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The longest time a handshake may take.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// When the server's own certificate expires, when its dates could be read.
    pub(crate) fn not_after(&self) -> Option<Timestamp> {
        self.not_after
    }
}

/// The TLS configuration the TLS listeners accept with, shared with whoever reloads it.
/// A connection reads it once, when accepted ([`SharedTls::current`]); [`SharedTls::replace`]
/// affects the connections accepted after it.
#[derive(Debug, Clone)]
pub(crate) struct SharedTls(Arc<RwLock<Arc<TlsServer>>>);

impl SharedTls {
    /// Shares `server`.
    pub(crate) fn new(server: TlsServer) -> SharedTls {
        SharedTls(Arc::new(RwLock::new(Arc::new(server))))
    }

    /// The configuration in force.
    pub(crate) fn current(&self) -> Arc<TlsServer> {
        sip_resync_core::sync::read(&self.0).clone()
    }

    /// Makes `server` the configuration of the connections accepted from now on.
    pub(crate) fn replace(&self, server: TlsServer) {
        *sip_resync_core::sync::write(&self.0) = Arc::new(server);
    }
}

/// Every certificate of a PEM file, each within its dates at `now`. `what` names them in
/// messages (`certificate`, `CA certificate`).
fn certificates(
    key: &'static str,
    path: &Path,
    now: Timestamp,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = crate::pem::read(path)
        .and_then(|bytes| crate::pem::certificates(&bytes))
        .map_err(|reason| file_error(key, path, reason.to_string()))?;
    for (i, cert) in certs.iter().enumerate() {
        let Some((not_before, not_after)) = validity(cert) else {
            continue;
        };
        let which = if certs.len() == 1 {
            format!("the {what}")
        } else {
            format!("{what} {} of {}", i + 1, certs.len())
        };
        if not_after < now {
            return Err(file_error(
                key,
                path,
                format!("{which} expired at {not_after}: renew it"),
            ));
        }
        if not_before > now {
            // Not refused: the clock may not be set yet (a phone before NTP). Peers whose clock
            // is right refuse it until then.
            tracing::warn!(
                "{key} {}: {which} is valid only from {not_before} (this clock reads {now})",
                path.display()
            );
        }
    }
    Ok(certs)
}

/// The first private key of a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    crate::pem::read(path)
        .and_then(|bytes| crate::pem::private_key(&bytes))
        .map_err(|reason| file_error("sip.tls.private_key", path, reason.to_string()))
}

/// The verifier of mutual TLS: a peer's certificate must chain to a CA of `path`.
fn client_verifier(
    path: &Path,
    now: Timestamp,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    const KEY: &str = "sip.tls.client_ca";
    let mut roots = RootCertStore::empty();
    let cas = certificates(KEY, path, now, "CA certificate")?;
    let count = cas.len();
    for (i, ca) in cas.into_iter().enumerate() {
        roots.add(ca).map_err(|e| {
            file_error(
                KEY,
                path,
                format!("CA certificate {} of {count} cannot be used: {e}", i + 1),
            )
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| file_error(KEY, path, format!("cannot be used: {e}")))
}

/// The validity period (notBefore, notAfter) of a DER certificate (RFC 5280 §4.1.2.5); `None`
/// when it cannot be read (rustls then judges the encoding).
fn validity(der: &[u8]) -> Option<(Timestamp, Timestamp)> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0; // [0] EXPLICIT
    let (cert, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (validity, _) = element(rest, SEQUENCE)?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Some((not_before, not_after))
}

/// One DER element: its tag, its contents and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The contents of an element with tag `tag`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = tlv(input)?;
    (t == tag).then_some((contents, rest))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), the
/// two forms RFC 5280 §4.1.2.5 allows, and what follows it.
fn time(input: &[u8]) -> Option<(Timestamp, &[u8])> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let (tag, value, rest) = tlv(input)?;
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0i16, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i16::from(b - b'0'))
        })
    };
    let (year, value) = match (tag, value.len()) {
        (UTC_TIME, 13) => {
            let yy = number(&value[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &value[2..])
        }
        (GENERALIZED_TIME, 15) => (number(&value[..4])?, &value[4..]),
        _ => return None,
    };
    if value[10] != b'Z' {
        return None;
    }
    let two = |at: usize| number(&value[at..at + 2]).and_then(|n| i8::try_from(n).ok());
    let at = jiff::civil::DateTime::new(year, two(0)?, two(2)?, two(4)?, two(6)?, two(8)?, 0)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp();
    Some((at, rest))
}

#[cfg(test)]
#[path = "../../../../tests/support/pki.rs"]
#[allow(dead_code, unreachable_pub)]
mod pki;

#[cfg(test)]
mod tests {
    use super::*;
    use pki::Ca;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::TlsConnector;

    fn settings(cert: &pki::Issued, client_ca: Option<&Path>) -> TlsSettings {
        TlsSettings {
            certificate: cert.cert.clone(),
            private_key: cert.key.clone(),
            client_ca: client_ca.map(Path::to_owned),
            handshake_timeout: crate::config::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    fn reason(e: TlsError) -> (&'static str, String) {
        match e {
            TlsError::File { key, reason, .. } => (key, reason),
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn the_dates_of_a_certificate_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "dates");
        let expired = ca.expired_server("old");
        let der = CertificateDer::from_pem_file(&expired.cert).unwrap();
        let (from, to) = validity(&der).unwrap();
        assert_eq!(from.to_string(), "2019-01-01T00:00:00Z");
        assert_eq!(to.to_string(), "2020-01-01T00:00:00Z");
        // GeneralizedTime, and the UTCTime century rule.
        assert_eq!(
            time(b"\x18\x0f20500101000000Z").unwrap().0.to_string(),
            "2050-01-01T00:00:00Z"
        );
        assert_eq!(
            time(b"\x17\x0d491231235959Z").unwrap().0.to_string(),
            "2049-12-31T23:59:59Z"
        );
        assert_eq!(
            time(b"\x17\x0d500101000000Z").unwrap().0.to_string(),
            "1950-01-01T00:00:00Z"
        );
        for bad in [
            &b"\x17\x0d50010100000+Z"[..],
            b"\x17\x0d5001010000001",
            b"\x17\x0c5001010000Z",
            b"\x17\x0d501301000000Z",
            b"\x17\x20",
        ] {
            assert_eq!(time(bad), None, "{bad:?}");
        }
        assert_eq!(validity(b"\x30\x84\xff\xff\xff\xff"), None);
        assert_eq!(validity(b""), None);
    }

    #[test]
    fn wrong_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "files");
        let good = ca.server("good");
        let other = ca.server("other");
        let now = Timestamp::now();
        assert!(TlsServer::load(&settings(&good, None), now).is_ok());
        let (key, why) =
            reason(TlsServer::load(&settings(&ca.expired_server("old"), None), now).unwrap_err());
        assert_eq!(key, "sip.tls.certificate");
        assert_eq!(
            why,
            "the certificate expired at 2020-01-01T00:00:00Z: renew it"
        );
        let mismatched = TlsSettings {
            private_key: other.key.clone(),
            ..settings(&good, None)
        };
        let (key, why) = reason(TlsServer::load(&mismatched, now).unwrap_err());
        assert_eq!(key, "sip.tls.private_key");
        assert!(
            why.starts_with("not the key of the certificate in "),
            "{why}"
        );
        let swapped = TlsSettings {
            certificate: good.key.clone(),
            private_key: good.cert.clone(),
            ..settings(&good, None)
        };
        let (key, why) = reason(TlsServer::load(&swapped, now).unwrap_err());
        assert_eq!(key, "sip.tls.certificate");
        assert!(why.starts_with("no certificate in it"), "{why}");
        let no_key = TlsSettings {
            private_key: ca.cert.clone(),
            ..settings(&good, None)
        };
        let (key, why) = reason(TlsServer::load(&no_key, now).unwrap_err());
        assert_eq!(key, "sip.tls.private_key");
        assert!(why.starts_with("no private key in it"), "{why}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n!!!!\n").unwrap();
        let (_, why) = reason(
            TlsServer::load(
                &TlsSettings {
                    certificate: garbage.clone(),
                    ..settings(&good, None)
                },
                now,
            )
            .unwrap_err(),
        );
        assert!(why.starts_with("not PEM"), "{why}");
        let (key, why) = reason(
            TlsServer::load(&settings(&good, Some(&dir.path().join("gone.pem"))), now).unwrap_err(),
        );
        assert_eq!(key, "sip.tls.client_ca");
        assert!(why.starts_with("cannot read: "), "{why}");
        let e = TlsServer::load(&settings(&ca.expired_server("old2"), None), now).unwrap_err();
        assert!(e.to_string().starts_with(&format!(
            "sip.tls.certificate {}: the certificate expired",
            dir.path().join("old2.crt").display()
        )));
    }

    /// A TLS client on loopback: trusts `ca`, shows `identity` when given; returns what the
    /// server echoed, or the error of the handshake or of the first read.
    async fn client(
        addr: std::net::SocketAddr,
        ca: &Path,
        identity: Option<&pki::Issued>,
    ) -> std::io::Result<Vec<u8>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = TlsConnector::from(pki::client_config(ca, identity))
            .connect(name, tcp)
            .await?;
        tls.write_all(b"ping").await?;
        let mut got = vec![0u8; 4];
        tls.read_exact(&mut got).await?;
        Ok(got)
    }

    /// Accepts `n` connections with whatever `shared` holds at each accept, and echoes four
    /// bytes on each that completes its handshake.
    async fn echo_server(shared: SharedTls, n: usize) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..n {
                let (tcp, _) = listener.accept().await.unwrap();
                let server = shared.current();
                tokio::spawn(async move {
                    if let Ok(mut tls) = server.acceptor().accept(tcp).await {
                        let mut buf = [0u8; 4];
                        if tls.read_exact(&mut buf).await.is_ok() {
                            let _ = tls.write_all(&buf).await;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn mutual_tls_admits_only_certificates_of_the_client_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "pbx");
        let stranger_ca = Ca::new(dir.path(), "stranger");
        let server = TlsServer::load(
            &settings(&ca.server("phone"), Some(&ca.cert)),
            Timestamp::now(),
        )
        .unwrap();
        let addr = echo_server(SharedTls::new(server), 3).await;
        let pbx = ca.client("pbx");
        assert_eq!(client(addr, &ca.cert, Some(&pbx)).await.unwrap(), b"ping");
        // TLS 1.3: the server's refusal of the client's certificate arrives after the
        // client's handshake has finished, as an alert in place of the first read.
        let e = client(addr, &ca.cert, None).await.unwrap_err();
        assert_eq!(e.to_string(), "received fatal alert: CertificateRequired");
        let stranger = stranger_ca.client("stranger");
        let e = client(addr, &ca.cert, Some(&stranger)).await.unwrap_err();
        assert_eq!(e.to_string(), "received fatal alert: UnknownCA");
    }

    #[tokio::test]
    async fn a_replaced_configuration_serves_the_next_connection() {
        let dir = tempfile::tempdir().unwrap();
        let old_ca = Ca::new(dir.path(), "old");
        let new_ca = Ca::new(dir.path(), "new");
        let now = Timestamp::now();
        let shared =
            SharedTls::new(TlsServer::load(&settings(&old_ca.server("a"), None), now).unwrap());
        let addr = echo_server(shared.clone(), 4).await;
        let unknown = |e: std::io::Error| e.to_string().contains("UnknownIssuer");
        assert!(client(addr, &old_ca.cert, None).await.is_ok());
        assert!(unknown(client(addr, &new_ca.cert, None).await.unwrap_err()));
        shared.replace(TlsServer::load(&settings(&new_ca.server("b"), None), now).unwrap());
        assert!(client(addr, &new_ca.cert, None).await.is_ok());
        assert!(unknown(client(addr, &old_ca.cert, None).await.unwrap_err()));
    }
}

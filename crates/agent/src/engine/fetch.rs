//! Fetching one file: conditional GET over HTTP(S) with bounds, a TFTP read (`tftp.rs`), an
//! FTP or FTPS retrieval (`ftp.rs`), or a local `file://` read. Every one of them is bounded
//! by `max_file_size` and `timeout_secs`; TFTP, FTP and files have no validators, so the
//! engine compares what they bring with the applied file by digest.
//!
//! HTTPS trusts the system's roots plus `provisioning.ca_files`, and presents
//! `provisioning.client_certificate` to a server that asks for one. A `401` is answered once:
//! with Digest when the server offers it (see `http_auth`), else with Basic if the request did
//! not carry it already. TLS failures are reported with the reason rustls gives and the
//! setting or file to look at.
//!
//! Redirects are followed here, not by the HTTP client, at most `max_redirects` of them, each
//! logged with its target. A redirect from `https` to `http` is refused, and so is one to any
//! scheme but `http` and `https`. The validators (`If-None-Match`, `If-Modified-Since`) and the
//! credentials go only to the origin (scheme, host and port) of the file's URL: a hop to another
//! origin gets neither. A `304` to a request that carried no validators is an error.
//!
//! A body with `Content-Encoding: gzip` is decoded (`max_file_size` bounds the encoded and the
//! decoded size); any other content coding is refused, naming it. Provisioning servers do send
//! gzip: Cisco profiles are often stored and served gzipped.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ftp, http_auth, tftp};
use crate::config::ProvisioningSettings;
use sip_resync_core::engine::{Credentials, FetchError, HttpAuthError, Location};
use sip_resync_core::sync::lock;
use sip_resync_core::{escape, redact};

/// Longest redirect target shown in a log line or an error, in bytes.
const MAX_URL_SHOWN: usize = 256;

/// The log target of the engine's lines.
const LOG_TARGET: &str = "sip_resync::engine";

/// Longest `ETag` or `Last-Modified` kept for the next conditional request.
pub(super) const MAX_VALIDATOR_BYTES: usize = 1024;

/// Bounds applied to every fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FetchLimits {
    /// TCP and TLS connect timeout.
    pub connect_timeout: Duration,
    /// Total time per file, body included.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// Largest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

/// The validators of the stored copy, sent as `If-None-Match` / `If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Conditional {
    /// Stored `ETag`.
    pub etag: Option<String>,
    /// Stored `Last-Modified`.
    pub last_modified: Option<String>,
}

impl Conditional {
    /// Whether a request with these validators is conditional.
    fn any(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}

/// The answer at the end of a chain of redirects.
struct Followed {
    resp: reqwest::Response,
    /// Where it came from.
    url: reqwest::Url,
    /// Whether the request that got it carried validators.
    conditional: bool,
}

/// A successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fetched {
    /// 304: the stored copy is current.
    NotModified,
    /// A complete body.
    Body {
        /// The content.
        bytes: Vec<u8>,
        /// `ETag` of the response.
        etag: Option<String>,
        /// `Last-Modified` of the response.
        last_modified: Option<String>,
    },
}

/// Why the HTTP client cannot be built from the `[provisioning]` settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A CA file or the client certificate or key cannot be used: the key that names it, and
    /// why (with the file).
    #[error("{key}: {message}")]
    Material {
        /// The setting, e.g. `provisioning.ca_files`.
        key: String,
        /// What is wrong, naming the file.
        message: String,
    },
    /// The HTTP client refuses a CA certificate.
    #[error("provisioning.ca_files: {0}")]
    CaFiles(String),
    /// The HTTP client refuses the client certificate and key.
    #[error("provisioning.client_certificate: {0}")]
    ClientCertificate(String),
    /// The HTTP client cannot be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

/// Parses a `Retry-After` value (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) relative
/// to `now`, capped at `max`. A date in the past means no wait.
pub(super) fn parse_retry_after(
    value: &str,
    now: jiff::Timestamp,
    max: Duration,
) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        let secs = at.as_second().saturating_sub(now.as_second());
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    };
    Some(wait.min(max))
}

/// The HTTP client, built once per agent.
#[derive(Debug, Clone)]
pub(super) struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
    /// The TLS settings, named in messages.
    ca_files: Vec<PathBuf>,
    client_certificate: Option<PathBuf>,
    /// Origins (`scheme://host:port`) that asked for Digest: Basic credentials are not sent
    /// to them up front again.
    digest_origins: Arc<Mutex<HashSet<String>>>,
    /// The TLS configuration of `ftps`: the trust and client certificate of HTTPS.
    ftps: Arc<rustls::ClientConfig>,
}

/// How a request authenticates.
enum Auth<'a> {
    None,
    Basic(&'a Credentials),
    /// An `Authorization: Digest` value.
    Digest(String),
}

impl Auth<'_> {
    fn scheme(&self) -> &'static str {
        match self {
            Auth::None => "no",
            Auth::Basic(_) => "Basic",
            Auth::Digest(_) => "Digest",
        }
    }
}

/// The rustls error in an error's chain of sources: reqwest wraps hyper's, which wraps an
/// `io::Error` that wraps the `io::Error` carrying it. (An `io::Error`'s `source` skips the
/// error it wraps, so each one is opened with `get_ref`.)
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => None,
            },
            None => err.source(),
        };
    }
    None
}

/// The first source of an error chain that says something, without the URL.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

impl Fetcher {
    /// Builds the client the `[provisioning]` settings describe: their limits, and rustls
    /// with the platform's roots plus `ca_files` and the client certificate, read now.
    pub(super) fn for_settings(prov: &ProvisioningSettings) -> Result<Fetcher, ClientError> {
        let limits = FetchLimits {
            connect_timeout: prov.connect_timeout,
            timeout: prov.timeout,
            max_bytes: prov.max_file_size,
            max_redirects: prov.max_redirects,
            max_retry_after: prov.max_retry_after,
        };
        let material =
            crate::config::provisioning_material(prov, |_| "provisioning.ca_files".to_owned())
                .map_err(|(key, message)| ClientError::Material { key, message })?;
        let mut builder = reqwest::Client::builder();
        if !material.roots.is_empty() {
            let roots = material
                .roots
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::CaFiles(describe(&e)))?;
            builder = builder.tls_certs_merge(roots);
        }
        if let Some(pem) = &material.identity {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| ClientError::ClientCertificate(describe(&e)))?;
            builder = builder.identity(identity);
        }
        let ftps = ftps_config(&material)?;
        Fetcher::build(
            limits,
            builder,
            prov.ca_files.clone(),
            prov.client_certificate.clone(),
            ftps,
        )
    }

    fn build(
        limits: FetchLimits,
        builder: reqwest::ClientBuilder,
        ca_files: Vec<PathBuf>,
        client_certificate: Option<PathBuf>,
        ftps: Arc<rustls::ClientConfig>,
    ) -> Result<Fetcher, ClientError> {
        crate::crypto::install_default();
        // Redirects are followed by `follow`, which checks each hop.
        let redirect = reqwest::redirect::Policy::none();
        let client = builder
            .user_agent(concat!("sip-resync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirect(redirect)
            .build()
            .map_err(|e| ClientError::Build(describe(&e)))?;
        Ok(Fetcher {
            client,
            limits,
            ca_files,
            client_certificate,
            digest_origins: Arc::default(),
            ftps,
        })
    }

    /// Fetches one file. `cond` is used for HTTP only; TFTP, FTP and local files are always
    /// transferred whole. `now` is the wall-clock time a `Retry-After` date is counted from.
    pub(super) async fn fetch(
        &self,
        location: &Location,
        cond: &Conditional,
        now: jiff::Timestamp,
    ) -> Result<Fetched, FetchError> {
        match location {
            Location::File { path } => self.read_file(path).await,
            Location::Http { url, credentials } => {
                self.http(url, credentials.as_ref(), cond, now).await
            }
            Location::Tftp {
                host, port, path, ..
            } => {
                let limits = tftp::TftpLimits::new(self.limits.timeout, self.limits.max_bytes);
                let bytes = tftp::get(host, *port, path, &limits).await?;
                Ok(Fetched::Body {
                    bytes,
                    etag: None,
                    last_modified: None,
                })
            }
            Location::Ftp {
                host,
                port,
                path,
                explicit_tls,
                credentials,
                ..
            } => {
                let target = ftp::FtpTarget {
                    host,
                    port: *port,
                    path,
                    credentials: credentials.as_ref(),
                    tls: explicit_tls.then(|| self.ftps.clone()),
                };
                let limits = ftp::FtpLimits {
                    connect_timeout: self.limits.connect_timeout,
                    timeout: self.limits.timeout,
                    max_bytes: self.limits.max_bytes,
                };
                let bytes = ftp::get(target, &limits, &|e| self.explain_tls(e)).await?;
                Ok(Fetched::Body {
                    bytes,
                    etag: None,
                    last_modified: None,
                })
            }
        }
    }

    /// A GET of `url` with the validators of `cond` and the authentication given.
    fn request(
        &self,
        url: &reqwest::Url,
        auth: &Auth<'_>,
        cond: &Conditional,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT_ENCODING, "gzip");
        match auth {
            Auth::None => {}
            Auth::Basic(c) => req = req.basic_auth(&c.user, Some(&c.password)),
            Auth::Digest(value) => req = req.header(reqwest::header::AUTHORIZATION, value),
        }
        if let Some(etag) = &cond.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &cond.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        req
    }

    /// Sends a GET of `url` and follows its redirects (at most `max_redirects`). `auth` and
    /// `cond` are sent only to the origin of `origin`; a hop to another origin goes without
    /// them. A hop from https to http, or to another scheme, is refused.
    async fn follow(
        &self,
        url: &reqwest::Url,
        origin: &reqwest::Url,
        auth: &Auth<'_>,
        cond: &Conditional,
    ) -> Result<Followed, FetchError> {
        let none = Conditional::default();
        let mut url = url.clone();
        let mut hops = 0;
        loop {
            let home = url.origin() == origin.origin();
            let (auth, cond) = if home {
                (auth, cond)
            } else {
                (&Auth::None, &none)
            };
            let resp = self
                .request(&url, auth, cond)
                .send()
                .await
                .map_err(|e| self.classify(e))?;
            let code = resp.status().as_u16();
            if !matches!(code, 301 | 302 | 303 | 307 | 308) {
                return Ok(Followed {
                    resp,
                    url,
                    conditional: cond.any(),
                });
            }
            let location = resp.headers().get(reqwest::header::LOCATION);
            let Some(mut next) = location
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
            else {
                return Err(FetchError::BadRedirect {
                    code,
                    location: location.map(|v| escape::excerpt(v.as_bytes())),
                });
            };
            // Credentials come from the file's URL only, never from a server's Location.
            let _ = next.set_username("");
            let _ = next.set_password(None);
            // The server chose it: bounded and escaped before it reaches a log line or error.
            let to = escape::excerpt_of(redact(next.as_str()).as_bytes(), MAX_URL_SHOWN);
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::RedirectScheme(to));
            }
            if url.scheme() == "https" && next.scheme() == "http" {
                return Err(FetchError::Downgrade {
                    from: redact(url.as_str()),
                    to,
                });
            }
            if hops == self.limits.max_redirects {
                return Err(FetchError::Redirects(self.limits.max_redirects));
            }
            hops += 1;
            let other_origin = next.origin() != origin.origin();
            tracing::info!(target: LOG_TARGET, status = code, from = %redact(url.as_str()), to = %to, other_origin, "following a redirect{}", if other_origin { " to another origin: sent without credentials or validators" } else { "" });
            url = next;
        }
    }

    /// Fetches over HTTP(S), answering one `401` with the URL's credentials.
    async fn http(
        &self,
        url: &reqwest::Url,
        credentials: Option<&Credentials>,
        cond: &Conditional,
        now: jiff::Timestamp,
    ) -> Result<Fetched, FetchError> {
        let origin = url.origin().ascii_serialization();
        let first = match credentials {
            Some(c) if !lock(&self.digest_origins).contains(&origin) => Auth::Basic(c),
            _ => Auth::None,
        };
        let followed = self.follow(url, url, &first, cond).await?;
        let (401, Some(c)) = (followed.resp.status().as_u16(), credentials) else {
            return self.read(followed, now).await;
        };
        // The answer goes where the 401 came from (after redirects), on the same origin only.
        let Followed {
            resp, url: target, ..
        } = followed;
        if target.origin() != url.origin() {
            return Err(FetchError::Authentication(HttpAuthError::CrossOrigin(
                target.origin().ascii_serialization(),
            )));
        }
        let challenges: Vec<String> = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .take(http_auth::MAX_CHALLENGES)
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        drop(resp);
        let mut uri = target.path().to_owned();
        if let Some(query) = target.query() {
            uri.push('?');
            uri.push_str(query);
        }
        let sent_basic = matches!(first, Auth::Basic(_));
        let answer = match http_auth::digest_answer(&challenges, c, "GET", &uri) {
            Ok(Some(digest)) => {
                lock(&self.digest_origins).insert(origin);
                Auth::Digest(digest)
            }
            Ok(None) if sent_basic => return Err(FetchError::Unauthorized { scheme: "Basic" }),
            Ok(None) if http_auth::offers_basic(&challenges) => Auth::Basic(c),
            Ok(None) => return Err(FetchError::Authentication(HttpAuthError::NoChallenge)),
            Err(why) => return Err(FetchError::Authentication(why)),
        };
        let scheme = answer.scheme();
        let followed = self.follow(&target, url, &answer, cond).await?;
        if followed.resp.status().as_u16() == 401 {
            return Err(FetchError::Unauthorized { scheme });
        }
        self.read(followed, now).await
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            // Connect timeouts are reported as timeouts too; either bound was reached.
            FetchError::Timeout(self.limits.timeout)
        } else if let Some(tls) = tls_error(&e) {
            FetchError::Tls(self.explain_tls(tls))
        } else if e.is_connect() {
            FetchError::Connect(describe(&e))
        } else if e.is_body() || e.is_decode() {
            FetchError::Truncated(describe(&e))
        } else {
            FetchError::Other(describe(&e))
        }
    }

    /// A TLS failure in words: rustls's reason, and the setting or file to look at.
    fn explain_tls(&self, e: &rustls::Error) -> String {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        let reason = e.to_string();
        match e {
            E::InvalidCertificate(C::UnknownIssuer) if self.ca_files.is_empty() => format!(
                "the server's certificate is not signed by a trusted CA ({reason}); only the \
                 system's roots are trusted: add the CA that signed it to provisioning.ca_files \
                 (Panasonic: CFG_ROOT_CERTIFICATE_PATH1 to 3)"
            ),
            E::InvalidCertificate(C::UnknownIssuer) => format!(
                "the server's certificate is not signed by a trusted CA ({reason}); trusted are \
                 the system's roots and provisioning.ca_files: {}",
                self.ca_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => format!(
                "the server's certificate has expired ({reason}); renew it on the server, or \
                 check this host's clock"
            ),
            E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => format!(
                "the server's certificate is not valid yet ({reason}); check this host's clock"
            ),
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                format!("the server's certificate is not issued for the host in the URL ({reason})")
            }
            E::InvalidCertificate(_) => format!("the server's certificate is refused ({reason})"),
            E::AlertReceived(
                A::CertificateRequired
                | A::HandshakeFailure
                | A::BadCertificate
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied,
            ) => match &self.client_certificate {
                None => format!(
                    "the server asks for a client certificate ({reason}); set \
                     provisioning.client_certificate and provisioning.client_key"
                ),
                Some(cert) => format!(
                    "the server refused the client certificate {} \
                     (provisioning.client_certificate): {reason}",
                    cert.display()
                ),
            },
            _ => reason,
        }
    }

    async fn read(&self, followed: Followed, now: jiff::Timestamp) -> Result<Fetched, FetchError> {
        let Followed {
            mut resp,
            conditional,
            ..
        } = followed;
        let status = resp.status().as_u16();
        let header = |resp: &reqwest::Response, name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                // A validator is sent back as it came; one too long to be sane is dropped.
                .filter(|s| s.len() <= MAX_VALIDATOR_BYTES)
                .map(str::to_owned)
        };
        match status {
            200 => {}
            304 if conditional => return Ok(Fetched::NotModified),
            304 => return Err(FetchError::UnconditionalNotModified),
            503 | 429 => {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now, self.limits.max_retry_after));
                return Err(FetchError::Unavailable {
                    code: status,
                    retry_after,
                });
            }
            code => {
                let hint = match code {
                    401 => " (the server asks for credentials: give them as user:pass@ in the file's URL)",
                    403 => " (check the user:pass@ in the file's URL)",
                    404 => " (check the URL and {MAC}/{MODEL})",
                    _ => "",
                };
                return Err(FetchError::Status { code, hint });
            }
        }
        let gzip = content_coding(resp.headers())?;
        let limit = self.limits.max_bytes;
        if resp.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let etag = header(&resp, reqwest::header::ETAG);
        let last_modified = header(&resp, reqwest::header::LAST_MODIFIED);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(e))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        if gzip {
            bytes = gunzip(&bytes, limit)?;
        }
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }

    async fn read_file(&self, path: &std::path::Path) -> Result<Fetched, FetchError> {
        use tokio::io::AsyncReadExt;
        let limit = self.limits.max_bytes;
        let cannot_read = |e: std::io::Error| FetchError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let read = async {
            let file = tokio::fs::File::open(path).await.map_err(cannot_read)?;
            let mut bytes = Vec::new();
            file.take(limit + 1)
                .read_to_end(&mut bytes)
                .await
                .map_err(cannot_read)?;
            if bytes.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            Ok(Fetched::Body {
                bytes,
                etag: None,
                last_modified: None,
            })
        };
        tokio::time::timeout(self.limits.timeout, read)
            .await
            .map_err(|_| FetchError::Timeout(self.limits.timeout))?
    }
}

/// The rustls configuration of `ftps`, with the trust reqwest is given for HTTPS: the
/// platform's verifier (its roots) plus `ca_files`, and the client certificate if any.
fn ftps_config(
    material: &sip_resync_core::config::TlsMaterial,
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = crate::crypto::provider();
    let verifier = if material.roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        let roots = material
            .roots
            .iter()
            .map(|der| CertificateDer::from(der.clone()));
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
    }
    .map_err(|e| ClientError::CaFiles(e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Build(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match &material.identity {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::ClientCertificate(e.to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| ClientError::ClientCertificate(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::ClientCertificate(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

/// Whether the body is gzip-encoded (true) or not encoded (false); any other content coding,
/// or more than one, is refused, naming it.
fn content_coding(headers: &reqwest::header::HeaderMap) -> Result<bool, FetchError> {
    let mut codings = Vec::new();
    for value in headers.get_all(reqwest::header::CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| FetchError::Encoding(escape::excerpt(value.as_bytes())))?;
        codings.extend(
            value
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "identity"),
        );
    }
    match codings.as_slice() {
        [] => Ok(false),
        [one] if one == "gzip" || one == "x-gzip" => Ok(true),
        _ => Err(FetchError::Encoding(escape::excerpt(
            codings.join(", ").as_bytes(),
        ))),
    }
}

/// Decodes a gzip body (every member), refusing more than `limit` decoded bytes.
fn gunzip(encoded: &[u8], limit: u64) -> Result<Vec<u8>, FetchError> {
    use std::io::Read;
    let mut decoded = Vec::new();
    flate2::read::MultiGzDecoder::new(encoded)
        .take(limit + 1)
        .read_to_end(&mut decoded)
        .map_err(|e| FetchError::Gzip(e.to_string()))?;
    if decoded.len() as u64 > limit {
        return Err(FetchError::TooLarge { limit });
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_dates_and_caps() {
        let now: jiff::Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let max = Duration::from_secs(3600);
        assert_eq!(
            parse_retry_after("120", now, max),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("999999", now, max), Some(max));
        // RFC 9110 §10.2.3 uses an IMF-fixdate.
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 10:05:00 GMT", now, max),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 09:00:00 GMT", now, max),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now, max), None);
    }

    #[test]
    fn gzip_is_decoded_within_the_limit_and_other_codings_named() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'a'; 4096]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 4096).unwrap(), vec![b'a'; 4096]);
        assert_eq!(gunzip(&gz, 4095), Err(FetchError::TooLarge { limit: 4095 }));
        assert!(matches!(gunzip(b"not gzip", 100), Err(FetchError::Gzip(_))));
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(content_coding(&headers), Ok(false));
        headers.insert(reqwest::header::CONTENT_ENCODING, "GZip".parse().unwrap());
        assert_eq!(content_coding(&headers), Ok(true));
        headers.insert(reqwest::header::CONTENT_ENCODING, "br".parse().unwrap());
        assert_eq!(
            content_coding(&headers).unwrap_err().to_string(),
            "the body is encoded with Content-Encoding: br, which is not decoded (only gzip is)"
        );
    }
}

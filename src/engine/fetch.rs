//! Fetching one file: conditional GET over HTTP(S) with bounds, or a local `file://` read.

use std::time::Duration;

use super::source::Location;

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

/// Why a fetch failed. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(super) enum FetchError {
    /// No connection could be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connect or total timeout passed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The server answered with a status that is not 200 or 304.
    #[error("HTTP {code}{hint}")]
    Status {
        /// Status code.
        code: u16,
        /// What to check, when something useful can be said.
        hint: &'static str,
    },
    /// 503 or 429: the server asks to come back later.
    #[error("HTTP {code}, server busy{}", match retry_after { Some(d) => format!("; Retry-After {}s", d.as_secs()), None => String::new() })]
    Unavailable {
        /// 503 or 429.
        code: u16,
        /// The honoured `Retry-After`, capped.
        retry_after: Option<Duration>,
    },
    /// The body is larger than the limit.
    #[error("larger than the limit of {limit} bytes (provisioning.max_file_size)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body did not arrive completely.
    #[error("incomplete body: {0}")]
    Truncated(String),
    /// Too many redirects, or a redirect that was not followed.
    #[error("too many redirects (provisioning.max_redirects is {0})")]
    Redirects(usize),
    /// A local file could not be read.
    #[error("cannot read: {0}")]
    File(String),
    /// Anything else reqwest reports.
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    /// The wait the server asked for, if any.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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
    /// Builds the client: rustls with the platform's roots, the limits given.
    pub(super) fn new(limits: FetchLimits) -> Result<Fetcher, String> {
        let redirect = if limits.max_redirects == 0 {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::limited(limits.max_redirects)
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("sip-resync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirect(redirect)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))?;
        Ok(Fetcher { client, limits })
    }

    /// Fetches one file. `cond` is used for HTTP only; a local file is always read. `now` is
    /// the wall-clock time a `Retry-After` date is counted from.
    pub(super) async fn fetch(
        &self,
        location: &Location,
        cond: &Conditional,
        now: jiff::Timestamp,
    ) -> Result<Fetched, FetchError> {
        match location {
            Location::File { path } => self.read_file(path).await,
            Location::Http { url, credentials } => {
                let mut req = self.client.get(url.clone());
                if let Some(c) = credentials {
                    req = req.basic_auth(&c.user, Some(&c.password));
                }
                if let Some(etag) = &cond.etag {
                    req = req.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &cond.last_modified {
                    req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
                }
                self.http(req, now).await
            }
        }
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            // Connect timeouts are reported as timeouts too; either bound was reached.
            FetchError::Timeout(self.limits.timeout)
        } else if e.is_redirect() {
            FetchError::Redirects(self.limits.max_redirects)
        } else if e.is_connect() {
            FetchError::Connect(describe(&e))
        } else if e.is_body() || e.is_decode() {
            FetchError::Truncated(describe(&e))
        } else {
            FetchError::Other(describe(&e))
        }
    }

    async fn http(
        &self,
        req: reqwest::RequestBuilder,
        now: jiff::Timestamp,
    ) -> Result<Fetched, FetchError> {
        let mut resp = req.send().await.map_err(|e| self.classify(e))?;
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
            304 => return Ok(Fetched::NotModified),
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
            300..=399 => return Err(FetchError::Redirects(self.limits.max_redirects)),
            code => {
                let hint = match code {
                    401 | 403 => " (check the user:pass@ in the file's URL)",
                    404 => " (check the URL and {MAC}/{MODEL})",
                    _ => "",
                };
                return Err(FetchError::Status { code, hint });
            }
        }
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
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }

    async fn read_file(&self, path: &std::path::Path) -> Result<Fetched, FetchError> {
        use tokio::io::AsyncReadExt;
        let limit = self.limits.max_bytes;
        let read = async {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| FetchError::File(format!("{}: {e}", path.display())))?;
            let mut bytes = Vec::new();
            file.take(limit + 1)
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| FetchError::File(format!("{}: {e}", path.display())))?;
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
}

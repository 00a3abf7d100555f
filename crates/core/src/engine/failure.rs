//! Why a run failed ([`RunError`], what [`RunResult::Failed`](super::RunResult::Failed)
//! carries), down to why one fetch failed ([`FetchError`]). The agent performs the fetches and
//! builds these; their text is what the outcome and the log say. No message holds credentials.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{FileFormat, ParseError};
use crate::digest::ChallengeError;

/// Why a run failed; the last good set stays applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A file could not be fetched.
    #[error("{url}: {error}")]
    Fetch {
        /// Where from: the URL with its credentials masked, or `file://PATH`.
        url: String,
        /// Why.
        error: FetchError,
    },
    /// A `304 Not Modified` to a request that sent no validators.
    #[error("the server answered 304 Not Modified to an unconditional request")]
    UnexpectedNotModified,
    /// A fetched file is not valid for its format.
    #[error("invalid {} file: {error}", format.as_str())]
    Invalid {
        /// The format it was validated as.
        format: FileFormat,
        /// What is wrong with it.
        error: ParseError,
    },
    /// The new set could not be written (the store's message).
    #[error("cannot apply the new set (the previous set stays): {0}")]
    Apply(String),
}

impl RunError {
    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RunError::Fetch { error, .. } => error.retry_after(),
            _ => None,
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
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
    /// The server announced a size larger than the limit before the transfer (TFTP `tsize`,
    /// FTP `SIZE`): nothing was transferred.
    #[error("the server announces {size} bytes, more than the limit of {limit} bytes (provisioning.max_file_size); not transferred")]
    AnnouncedTooLarge {
        /// The size announced.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The TFTP server answered with an ERROR packet (RFC 1350 §5).
    #[error("TFTP error {code} ({}): \"{message}\"{}", tftp_meaning(*code), tftp_hint(*code))]
    Tftp {
        /// The error code.
        code: u16,
        /// The server's message, escaped and bounded.
        message: String,
    },
    /// The FTP server refused a command (RFC 959 reply codes 4xx and 5xx).
    #[error("FTP {code} to {command}: \"{message}\"{hint}")]
    Ftp {
        /// The command refused: `USER`, `PASS`, `RETR`, ...; never with its argument.
        command: &'static str,
        /// The reply code.
        code: u16,
        /// The server's reply text, escaped and bounded.
        message: String,
        /// What to check, when something useful can be said.
        hint: &'static str,
    },
    /// The server broke its protocol: a malformed or unexpected packet or reply.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The body did not arrive completely.
    #[error("incomplete body: {0}")]
    Truncated(String),
    /// More redirects than `provisioning.max_redirects`.
    #[error("too many redirects (provisioning.max_redirects is {0})")]
    Redirects(usize),
    /// A redirect from `https` to plain `http`: never followed, as anyone on the path could
    /// then rewrite the file.
    #[error("redirected from {from} to {to}: a file fetched over https is never fetched over plain http (change the redirect on the server, or the URL)")]
    Downgrade {
        /// The URL that answered with the redirect, credentials masked.
        from: String,
        /// The redirect's target, credentials masked.
        to: String,
    },
    /// A redirect to a scheme other than `http` or `https` (e.g. `file://`): not followed.
    #[error("redirected to {0}: only http and https redirects are followed")]
    RedirectScheme(String),
    /// A redirect without a usable `Location`.
    #[error("HTTP {code} redirect without a usable Location{}", match location { Some(l) => format!(" ({l})"), None => String::new() })]
    BadRedirect {
        /// The redirect's status.
        code: u16,
        /// The `Location` given, escaped, if any.
        location: Option<String>,
    },
    /// A `304 Not Modified` to a request that sent no validators (no `If-None-Match` or
    /// `If-Modified-Since`): there is nothing it can mean.
    #[error(
        "HTTP 304 Not Modified to a request that carried no If-None-Match or If-Modified-Since"
    )]
    UnconditionalNotModified,
    /// A body in a content coding this client does not decode (only `gzip` is decoded).
    #[error("the body is encoded with Content-Encoding: {0}, which is not decoded (only gzip is)")]
    Encoding(String),
    /// A gzip body that cannot be decoded.
    #[error("the gzip-encoded body cannot be decoded: {0}")]
    Gzip(String),
    /// A local file could not be read.
    #[error("cannot read: {}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The credentials were sent and refused.
    #[error("HTTP 401: wrong user or password for this URL (sent with {scheme} authentication; check the user:pass@ in the file's URL)")]
    Unauthorized {
        /// `Basic` or `Digest`.
        scheme: &'static str,
    },
    /// The server asks for credentials in a way this client cannot answer.
    #[error("HTTP 401: {0}")]
    Authentication(HttpAuthError),
    /// The TLS connection failed: the reason, and what to check.
    #[error("TLS: {0}")]
    Tls(String),
    /// Anything else the HTTP client reports.
    #[error("{0}")]
    Other(String),
}

impl FetchError {
    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The meaning RFC 1350 §5 (and RFC 2347 for 8) gives a TFTP error code.
fn tftp_meaning(code: u16) -> &'static str {
    match code {
        0 => "not defined",
        1 => "file not found",
        2 => "access violation",
        3 => "disk full or allocation exceeded",
        4 => "illegal TFTP operation",
        5 => "unknown transfer ID",
        6 => "file already exists",
        7 => "no such user",
        8 => "option negotiation refused",
        _ => "unknown code",
    }
}

/// What to check for a TFTP error code.
fn tftp_hint(code: u16) -> &'static str {
    match code {
        1 => " (check the URL and {MAC}/{MODEL}, and the TFTP server's directory)",
        2 => " (the TFTP server may not read the file: check its permissions)",
        _ => "",
    }
}

/// Why a server's `401 Unauthorized` cannot be answered with the URL's credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpAuthError {
    /// The 401 came from another origin after a redirect (named here).
    #[error("redirected to {0}, which asks for credentials; they are sent only to the host of the file's URL")]
    CrossOrigin(String),
    /// Neither a Digest nor a Basic challenge.
    #[error("the server offers neither a Digest nor a Basic challenge")]
    NoChallenge,
    /// Digest challenges only, none of them answerable: why, for each.
    #[error("the server's Digest challenge cannot be answered: {}", joined(.0))]
    Unanswerable(Vec<ChallengeError>),
}

fn joined(errors: &[ChallengeError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome text is what it was when the error was a string.
    #[test]
    fn messages_read_as_before() {
        let busy = RunError::Fetch {
            url: "https://***@prov.example/a.cfg".into(),
            error: FetchError::Unavailable {
                code: 503,
                retry_after: Some(Duration::from_secs(3600)),
            },
        };
        assert_eq!(
            busy.to_string(),
            "https://***@prov.example/a.cfg: HTTP 503, server busy; Retry-After 3600s"
        );
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(3600)));
        let invalid = RunError::Invalid {
            format: FileFormat::Panasonic,
            error: ParseError::Invalid {
                path: "b.cfg".into(),
                line: Some(1),
                key: None,
                message: "bad".into(),
            },
        };
        assert_eq!(invalid.to_string(), "invalid panasonic file: b.cfg:1: bad");
        let auth = FetchError::Authentication(HttpAuthError::Unanswerable(vec![
            ChallengeError::Malformed,
            ChallengeError::NoRealmOrNonce,
        ]));
        assert_eq!(
            auth.to_string(),
            "HTTP 401: the server's Digest challenge cannot be answered: a malformed Digest \
             challenge; a Digest challenge without realm or nonce"
        );
        let file = FetchError::File {
            path: "/etc/x.cfg".into(),
            reason: "No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            file.to_string(),
            "cannot read: /etc/x.cfg: No such file or directory (os error 2)"
        );
        let missing = RunError::Fetch {
            url: "tftp://10.0.0.1/a.cfg".into(),
            error: FetchError::Tftp {
                code: 1,
                message: "File not found".into(),
            },
        };
        assert_eq!(
            missing.to_string(),
            "tftp://10.0.0.1/a.cfg: TFTP error 1 (file not found): \"File not found\" (check \
             the URL and {MAC}/{MODEL}, and the TFTP server's directory)"
        );
    }
}

//! `[sip.tls]`: the certificate, private key and optional client CA of the SIP over TLS
//! listener (RFC 3261 §26.2; `tls:ADDR:PORT`, port 5061 by convention, RFC 3263 §4.2).
//!
//! Here the settings are read and checked as far as a configuration can be without reading a
//! file: both files named, a `tls:` listener only with them. The agent checks that the files
//! can be read when it loads the configuration, and their content (PEM, a key matching the
//! certificate, dates) where the listener is built, at start and at every reload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ListenAddr;
use crate::resync::Transport;

/// How long a TLS handshake may take by default, from the accepted connection to the
/// finished handshake; then the connection is closed.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `handshake_timeout_secs` accepted.
const MAX_HANDSHAKE_TIMEOUT_SECS: u64 = 600;

/// The TLS listener's settings (`[sip.tls]`); relative paths are taken from the directory of
/// the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM): its own certificate first, then any
    /// intermediate CA certificates.
    pub certificate: PathBuf,
    /// The private key of that certificate (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub private_key: PathBuf,
    /// CA certificates (PEM) of mutual TLS: when set, a peer must present a certificate
    /// signed by one of them, or the handshake fails and no SIP byte is read.
    pub client_ca: Option<PathBuf>,
    /// Longest time from an accepted connection to a finished handshake.
    pub handshake_timeout: Duration,
}

/// `[sip.tls]` as written.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct TomlTls {
    certificate: Option<PathBuf>,
    private_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    handshake_timeout_secs: u64,
}

impl Default for TomlTls {
    fn default() -> Self {
        TomlTls {
            certificate: None,
            private_key: None,
            client_ca: None,
            handshake_timeout_secs: DEFAULT_HANDSHAKE_TIMEOUT.as_secs(),
        }
    }
}

impl TomlTls {
    /// Checks the table against the listening addresses and builds the settings: `None` when
    /// the table names no file. An error names the dotted key and what is wrong.
    pub(super) fn into_settings(
        self,
        base_dir: &Path,
        listen: &[ListenAddr],
    ) -> Result<Option<TlsSettings>, (&'static str, String)> {
        if !(1..=MAX_HANDSHAKE_TIMEOUT_SECS).contains(&self.handshake_timeout_secs) {
            return Err((
                "sip.tls.handshake_timeout_secs",
                format!("must be from 1 to {MAX_HANDSHAKE_TIMEOUT_SECS} seconds"),
            ));
        }
        let settings = match (self.certificate, self.private_key) {
            (Some(certificate), Some(private_key)) => TlsSettings {
                certificate: base_dir.join(certificate),
                private_key: base_dir.join(private_key),
                client_ca: self.client_ca.map(|p| base_dir.join(p)),
                handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            },
            (Some(_), None) => {
                return Err((
                    "sip.tls.private_key",
                    "missing: sip.tls.certificate needs the PEM file of its private key".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "sip.tls.certificate",
                    "missing: sip.tls.private_key needs the PEM file of its certificate chain"
                        .into(),
                ))
            }
            (None, None) if self.client_ca.is_some() => {
                return Err((
                    "sip.tls.certificate",
                    "missing: sip.tls.client_ca needs a server certificate and private key \
                     (sip.tls.certificate and sip.tls.private_key)"
                        .into(),
                ))
            }
            (None, None) => {
                check_listen(listen, None)?;
                return Ok(None);
            }
        };
        Ok(Some(settings))
    }
}

/// A `tls:` listening address needs `[sip.tls]`.
fn check_listen(
    listen: &[ListenAddr],
    tls: Option<&TlsSettings>,
) -> Result<(), (&'static str, String)> {
    match listen.iter().find(|l| l.transport == Transport::Tls) {
        Some(l) if tls.is_none() => Err((
            "sip.listen",
            format!(
                "{l} needs a certificate: set sip.tls.certificate and sip.tls.private_key \
                 (PEM files)"
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml(body: &str) -> Result<Option<TlsSettings>, (&'static str, String)> {
        toml_listen(body, &[])
    }

    fn toml_listen(
        body: &str,
        listen: &[ListenAddr],
    ) -> Result<Option<TlsSettings>, (&'static str, String)> {
        let t: TomlTls = ::toml::from_str(body).unwrap();
        t.into_settings(Path::new(env!("CARGO_MANIFEST_DIR")), listen)
    }

    #[test]
    fn nothing_named_is_no_tls_and_a_tls_listener_then_needs_it() {
        assert_eq!(toml(""), Ok(None));
        let listen = ["tls:127.0.0.1:5061".parse().unwrap()];
        let (key, message) = toml_listen("", &listen).unwrap_err();
        assert_eq!(key, "sip.listen");
        assert!(message.starts_with("tls:127.0.0.1:5061 needs a certificate"));
    }

    #[test]
    fn both_files_are_needed() {
        // No file is read here: the agent checks them when it loads the configuration.
        let ok = toml("certificate = \"Cargo.toml\"\nprivate_key = \"Cargo.lock\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            ok.certificate,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
        );
        assert_eq!(ok.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        assert_eq!(ok.client_ca, None);
        assert_eq!(
            toml("certificate = \"Cargo.toml\"\n").unwrap_err().0,
            "sip.tls.private_key"
        );
        assert_eq!(
            toml("private_key = \"Cargo.toml\"\n").unwrap_err().0,
            "sip.tls.certificate"
        );
        assert_eq!(
            toml("client_ca = \"Cargo.toml\"\n").unwrap_err().0,
            "sip.tls.certificate"
        );
    }

    #[test]
    fn the_handshake_timeout_is_bounded() {
        let base = "certificate = \"Cargo.toml\"\nprivate_key = \"Cargo.lock\"\n";
        for bad in [0, 601] {
            let text = format!("{base}handshake_timeout_secs = {bad}\n");
            assert_eq!(toml(&text).unwrap_err().0, "sip.tls.handshake_timeout_secs");
        }
        let text = format!("{base}handshake_timeout_secs = 3\n");
        assert_eq!(
            toml(&text).unwrap().unwrap().handshake_timeout,
            Duration::from_secs(3)
        );
    }
}

//! Settings: the core's readers, and the one step that reads files.
//!
//! Everything of [`sip_resync_core::config`] is here under the same names: the [`Settings`]
//! model and [`from_bytes`], which interprets a configuration's bytes without reading a file.
//! What this module adds is the file system: [`load`] reads a configuration file, interprets
//! it, and then reads and checks every file it names ([`read_files`]): the certificate and
//! key of `[sip.tls]` must be readable, and the CA files and client certificate of
//! `[provisioning]` (or a Panasonic file's `CFG_ROOT_CERTIFICATE_PATH1` to `3`) are read once,
//! parsed and kept in [`ProvisioningSettings::tls`] for the HTTP client. Every error names
//! the configuration file, the key (and, for a vendor file, the line) and the file named.

use std::path::{Path, PathBuf};

use crate::pem::PemError;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use sip_resync_core::config::*;
/// Masks the credentials of a URL (`user:pass@` becomes `user:***@`) for display.
pub use sip_resync_core::redact;

/// Reads and interprets a configuration file of any supported dialect, then reads and checks
/// the files it names ([`read_files`]).
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    let mut settings = from_bytes(&bytes, path)?;
    read_files(&mut settings)?;
    Ok(settings)
}

/// Reads and checks the files that settings name: the `[sip.tls]` files must be readable
/// (their content is checked where the listener is built), and the provisioning TLS material
/// is read into [`ProvisioningSettings::tls`]. Settings made by [`from_bytes`] go through
/// this step before they are used; [`load`] does it.
pub fn read_files(settings: &mut Settings) -> Result<(), ConfigError> {
    if let Some(tls) = &settings.sip.tls {
        readable(settings, "sip.tls.certificate", &tls.certificate)?;
        readable(settings, "sip.tls.private_key", &tls.private_key)?;
        if let Some(ca) = &tls.client_ca {
            readable(settings, "sip.tls.client_ca", ca)?;
        }
    }
    let material = read_material(settings)?;
    settings.provisioning.tls = material;
    Ok(())
}

/// The error for a file named by `key`, located at the key's line in a vendor file.
fn invalid(settings: &Settings, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: settings.path.clone(),
        line: settings.line_of(key),
        key: Some(key.to_owned()),
        message,
    }
}

/// The file can be opened for reading now.
fn readable(settings: &Settings, key: &str, path: &Path) -> Result<(), ConfigError> {
    match std::fs::File::open(path) {
        Ok(_) if path.is_dir() => Err(invalid(
            settings,
            key,
            format!("{} is a directory: name a PEM file", path.display()),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(invalid(
            settings,
            key,
            format!(
                "cannot read {}: {e} ({})",
                path.display(),
                read_hint(path, &e)
            ),
        )),
    }
}

/// The key a CA file came from: `provisioning.ca_files` in our TOML, the
/// `CFG_ROOT_CERTIFICATE_PATHn` that names it in a Panasonic file.
fn ca_key(settings: &Settings, path: &Path) -> String {
    let base = &settings.provisioning.base_dir;
    settings
        .vendor_entries
        .iter()
        .filter(|(k, _)| PANASONIC_CA_KEYS.contains(&k.as_str()))
        .find(|(_, v)| {
            let v = v.trim();
            let local = match v.split_once("://") {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => rest,
                _ => v,
            };
            base.join(local) == path
        })
        .map_or_else(|| "provisioning.ca_files".to_owned(), |(k, _)| k.clone())
}

/// Reads and checks `ca_files`, `client_certificate` and `client_key`, locating an error at
/// the key that named the file.
fn read_material(settings: &Settings) -> Result<TlsMaterial, ConfigError> {
    provisioning_material(&settings.provisioning, |path| ca_key(settings, path))
        .map_err(|(key, message)| invalid(settings, &key, message))
}

/// The provisioning TLS material: as read by [`read_files`], or read now for settings that
/// did not go through it. An error names the key and the file.
pub(crate) fn provisioning_material(
    prov: &ProvisioningSettings,
    ca_key: impl Fn(&Path) -> String,
) -> Result<TlsMaterial, (String, String)> {
    if prov.tls.read {
        return Ok(prov.tls.clone());
    }
    let mut roots = Vec::new();
    for path in &prov.ca_files {
        let certs = ca_certificates(path).map_err(|e| (ca_key(path), e.to_string()))?;
        roots.extend(certs.into_iter().map(|c| c.as_ref().to_vec()));
    }
    let identity = match (&prov.client_certificate, &prov.client_key) {
        (Some(cert), Some(key)) => {
            Some(client_identity(cert, key).map_err(|(key, m)| (key.to_owned(), m))?)
        }
        _ => None,
    };
    Ok(TlsMaterial {
        read: true,
        roots,
        identity,
    })
}

/// Why a CA file (`provisioning.ca_files`) is not usable.
#[derive(Debug, thiserror::Error)]
enum CaFileError {
    /// It cannot be read, or is not PEM with a certificate (nor one DER certificate).
    #[error("{}: {error}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        error: PemError,
    },
    /// A certificate of it is not usable as a trust anchor.
    #[error("{}: certificate {number}: {error}", path.display())]
    Anchor {
        /// The file.
        path: PathBuf,
        /// Which certificate, from 1.
        number: usize,
        /// rustls's reason.
        error: rustls::Error,
    },
}

/// The certificates of a CA file: PEM (any number of `CERTIFICATE` sections), or a single
/// DER certificate. Each must be usable as a trust anchor.
fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let at = |error| CaFileError::Pem {
        path: path.to_owned(),
        error,
    };
    let bytes = crate::pem::read(path).map_err(at)?;
    let certs = match crate::pem::certificates(&bytes) {
        Ok(certs) => certs,
        // No PEM block, but a DER SEQUENCE: one certificate in DER.
        Err(PemError::NoCertificate) if bytes.first() == Some(&0x30) => {
            vec![CertificateDer::from(bytes)]
        }
        Err(e) => return Err(at(e)),
    };
    for (i, cert) in certs.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|error| CaFileError::Anchor {
                path: path.to_owned(),
                number: i + 1,
                error,
            })?;
    }
    Ok(certs)
}

/// The client certificate chain and its key, checked to belong together, as PEM.
fn client_identity(cert_path: &Path, key_path: &Path) -> Result<Vec<u8>, (&'static str, String)> {
    let cert_key = "provisioning.client_certificate";
    let key_key = "provisioning.client_key";
    let certs = crate::pem::read(cert_path)
        .and_then(|bytes| crate::pem::certificates(&bytes))
        .map_err(|reason| (cert_key, format!("{}: {reason}", cert_path.display())))?;
    let key = crate::pem::read(key_path)
        .and_then(|bytes| crate::pem::private_key(&bytes))
        .map_err(|reason| (key_key, format!("{}: {reason}", key_path.display())))?;
    let provider = crate::crypto::provider();
    rustls::sign::CertifiedKey::from_der(certs.clone(), key.clone_key(), &provider).map_err(
        |e| match e {
            rustls::Error::InconsistentKeys(_) => (
                key_key,
                format!(
                    "{}: not the key of the certificate in {}",
                    key_path.display(),
                    cert_path.display()
                ),
            ),
            e => (key_key, format!("{}: {e}", key_path.display())),
        },
    )?;
    let mut pem = Vec::new();
    for cert in &certs {
        pem_section(&mut pem, "CERTIFICATE", cert.as_ref());
    }
    let label = match &key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    pem_section(&mut pem, label, key.secret_der());
    Ok(pem)
}

/// Appends one PEM section (RFC 7468): base64 in lines of 64 characters.
fn pem_section(out: &mut Vec<u8>, label: &str, der: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.extend_from_slice(format!("-----BEGIN {label}-----\n").as_bytes());
    let mut line = 0;
    for group in der.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= group.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63]
            } else {
                b'='
            });
        }
        line += 4;
        if line == 64 {
            out.push(b'\n');
            line = 0;
        }
    }
    if line > 0 {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    /// `[sip.tls]` settings read from `body`, as `load` reads them: relative to this crate's
    /// directory, then the files checked.
    fn tls_files(body: &str) -> Result<(), ConfigError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.toml");
        let mut settings = from_bytes(body.as_bytes(), &path)?;
        read_files(&mut settings)
    }

    /// Moved here with the file reading from the core's `[sip.tls]` reader, with its
    /// assertions: any readable files pass (their content is checked where the listener is
    /// built); a missing one names its key and says to check the path; a directory is named.
    #[test]
    fn the_tls_files_must_be_readable_files() {
        let ok = "[sip.tls]\ncertificate = \"Cargo.toml\"\nprivate_key = \"src/lib.rs\"\n";
        tls_files(ok).unwrap();
        let missing = format!("{ok}client_ca = \"no/such.pem\"\n");
        let e = tls_files(&missing).unwrap_err().to_string();
        assert!(e.contains("sip.tls.client_ca"), "{e}");
        assert!(
            e.contains("no/such.pem") && e.contains("check the path"),
            "{e}"
        );
        let dir = "[sip.tls]\ncertificate = \"src\"\nprivate_key = \"Cargo.toml\"\n";
        let e = tls_files(dir).unwrap_err().to_string();
        assert!(e.contains("sip.tls.certificate"), "{e}");
        assert!(e.ends_with("is a directory: name a PEM file"), "{e}");
    }

    /// The PEM written for reqwest's `Identity` reads back as the same DER, at every length
    /// modulo 3 and across line breaks.
    #[test]
    fn pem_sections_read_back() {
        for len in 1..200usize {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut pem = Vec::new();
            pem_section(&mut pem, "CERTIFICATE", &der);
            let back = CertificateDer::from_pem_slice(&pem).unwrap();
            assert_eq!(back.as_ref(), &der[..], "{len}");
            assert!(pem.split(|&b| b == b'\n').all(|l| l.len() <= 64));
        }
    }
}

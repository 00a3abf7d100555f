//! Certificate and key files (PEM, RFC 7468), read with a size bound: one reader for the SIP
//! TLS listener (`[sip.tls]`) and the HTTPS provisioning client (`[provisioning] ca_files`,
//! `client_certificate`, `client_key`). Each function says what is wrong as a reason without
//! the path; the caller names the setting and the file.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Largest certificate, key or CA file read, in bytes (1 MiB).
pub(crate) const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// What is wrong with a certificate or key file, without its path (the caller names the
/// setting and the file) and without quoting it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PemError {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// Larger than [`MAX_PEM_BYTES`].
    #[error("larger than {MAX_PEM_BYTES} bytes: is this a PEM file?")]
    TooLarge,
    /// No `CERTIFICATE` block.
    #[error("no certificate in it (expected a PEM block that starts -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    /// No private key block.
    #[error("no private key in it (expected a PEM block that starts -----BEGIN PRIVATE KEY-----, -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----)")]
    NoPrivateKey,
    /// A BEGIN line without its END line.
    #[error("not PEM: a BEGIN line has no END line")]
    MissingEnd,
    /// A malformed BEGIN line.
    #[error("not PEM: a malformed BEGIN line")]
    BadBegin,
    /// A block that is not base64.
    #[error("not PEM: a block is not valid base64")]
    Base64,
    /// Anything else the PEM reader reports.
    #[error("not PEM: {0}")]
    Other(String),
}

/// Reads a file of at most [`MAX_PEM_BYTES`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(PemError::Read)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(PemError::Read)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(PemError::TooLarge);
    }
    Ok(bytes)
}

/// Every `CERTIFICATE` block of `bytes`, in order; at least one.
pub(crate) fn certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(reason)?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(certs)
}

/// The first private key of `bytes`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub(crate) fn private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => PemError::NoPrivateKey,
        e => reason(e),
    })
}

/// What is wrong with a file that does not read as PEM, without quoting it.
fn reason(e: pem::Error) -> PemError {
    match e {
        pem::Error::MissingSectionEnd { .. } => PemError::MissingEnd,
        pem::Error::IllegalSectionStart { .. } => PemError::BadBegin,
        pem::Error::Base64Decode(_) => PemError::Base64,
        e => PemError::Other(e.to_string()),
    }
}

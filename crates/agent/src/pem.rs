//! Certificate and key files (PEM, RFC 7468), read with a size bound: one reader for the SIP
//! TLS listener (`[sip.tls]`) and the HTTPS provisioning client (`[provisioning] ca_files`,
//! `client_certificate`, `client_key`). Each function says what is wrong as a reason without
//! the path; the caller names the setting and the file.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Largest certificate, key or CA file read, in bytes (1 MiB).
pub(crate) const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The reason [`certificates`] gives for a file without a certificate in it.
pub(crate) const NO_CERTIFICATE: &str =
    "no certificate in it (expected a PEM block that starts -----BEGIN CERTIFICATE-----)";

/// Reads a file of at most [`MAX_PEM_BYTES`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| format!("cannot read: {e}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "larger than {MAX_PEM_BYTES} bytes: is this a PEM file?"
        ));
    }
    Ok(bytes)
}

/// Every `CERTIFICATE` block of `bytes`, in order; at least one.
pub(crate) fn certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| reason(&e))?;
    if certs.is_empty() {
        return Err(NO_CERTIFICATE.into());
    }
    Ok(certs)
}

/// The first private key of `bytes`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub(crate) fn private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => "no private key in it (expected a PEM block that starts \
             -----BEGIN PRIVATE KEY-----, -----BEGIN RSA PRIVATE KEY----- or \
             -----BEGIN EC PRIVATE KEY-----)"
            .to_owned(),
        e => reason(&e),
    })
}

/// What is wrong with a file that does not read as PEM, without quoting it.
fn reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "not PEM: a BEGIN line has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "not PEM: a malformed BEGIN line".into(),
        pem::Error::Base64Decode(_) => "not PEM: a block is not valid base64".into(),
        e => format!("not PEM: {e}"),
    }
}

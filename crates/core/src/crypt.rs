//! Encrypted provisioning files, decrypted in memory with the keys the configuration names.
//!
//! Two formats, both exactly as the vendors make them (shared research, dialects.md §2):
//! - **OpenSSL `enc`**: `Salted__`, an 8-byte salt, then AES-CBC with PKCS#7 padding, key and
//!   IV from `EVP_BytesToKey` (one round) with MD5 (OpenSSL before 1.1.0, which the vendors'
//!   documents date from) or SHA-256 (OpenSSL 1.1.0 and later, what `openssl enc` makes
//!   today); both are tried, and AES-256, AES-128 and AES-192. Optionally Base64 (`-a`, as
//!   Panasonic KX-UTG files are) and, inside, gzip (Cisco: "compression must precede
//!   encryption"). Keys: Cisco `[--key …]` in `Profile_Rule` (with `$SA`..`$SD`), Grandstream
//!   `P1359`, Panasonic KX-UTG `CFG_FILE_KEY`.
//! - **Yealink**: AES-128-ECB without padding, the 16-character key used as raw bytes;
//!   `aes_key_16.mac` (or `aes_key.mac`) for a file named with the phone's MAC,
//!   `aes_key_16.com` (or `aes_key.com`) for the others, each falling back to the other.
//!   32-character keys are tried as AES-256-ECB (the vendor does not say). Trailing NUL and
//!   space bytes (the block padding seen in Yealink's files) are removed.
//!
//! The padding check alone accepts about 0.7 % of wrong keys, so a decryption counts only when
//! the plaintext is a configuration file: UTF-8 text without control characters (tab, CR and
//! LF aside) that one of the readers recognises (a Panasonic magic line, a Yealink version
//! line, an XML or INI start). Keys never appear in an error, a log line or a `Debug` output;
//! the applied set holds the decrypted file.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockDecryptMut, KeyInit, KeyIvInit};
use md5::Digest;

use crate::config::{cisco, yealink, Dialect, FileFormat, Settings};

/// The header of an OpenSSL `enc` file made with a password.
pub const SALTED: &[u8] = b"Salted__";

/// The keys a configuration names for encrypted files. Its `Debug` shows how many, never
/// which.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FileKeys {
    /// Passphrases of OpenSSL `enc` files.
    openssl: Vec<String>,
    /// Yealink common key.
    yealink_com: Option<String>,
    /// Yealink MAC-oriented key.
    yealink_mac: Option<String>,
}

impl fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeys")
            .field("openssl", &self.openssl.len())
            .field("yealink", &self.yealink_com.iter().count())
            .finish()
    }
}

impl FileKeys {
    /// The keys `settings` name: Cisco `Profile_Rule*` `--key` (with `GPP_SA`..`GPP_SD`),
    /// Grandstream `P1359`, Panasonic `CFG_FILE_KEY`, Yealink `aes_key_16.*` / `aes_key.*`.
    pub fn of(settings: &Settings) -> FileKeys {
        let get = |k: &str| {
            settings
                .vendor_entries
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut openssl = cisco::profile_keys(get);
        openssl.extend(get("P1359"));
        openssl.extend(get("CFG_FILE_KEY"));
        openssl.dedup();
        let (yealink_com, yealink_mac) = yealink::aes_keys(get);
        FileKeys {
            openssl,
            yealink_com,
            yealink_mac,
        }
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.openssl.is_empty() && self.yealink_com.is_none() && self.yealink_mac.is_none()
    }
}

/// Why an encrypted file was refused. No variant carries a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// An OpenSSL `enc` file, and no key configured.
    #[error("encrypted (OpenSSL enc format) but no key is configured: give Cisco's Profile_Rule a [--key …], Grandstream's P1359 or Panasonic's CFG_FILE_KEY")]
    NoKey,
    /// No configured key gives a configuration file.
    #[error("encrypted ({format}) and none of the {keys} configured key(s) decrypts it into a configuration file: wrong key, or a format not supported (openssl enc -pbkdf2, Polycom .enc, Yealink RSA mode)")]
    WrongKey {
        /// `OpenSSL enc` or `Yealink AES-ECB`.
        format: &'static str,
        /// How many keys were tried.
        keys: usize,
    },
    /// The Base64 text of an `openssl enc -a` file is not Base64.
    #[error("starts like Base64 OpenSSL enc output (U2FsdGVkX1) but is not valid Base64")]
    Base64,
    /// A gzipped profile that does not inflate, or inflates beyond the size limit.
    #[error("gzip content that does not inflate within {limit} bytes")]
    Gzip {
        /// The size limit.
        limit: u64,
    },
}

/// The file a fetched file stands for: decrypted when it is encrypted and a configured key
/// opens it, inflated when it is a gzipped profile, else the bytes as they are. `name` is
/// the file's local name (a name holding the MAC selects Yealink's MAC-oriented key);
/// `limit` bounds what decryption and inflation may produce.
pub fn decrypt_fetched<'a>(
    settings: &Settings,
    name: &str,
    bytes: &'a [u8],
    limit: u64,
) -> Result<Cow<'a, [u8]>, DecryptError> {
    let keys = FileKeys::of(settings);
    decrypt(
        &keys,
        name,
        settings.provisioning.mac.as_deref(),
        bytes,
        limit,
    )
}

/// [`decrypt_fetched`] for the engine: the file to validate and store, or why it is not
/// valid, with the format to name it by (`format` as configured, or for
/// [`FileFormat::Auto`] the configuration's own dialect, whose keys were tried), naming the
/// file and never a key. `limit` is `provisioning.max_file_size`.
pub fn decrypt_for_run(
    settings: &Settings,
    name: &str,
    format: FileFormat,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, (FileFormat, crate::config::ParseError)> {
    let limit = settings.provisioning.max_file_size;
    match decrypt_fetched(settings, name, &bytes, limit) {
        Ok(Cow::Borrowed(_)) => Ok(bytes),
        Ok(Cow::Owned(plain)) => Ok(plain),
        Err(e) => {
            let format = match (format, settings.dialect) {
                (FileFormat::Auto, Dialect::Cisco) => FileFormat::Cisco,
                (FileFormat::Auto, Dialect::Grandstream) => FileFormat::Grandstream,
                (FileFormat::Auto, Dialect::Yealink) => FileFormat::Yealink,
                (FileFormat::Auto, Dialect::Panasonic) => FileFormat::Panasonic,
                (format, _) => format,
            };
            Err((
                format,
                crate::config::ParseError::Invalid {
                    path: std::path::PathBuf::from(name),
                    line: None,
                    key: None,
                    message: e.to_string(),
                },
            ))
        }
    }
}

/// [`decrypt_fetched`] with the keys given.
pub fn decrypt<'a>(
    keys: &FileKeys,
    name: &str,
    mac: Option<&str>,
    bytes: &'a [u8],
    limit: u64,
) -> Result<Cow<'a, [u8]>, DecryptError> {
    if bytes.starts_with(SALTED) {
        return openssl_with(keys, bytes, limit).map(Cow::Owned);
    }
    let head = bytes.trim_ascii_start();
    if head.starts_with(b"U2FsdGVkX1") {
        let text: Vec<u8> = head
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|_| DecryptError::Base64)?;
        return openssl_with(keys, &raw, limit).map(Cow::Owned);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // A gzipped Cisco profile; a gzip file that is no configuration stays as it is.
        let inflated = gunzip(bytes, limit)?;
        return Ok(if is_config_text(&inflated) {
            Cow::Owned(inflated)
        } else {
            Cow::Borrowed(bytes)
        });
    }
    let yealink_keys = yealink_order(keys, name, mac);
    if !yealink_keys.is_empty() && looks_like_ecb(bytes) {
        for key in &yealink_keys {
            if let Some(plain) = yealink_ecb(key.as_bytes(), bytes) {
                return Ok(Cow::Owned(plain));
            }
        }
        return Err(DecryptError::WrongKey {
            format: "Yealink AES-ECB",
            keys: yealink_keys.len(),
        });
    }
    Ok(Cow::Borrowed(bytes))
}

fn openssl_with(keys: &FileKeys, data: &[u8], limit: u64) -> Result<Vec<u8>, DecryptError> {
    if keys.openssl.is_empty() {
        return Err(DecryptError::NoKey);
    }
    for key in &keys.openssl {
        if let Some(plain) = openssl_decrypt(key.as_bytes(), data, limit) {
            return Ok(plain);
        }
    }
    Err(DecryptError::WrongKey {
        format: "OpenSSL enc",
        keys: keys.openssl.len(),
    })
}

/// Which message digest `EVP_BytesToKey` used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// MD5: `openssl enc` before 1.1.0, or `-md md5`.
    Md5,
    /// SHA-256: `openssl enc` since 1.1.0.
    Sha256,
}

/// OpenSSL's `EVP_BytesToKey` with one round: `D_i = H(D_{i-1} || pass || salt)`, concatenated
/// until `len` bytes.
pub fn evp_bytes_to_key(kdf: Kdf, pass: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        prev = match kdf {
            Kdf::Md5 => {
                let mut h = md5::Md5::new();
                h.update(&prev);
                h.update(pass);
                h.update(salt);
                h.finalize().to_vec()
            }
            Kdf::Sha256 => {
                let mut h = sha2::Sha256::new();
                h.update(&prev);
                h.update(pass);
                h.update(salt);
                h.finalize().to_vec()
            }
        };
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

/// Decrypts an OpenSSL `enc` file (`Salted__`, salt, AES-CBC) with `pass`, trying both key
/// derivations and AES-256, -128 and -192; the first result that is a configuration file
/// (gzip inflated first) wins. `None` when none is.
pub fn openssl_decrypt(pass: &[u8], data: &[u8], limit: u64) -> Option<Vec<u8>> {
    let rest = data.strip_prefix(SALTED)?;
    if rest.len() < 8 + 16 || !(rest.len() - 8).is_multiple_of(16) {
        return None;
    }
    let (salt, body) = rest.split_at(8);
    for kdf in [Kdf::Md5, Kdf::Sha256] {
        for key_len in [32, 16, 24] {
            let material = evp_bytes_to_key(kdf, pass, salt, key_len + 16);
            let (key, iv) = material.split_at(key_len);
            let mut buf = body.to_vec();
            let plain = match key_len {
                32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
                    .ok()?
                    .decrypt_padded_mut::<Pkcs7>(&mut buf)
                    .ok()
                    .map(<[u8]>::len),
                16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
                    .ok()?
                    .decrypt_padded_mut::<Pkcs7>(&mut buf)
                    .ok()
                    .map(<[u8]>::len),
                _ => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
                    .ok()?
                    .decrypt_padded_mut::<Pkcs7>(&mut buf)
                    .ok()
                    .map(<[u8]>::len),
            };
            let Some(len) = plain else { continue };
            buf.truncate(len);
            let plain = if buf.starts_with(&[0x1f, 0x8b]) {
                match gunzip(&buf, limit) {
                    Ok(p) => p,
                    Err(_) => continue,
                }
            } else {
                buf
            };
            if is_config_text(&plain) {
                return Some(plain);
            }
        }
    }
    None
}

/// Whether `bytes` can be a Yealink AES-ECB file: whole blocks, not already text.
fn looks_like_ecb(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len().is_multiple_of(16) && !is_config_text(bytes)
}

/// The Yealink keys in the order to try them for `name`.
fn yealink_order(keys: &FileKeys, name: &str, mac: Option<&str>) -> Vec<String> {
    let is_mac_file =
        mac.is_some_and(|m| name.to_ascii_uppercase().contains(&m.to_ascii_uppercase()));
    let (first, second) = if is_mac_file {
        (&keys.yealink_mac, &keys.yealink_com)
    } else {
        (&keys.yealink_com, &keys.yealink_mac)
    };
    let mut out: Vec<String> = first.iter().chain(second.iter()).cloned().collect();
    out.dedup();
    out
}

/// Decrypts a Yealink AES-ECB file with a 16-character (AES-128) or 32-character (AES-256)
/// key; `None` unless the plaintext is a configuration file.
pub fn yealink_ecb(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut buf = data.to_vec();
    let len = match key.len() {
        16 => ecb::Decryptor::<aes::Aes128>::new_from_slice(key)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .ok()?
            .len(),
        32 => ecb::Decryptor::<aes::Aes256>::new_from_slice(key)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .ok()?
            .len(),
        _ => return None,
    };
    buf.truncate(len);
    while buf.last().is_some_and(|&b| b == 0) {
        buf.pop();
    }
    is_config_text(&buf).then_some(buf)
}

/// Inflates gzip data, at most `limit` bytes of it.
fn gunzip(data: &[u8], limit: u64) -> Result<Vec<u8>, DecryptError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| DecryptError::Gzip { limit })?;
    if out.len() as u64 > limit {
        return Err(DecryptError::Gzip { limit });
    }
    Ok(out)
}

/// Whether `bytes` is a configuration file's text: UTF-8 without control characters other
/// than tab, CR and LF, starting (after a BOM and white space) like one of the formats read
/// (`<`, `#`, `[`, or a Panasonic `NAME="` line).
pub fn is_config_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return false;
    }
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with('<') || t.starts_with('#') || t.starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of every vendor file of the corpus are found without a panic, and a file
    /// that names none gives none (kept here, not in the readers' property tests, so that the
    /// configuration readers do not depend on this module).
    #[test]
    fn file_keys_of_the_corpus() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/real");
        for vendor in ["cisco", "grandstream", "polycom", "yealink"] {
            for entry in std::fs::read_dir(format!("{root}/{vendor}")).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let settings = crate::config::from_bytes(&bytes, &path).unwrap();
                let _ = FileKeys::of(&settings);
            }
        }
    }

    /// The KDF against a value computed with `openssl enc -P` (salt 0102030405060708,
    /// password "secret", -md md5 and -md sha256, -aes-256-cbc).
    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        let md5 = evp_bytes_to_key(Kdf::Md5, b"secret", &salt, 48);
        let sha = evp_bytes_to_key(Kdf::Sha256, b"secret", &salt, 48);
        assert_eq!(md5.len(), 48);
        assert_ne!(md5, sha);
        // The first MD5 block is MD5("secret" || salt).
        let mut h = md5::Md5::new();
        h.update(b"secret");
        h.update(salt);
        assert_eq!(hex(&md5[..16]), hex(&h.finalize()));
    }

    #[test]
    fn plaintext_checks() {
        assert!(is_config_text(b"<?xml version=\"1.0\"?><flat-profile/>"));
        assert!(is_config_text(b"\xef\xbb\xbf#!version:1.0.0.1\n"));
        assert!(!is_config_text(b"\x00\x01garbage"));
        assert!(!is_config_text(b"plain words"));
        assert!(!is_config_text(&[0xff, 0xfe]));
    }

    #[test]
    fn keys_are_never_shown() {
        let keys = FileKeys {
            openssl: vec!["topsecret".into()],
            yealink_com: Some("0123456789abcdef".into()),
            yealink_mac: None,
        };
        let shown = format!("{keys:?}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("0123"),
            "{shown}"
        );
        let e = decrypt(
            &keys,
            "a.xml",
            None,
            b"Salted__12345678garbagegarbage12",
            1000,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        let e = decrypt(
            &FileKeys::default(),
            "a.xml",
            None,
            b"Salted__12345678",
            1000,
        )
        .unwrap_err();
        assert_eq!(e, DecryptError::NoKey);
        // Plain files pass through untouched.
        let plain = b"<flat-profile/>";
        assert!(matches!(
            decrypt(&keys, "a.xml", None, plain, 1000),
            Ok(Cow::Borrowed(_))
        ));
    }
}

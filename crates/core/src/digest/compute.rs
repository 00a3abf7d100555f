//! The RFC 7616 computation shared by the SIP server and the HTTP client: the algorithms,
//! the `qop=auth` response digest, and a client's `Authorization` value.

use std::fmt;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::params::quoted;

/// A digest algorithm (RFC 8760 §2.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`: what RFC 2617 clients (and SIPp 3.6) compute.
    Md5,
    /// `SHA-256` (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The name used in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Reads an `algorithm=` value (case-insensitive). `-sess` variants are not offered and
    /// not accepted.
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Lowercase hex of the hash of `parts` joined with `:`.
    pub(super) fn hex(self, parts: &[&[u8]]) -> String {
        fn feed<D: sha2::Digest>(mut d: D, parts: &[&[u8]]) -> Vec<u8> {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            d.finalize().to_vec()
        }
        let bytes = match self {
            Algorithm::Md5 => feed(Md5::new(), parts),
            Algorithm::Sha256 => feed(Sha256::new(), parts),
        };
        hex(&bytes)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a `qop=auth` response digest is computed over, besides the client's fields.
pub(super) struct Challenge<'a> {
    pub(super) algorithm: Algorithm,
    pub(super) realm: &'a str,
    pub(super) nonce: &'a str,
}

impl Challenge<'_> {
    /// RFC 7616 §3.4.1: `H(H(user:realm:password):nonce:nc:cnonce:auth:H(method:uri))`.
    pub(super) fn response(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: &str,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let ha1 = alg.hex(&[
            username.as_bytes(),
            self.realm.as_bytes(),
            password.as_bytes(),
        ]);
        let ha2 = alg.hex(&[method.as_bytes(), uri.as_bytes()]);
        alg.hex(&[
            ha1.as_bytes(),
            self.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ])
    }
}

/// Computes a client's `Authorization` value (`qop=auth`), as a PBX would. Used by the
/// `notify` command and tests; the arguments are the challenge's and the credential's.
#[allow(clippy::too_many_arguments)]
pub fn authorization(
    algorithm: Algorithm,
    username: &str,
    password: &str,
    realm: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let nc = format!("{nc:08x}");
    let response = Challenge {
        algorithm,
        realm,
        nonce,
    }
    .response(username, password, method, uri, &nc, cnonce);
    let [username, realm, nonce, uri, cnonce] = [username, realm, nonce, uri, cnonce].map(quoted);
    format!(
        "Digest username=\"{username}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={algorithm}, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
    )
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5 and RFC 7616 §3.9.1: the published responses for the example requests.
    #[test]
    fn published_test_vectors() {
        let rfc2617 = authorization(
            Algorithm::Md5,
            "Mufasa",
            "Circle Of Life",
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(rfc2617.contains("response=\"6629fae49393a05397450978507c4ef1\""));
        let args = |alg| {
            authorization(
                alg,
                "Mufasa",
                "Circle of Life",
                "http-auth@example.org",
                "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                "GET",
                "/dir/index.html",
                1,
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )
        };
        assert!(args(Algorithm::Md5).contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""));
        assert!(args(Algorithm::Sha256).contains(
            "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
        ));
    }
}

//! The HTTP client's side: answering an HTTP server's `WWW-Authenticate: Digest` challenge
//! (HTTPS provisioning). It shares only the parameter parser and the computation with the SIP
//! server's side, so a change made for SIP cannot change what a provisioning server sees.

use super::compute::{authorization, Algorithm};
use super::params::{quoted, DigestFields};

/// Why a Digest challenge of an HTTP server cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The value does not parse, or repeats a parameter.
    #[error("a malformed Digest challenge")]
    Malformed,
    /// `algorithm=` names one this client does not compute (an escaped excerpt of it).
    #[error("algorithm {0} is not supported (MD5 and SHA-256 are)")]
    Algorithm(String),
    /// No `qop=auth` offered: RFC 2069's digest, without replay protection.
    #[error("{0} without qop=auth (the digest of RFC 2069, which has no replay protection, is not answered)")]
    NoQopAuth(Algorithm),
    /// `realm` or `nonce` is missing.
    #[error("a Digest challenge without realm or nonce")]
    NoRealmOrNonce,
}

/// A `WWW-Authenticate: Digest` challenge of an HTTP server, as a client answers it
/// (RFC 7616 §3.3 and §3.4): `qop=auth`, MD5 or SHA-256, `opaque` returned unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChallenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `algorithm`; MD5 when the challenge names none.
    pub algorithm: Algorithm,
    /// `opaque`, if the server sent one.
    pub opaque: Option<String>,
}

impl ServerChallenge {
    /// Reads one `WWW-Authenticate` value: `Ok(None)` when it is not a Digest challenge,
    /// `Err` (saying why) when it is one this client cannot answer.
    pub fn parse(value: &str) -> Result<Option<ServerChallenge>, ChallengeError> {
        let scheme = value.split_ascii_whitespace().next().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Ok(None);
        }
        let f = DigestFields::parse(value).ok_or(ChallengeError::Malformed)?;
        let algorithm = match f.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a)
                .ok_or_else(|| ChallengeError::Algorithm(crate::escape::excerpt(a.as_bytes())))?,
        };
        let auth = f
            .qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")));
        if !auth {
            return Err(ChallengeError::NoQopAuth(algorithm));
        }
        let (Some(realm), Some(nonce)) = (f.realm, f.nonce) else {
            return Err(ChallengeError::NoRealmOrNonce);
        };
        Ok(Some(ServerChallenge {
            realm,
            nonce,
            algorithm,
            opaque: f.opaque,
        }))
    }

    /// The `Authorization` value answering this challenge (see [`authorization`]), with
    /// `opaque` when the challenge carried one.
    #[allow(clippy::too_many_arguments)]
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let mut value = authorization(
            self.algorithm,
            username,
            password,
            &self.realm,
            &self.nonce,
            method,
            uri,
            nc,
            cnonce,
        );
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{}\"", quoted(opaque)));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::compute::Challenge;

    /// RFC 7616 §3.9.1: the server's SHA-256 challenge (folded onto one line) answered as the
    /// RFC's client does, `opaque` returned; then what a client must not answer.
    #[test]
    fn an_http_server_challenge_is_answered_as_rfc_7616_shows() {
        let value = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                     algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                     opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let c = ServerChallenge::parse(value).unwrap().unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        let auth = c.authorization(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert!(
            auth.contains(
                "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
            ),
            "{auth}"
        );
        assert!(auth.ends_with(", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        assert!(auth.contains("qop=auth, nc=00000001"));
        assert_eq!(ServerChallenge::parse("Basic realm=\"x\""), Ok(None));
        for refused in [
            "Digest realm=\"r\", nonce=\"n\"",
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth\", algorithm=MD5-sess",
            "Digest realm=\"r\", qop=\"auth\"",
            "Digest realm",
        ] {
            assert!(ServerChallenge::parse(refused).is_err(), "{refused}");
        }
        // A user name with a quote is escaped in the header, hashed as it is.
        let c = ServerChallenge::parse("digest realm=\"r\", nonce=\"n\", qop=auth")
            .unwrap()
            .unwrap();
        let auth = c.authorization("a\"b", "p", "GET", "/", 1, "c");
        let f = DigestFields::parse(&auth).unwrap();
        assert_eq!(f.username.as_deref(), Some("a\"b"));
        assert_eq!(
            f.response.as_deref(),
            Some(
                Challenge {
                    algorithm: Algorithm::Md5,
                    realm: "r",
                    nonce: "n"
                }
                .response("a\"b", "p", "GET", "/", "00000001", "c")
                .as_str()
            )
        );
    }
}

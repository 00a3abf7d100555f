//! Answering an HTTP server's `401 Unauthorized` with the credentials of a file's URL.
//!
//! A server that sends a usable `WWW-Authenticate: Digest` challenge gets an RFC 7616
//! `Authorization: Digest` answer (`qop=auth`, a fresh `cnonce`, `nc=00000001`), computed by
//! the crate's own digest code ([`sip_resync_core::digest`]); among several Digest challenges the
//! first one this client can answer is taken, since a server lists them in its order of
//! preference (RFC 7616 §3.7). Basic (RFC 7617) is what the request already carried, unless
//! the server's origin is known to want Digest.

use sip_resync_core::digest::ServerChallenge;

use sip_resync_core::engine::{Credentials, HttpAuthError};

/// Most `WWW-Authenticate` values read from one response.
pub(crate) const MAX_CHALLENGES: usize = 8;

/// The `Authorization: Digest` value answering the first usable Digest challenge among
/// `challenges` for a `method` on `uri` (the request target: path and query). `Ok(None)`:
/// no Digest challenge. `Err`: Digest challenges, none of them answerable, and why.
pub(crate) fn digest_answer(
    challenges: &[String],
    credentials: &Credentials,
    method: &str,
    uri: &str,
) -> Result<Option<String>, HttpAuthError> {
    let mut refused = Vec::new();
    for value in challenges.iter().take(MAX_CHALLENGES) {
        match ServerChallenge::parse(value) {
            Ok(Some(challenge)) => {
                return Ok(Some(challenge.authorization(
                    &credentials.user,
                    &credentials.password,
                    method,
                    uri,
                    1,
                    &cnonce(),
                )))
            }
            Ok(None) => {}
            Err(why) => refused.push(why),
        }
    }
    if refused.is_empty() {
        Ok(None)
    } else {
        Err(HttpAuthError::Unanswerable(refused))
    }
}

/// Whether one of `challenges` is a Basic challenge.
pub(crate) fn offers_basic(challenges: &[String]) -> bool {
    challenges.iter().take(MAX_CHALLENGES).any(|v| {
        v.split_ascii_whitespace()
            .next()
            .is_some_and(|s| s.eq_ignore_ascii_case("Basic"))
    })
}

/// A client nonce: 128 bits from the operating system's random source, in hex.
fn cnonce() -> String {
    let mut bytes = [0u8; 16];
    sip_resync_core::digest::fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            user: "Mufasa".into(),
            password: "Circle of Life".into(),
        }
    }

    /// The first answerable challenge wins, in the server's order; unanswerable ones are
    /// skipped, and said when nothing else is offered.
    #[test]
    fn the_servers_first_usable_challenge_is_answered() {
        let sha = "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256".to_owned();
        let md5 = "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\", algorithm=MD5".to_owned();
        let sess =
            "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256-sess".to_owned();
        let basic = "Basic realm=\"r\"".to_owned();
        let answer = |c: &[String]| digest_answer(c, &credentials(), "GET", "/a.cfg");
        let a = answer(&[basic.clone(), sess.clone(), sha.clone(), md5.clone()])
            .unwrap()
            .unwrap();
        assert!(
            a.contains("algorithm=SHA-256,") && a.contains("uri=\"/a.cfg\""),
            "{a}"
        );
        let a = answer(&[md5.clone(), sha]).unwrap().unwrap();
        assert!(a.contains("algorithm=MD5,"), "{a}");
        assert_eq!(answer(std::slice::from_ref(&basic)), Ok(None));
        let e = answer(&[sess]).unwrap_err().to_string();
        assert!(e.contains("SHA-256-sess is not supported"), "{e}");
        assert!(offers_basic(&[md5, basic]));
        // Two answers never share a cnonce.
        let one = answer(std::slice::from_ref(&sess_free())).unwrap().unwrap();
        let two = answer(std::slice::from_ref(&sess_free())).unwrap().unwrap();
        assert_ne!(one, two);
    }

    fn sess_free() -> String {
        "Digest realm=\"r\", nonce=\"n\", qop=\"auth\"".to_owned()
    }
}

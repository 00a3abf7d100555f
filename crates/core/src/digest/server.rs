//! The SIP server's side: the digest challenge of NOTIFY (RFC 3261 §22.4).
//!
//! Off by default. When [`AuthConfig::challenge`] is set, an otherwise accepted NOTIFY is acted
//! upon only when its `Authorization` header verifies with the credentials of the addressed
//! line; anything else is answered `401 Unauthorized` with one `WWW-Authenticate` header per
//! configured algorithm, in order of preference (RFC 8760 §2.4), each offering `qop="auth"`.
//!
//! Nonces need no table to be checked. A nonce is `hex(issued_ms ‖ serial ‖ tag)`, where
//! `issued_ms` counts milliseconds since the first challenge of this [`DigestState`],
//! `serial` makes every nonce distinct, and `tag` is HMAC-SHA-256 under a 256-bit key drawn
//! from the operating system when the state is created, over the two numbers and the realm.
//! A process has one state, shared by all its endpoints ([`DigestState::shared`]), so a nonce
//! verifies on every UDP worker and every transport of the process that issued it, and only
//! until [`AuthConfig::nonce_lifetime`] has passed.
//!
//! Replays are refused by `nc` tracking. Only a request whose response digest verified is
//! recorded, with the highest `nc` seen for its nonce, so a sender without the password cannot
//! grow the table. The table holds at most [`AuthConfig::max_nonces`] nonces. Expired ones are
//! forgotten first. When it is still full, the oldest is forgotten and every nonce issued up
//! to it is treated as stale from then on. The table stays bounded, and a forgotten nonce can
//! never be replayed.
//!
//! A request whose digest is right but whose nonce, issued here, has expired or was already
//! used with that `nc` is answered with a fresh challenge marked `stale=true` (RFC 7616
//! §3.3), so an honest client retries without asking for the password again. A replayed
//! capture gets the same answer and can do nothing with it without the password. A nonce not
//! issued here (made up, or issued before a restart) is a failure, checked before the digest:
//! `stale=true` would tell a guesser that its password was right.
//!
//! Failures are charged to the source address and the user, and a source or user over its
//! budget is held back unchecked ([`GuessBudget`], `brake.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::brake::{Brake, GuessBudget};
use super::compute::{hex, Algorithm, Challenge};
use super::params::DigestFields;
use super::random::fill_random;
use crate::sync::lock;

/// The SIP credentials of one line.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user part of the line's SIP URI (Panasonic `SIP_URI_n`, else `PHONE_NUMBER_n`;
    /// Snom `user_name<n>`). When a NOTIFY's Request-URI names a user some credential carries,
    /// only such credentials are accepted for it; `None` matches any Request-URI.
    pub user: Option<String>,
    /// The authentication ID the PBX puts in `username=` (Panasonic `SIP_AUTHID_n`, Snom
    /// `user_pname<n>`, which falls back to `user_name<n>`).
    pub auth_id: String,
    /// The password (Panasonic `SIP_PASS_n`, Snom `user_pass<n>`). Never logged.
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("auth_id", &self.auth_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Settings of the digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Challenge NOTIFYs (Snom `challenge_checksync`). Off by default, as on the phones.
    pub challenge: bool,
    /// The realm offered in `WWW-Authenticate`.
    pub realm: String,
    /// Offered algorithms, most preferred first; at least one.
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce is accepted after it was issued.
    pub nonce_lifetime: Duration,
    /// Most nonces whose `nc` is remembered at once.
    pub max_nonces: usize,
    /// The lines' credentials.
    pub credentials: Vec<Credential>,
    /// The brake on guessing: failed answers allowed per source address and per user, and
    /// the hold-off after them.
    pub guesses: GuessBudget,
}

/// Default realm.
pub const DEFAULT_REALM: &str = "sip-resync";

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            challenge: false,
            realm: DEFAULT_REALM.into(),
            // MD5 first: the senders in the field (Kamailio 5.6, sipsak 0.9.8, SIPp 3.6) read
            // only the first challenge and compute MD5 only; SHA-256 stays offered for a
            // client that knows nothing else (docs/security.md).
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
            nonce_lifetime: Duration::from_secs(60),
            max_nonces: 1024,
            credentials: Vec::new(),
            guesses: GuessBudget::default(),
        }
    }
}

/// Why a NOTIFY was challenged instead of acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No `Authorization` header for our realm: the first request of the exchange.
    Missing,
    /// An `Authorization` header that does not parse, lacks a field, or uses a scheme other
    /// than Digest.
    Malformed,
    /// `algorithm=` names one that is not offered.
    Algorithm,
    /// `qop` is absent or not `auth` (without it, `nc` cannot stop a replay).
    Qop,
    /// `uri=` is not the Request-URI.
    Uri,
    /// No credential of the addressed line has this `username`.
    UnknownUser,
    /// The response digest is wrong: a wrong password, or a forged header.
    WrongResponse,
    /// The nonce was not issued by this process: made up, or issued before a restart.
    UnknownNonce,
    /// The digest is right but the nonce has expired (or its `nc` was forgotten).
    StaleNonce,
    /// The digest is right but this nonce was already used with this or a higher `nc`.
    Replayed,
    /// Not checked: the source address (or the user) gave too many failed answers and is
    /// held back by the brake on guessing ([`AuthConfig::guesses`]).
    Throttled {
        /// Failed answers counted for the source address.
        failures: u32,
    },
}

impl AuthFailure {
    /// True when the client proved it knows the password; the new challenge says
    /// `stale=true`.
    pub fn stale(self) -> bool {
        matches!(self, AuthFailure::StaleNonce | AuthFailure::Replayed)
    }

    /// True when credentials were presented and refused for a reason other than staleness:
    /// what a guessing or forging sender causes.
    pub fn is_refusal(self) -> bool {
        !matches!(
            self,
            AuthFailure::Missing
                | AuthFailure::StaleNonce
                | AuthFailure::Replayed
                | AuthFailure::Throttled { .. }
        )
    }

    /// A short description for logs.
    pub fn describe(self) -> &'static str {
        match self {
            AuthFailure::Missing => "no credentials",
            AuthFailure::Malformed => "malformed Authorization header",
            AuthFailure::Algorithm => "algorithm not offered",
            AuthFailure::Qop => "qop=auth missing",
            AuthFailure::Uri => "uri differs from the Request-URI",
            AuthFailure::UnknownUser => "unknown username for this line",
            AuthFailure::WrongResponse => "wrong response digest (wrong password?)",
            AuthFailure::UnknownNonce => "nonce not issued here (made up, or before a restart)",
            AuthFailure::StaleNonce => "nonce expired",
            AuthFailure::Replayed => "nonce count replayed",
            AuthFailure::Throttled { .. } => "held back after too many failed answers",
        }
    }
}

const TAG_BYTES: usize = 16;
const NONCE_HEX: usize = 2 * (8 + 4 + TAG_BYTES);

/// Nonce identity: issue time in ms and serial.
type NonceId = (u64, u32);

/// The challenge state of a process: the nonce key, the `nc` table and the failure counts of
/// the brake on guessing. No I/O; time is an argument.
///
/// One state serves every endpoint of a process (each UDP worker's and the one for TCP and
/// TLS), shared through an [`Arc`](std::sync::Arc): a nonce issued on one is answered on
/// any other. Issuing a nonce takes no lock; checking an `Authorization` of our realm takes
/// one short lock, for the `nc` table and the failure counts.
pub struct DigestState {
    key: [u8; 32],
    epoch: OnceLock<Instant>,
    serial: AtomicU32,
    book: Mutex<Book>,
}

/// What checking an answer reads and writes.
#[derive(Debug, Default)]
struct Book {
    /// Highest `nc` accepted per nonce, ordered by issue time.
    used: BTreeMap<NonceId, u32>,
    /// Nonces issued up to this one are stale: their `nc` was forgotten.
    floor: Option<NonceId>,
    /// Failure counts per source address and per user.
    brake: Brake,
}

impl fmt::Debug for DigestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let book = lock(&self.book);
        f.debug_struct("DigestState")
            .field("used", &book.used.len())
            .field("floor", &book.floor)
            .finish_non_exhaustive()
    }
}

impl Default for DigestState {
    fn default() -> Self {
        DigestState::new()
    }
}

impl DigestState {
    /// A new state with a key from the operating system's random source.
    pub fn new() -> DigestState {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        DigestState::with_key(key)
    }

    /// A new state to share between the endpoints of a process.
    pub fn shared() -> Arc<DigestState> {
        Arc::new(DigestState::new())
    }

    /// A state with a given key (tests, or a host that shares one key across processes).
    pub fn with_key(key: [u8; 32]) -> DigestState {
        DigestState {
            key,
            epoch: OnceLock::new(),
            serial: AtomicU32::new(0),
            book: Mutex::new(Book::default()),
        }
    }

    /// Nonces whose `nc` is currently remembered.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        lock(&self.book).used.len()
    }

    /// Milliseconds since the first `now` this state saw (an earlier `now`, read by another
    /// thread before it took its turn, counts as that first one).
    fn millis(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn tag(&self, id: NonceId, realm: &str) -> [u8; TAG_BYTES] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(&id.0.to_be_bytes());
        mac.update(&id.1.to_be_bytes());
        mac.update(realm.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }

    /// Issues a new nonce.
    pub fn nonce(&self, now: Instant, realm: &str) -> String {
        let ms = self.millis(now);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let id = (ms, serial);
        let mut raw = Vec::with_capacity(NONCE_HEX / 2);
        raw.extend_from_slice(&id.0.to_be_bytes());
        raw.extend_from_slice(&id.1.to_be_bytes());
        raw.extend_from_slice(&self.tag(id, realm));
        hex(&raw)
    }

    /// The nonce's identity when this state issued it for `realm`.
    fn issued(&self, nonce: &str, realm: &str) -> Option<NonceId> {
        if nonce.len() != NONCE_HEX {
            return None;
        }
        let raw = unhex(nonce)?;
        let ms = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let serial = u32::from_be_bytes(raw[8..12].try_into().ok()?);
        let id = (ms, serial);
        let ok: bool = self.tag(id, realm).ct_eq(&raw[12..]).into();
        ok.then_some(id)
    }

    /// The `WWW-Authenticate` values for a 401: one per algorithm, most preferred first.
    pub fn challenge(&self, now: Instant, config: &AuthConfig, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now, &config.realm);
        config
            .algorithms
            .iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={alg}, qop=\"auth\"",
                    config.realm
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Verifies the `Authorization` headers of a request from `source` against `config`.
    /// `method` and `request_uri` are the request's; `authorizations` are the values of its
    /// `Authorization` headers. On success, returns the authentication ID that verified.
    ///
    /// An answer from a source (or for a user) held back by the brake on guessing is not
    /// checked: [`AuthFailure::Throttled`]. A refused answer ([`AuthFailure::is_refusal`])
    /// is charged to its source and user; a right one clears their counts.
    pub fn verify<'a>(
        &self,
        now: Instant,
        config: &AuthConfig,
        source: IpAddr,
        method: &str,
        request_uri: &str,
        authorizations: impl IntoIterator<Item = &'a str>,
    ) -> Result<String, AuthFailure> {
        // Several headers may be present (one per realm, RFC 3261 §22.4); ours is the one
        // with our realm. Without one, the exchange starts.
        let mut found = None;
        for value in authorizations {
            let Some(parsed) = DigestFields::parse(value) else {
                found.get_or_insert(Err(AuthFailure::Malformed));
                continue;
            };
            if parsed.realm.as_deref() == Some(config.realm.as_str()) {
                found = Some(Ok(parsed));
                break;
            }
        }
        let fields = match found {
            None => return Err(AuthFailure::Missing),
            Some(f) => f,
        };
        // The user the answer is charged to: only a configured one, so a guesser cannot
        // fill the table with made-up names.
        let user = fields
            .as_ref()
            .ok()
            .and_then(|f| f.username.as_deref())
            .filter(|u| config.credentials.iter().any(|c| c.auth_id == *u));
        let budget = &config.guesses;
        let mut book = lock(&self.book);
        if let Err(held) = book.brake.check(now, budget, source, user) {
            return Err(AuthFailure::Throttled {
                failures: held.failures,
            });
        }
        let result = match &fields {
            Ok(fields) => self.check(&mut book, now, config, method, request_uri, fields),
            Err(failure) => Err(*failure),
        };
        match &result {
            Ok(auth_id) => book.brake.success(now, budget, source, auth_id),
            Err(failure) if failure.is_refusal() => {
                book.brake.failure(now, budget, source, user);
            }
            Err(_) => {}
        }
        result
    }

    /// The checks of one `Authorization` of our realm, under the lock.
    fn check(
        &self,
        book: &mut Book,
        now: Instant,
        config: &AuthConfig,
        method: &str,
        request_uri: &str,
        fields: &DigestFields,
    ) -> Result<String, AuthFailure> {
        let (Some(username), Some(nonce), Some(uri), Some(response)) = (
            fields.username.as_deref(),
            fields.nonce.as_deref(),
            fields.uri.as_deref(),
            fields.response.as_deref(),
        ) else {
            return Err(AuthFailure::Malformed);
        };
        let algorithm = match fields.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(AuthFailure::Algorithm)?,
        };
        if !config.algorithms.contains(&algorithm) {
            return Err(AuthFailure::Algorithm);
        }
        let (Some(qop), Some(nc), Some(cnonce)) = (
            fields.qop.as_deref(),
            fields.nc.as_deref(),
            fields.cnonce.as_deref(),
        ) else {
            return Err(AuthFailure::Qop);
        };
        if !qop.eq_ignore_ascii_case("auth") {
            return Err(AuthFailure::Qop);
        }
        let nc_value = match nc.len() {
            8 => u32::from_str_radix(nc, 16).map_err(|_| AuthFailure::Malformed)?,
            _ => return Err(AuthFailure::Malformed),
        };
        if uri != request_uri && uri_hostport(uri) != uri_hostport(request_uri) {
            return Err(AuthFailure::Uri);
        }
        let line = uri_user(request_uri);
        let addressed = |c: &&Credential| match (&c.user, line) {
            (Some(u), Some(l))
                if config
                    .credentials
                    .iter()
                    .any(|c| c.user.as_deref() == Some(l)) =>
            {
                u == l
            }
            _ => true,
        };
        let credential = config
            .credentials
            .iter()
            .filter(addressed)
            .find(|c| c.auth_id == username)
            .ok_or(AuthFailure::UnknownUser)?;
        // Only a nonce issued here can be stale: one that is made up (or issued before a
        // restart) is refused before the digest is computed, and tells nothing about the
        // password.
        let id = self
            .issued(nonce, &config.realm)
            .ok_or(AuthFailure::UnknownNonce)?;
        let expected = Challenge {
            algorithm,
            realm: &config.realm,
            nonce,
        }
        .response(username, &credential.password, method, uri, nc, cnonce);
        let given = response.to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(AuthFailure::WrongResponse);
        }
        // The sender knows the password; now the nonce must be fresh and unused. A nonce
        // issued by another thread a moment after this one read its clock is not early.
        let now_ms = self.millis(now);
        let lifetime = u64::try_from(config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(id.0) > lifetime || book.floor.is_some_and(|f| id <= f) {
            return Err(AuthFailure::StaleNonce);
        }
        match book.used.get_mut(&id) {
            Some(last) if nc_value <= *last => return Err(AuthFailure::Replayed),
            Some(last) => *last = nc_value,
            None => {
                book.make_room(now_ms, lifetime, config.max_nonces.max(1));
                book.used.insert(id, nc_value);
            }
        }
        Ok(credential.auth_id.clone())
    }
}

impl Book {
    /// Forgets expired nonces, then the oldest ones while the table is full.
    fn make_room(&mut self, now_ms: u64, lifetime: u64, max: usize) {
        if self.used.len() < max {
            return;
        }
        self.used
            .retain(|id, _| now_ms.saturating_sub(id.0) <= lifetime);
        while self.used.len() >= max {
            let Some((id, _)) = self.used.pop_first() else {
                break;
            };
            self.floor = Some(self.floor.map_or(id, |f| f.max(id)));
        }
    }
}

/// The host and port of a `sip:`/`sips:` URI, lowercased; `None` for other URIs.
///
/// RFC 2617 §3.2.2.5 asks that `uri=` designate the Request-URI's resource. SIPp, and PBXs
/// built like it, put `sip:HOST:PORT` of the target there without the user part, so a `uri`
/// is accepted when it is the Request-URI or names the same host and port. The `uri` is
/// covered by the response digest either way, and nonce and `nc` stop any reuse.
fn uri_hostport(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let end = rest.find([';', '?']).unwrap_or(rest.len());
    Some(rest[..end].to_ascii_lowercase())
}

/// The user part of a `sip:`/`sips:` Request-URI, if it has one.
fn uri_user(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(':')?;
    let (userinfo, _) = rest.split_once('@')?;
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    (!user.is_empty()).then_some(user)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::compute::authorization;

    fn config() -> AuthConfig {
        AuthConfig {
            challenge: true,
            credentials: vec![
                Credential {
                    user: Some("1001".into()),
                    auth_id: "auth1001".into(),
                    password: "secret".into(),
                },
                Credential {
                    user: Some("1002".into()),
                    auth_id: "auth1002".into(),
                    password: "other".into(),
                },
            ],
            ..AuthConfig::default()
        }
    }

    const URI: &str = "sip:1001@192.0.2.10";
    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn answer(state: &DigestState, now: Instant, alg: Algorithm, pw: &str, nc: u32) -> String {
        let c = config();
        let nonce = state.nonce(now, &c.realm);
        authorization(
            alg, "auth1001", pw, &c.realm, &nonce, "NOTIFY", URI, nc, "0a4f113b",
        )
    }

    #[test]
    fn both_algorithms_verify_once_and_replays_are_stale() {
        let t0 = Instant::now();
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let s = DigestState::with_key([7; 32]);
            let auth = answer(&s, t0, alg, "secret", 1);
            let c = config();
            assert_eq!(
                s.verify(t0, &c, IP, "NOTIFY", URI, [auth.as_str()]),
                Ok("auth1001".into())
            );
            assert_eq!(
                s.verify(t0, &c, IP, "NOTIFY", URI, [auth.as_str()]),
                Err(AuthFailure::Replayed)
            );
            assert!(AuthFailure::Replayed.stale());
        }
    }

    #[test]
    fn a_higher_nc_on_the_same_nonce_is_accepted_a_lower_one_is_not() {
        let t0 = Instant::now();
        let c = config();
        let s = DigestState::with_key([1; 32]);
        let nonce = s.nonce(t0, &c.realm);
        let with_nc = |nc| {
            authorization(
                Algorithm::Md5,
                "auth1001",
                "secret",
                &c.realm,
                &nonce,
                "NOTIFY",
                URI,
                nc,
                "c",
            )
        };
        assert!(s
            .verify(t0, &c, IP, "NOTIFY", URI, [with_nc(2).as_str()])
            .is_ok());
        assert_eq!(
            s.verify(t0, &c, IP, "NOTIFY", URI, [with_nc(1).as_str()]),
            Err(AuthFailure::Replayed)
        );
        assert!(s
            .verify(t0, &c, IP, "NOTIFY", URI, [with_nc(3).as_str()])
            .is_ok());
    }

    #[test]
    fn refusals() {
        let t0 = Instant::now();
        let c = config();
        let s = DigestState::with_key([2; 32]);
        let verify = |s: &DigestState, h: &str| s.verify(t0, &c, IP, "NOTIFY", URI, [h]);
        assert_eq!(
            s.verify(t0, &c, IP, "NOTIFY", URI, std::iter::empty()),
            Err(AuthFailure::Missing)
        );
        let good = answer(&s, t0, Algorithm::Md5, "wrong", 1);
        assert_eq!(verify(&s, &good), Err(AuthFailure::WrongResponse));
        assert_eq!(
            verify(&s, "Basic dXNlcjpwYXNz"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            verify(&s, "Digest realm=\"sip-resync\", nonce"),
            Err(AuthFailure::Malformed)
        );
        let other_realm = good.replace("realm=\"sip-resync\"", "realm=\"elsewhere\"");
        assert_eq!(verify(&s, &other_realm), Err(AuthFailure::Missing));
        let ok = answer(&s, t0, Algorithm::Md5, "secret", 1);
        assert_eq!(
            verify(&s, &ok.replace(", qop=auth", "")),
            Err(AuthFailure::Qop)
        );
        assert_eq!(
            verify(&s, &ok.replace("algorithm=MD5", "algorithm=MD5-sess")),
            Err(AuthFailure::Algorithm)
        );
        assert_eq!(
            verify(&s, &ok.replace(URI, "sip:1001@198.51.100.1")),
            Err(AuthFailure::Uri)
        );
        assert_eq!(
            verify(&s, &ok.replace(URI, "tel:1001")),
            Err(AuthFailure::Uri)
        );
        // The credentials of line 1002 do not open line 1001.
        let nonce = s.nonce(t0, &c.realm);
        let other_line = authorization(
            Algorithm::Md5,
            "auth1002",
            "other",
            &c.realm,
            &nonce,
            "NOTIFY",
            URI,
            1,
            "c",
        );
        assert_eq!(verify(&s, &other_line), Err(AuthFailure::UnknownUser));
        // A different method is a different digest.
        assert_eq!(
            s.verify(t0, &c, IP, "OPTIONS", URI, [ok.as_str()]),
            Err(AuthFailure::WrongResponse)
        );
        // A correct digest over a nonce this state never issued: a failure, not stale (only
        // a nonce issued here can be).
        let elsewhere = DigestState::with_key([3; 32]);
        let foreign = answer(&elsewhere, t0, Algorithm::Md5, "secret", 1);
        assert_eq!(verify(&s, &foreign), Err(AuthFailure::UnknownNonce));
        let only_md5 = AuthConfig {
            algorithms: vec![Algorithm::Md5],
            ..config()
        };
        let sha = answer(&s, t0, Algorithm::Sha256, "secret", 1);
        assert_eq!(
            s.verify(t0, &only_md5, IP, "NOTIFY", URI, [sha.as_str()]),
            Err(AuthFailure::Algorithm)
        );
    }

    /// SIPp answers with `uri="sip:HOST:PORT"` of the target, without the user part.
    #[test]
    fn a_uri_naming_the_same_host_and_port_verifies() {
        let t0 = Instant::now();
        let c = config();
        let s = DigestState::with_key([8; 32]);
        let nonce = s.nonce(t0, &c.realm);
        let auth = authorization(
            Algorithm::Md5,
            "auth1001",
            "secret",
            &c.realm,
            &nonce,
            "NOTIFY",
            "sip:192.0.2.10",
            1,
            "c",
        );
        assert!(s.verify(t0, &c, IP, "NOTIFY", URI, [auth.as_str()]).is_ok());
    }

    #[test]
    fn nonces_expire() {
        let t0 = Instant::now();
        let c = config();
        let s = DigestState::with_key([4; 32]);
        let auth = answer(&s, t0, Algorithm::Sha256, "secret", 1);
        let late = t0 + c.nonce_lifetime + Duration::from_millis(1);
        assert_eq!(
            s.verify(late, &c, IP, "NOTIFY", URI, [auth.as_str()]),
            Err(AuthFailure::StaleNonce)
        );
        let auth = answer(&s, late, Algorithm::Sha256, "secret", 1);
        assert!(s
            .verify(late, &c, IP, "NOTIFY", URI, [auth.as_str()])
            .is_ok());
    }

    /// A full table forgets the oldest nonce, and that nonce cannot be used again.
    #[test]
    fn the_table_is_bounded_and_forgetting_never_reopens_a_nonce() {
        let t0 = Instant::now();
        let c = AuthConfig {
            max_nonces: 4,
            ..config()
        };
        let s = DigestState::with_key([5; 32]);
        let mut issued = Vec::new();
        for i in 0..4u64 {
            let now = t0 + Duration::from_millis(i);
            let nonce = s.nonce(now, &c.realm);
            issued.push(nonce);
        }
        let auth = |nonce: &str, nc| {
            authorization(
                Algorithm::Md5,
                "auth1001",
                "secret",
                &c.realm,
                nonce,
                "NOTIFY",
                URI,
                nc,
                "c",
            )
        };
        let later = t0 + Duration::from_millis(10);
        for n in &issued {
            assert!(s
                .verify(later, &c, IP, "NOTIFY", URI, [auth(n, 1).as_str()])
                .is_ok());
        }
        assert_eq!(s.tracked(), 4);
        let fifth = s.nonce(t0 + Duration::from_millis(9), &c.realm);
        assert!(s
            .verify(later, &c, IP, "NOTIFY", URI, [auth(&fifth, 1).as_str()])
            .is_ok());
        assert_eq!(s.tracked(), 4);
        // The first nonce was forgotten: its nc 2 would be new to the table, but the floor
        // makes it stale.
        assert_eq!(
            s.verify(later, &c, IP, "NOTIFY", URI, [auth(&issued[0], 2).as_str()]),
            Err(AuthFailure::StaleNonce)
        );
        assert!(s
            .verify(later, &c, IP, "NOTIFY", URI, [auth(&issued[3], 2).as_str()])
            .is_ok());
    }

    #[test]
    fn challenges_list_each_algorithm_with_one_nonce() {
        let s = DigestState::with_key([6; 32]);
        let c = config();
        let values = s.challenge(Instant::now(), &c, true);
        assert_eq!(values.len(), 2);
        assert!(
            values[0].contains("algorithm=MD5"),
            "the default offers MD5 first"
        );
        assert!(values[1].contains("algorithm=SHA-256"));
        assert!(values
            .iter()
            .all(|v| v.contains("qop=\"auth\"") && v.ends_with("stale=true")));
        let first = DigestFields::parse(&values[0]).unwrap();
        let second = DigestFields::parse(&values[1]).unwrap();
        assert_eq!(
            (first.realm.as_deref(), first.algorithm.as_deref()),
            (Some("sip-resync"), Some("MD5"))
        );
        assert_eq!(first.nonce, second.nonce);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let text = format!("{:?}", config());
        assert!(!text.contains("secret"));
        assert!(text.contains("<redacted>"));
    }
}

//! Digest challenge of NOTIFY (RFC 3261 §22.4, RFC 7616 computations, RFC 8760 SHA-256).
//!
//! Off by default. When [`AuthConfig::challenge`] is set, an otherwise accepted NOTIFY is acted
//! upon only when its `Authorization` header verifies with the credentials of the addressed
//! line; anything else is answered `401 Unauthorized` with one `WWW-Authenticate` header per
//! configured algorithm, in order of preference (RFC 8760 §2.4), each offering `qop="auth"`.
//!
//! Nonces need no table to be checked. A nonce is `hex(issued_ms ‖ serial ‖ tag)`, where
//! `issued_ms` counts milliseconds since the first challenge of this endpoint, `serial` makes
//! every nonce distinct, and `tag` is HMAC-SHA-256 under a 256-bit key drawn from the operating
//! system when the endpoint is created, over the two numbers and the realm. A nonce therefore
//! verifies only on the endpoint that issued it, and only until
//! [`AuthConfig::nonce_lifetime`] has passed.
//!
//! Replays are refused by `nc` tracking. Only a request whose response digest verified is
//! recorded, with the highest `nc` seen for its nonce, so a sender without the password cannot
//! grow the table. The table holds at most [`AuthConfig::max_nonces`] nonces. Expired ones are
//! forgotten first. When it is still full, the oldest is forgotten and every nonce issued up
//! to it is treated as stale from then on. The table stays bounded, and a forgotten nonce can
//! never be replayed.
//!
//! A request whose digest is right but whose nonce is unknown (issued before a restart),
//! expired or already used with that `nc` is answered with a fresh challenge marked
//! `stale=true` (RFC 7616 §3.3), so an honest client retries without asking for the password
//! again. A replayed capture gets the same answer and can do nothing with it without the
//! password.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

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
    fn hex(self, parts: &[&[u8]]) -> String {
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
    /// The digest is right but the nonce was not issued here or has expired.
    StaleNonce,
    /// The digest is right but this nonce was already used with this or a higher `nc`.
    Replayed,
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
            AuthFailure::Missing | AuthFailure::StaleNonce | AuthFailure::Replayed
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
            AuthFailure::StaleNonce => "nonce unknown or expired",
            AuthFailure::Replayed => "nonce count replayed",
        }
    }
}

const TAG_BYTES: usize = 16;
const NONCE_HEX: usize = 2 * (8 + 4 + TAG_BYTES);
/// Most parameters read from one `Authorization` header.
const MAX_PARAMS: usize = 16;

/// Nonce identity: issue time in ms and serial.
type NonceId = (u64, u32);

/// The challenge state: the nonce key and the `nc` table. No I/O; time is an argument.
pub struct DigestState {
    key: [u8; 32],
    epoch: Option<Instant>,
    serial: u32,
    /// Highest `nc` accepted per nonce, ordered by issue time.
    used: BTreeMap<NonceId, u32>,
    /// Nonces issued up to this one are stale: their `nc` was forgotten.
    floor: Option<NonceId>,
}

impl fmt::Debug for DigestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestState")
            .field("used", &self.used.len())
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

impl Default for DigestState {
    fn default() -> Self {
        DigestState::new()
    }
}

/// Fills `buf` from the operating system's random source (nonce keys, client nonces). Without
/// one, it falls back to process-local entropy: values then stay unpredictable only as far as
/// the standard hasher's random keys are.
pub fn fill_random(buf: &mut [u8]) {
    use rand_core::TryRngCore;
    if rand_core::OsRng.try_fill_bytes(buf).is_err() {
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos()));
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
}

impl DigestState {
    /// A new state with a key from the operating system's random source.
    pub fn new() -> DigestState {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        DigestState::with_key(key)
    }

    /// A state with a given key (tests, or a host that shares one key across processes).
    pub fn with_key(key: [u8; 32]) -> DigestState {
        DigestState {
            key,
            epoch: None,
            serial: 0,
            used: BTreeMap::new(),
            floor: None,
        }
    }

    /// Nonces whose `nc` is currently remembered.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.used.len()
    }

    fn millis(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
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
    pub fn nonce(&mut self, now: Instant, realm: &str) -> String {
        let ms = self.millis(now);
        self.serial = self.serial.wrapping_add(1);
        let id = (ms, self.serial);
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
    pub fn challenge(&mut self, now: Instant, config: &AuthConfig, stale: bool) -> Vec<String> {
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

    /// Verifies the `Authorization` headers of a request against `config`. `method` and
    /// `request_uri` are the request's; `authorizations` are the values of its
    /// `Authorization` headers. On success, returns the authentication ID that verified.
    pub fn verify<'a>(
        &mut self,
        now: Instant,
        config: &AuthConfig,
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
            Some(f) => f?,
        };
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
        // The sender knows the password; now the nonce must be ours, fresh and unused.
        let id = self
            .issued(nonce, &config.realm)
            .ok_or(AuthFailure::StaleNonce)?;
        let now_ms = self.millis(now);
        let lifetime = u64::try_from(config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        if id.0 > now_ms || now_ms - id.0 > lifetime || self.floor.is_some_and(|f| id <= f) {
            return Err(AuthFailure::StaleNonce);
        }
        match self.used.get_mut(&id) {
            Some(last) if nc_value <= *last => return Err(AuthFailure::Replayed),
            Some(last) => *last = nc_value,
            None => {
                self.make_room(now_ms, lifetime, config.max_nonces.max(1));
                self.used.insert(id, nc_value);
            }
        }
        Ok(credential.auth_id.clone())
    }

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

/// The fields of a `Digest` credentials value (RFC 3261 §25.1 `digest-response`).
#[derive(Debug, Default, PartialEq, Eq)]
struct DigestFields {
    username: Option<String>,
    realm: Option<String>,
    nonce: Option<String>,
    uri: Option<String>,
    response: Option<String>,
    algorithm: Option<String>,
    cnonce: Option<String>,
    qop: Option<String>,
    nc: Option<String>,
    opaque: Option<String>,
}

impl DigestFields {
    /// Parses `Digest name=value, name="quoted", ...`; `None` when it is not a well-formed
    /// Digest value or repeats a field.
    fn parse(value: &str) -> Option<DigestFields> {
        let value = value.trim_start();
        let scheme_end = value.find(|c: char| c.is_ascii_whitespace())?;
        if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut rest = value[scheme_end..].trim_start();
        let mut fields = DigestFields::default();
        let mut count = 0;
        while !rest.is_empty() {
            count += 1;
            if count > MAX_PARAMS {
                return None;
            }
            let eq = rest.find('=')?;
            let name = rest[..eq].trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return None;
            }
            rest = rest[eq + 1..].trim_start();
            let val;
            if let Some(quoted) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        '\\' => out.push(chars.next()?.1),
                        c => out.push(c),
                    }
                }
                rest = &quoted[end? + 1..];
                val = out;
            } else {
                let end = rest
                    .find(|c: char| c == ',' || c.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                if end == 0 {
                    return None;
                }
                val = rest[..end].to_owned();
                rest = &rest[end..];
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return None;
            }
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => &mut fields.username,
                "realm" => &mut fields.realm,
                "nonce" => &mut fields.nonce,
                "uri" => &mut fields.uri,
                "response" => &mut fields.response,
                "algorithm" => &mut fields.algorithm,
                "cnonce" => &mut fields.cnonce,
                "qop" => &mut fields.qop,
                "nc" => &mut fields.nc,
                "opaque" => &mut fields.opaque,
                _ => continue,
            };
            if slot.replace(val).is_some() {
                return None;
            }
        }
        Some(fields)
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

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
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

/// What a `qop=auth` response digest is computed over, besides the client's fields.
struct Challenge<'a> {
    algorithm: Algorithm,
    realm: &'a str,
    nonce: &'a str,
}

impl Challenge<'_> {
    /// RFC 7616 §3.4.1: `H(H(user:realm:password):nonce:nc:cnonce:auth:H(method:uri))`.
    fn response(
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

/// The inside of a quoted-string: `"` and `\` escaped (RFC 9110 §5.6.4).
fn quoted(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['"', '\\']) {
        let mut out = String::with_capacity(text.len() + 2);
        for c in text.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.into()
    } else {
        text.into()
    }
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
    pub fn parse(value: &str) -> Result<Option<ServerChallenge>, String> {
        let scheme = value.split_ascii_whitespace().next().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Ok(None);
        }
        let f = DigestFields::parse(value).ok_or("a malformed Digest challenge")?;
        let algorithm = match f.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or_else(|| {
                format!(
                    "algorithm {} is not supported (MD5 and SHA-256 are)",
                    crate::escape::excerpt(a.as_bytes())
                )
            })?,
        };
        let auth = f
            .qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")));
        if !auth {
            return Err(format!(
                "{algorithm} without qop=auth (the digest of RFC 2069, which has no replay protection, is not answered)"
            ));
        }
        let (Some(realm), Some(nonce)) = (f.realm, f.nonce) else {
            return Err("a Digest challenge without realm or nonce".into());
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

    fn answer(state: &mut DigestState, now: Instant, alg: Algorithm, pw: &str, nc: u32) -> String {
        let c = config();
        let nonce = state.nonce(now, &c.realm);
        authorization(
            alg, "auth1001", pw, &c.realm, &nonce, "NOTIFY", URI, nc, "0a4f113b",
        )
    }

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

    #[test]
    fn both_algorithms_verify_once_and_replays_are_stale() {
        let t0 = Instant::now();
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let mut s = DigestState::with_key([7; 32]);
            let auth = answer(&mut s, t0, alg, "secret", 1);
            let c = config();
            assert_eq!(
                s.verify(t0, &c, "NOTIFY", URI, [auth.as_str()]),
                Ok("auth1001".into())
            );
            assert_eq!(
                s.verify(t0, &c, "NOTIFY", URI, [auth.as_str()]),
                Err(AuthFailure::Replayed)
            );
            assert!(AuthFailure::Replayed.stale());
        }
    }

    #[test]
    fn a_higher_nc_on_the_same_nonce_is_accepted_a_lower_one_is_not() {
        let t0 = Instant::now();
        let c = config();
        let mut s = DigestState::with_key([1; 32]);
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
            .verify(t0, &c, "NOTIFY", URI, [with_nc(2).as_str()])
            .is_ok());
        assert_eq!(
            s.verify(t0, &c, "NOTIFY", URI, [with_nc(1).as_str()]),
            Err(AuthFailure::Replayed)
        );
        assert!(s
            .verify(t0, &c, "NOTIFY", URI, [with_nc(3).as_str()])
            .is_ok());
    }

    #[test]
    fn refusals() {
        let t0 = Instant::now();
        let c = config();
        let mut s = DigestState::with_key([2; 32]);
        let verify = |s: &mut DigestState, h: &str| s.verify(t0, &c, "NOTIFY", URI, [h]);
        assert_eq!(
            s.verify(t0, &c, "NOTIFY", URI, std::iter::empty()),
            Err(AuthFailure::Missing)
        );
        let good = answer(&mut s, t0, Algorithm::Md5, "wrong", 1);
        assert_eq!(verify(&mut s, &good), Err(AuthFailure::WrongResponse));
        assert_eq!(
            verify(&mut s, "Basic dXNlcjpwYXNz"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            verify(&mut s, "Digest realm=\"sip-resync\", nonce"),
            Err(AuthFailure::Malformed)
        );
        let other_realm = good.replace("realm=\"sip-resync\"", "realm=\"elsewhere\"");
        assert_eq!(verify(&mut s, &other_realm), Err(AuthFailure::Missing));
        let ok = answer(&mut s, t0, Algorithm::Md5, "secret", 1);
        assert_eq!(
            verify(&mut s, &ok.replace(", qop=auth", "")),
            Err(AuthFailure::Qop)
        );
        assert_eq!(
            verify(&mut s, &ok.replace("algorithm=MD5", "algorithm=MD5-sess")),
            Err(AuthFailure::Algorithm)
        );
        assert_eq!(
            verify(&mut s, &ok.replace(URI, "sip:1001@198.51.100.1")),
            Err(AuthFailure::Uri)
        );
        assert_eq!(
            verify(&mut s, &ok.replace(URI, "tel:1001")),
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
        assert_eq!(verify(&mut s, &other_line), Err(AuthFailure::UnknownUser));
        // A different method is a different digest.
        assert_eq!(
            s.verify(t0, &c, "OPTIONS", URI, [ok.as_str()]),
            Err(AuthFailure::WrongResponse)
        );
        // A correct digest over a nonce this state never issued: stale, so a client that
        // knows the password retries.
        let mut elsewhere = DigestState::with_key([3; 32]);
        let foreign = answer(&mut elsewhere, t0, Algorithm::Md5, "secret", 1);
        assert_eq!(verify(&mut s, &foreign), Err(AuthFailure::StaleNonce));
        let only_md5 = AuthConfig {
            algorithms: vec![Algorithm::Md5],
            ..config()
        };
        let sha = answer(&mut s, t0, Algorithm::Sha256, "secret", 1);
        assert_eq!(
            s.verify(t0, &only_md5, "NOTIFY", URI, [sha.as_str()]),
            Err(AuthFailure::Algorithm)
        );
    }

    /// SIPp answers with `uri="sip:HOST:PORT"` of the target, without the user part.
    #[test]
    fn a_uri_naming_the_same_host_and_port_verifies() {
        let t0 = Instant::now();
        let c = config();
        let mut s = DigestState::with_key([8; 32]);
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
        assert!(s.verify(t0, &c, "NOTIFY", URI, [auth.as_str()]).is_ok());
    }

    #[test]
    fn nonces_expire() {
        let t0 = Instant::now();
        let c = config();
        let mut s = DigestState::with_key([4; 32]);
        let auth = answer(&mut s, t0, Algorithm::Sha256, "secret", 1);
        let late = t0 + c.nonce_lifetime + Duration::from_millis(1);
        assert_eq!(
            s.verify(late, &c, "NOTIFY", URI, [auth.as_str()]),
            Err(AuthFailure::StaleNonce)
        );
        let auth = answer(&mut s, late, Algorithm::Sha256, "secret", 1);
        assert!(s.verify(late, &c, "NOTIFY", URI, [auth.as_str()]).is_ok());
    }

    /// A full table forgets the oldest nonce, and that nonce cannot be used again.
    #[test]
    fn the_table_is_bounded_and_forgetting_never_reopens_a_nonce() {
        let t0 = Instant::now();
        let c = AuthConfig {
            max_nonces: 4,
            ..config()
        };
        let mut s = DigestState::with_key([5; 32]);
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
                .verify(later, &c, "NOTIFY", URI, [auth(n, 1).as_str()])
                .is_ok());
        }
        assert_eq!(s.tracked(), 4);
        let fifth = s.nonce(t0 + Duration::from_millis(9), &c.realm);
        assert!(s
            .verify(later, &c, "NOTIFY", URI, [auth(&fifth, 1).as_str()])
            .is_ok());
        assert_eq!(s.tracked(), 4);
        // The first nonce was forgotten: its nc 2 would be new to the table, but the floor
        // makes it stale.
        assert_eq!(
            s.verify(later, &c, "NOTIFY", URI, [auth(&issued[0], 2).as_str()]),
            Err(AuthFailure::StaleNonce)
        );
        assert!(s
            .verify(later, &c, "NOTIFY", URI, [auth(&issued[3], 2).as_str()])
            .is_ok());
    }

    #[test]
    fn challenges_list_each_algorithm_with_one_nonce() {
        let mut s = DigestState::with_key([6; 32]);
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
        let first = ServerChallenge::parse(&values[0]).unwrap().unwrap();
        let second = ServerChallenge::parse(&values[1]).unwrap().unwrap();
        assert_eq!(
            (first.realm.as_str(), first.algorithm),
            ("sip-resync", Algorithm::Md5)
        );
        assert_eq!(first.nonce, second.nonce);
    }

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

    #[test]
    fn the_parser_reads_quoted_escapes_and_refuses_repeats() {
        let f = DigestFields::parse(
            "digest username=\"a\\\"b\" ,realm=\"r\",nonce=\"n\", uri=\"sip:x\",response=\"0\",nc=00000001,qop=auth,cnonce=\"c\",opaque=\"o\"",
        )
        .unwrap();
        assert_eq!(f.username.as_deref(), Some("a\"b"));
        assert_eq!(f.qop.as_deref(), Some("auth"));
        assert!(DigestFields::parse("Digest realm=\"a\", realm=\"b\"").is_none());
        assert!(DigestFields::parse("Digest realm=\"unterminated").is_none());
        let many = format!("Digest {}", vec!["x=1"; 40].join(","));
        assert!(DigestFields::parse(&many).is_none());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let text = format!("{:?}", config());
        assert!(!text.contains("secret"));
        assert!(text.contains("<redacted>"));
    }
}

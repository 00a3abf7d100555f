//! The digest challenge settings: TOML `[sip.auth]`, and the line credentials of vendor files
//! (Panasonic `SIP_AUTHID_n` / `SIP_PASS_n`, Snom `user_pname<n>` / `user_pass<n>` and
//! `challenge_checksync`).

use std::time::Duration;

use serde::Deserialize;

use crate::digest::{Algorithm, AuthConfig, Credential, GuessBudget};

/// Highest line number read from vendor files (Panasonic and Snom phones have at most 24).
pub(super) const MAX_LINES: usize = 32;

/// `[sip.auth]` as written.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct TomlAuth {
    challenge: bool,
    realm: String,
    algorithms: Vec<String>,
    nonce_lifetime_secs: u64,
    max_nonces: usize,
    failures_per_source: u32,
    failures_per_user: u32,
    max_hold_secs: u64,
    credentials: Vec<TomlCredential>,
}

impl Default for TomlAuth {
    fn default() -> Self {
        let d = AuthConfig::default();
        TomlAuth {
            challenge: d.challenge,
            realm: d.realm,
            algorithms: d.algorithms.iter().map(|a| a.name().to_owned()).collect(),
            nonce_lifetime_secs: d.nonce_lifetime.as_secs(),
            max_nonces: d.max_nonces,
            failures_per_source: d.guesses.failures_per_source,
            failures_per_user: d.guesses.failures_per_user,
            max_hold_secs: d.guesses.max_hold.as_secs(),
            credentials: Vec::new(),
        }
    }
}

/// One `[[sip.auth.credentials]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TomlCredential {
    user: Option<String>,
    auth_id: String,
    password: String,
}

impl TomlAuth {
    /// Checks the values; an error names the dotted key and what is wrong.
    pub(super) fn into_config(self) -> Result<AuthConfig, (&'static str, String)> {
        let realm_ok = !self.realm.is_empty()
            && self.realm.len() <= 128
            && !self
                .realm
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control());
        if !realm_ok {
            return Err((
                "sip.auth.realm",
                "must be 1 to 128 characters without quotes, backslashes or control characters"
                    .into(),
            ));
        }
        let mut algorithms = Vec::new();
        for name in &self.algorithms {
            let alg = Algorithm::parse(name).ok_or((
                "sip.auth.algorithms",
                format!("unknown algorithm \"{name}\" (expected \"SHA-256\" or \"MD5\")"),
            ))?;
            if algorithms.contains(&alg) {
                return Err(("sip.auth.algorithms", format!("\"{name}\" is listed twice")));
            }
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err((
                "sip.auth.algorithms",
                "at least one algorithm is needed: [\"SHA-256\", \"MD5\"]".into(),
            ));
        }
        if !(5..=3_600).contains(&self.nonce_lifetime_secs) {
            return Err((
                "sip.auth.nonce_lifetime_secs",
                "must be from 5 to 3600 seconds".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_nonces) {
            return Err(("sip.auth.max_nonces", "must be from 1 to 1000000".into()));
        }
        if self.failures_per_source > 1_000 {
            return Err((
                "sip.auth.failures_per_source",
                "must be from 0 (no brake) to 1000".into(),
            ));
        }
        if self.failures_per_user > 10_000 {
            return Err((
                "sip.auth.failures_per_user",
                "must be from 0 (no per-user budget) to 10000".into(),
            ));
        }
        if !(1..=86_400).contains(&self.max_hold_secs) {
            return Err((
                "sip.auth.max_hold_secs",
                "must be from 1 to 86400 seconds".into(),
            ));
        }
        let guesses = GuessBudget {
            failures_per_source: self.failures_per_source,
            failures_per_user: self.failures_per_user,
            max_hold: Duration::from_secs(self.max_hold_secs),
            ..GuessBudget::default()
        };
        let mut credentials = Vec::new();
        for c in self.credentials {
            if c.auth_id.is_empty() || c.password.is_empty() {
                return Err((
                    "sip.auth.credentials",
                    "each credential needs a non-empty auth_id and password".into(),
                ));
            }
            credentials.push(Credential {
                user: c.user.filter(|u| !u.is_empty()),
                auth_id: c.auth_id,
                password: c.password,
            });
        }
        Ok(AuthConfig {
            challenge: self.challenge,
            realm: self.realm,
            algorithms,
            nonce_lifetime: Duration::from_secs(self.nonce_lifetime_secs),
            max_nonces: self.max_nonces,
            credentials,
            guesses,
        })
    }
}

/// The credentials of a Panasonic file: line n has `SIP_AUTHID_n` and `SIP_PASS_n`; its user
/// is `SIP_URI_n`, else `PHONE_NUMBER_n`. Lines missing either credential are left out.
pub(super) fn panasonic_credentials<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Vec<Credential> {
    let value = |k: String| get(&k).map(str::trim).filter(|v| !v.is_empty());
    (1..=MAX_LINES)
        .filter_map(|n| {
            let auth_id = value(format!("SIP_AUTHID_{n}"))?;
            let password = value(format!("SIP_PASS_{n}"))?;
            let user = value(format!("SIP_URI_{n}")).or_else(|| value(format!("PHONE_NUMBER_{n}")));
            Some(Credential {
                user: user.map(str::to_owned),
                auth_id: auth_id.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect()
}

/// True for the Panasonic keys [`panasonic_credentials`] reads.
pub(super) fn is_panasonic_line_key(name: &str) -> bool {
    ["SIP_AUTHID_", "SIP_PASS_", "SIP_URI_", "PHONE_NUMBER_"]
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(is_line_number))
}

/// The credentials of a Snom file: identity n has `user_pname<n>` (falling back to
/// `user_name<n>`) and `user_pass<n>`; its user is `user_name<n>`.
pub(super) fn snom_credentials<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Vec<Credential> {
    // Snom writes the line as a suffix (`user_name1`) or, in every current template, as an
    // `idx` attribute (`<user_name idx="1">`, which the XML reader names `user_name[1]`).
    let value = |key: &str, n: usize| {
        get(&format!("{key}{n}"))
            .or_else(|| get(&format!("{key}[{n}]")))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    (1..=MAX_LINES)
        .filter_map(|n| {
            let user = value("user_name", n);
            let auth_id = value("user_pname", n).or(user)?;
            let password = value("user_pass", n)?;
            Some(Credential {
                user: user.map(str::to_owned),
                auth_id: auth_id.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect()
}

/// True for the Snom keys [`snom_credentials`] reads, and `challenge_checksync`.
pub(super) fn is_snom_auth_key(name: &str) -> bool {
    name == "challenge_checksync"
        || ["user_name", "user_pname", "user_pass"].iter().any(|p| {
            name.strip_prefix(p).is_some_and(|n| {
                let n = n
                    .strip_prefix('[')
                    .and_then(|n| n.strip_suffix(']'))
                    .unwrap_or(n);
                is_line_number(n)
            })
        })
}

/// Snom `challenge_checksync`: on/off.
pub(super) fn snom_challenge(value: &str) -> Result<bool, super::ValueError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" | "" => Ok(false),
        _ => Err(super::ValueError::OnOff),
    }
}

fn is_line_number(s: &str) -> bool {
    s.parse::<usize>()
        .is_ok_and(|n| (1..=MAX_LINES).contains(&n))
}

/// Credentials in effect: `fetched` ones first, then the `local` ones whose auth ID no fetched
/// credential replaces (a provisioned password change wins over the local file).
pub(super) fn merge(local: &[Credential], fetched: Vec<Credential>) -> Vec<Credential> {
    let mut out = fetched;
    for c in local {
        if !out.iter().any(|f| f.auth_id == c.auth_id) {
            out.push(c.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::from_bytes;

    #[test]
    fn panasonic_lines() {
        let entries = [
            ("SIP_AUTHID_1", "auth1001"),
            ("SIP_PASS_1", "pw1"),
            ("PHONE_NUMBER_1", "1001"),
            ("SIP_AUTHID_2", "auth1002"),
            ("SIP_PASS_2", ""),
            ("SIP_AUTHID_3", "auth1003"),
            ("SIP_PASS_3", "pw3"),
            ("SIP_URI_3", "alice"),
            ("PHONE_NUMBER_3", "1003"),
        ];
        let get = |k: &str| entries.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let c = panasonic_credentials(get);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].user.as_deref(), Some("1001"));
        assert_eq!(
            (c[1].auth_id.as_str(), c[1].user.as_deref()),
            ("auth1003", Some("alice"))
        );
        assert!(is_panasonic_line_key("SIP_PASS_12"));
        assert!(!is_panasonic_line_key("SIP_PASS_X"));
        assert!(!is_panasonic_line_key("SIP_PASS_99"));
    }

    #[test]
    fn snom_identities() {
        let entries = [
            ("user_name1", "1001"),
            ("user_pass1", "pw1"),
            ("user_name2", "1002"),
            ("user_pname2", "auth1002"),
            ("user_pass2", "pw2"),
            ("user_name3", "1003"),
        ];
        let get = |k: &str| entries.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let c = snom_credentials(get);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].auth_id, "1001");
        assert_eq!(c[1].auth_id, "auth1002");
        assert!(is_snom_auth_key("challenge_checksync"));
        assert!(is_snom_auth_key("user_pass2"));
        assert!(snom_challenge("maybe").is_err());
    }

    /// Every current Snom template (FusionPBX, Wazo, FreePBX's provisioner) writes the line as
    /// an `idx` attribute: `<user_name idx="1" perm="">1001</user_name>`. Those credentials
    /// were not read, so with `challenge_checksync` on a right answer got 401 (issue 24).
    #[test]
    fn snom_credentials_written_with_idx_are_read() {
        let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<settings>\n<phone-settings>\n<challenge_checksync perm=\"\">on</challenge_checksync>\n<user_name idx=\"1\" perm=\"\">1001</user_name>\n<user_pname idx=\"1\" perm=\"\">auth1001</user_pname>\n<user_pass idx=\"1\" perm=\"\">s3cret</user_pass>\n<user_name idx=\"2\" perm=\"\">1002</user_name>\n<user_pass idx=\"2\" perm=\"\">pw2</user_pass>\n</phone-settings>\n</settings>\n";
        let s = crate::config::from_bytes(xml, std::path::Path::new("snom.xml")).unwrap();
        assert!(s.sip.auth.challenge);
        let ids: Vec<_> = s
            .sip
            .auth
            .credentials
            .iter()
            .map(|c| c.auth_id.as_str())
            .collect();
        assert_eq!(ids, ["auth1001", "1002"]);
        assert_eq!(s.sip.auth.credentials[0].user.as_deref(), Some("1001"));
        assert_eq!(s.sip.auth.credentials[0].password, "s3cret");
        assert!(s.unused.is_empty(), "{:?}", s.unused);
        assert!(is_snom_auth_key("user_pass[2]"));
        assert!(!is_snom_auth_key("user_pass[x]"));
    }

    #[test]
    fn fetched_credentials_replace_local_ones_with_the_same_auth_id() {
        let c = |id: &str, pw: &str| Credential {
            user: None,
            auth_id: id.into(),
            password: pw.into(),
        };
        let merged = merge(&[c("a", "old"), c("b", "keep")], vec![c("a", "new")]);
        assert_eq!(merged, vec![c("a", "new"), c("b", "keep")]);
    }

    #[test]
    fn auth_settings_in_each_dialect() {
        use crate::sip::Algorithm;
        let s = from_bytes(
            b"[sip.auth]\nchallenge = true\nrealm = \"pbx.example\"\nalgorithms = [\"MD5\"]\n[[sip.auth.credentials]]\nuser = \"1001\"\nauth_id = \"a1001\"\npassword = \"pw\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let a = &s.sip.auth;
        assert!(a.challenge);
        assert_eq!(
            (a.realm.as_str(), a.algorithms.as_slice()),
            ("pbx.example", &[Algorithm::Md5][..])
        );
        assert_eq!(a.credentials[0].auth_id, "a1001");
        assert_eq!(s.sip.endpoint_config().auth, *a);
        let e = from_bytes(
            b"[sip.auth]\nalgorithms = [\"SHA-512\"]\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.toml:2: sip.auth.algorithms: unknown algorithm"),
            "{e}"
        );
        let e = from_bytes(b"[sip.auth]\nrealm = \"a\\\"b\"\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("sip.auth.realm"), "{e}");
        // The brake on guessing: defaults, and the three keys.
        assert_eq!(a.guesses, GuessBudget::default());
        let b = from_bytes(
            b"[sip.auth]\nfailures_per_source = 5\nfailures_per_user = 0\nmax_hold_secs = 60\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let g = b.sip.auth.guesses;
        assert_eq!(
            (g.failures_per_source, g.failures_per_user, g.max_hold),
            (5, 0, std::time::Duration::from_secs(60))
        );
        assert_eq!(g.first_hold, GuessBudget::default().first_hold);
        for bad in [
            "failures_per_source = 1001",
            "failures_per_user = 10001",
            "max_hold_secs = 0",
        ] {
            let text = format!("[sip.auth]\n{bad}\n");
            let e = from_bytes(text.as_bytes(), Path::new("a.toml")).unwrap_err();
            let key = bad.split(' ').next().unwrap();
            assert!(e.to_string().contains(&format!("sip.auth.{key}")), "{e}");
        }
        let w = from_bytes(b"[sip.auth]\nchallenge = true\n", Path::new("a.toml")).unwrap();
        assert!(w
            .warnings
            .iter()
            .any(|w| w.to_string().contains("no credentials")));

        let p = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nPHONE_NUMBER_1=\"1001\"\r\nSIP_AUTHID_1=\"a1001\"\r\nSIP_PASS_1=\"pw\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        assert_eq!(p.sip.auth.credentials.len(), 1);
        assert!(!p.sip.auth.challenge, "Panasonic has no challenge setting");
        assert!(p.unused.is_empty(), "{:?}", p.unused);

        let n = from_bytes(
            b"<settings><phone-settings><challenge_checksync perm=\"\">on</challenge_checksync><user_name1>1001</user_name1><user_pass1>pw</user_pass1></phone-settings></settings>",
            Path::new("snom.xml"),
        )
        .unwrap();
        assert!(n.sip.auth.challenge);
        assert_eq!(n.sip.auth.credentials[0].auth_id, "1001");
    }
}

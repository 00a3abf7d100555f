//! Where a provisioning file comes from: URL templates, `{MAC}`/`{MODEL}`, credentials.
//!
//! The schemes are those desk phones fetch their files with: `http`, `https`, `tftp`
//! (RFC 1350, with the options of RFC 2347 to 2349), `ftp` and `ftps`, plus `file` for a local
//! file. `ftps` is FTP with explicit TLS (RFC 4217: `AUTH TLS` on the control connection, then
//! `PBSZ 0` and `PROT P` so that the data connection is encrypted too), on port 21 unless the
//! URL gives another: the form Panasonic and Snom phones offer. Implicit FTPS (TLS from the
//! first byte, port 990) is not supported.
//!
//! Credentials written as `user:pass@` in a URL are taken out of the URL before it is used, so
//! no log line, error message or outcome can carry them: [`Location`]'s `Display` never shows
//! them, and [`redact`] masks them in a template. TFTP has no credentials: a `tftp` URL with
//! `user:pass@` is refused.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{FileFormat, FileSpec};
use crate::naming::redact;

/// Why a configured file cannot be fetched at all (a configuration error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A placeholder has no value.
    #[error("{url}: uses {placeholder} but no value is configured ({hint})")]
    Unset {
        /// The URL, credentials masked.
        url: String,
        /// `{MAC}` or `{MODEL}`.
        placeholder: &'static str,
        /// How to set it.
        hint: &'static str,
    },
    /// The URL cannot be parsed.
    #[error("{url}: not a usable URL: {reason}")]
    BadUrl {
        /// The URL, credentials masked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No local name can be derived.
    #[error("{url}: the URL has no file name at its end; give the file a name")]
    NoName {
        /// The URL, credentials masked.
        url: String,
    },
    /// Two files would be stored under one name.
    #[error("two provisioning files are both named \"{0}\"; give them distinct names")]
    DuplicateName(String),
    /// The name is not a plain file name.
    #[error("{0}")]
    BadName(crate::naming::NameError),
}

/// HTTP or FTP credentials from a URL's `user:pass@`; never displayed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name, percent-decoded.
    pub user: String,
    /// Password, percent-decoded.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(***)")
    }
}

/// A resolved file location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An `http` or `https` URL, without credentials.
    Http {
        /// The URL to GET.
        url: url::Url,
        /// Credentials for HTTP authentication.
        credentials: Option<Credentials>,
    },
    /// A `tftp` URL (RFC 3617): the file name asked for is the path without its leading `/`.
    Tftp {
        /// The URL, as displayed.
        url: url::Url,
        /// The server's host name or address (an IPv6 address without brackets).
        host: String,
        /// The server's port: 69 unless the URL gives another.
        port: u16,
        /// The file name sent in the read request, percent-decoded.
        path: String,
    },
    /// An `ftp` or `ftps` URL, without credentials.
    Ftp {
        /// The URL, as displayed (credentials removed).
        url: url::Url,
        /// The server's host name or address (an IPv6 address without brackets).
        host: String,
        /// The control connection's port: 21 unless the URL gives another.
        port: u16,
        /// The file retrieved (`RETR`), relative to the login directory, percent-decoded.
        path: String,
        /// `ftps`: explicit TLS (`AUTH TLS`, then `PROT P`) before logging in.
        explicit_tls: bool,
        /// The login; anonymous when absent.
        credentials: Option<Credentials>,
    },
    /// A local file (`file://`).
    File {
        /// The path read.
        path: PathBuf,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Http { url, .. } | Location::Tftp { url, .. } | Location::Ftp { url, .. } => {
                write!(f, "{url}")
            }
            Location::File { path } => write!(f, "file://{}", path.display()),
        }
    }
}

/// The default port of the schemes fetched over the network.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "tftp" => Some(69),
        "ftp" | "ftps" => Some(21),
        _ => None,
    }
}

/// A configured file, resolved for this agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Local name in the state directory.
    pub name: String,
    /// Where it is fetched from.
    pub location: Location,
    /// How it is validated.
    pub format: FileFormat,
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Characters left alone when `{MODEL}` is put into a URL (RFC 3986 unreserved).
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Replaces `{MAC}` (the MAC in upper case), `{mac}` (in lower case: what FusionPBX's and
/// SARK's Panasonic templates write) and `{MODEL}` in a URL template.
pub(super) fn substitute(
    template: &str,
    mac: Option<&str>,
    model: Option<&str>,
) -> Result<String, SourceError> {
    let mut url = template.trim().to_owned();
    for (placeholder, lower) in [("{MAC}", false), ("{mac}", true)] {
        if url.contains(placeholder) {
            let mac = mac.ok_or_else(|| SourceError::Unset {
                url: redact(template),
                placeholder,
                hint: "set provisioning.mac or run with --mac",
            })?;
            let mac = if lower {
                mac.to_ascii_lowercase()
            } else {
                mac.to_ascii_uppercase()
            };
            url = url.replace(placeholder, &mac);
        }
    }
    if url.contains("{MODEL}") {
        let model = model.ok_or_else(|| SourceError::Unset {
            url: redact(template),
            placeholder: "{MODEL}",
            hint: "set provisioning.model or run with --model",
        })?;
        url = url.replace("{MODEL}", &encode_component(model));
    }
    Ok(url)
}

/// Resolves one URL (placeholders already replaced); relative `file://` paths are taken
/// from `base_dir`.
pub(super) fn locate(url: &str, base_dir: &Path) -> Result<Location, SourceError> {
    let bad = |reason: String| SourceError::BadUrl {
        url: redact(url),
        reason,
    };
    if url.len() >= 7 && url[..7].eq_ignore_ascii_case("file://") {
        let rest = &url[7..];
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        let decoded = percent_decode(rest);
        if decoded.is_empty() {
            return Err(bad("no path".into()));
        }
        let path = Path::new(&decoded);
        let path = if path.is_absolute() {
            path.to_owned()
        } else {
            base_dir.join(path)
        };
        return Ok(Location::File { path });
    }
    let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let scheme = parsed.scheme().to_owned();
    let Some(port) = default_port(&scheme).map(|d| parsed.port().unwrap_or(d)) else {
        return Err(bad(
            "the scheme must be http, https, tftp, ftp, ftps or file".into(),
        ));
    };
    let host = match parsed.host() {
        None | Some(url::Host::Domain("")) => return Err(bad("no host".into())),
        Some(url::Host::Domain(d)) => percent_decode(d),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
    };
    let has_credentials = !parsed.username().is_empty() || parsed.password().is_some();
    if scheme == "tftp" {
        if has_credentials {
            return Err(bad(
                "TFTP has no user or password; remove the user:pass@".into()
            ));
        }
        let path = remote_path(&parsed).map_err(bad)?;
        return Ok(Location::Tftp {
            url: parsed,
            host,
            port,
            path,
        });
    }
    let credentials = if has_credentials {
        let c = Credentials {
            user: percent_decode(parsed.username()),
            password: percent_decode(parsed.password().unwrap_or("")),
        };
        // Credentials never stay in the URL that is fetched, logged or reported.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        Some(c)
    } else {
        None
    };
    if scheme == "ftp" || scheme == "ftps" {
        let path = remote_path(&parsed).map_err(bad)?;
        return Ok(Location::Ftp {
            explicit_tls: scheme == "ftps",
            url: parsed,
            host,
            port,
            path,
            credentials,
        });
    }
    Ok(Location::Http {
        url: parsed,
        credentials,
    })
}

/// The file a `tftp`, `ftp` or `ftps` URL names: its path without the leading `/`,
/// percent-decoded. A query or fragment has no meaning there and is refused, and so are
/// control characters and NUL, which would end the name early in a TFTP request or an FTP
/// command.
fn remote_path(url: &url::Url) -> Result<String, String> {
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "a {} URL has no query or fragment (no '?' or '#')",
            url.scheme()
        ));
    }
    let path = percent_decode(url.path().strip_prefix('/').unwrap_or(url.path()));
    if path.is_empty() {
        return Err("no file name".into());
    }
    if path.chars().any(char::is_control) {
        return Err("the file name holds a control character".into());
    }
    Ok(path)
}

/// The local name a URL suggests: its last path segment, percent-decoded.
fn name_from(location: &Location, url: &str) -> Result<String, SourceError> {
    let last = match location {
        Location::Http { url, .. } | Location::Tftp { url, .. } | Location::Ftp { url, .. } => url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(percent_decode)
            .unwrap_or_default(),
        Location::File { path } => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if last.is_empty() {
        Err(SourceError::NoName { url: redact(url) })
    } else {
        Ok(last)
    }
}

/// Resolves every configured file: placeholders, credentials, names, formats. Names must be
/// distinct plain file names.
pub fn resolve_all(
    specs: &[FileSpec],
    mac: Option<&str>,
    model: Option<&str>,
    base_dir: &Path,
) -> Result<Vec<Source>, SourceError> {
    let mut out: Vec<Source> = Vec::with_capacity(specs.len());
    for spec in specs {
        let url = substitute(&spec.url, mac, model)?;
        let location = locate(&url, base_dir)?;
        let name = match &spec.name {
            Some(n) => n.clone(),
            None => name_from(&location, &url)?,
        };
        crate::naming::check_file_name(&name).map_err(SourceError::BadName)?;
        if out.iter().any(|s| s.name == name) {
            return Err(SourceError::DuplicateName(name));
        }
        let format = spec.format.unwrap_or(FileFormat::Auto);
        out.push(Source {
            name,
            location,
            format,
        });
    }
    Ok(out)
}

/// Most files a run fetches because a fetched list named them (Snom's `<setting-files>`),
/// all lists together; further ones are not fetched, with a warning.
pub const MAX_LINKED_FILES: usize = crate::config::MAX_SETTING_FILES;

/// How deep lists may name lists: a configured file is at depth 0, a file it lists at 1; a
/// list at depth [`MAX_LINK_DEPTH`] is not followed.
pub const MAX_LINK_DEPTH: usize = 2;

/// Resolves the files a fetched list names, as the phone reads them: Snom's `{mac}` is the
/// MAC in upper case; a URL without a scheme is relative to the list's own URL. A file gets
/// the last segment of its URL as its name, prefixed with a number when another file of the
/// run has it already (`taken`, which grows). A link that cannot be resolved is reported in
/// the second list and skipped.
pub fn resolve_links(
    parent: &Source,
    links: &[crate::config::Link],
    mac: Option<&str>,
    model: Option<&str>,
    taken: &mut Vec<String>,
) -> (Vec<Source>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for link in links {
        let template = link
            .url
            .replace("{mac}", "{MAC}")
            .replace("{model}", "{MODEL}");
        let resolved = substitute(&template, mac, model).and_then(|url| {
            let absolute = join(&parent.location, &url).ok_or_else(|| SourceError::BadUrl {
                url: redact(&url),
                reason: "a relative URL needs an http(s) or file list to be relative to".into(),
            })?;
            let mut location = locate(&absolute, Path::new("/"))?;
            // A file on the list's own server is fetched with the list's credentials.
            match (&parent.location, &mut location) {
                (
                    Location::Http {
                        url: parent_url,
                        credentials: Some(c),
                    },
                    Location::Http {
                        url,
                        credentials: inherited @ None,
                    },
                )
                | (
                    Location::Ftp {
                        url: parent_url,
                        credentials: Some(c),
                        ..
                    },
                    Location::Ftp {
                        url,
                        credentials: inherited @ None,
                        ..
                    },
                ) if url.scheme() == parent_url.scheme()
                    && url.host_str() == parent_url.host_str()
                    && url.port_or_known_default() == parent_url.port_or_known_default() =>
                {
                    *inherited = Some(c.clone());
                }
                _ => {}
            }
            let name = name_from(&location, &absolute)?;
            Ok((location, name))
        });
        match resolved {
            Ok((location, name)) => {
                let mut unique = name.clone();
                let mut n = 2;
                while taken.contains(&unique) {
                    unique = format!("{n}-{name}");
                    n += 1;
                }
                if let Err(e) = crate::naming::check_file_name(&unique) {
                    problems.push(format!("line {}: {e}", link.line));
                    continue;
                }
                taken.push(unique.clone());
                out.push(Source {
                    name: unique,
                    location,
                    format: FileFormat::Auto,
                });
            }
            Err(e) => problems.push(format!("line {}: {e}", link.line)),
        }
    }
    (out, problems)
}

/// `url` made absolute against the location of the list that names it: unchanged when it
/// has a scheme; `None` when it is relative and the list's location cannot anchor it.
fn join(base: &Location, url: &str) -> Option<String> {
    let has_scheme = url.split_once("://").is_some_and(|(s, _)| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+')
    });
    if has_scheme {
        return Some(url.to_owned());
    }
    match base {
        Location::Http { url: base, .. }
        | Location::Tftp { url: base, .. }
        | Location::Ftp { url: base, .. } => base.join(url).ok().map(|u| u.to_string()),
        Location::File { path } => {
            let dir = path.parent()?;
            Some(format!("file://{}", dir.join(url).display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> FileSpec {
        FileSpec {
            name: None,
            url: url.into(),
            format: None,
            origin: None,
        }
    }

    #[test]
    fn credentials_are_taken_out_of_the_url() {
        let loc = locate(
            "http://admin:s%40cret@prov.example:8080/p/a.cfg",
            Path::new("."),
        )
        .unwrap();
        let Location::Http { url, credentials } = &loc else {
            panic!("{loc:?}")
        };
        assert_eq!(url.as_str(), "http://prov.example:8080/p/a.cfg");
        let c = credentials.clone().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("admin", "s@cret"));
        assert_eq!(format!("{c:?}"), "Credentials(***)");
        assert!(!format!("{loc} {loc:?}").contains("cret"));
    }

    /// FusionPBX's Panasonic templates (and SARK's) write `{mac}`: the MAC in lower case, as
    /// the server's file names are. Issue 24 found it fetched as `%7Bmac%7D.cfg` before.
    #[test]
    fn the_lower_case_mac_placeholder_is_the_mac_in_lower_case() {
        assert_eq!(
            substitute(
                "https://pbx.example/app/provision/{mac}.cfg",
                Some("0080F0A1B2C3"),
                None
            )
            .unwrap(),
            "https://pbx.example/app/provision/0080f0a1b2c3.cfg"
        );
        assert_eq!(
            substitute("tftp://h/{MAC}-{mac}", Some("0080f0a1b2c3"), None).unwrap(),
            "tftp://h/0080F0A1B2C3-0080f0a1b2c3"
        );
        let e = substitute("http://h/{mac}.cfg", None, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("uses {mac} but no value is configured"),
            "{e}"
        );
    }

    #[test]
    fn placeholders_are_replaced_or_reported() {
        let got = resolve_all(
            &[spec("http://h/{MODEL}/{MAC}.cfg")],
            Some("0080F0A1B2C3"),
            Some("KX HDV230"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(got[0].name, "0080F0A1B2C3.cfg");
        // Recognised when fetched: by content first, by the name second.
        assert_eq!(got[0].format, FileFormat::Auto);
        assert_eq!(
            got[0].format.for_content(&got[0].name, b"key=1"),
            FileFormat::Panasonic
        );
        assert_eq!(
            got[0].format.for_content(&got[0].name, b"<settings/>"),
            FileFormat::Snom
        );
        assert_eq!(
            got[0].location.to_string(),
            "http://h/KX%20HDV230/0080F0A1B2C3.cfg"
        );
        let e = resolve_all(
            &[spec("http://u:p@h/{MAC}.cfg")],
            None,
            None,
            Path::new("."),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("provisioning.mac or run with --mac"),
            "{e}"
        );
        assert!(!e.to_string().contains("u:p"), "{e}");
    }

    #[test]
    fn file_urls_absolute_and_relative() {
        let base = Path::new("/etc/sip-resync");
        assert_eq!(
            locate("file:///srv/prov/a.cfg", base).unwrap(),
            Location::File {
                path: "/srv/prov/a.cfg".into()
            }
        );
        assert_eq!(
            locate("file://localhost/srv/a%20b.cfg", base).unwrap(),
            Location::File {
                path: "/srv/a b.cfg".into()
            }
        );
        assert_eq!(
            locate("file://provisioning/a.cfg", base).unwrap(),
            Location::File {
                path: "/etc/sip-resync/provisioning/a.cfg".into()
            }
        );
    }

    #[test]
    fn names_must_be_distinct_and_plain() {
        let e = resolve_all(
            &[spec("http://a/x/p.cfg"), spec("http://b/y/p.cfg")],
            None,
            None,
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!(e, SourceError::DuplicateName("p.cfg".into()));
        assert!(matches!(
            resolve_all(&[spec("http://a/dir/")], None, None, Path::new(".")),
            Err(SourceError::NoName { .. })
        ));
        assert!(matches!(
            resolve_all(&[spec("gopher://a/x.cfg")], None, None, Path::new(".")),
            Err(SourceError::BadUrl { .. })
        ));
    }

    /// A `<setting-files>` list's URLs: relative ones against the list's URL, Snom's `{mac}`
    /// in upper case, a clashing name numbered, an unusable one reported and skipped.
    #[test]
    fn listed_files_are_resolved_against_their_list() {
        let list = resolve_all(
            &[spec("http://u:p@h/snom/{MAC}.xml")],
            Some("000413aabbcc"),
            None,
            Path::new("."),
        )
        .unwrap()
        .remove(0);
        let link = |url: &str, line| crate::config::Link {
            url: url.into(),
            line,
        };
        let mut taken = vec![list.name.clone(), "general.xml".to_owned()];
        let (found, problems) = resolve_links(
            &list,
            &[
                link("general.xml", 3),
                link("https://other/{mac}-phone.xml", 4),
                link("tftp-less-scheme:", 5),
                link("/x/{MODEL}.xml", 6),
            ],
            Some("000413aabbcc"),
            None,
            &mut taken,
        );
        let got: Vec<(String, String)> = found
            .iter()
            .map(|s| (s.name.clone(), s.location.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "2-general.xml".to_owned(),
                    "http://h/snom/general.xml".to_owned()
                ),
                (
                    "000413AABBCC-phone.xml".to_owned(),
                    "https://other/000413AABBCC-phone.xml".to_owned()
                ),
            ]
        );
        assert_eq!(found[0].format, FileFormat::Auto);
        // The list's credentials go to its own server only.
        let creds = |s: &Source| match &s.location {
            Location::Http { credentials, .. } => credentials.clone(),
            _ => None,
        };
        assert_eq!(creds(&found[0]).map(|c| c.user), Some("u".to_owned()));
        assert_eq!(creds(&found[1]), None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 5: "), "{problems:?}");
        assert!(
            problems[1].starts_with("line 6: ") && problems[1].contains("{MODEL}"),
            "{problems:?}"
        );
        assert!(!format!("{problems:?}").contains("u:p"));
    }

    /// The transfer protocols desk phones use (issue 24, point 5): TFTP, FTP and FTPS, each
    /// with its default port, the file name as the server is asked for it, and FTP's
    /// credentials out of the URL and out of every text that shows it.
    #[test]
    fn tftp_ftp_and_ftps_urls_are_resolved() {
        let base = Path::new(".");
        assert_eq!(
            locate("tftp://10.0.0.1/Config0080F0A1B2C3.cfg", base).unwrap(),
            Location::Tftp {
                url: url::Url::parse("tftp://10.0.0.1/Config0080F0A1B2C3.cfg").unwrap(),
                host: "10.0.0.1".into(),
                port: 69,
                path: "Config0080F0A1B2C3.cfg".into(),
            }
        );
        let Location::Tftp {
            host, port, path, ..
        } = locate("TFTP://[::1]:6969/dir/a%20b.cfg", base).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (host.as_str(), port, path.as_str()),
            ("::1", 6969, "dir/a b.cfg")
        );
        let e = locate("tftp://u:p@h/a.cfg", base).unwrap_err();
        assert!(
            e.to_string().contains("TFTP has no user or password"),
            "{e}"
        );
        assert!(!e.to_string().contains("u:p"), "{e}");

        let loc = locate("ftps://prov:s%3Acret@pbx.example:2121/phones/a.cfg", base).unwrap();
        let Location::Ftp {
            url,
            host,
            port,
            path,
            explicit_tls,
            credentials,
        } = &loc
        else {
            panic!("{loc:?}")
        };
        assert_eq!(url.as_str(), "ftps://pbx.example:2121/phones/a.cfg");
        assert_eq!(
            (host.as_str(), *port, path.as_str()),
            ("pbx.example", 2121, "phones/a.cfg")
        );
        assert!(explicit_tls);
        let c = credentials.clone().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("prov", "s:cret"));
        assert!(!format!("{loc} {loc:?}").contains("cret"), "{loc:?}");
        let Location::Ftp {
            port,
            explicit_tls,
            credentials,
            ..
        } = locate("ftp://pbx.example/a.cfg", base).unwrap()
        else {
            panic!()
        };
        assert_eq!((port, explicit_tls, credentials), (21, false, None));

        for bad in [
            "tftp://h/",
            "ftp://h/a.cfg?x=1",
            "tftp://h/a%00b",
            "ftp:///a.cfg",
        ] {
            assert!(
                matches!(locate(bad, base), Err(SourceError::BadUrl { .. })),
                "{bad}"
            );
        }
        let got = resolve_all(
            &[spec("tftp://h/{mac}.cfg"), spec("ftp://u:p@h/p/{MAC}.cfg")],
            Some("0080F0A1B2C3"),
            None,
            base,
        )
        .unwrap();
        assert_eq!(got[0].name, "0080f0a1b2c3.cfg");
        assert_eq!(got[1].name, "0080F0A1B2C3.cfg");
        assert_eq!(got[1].location.to_string(), "ftp://h/p/0080F0A1B2C3.cfg");
    }
}

//! Names shared by the configuration and the engine: the rule for a provisioned file's local
//! name, the manifest's name, and URLs with their credentials masked for display. Both sides
//! import this module; neither imports the other for it.

use crate::escape::excerpt;

/// Name of the manifest inside a set directory; no provisioned file may take it.
pub const MANIFEST: &str = "manifest.toml";

/// Why a URL template or a local file name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A file URL with a scheme the engine does not fetch (the URL redacted and escaped).
    #[error("\"{0}\": a file URL must start with http://, https://, tftp://, ftp://, ftps:// or file://")]
    Scheme(String),
    /// Not a plain file name, or the manifest's (the name escaped).
    #[error("\"{0}\" is not usable as a file name (a plain name, not starting with '.', not \"{MANIFEST}\")")]
    FileName(String),
}

/// Masks the credentials of a URL (or URL template) for display: `http://***@host/...`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!(
            "{}://***@{}",
            &url[..scheme_end],
            &rest[at + 1..] // host and everything after it
        ),
        None => url.to_owned(),
    }
}

/// The schemes the engine fetches, as a URL starts with them.
pub(crate) const URL_SCHEMES: [&str; 6] = [
    "http://", "https://", "tftp://", "ftp://", "ftps://", "file://",
];

/// A URL template must use a scheme the engine fetches.
pub(crate) fn check_url_template(url: &str) -> Result<(), NameError> {
    let lower = url.trim().to_ascii_lowercase();
    if URL_SCHEMES.iter().any(|s| lower.starts_with(s)) {
        Ok(())
    } else {
        Err(NameError::Scheme(excerpt(redact(url).as_bytes())))
    }
}

/// A local file name: a plain name, no directories, not the manifest's.
pub fn check_file_name(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name != MANIFEST;
    if ok {
        Ok(())
    } else {
        Err(NameError::FileName(excerpt(name.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_and_names_checked() {
        assert_eq!(
            redact("https://admin:pw@prov.example/{MAC}.cfg"),
            "https://***@prov.example/{MAC}.cfg"
        );
        assert_eq!(
            redact("https://prov.example/a@b"),
            "https://prov.example/a@b"
        );
        assert!(check_url_template("gopher://a:b@host/x")
            .unwrap_err()
            .to_string()
            .contains("***@host"));
        for ok in [
            "HTTPS://host/x",
            "tftp://10.0.0.1/{MAC}.cfg",
            "ftp://a:b@host/x",
            "FTPS://host/x",
        ] {
            assert!(check_url_template(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", MANIFEST] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_file_name("0080F0A1B2C3.cfg").is_ok());
    }
}

//! The Event header and the resync-event matcher.
//!
//! RFC 6665 §8.2.1: `Event = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param )`.
//! The configured text is Panasonic's `CFG_RESYNC_FROM_SIP` ("Header Value for Resync Event"):
//! the event-type token before the first `;` is trimmed and compared with each accepted
//! event. RFC 6665 compares byte by byte; deployed stacks disagree, so the default here is
//! ASCII case-insensitive, with [`EventMatch::Strict`] for byte-exact comparison. Parameters
//! (`reboot=true`, `id=…`) never prevent a match; they are handed to the engine.

use super::headers;
use crate::resync::EventParam;

/// How the event-type token is compared with the accepted events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventMatch {
    /// ASCII case-insensitive (pjsip's behaviour); the default.
    #[default]
    CaseInsensitive,
    /// Byte-exact (RFC 6665, libre's behaviour).
    Strict,
}

/// A parsed Event header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EventHeader {
    /// The event-type token, trimmed.
    pub event: String,
    /// The event parameters, in order, at most `max_params` of them.
    pub params: Vec<EventParam>,
}

impl EventHeader {
    /// Parses an Event header value; `None` when the event-type is empty.
    #[cfg(test)]
    pub(super) fn parse(value: &str, max_params: usize) -> Option<EventHeader> {
        let event = event_type(value);
        (!event.is_empty()).then(|| EventHeader::new(event, value, max_params))
    }

    /// The Event header `value` whose event-type the front end has read as `event`: the
    /// parameters are read here, at most `max_params` of them.
    pub(super) fn new(event: &str, value: &str, max_params: usize) -> EventHeader {
        let params = headers::params(value)
            .take(max_params)
            .map(|(name, value)| EventParam {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            })
            .collect();
        EventHeader {
            event: event.to_owned(),
            params,
        }
    }

    /// The `reboot` parameter: `Some(true)` for `reboot=true`, `Some(false)` for
    /// `reboot=false` (ASCII case-insensitive), `None` when absent or anything else.
    pub(super) fn reboot(&self) -> Option<bool> {
        let p = self
            .params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case("reboot"))?;
        match p.value.as_deref() {
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

/// The event-type of an Event value: the token before the first `;`, trimmed (RFC 6665
/// §8.2.1). Empty when there is none.
pub(super) fn event_type(value: &str) -> &str {
    let end = headers::find_unquoted(value, b';').unwrap_or(value.len());
    value[..end].trim()
}

/// The accepted events and how to compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMatcher {
    accepted: Vec<String>,
    mode: EventMatch,
    allow_events: String,
}

impl EventMatcher {
    /// A matcher for `accepted` (each trimmed; empty entries dropped).
    pub fn new<I, S>(accepted: I, mode: EventMatch) -> EventMatcher
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let accepted: Vec<String> = accepted
            .into_iter()
            .map(|s| s.as_ref().trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let allow_events = accepted.join(", ");
        EventMatcher {
            accepted,
            mode,
            allow_events,
        }
    }

    /// Does `event` (an event-type token) match one of the accepted events?
    pub fn matches(&self, event: &str) -> bool {
        let event = event.trim();
        self.accepted.iter().any(|a| match self.mode {
            EventMatch::CaseInsensitive => a.eq_ignore_ascii_case(event),
            EventMatch::Strict => a == event,
        })
    }

    /// The value of the `Allow-Events` header: the accepted events, comma-separated.
    pub fn allow_events(&self) -> &str {
        &self.allow_events
    }
}

impl Default for EventMatcher {
    fn default() -> Self {
        EventMatcher::new(["check-sync"], EventMatch::CaseInsensitive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_and_params() {
        let e = EventHeader::parse(" check-sync ;reboot=true;id=7 ", 16).unwrap();
        assert_eq!(e.event, "check-sync");
        assert_eq!(e.reboot(), Some(true));
        assert_eq!(e.params[1].name, "id");
        assert_eq!(e.params[1].value.as_deref(), Some("7"));
        assert_eq!(
            EventHeader::parse("check-sync;reboot=FALSE", 16)
                .unwrap()
                .reboot(),
            Some(false)
        );
        assert_eq!(
            EventHeader::parse("check-sync;reboot=maybe", 16)
                .unwrap()
                .reboot(),
            None
        );
        assert_eq!(EventHeader::parse("check-sync", 16).unwrap().reboot(), None);
        assert_eq!(EventHeader::parse(" ;x", 16), None);
        assert_eq!(EventHeader::parse("a;b;c;d", 2).unwrap().params.len(), 2);
    }

    #[test]
    fn matching_modes() {
        let m = EventMatcher::default();
        assert!(m.matches("check-sync"));
        assert!(m.matches("CHECK-SYNC"));
        assert!(!m.matches("check-syncx"));
        assert!(!m.matches("resync"));
        let strict = EventMatcher::new(["check-sync", " resync "], EventMatch::Strict);
        assert!(strict.matches("resync"));
        assert!(!strict.matches("Check-Sync"));
        assert_eq!(strict.allow_events(), "check-sync, resync");
    }
}

//! The front end: one framed message in, a view of the request (or a reason to drop it) out.
//!
//! Each message is read once, here. The [`Request`] borrows the received bytes: the start
//! line is split by hand (so that a bad version still gets 505 and an unknown method 501),
//! headers are normalised by [`super::headers`] into spans of the message, and the body is cut
//! to `Content-Length` (RFC 3261 §18.3: on UDP, octets past it are discarded; a value larger
//! than the datagram is an error, answered with 400). The fields the endpoint and the claim
//! rule act on beyond those a response copies are read here too, each once: the event-type of
//! the first Event header, the To-tag and the From-tag. Trust, rate limits, transaction keys,
//! the decision, the digest check and the response all read this one view.
//!
//! A request whose fields are present but broken is still returned, with its first
//! [`Defect`], so that the endpoint can answer 400 instead of dropping it.

use std::borrow::Cow;

use super::event::event_type;
use super::headers::{self, is_token_char, Fields, HeaderError, Name};
use super::limits::Limits;
use crate::escape::excerpt;

/// Why a message cannot be answered at all. Such input is dropped and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unanswerable {
    /// Nothing but whitespace / CRLF keep-alives.
    #[error("keep-alive")]
    KeepAlive,
    /// A SIP response; this endpoint sends no requests that responses could belong to.
    #[error("a response, not a request")]
    Response,
    /// Larger than [`Limits::max_message_bytes`].
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    /// The first line is not a SIP request line.
    #[error("not a SIP request: \"{0}\"")]
    Garbage(String),
    /// A request without the fields a response must copy (Via, From, To, Call-ID, CSeq).
    #[error("request lacks {0}, so no response can be built")]
    MissingField(&'static str),
}

/// What makes an otherwise answerable request malformed; answered with 400 and this phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Defect {
    /// Extra whitespace or a bad element in the request line (RFC 4475 §3.1.2.7-10).
    RequestLine,
    /// A header line that could not be read.
    Header(HeaderError),
    /// A Content-Length that is not a non-negative integer (RFC 4475 §3.1.2.3).
    ContentLength,
    /// Two different Content-Length values (RFC 4475 §3.3.9).
    ConflictingContentLength,
    /// Content-Length larger than the bytes that arrived (RFC 4475 §3.1.2.2).
    ContentLengthExceedsMessage,
    /// Content-Length missing on a stream transport, where it is mandatory (RFC 3261 §18.3).
    MissingContentLength,
    /// A header that may appear once appears several times (RFC 4475 §3.3.8).
    Duplicate(&'static str),
    /// CSeq is not `number method`, or the number exceeds 2^32-1 (RFC 4475 §3.1.2.4).
    CSeq,
    /// CSeq names another method than the request line (RFC 4475 §3.1.2.17).
    CSeqMethodMismatch,
    /// A Via that is not `SIP/2.0/transport sent-by`.
    Via,
    /// A header section longer than [`Limits::max_header_bytes`].
    HeadersTooLarge,
    /// A From or To that is neither a name-addr nor an addr-spec (RFC 4475 §3.1.2.6, 14, 15).
    Address(&'static str),
}

impl Defect {
    /// The reason phrase of the 400 response.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Defect::RequestLine => "Malformed Request-Line",
            Defect::Header(HeaderError::TooMany(_)) => "Too Many Headers",
            Defect::Header(HeaderError::LineTooLong(_)) => "Header Too Long",
            Defect::Header(HeaderError::NotUtf8(_)) => "Header Not UTF-8",
            Defect::Header(_) => "Malformed Header",
            Defect::ContentLength => "Bad Content-Length",
            Defect::ConflictingContentLength => "Conflicting Content-Length",
            Defect::ContentLengthExceedsMessage => "Content-Length Exceeds Message",
            Defect::MissingContentLength => "Missing Content-Length",
            Defect::Duplicate("From") => "Duplicate From Header",
            Defect::Duplicate("To") => "Duplicate To Header",
            Defect::Duplicate("Call-ID") => "Duplicate Call-ID Header",
            Defect::Duplicate("CSeq") => "Duplicate CSeq Header",
            Defect::Duplicate(_) => "Duplicate Header",
            Defect::CSeq => "Malformed CSeq",
            Defect::CSeqMethodMismatch => "CSeq Method Mismatch",
            Defect::Via => "Malformed Via",
            Defect::HeadersTooLarge => "Header Section Too Large",
            Defect::Address("From") => "Malformed From Header",
            Defect::Address(_) => "Malformed To Header",
        }
    }
}

/// The parts of the CSeq header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CSeq<'a> {
    /// Sequence number, at most 2^32-1.
    pub number: u32,
    /// Method token.
    pub method: Cow<'a, str>,
}

impl CSeq<'_> {
    fn into_owned(self) -> CSeq<'static> {
        CSeq {
            number: self.number,
            method: Cow::Owned(self.method.into_owned()),
        }
    }
}

/// The top Via's parts needed for transaction matching and RFC 3581 handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopVia<'a> {
    /// Transport token (`UDP`, `TCP`, …), as sent.
    pub transport: Cow<'a, str>,
    /// `host[:port]` as sent, without the whitespace RFC 3261 allows inside it.
    pub sent_by: Cow<'a, str>,
    /// The `branch` parameter, if any.
    pub branch: Option<Cow<'a, str>>,
}

impl TopVia<'_> {
    fn into_owned(self) -> TopVia<'static> {
        TopVia {
            transport: Cow::Owned(self.transport.into_owned()),
            sent_by: Cow::Owned(self.sent_by.into_owned()),
            branch: self.branch.map(|b| Cow::Owned(b.into_owned())),
        }
    }
}

/// A request as the front end understood it: a view of the received bytes.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// Method token from the request line (case preserved: methods are case-sensitive).
    pub method: &'a str,
    /// Request-URI as sent.
    pub uri: &'a str,
    /// SIP-Version as sent (compared case-insensitively with `SIP/2.0`).
    pub version: &'a str,
    /// Normalised headers, in order.
    pub headers: Fields<'a>,
    /// Body, cut to Content-Length. The endpoint never reads a NOTIFY's body; the framing
    /// tests do.
    #[cfg_attr(not(test), allow(dead_code))]
    pub body: &'a [u8],
    /// Index in `headers` of From, To, Call-ID and CSeq (the first of each).
    pub from: usize,
    pub to: usize,
    pub call_id: usize,
    pub cseq_index: usize,
    /// Parsed CSeq, when it parses.
    pub cseq: Option<CSeq<'a>>,
    /// Parsed top Via, when it parses.
    pub top_via: Option<TopVia<'a>>,
    /// The first Event header (index in `headers`) and its event-type within its value.
    event: Option<(usize, Span)>,
    /// The To header's `tag` parameter within its value, when it has one (empty when it has
    /// no value).
    to_tag: Option<Span>,
    /// The From header's `tag` parameter within its value (empty when it has none).
    from_tag: Span,
    /// The first thing wrong with the request, if any.
    pub defect: Option<Defect>,
}

/// Where a part of a header value lies in that value, so that the view can keep what it read
/// of a field whose value is a copy (a folded line) as well as of one that borrows the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The span of `part`, a slice of `value`.
    fn within(value: &str, part: &str) -> Span {
        let start = part.as_ptr() as usize - value.as_ptr() as usize;
        debug_assert!(start + part.len() <= value.len(), "not a part of the value");
        Span {
            start,
            end: start + part.len(),
        }
    }

    fn of(self, value: &str) -> &str {
        &value[self.start..self.end]
    }
}

impl<'a> Request<'a> {
    /// Values of all headers named `name`, in order.
    pub(crate) fn values(&self, name: Name) -> impl Iterator<Item = &str> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| &*h.value)
    }
    /// The first header named `name`.
    pub(crate) fn first(&self, name: Name) -> Option<&str> {
        self.values(name).next()
    }
    /// The From value.
    pub(crate) fn from(&self) -> &str {
        &self.headers[self.from].value
    }
    /// The To value.
    pub(crate) fn to(&self) -> &str {
        &self.headers[self.to].value
    }
    /// The Call-ID value.
    pub(crate) fn call_id(&self) -> &str {
        &self.headers[self.call_id].value
    }
    /// The raw CSeq value.
    pub(crate) fn cseq_raw(&self) -> &str {
        &self.headers[self.cseq_index].value
    }
    /// The value of the first Event header (`Event` or `o`).
    pub(crate) fn event(&self) -> Option<&str> {
        self.event.map(|(i, _)| &*self.headers[i].value)
    }
    /// The event-type of the first Event header: the token before the first `;`, trimmed
    /// (RFC 6665 §8.2.1); empty when there is none.
    pub(crate) fn event_type(&self) -> Option<&str> {
        self.event.map(|(i, span)| span.of(&self.headers[i].value))
    }
    /// The To header's `tag` parameter: `None` when there is none, `Some("")` when it has no
    /// value. A request with a To-tag is inside a dialog.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        self.to_tag.map(|span| span.of(self.to()))
    }
    /// The From header's `tag` parameter, empty when it has none or no value.
    #[allow(clippy::wrong_self_convention)] // the From-tag of SIP, not a conversion
    pub(crate) fn from_tag(&self) -> &str {
        self.from_tag.of(self.from())
    }
    /// Is the version `SIP/2.0`?
    pub(crate) fn is_sip2(&self) -> bool {
        self.version.eq_ignore_ascii_case("SIP/2.0")
    }
}

/// How the message arrived, which decides Content-Length rules (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A whole datagram: Content-Length optional, excess octets discarded.
    Datagram,
    /// A message framed off a stream by [`super::frame::StreamFramer`]: Content-Length
    /// mandatory.
    Stream,
}

impl Framing {
    /// The framing of messages that arrive on `transport`: TCP and TLS are streams.
    pub(crate) fn of(transport: crate::resync::Transport) -> Framing {
        if transport.is_stream() {
            Framing::Stream
        } else {
            Framing::Datagram
        }
    }
}

/// Finds the end of the header section: returns (header bytes, body start).
pub(crate) fn split_head(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let next = &bytes[nl + 1..];
        if next.starts_with(b"\r\n") {
            return Some((nl + 1, nl + 3));
        }
        if next.starts_with(b"\n") {
            return Some((nl + 1, nl + 2));
        }
        i = nl + 1;
    }
    None
}

/// Parses one framed message.
pub(crate) fn parse<'a>(
    bytes: &'a [u8],
    framing: Framing,
    limits: &Limits,
) -> Result<Request<'a>, Unanswerable> {
    if bytes.len() > limits.max_message_bytes {
        return Err(Unanswerable::TooLarge(limits.max_message_bytes));
    }
    // RFC 3261 §7.5: ignore empty lines before the start line.
    let start = bytes
        .iter()
        .position(|&b| !matches!(b, b'\r' | b'\n'))
        .ok_or(Unanswerable::KeepAlive)?;
    let bytes = &bytes[start..];
    let (head_end, body_start) = split_head(bytes).unwrap_or((bytes.len(), bytes.len()));
    let head = &bytes[..head_end.min(limits.max_header_bytes)];
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let start_line = headers::lines(&head[..line_end]).next().unwrap_or_default();

    if start_line.len() >= 4 && start_line[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(Unanswerable::Response);
    }
    let (method, uri, version, mut defect) = request_line(start_line)?;
    let section = headers::parse_header_section(&head[(line_end + 1).min(head.len())..], limits);
    if head_end > limits.max_header_bytes {
        defect.get_or_insert(Defect::HeadersTooLarge);
    }
    if let Some(e) = section.defect {
        defect.get_or_insert(Defect::Header(e));
    }
    let fields = section.fields;

    // One pass over the fields finds the first Via and Event, and the first of each field
    // that may appear once, with whether it appears again.
    let (mut via, mut event) = (None, None);
    let mut once = [
        (Name::From, "From", None, false),
        (Name::To, "To", None, false),
        (Name::CallId, "Call-ID", None, false),
        (Name::CSeq, "CSeq", None, false),
    ];
    for (i, h) in fields.iter().enumerate() {
        match h.name {
            Name::Via => {
                via.get_or_insert(i);
            }
            Name::Event => {
                event.get_or_insert(i);
            }
            name => {
                if let Some((_, _, first, again)) = once.iter_mut().find(|f| f.0 == name) {
                    match first {
                        None => *first = Some(i),
                        Some(_) => *again = true,
                    }
                }
            }
        }
    }
    let via = via.ok_or(Unanswerable::MissingField("Via"))?;
    let mut indices = [0usize; 4];
    for (slot, (_, label, first, again)) in indices.iter_mut().zip(once) {
        *slot = first.ok_or(Unanswerable::MissingField(label))?;
        if again {
            defect.get_or_insert(Defect::Duplicate(label));
        }
    }
    let [from, to, call_id, cseq_index] = indices;
    // The fields the endpoint and the claim rule act on, each read here once.
    let tag = |i: usize| {
        let value = &*fields[i].value;
        headers::param(value, "tag")
            .map(|v| v.map_or_else(Span::default, |v| Span::within(value, v)))
    };
    let (to_tag, from_tag) = (tag(to), tag(from).unwrap_or_default());
    let event = event.map(|i| {
        (
            i,
            Span::within(&fields[i].value, event_type(&fields[i].value)),
        )
    });

    for (i, label) in [(from, "From"), (to, "To")] {
        if !address_well_formed(&fields[i].value) {
            defect.get_or_insert(Defect::Address(label));
        }
    }
    // Borrowed from the message, unless the field was folded (then copied).
    let cseq = match &fields[cseq_index].value {
        Cow::Borrowed(v) => parse_cseq(v),
        Cow::Owned(v) => parse_cseq(v).map(CSeq::into_owned),
    };
    if cseq.is_none() {
        defect.get_or_insert(Defect::CSeq);
    }
    let top_via = match &fields[via].value {
        Cow::Borrowed(v) => headers::split_values(v).next().and_then(parse_via),
        Cow::Owned(v) => headers::split_values(v)
            .next()
            .and_then(parse_via)
            .map(TopVia::into_owned),
    };
    if top_via.is_none()
        || fields
            .iter()
            .any(|h| h.name == Name::Via && !via_well_formed(&h.value))
    {
        defect.get_or_insert(Defect::Via);
    }

    // Body framing by Content-Length.
    let available = &bytes[body_start.min(bytes.len())..];
    let mut lengths = fields
        .iter()
        .filter(|h| h.name == Name::ContentLength)
        .map(|h| parse_length(&h.value));
    let body = match (lengths.next(), framing) {
        (None, Framing::Datagram) => available,
        (None, Framing::Stream) => {
            defect.get_or_insert(Defect::MissingContentLength);
            &[][..]
        }
        (Some(first), _) => {
            if lengths.any(|other| other != first) {
                defect.get_or_insert(Defect::ConflictingContentLength);
                &[][..]
            } else {
                match first {
                    None => {
                        defect.get_or_insert(Defect::ContentLength);
                        &[][..]
                    }
                    Some(n) if n > available.len() => {
                        defect.get_or_insert(Defect::ContentLengthExceedsMessage);
                        available
                    }
                    Some(n) => &available[..n],
                }
            }
        }
    };

    Ok(Request {
        method,
        uri,
        version,
        body,
        headers: fields,
        from,
        to,
        call_id,
        cseq_index,
        cseq,
        top_via,
        event,
        to_tag,
        from_tag,
        defect,
    })
}

/// Splits `Method SP Request-URI SP SIP-Version`. Extra whitespace is a [`Defect`]; a line
/// that does not look like a request line at all is [`Unanswerable::Garbage`].
type RequestLine<'a> = (&'a str, &'a str, &'a str, Option<Defect>);

fn request_line(line: &[u8]) -> Result<RequestLine<'_>, Unanswerable> {
    let garbage = || Unanswerable::Garbage(excerpt(line));
    let text = std::str::from_utf8(line).map_err(|_| garbage())?;
    let mut words = text.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(second)) = (words.next(), words.next()) else {
        return Err(garbage());
    };
    // The last word is the version; everything between the first and the last word is the
    // Request-URI (several words only in a malformed line, answered 400).
    let (mut count, mut last, mut before_last) = (2, second, None);
    for w in words {
        count += 1;
        before_last = Some(last);
        last = w;
    }
    let Some(uri_end) = before_last else {
        return Err(garbage());
    };
    let version = last;
    // Compared as bytes: the word may hold multi-byte text, and `&version[..4]` would then
    // panic when byte 4 is not a character boundary. After an ASCII "SIP/" it always is.
    let version_ok = version.len() > 4
        && version.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/")
        && version[4..].split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
        });
    if !version_ok || !method.bytes().all(is_token_char) {
        return Err(garbage());
    }
    // Offsets of the URI's first and last word within the line.
    let offset = |w: &str| w.as_ptr() as usize - text.as_ptr() as usize;
    let uri = &text[offset(second)..offset(uri_end) + uri_end.len()];
    let exact = text.split(' ').count() == 3;
    let uri_ok = count == 3
        && !uri.starts_with('<')
        && uri.contains(':')
        && !uri.bytes().any(|b| b.is_ascii_control());
    let defect = (!exact || !uri_ok).then_some(Defect::RequestLine);
    Ok((method, uri, version, defect))
}

/// `1*DIGIT LWS Method`, number at most 2^32-1.
pub(crate) fn parse_cseq(value: &str) -> Option<CSeq<'_>> {
    let mut it = value.split_ascii_whitespace();
    let (num, method) = (it.next()?, it.next()?);
    if it.next().is_some()
        || !num.bytes().all(|b| b.is_ascii_digit())
        || !method.bytes().all(is_token_char)
    {
        return None;
    }
    Some(CSeq {
        number: num.parse().ok()?,
        method: Cow::Borrowed(method),
    })
}

/// `SIP/2.0/transport sent-by *(;param)`, with the LWS RFC 3261 allows around `/` and `:`
/// (RFC 4475 §3.1.1.1 writes `SIP  /   2.0 /UDP`).
pub(crate) fn parse_via(value: &str) -> Option<TopVia<'_>> {
    let (transport, sent_by) = via_head(value)?;
    let branch = headers::param(value, "branch").flatten().map(Cow::Borrowed);
    Some(TopVia {
        transport: Cow::Borrowed(transport),
        sent_by,
        branch,
    })
}

/// The transport and sent-by of a Via value, when it is `SIP/2.0/transport sent-by`.
fn via_head(value: &str) -> Option<(&str, Cow<'_, str>)> {
    let head_end = headers::find_unquoted(value, b';').unwrap_or(value.len());
    let mut proto = value[..head_end].splitn(3, '/');
    let (name, version, rest) = (
        proto.next()?.trim(),
        proto.next()?.trim(),
        proto.next()?.trim_start(),
    );
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return None;
    }
    let (transport, sent_by) = rest.split_once([' ', '\t'])?;
    let sent_by: Cow<str> = if sent_by.contains(char::is_whitespace) {
        Cow::Owned(sent_by.chars().filter(|c| !c.is_whitespace()).collect())
    } else {
        Cow::Borrowed(sent_by)
    };
    if transport.is_empty() || !transport.bytes().all(is_token_char) || sent_by.is_empty() {
        return None;
    }
    Some((transport, sent_by))
}

/// Every comma-separated value of a Via header parses, and no value or parameter is empty
/// (RFC 4475 §3.1.2.1 `;;,;,,`).
fn via_well_formed(value: &str) -> bool {
    let mut rest = value;
    loop {
        let (item, next) = match headers::find_unquoted(rest, b',') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if via_head(item).is_none() {
            return false;
        }
        if let Some(p) = headers::find_unquoted(item, b';') {
            if item[p + 1..]
                .split(';')
                .any(|param| param.trim().is_empty())
            {
                return false;
            }
        }
        match next {
            Some(n) => rest = n,
            None => return true,
        }
    }
}

/// Is a From/To value a `name-addr` or an `addr-spec` followed by parameters (RFC 3261
/// §20.20)? Checks what a response would copy wrongly: quotes balanced, a display name that is
/// a quoted string or tokens, no whitespace inside `<…>`, an addr-spec without whitespace.
/// Non-ASCII display-name text is tolerated, as deployed PBXes send it unquoted.
pub(crate) fn address_well_formed(value: &str) -> bool {
    let bytes = value.as_bytes();
    // Optional display name.
    if bytes.first() == Some(&b'"') {
        let mut i = 1;
        loop {
            match bytes.get(i) {
                None => return false,
                Some(b'\\') => i += 2,
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
        let rest = value[i..].trim_start();
        return rest.starts_with('<') && angle_addr_ok(rest);
    }
    match value.find('<') {
        Some(lt) => {
            let display = &value[..lt];
            let display_ok = display
                .bytes()
                .all(|b| is_token_char(b) || b == b' ' || b == b'\t' || b >= 0x80);
            display_ok && angle_addr_ok(&value[lt..])
        }
        None => {
            let end = headers::find_unquoted(value, b';').unwrap_or(value.len());
            let spec = value[..end].trim();
            !spec.is_empty() && !spec.contains(|c: char| c.is_whitespace() || c == '"' || c == '>')
        }
    }
}

/// `<uri>` with no whitespace inside, followed by nothing or `;params`.
fn angle_addr_ok(s: &str) -> bool {
    let Some(inner_end) = s.find('>') else {
        return false;
    };
    let inner = &s[1..inner_end];
    let after = s[inner_end + 1..].trim_start();
    !inner.is_empty()
        && !inner.contains(char::is_whitespace)
        && (after.is_empty() || after.starts_with(';'))
}

/// A Content-Length value: `1*DIGIT`, bounded. `None` when invalid.
fn parse_length(value: &str) -> Option<usize> {
    let v = value.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's example NOTIFY, from `fixtures/sip/`.
    const NOTIFY: &[u8] = include_bytes!("../../../../fixtures/sip/check-sync.sip");

    fn p(bytes: &[u8]) -> Result<Request<'_>, Unanswerable> {
        parse(bytes, Framing::Datagram, &Limits::default())
    }

    #[test]
    fn parses_the_contract_example() {
        let r = p(NOTIFY).unwrap();
        assert_eq!(r.method, "NOTIFY");
        assert!(r.is_sip2());
        assert_eq!(r.defect, None);
        assert_eq!(r.call_id(), "a84b4c76e66710@192.0.2.1");
        assert_eq!(
            r.cseq,
            Some(CSeq {
                number: 102,
                method: "NOTIFY".into()
            })
        );
        let via = r.top_via.clone().unwrap();
        assert_eq!(via.sent_by, "192.0.2.1:5060");
        assert_eq!(via.branch.as_deref(), Some("z9hG4bK776asdhds"));
        assert_eq!(r.first(Name::Event), Some("check-sync;reboot=false"));
        assert!(
            r.headers
                .iter()
                .all(|h| matches!(h.value, std::borrow::Cow::Borrowed(_))),
            "a message in long form is read without a copy"
        );
    }

    #[test]
    fn classifies_unanswerable_input() {
        assert_eq!(p(b"\r\n\r\n").unwrap_err(), Unanswerable::KeepAlive);
        assert_eq!(
            p(b"SIP/2.0 200 OK\r\n\r\n").unwrap_err(),
            Unanswerable::Response
        );
        assert!(matches!(
            p(b"hello world\r\n\r\n").unwrap_err(),
            Unanswerable::Garbage(_)
        ));
        assert!(matches!(
            p(b"\x16\x03\x01\x02\x00").unwrap_err(),
            Unanswerable::Garbage(_)
        ));
        let no_call_id = b"NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCSeq: 1 NOTIFY\r\n\r\n";
        assert_eq!(
            p(no_call_id).unwrap_err(),
            Unanswerable::MissingField("Call-ID")
        );
        let big = vec![b'a'; 70_000];
        assert_eq!(p(&big).unwrap_err(), Unanswerable::TooLarge(65536));
    }

    #[test]
    fn content_length_rules() {
        let with = |cl: &str, body: &str| {
            let s = String::from_utf8(NOTIFY.to_vec())
                .unwrap()
                .replace("Content-Length: 0\r\n", cl);
            p(format!("{s}{body}").leak().as_bytes()).unwrap()
        };
        assert_eq!(with("Content-Length: 3\r\n", "abcdef").body, b"abc");
        assert_eq!(with("", "abcdef").body, b"abcdef");
        assert_eq!(
            with("l: 9999\r\n", "abc").defect,
            Some(Defect::ContentLengthExceedsMessage)
        );
        assert_eq!(
            with("l: -999\r\n", "abc").defect,
            Some(Defect::ContentLength)
        );
        assert_eq!(
            with("l: 1\r\nContent-Length: 2\r\n", "abc").defect,
            Some(Defect::ConflictingContentLength)
        );
        let stream = String::from_utf8(NOTIFY.to_vec())
            .unwrap()
            .replace("Content-Length: 0\r\n", "");
        assert_eq!(
            parse(stream.as_bytes(), Framing::Stream, &Limits::default())
                .unwrap()
                .defect,
            Some(Defect::MissingContentLength)
        );
    }

    #[test]
    fn request_line_defects() {
        let r = p(b"NOTIFY  sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 NOTIFY\r\n\r\n").unwrap();
        assert_eq!(r.defect, Some(Defect::RequestLine));
        let r = p(b"NOTIFY sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 NOTIFY\r\n\r\n").unwrap();
        assert!(!r.is_sip2());
    }

    #[test]
    fn multi_byte_text_in_the_version_is_garbage_not_a_panic() {
        // Found by fuzzing: byte 4 of the last word inside a two-byte character.
        for line in [
            "NOTIFY sip:a@b SIP\u{5da}",
            "A b:c Sst\u{5da}xample.com",
            "A b c \u{e9}\u{e9}\u{e9}",
        ] {
            let msg = format!("{line}\r\nVia: SIP/2.0/UDP h\r\n\r\n");
            assert!(
                matches!(p(msg.as_bytes()), Err(Unanswerable::Garbage(_))),
                "{line}"
            );
        }
    }

    #[test]
    fn addresses() {
        for ok in [
            "<sip:a@b>;tag=1",
            "\"A \\\"B\\\"\" <sip:a@b>",
            "caller<sip:caller@example.com>;tag=323",
            "sip:vivekg@example.com ; tag = 1918181833n",
            "Bob Smith <sip:b@x>",
            "\"x\"<sip:a@b>",
        ] {
            assert!(address_well_formed(ok), "{ok}");
        }
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "< sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "<sip:a@b",
            "<sip:a@b> junk",
            "",
        ] {
            assert!(!address_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(parse_cseq("4294967295 NOTIFY").unwrap().number, u32::MAX);
        assert_eq!(parse_cseq("4294967296 NOTIFY"), None);
        assert_eq!(parse_cseq("36893488147419103232 REGISTER"), None);
        assert_eq!(parse_cseq("1"), None);
        assert_eq!(parse_cseq("0009 NOTIFY").unwrap().number, 9);
    }

    #[test]
    fn compact_and_folded_forms_are_read_in_place() {
        let folded = b"NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\nv : SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\r\nf: <sip:pbx@192.0.2.1>;tag=1\r\nt: <sip:1001@192.0.2.10>\r\ni: abc\r\nCSEQ : 1 NOTIFY\r\no: check-sync\r\n ;reboot=true\r\nl: 0\r\n\r\n";
        let r = p(folded).unwrap();
        assert_eq!(r.defect, None);
        assert_eq!(r.call_id(), "abc");
        assert_eq!(r.cseq.as_ref().unwrap().number, 1);
        assert_eq!(r.first(Name::Event), Some("check-sync ;reboot=true"));
        let copied: Vec<&str> = r
            .headers
            .iter()
            .filter(|h| matches!(h.value, std::borrow::Cow::Owned(_)))
            .map(|h| h.wire)
            .collect();
        assert_eq!(copied, ["o"], "only the folded value is copied");
    }

    #[test]
    fn event_type_and_tags_are_read_once_into_the_view() {
        let r = p(NOTIFY).unwrap();
        assert_eq!(r.event(), Some("check-sync;reboot=false"));
        assert_eq!(r.event_type(), Some("check-sync"));
        assert_eq!(r.to_tag(), None);
        assert_eq!(r.from_tag(), "1928301774");
        // Folded (copied) values, compact names, a To-tag without a value, the first Event.
        let r = p(b"NOTIFY sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: <sip:a@b>\r\n ;tag=\"x;y\"\r\nt: <sip:a@b;tag=no>;TAG\r\ni: 1\r\nCSeq: 1 NOTIFY\r\no:\r\n  Check-Sync ; reboot=true\r\nEvent: other\r\n\r\n").unwrap();
        assert_eq!(r.event(), Some("Check-Sync ; reboot=true"));
        assert_eq!(r.event_type(), Some("Check-Sync"));
        assert_eq!(r.to_tag(), Some(""));
        assert_eq!(r.from_tag(), "x;y");
        let r = p(b"NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>;tag=9\r\nCall-ID: 1\r\nCSeq: 1 NOTIFY\r\nEvent: ;id=1\r\n\r\n").unwrap();
        assert_eq!(r.event_type(), Some(""));
        assert_eq!(r.to_tag(), Some("9"));
        assert_eq!(r.from_tag(), "");
    }

    #[test]
    fn a_request_line_with_extra_spaces_keeps_its_uri_span() {
        let r = p(b"NOTIFY  sip:a@b  x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 NOTIFY\r\n\r\n").unwrap();
        assert_eq!(r.defect, Some(Defect::RequestLine));
        assert_eq!(
            (r.method, r.uri, r.version),
            ("NOTIFY", "sip:a@b  x", "SIP/2.0")
        );
    }
}

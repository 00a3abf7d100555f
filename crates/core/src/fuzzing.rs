//! The checks of the fuzz targets in `fuzz/`, one function of the input bytes per target.
//!
//! Each never panics unless the code under test broke one of its assertions. The targets are
//! one-line calls of these functions, and `regressions` replays every input of `fixtures/fuzz/`
//! through them in `cargo test`, so a fixed input stays fixed without a fuzzer. Compiled for
//! the crate's unit tests and under `cfg(fuzzing)`, which cargo-fuzz sets; never part of the
//! documented API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;

// The vendor byte parsers, by their paths in `config`: the only names of configuration
// internals used here (and by `regressions`, through `super`).
use crate::config::panasonic::parse as parse_panasonic;
use crate::config::snom::{looks_like as looks_like_snom, parse as parse_snom};
use crate::config::{self, ConfigError, SipSettings};
use crate::embedded::{Embedded, Verdict};
use crate::resync::Transport;
use crate::sip::{
    is_resync_notify, Endpoint, EndpointConfig, Handled, Limits, StreamFramer, StreamItem,
};

#[cfg(test)]
mod regressions;

/// The `datagram` target: one UDP datagram through the endpoint with the default limits,
/// twice. Never panics, the reply is bounded and well formed, and the second copy (a
/// retransmission) gets the same bytes and no resync. Two parses per input: the rest of what
/// a datagram meets has targets of its own ([`datagram_small`], [`embedded`]), so each runs
/// fast enough to cover much in a campaign.
pub fn datagram(data: &[u8]) {
    datagram_with(Limits::default(), data);
}

/// The `datagram_small` target: [`datagram`] with [`small_limits`], so that inputs of a few KiB
/// reach every bound (header count, line length, header section, message size).
pub fn datagram_small(data: &[u8]) {
    datagram_with(small_limits(), data);
}

/// The `embedded` target: the embedded entry point, whose one parse answers "ours?" and "what
/// to send", claims exactly what `is_resync_notify` claims, and answers it as the endpoint
/// does (a reply and a resync exactly when the endpoint gives them, of the same length), with
/// the default and with small limits.
pub fn embedded(data: &[u8]) {
    embedded_with(Limits::default(), data);
    embedded_with(small_limits(), data);
}

/// The `tcp_framer` target: a byte stream cut into reads at positions taken from the input,
/// framed by `StreamFramer` and every message handled by the endpoint over TCP, as the TCP
/// listener does. Never panics; the buffer never exceeds the message limit and never fills up
/// without an item or an error; each reply is bounded and well formed; and the items framed
/// do not depend on where the reads were cut.
///
/// Input layout: byte 0 picks the limits (bit 7: small limits) and the number of cuts (low
/// 4 bits); then two bytes (little-endian) per cut; the rest is the stream.
pub fn tcp_framer(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let limits = if head & 0x80 != 0 {
        small_limits()
    } else {
        Limits::default()
    };
    let ncuts = usize::from(head & 0x0f).min(rest.len() / 2);
    let (cut_bytes, stream) = rest.split_at(2 * ncuts);
    if stream.is_empty() {
        return;
    }
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % stream.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();

    let mut endpoint = Endpoint::new(EndpointConfig {
        message_limits: limits,
        ..EndpointConfig::default()
    });
    let cut = connection(limits, stream, &cuts, Some(&mut endpoint));
    let whole = connection(limits, stream, &[], None);
    // Without the endpoint a connection is not closed after a message the endpoint would
    // close on, so compare up to where the cut run stopped.
    let stopped_early = cut.len() < whole.len();
    if stopped_early {
        assert_eq!(
            cut[..],
            whole[..cut.len()],
            "framing depends on read boundaries"
        );
    } else {
        assert_eq!(cut, whole, "framing depends on read boundaries");
    }
}

/// The `panasonic` target: Panasonic `.cfg` bytes through the file parser and the settings
/// reader. Never panics; every error and warning names a line of the file; entries are
/// unique and in file order.
pub fn panasonic(data: &[u8]) {
    let path = Path::new("fuzz.cfg");
    let lines = crate::config::panasonic::line_count(data);
    match parse_panasonic(data, path) {
        Ok(file) => {
            let mut last = 1;
            for e in &file.entries {
                assert!(e.line > last && e.line <= lines, "entry line {}", e.line);
                last = e.line;
                assert_eq!(file.get(&e.name), Some(e), "{} appears twice", e.name);
            }
            for w in &file.warnings {
                assert!(w.line.is_some_and(|l| (2..=lines).contains(&l)), "{w}");
            }
        }
        Err(e) => check_config_error(&e, lines, true),
    }
    match config::from_bytes(data, path) {
        Ok(settings) => {
            for w in &settings.warnings {
                assert!(w.line.is_some_and(|l| (1..=lines).contains(&l)), "{w}");
            }
        }
        Err(e) => check_config_error(&e, lines, true),
    }
}

/// The `snom` target: Snom XML bytes through the settings parser and the settings reader.
/// Never panics; every error of the parser names a line of the file; settings are unique and
/// name lines of the file. The reader chooses the dialect by content: Snom XML when it looks
/// like it (then its errors name a line too), else TOML, whose errors may concern the whole
/// file and then name no line.
pub fn snom(data: &[u8]) {
    let path = Path::new("fuzz.xml");
    let lines = line_count(data);
    match parse_snom(data, path) {
        Ok(entries) => {
            for (i, e) in entries.iter().enumerate() {
                assert!((1..=lines).contains(&e.line), "entry line {}", e.line);
                assert!(
                    entries[..i].iter().all(|o| o.name != e.name),
                    "{} appears twice",
                    e.name
                );
            }
        }
        Err(e) => check_config_error(&e, lines, true),
    }
    // The reader that from_bytes picks numbers the lines (the Panasonic one counts a bare CR
    // as a line end too).
    if let Err(e) = config::from_bytes(data, path) {
        check_config_error(&e, config::line_count(data), looks_like_snom(data));
    }
}

/// One `now` for the whole run, so every input is handled at the same instant and a run
/// depends on the input alone.
fn now() -> Instant {
    static NOW: OnceLock<Instant> = OnceLock::new();
    *NOW.get_or_init(Instant::now)
}

/// The peer every input comes from.
fn source() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 5062))
}

/// Limits small enough that inputs of a few KiB reach every bound (header count, line
/// length, header section, message size).
pub fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 2048,
        max_header_bytes: 1024,
        max_headers: 16,
        max_line_bytes: 256,
        max_event_params: 4,
    }
}

/// [`datagram`] with one set of limits; returns the endpoint's first answer, for the
/// regression tests' own assertions.
pub fn datagram_with(limits: Limits, data: &[u8]) -> Handled {
    let mut endpoint = Endpoint::new(EndpointConfig {
        message_limits: limits,
        ..EndpointConfig::default()
    });
    let first = endpoint.handle(now(), source(), Transport::Udp, data);
    if let Some(reply) = &first.reply {
        check_reply(data, reply);
    }
    if first.resync.is_some() {
        assert!(first
            .reply
            .as_ref()
            .is_some_and(|r| r.starts_with(b"SIP/2.0 200 ")));
    }
    assert!(!first.close, "close is for streams only");
    let again = endpoint.handle(now(), source(), Transport::Udp, data);
    assert_eq!(first.reply, again.reply, "a retransmission got other bytes");
    assert!(
        again.resync.is_none(),
        "a retransmission triggered a second resync"
    );
    first
}

/// [`embedded`] with one set of limits.
fn embedded_with(limits: Limits, data: &[u8]) {
    let config = EndpointConfig {
        message_limits: limits,
        ..EndpointConfig::default()
    };
    let ours = is_resync_notify(data, Transport::Udp, &config.message_limits, &config.events);
    let first = Endpoint::new(config).handle(now(), source(), Transport::Udp, data);
    match embedded_answer(limits, data) {
        None => assert!(!ours, "claimed by is_resync_notify, not by Embedded"),
        Some((reply, resync)) => {
            assert!(ours, "claimed by Embedded, not by is_resync_notify");
            assert_eq!(reply.is_some(), first.reply.is_some());
            assert_eq!(resync, first.resync.is_some());
            if let (Some(a), Some(b)) = (&reply, &first.reply) {
                // The To-tag is keyed per endpoint; everything else is the same.
                assert_eq!(a.len(), b.len(), "the embedded answer differs in length");
            }
        }
    }
}

/// What the embedded entry point makes of `data` over UDP: `None` when it is not ours, else
/// the reply and whether a resync request came with it. With the default limits, the only
/// ones [`SipSettings`] give it, this is [`Embedded::handle`] itself; with other limits it is
/// the endpoint's `handle_if_claimed`, the one call `Embedded::handle` makes.
fn embedded_answer(limits: Limits, data: &[u8]) -> Option<(Option<Bytes>, bool)> {
    if limits == Limits::default() {
        let mut embedded = Embedded::new(&SipSettings::default());
        match embedded.handle(now(), source(), Transport::Udp, data) {
            Verdict::NotOurs => None,
            Verdict::Ours { reply, resync, .. } => Some((reply, resync.is_some())),
        }
    } else {
        let mut endpoint = Endpoint::new(EndpointConfig {
            message_limits: limits,
            ..EndpointConfig::default()
        });
        endpoint
            .handle_if_claimed(now(), source(), Transport::Udp, data)
            .map(|h| (h.reply, h.resync.is_some()))
    }
}

/// A reply is at most 1 KiB longer than the message it answers, and is one well-formed
/// response: `SIP/2.0 ` first, `Content-Length: 0` and the empty line last, every line
/// ended by CRLF with no other CR or LF anywhere.
fn check_reply(input: &[u8], reply: &[u8]) {
    assert!(
        reply.len() <= input.len() + 1024,
        "reply of {} bytes to a message of {} bytes",
        reply.len(),
        input.len()
    );
    assert!(
        reply.starts_with(b"SIP/2.0 "),
        "reply {:?}",
        String::from_utf8_lossy(reply)
    );
    assert!(
        reply.ends_with(b"\r\nContent-Length: 0\r\n\r\n"),
        "reply {:?}",
        String::from_utf8_lossy(reply)
    );
    // Without the closing CRLF CRLF, every line but the last ends in CR (then LF), and no
    // line is empty or holds another CR.
    let head = &reply[..reply.len() - 4];
    let mut lines = head.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = match lines.peek() {
            Some(_) => line
                .strip_suffix(b"\r")
                .unwrap_or_else(|| panic!("a bare LF in {:?}", String::from_utf8_lossy(reply))),
            None => line,
        };
        assert!(
            !line.is_empty() && !line.contains(&b'\r'),
            "an empty line or a bare CR inside the header section of {:?}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// What a TCP connection saw: items in order, and how it ended.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Ping,
    Message(Vec<u8>),
    FrameError,
}

/// Feeds `stream` in reads ending at `cuts` (and at the end), never pushing more than
/// `capacity_left` at once, draining items after every push. `endpoint`, when given,
/// handles each message; a `close` from it ends the connection as in the listener.
fn connection(
    limits: Limits,
    stream: &[u8],
    cuts: &[usize],
    mut endpoint: Option<&mut Endpoint>,
) -> Vec<Seen> {
    let mut framer = StreamFramer::new(limits);
    let mut seen = Vec::new();
    let mut at = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        while at < end {
            let room = framer.capacity_left();
            assert!(
                room > 0,
                "the framer filled its buffer without an item or an error"
            );
            let n = room.min(end - at);
            framer
                .push(&stream[at..at + n])
                .expect("push within capacity_left");
            at += n;
            assert!(framer.buffered() <= limits.max_message_bytes);
            loop {
                match framer.next_item() {
                    Ok(None) => break,
                    Ok(Some(StreamItem::Ping)) => seen.push(Seen::Ping),
                    Ok(Some(StreamItem::Message(msg))) => {
                        assert!(msg.len() <= limits.max_message_bytes);
                        seen.push(Seen::Message(msg.to_vec()));
                        if let Some(e) = endpoint.as_deref_mut() {
                            let h = e.handle(now(), source(), Transport::Tcp, &msg);
                            if let Some(reply) = &h.reply {
                                check_reply(&msg, reply);
                            }
                            if h.close {
                                return seen;
                            }
                        }
                    }
                    Err(_) => {
                        seen.push(Seen::FrameError);
                        return seen;
                    }
                }
            }
        }
    }
    seen
}

/// Lines in `bytes`, counted as the parsers count them (LF ends a line).
fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + 1
}

/// A configuration error is `ConfigError::Invalid` naming a line of the file (1 to `lines`);
/// with `line_required` false it may name none (an error about the whole file).
fn check_config_error(e: &ConfigError, lines: usize, line_required: bool) {
    match e {
        ConfigError::Invalid {
            line: Some(line), ..
        } => {
            assert!((1..=lines).contains(line), "line {line} of {lines}: {e}");
        }
        ConfigError::Invalid { line: None, .. } => assert!(!line_required, "no line in {e}"),
        other => panic!("unexpected error kind: {other}"),
    }
}

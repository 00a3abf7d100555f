//! Framing SIP messages off a byte stream (RFC 3261 §18.3, RFC 5626 §3.5.1).
//!
//! On TCP several messages may arrive in one read and one message may span many reads. A
//! message ends `Content-Length` octets after the empty line that ends its headers; that
//! header is mandatory on streams. Between messages a peer may send CRLF keep-alives: a single
//! CRLF is skipped, a double CRLF ("ping") is answered with a single CRLF ("pong").
//!
//! [`StreamFramer`] checks sizes before buffering: the buffered bytes never exceed
//! [`Limits::max_message_bytes`], and it reports "incomplete" (`Ok(None)`) until a whole
//! message is there. A Content-Length that is not a single non-negative integer makes the
//! rest of the stream unframeable: that is an error and the connection must be closed
//! (RFC 4475 §3.1.2.3, §3.3.9).

use bytes::{Buf, Bytes, BytesMut};

use super::headers::{self, trim_ws};
use super::limits::Limits;
use super::message::split_head;
use crate::escape::excerpt;

/// One item framed off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A complete message (headers and exactly Content-Length body octets).
    Message(Bytes),
    /// A double-CRLF keep-alive ping; answer with [`PONG`].
    Ping,
}

/// The answer to a double-CRLF ping.
pub const PONG: &[u8] = b"\r\n";

/// Why a stream can no longer be framed; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header section grew past [`Limits::max_header_bytes`] without ending.
    #[error("header section longer than {0} bytes")]
    HeadersTooLarge(usize),
    /// Headers plus Content-Length exceed [`Limits::max_message_bytes`].
    #[error("message larger than {0} bytes")]
    MessageTooLarge(usize),
    /// Content-Length is not one non-negative integer.
    #[error("unusable Content-Length \"{0}\"")]
    BadContentLength(String),
}

/// Incremental framer for one stream connection.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
    /// Bytes of `buf` already searched for the end of the headers.
    scanned: usize,
    /// Total length of the message at the front of `buf`, once its headers are known.
    pending: Option<usize>,
}

impl StreamFramer {
    /// A framer enforcing `limits`.
    pub fn new(limits: Limits) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::new(),
            limits,
            scanned: 0,
            pending: None,
        }
    }

    /// How many more bytes may be pushed before the buffer limit is reached. A caller reads
    /// at most this many bytes from the socket.
    pub fn capacity_left(&self) -> usize {
        self.limits.max_message_bytes.saturating_sub(self.buf.len())
    }

    /// Bytes buffered and not yet framed.
    #[cfg(any(test, fuzzing))]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when part of a message (not just keep-alive whitespace) is buffered.
    ///
    /// Looks at no more than the first four bytes: once [`StreamFramer::next_item`] has
    /// returned `Ok(None)`, keep-alive bytes before a message have been consumed, so the
    /// buffer is empty, part of a ping, or the start of a message.
    pub fn mid_message(&self) -> bool {
        self.pending.is_some()
            || self
                .buf
                .iter()
                .take(4)
                .any(|&b| !matches!(b, b'\r' | b'\n'))
    }

    /// Appends received bytes. Fails when they would exceed the message size limit.
    pub fn push(&mut self, data: &[u8]) -> Result<(), FrameError> {
        if data.len() > self.capacity_left() {
            return Err(FrameError::MessageTooLarge(self.limits.max_message_bytes));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete item, `Ok(None)` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<StreamItem>, FrameError> {
        if self.pending.is_none() {
            // Keep-alives between messages.
            loop {
                if self.buf.starts_with(b"\r\n\r\n") {
                    self.buf.advance(4);
                    return Ok(Some(StreamItem::Ping));
                }
                match self.buf.first() {
                    Some(b'\r') if self.buf.len() < 4 && b"\r\n\r\n".starts_with(&self.buf) => {
                        return Ok(None)
                    }
                    Some(b'\r' | b'\n') => self.buf.advance(1),
                    Some(_) => break,
                    None => return Ok(None),
                }
            }
            let from = self.scanned.saturating_sub(3);
            let Some((head_end, body_start)) =
                split_head(&self.buf[from..]).map(|(h, b)| (h + from, b + from))
            else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.limits.max_header_bytes {
                    return Err(FrameError::HeadersTooLarge(self.limits.max_header_bytes));
                }
                return Ok(None);
            };
            if head_end > self.limits.max_header_bytes {
                return Err(FrameError::HeadersTooLarge(self.limits.max_header_bytes));
            }
            let body_len = content_length(&self.buf[..head_end], &self.limits)?;
            let total = body_start + body_len;
            if total > self.limits.max_message_bytes {
                return Err(FrameError::MessageTooLarge(self.limits.max_message_bytes));
            }
            self.pending = Some(total);
        }
        let total = self.pending.expect("set above");
        if self.buf.len() < total {
            return Ok(None);
        }
        self.pending = None;
        self.scanned = 0;
        Ok(Some(StreamItem::Message(self.buf.split_to(total).freeze())))
    }
}

/// The Content-Length of a header section (start line included): 0 when absent (the request
/// is then answered 400 by the endpoint and the connection closed), an error when unusable.
///
/// Reads the lines the way [`headers::parse_header_section`] does (compact `l`, any case,
/// folding, the same lines skipped and the same field bound) but keeps nothing except the
/// Content-Length value: one pass over the header bytes, no allocation.
fn content_length(head: &[u8], limits: &Limits) -> Result<usize, FrameError> {
    let start = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head.len(), |i| i + 1);
    let mut found: Option<usize> = None;
    let mut fields = 0usize;
    // The Content-Length field being read (its value may continue on folded lines).
    let mut current: Option<LengthValue> = None;
    for line in headers::lines(&head[start..]) {
        if line.is_empty() || line.len() > limits.max_line_bytes || line.contains(&b'\r') {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(v) = current.as_mut() {
                v.fold(trim_ws(line), limits.max_line_bytes);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim_ws(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| headers::is_token_char(b)) {
            continue;
        }
        if fields == limits.max_headers {
            break;
        }
        fields += 1;
        if let Some(v) = current.take() {
            v.finish(&mut found)?;
        }
        let is_length =
            name.eq_ignore_ascii_case(b"l") || name.eq_ignore_ascii_case(b"content-length");
        if is_length {
            let mut v = LengthValue::default();
            v.push(trim_ws(&line[colon + 1..]));
            current = Some(v);
        }
    }
    if let Some(v) = current.take() {
        v.finish(&mut found)?;
    }
    Ok(found.unwrap_or(0))
}

/// A Content-Length value as read: its length, and its first bytes (a valid one has at most
/// 10 digits, so 11 bytes tell a valid value from every other).
#[derive(Default)]
struct LengthValue {
    head: [u8; 11],
    len: usize,
}

impl LengthValue {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < self.head.len() {
                self.head[self.len] = b;
            }
            self.len += 1;
        }
    }

    /// A continuation line: joined with one space, unless the result would be longer than a
    /// line may be (then skipped, as the header parser does).
    fn fold(&mut self, more: &[u8], max_line_bytes: usize) {
        if self.len + more.len() + 1 > max_line_bytes || more.is_empty() {
            return;
        }
        if self.len > 0 {
            self.push(b" ");
        }
        self.push(more);
    }

    fn finish(self, found: &mut Option<usize>) -> Result<(), FrameError> {
        let v = &self.head[..self.len.min(self.head.len())];
        let bad = || FrameError::BadContentLength(excerpt(v));
        if v.is_empty() || self.len > 10 || !v.iter().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n = v
            .iter()
            .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err(bad());
        }
        *found = Some(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 5\r\n\r\nhello";

    fn framer() -> StreamFramer {
        StreamFramer::new(Limits::default())
    }

    #[test]
    fn several_messages_in_one_read_and_keepalives() {
        let mut f = framer();
        let mut input = b"\r\n".to_vec();
        input.extend_from_slice(MSG);
        input.extend_from_slice(b"\r\n\r\n");
        input.extend_from_slice(MSG);
        f.push(&input).unwrap();
        assert_eq!(
            f.next_item().unwrap(),
            Some(StreamItem::Message(Bytes::from_static(MSG)))
        );
        assert_eq!(f.next_item().unwrap(), Some(StreamItem::Ping));
        assert_eq!(
            f.next_item().unwrap(),
            Some(StreamItem::Message(Bytes::from_static(MSG)))
        );
        assert_eq!(f.next_item().unwrap(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn one_message_byte_by_byte() {
        let mut f = framer();
        for (i, b) in MSG.iter().enumerate() {
            assert_eq!(
                f.next_item().unwrap(),
                None,
                "complete too early at byte {i}"
            );
            f.push(&[*b]).unwrap();
        }
        assert_eq!(
            f.next_item().unwrap(),
            Some(StreamItem::Message(Bytes::from_static(MSG)))
        );
    }

    #[test]
    fn lone_crlf_waits_then_skips() {
        let mut f = framer();
        f.push(b"\r\n").unwrap();
        assert_eq!(f.next_item().unwrap(), None);
        assert!(!f.mid_message());
        f.push(MSG).unwrap();
        assert_eq!(
            f.next_item().unwrap(),
            Some(StreamItem::Message(Bytes::from_static(MSG)))
        );
    }

    #[test]
    fn bad_and_oversized_lengths_are_errors() {
        let mut f = framer();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n")
            .unwrap();
        assert!(matches!(
            f.next_item(),
            Err(FrameError::BadContentLength(_))
        ));
        let mut f = framer();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 13\r\nl: 5\r\n\r\n")
            .unwrap();
        assert!(matches!(
            f.next_item(),
            Err(FrameError::BadContentLength(_))
        ));
        let mut f = framer();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 99999999\r\n\r\n")
            .unwrap();
        assert!(matches!(f.next_item(), Err(FrameError::MessageTooLarge(_))));
        let mut f = framer();
        let endless = vec![b'a'; 40 * 1024];
        f.push(&endless).unwrap();
        assert!(matches!(f.next_item(), Err(FrameError::HeadersTooLarge(_))));
        assert!(f.push(&vec![b'a'; 30 * 1024]).is_err());
    }

    #[test]
    fn missing_content_length_frames_as_empty_body() {
        let mut f = framer();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\nOPTIONS")
            .unwrap();
        assert_eq!(
            f.next_item().unwrap(),
            Some(StreamItem::Message(Bytes::from_static(
                b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"
            )))
        );
        assert_eq!(f.next_item().unwrap(), None);
    }
}

//! Bounds on everything a peer controls.
//!
//! Every length, count and size in a received message is checked against these limits before
//! anything is allocated for it. The defaults follow RFC 3261 §18.1.1 (a UDP message over the
//! path MTU is unusual; 64 KiB is the largest a UDP datagram can be) and leave room for the
//! longest RFC 4475 torture messages.

/// Limits applied by the SIP front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, start line, headers and body together (bytes).
    pub max_message_bytes: usize,
    /// Largest accepted header section, start line included (bytes).
    pub max_header_bytes: usize,
    /// Most header fields in one message (after unfolding).
    pub max_headers: usize,
    /// Longest accepted line, and longest header field after unfolding (bytes).
    pub max_line_bytes: usize,
    /// Most parameters kept from one Event header; further ones are ignored.
    pub max_event_params: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 128,
            max_line_bytes: 8 * 1024,
            max_event_params: 16,
        }
    }
}

//! The sans-IO SIP front end: framing, normalisation, the response table, transactions.
//!
//! Nothing here opens a socket, spawns a task or reads a clock. A driver (the tokio listeners
//! in [`crate::transport`], or a host softphone stack that owns port 5060) hands bytes, the
//! source address, the transport and `now` to [`Endpoint::handle`], sends the returned reply,
//! then forwards the returned [`crate::ResyncRequest`] to the engine. A host stack that
//! shares its port asks [`is_resync_notify`] (or [`Endpoint::claims`]) first, and hands the
//! endpoint only what it claims; [`crate::agent::Embedded`] does both.
//!
//! Each message is read once, by the front end ([`message`]), into a view that borrows the
//! received bytes; everything after it (trust, limits, transactions, the decision, the
//! digest check, the response) reads that view. `rsip` is not on this path: it models the
//! requests of the `notify` client (`crate::client`), and none of its types appear in the
//! public API.

mod allow;
mod claim;
pub mod digest;
mod endpoint;
pub mod escape;
mod event;
mod frame;
pub mod headers;
mod limits;
pub mod message;
mod rate;
mod response;
pub mod transaction;

pub use allow::{Allowlist, Cidr, RefusedAction, MAX_ALLOW_ENTRIES};
pub use claim::is_resync_notify;
pub use digest::{Algorithm, AuthConfig, AuthFailure, Credential};
pub(crate) use endpoint::LogMemory;
pub use endpoint::{Admission, Counters, Disposition, Endpoint, EndpointConfig, Handled};
pub use event::{EventHeader, EventMatch, EventMatcher};
pub use frame::{FrameError, StreamFramer, StreamItem, PONG};
pub use limits::Limits;
pub use message::Unanswerable;
pub(crate) use rate::GlobalBudget;
pub use rate::{Bucket, Limit, RateLimiter, RateLimits};
pub use response::{Status, ALLOW};

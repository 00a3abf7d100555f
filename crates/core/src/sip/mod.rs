//! The sans-IO SIP front end: framing, normalisation, the response table, transactions.
//!
//! Nothing here opens a socket, spawns a task or reads a clock. A driver (the tokio listeners
//! in [`crate::transport`], or a host softphone stack that owns port 5060) hands bytes, the
//! source address, the transport and `now` to `Endpoint::handle`, sends the returned reply,
//! then hands the returned [`crate::ResyncRequest`] to a [`crate::ResyncSink`]. A host stack that
//! shares its port goes through [`crate::Embedded`], which asks `claim` first and hands the
//! endpoint only what it claims.
//!
//! Each message is read once, by the front end (`message`), into a view that borrows the
//! received bytes; everything after it (trust, limits, transactions, the decision, the
//! digest check, the response) reads that view. `rsip` is not on this path: it models the
//! requests of the `notify` client (`client`), and none of its types appear in the
//! public API.

#[macro_use]
mod counters;
mod allow;
mod claim;
pub mod client;

mod endpoint;

mod event;
mod frame;
pub(crate) mod headers;
mod limits;
pub(crate) mod message;
#[cfg(test)]
mod props;
mod rate;
mod response;
mod transaction;

pub use crate::digest::{Algorithm, AuthConfig, AuthFailure, Credential, GuessBudget};
pub use allow::MAX_ALLOW_ENTRIES;
pub use allow::{Allowlist, Cidr, CidrError, CidrParseError, RefusedAction};
pub use counters::Counters;
pub use endpoint::Disposition;
pub use event::EventMatch;
pub use rate::{Limit, RateLimits};

#[cfg(any(test, fuzzing))]
pub(crate) use claim::is_resync_notify;
pub use endpoint::{
    ConnectionAdmission, Endpoint, EndpointConfig, Handled, LogMemory, Reply, ToTag,
};
pub use event::EventMatcher;
pub use frame::{FrameError, StreamFramer, StreamItem, PONG};
pub use limits::Limits;
pub use rate::GlobalBudget;

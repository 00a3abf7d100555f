//! HTTP Digest authentication (RFC 7616 computations, RFC 8760 SHA-256), for both sides the
//! crate plays, which share only the parameter syntax and the computation:
//!
//! * the SIP server's digest challenge of NOTIFY (RFC 3261 §22.4): [`DigestState`] issues and
//!   checks nonces under an [`AuthConfig`] (`server.rs`);
//! * the HTTP client's answer to a provisioning server's challenge: [`ServerChallenge`]
//!   (`client.rs`);
//! * the computation both use: [`Algorithm`] and a client's [`authorization`] value
//!   (`compute.rs`), over the `Digest` parameter parser (`params.rs`);
//! * [`fill_random`], the random bytes of nonce keys and client nonces (`random.rs`).
//!
//! * [`GuessBudget`], the brake on password guessing: failed answers counted per source
//!   address and per user, with a hold-off that doubles (`brake.rs`).
//!
//! At the crate's ground level: it uses nothing of the crate but [`crate::escape`] and
//! [`crate::sync`].

mod brake;
mod client;
mod compute;
mod params;
mod random;
mod server;

pub use brake::GuessBudget;
pub use client::{ChallengeError, ServerChallenge};
pub use compute::{authorization, Algorithm};
pub use random::fill_random;
pub use server::{AuthConfig, AuthFailure, Credential, DigestState, DEFAULT_REALM};

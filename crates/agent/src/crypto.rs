//! The cryptography under every TLS connection of the agent: rustls with the `ring` provider,
//! for the SIP over TLS listener and for HTTPS provisioning alike.
//!
//! `ring` rather than `aws-lc-rs`: it is maintained by the rustls developers, builds for ARM
//! and MIPS phone firmware with a plain C cross-compiler (no cmake, no Go), and adds far less
//! code to the binary, which is what the phone keeps resident (docs/benchmarks.md).

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};

/// The provider the agent's TLS configurations are built with.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Makes `ring` the process's default provider unless the application installed one: the
/// HTTP client (reqwest) builds its TLS configuration from the process default.
pub(crate) fn install_default() {
    // An error means a default is installed already (by the application, or by an earlier
    // call): that one is used.
    let _ = ring::default_provider().install_default();
}

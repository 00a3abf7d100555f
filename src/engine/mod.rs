//! The provisioning engine's building blocks.
//!
//! [`store`] holds what must never be left half-written: configuration files applied into the
//! state directory and the persisted state (validators, last success, settings-change time),
//! both written with the same atomic-replace procedure.

pub mod store;

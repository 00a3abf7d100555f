//! NOTIFY client.

//! tokio drivers (filled in below).

//! One module per subcommand; `main.rs` parses the arguments and calls one of them.

pub(crate) mod check;
pub(crate) mod fleet;
pub(crate) mod notify;
pub(crate) mod run;
pub(crate) mod schedule;

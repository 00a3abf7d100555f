#![allow(dead_code)]
pub mod daemon;
pub mod http;
pub mod server;
pub mod sipp;

#![allow(dead_code)]
pub mod http;
pub mod server;
pub mod sipp;

//! Test support, shared with mesh-client's tests: a test CA, a fake ADS server, a log capture;
//! and this crate's test calls and demo app.

#![allow(dead_code, unreachable_pub)]

#[path = "../../../mesh-client/tests/support/ads.rs"]
pub mod ads;
pub mod app;
pub mod calls;
#[path = "../../../mesh-client/tests/support/certs.rs"]
pub mod certs;
pub mod logs;

//! Retries (gRFC A44, plus HTTP statuses and connection failures).
//!
//! A failed attempt is tried again when the route's policy retries that kind of failure
//! ([`Failure`]), attempts are left, the request body could be kept ([`body`]), the call's
//! deadline has not passed, and the cluster's retry budget allows one more retry. Each retry
//! waits a random backoff ([`backoff`]), goes to an endpoint no earlier attempt of the call went
//! to when the cluster has one, and says how many attempts came before it in
//! `grpc-previous-rpc-attempts`. A retry whose backoff would end past the deadline is not made.

use http::header::HeaderName;

pub(crate) mod backoff;
pub(crate) mod body;
mod classify;

pub(crate) use classify::{Failure, GRPC_STATUS};

/// The header telling a server (and the caller) how many attempts came before this one.
pub(crate) const PREVIOUS_ATTEMPTS: HeaderName =
    HeaderName::from_static("grpc-previous-rpc-attempts");

//! The authenticated client of a connection, handed to every request it carries.

use std::task::{Context, Poll};

use http::Request;
use mesh_core::identity::PeerIdentity;

/// Puts the connection's [`PeerIdentity`] (if it is an mTLS one) into the extensions of each
/// request before `inner` sees it. The identity carries its SPIFFE ID rendered once per
/// connection ([`PeerIdentity::as_str`]), which the authorization, the telemetry and the
/// application all read, so no request formats it again.
#[derive(Clone, Debug)]
pub(crate) struct AddPeer<S> {
    inner: S,
    peer: Option<PeerIdentity>,
}

impl<S> AddPeer<S> {
    /// Wraps `inner` for a connection whose client is `peer` (`None` for plaintext).
    pub(crate) fn new(inner: S, peer: Option<PeerIdentity>) -> Self {
        Self { inner, peer }
    }
}

impl<S, B> tower::Service<Request<B>> for AddPeer<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        if let Some(identity) = &self.peer {
            request.extensions_mut().insert(identity.clone());
        }
        self.inner.call(request)
    }
}

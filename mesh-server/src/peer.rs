//! The authenticated client of a connection, handed to every request it carries.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use mesh_core::identity::PeerIdentity;

/// The connection's [`PeerIdentity`] rendered once, as the authorization compares it: requests
/// carry it beside the identity so that no call formats the SPIFFE ID again.
#[derive(Clone, Debug)]
pub(crate) struct PeerId(pub(crate) Arc<str>);

impl PeerId {
    /// `identity`'s SPIFFE ID, rendered.
    pub(crate) fn of(identity: &PeerIdentity) -> Self {
        PeerId(Arc::from(identity.0.to_string()))
    }
}

/// Puts the connection's [`PeerIdentity`] (if it is an mTLS one) and its [`PeerId`] into the
/// extensions of each request before `inner` sees it.
#[derive(Clone, Debug)]
pub(crate) struct AddPeer<S> {
    inner: S,
    peer: Option<(PeerIdentity, PeerId)>,
}

impl<S> AddPeer<S> {
    /// Wraps `inner` for a connection whose client is `peer` (`None` for plaintext), with its
    /// ID rendered once ([`PeerId::of`]).
    pub(crate) fn new(inner: S, peer: Option<(PeerIdentity, PeerId)>) -> Self {
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
        if let Some((identity, id)) = &self.peer {
            let extensions = request.extensions_mut();
            extensions.insert(identity.clone());
            extensions.insert(id.clone());
        }
        self.inner.call(request)
    }
}

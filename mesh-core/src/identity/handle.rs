//! [`Identity`]: the cheap handle every part of an app shares.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::tls::Material;
use super::{IdentityBuilder, IdentityError, Svid};

/// A workload's identity: a cheap, `Clone` handle on a background worker that keeps a valid
/// SVID.
///
/// Get one from mesh-control's CA with [`Identity::builder`], or from fixed credentials with
/// [`Identity::from_pem`] / [`Identity::from_svid`]. The TLS configs made from it
/// ([`Identity::client_config`], [`Identity::server_config`]) hold a handle too; the rotation
/// worker stops when the last handle, config included, is dropped.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    svids: watch::Receiver<Arc<Svid>>,
    /// Derived from the latest SVID a handshake asked for.
    material: Mutex<Arc<Material>>,
    worker: Option<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(worker) = &self.worker {
            worker.abort();
        }
    }
}

impl Identity {
    /// A builder that gets the identity from mesh-control's CA: it asks for a certificate,
    /// waits for the first one (retrying with backoff up to
    /// [`IdentityBuilder::first_cert_timeout`]), then rotates it in the background at 70 % of
    /// its lifetime, retrying with backoff while the CA is unreachable and keeping the current
    /// certificate until it expires.
    pub fn builder() -> IdentityBuilder {
        IdentityBuilder::default()
    }

    /// Fixed credentials (no CA, no rotation) from PEM text: the chain (leaf first), the
    /// private key, and the trust bundle (the roots).
    pub fn from_pem(
        cert_chain_pem: &str,
        key_pem: &str,
        trust_bundle_pem: &str,
    ) -> Result<Identity, IdentityError> {
        Svid::from_pem(cert_chain_pem, key_pem, trust_bundle_pem).map(Identity::from_svid)
    }

    /// Fixed credentials (no CA, no rotation). Nothing will change: the `changed()` of
    /// [`Identity::watch`] returns an error at once.
    pub fn from_svid(svid: Svid) -> Identity {
        let (_, svids) = watch::channel(Arc::new(svid));
        Identity::new(svids, None)
    }

    /// A handle on `svids`, whose sender is the rotation `worker` (if any).
    pub(crate) fn new(svids: watch::Receiver<Arc<Svid>>, worker: Option<AbortHandle>) -> Identity {
        let material = Mutex::new(Arc::new(Material::new(svids.borrow().clone())));
        Identity {
            inner: Arc::new(Inner {
                svids,
                material,
                worker,
            }),
        }
    }

    /// The workload's SPIFFE ID, from the current certificate.
    pub fn spiffe_id(&self) -> spiffe::SpiffeId {
        self.inner.svids.borrow().spiffe_id.clone()
    }

    /// The current credentials.
    pub fn current(&self) -> Arc<Svid> {
        self.inner.svids.borrow().clone()
    }

    /// A receiver that sees every new SVID (e.g. to write certificate files). Its `changed()`
    /// fails once no worker can send any more.
    pub fn watch(&self) -> watch::Receiver<Arc<Svid>> {
        self.inner.svids.clone()
    }

    /// What handshakes need from the current SVID, derived once per SVID.
    pub(crate) fn material(&self) -> Arc<Material> {
        let svid = self.current();
        let mut cached = self
            .inner
            .material
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&cached.svid, &svid) {
            *cached = Arc::new(Material::new(svid));
        }
        cached.clone()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let svid = self.current();
        f.debug_struct("Identity")
            .field("spiffe_id", &svid.spiffe_id)
            .field("not_after", &svid.not_after)
            .field("rotating", &self.inner.worker.is_some())
            .finish()
    }
}

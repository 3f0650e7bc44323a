//! Self-registration: endpoints that live as long as the ADS stream that announced them.
//!
//! A meshed server lists what it serves in its node metadata
//! ([`mesh_core::registration`]). When its ADS stream starts, the ADS layer calls
//! [`Registry::register`] and keeps the returned [`RegistrationGuard`] for the life of the
//! stream; however the stream ends, dropping the guard removes the endpoints again. Every
//! change is published on a `watch` channel so the snapshot is rebuilt and pushed.
//!
//! Service names stay as the server wrote them (`serviceb.demo:50051`); the snapshot resolves
//! them through the same alias table as Listener names, so a registration for a Service that is
//! not configured yet shows up as soon as it is.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use mesh_core::registration::Registration;
use tokio::sync::watch;

/// Every registered endpoint, by the service name it was registered under.
///
/// The same address may be registered by several streams at once (a server restarting before
/// its old stream noticed); it stays until the last of them ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisteredEndpoints {
    by_service: BTreeMap<String, BTreeMap<SocketAddr, usize>>,
}

impl RegisteredEndpoints {
    /// Adds one registration (counted: each add needs its own [`Self::remove`]).
    pub fn add(&mut self, registration: &Registration) {
        *self
            .by_service
            .entry(registration.service.clone())
            .or_default()
            .entry(registration.address)
            .or_default() += 1;
    }

    /// Removes one registration added before; unknown ones are ignored.
    pub fn remove(&mut self, registration: &Registration) {
        let Some(addresses) = self.by_service.get_mut(&registration.service) else {
            return;
        };
        if let Some(count) = addresses.get_mut(&registration.address) {
            *count -= 1;
            if *count == 0 {
                addresses.remove(&registration.address);
            }
        }
        if addresses.is_empty() {
            self.by_service.remove(&registration.service);
        }
    }

    /// Every (service name, address) pair, each once, ordered by service then address.
    pub fn iter(&self) -> impl Iterator<Item = (&str, SocketAddr)> + '_ {
        self.by_service.iter().flat_map(|(service, addresses)| {
            addresses
                .keys()
                .map(move |address| (service.as_str(), *address))
        })
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }
}

/// The shared registry of self-registered endpoints. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Registry {
    endpoints: watch::Sender<RegisteredEndpoints>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            endpoints: watch::Sender::new(RegisteredEndpoints::default()),
        }
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<RegisteredEndpoints> {
        self.endpoints.subscribe()
    }

    /// The endpoints registered right now.
    pub fn current(&self) -> RegisteredEndpoints {
        self.endpoints.borrow().clone()
    }

    /// Registers `registrations` until the returned guard is dropped.
    pub fn register(&self, registrations: Vec<Registration>) -> RegistrationGuard {
        self.endpoints.send_if_modified(|endpoints| {
            registrations.iter().for_each(|r| endpoints.add(r));
            !registrations.is_empty()
        });
        RegistrationGuard {
            endpoints: self.endpoints.clone(),
            registrations,
        }
    }
}

/// Keeps a stream's registrations alive; dropping it removes them.
#[derive(Debug)]
#[must_use = "the registrations are removed when the guard is dropped"]
pub struct RegistrationGuard {
    endpoints: watch::Sender<RegisteredEndpoints>,
    registrations: Vec<Registration>,
}

impl Drop for RegistrationGuard {
    fn drop(&mut self) {
        let registrations = &self.registrations;
        self.endpoints.send_if_modified(|endpoints| {
            registrations.iter().for_each(|r| endpoints.remove(r));
            !registrations.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(service: &str, address: &str) -> Registration {
        Registration {
            service: service.into(),
            address: address.parse().unwrap(),
        }
    }

    fn pairs(endpoints: &RegisteredEndpoints) -> Vec<(String, String)> {
        endpoints
            .iter()
            .map(|(s, a)| (s.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn guard_removes_what_it_registered() {
        let registry = Registry::new();
        let mut rx = registry.subscribe();
        let guard = registry.register(vec![reg("b:1", "127.0.0.1:1"), reg("c:1", "127.0.0.1:2")]);
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            pairs(&rx.borrow_and_update()),
            [
                ("b:1".to_string(), "127.0.0.1:1".to_string()),
                ("c:1".to_string(), "127.0.0.1:2".to_string())
            ]
        );
        drop(guard);
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow_and_update().is_empty());
    }

    #[test]
    fn same_address_twice_stays_until_both_end() {
        let registry = Registry::new();
        let first = registry.register(vec![reg("b:1", "127.0.0.1:1")]);
        let second = registry.register(vec![reg("b:1", "127.0.0.1:1")]);
        assert_eq!(registry.current().iter().count(), 1);
        drop(first);
        assert_eq!(registry.current().iter().count(), 1);
        drop(second);
        assert!(registry.current().is_empty());
    }

    #[test]
    fn registering_nothing_is_not_a_change() {
        let registry = Registry::new();
        let rx = registry.subscribe();
        drop(registry.register(Vec::new()));
        assert!(!rx.has_changed().unwrap());
    }
}

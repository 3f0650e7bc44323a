//! Publishing: rebuild the snapshot whenever the config or the registrations change.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use spiffe::TrustDomain;

use super::{BuildSettings, EmptyAssignments, Snapshot};
use crate::config::MeshConfig;
use crate::registry::RegisteredEndpoints;

/// Rebuilds the snapshot on every change of `config` or `registered` and sends it on
/// `snapshots` when its content differs from the current one, with the next version.
/// Clients expect servers to prove identities of `trust_domain`.
///
/// For the first `warm_up` after it starts, clusters without endpoints are withheld from EDS
/// ([`EmptyAssignments::Withhold`]): after a restart of mesh-control, clients reconnect and
/// servers register again, in no set order, and a client must not be told "no endpoints" in
/// between. When the warm-up ends, the snapshot is built again with every cluster in it.
///
/// An input whose sender is dropped just stops changing. Runs until both inputs are closed or
/// every snapshot receiver is gone.
pub async fn publish(
    mut config: watch::Receiver<Arc<MeshConfig>>,
    mut registered: watch::Receiver<RegisteredEndpoints>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    warm_up: Duration,
    trust_domain: TrustDomain,
) {
    let warm_until = Instant::now() + warm_up;
    let mut warming = !warm_up.is_zero();
    let (mut config_open, mut registered_open) = (true, true);
    while config_open || registered_open || warming {
        tokio::select! {
            () = tokio::time::sleep_until(warm_until), if warming => {
                warming = false;
                tracing::debug!("warm-up over: clusters without endpoints are sent from now on");
            }
            changed = config.changed(), if config_open => {
                if changed.is_err() {
                    config_open = false;
                    continue;
                }
            }
            changed = registered.changed(), if registered_open => {
                if changed.is_err() {
                    registered_open = false;
                    continue;
                }
            }
            () = snapshots.closed() => return,
        }
        let current_config = Arc::clone(&config.borrow_and_update());
        let current_registered = registered.borrow_and_update().clone();
        let settings = BuildSettings {
            trust_domain: trust_domain.clone(),
            empty: EmptyAssignments::while_warming(warming),
        };
        let next = Snapshot::build(&current_config, &current_registered, &settings);
        snapshots.send_if_modified(|current| {
            if current.same_content(&next) {
                return false;
            }
            let version = current.version() + 1;
            *current = Arc::new(next.with_version(version));
            tracing::debug!(version, "published a new snapshot");
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mesh_core::registration::Registration;

    use super::*;
    use crate::registry::Registry;
    use crate::snapshot::tests::one_service;

    #[tokio::test(start_paused = true)]
    async fn rebuilds_on_change_and_bumps_the_version_only_on_new_content() {
        let config_tx = watch::Sender::new(Arc::new(MeshConfig::default()));
        let registry = Registry::new();
        let (tx, mut rx) = watch::channel(Arc::new(Snapshot::default()));
        tokio::spawn(publish(
            config_tx.subscribe(),
            registry.subscribe(),
            tx,
            Duration::ZERO,
            BuildSettings::default().trust_domain,
        ));

        config_tx.send_replace(Arc::new(one_service()));
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().version(), 2);

        // The same content again: nothing is published.
        config_tx.send_replace(Arc::new(one_service()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!rx.has_changed().unwrap());

        // A config source that goes away leaves the last config in place.
        drop(config_tx);
        let _guard = registry.register(vec![Registration {
            service: "serviceb.demo:50051".into(),
            address: "127.0.0.1:9".parse().unwrap(),
        }]);
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().version(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn empty_clusters_are_withheld_during_the_warm_up_only() {
        use mesh_core::xds::type_url::CLUSTER_LOAD_ASSIGNMENT as EDS;
        let config_tx = watch::Sender::new(Arc::new(one_service()));
        let registry = Registry::new();
        let (tx, mut rx) = watch::channel(Arc::new(Snapshot::default()));
        tokio::spawn(publish(
            config_tx.subscribe(),
            registry.subscribe(),
            tx,
            Duration::from_secs(10),
            BuildSettings::default().trust_domain,
        ));

        config_tx.send_modify(|_| {});
        rx.changed().await.unwrap();
        // one_service() has a static endpoint on one port and none on the other.
        assert_eq!(rx.borrow_and_update().resources(EDS).unwrap().len(), 1);

        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(
            rx.has_changed().unwrap(),
            "the end of the warm-up published nothing"
        );
        assert_eq!(rx.borrow_and_update().resources(EDS).unwrap().len(), 2);
    }
}

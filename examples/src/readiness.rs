//! When serviceA is ready: once it knows how to route calls to its gRPC target, that is once
//! its xDS client holds the target's Listener and the route table that Listener names (carried
//! inline, or a RouteConfiguration fetched over RDS).
//!
//! Readiness is a `watch` of a bool, as the [admin server](crate::admin)'s `/ready` reads it:
//! it follows the Listener, and the RouteConfiguration it points at, as they change, turns
//! false when either goes away, and false for good when the xDS client shuts down.

use mesh_core::model::{Listener, RouteConfig, RouteSource};
use mesh_core::xds::client::WatchClosed;
use mesh_core::xds::{ResourceState, ResourceWatch, XdsClient};
use tokio::sync::watch;

/// The only target form serviceA accepts for readiness.
const TARGET_PREFIX: &str = "xds:///";

/// A gRPC target that readiness cannot follow.
#[derive(Debug, thiserror::Error)]
#[error(
    "target {target:?} is not of the form xds:///NAME (e.g. xds:///serviceb.demo:50051): \
     serviceA's readiness follows the xDS Listener NAME; pass --target in that form"
)]
pub struct TargetError {
    target: String,
}

/// The xDS Listener name of `target` (`xds:///NAME`).
pub fn listener_name(target: &str) -> Result<&str, TargetError> {
    target
        .strip_prefix(TARGET_PREFIX)
        .filter(|name| !name.is_empty() && !name.contains(['/', '?', '#', ' ']))
        .ok_or_else(|| TargetError {
            target: target.to_string(),
        })
}

/// Whether serviceA can route calls to `target` through `xds`, kept current by a task that
/// ends when the last receiver is dropped or the xDS client shuts down.
pub fn readiness(xds: &XdsClient, target: &str) -> Result<watch::Receiver<bool>, TargetError> {
    let mut listener = xds.listener(listener_name(target)?);
    let (ready, receiver) = watch::channel(false);
    let xds = xds.clone();
    tokio::spawn(async move {
        // The RouteConfiguration the Listener names, once it names one.
        let mut rds: Option<(String, ResourceWatch<RouteConfig>)> = None;
        loop {
            let is_ready = match routes(&listener.current()) {
                Routes::Unknown => {
                    rds = None;
                    false
                }
                Routes::Inline => {
                    rds = None;
                    true
                }
                Routes::Rds(name) => {
                    if rds.as_ref().is_none_or(|(watched, _)| *watched != name) {
                        rds = Some((name.clone(), xds.route_config(&name)));
                    }
                    rds.as_ref()
                        .is_some_and(|(_, watch)| watch.current().present().is_some())
                }
            };
            ready.send_replace(is_ready);
            let changed = tokio::select! {
                changed = listener.changed() => changed,
                changed = route_changed(&mut rds) => changed,
                () = ready.closed() => return,
            };
            if changed.is_err() {
                ready.send_replace(false);
                return;
            }
        }
    });
    Ok(receiver)
}

/// What a Listener's state says about its route table.
#[derive(Debug, PartialEq)]
enum Routes {
    /// No client Listener (yet): calls cannot be routed.
    Unknown,
    /// The route table is inside the Listener.
    Inline,
    /// The route table is the RouteConfiguration of this name.
    Rds(String),
}

fn routes(listener: &ResourceState<Listener>) -> Routes {
    match listener.present().map(|l| &**l) {
        Some(Listener::Client(client)) => match &client.routes {
            RouteSource::Inline(_) => Routes::Inline,
            RouteSource::Rds(name) => Routes::Rds(name.clone()),
        },
        _ => Routes::Unknown,
    }
}

/// Waits until the watched RouteConfiguration changes; never, when none is watched.
async fn route_changed(
    rds: &mut Option<(String, ResourceWatch<RouteConfig>)>,
) -> Result<(), WatchClosed> {
    match rds {
        Some((_, watch)) => watch.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mesh_core::model::ClientListener;

    use super::*;

    #[test]
    fn takes_the_name_of_an_xds_target_and_refuses_other_forms() {
        assert_eq!(
            listener_name("xds:///serviceb.demo:50051").unwrap(),
            "serviceb.demo:50051"
        );
        for target in [
            "xds:serviceb.demo:50051",
            "xds://authority/serviceb",
            "xds:///",
            "xds:///a/b",
            "http://serviceb.demo:50051",
            "serviceb.demo:50051",
        ] {
            let error = listener_name(target).unwrap_err().to_string();
            assert!(error.contains(target), "{error}");
        }
    }

    #[test]
    fn follows_the_listener_to_its_route_table() {
        let client = |routes| {
            ResourceState::Present(Arc::new(Listener::Client(ClientListener {
                name: "serviceb.demo:50051".into(),
                routes,
            })))
        };
        assert_eq!(routes(&ResourceState::Pending), Routes::Unknown);
        assert_eq!(routes(&ResourceState::DoesNotExist), Routes::Unknown);
        assert_eq!(
            routes(&client(RouteSource::Rds("serviceb-routes".into()))),
            Routes::Rds("serviceb-routes".into())
        );
        let inline = RouteConfig {
            name: "inline".into(),
            virtual_hosts: Vec::new(),
        };
        assert_eq!(
            routes(&client(RouteSource::Inline(Arc::new(inline)))),
            Routes::Inline
        );
    }
}

//! How mesh-control names the xDS resources it makes from a Service port.
//!
//! One Service port `P` of Service `name` in namespace `ns` becomes:
//!
//! - Listeners named by every way a client may write the target: `name`, `name:P`, `name.ns`,
//!   `name.ns:P`, `name.ns.svc.cluster.local`, `name.ns.svc.cluster.local:P` (the forms without a
//!   port only for the Service's first port);
//! - one RouteConfiguration and one Cluster, both named [`cluster_name`]
//!   (`name.ns.svc.cluster.local:P`), and the ClusterLoadAssignment of the same name.

use crate::config::ServiceRef;

/// The DNS suffix of Service names in the cluster.
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// The name of the Cluster, RouteConfiguration and ClusterLoadAssignment of a Service port.
pub fn cluster_name(service: &ServiceRef, port: u16) -> String {
    format!(
        "{}.{}.{CLUSTER_DOMAIN}:{port}",
        service.name, service.namespace
    )
}

/// Every Listener name a client may use for a Service port; `default_port` adds the forms
/// without a port.
pub fn listener_names(service: &ServiceRef, port: u16, default_port: bool) -> Vec<String> {
    let hosts = [
        service.name.clone(),
        format!("{}.{}", service.name, service.namespace),
        format!("{}.{}.{CLUSTER_DOMAIN}", service.name, service.namespace),
    ];
    let mut names = Vec::with_capacity(6);
    for host in hosts {
        names.push(format!("{host}:{port}"));
        if default_port {
            names.push(host);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_service_port() {
        let svc = ServiceRef::new("demo", "serviceb");
        assert_eq!(
            cluster_name(&svc, 50051),
            "serviceb.demo.svc.cluster.local:50051"
        );
        let names = listener_names(&svc, 50051, true);
        for n in [
            "serviceb",
            "serviceb:50051",
            "serviceb.demo",
            "serviceb.demo:50051",
            "serviceb.demo.svc.cluster.local",
            "serviceb.demo.svc.cluster.local:50051",
        ] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
        assert_eq!(listener_names(&svc, 8080, false).len(), 3);
    }
}

//! The four xDS resource types mesh-control serves, and the names each one goes by.
//!
//! People and the admin JSON use the xDS service names (`LDS` ... `EDS`); metrics use the
//! resource type names of the telemetry contract (`Listener` ...). This is the one table that
//! maps a type URL to both; everything indexed per type is indexed like [`RESOURCE_TYPES`].

use mesh_core::xds::type_url;

/// One resource type and its names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// The type URL, as in a `DiscoveryRequest`.
    pub url: &'static str,
    /// The `type` label of its metric series, such as `Listener`.
    pub metric: &'static str,
    /// The xDS service name, such as `LDS`, for the admin JSON and the CLI.
    pub short: &'static str,
}

/// The served types, in the order they are shown: LDS, RDS, CDS, EDS.
pub const RESOURCE_TYPES: [ResourceType; 4] = [
    ResourceType {
        url: type_url::LISTENER,
        metric: "Listener",
        short: "LDS",
    },
    ResourceType {
        url: type_url::ROUTE_CONFIGURATION,
        metric: "RouteConfiguration",
        short: "RDS",
    },
    ResourceType {
        url: type_url::CLUSTER,
        metric: "Cluster",
        short: "CDS",
    },
    ResourceType {
        url: type_url::CLUSTER_LOAD_ASSIGNMENT,
        metric: "ClusterLoadAssignment",
        short: "EDS",
    },
];

/// The index of `type_url` in [`RESOURCE_TYPES`], `None` for a type the mesh does not serve.
pub fn index_of(type_url: &str) -> Option<usize> {
    RESOURCE_TYPES.iter().position(|t| t.url == type_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_served_types_only() {
        assert_eq!(index_of(type_url::CLUSTER), Some(2));
        assert_eq!(RESOURCE_TYPES[2].short, "CDS");
        assert_eq!(index_of("type.googleapis.com/other"), None);
    }
}

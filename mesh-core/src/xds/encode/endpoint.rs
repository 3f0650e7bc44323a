//! ClusterLoadAssignment: every endpoint in one weighted locality.

use envoy_types::pb::envoy::config::core::v3::{self as core, Locality};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::socket_address;
use crate::model::{self, HealthStatus};

/// Encodes a ClusterLoadAssignment. The locality has weight 1: gRPC ignores a locality
/// without a weight.
pub fn cluster_load_assignment(assignment: &model::ClusterLoadAssignment) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: assignment.cluster_name.clone(),
        endpoints: vec![LocalityLbEndpoints {
            locality: Some(Locality::default()),
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            lb_endpoints: assignment.endpoints.iter().map(lb_endpoint).collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn lb_endpoint(endpoint: &model::Endpoint) -> LbEndpoint {
    LbEndpoint {
        host_identifier: Some(HostIdentifier::Endpoint(Endpoint {
            address: Some(socket_address(endpoint.address)),
            ..Default::default()
        })),
        health_status: health_status(endpoint.health) as i32,
        load_balancing_weight: Some(UInt32Value {
            value: endpoint.weight,
        }),
        ..Default::default()
    }
}

fn health_status(health: HealthStatus) -> core::HealthStatus {
    match health {
        HealthStatus::Unknown => core::HealthStatus::Unknown,
        HealthStatus::Healthy => core::HealthStatus::Healthy,
        HealthStatus::Unhealthy => core::HealthStatus::Unhealthy,
        HealthStatus::Draining => core::HealthStatus::Draining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_weighted_locality_with_every_endpoint() {
        let endpoints = vec![
            model::Endpoint {
                address: "10.0.0.1:80".parse().unwrap(),
                weight: 1,
                health: HealthStatus::Unknown,
            },
            model::Endpoint {
                address: "10.0.0.2:80".parse().unwrap(),
                weight: 3,
                health: HealthStatus::Draining,
            },
        ];
        let cla = cluster_load_assignment(&model::ClusterLoadAssignment {
            cluster_name: "c".into(),
            endpoints,
        });
        assert_eq!(cla.cluster_name, "c");
        assert_eq!(cla.endpoints.len(), 1);
        let locality = &cla.endpoints[0];
        assert_eq!(
            locality.load_balancing_weight,
            Some(UInt32Value { value: 1 })
        );
        assert!(locality.locality.is_some());
        let second = &locality.lb_endpoints[1];
        assert_eq!(second.health_status, core::HealthStatus::Draining as i32);
        assert_eq!(second.load_balancing_weight, Some(UInt32Value { value: 3 }));
        let Some(HostIdentifier::Endpoint(e)) = &second.host_identifier else {
            panic!("no endpoint");
        };
        assert_eq!(
            e.address,
            Some(socket_address("10.0.0.2:80".parse().unwrap()))
        );
    }
}

//! `ClusterLoadAssignment` (EDS) to [`model::ClusterLoadAssignment`].
//!
//! As in gRPC, localities without a `load_balancing_weight` (or with weight 0) are ignored.
//! Only priority 0 is used: failover to lower priorities is not supported yet. Endpoint
//! addresses must be IP literals with a port. Health maps as gRPC uses it: only `UNKNOWN` and
//! `HEALTHY` endpoints take requests, so `TIMEOUT` and `DEGRADED` count as unhealthy.

use envoy_types::pb::envoy::config::core::v3::HealthStatus as ProtoHealth;
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, LbEndpoint, lb_endpoint,
};

use super::common::socket_address;
use super::error::{Context, DecodeError};
use crate::model::{self, Endpoint, HealthStatus};

/// Decodes a ClusterLoadAssignment resource.
pub fn cluster_load_assignment(
    proto: &ClusterLoadAssignment,
) -> Result<model::ClusterLoadAssignment, DecodeError> {
    let ctx = Context {
        kind: "ClusterLoadAssignment",
        resource: &proto.cluster_name,
    };
    let mut endpoints = Vec::new();
    for (i, locality) in proto.endpoints.iter().enumerate() {
        let weighted = locality.load_balancing_weight.is_some_and(|w| w.value > 0);
        if !weighted || locality.priority != 0 {
            continue;
        }
        for (j, e) in locality.lb_endpoints.iter().enumerate() {
            endpoints.push(endpoint(
                ctx,
                &format!("endpoints[{i}].lb_endpoints[{j}]"),
                e,
            )?);
        }
    }
    Ok(model::ClusterLoadAssignment {
        cluster_name: proto.cluster_name.clone(),
        endpoints,
    })
}

fn endpoint(ctx: Context<'_>, field: &str, proto: &LbEndpoint) -> Result<Endpoint, DecodeError> {
    let Some(lb_endpoint::HostIdentifier::Endpoint(e)) = &proto.host_identifier else {
        return Err(ctx.error(
            format!("{field}.endpoint"),
            "is missing (endpoint_name is not supported)",
        ));
    };
    let address = socket_address(
        ctx,
        &format!("{field}.endpoint.address"),
        e.address.as_ref(),
    )?;
    let weight = proto.load_balancing_weight.map_or(1, |w| w.value);
    if weight == 0 {
        return Err(ctx.error(
            format!("{field}.load_balancing_weight"),
            "must be at least 1",
        ));
    }
    let health = match ProtoHealth::try_from(proto.health_status) {
        Ok(ProtoHealth::Unknown) => HealthStatus::Unknown,
        Ok(ProtoHealth::Healthy) => HealthStatus::Healthy,
        Ok(ProtoHealth::Draining) => HealthStatus::Draining,
        Ok(ProtoHealth::Unhealthy | ProtoHealth::Timeout | ProtoHealth::Degraded) => {
            HealthStatus::Unhealthy
        }
        Err(_) => {
            return Err(ctx.error(
                format!("{field}.health_status"),
                format!("{} is not a known health status", proto.health_status),
            ));
        }
    };
    Ok(Endpoint {
        address,
        weight,
        health,
    })
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::endpoint::v3::LocalityLbEndpoints;
    use envoy_types::pb::google::protobuf::UInt32Value;

    use super::*;
    use crate::xds::decode::fixtures::{address, endpoints};

    #[test]
    fn decodes_endpoints() {
        let mut proto = endpoints("c", &["10.0.0.1:80", "[::1]:81"]);
        proto.endpoints[0].lb_endpoints[1].load_balancing_weight = Some(UInt32Value { value: 5 });
        proto.endpoints[0].lb_endpoints[1].health_status = ProtoHealth::Draining as i32;
        let got = cluster_load_assignment(&proto).unwrap();
        assert_eq!(
            got,
            model::ClusterLoadAssignment {
                cluster_name: "c".into(),
                endpoints: vec![
                    Endpoint {
                        address: "10.0.0.1:80".parse().unwrap(),
                        weight: 1,
                        health: HealthStatus::Unknown
                    },
                    Endpoint {
                        address: "[::1]:81".parse().unwrap(),
                        weight: 5,
                        health: HealthStatus::Draining
                    },
                ],
            }
        );
    }

    #[test]
    fn health_statuses() {
        let mut proto = endpoints("c", &["10.0.0.1:80"]);
        for (wire, model) in [
            (ProtoHealth::Healthy, HealthStatus::Healthy),
            (ProtoHealth::Unhealthy, HealthStatus::Unhealthy),
            (ProtoHealth::Timeout, HealthStatus::Unhealthy),
            (ProtoHealth::Degraded, HealthStatus::Unhealthy),
        ] {
            proto.endpoints[0].lb_endpoints[0].health_status = wire as i32;
            assert_eq!(
                cluster_load_assignment(&proto).unwrap().endpoints[0].health,
                model
            );
        }
        proto.endpoints[0].lb_endpoints[0].health_status = 42;
        assert!(
            cluster_load_assignment(&proto)
                .unwrap_err()
                .field
                .ends_with("health_status")
        );
    }

    #[test]
    fn skips_unweighted_localities_and_lower_priorities() {
        let mut proto = endpoints("c", &["10.0.0.1:80"]);
        let mut unweighted = endpoints("c", &["10.0.0.2:80"]).endpoints.remove(0);
        unweighted.load_balancing_weight = None;
        let mut zero = unweighted.clone();
        zero.load_balancing_weight = Some(UInt32Value { value: 0 });
        let mut backup = endpoints("c", &["10.0.0.3:80"]).endpoints.remove(0);
        backup.priority = 1;
        proto.endpoints.extend([unweighted, zero, backup]);
        let got = cluster_load_assignment(&proto).unwrap();
        assert_eq!(got.endpoints.len(), 1);
        assert_eq!(got.endpoints[0].address, "10.0.0.1:80".parse().unwrap());
    }

    #[test]
    fn bad_endpoints_are_errors() {
        let mut proto = endpoints("c", &["10.0.0.1:80"]);
        proto.endpoints[0].lb_endpoints[0].load_balancing_weight = Some(UInt32Value { value: 0 });
        assert_eq!(
            cluster_load_assignment(&proto).unwrap_err().field,
            "endpoints[0].lb_endpoints[0].load_balancing_weight"
        );

        let mut proto = endpoints("c", &["10.0.0.1:80"]);
        let lb_endpoint::HostIdentifier::Endpoint(e) = proto.endpoints[0].lb_endpoints[0]
            .host_identifier
            .as_mut()
            .unwrap()
        else {
            unreachable!()
        };
        e.address = Some(address("host.example", 80));
        let err = cluster_load_assignment(&proto).unwrap_err();
        assert_eq!(
            err.field,
            "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address"
        );
        assert_eq!(err.resource, "c");

        let proto = ClusterLoadAssignment {
            cluster_name: "c".into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint::default()],
                load_balancing_weight: Some(UInt32Value { value: 1 }),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(
            cluster_load_assignment(&proto)
                .unwrap_err()
                .field
                .ends_with(".endpoint")
        );
    }
}

//! Policies from the YAML reach the snapshot: BackendPolicies on Clusters, RoutePolicies and
//! ring-hash headers on the routes of RouteConfigurations.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use mesh_core::xds::{decode, type_url};

use super::{CLUSTER_B, decode as decode_proto};
use crate::config::{ServiceRef, load_documents};
use crate::registry::RegisteredEndpoints;
use crate::snapshot::{BuildSettings, Snapshot};

const CONFIG: &str = "\
apiVersion: v1
kind: Service
metadata: {name: serviceb, namespace: demo}
spec: {ports: [{name: grpc, port: 50051, appProtocol: grpc}]}
---
apiVersion: v1
kind: Service
metadata: {name: serviceb-v1, namespace: demo}
spec: {ports: [{name: grpc, port: 50051, appProtocol: grpc}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: split, namespace: demo}
spec:
  parentRefs: [{group: '', kind: Service, name: serviceb, port: 50051}]
  rules: [{backendRefs: [{name: serviceb-v1, port: 50051}]}]
---
apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: {name: calls, namespace: demo}
spec:
  targetRefs: [{kind: GRPCRoute, name: split}]
  timeouts: {request: 2s, perTry: 500ms}
  retry: {attempts: 3, grpcCodes: [UNAVAILABLE], codes: [503], backoff: {base: 25ms, max: 250ms}}
  fault: {abort: {grpcStatus: UNAVAILABLE, percent: 20}}
---
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: {name: backends, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: serviceb-v1}]
  loadBalancer: {type: RingHash, ringHash: {header: x-user}}
  circuitBreaker: {maxRequests: 100, maxPendingRequests: 10}
  retryBudget: {ratio: 0.5, minRetriesPerSecond: 5, ttl: 5s}
  outlierDetection: {interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 50, consecutiveFailures: 5}
";

#[test]
fn backend_and_route_policies_reach_clusters_and_routes() {
    let config = load_documents(&[("policy.yaml".into(), CONFIG.into())]).unwrap();
    let snapshot = Snapshot::build(
        &config,
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );

    let v1 = "serviceb-v1.demo.svc.cluster.local:50051";
    let cluster = decode::cluster(&decode_proto::<Cluster>(&snapshot, type_url::CLUSTER, v1));
    let expected = &config.services[&ServiceRef::new("demo", "serviceb-v1")].policy;
    assert_ne!(expected, &Default::default());
    assert_eq!(&cluster.unwrap().policy, expected);
    // A Service without a BackendPolicy keeps the default.
    let b = decode::cluster(&decode_proto::<Cluster>(
        &snapshot,
        type_url::CLUSTER,
        CLUSTER_B,
    ));
    assert_eq!(b.unwrap().policy, Default::default());

    let proto: RouteConfiguration =
        decode_proto(&snapshot, type_url::ROUTE_CONFIGURATION, CLUSTER_B);
    let routes = decode::route_config(&proto)
        .unwrap()
        .virtual_hosts
        .remove(0)
        .routes;
    let configured = &config.services[&ServiceRef::new("demo", "serviceb")].ports[0].routes;
    assert_eq!(routes.len(), 1);
    let policy = &routes[0].policy;
    assert_eq!(policy, &configured[0].policy);
    assert!(policy.timeout.is_some() && policy.retry.is_some() && policy.fault.is_some());
    assert_eq!(policy.hash_header.as_deref(), Some("x-user"));
}

/// The edges of what the YAML accepts survive xDS: the client reads what was configured.
#[test]
fn edge_settings_reach_the_client_unchanged() {
    let edges = CONFIG
        .replace(
            "consecutiveFailures: 5}",
            "successRate: {stdevFactor: 0.001, enforcingPercent: 1, minimumHosts: 1}, \
             failurePercentage: {threshold: 0, enforcingPercent: 1}}",
        )
        .replace("{header: x-user}", "{header: x-user, maxRingSize: 512}");
    let config = load_documents(&[("policy.yaml".into(), edges)]).unwrap();
    let snapshot = Snapshot::build(
        &config,
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );
    let v1 = "serviceb-v1.demo.svc.cluster.local:50051";
    let cluster = decode::cluster(&decode_proto::<Cluster>(&snapshot, type_url::CLUSTER, v1));
    let expected = &config.services[&ServiceRef::new("demo", "serviceb-v1")].policy;
    let outlier = expected.outlier_detection.as_ref().unwrap();
    assert_eq!(outlier.success_rate.unwrap().stdev_factor, 0.001);
    assert_eq!(outlier.failure_percentage.unwrap().enforcing_percent, 1);
    assert_eq!(&cluster.unwrap().policy, expected);
}

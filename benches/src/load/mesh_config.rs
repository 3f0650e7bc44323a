//! The mesh-control config of the mesh scenarios: a Service `echo` whose one GRPCRoute sends
//! every call to the Service `echo-v1`, which the server registers as; the route's timeout and
//! retry policy, the backend's outlier detection and mTLS as the scenario's features say.

use super::certs::NAMESPACE;
use super::scenario::MeshFeatures;

/// The target the load generator dials.
pub const TARGET: &str = "xds:///echo.bench:50051";
/// The service the server registers as.
pub const REGISTER_AS: &str = "echo-v1.bench:50051";
/// The join token of the load generator (service account `client`).
pub const CLIENT_TOKEN: &str = "bench-client";
/// The join token of the server (service account `server`).
pub const SERVER_TOKEN: &str = "bench-server";

/// The YAML of the config.
pub fn yaml(features: MeshFeatures) -> String {
    let mut docs = vec![
        service("echo"),
        service("echo-v1"),
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\n\
             metadata: {{ name: echo, namespace: {NAMESPACE} }}\n\
             spec:\n  parentRefs: [{{ group: \"\", kind: Service, name: echo, port: 50051 }}]\n\
             \x20 rules:\n    - backendRefs: [{{ name: echo-v1, port: 50051 }}]\n"
        ),
        join_token("client", CLIENT_TOKEN),
        join_token("server", SERVER_TOKEN),
        format!(
            "apiVersion: mesh.dev/v1alpha1\nkind: TLSPolicy\n\
             metadata: {{ name: mtls, namespace: {NAMESPACE} }}\n\
             spec: {{ mode: {}, serviceAccounts: [server] }}\n",
            if features.mtls { "STRICT" } else { "DISABLE" }
        ),
    ];
    if features.policy {
        docs.push(format!(
            "apiVersion: mesh.dev/v1alpha1\nkind: RoutePolicy\n\
             metadata: {{ name: echo-calls, namespace: {NAMESPACE} }}\n\
             spec:\n  targetRefs: [{{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: echo }}]\n\
             \x20 timeouts: {{ request: 2s, perTry: 1s }}\n\
             \x20 retry: {{ attempts: 2, grpcCodes: [UNAVAILABLE], backoff: {{ base: 5ms, max: 50ms }} }}\n"
        ));
    }
    let mut backend = Vec::new();
    if features.outlier {
        backend.push(
            "  outlierDetection: { interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 50, \
             consecutiveFailures: 5 }\n",
        );
    }
    if features.policy {
        backend.push("  retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, ttl: 10s }\n");
    }
    if !backend.is_empty() {
        docs.push(format!(
            "apiVersion: mesh.dev/v1alpha1\nkind: BackendPolicy\n\
             metadata: {{ name: echo-backends, namespace: {NAMESPACE} }}\n\
             spec:\n  targetRefs: [{{ kind: Service, name: echo-v1 }}]\n{}",
            backend.concat()
        ));
    }
    docs.join("---\n")
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{ name: {name}, namespace: {NAMESPACE} }}\n\
         spec: {{ ports: [{{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }}] }}\n"
    )
}

fn join_token(account: &str, token: &str) -> String {
    format!(
        "apiVersion: mesh.dev/v1alpha1\nkind: JoinToken\n\
         metadata: {{ name: {account}, namespace: {NAMESPACE} }}\n\
         spec: {{ token: {token}, serviceAccount: {account} }}\n"
    )
}

#[cfg(test)]
mod tests {
    use mesh_control::config::load_documents;

    use super::*;
    use crate::load::scenario;

    #[test]
    fn every_variant_is_a_valid_config() {
        for s in scenario::all() {
            if let scenario::Kind::Mesh(features) = s.kind {
                let text = yaml(features);
                if let Err(e) = load_documents(&[("bench.yaml".into(), text.clone())]) {
                    panic!("{}: {e}\n{text}", s.name);
                }
            }
        }
    }

    #[test]
    fn features_show_in_the_config() {
        let full = yaml(MeshFeatures::FULL);
        assert!(full.contains("mode: STRICT") && full.contains("retry:"));
        assert!(full.contains("outlierDetection") && full.contains("retryBudget"));
        let bare = yaml(MeshFeatures {
            mtls: false,
            policy: false,
            outlier: false,
            ..MeshFeatures::FULL
        });
        assert!(bare.contains("mode: DISABLE"));
        assert!(!bare.contains("RoutePolicy") && !bare.contains("BackendPolicy"));
    }
}

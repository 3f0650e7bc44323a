//! Tests of whole loads: YAML text in, a config or errors out.

mod errors;
mod identity;
mod inbound;
mod inbound_errors;
mod policy;
mod policy_errors;
mod resolved;

use super::{ConfigErrors, MeshConfig, PortConfig, ServiceRef, load_documents};

/// Three Services in namespace `demo`: `web` (http 80, grpc 9090), `v1` and `v2` (http 8080).
const SERVICES: &str = "\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  ports:
    - {name: http, port: 80}
    - {name: grpc, port: 9090, appProtocol: grpc}
---
apiVersion: v1
kind: Service
metadata: {name: v1, namespace: demo}
spec:
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: v2, namespace: demo}
spec:
  ports: [{name: http, port: 8080}]
";

/// Loads `services.yaml` (= [`SERVICES`]) and `test.yaml` (= `yaml`).
fn load(yaml: &str) -> Result<MeshConfig, ConfigErrors> {
    load_documents(&[
        ("services.yaml".into(), SERVICES.into()),
        ("test.yaml".into(), yaml.into()),
    ])
}

/// The error text of loading `yaml` after [`SERVICES`]; fails the test if it loads.
fn error_of(yaml: &str) -> String {
    match load(yaml) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(errors) => errors.to_string(),
    }
}

/// Asserts that loading `yaml` fails with exactly one error, which contains every one of `parts`.
fn assert_error(yaml: &str, parts: &[&str]) {
    let text = error_of(yaml);
    assert_eq!(text.lines().count(), 1, "expected one error, got:\n{text}");
    for part in parts {
        assert!(text.contains(part), "expected {part:?} in:\n{text}");
    }
}

/// The port `port` of `demo/<name>`.
fn port<'a>(config: &'a MeshConfig, name: &str, port: u16) -> &'a PortConfig {
    let service = &config.services[&ServiceRef::new("demo", name)];
    service
        .ports
        .iter()
        .find(|p| p.port == port)
        .expect("port exists")
}

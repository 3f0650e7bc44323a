//! The config directory mesh-control watches: the YAML of the services the clients follow, and
//! the changes the benchmark makes to it, each written next to the directory and renamed into
//! it so that mesh-control never reads a half-written file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The target every subscriber follows; its GRPCRoute splits it over two versions.
pub(crate) const TARGET: &str = "svc.demo:50051";
/// The target of the big EDS push.
pub(crate) const BIG_TARGET: &str = "big.demo:50051";

/// The route's weights before and after the change.
pub(crate) const WEIGHTS_BEFORE: (u32, u32) = (80, 20);
/// See [`WEIGHTS_BEFORE`].
pub(crate) const WEIGHTS_AFTER: (u32, u32) = (70, 30);

/// Endpoints per EndpointSlice, the Kubernetes maximum.
const SLICE_SIZE: u32 = 1_000;

const SERVICES: &str = "\
apiVersion: v1
kind: Service
metadata: { name: svc, namespace: demo }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc-v1, namespace: demo }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }] }
---
apiVersion: v1
kind: Service
metadata: { name: svc-v2, namespace: demo }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }] }
---
apiVersion: v1
kind: Service
metadata: { name: big, namespace: demo }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc-v1, namespace: demo, labels: { kubernetes.io/service-name: svc-v1 } }
addressType: IPv4
ports: [{ name: grpc, port: 50051 }]
endpoints: [{ addresses: [10.0.1.1] }, { addresses: [10.0.1.2] }, { addresses: [10.0.1.3] }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: svc-v2, namespace: demo, labels: { kubernetes.io/service-name: svc-v2 } }
addressType: IPv4
ports: [{ name: grpc, port: 50051 }]
endpoints: [{ addresses: [10.0.2.1] }, { addresses: [10.0.2.2] }, { addresses: [10.0.2.3] }]
";

/// The watched directory and its staging area.
pub(crate) struct ConfigDir {
    root: tempfile::TempDir,
}

impl ConfigDir {
    /// A new directory holding the services and the route at [`WEIGHTS_BEFORE`].
    pub(crate) fn new() -> anyhow::Result<Self> {
        let root = tempfile::tempdir().context("cannot make a temporary directory")?;
        for dir in ["config", "staging", "state"] {
            std::fs::create_dir(root.path().join(dir))
                .with_context(|| format!("cannot make {dir} in {}", root.path().display()))?;
        }
        let dir = Self { root };
        dir.write("services.yaml", SERVICES)?;
        dir.write("route.yaml", &route(WEIGHTS_BEFORE))?;
        Ok(dir)
    }

    /// The directory mesh-control watches.
    pub(crate) fn config(&self) -> PathBuf {
        self.root.path().join("config")
    }

    /// Where mesh-control keeps its CA.
    pub(crate) fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// Rewrites the route with `weights`.
    pub(crate) fn set_weights(&self, weights: (u32, u32)) -> anyhow::Result<()> {
        self.write("route.yaml", &route(weights))
    }

    /// Adds `endpoints` endpoints to Service `big`, in slices of 1,000.
    pub(crate) fn add_big_endpoints(&self, endpoints: u32) -> anyhow::Result<()> {
        self.write("big.yaml", &big_slices(endpoints))
    }

    /// Writes `name` into the watched directory at once (by a rename).
    fn write(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let staged = self.root.path().join("staging").join(name);
        std::fs::write(&staged, text)
            .with_context(|| format!("cannot write {}", staged.display()))?;
        rename(&staged, &self.config().join(name))
    }
}

fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))
}

/// The GRPCRoute splitting `svc` over its versions by `weights`.
fn route((v1, v2): (u32, u32)) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{ name: svc-split, namespace: demo }}
spec:
  parentRefs: [{{ group: \"\", kind: Service, name: svc, port: 50051 }}]
  rules:
  - backendRefs:
    - {{ name: svc-v1, port: 50051, weight: {v1} }}
    - {{ name: svc-v2, port: 50051, weight: {v2} }}
"
    )
}

/// EndpointSlices of Service `big` with `endpoints` addresses in 10.0.0.0/8.
fn big_slices(endpoints: u32) -> String {
    let mut yaml = String::with_capacity(endpoints as usize * 32);
    for slice in 0..endpoints.div_ceil(SLICE_SIZE) {
        if slice > 0 {
            yaml.push_str("---\n");
        }
        let _ = write!(
            yaml,
            "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{ name: big-{slice}, namespace: demo, labels: {{ kubernetes.io/service-name: big }} }}
addressType: IPv4
ports: [{{ name: grpc, port: 50051 }}]
endpoints:
"
        );
        let first = slice * SLICE_SIZE;
        for i in first..endpoints.min(first + SLICE_SIZE) {
            let [_, b, c, d] = (0x0a00_0000 + 0x0001_0000 + i).to_be_bytes();
            let _ = writeln!(yaml, "- addresses: [10.{b}.{c}.{d}]");
        }
    }
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_loads_and_big_slices_hold_every_endpoint() {
        let mut sources = vec![
            ("services.yaml".to_string(), SERVICES.to_string()),
            ("route.yaml".to_string(), route(WEIGHTS_BEFORE)),
        ];
        let config = mesh_control::config::load_documents(&sources).unwrap();
        assert_eq!(config.services.len(), 4);
        sources.push(("big.yaml".to_string(), big_slices(2_500)));
        let config = mesh_control::config::load_documents(&sources).unwrap();
        let endpoints: usize = config
            .services
            .values()
            .flat_map(|s| &s.ports)
            .map(|p| p.endpoints.len())
            .sum();
        assert_eq!(endpoints, 6 + 2_500);
    }
}

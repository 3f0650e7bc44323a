//! xDS edge costs: decoding and validating an EDS resource in the client (1k, 10k and 100k
//! endpoints), and building a snapshot in mesh-control, from self-registered endpoints (same
//! sizes) and from a config of N Services, each with an HTTPRoute splitting it over two
//! versions (N = 10, 100, 1000).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use mesh_control::config::{MeshConfig, PortConfig, ServiceConfig, ServiceRef, load_documents};
use mesh_control::registry::RegisteredEndpoints;
use mesh_control::snapshot::{BuildSettings, Snapshot};
use mesh_core::model::{self, Endpoint, HealthStatus, UpstreamProtocol};
use mesh_core::registration::Registration;
use mesh_core::xds::{decode, encode};
use prost::Message;

const SIZES: [u32; 3] = [1_000, 10_000, 100_000];

/// Services in the config-driven snapshot builds.
const SERVICES: [usize; 3] = [10, 100, 1_000];

fn address(i: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 50051))
}

fn assignment(n: u32) -> Vec<u8> {
    let model = model::ClusterLoadAssignment {
        cluster_name: "serviceb.demo.svc.cluster.local:50051".into(),
        endpoints: (0..n)
            .map(|i| Endpoint {
                address: address(i),
                weight: 1,
                health: HealthStatus::Healthy,
            })
            .collect(),
    };
    encode::cluster_load_assignment(&model).encode_to_vec()
}

fn decode_eds(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_eds");
    group.sample_size(20);
    for n in SIZES {
        let bytes = assignment(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &bytes, |b, bytes| {
            b.iter(|| {
                let wire = ClusterLoadAssignment::decode(black_box(bytes.as_slice())).unwrap();
                decode::cluster_load_assignment(&wire).unwrap()
            })
        });
    }
    group.finish();
}

fn one_service() -> MeshConfig {
    let service = ServiceRef::new("demo", "serviceb");
    let port = PortConfig {
        name: Some("grpc".into()),
        port: 50051,
        protocol: UpstreamProtocol::Http2,
        routes: Vec::new(),
        endpoints: Vec::new(),
    };
    let mut config = MeshConfig::default();
    config.services.insert(
        service.clone(),
        ServiceConfig {
            service,
            ports: vec![port],
            tls: Default::default(),
            policy: Default::default(),
            authorization: None,
            rate_limit: None,
        },
    );
    config
}

fn build_snapshot(c: &mut Criterion) {
    let config = one_service();
    let mut group = c.benchmark_group("snapshot_build");
    group.sample_size(20);
    for n in SIZES {
        let mut registered = RegisteredEndpoints::default();
        for i in 0..n {
            registered.add(&Registration {
                service: "serviceb.demo:50051".into(),
                address: address(i),
            });
        }
        group.bench_with_input(
            BenchmarkId::from_parameter(n),
            &registered,
            |b, registered| {
                let settings = BuildSettings::default();
                b.iter(|| Snapshot::build(black_box(&config), registered, &settings))
            },
        );
    }
    group.finish();
}

/// `n` Services `svc-i` (port 8080), each with versions `svc-i-v1` and `svc-i-v2` (one static
/// endpoint each) and an HTTPRoute sending `/api` 90/10 to them.
fn services_yaml(n: usize) -> String {
    let mut yaml = String::new();
    for i in 0..n {
        let service = |name: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{ name: {name}, namespace: bench }}\n\
                 spec: {{ ports: [{{ name: http, port: 8080 }}] }}\n---\n"
            )
        };
        yaml += &service(&format!("svc-{i}"));
        for (v, octet) in [("v1", 1), ("v2", 2)] {
            yaml += &service(&format!("svc-{i}-{v}"));
            yaml += &format!(
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
                 metadata: {{ name: svc-{i}-{v}, namespace: bench, \
                 labels: {{ kubernetes.io/service-name: svc-{i}-{v} }} }}\n\
                 addressType: IPv4\nports: [{{ name: http, port: 8080 }}]\n\
                 endpoints: [{{ addresses: [10.{}.{}.{octet}] }}]\n---\n",
                i / 256,
                i % 256
            );
        }
        yaml += &format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
             metadata: {{ name: svc-{i}, namespace: bench }}\n\
             spec:\n  parentRefs: [{{ group: \"\", kind: Service, name: svc-{i}, port: 8080 }}]\n\
             \x20 rules:\n  - matches: [{{ path: {{ type: PathPrefix, value: /api }} }}]\n\
             \x20   backendRefs: [{{ name: svc-{i}-v1, port: 8080, weight: 90 }}, \
             {{ name: svc-{i}-v2, port: 8080, weight: 10 }}]\n---\n"
        );
    }
    yaml.trim_end_matches("---\n").to_string()
}

fn build_snapshot_from_config(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_build_services");
    group.sample_size(20);
    for n in SERVICES {
        let config = load_documents(&[("bench.yaml".into(), services_yaml(n))]).unwrap();
        assert_eq!(config.services.len(), 3 * n);
        let registered = RegisteredEndpoints::default();
        group.bench_with_input(BenchmarkId::from_parameter(n), &config, |b, config| {
            let settings = BuildSettings::default();
            b.iter(|| Snapshot::build(black_box(config), &registered, &settings))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    decode_eds,
    build_snapshot,
    build_snapshot_from_config
);
criterion_main!(benches);

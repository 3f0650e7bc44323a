//! xDS edge costs: decoding and validating an EDS resource in the client, and building a
//! snapshot in mesh-control, for 1k and 10k endpoints.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use mesh_control::config::{MeshConfig, PortConfig, ServiceConfig, ServiceRef};
use mesh_control::registry::RegisteredEndpoints;
use mesh_control::snapshot::{BuildSettings, Snapshot};
use mesh_core::model::{self, Endpoint, HealthStatus, UpstreamProtocol};
use mesh_core::registration::Registration;
use mesh_core::xds::{decode, encode};
use prost::Message;

const SIZES: [u32; 2] = [1_000, 10_000];

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

criterion_group!(benches, decode_eds, build_snapshot);
criterion_main!(benches);

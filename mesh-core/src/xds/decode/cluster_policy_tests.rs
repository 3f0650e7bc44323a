use envoy_types::pb::envoy::config::cluster::v3::circuit_breakers::Thresholds;
use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::google::protobuf::{UInt32Value, Value};
use serde_json::json;

use super::*;
use crate::xds::decode::fixtures::eds_cluster;
use crate::xds::json::json_to_struct;

const CTX: Context<'static> = Context {
    kind: "Cluster",
    resource: "c",
};

fn threshold(priority: RoutingPriority, max_requests: Option<u32>) -> Thresholds {
    Thresholds {
        priority: priority as i32,
        max_requests: max_requests.map(|value| UInt32Value { value }),
        ..Default::default()
    }
}

fn with_mesh_metadata(mesh: serde_json::Value) -> Cluster {
    let mut c = eds_cluster("c");
    let mesh = json_to_struct(mesh.as_object().expect("an object"));
    c.metadata = Some(Metadata {
        filter_metadata: [(MESH_METADATA.to_string(), mesh)].into(),
        ..Default::default()
    });
    c
}

#[test]
fn breaker_is_the_first_default_priority_threshold() {
    let mut c = eds_cluster("c");
    c.circuit_breakers = Some(CircuitBreakers {
        thresholds: vec![
            threshold(RoutingPriority::High, Some(1)),
            threshold(RoutingPriority::Default, Some(100)),
            threshold(RoutingPriority::Default, Some(7)),
        ],
        ..Default::default()
    });
    let breaker = cluster_policy(CTX, &c).unwrap().circuit_breaker;
    assert_eq!(
        breaker,
        CircuitBreaker {
            max_requests: 100,
            max_pending: 1024
        }
    );
    c.circuit_breakers = Some(CircuitBreakers {
        thresholds: vec![threshold(RoutingPriority::High, Some(1))],
        ..Default::default()
    });
    assert_eq!(
        cluster_policy(CTX, &c).unwrap().circuit_breaker,
        CircuitBreaker::default()
    );
}

#[test]
fn no_metadata_means_the_default_budget() {
    let policy = cluster_policy(CTX, &eds_cluster("c")).unwrap();
    assert_eq!(policy.retry_budget, RetryBudget::default());
    assert_eq!(policy.outlier_detection, None);
    let other = with_mesh_metadata(json!({"somethingElse": 1}));
    assert_eq!(
        cluster_policy(CTX, &other).unwrap().retry_budget,
        RetryBudget::default()
    );
}

#[test]
fn budget_fields_are_read_and_defaulted() {
    let c = with_mesh_metadata(json!({"retryBudget": {"ratio": 0.5, "ttlSeconds": 2.5}}));
    assert_eq!(
        cluster_policy(CTX, &c).unwrap().retry_budget,
        RetryBudget {
            ratio: 0.5,
            min_per_second: 10,
            ttl: Duration::from_millis(2500),
        }
    );
}

#[test]
fn bad_budgets_name_the_field() {
    let cases = [
        (json!({"retryBudget": 3}), "retryBudget"),
        (json!({"retryBudget": {"ratio": 0}}), "retryBudget.ratio"),
        (json!({"retryBudget": {"ratio": 1.5}}), "retryBudget.ratio"),
        (json!({"retryBudget": {"ratio": "x"}}), "retryBudget.ratio"),
        (
            json!({"retryBudget": {"minRetriesPerSecond": 1.5}}),
            "retryBudget.minRetriesPerSecond",
        ),
        (
            json!({"retryBudget": {"minRetriesPerSecond": -1}}),
            "retryBudget.minRetriesPerSecond",
        ),
        (
            json!({"retryBudget": {"ttlSeconds": 0}}),
            "retryBudget.ttlSeconds",
        ),
    ];
    for (mesh, path) in cases {
        let err = cluster_policy(CTX, &with_mesh_metadata(mesh.clone())).unwrap_err();
        assert_eq!(
            err.field,
            format!("metadata.filter_metadata[\"mesh.dev\"].{path}"),
            "{mesh}"
        );
    }
    let nan = Struct {
        fields: [(
            RETRY_BUDGET.to_string(),
            Value {
                kind: Some(Kind::StructValue(Struct {
                    fields: [(
                        BUDGET_RATIO.to_string(),
                        Value {
                            kind: Some(Kind::NumberValue(f64::NAN)),
                        },
                    )]
                    .into(),
                })),
            },
        )]
        .into(),
    };
    assert!(retry_budget(CTX, &nan).is_err());
}

//! The `discovery.k8s.io/v1` `EndpointSlice` kind: static addresses of a Service.
//!
//! The label `kubernetes.io/service-name` names the Service (in the slice's namespace). Each
//! address of each endpoint serves each of the slice's ports.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

/// The label that names the Service a slice belongs to.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A whole EndpointSlice object (its fields are at the top level, not under `spec`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EndpointSlice {
    #[serde(rename = "apiVersion")]
    pub(crate) _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    pub(crate) _kind: IgnoredAny,
    #[serde(rename = "metadata")]
    pub(crate) _metadata: IgnoredAny,
    pub(crate) address_type: Spanned<String>,
    #[serde(default)]
    pub(crate) ports: Vec<Spanned<SlicePort>>,
    #[serde(default)]
    pub(crate) endpoints: Vec<Spanned<SliceEndpoint>>,
}

/// One entry of `ports`: the port the endpoints listen on, named like a Service port.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SlicePort {
    pub(crate) name: Option<String>,
    pub(crate) port: Spanned<i64>,
    pub(crate) protocol: Option<Spanned<String>>,
    #[serde(rename = "appProtocol")]
    pub(crate) _app_protocol: Option<IgnoredAny>,
}

/// One entry of `endpoints`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SliceEndpoint {
    pub(crate) addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) conditions: Conditions,
    // Fields Kubernetes fills in that do not change routing; accepted and ignored.
    #[serde(rename = "hostname")]
    pub(crate) _hostname: Option<IgnoredAny>,
    #[serde(rename = "nodeName")]
    pub(crate) _node_name: Option<IgnoredAny>,
    #[serde(rename = "zone")]
    pub(crate) _zone: Option<IgnoredAny>,
    #[serde(rename = "targetRef")]
    pub(crate) _target_ref: Option<IgnoredAny>,
    #[serde(rename = "hints")]
    pub(crate) _hints: Option<IgnoredAny>,
}

/// `endpoints[].conditions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Conditions {
    /// Absent means ready.
    pub(crate) ready: Option<bool>,
    #[serde(rename = "serving")]
    pub(crate) _serving: Option<IgnoredAny>,
    #[serde(rename = "terminating")]
    pub(crate) _terminating: Option<IgnoredAny>,
}

//! The `v1` `Service` kind: a named set of ports that clients dial.
//!
//! Only `spec.ports` is read; the other fields a Service commonly has (`selector`, `type`,
//! `clusterIP`, ...) are accepted and ignored, since the mesh, not kube-proxy, routes its traffic.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

/// `spec` of a Service.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceSpec {
    #[serde(default)]
    pub(crate) ports: Vec<Spanned<ServicePort>>,
}

/// One entry of `spec.ports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServicePort {
    pub(crate) name: Option<String>,
    /// Read wide, so that an out-of-range number gets our own error.
    pub(crate) port: Spanned<i64>,
    pub(crate) target_port: Option<Spanned<TargetPort>>,
    pub(crate) app_protocol: Option<Spanned<String>>,
    pub(crate) protocol: Option<Spanned<String>>,
    /// Only meaningful to kube-proxy; accepted and ignored.
    #[serde(rename = "nodePort")]
    pub(crate) _node_port: Option<IgnoredAny>,
}

/// `targetPort`: a number or the name of a container port.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum TargetPort {
    /// A port number.
    Number(i64),
    /// A container port name.
    Name(String),
}

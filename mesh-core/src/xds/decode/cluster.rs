//! `Cluster` (CDS) to [`model::Cluster`].
//!
//! Only EDS clusters whose endpoints come over this ADS stream are accepted. The balancer is the
//! first entry of `load_balancing_policy` this client supports (gRFC A52), or else the legacy
//! `lb_policy`. Our only balancer is P2C peak-EWMA, so `round_robin` (the fallback mesh-control
//! lists for other gRPC clients, and the legacy default) also maps to it: over equal endpoints
//! both spread load evenly, and P2C also steers away from slow ones. A TLS `transport_socket`
//! means mTLS to the endpoints (see `tls`); without one, they are dialled in plaintext.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{UpstreamProtocolOptions, explicit_http_config::ProtocolConfig},
};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::common::{config_source, unpack};
use super::error::{Context, DecodeError};
use super::tls;
use crate::model::{self, LbPolicy, UpstreamProtocol};
use crate::xds::encode::TypedStruct;
use crate::xds::type_url;

/// The `typed_extension_protocol_options` key of the upstream HTTP options.
const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Decodes a Cluster resource.
pub fn cluster(proto: &Cluster) -> Result<model::Cluster, DecodeError> {
    let ctx = Context {
        kind: "Cluster",
        resource: &proto.name,
    };
    let eds = cluster::DiscoveryType::Eds as i32;
    match proto.cluster_discovery_type {
        Some(cluster::ClusterDiscoveryType::Type(t)) if t == eds => {}
        Some(cluster::ClusterDiscoveryType::Type(t)) => {
            let name = cluster::DiscoveryType::try_from(t).map_or("unknown", |t| t.as_str_name());
            return Err(ctx.error("type", format!("{name} is not supported; use EDS")));
        }
        Some(cluster::ClusterDiscoveryType::ClusterType(_)) => {
            return Err(ctx.error(
                "cluster_type",
                "custom cluster types are not supported; use type EDS",
            ));
        }
        None => return Err(ctx.error("type", "STATIC (the default) is not supported; use EDS")),
    }
    let Some(eds_config) = &proto.eds_cluster_config else {
        return Err(ctx.error("eds_cluster_config", "is missing"));
    };
    config_source(
        ctx,
        "eds_cluster_config.eds_config",
        eds_config.eds_config.as_ref(),
    )?;
    let eds_service_name = if eds_config.service_name.is_empty() {
        proto.name.clone()
    } else {
        eds_config.service_name.clone()
    };
    if !proto.transport_socket_matches.is_empty() {
        return Err(ctx.error(
            "transport_socket_matches",
            "is not supported; use transport_socket",
        ));
    }
    let tls = match &proto.transport_socket {
        Some(socket) => Some(tls::upstream(ctx, "transport_socket", socket)?),
        None => None,
    };
    Ok(model::Cluster {
        name: proto.name.clone(),
        eds_service_name,
        policy: model::ClusterPolicy {
            lb: lb_policy(ctx, proto)?,
            ..Default::default()
        },
        protocol: protocol(ctx, proto)?,
        tls,
    })
}

fn lb_policy(ctx: Context<'_>, proto: &Cluster) -> Result<LbPolicy, DecodeError> {
    let Some(policy) = &proto.load_balancing_policy else {
        return match cluster::LbPolicy::try_from(proto.lb_policy) {
            Ok(cluster::LbPolicy::RoundRobin) => Ok(LbPolicy::P2cPeakEwma),
            other => {
                let name = other.map_or("unknown", |p| p.as_str_name());
                Err(ctx.error(
                    "lb_policy",
                    format!("{name} is not supported; use ROUND_ROBIN"),
                ))
            }
        };
    };
    let mut seen = Vec::new();
    for p in &policy.policies {
        let Some(any) = p
            .typed_extension_config
            .as_ref()
            .and_then(|c| c.typed_config.as_ref())
        else {
            continue;
        };
        match supported_policy(ctx, any)? {
            Some(lb) => return Ok(lb),
            None => seen.push(policy_type(any)),
        }
    }
    Err(ctx.error(
        "load_balancing_policy.policies",
        format!(
            "has no supported policy (found {seen:?}; supported: {} in a TypedStruct, {})",
            type_url::P2C_PEAK_EWMA,
            type_url::ROUND_ROBIN
        ),
    ))
}

/// Our balancer if `any` names one we support.
fn supported_policy(ctx: Context<'_>, any: &Any) -> Result<Option<LbPolicy>, DecodeError> {
    if any.type_url == type_url::ROUND_ROBIN {
        return Ok(Some(LbPolicy::P2cPeakEwma));
    }
    if any.type_url == type_url::TYPED_STRUCT {
        let typed: TypedStruct = unpack(
            ctx,
            "load_balancing_policy.policies",
            any,
            type_url::TYPED_STRUCT,
            "TypedStruct",
        )?;
        if typed.type_url == type_url::P2C_PEAK_EWMA {
            return Ok(Some(LbPolicy::P2cPeakEwma));
        }
    }
    Ok(None)
}

/// The type a policy stands for, for error messages (a TypedStruct's inner type).
fn policy_type(any: &Any) -> String {
    if any.type_url == type_url::TYPED_STRUCT
        && let Ok(typed) = TypedStruct::decode(any.value.as_slice())
    {
        return typed.type_url;
    }
    any.type_url.clone()
}

fn protocol(ctx: Context<'_>, proto: &Cluster) -> Result<UpstreamProtocol, DecodeError> {
    let Some(any) = proto
        .typed_extension_protocol_options
        .get(HTTP_PROTOCOL_OPTIONS)
    else {
        return Ok(UpstreamProtocol::Http1);
    };
    let field = format!("typed_extension_protocol_options[{HTTP_PROTOCOL_OPTIONS:?}]");
    let options: HttpProtocolOptions = unpack(
        ctx,
        &field,
        any,
        &format!("type.googleapis.com/{HTTP_PROTOCOL_OPTIONS}"),
        "HttpProtocolOptions",
    )?;
    Ok(match options.upstream_protocol_options {
        Some(UpstreamProtocolOptions::ExplicitHttpConfig(explicit))
            if matches!(
                explicit.protocol_config,
                Some(ProtocolConfig::Http2ProtocolOptions(_))
            ) =>
        {
            UpstreamProtocol::Http2
        }
        _ => UpstreamProtocol::Http1,
    })
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;

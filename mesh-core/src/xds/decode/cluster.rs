//! `Cluster` (CDS) to [`model::Cluster`].
//!
//! Only EDS clusters whose endpoints come over this ADS stream are accepted. The balancer,
//! breaker, outlier detection and retry budget are decoded by `cluster_policy`. A TLS
//! `transport_socket` means mTLS to the endpoints (see `tls`); without one, they are dialled in
//! plaintext.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{UpstreamProtocolOptions, explicit_http_config::ProtocolConfig},
};

use super::cluster_policy::cluster_policy;
use super::common::{config_source, unpack};
use super::error::{Context, DecodeError};
use super::tls;
use crate::model::{self, UpstreamProtocol};
use crate::xds::encode::HTTP_PROTOCOL_OPTIONS;

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
        policy: cluster_policy(ctx, proto)?,
        protocol: protocol(ctx, proto)?,
        tls,
    })
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

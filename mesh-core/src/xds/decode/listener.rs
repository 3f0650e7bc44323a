//! `Listener` (LDS) to [`model::Listener`].
//!
//! A client listener (gRFC A27) is an `api_listener` holding an `HttpConnectionManager`. A server
//! listener (gRFC A36) has an `address` and filter chains whose single network filter is an
//! `HttpConnectionManager`; this client takes the `default_filter_chain`, or else the first
//! chain. That chain's TLS transport socket makes the server strict (mTLS only); without one,
//! another chain matching `transport_protocol: tls` with the same routes makes it permissive
//! (mTLS and plaintext), and no such chain leaves it plaintext. Other filter chain matches are
//! not used.
//!
//! In client and server listeners alike, the connection manager names the route table (RDS
//! over this ADS stream, or inline) and lists the HTTP filters, of which the last must be the
//! router and the others must be known or `is_optional`, with unique names. The fault filter
//! (gRFC A33) is known on clients only, as in gRPC; its faults come per route (see `fault`), so
//! its own config must inject none. The RBAC (gRFC A41) and local rate limit filters are known
//! on servers only and give the listener's authorization and rate limit (see `inbound`); both
//! chains of a permissive server must enforce the same.

use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager::RouteSpecifier, http_filter,
};
use envoy_types::pb::google::protobuf::Any;

use super::common::{config_source, socket_address, unpack};
use super::error::{Context, DecodeError};
use super::inbound::{InboundFilters, InboundPolicies};
use super::route::route_config_at;
use super::tls;
use crate::model::{self, ClientListener, InboundTls, RouteSource, ServerListener};
use crate::xds::encode::TLS_TRANSPORT_PROTOCOL;
use crate::xds::type_url;

/// Which end of a connection a connection manager serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Decodes a Listener resource.
pub fn listener(proto: &Listener) -> Result<model::Listener, DecodeError> {
    let ctx = Context {
        kind: "Listener",
        resource: &proto.name,
    };
    if let Some(api) = &proto.api_listener {
        let field = "api_listener.api_listener";
        let Some(any) = &api.api_listener else {
            return Err(ctx.error(field, "is missing; expected an HttpConnectionManager"));
        };
        let hcm = unpack_hcm(ctx, field, any)?;
        let (routes, _) = connection_manager(ctx, field, &hcm, Side::Client)?;
        return Ok(model::Listener::Client(ClientListener {
            name: proto.name.clone(),
            routes,
        }));
    }
    if proto.address.is_none() {
        return Err(ctx.error("", "has neither api_listener (client) nor address (server)"));
    }
    server_listener(ctx, proto)
}

/// A server listener: the default chain (or else the first) gives the routes; its transport
/// socket makes it strict, and a TLS chain beside a plaintext one makes it permissive.
fn server_listener(ctx: Context<'_>, proto: &Listener) -> Result<model::Listener, DecodeError> {
    let address = socket_address(ctx, "address", proto.address.as_ref())?;
    let (field, chain) = match (&proto.default_filter_chain, proto.filter_chains.first()) {
        (Some(chain), _) => ("default_filter_chain".to_string(), chain),
        (None, Some(chain)) => ("filter_chains[0]".to_string(), chain),
        (None, None) => {
            return Err(ctx.error(
                "filter_chains",
                "is empty and there is no default_filter_chain",
            ));
        }
    };
    let (routes, policies) = filter_chain(ctx, &field, chain)?;
    let tls = if let Some(socket) = &chain.transport_socket {
        tls::downstream(ctx, &format!("{field}.transport_socket"), socket)?;
        InboundTls::Strict
    } else if let Some((i, tls_chain)) = tls_chain(proto) {
        let tls_field = format!("filter_chains[{i}]");
        let Some(socket) = &tls_chain.transport_socket else {
            return Err(ctx.error(
                format!("{tls_field}.transport_socket"),
                "is missing, but the chain matches TLS connections",
            ));
        };
        tls::downstream(ctx, &format!("{tls_field}.transport_socket"), socket)?;
        let (tls_routes, tls_policies) = filter_chain(ctx, &tls_field, tls_chain)?;
        if tls_routes != routes {
            return Err(ctx.error(
                tls_field,
                format!("serves other routes than {field}; give both the same route table"),
            ));
        }
        if tls_policies != policies {
            return Err(ctx.error(
                tls_field,
                format!(
                    "enforces another authorization or rate limit than {field}; give both the \
                     same RBAC and rate limit filters"
                ),
            ));
        }
        InboundTls::Permissive
    } else {
        InboundTls::Plaintext
    };
    Ok(model::Listener::Server(ServerListener {
        authorization: policies.authorization,
        rate_limit: policies.rate_limit,
        name: proto.name.clone(),
        address,
        routes,
        tls,
    }))
}

/// The chain that matches TLS connections (`transport_protocol: tls`), other than the main
/// chain (`filter_chains[0]` when there is no default chain).
fn tls_chain(proto: &Listener) -> Option<(usize, &FilterChain)> {
    let main_is_first = proto.default_filter_chain.is_none();
    proto
        .filter_chains
        .iter()
        .enumerate()
        .skip(usize::from(main_is_first))
        .find(|(_, c)| {
            c.filter_chain_match
                .as_ref()
                .is_some_and(|m| m.transport_protocol == TLS_TRANSPORT_PROTOCOL)
        })
}

/// A server filter chain must hold exactly one network filter: the connection manager.
fn filter_chain(
    ctx: Context<'_>,
    field: &str,
    chain: &FilterChain,
) -> Result<(RouteSource, InboundPolicies), DecodeError> {
    let [only] = chain.filters.as_slice() else {
        return Err(ctx.error(
            format!("{field}.filters"),
            format!(
                "has {} filters; expected exactly one HttpConnectionManager",
                chain.filters.len()
            ),
        ));
    };
    let field = format!("{field}.filters[0].typed_config");
    let Some(filter::ConfigType::TypedConfig(any)) = &only.config_type else {
        return Err(ctx.error(field, "is missing; expected an HttpConnectionManager"));
    };
    connection_manager(ctx, &field, &unpack_hcm(ctx, &field, any)?, Side::Server)
}

fn unpack_hcm(
    ctx: Context<'_>,
    field: &str,
    any: &Any,
) -> Result<HttpConnectionManager, DecodeError> {
    unpack(
        ctx,
        field,
        any,
        type_url::HTTP_CONNECTION_MANAGER,
        "HttpConnectionManager",
    )
}

/// The route source and, on a server, the inbound policies of a connection manager.
fn connection_manager(
    ctx: Context<'_>,
    field: &str,
    hcm: &HttpConnectionManager,
    side: Side,
) -> Result<(RouteSource, InboundPolicies), DecodeError> {
    let policies = http_filters(
        ctx,
        &format!("{field}.http_filters"),
        &hcm.http_filters,
        side,
    )?;
    let routes = match &hcm.route_specifier {
        Some(RouteSpecifier::Rds(rds)) => {
            config_source(
                ctx,
                &format!("{field}.rds.config_source"),
                rds.config_source.as_ref(),
            )?;
            if rds.route_config_name.is_empty() {
                return Err(ctx.error(format!("{field}.rds.route_config_name"), "is empty"));
            }
            RouteSource::Rds(rds.route_config_name.clone())
        }
        Some(RouteSpecifier::RouteConfig(rc)) => {
            let config = route_config_at(ctx, &format!("{field}.route_config"), rc)?;
            RouteSource::Inline(config.into())
        }
        Some(RouteSpecifier::ScopedRoutes(_)) => {
            return Err(ctx.error(
                format!("{field}.scoped_routes"),
                "are not supported; use rds or route_config",
            ));
        }
        None => {
            return Err(ctx.error(field, "has no route_specifier; use rds or route_config"));
        }
    };
    Ok((routes, policies))
}

/// The router must come last with every name used once; before it, a client may have the
/// fault filter, a server RBAC and rate limit filters, and other filters must be optional.
fn http_filters(
    ctx: Context<'_>,
    field: &str,
    filters: &[HttpFilter],
    side: Side,
) -> Result<InboundPolicies, DecodeError> {
    let Some((last, rest)) = filters.split_last() else {
        return Err(ctx.error(field, "is empty; the last filter must be the router"));
    };
    let mut inbound = InboundFilters::default();
    for (i, f) in rest.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let any = filter_config(ctx, &at, f)?;
        let url = any.type_url.as_str();
        if url == type_url::ROUTER {
            return Err(ctx.error(at, "the router must be the last filter"));
        }
        if let Some(first) = filters[..i].iter().position(|g| g.name == f.name) {
            return Err(ctx.error(
                format!("{at}.name"),
                format!(
                    "{:?} is also the name of {field}[{first}]; names must be unique",
                    f.name
                ),
            ));
        }
        if url == type_url::HTTP_FAULT && side == Side::Client {
            fault_filter(ctx, &format!("{at}.typed_config"), any)?;
            continue;
        }
        if side == Side::Server && inbound.take(ctx, &at, f, any)? {
            continue;
        }
        if !f.is_optional {
            return Err(ctx.error(
                at,
                format!(
                    "filter {:?} ({url}) is not supported; mark it is_optional or remove it",
                    f.name
                ),
            ));
        }
    }
    let i = rest.len();
    let url = &filter_config(ctx, &format!("{field}[{i}]"), last)?.type_url;
    if url != type_url::ROUTER {
        return Err(ctx.error(
            format!("{field}[{i}]"),
            format!(
                "the last filter must be the router ({}), got {url}",
                type_url::ROUTER
            ),
        ));
    }
    if let Some(first) = rest.iter().position(|g| g.name == last.name) {
        return Err(ctx.error(
            format!("{field}[{i}].name"),
            format!(
                "{:?} is also the name of {field}[{first}]; names must be unique",
                last.name
            ),
        ));
    }
    Ok(inbound.finish())
}

/// The fault filter's own config (at `field`) must inject no fault.
fn fault_filter(ctx: Context<'_>, field: &str, any: &Any) -> Result<(), DecodeError> {
    let config: HttpFault = unpack(ctx, field, any, type_url::HTTP_FAULT, "HTTPFault")?;
    if config.delay.is_some() || config.abort.is_some() {
        return Err(ctx.error(
            field,
            "a listener-level fault config (delay or abort on the filter itself) is not \
             supported; put the fault on the route or virtual host, in typed_per_filter_config \
             [\"envoy.filters.http.fault\"]",
        ));
    }
    Ok(())
}

fn filter_config<'a>(
    ctx: Context<'_>,
    field: &str,
    f: &'a HttpFilter,
) -> Result<&'a Any, DecodeError> {
    match &f.config_type {
        Some(http_filter::ConfigType::TypedConfig(any)) => Ok(any),
        _ => Err(ctx.error(
            format!("{field}.typed_config"),
            "is missing (config_discovery is not supported)",
        )),
    }
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;

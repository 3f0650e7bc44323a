//! Static endpoints: EndpointSlices become the endpoints of their Service's ports.
//!
//! Each address of a slice, combined with each slice port, is one endpoint of the Service port
//! of the same name (both unnamed also counts as the same name). The endpoint listens on the
//! slice port's number, which is the Service port's target port, not the port clients dial.
//! `conditions.ready: false` makes it unhealthy; absent or `true`, it is healthy.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use mesh_core::model::{Endpoint, HealthStatus};
use serde_saphyr::Location;

use super::catalog::{Catalog, Unresolved};
use super::port_number;
use crate::config::ServiceRef;
use crate::config::error::ConfigError;
use crate::config::kinds::Parsed;
use crate::config::kinds::endpoint_slice::{EndpointSlice, SERVICE_NAME_LABEL};

/// Adds the endpoints of an EndpointSlice object to its Service's ports.
pub(crate) fn add_slice(
    object: &Parsed,
    slice: &EndpointSlice,
    catalog: &mut Catalog,
    errors: &mut Vec<ConfigError>,
) {
    let origin = &object.origin;
    let Some(name) = object.labels.get(SERVICE_NAME_LABEL) else {
        let message = format!(
            "has no {SERVICE_NAME_LABEL} label; add it with the name of the Service these endpoints serve"
        );
        errors.push(origin.error(Location::UNKNOWN, "metadata.labels", message));
        return;
    };
    let service = ServiceRef::new(&object.namespace, name);
    let field = format!("metadata.labels[{SERVICE_NAME_LABEL}]");
    match catalog.service(&service) {
        Ok(_) => {}
        Err(Unresolved::Reported) => return,
        Err(Unresolved::Error(message)) => {
            return errors.push(origin.error(Location::UNKNOWN, field, message));
        }
    }
    let ipv6 = match slice.address_type.value.as_str() {
        "IPv4" => false,
        "IPv6" => true,
        other => {
            let message = format!("{other:?} is not supported; use IPv4 or IPv6");
            return errors.push(origin.error(
                slice.address_type.referenced,
                "addressType",
                message,
            ));
        }
    };

    // (index of the Service port, port the endpoints listen on)
    let mut targets = Vec::new();
    for (j, port) in slice.ports.iter().enumerate() {
        let field = format!("ports[{j}]");
        let number = match port_number(port.value.port.value) {
            Ok(number) => number,
            Err(message) => {
                errors.push(origin.error(
                    port.value.port.referenced,
                    format!("{field}.port"),
                    message,
                ));
                continue;
            }
        };
        if let Some(protocol) = port.value.protocol.as_ref().filter(|p| p.value != "TCP") {
            let message = format!(
                "{:?} is not supported; the mesh carries HTTP and gRPC over TCP: use TCP",
                protocol.value
            );
            errors.push(origin.error(protocol.referenced, format!("{field}.protocol"), message));
            continue;
        }
        let name = port.value.name.as_deref().filter(|n| !n.is_empty());
        match catalog.port_index(&service, name) {
            Ok(index) => targets.push((index, number)),
            Err(Unresolved::Reported) => {}
            Err(Unresolved::Error(message)) => {
                errors.push(origin.error(port.referenced, format!("{field}.name"), message))
            }
        }
    }

    let mut endpoints = Vec::new();
    for (k, endpoint) in slice.endpoints.iter().enumerate() {
        let health = match endpoint.value.conditions.ready {
            Some(false) => HealthStatus::Unhealthy,
            Some(true) | None => HealthStatus::Healthy,
        };
        for (a, address) in endpoint.value.addresses.iter().enumerate() {
            match address.value.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv6() == ipv6 => endpoints.push((ip, health)),
                _ => {
                    let family = if ipv6 { "IPv6" } else { "IPv4" };
                    let message = format!(
                        "{:?} is not an {family} address (the slice's addressType); fix the address",
                        address.value
                    );
                    errors.push(origin.error(
                        address.referenced,
                        format!("endpoints[{k}].addresses[{a}]"),
                        message,
                    ));
                }
            }
        }
    }

    for (index, target) in targets {
        let Some(port) = catalog.port_mut(&service, index) else {
            continue;
        };
        // A set, not a scan of the list: slices of 100k endpoints load in linear time.
        let mut present: HashSet<SocketAddr> = port.endpoints.iter().map(|e| e.address).collect();
        for &(ip, health) in &endpoints {
            let address = SocketAddr::new(ip, target);
            if present.insert(address) {
                port.endpoints.push(Endpoint {
                    address,
                    weight: 1,
                    health,
                });
            }
        }
    }
}

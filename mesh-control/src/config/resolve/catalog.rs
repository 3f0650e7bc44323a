//! The Services of a config and their ports: what routes and endpoint slices refer to.
//!
//! A Service with a mistake stays in the catalog, marked incomplete, so that the objects that
//! refer to it do not pile "does not exist" errors on top of the one that matters.

use std::collections::BTreeMap;

use mesh_core::model::UpstreamProtocol;
use serde_saphyr::Spanned;

use super::port_number;
use crate::config::error::ConfigError;
use crate::config::kinds::meta::{NameRule, check_name};
use crate::config::kinds::service::{ServicePort, ServiceSpec, TargetPort};
use crate::config::kinds::{Origin, Parsed};
use crate::config::{PortConfig, ServiceRef};

/// The Services of a config, by namespace and name.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    services: BTreeMap<ServiceRef, Entry>,
}

/// One Service: its valid ports, and whether it had no mistakes.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) ports: Vec<PortConfig>,
    complete: bool,
}

/// Why a reference does not resolve.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// The referred Service has a mistake of its own, already reported: say nothing more.
    Reported,
    /// This message says what is wrong and what to do.
    Error(String),
}

impl Catalog {
    /// Adds a Service object; its mistakes go to `errors`.
    pub(crate) fn add(
        &mut self,
        object: &Parsed,
        spec: Option<&ServiceSpec>,
        errors: &mut Vec<ConfigError>,
    ) {
        let before = errors.len();
        let ports = spec.map_or_else(Vec::new, |spec| service_ports(&object.origin, spec, errors));
        let complete = spec.is_some() && errors.len() == before;
        let service = ServiceRef::new(&object.namespace, &object.name);
        self.services.insert(service, Entry { ports, complete });
    }

    /// The Service `service`.
    pub(crate) fn service(&self, service: &ServiceRef) -> Result<&Entry, Unresolved> {
        self.services.get(service).ok_or_else(|| {
            Unresolved::Error(format!(
                "Service {service} does not exist; create it or fix the name"
            ))
        })
    }

    /// The port `port` of `service`, or its first port when `port` is `None`.
    pub(crate) fn port(
        &self,
        service: &ServiceRef,
        port: Option<u16>,
    ) -> Result<&PortConfig, Unresolved> {
        let entry = self.service(service)?;
        let found = match port {
            Some(number) => entry.ports.iter().find(|p| p.port == number),
            None => entry.ports.first(),
        };
        match found {
            Some(found) => Ok(found),
            None if !entry.complete => Err(Unresolved::Reported),
            None => Err(Unresolved::Error(format!(
                "Service {service} has no port {}; use one of its ports: {}",
                port.unwrap_or_default(),
                entry
                    .ports
                    .iter()
                    .map(|p| p.port.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The index of the port of `service` named `name` (`None`: the unnamed port).
    pub(crate) fn port_index(
        &self,
        service: &ServiceRef,
        name: Option<&str>,
    ) -> Result<usize, Unresolved> {
        let entry = self.service(service)?;
        match entry.ports.iter().position(|p| p.name.as_deref() == name) {
            Some(index) => Ok(index),
            None if !entry.complete => Err(Unresolved::Reported),
            None => {
                let names: Vec<_> = entry
                    .ports
                    .iter()
                    .map(|p| p.name.as_deref().unwrap_or("(unnamed)"))
                    .collect();
                Err(Unresolved::Error(format!(
                    "matches no port of Service {service} (its ports: {}); name it like the Service port",
                    names.join(", ")
                )))
            }
        }
    }

    /// The port at `index` of `service`, to fill in.
    pub(crate) fn port_mut(
        &mut self,
        service: &ServiceRef,
        index: usize,
    ) -> Option<&mut PortConfig> {
        self.services.get_mut(service)?.ports.get_mut(index)
    }

    /// Every Service and its ports.
    pub(crate) fn into_services(self) -> impl Iterator<Item = (ServiceRef, Vec<PortConfig>)> {
        self.services
            .into_iter()
            .map(|(service, entry)| (service, entry.ports))
    }
}

/// The valid ports of a Service spec; each mistake goes to `errors`.
fn service_ports(
    origin: &Origin,
    spec: &ServiceSpec,
    errors: &mut Vec<ConfigError>,
) -> Vec<PortConfig> {
    if spec.ports.is_empty() {
        let message =
            "is empty; a Service needs at least one port, such as `- {name: grpc, port: 50051}`";
        errors.push(origin.error(serde_saphyr::Location::UNKNOWN, "spec.ports", message));
    }
    let mut ports: Vec<PortConfig> = Vec::new();
    for (i, entry) in spec.ports.iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        let mut error = |at, sub: &str, message: String| {
            errors.push(origin.error(at, format!("{field}{sub}"), message))
        };
        let port = &entry.value;
        if port.name.is_none() && spec.ports.len() > 1 {
            error(
                entry.referenced,
                ".name",
                "is missing; a Service with several ports must name each".into(),
            );
            continue;
        }
        let Some(config) = port_config(port)
            .map_err(|(at, sub, message)| error(at, sub, message))
            .ok()
        else {
            continue;
        };
        if let Some(other) = ports.iter().position(|p| p.port == config.port) {
            let message = format!(
                "{} is already the port of spec.ports[{other}]; give each port its own number",
                config.port
            );
            error(port.port.referenced, ".port", message);
        } else if let Some(other) = ports
            .iter()
            .position(|p| config.name.is_some() && p.name == config.name)
        {
            let message =
                format!("is already the name of spec.ports[{other}]; give each port its own name");
            error(entry.referenced, ".name", message);
        } else {
            ports.push(config);
        }
    }
    ports
}

/// A Service port, or the sub-field that is wrong and why.
fn port_config(
    port: &ServicePort,
) -> Result<PortConfig, (serde_saphyr::Location, &'static str, String)> {
    let number = port_number(port.port.value).map_err(|m| (port.port.referenced, ".port", m))?;
    if let Some(Spanned {
        value, referenced, ..
    }) = &port.target_port
    {
        match value {
            TargetPort::Number(n) => port_number(*n).map(drop),
            TargetPort::Name(name) => check_name(name, NameRule::Label)
                .map_err(|m| format!("{m} (a container port name)")),
        }
        .map_err(|m| (*referenced, ".targetPort", m))?;
    }
    if let Some(protocol) = port.protocol.as_ref().filter(|p| p.value != "TCP") {
        let message = format!(
            "{:?} is not supported; the mesh carries HTTP and gRPC over TCP: use TCP",
            protocol.value
        );
        return Err((protocol.referenced, ".protocol", message));
    }
    let protocol = match &port.app_protocol {
        None => UpstreamProtocol::Http1,
        Some(app) => upstream_protocol(&app.value).ok_or_else(|| {
            let message = format!(
                "{:?} is not supported; use kubernetes.io/h2c, grpc or http2 (HTTP/2), \
                 http or kubernetes.io/http (HTTP/1.1), or leave it out (HTTP/1.1)",
                app.value
            );
            (app.referenced, ".appProtocol", message)
        })?,
    };
    Ok(PortConfig {
        name: port.name.clone().filter(|n| !n.is_empty()),
        port: number,
        protocol,
        routes: Vec::new(),
        endpoints: Vec::new(),
    })
}

/// The HTTP version that a Service port's `appProtocol` stands for.
fn upstream_protocol(app_protocol: &str) -> Option<UpstreamProtocol> {
    match app_protocol {
        "kubernetes.io/h2c" | "grpc" | "http2" => Some(UpstreamProtocol::Http2),
        "http" | "kubernetes.io/http" => Some(UpstreamProtocol::Http1),
        _ => None,
    }
}

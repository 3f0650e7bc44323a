//! The gRPC xDS bootstrap (gRFC A27): where the control service is and who this node is.
//!
//! An app finds mesh-control exactly as a grpc-go or grpc-java app does: through the JSON
//! file named by `GRPC_XDS_BOOTSTRAP`, or the JSON itself in `GRPC_XDS_BOOTSTRAP_CONFIG`
//! ([`Bootstrap::from_env`]), or built in code ([`Bootstrap::insecure`]).
//!
//! ```json
//! {
//!   "xds_servers": [
//!     { "server_uri": "127.0.0.1:15010", "channel_creds": [{ "type": "insecure" }] }
//!   ],
//!   "node": { "id": "serviceb-1", "cluster": "serviceb", "metadata": {} }
//! }
//! ```
//!
//! `server_uri` is gRPC style `host:port`, without a scheme. Only the first server is used.
//! Of its `channel_creds`, the first supported type is used; today that is `insecure` only
//! (TLS with `certificate_providers` comes later). Unknown fields are ignored, as gRPC does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::xds::type_url::SERVER_LISTENER_PREFIX;

/// The environment variable naming the bootstrap file.
pub const BOOTSTRAP_FILE_ENV: &str = "GRPC_XDS_BOOTSTRAP";
/// The environment variable holding the bootstrap JSON itself.
pub const BOOTSTRAP_CONFIG_ENV: &str = "GRPC_XDS_BOOTSTRAP_CONFIG";
/// The channel credential types this client can use, in no particular order.
pub const SUPPORTED_CHANNEL_CREDS: &[&str] = &["insecure"];

/// A parsed and validated xDS bootstrap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// The management servers; the client talks to the first.
    pub xds_servers: Vec<XdsServer>,
    /// Who this node is, as sent to the management server.
    #[serde(default)]
    pub node: Node,
    /// Certificate provider instances by name (gRFC A29), such as gRPC's `file_watcher`
    /// plugin reading the files written by `mesh-control bootstrap --cert-dir`:
    /// `{"default": {"plugin_name": "file_watcher", "config": {"certificate_file": ...}}}`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub certificate_providers: Map<String, Value>,
    /// The name template of the Listener a gRPC xDS server asks for (gRFC A36), with `%s`
    /// standing for its listening address, such as
    /// `grpc/server?xds.resource.listening_address=%s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_listener_resource_name_template: Option<String>,
}

/// One management server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XdsServer {
    /// `host:port` of the server, without a scheme.
    pub server_uri: String,
    /// How to secure the channel; the first supported entry is used.
    #[serde(default)]
    pub channel_creds: Vec<ChannelCreds>,
    /// Optional features of the server, such as `xds_v3`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_features: Vec<String>,
}

/// One way to secure the channel to a management server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelCreds {
    /// The credential type, such as `insecure`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
}

/// The node identity sent on the ADS stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// A unique id of this instance (gRPC allows it to be empty).
    #[serde(default)]
    pub id: String,
    /// The service cluster this instance belongs to.
    #[serde(default)]
    pub cluster: String,
    /// Free-form metadata, such as self-registrations (`crate::registration`).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Where this instance runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
}

/// Where a node runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locality {
    /// The region, such as `eu-west1`.
    #[serde(default)]
    pub region: String,
    /// The zone within the region.
    #[serde(default)]
    pub zone: String,
    /// The sub-zone within the zone.
    #[serde(default)]
    pub sub_zone: String,
}

/// A bootstrap that could not be found, read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Neither environment variable is set.
    #[error(
        "no xDS bootstrap: set {BOOTSTRAP_FILE_ENV} to the path of a bootstrap JSON file, \
         or {BOOTSTRAP_CONFIG_ENV} to the JSON itself"
    )]
    NotConfigured,
    /// The bootstrap file could not be read.
    #[error("cannot read the xDS bootstrap file {path:?} (from {BOOTSTRAP_FILE_ENV}): {source}")]
    Read {
        /// The file named by the environment variable.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The text is not a bootstrap JSON document.
    #[error("the xDS bootstrap in {origin} is not valid bootstrap JSON: {source}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What the JSON parser says, with line and column.
        source: serde_json::Error,
    },
    /// The document parses but cannot be used.
    #[error("the xDS bootstrap in {origin} is invalid: {field}: {reason}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// The offending field, such as `xds_servers[0].server_uri`.
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
}

impl Bootstrap {
    /// Reads the bootstrap from `GRPC_XDS_BOOTSTRAP` (a file path) or, when that is unset,
    /// from `GRPC_XDS_BOOTSTRAP_CONFIG` (the JSON itself).
    pub fn from_env() -> Result<Bootstrap, BootstrapError> {
        let file = std::env::var_os(BOOTSTRAP_FILE_ENV).filter(|v| !v.is_empty());
        let inline = std::env::var(BOOTSTRAP_CONFIG_ENV)
            .ok()
            .filter(|v| !v.is_empty());
        Self::from_sources(file.as_deref().map(Path::new), inline.as_deref())
    }

    fn from_sources(
        file: Option<&Path>,
        inline: Option<&str>,
    ) -> Result<Bootstrap, BootstrapError> {
        match (file, inline) {
            (Some(path), _) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| BootstrapError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                let origin = format!("file {path:?} (from {BOOTSTRAP_FILE_ENV})");
                Self::parse(&text, &origin)
            }
            (None, Some(text)) => Self::parse(text, BOOTSTRAP_CONFIG_ENV),
            (None, None) => Err(BootstrapError::NotConfigured),
        }
    }

    /// Parses and validates bootstrap JSON.
    pub fn from_json(text: &str) -> Result<Bootstrap, BootstrapError> {
        Self::parse(text, "the given JSON")
    }

    /// A bootstrap for one plaintext server at `server_uri` (`host:port`), with this node id.
    pub fn insecure(server_uri: impl Into<String>, node_id: impl Into<String>) -> Bootstrap {
        Bootstrap {
            xds_servers: vec![XdsServer {
                server_uri: server_uri.into(),
                channel_creds: vec![ChannelCreds {
                    kind: "insecure".to_string(),
                    config: None,
                }],
                server_features: Vec::new(),
            }],
            node: Node {
                id: node_id.into(),
                ..Node::default()
            },
            certificate_providers: Map::new(),
            server_listener_resource_name_template: None,
        }
    }

    /// The bootstrap as pretty-printed JSON, ready for a file or `GRPC_XDS_BOOTSTRAP_CONFIG`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bootstrap always serializes: keys are strings")
    }

    /// The name of the inbound Listener a server listening on `address` asks for (gRFC A36):
    /// `server_listener_resource_name_template` with `%s` replaced by `IP:PORT` (an IPv6 address
    /// in brackets), or [`SERVER_LISTENER_PREFIX`] followed by `IP:PORT` without a template.
    pub fn server_listener_name(&self, address: SocketAddr) -> String {
        match &self.server_listener_resource_name_template {
            Some(template) => template.replace("%s", &address.to_string()),
            None => format!("{SERVER_LISTENER_PREFIX}{address}"),
        }
    }

    fn parse(text: &str, origin: &str) -> Result<Bootstrap, BootstrapError> {
        let bootstrap: Bootstrap =
            serde_json::from_str(text).map_err(|source| BootstrapError::Parse {
                origin: origin.to_string(),
                source,
            })?;
        bootstrap
            .validate()
            .map_err(|(field, reason)| BootstrapError::Invalid {
                origin: origin.to_string(),
                field,
                reason,
            })?;
        if bootstrap.node.id.is_empty() {
            tracing::warn!(%origin, "xDS bootstrap has an empty node.id; the control service cannot tell instances apart");
        }
        Ok(bootstrap)
    }

    /// Checks what serde cannot: returns the offending field and the reason.
    fn validate(&self) -> Result<(), (String, String)> {
        let Some(server) = self.xds_servers.first() else {
            return Err((
                "xds_servers".into(),
                "is empty; list at least one server such as {\"server_uri\": \"127.0.0.1:15010\", \
                 \"channel_creds\": [{\"type\": \"insecure\"}]}"
                    .into(),
            ));
        };
        if server.server_uri.trim().is_empty() {
            return Err((
                "xds_servers[0].server_uri".into(),
                "is empty; give the server as host:port".into(),
            ));
        }
        if server.channel_creds().is_none() {
            let found: Vec<&str> = server
                .channel_creds
                .iter()
                .map(|c| c.kind.as_str())
                .collect();
            return Err((
                "xds_servers[0].channel_creds".into(),
                format!(
                    "has no supported type (found {found:?}, supported {SUPPORTED_CHANNEL_CREDS:?})"
                ),
            ));
        }
        Ok(())
    }
}

impl XdsServer {
    /// The first channel credentials of a supported type, if any.
    pub fn channel_creds(&self) -> Option<&ChannelCreds> {
        self.channel_creds
            .iter()
            .find(|c| SUPPORTED_CHANNEL_CREDS.contains(&c.kind.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{
        "xds_servers": [{
            "server_uri": "127.0.0.1:15010",
            "channel_creds": [{"type": "google_default"}, {"type": "insecure"}],
            "server_features": ["xds_v3"]
        }],
        "node": {
            "id": "serviceb-1", "cluster": "serviceb",
            "metadata": {"mesh.serves": []},
            "locality": {"zone": "z1"}
        },
        "certificate_providers": {}
    }"#;

    #[test]
    fn parses_the_grpc_format_and_ignores_unknown_fields() {
        let b = Bootstrap::from_json(FULL).unwrap();
        assert_eq!(b.xds_servers[0].server_uri, "127.0.0.1:15010");
        assert_eq!(b.xds_servers[0].server_features, ["xds_v3"]);
        assert_eq!(b.xds_servers[0].channel_creds().unwrap().kind, "insecure");
        assert_eq!(b.node.id, "serviceb-1");
        assert_eq!(b.node.cluster, "serviceb");
        assert!(b.node.metadata.contains_key("mesh.serves"));
        assert_eq!(b.node.locality.as_ref().unwrap().zone, "z1");
    }

    #[test]
    fn round_trips_through_json() {
        let b = Bootstrap::from_json(FULL).unwrap();
        assert_eq!(Bootstrap::from_json(&b.to_json_pretty()).unwrap(), b);
        let insecure = Bootstrap::insecure("localhost:15010", "n1");
        assert_eq!(
            Bootstrap::from_json(&insecure.to_json_pretty()).unwrap(),
            insecure
        );
    }

    #[test]
    fn keeps_certificate_providers_and_the_server_listener_template() {
        let b = Bootstrap::from_json(
            r#"{"xds_servers": [{"server_uri": "a:1", "channel_creds": [{"type": "insecure"}]}],
                "certificate_providers": {"default": {"plugin_name": "file_watcher"}},
                "server_listener_resource_name_template": "grpc/server?x=%s"}"#,
        )
        .unwrap();
        assert_eq!(
            b.certificate_providers["default"]["plugin_name"],
            "file_watcher"
        );
        assert_eq!(
            b.server_listener_resource_name_template.as_deref(),
            Some("grpc/server?x=%s")
        );
        assert_eq!(Bootstrap::from_json(&b.to_json_pretty()).unwrap(), b);
        let plain = Bootstrap::insecure("a:1", "n").to_json_pretty();
        assert!(!plain.contains("certificate_providers"), "{plain}");
        assert!(!plain.contains("server_listener"), "{plain}");
    }

    #[test]
    fn server_listener_name_fills_the_template_or_uses_the_prefix() {
        let v4: SocketAddr = "10.0.0.1:50051".parse().unwrap();
        let v6: SocketAddr = "[::1]:50051".parse().unwrap();
        let mut b = Bootstrap::insecure("a:1", "n");
        assert_eq!(
            b.server_listener_name(v4),
            "grpc/server?xds.resource.listening_address=10.0.0.1:50051"
        );
        assert_eq!(
            b.server_listener_name(v6),
            "grpc/server?xds.resource.listening_address=[::1]:50051"
        );
        b.server_listener_resource_name_template = Some("mesh/inbound/%s?v=1".into());
        assert_eq!(
            b.server_listener_name(v4),
            "mesh/inbound/10.0.0.1:50051?v=1"
        );
        assert_eq!(b.server_listener_name(v6), "mesh/inbound/[::1]:50051?v=1");
    }

    #[test]
    fn empty_node_id_is_allowed() {
        let b = Bootstrap::from_json(
            r#"{"xds_servers": [{"server_uri": "a:1", "channel_creds": [{"type": "insecure"}]}]}"#,
        )
        .unwrap();
        assert_eq!(b.node, Node::default());
    }

    fn invalid(text: &str) -> (String, String) {
        match Bootstrap::from_json(text) {
            Err(BootstrapError::Invalid { field, reason, .. }) => (field, reason),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn no_servers_is_invalid() {
        assert_eq!(invalid(r#"{"xds_servers": []}"#).0, "xds_servers");
    }

    #[test]
    fn empty_server_uri_is_invalid() {
        let (field, _) = invalid(
            r#"{"xds_servers": [{"server_uri": " ", "channel_creds": [{"type": "insecure"}]}]}"#,
        );
        assert_eq!(field, "xds_servers[0].server_uri");
    }

    #[test]
    fn unsupported_creds_name_what_was_found() {
        let (field, reason) = invalid(
            r#"{"xds_servers": [{"server_uri": "a:1", "channel_creds": [{"type": "tls"}]}]}"#,
        );
        assert_eq!(field, "xds_servers[0].channel_creds");
        assert!(
            reason.contains("\"tls\"") && reason.contains("insecure"),
            "{reason}"
        );
    }

    #[test]
    fn bad_json_says_where() {
        let err = Bootstrap::from_json("{").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn sources_prefer_the_file_then_inline_json() {
        let dir = std::env::temp_dir().join(format!("mesh-bootstrap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bootstrap.json");
        std::fs::write(&path, Bootstrap::insecure("file:1", "f").to_json_pretty()).unwrap();
        let inline = Bootstrap::insecure("inline:1", "i").to_json_pretty();

        let b = Bootstrap::from_sources(Some(&path), Some(&inline)).unwrap();
        assert_eq!(b.xds_servers[0].server_uri, "file:1");
        let b = Bootstrap::from_sources(None, Some(&inline)).unwrap();
        assert_eq!(b.xds_servers[0].server_uri, "inline:1");
        assert!(matches!(
            Bootstrap::from_sources(None, None),
            Err(BootstrapError::NotConfigured)
        ));
        let missing = dir.join("missing.json");
        let err = Bootstrap::from_sources(Some(&missing), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.json") && err.contains(BOOTSTRAP_FILE_ENV),
            "{err}"
        );
        let err = Bootstrap::from_sources(None, Some("[]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(BOOTSTRAP_CONFIG_ENV), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Reading access logs: the one event per request that the mesh's client and server log under
//! [`ACCESS_LOG_TARGET`] when a process runs with `RUST_LOG=info,mesh::access=info` and
//! `MESH_LOG_FORMAT=json` (one JSON object per line).
//!
//! The client's line says which route, cluster and endpoint served a call, after how many
//! attempts, and the server's SPIFFE ID as `peer`; the server's line says the caller's SPIFFE ID
//! as `peer`. Other log lines, and access logs in text form, are skipped. mesh-core's JSON log
//! layer flattens the fields into the event; nested `fields` objects are read too. (The
//! end-to-end test `observability_e2e` checks the fields of real lines.)

use mesh_core::telemetry::ACCESS_LOG_TARGET;
use serde_json::{Map, Value};

/// One access-log event: its fields by name.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessLogEntry {
    fields: Map<String, Value>,
}

impl AccessLogEntry {
    /// The access-log event on a JSON log `line`; `None` for any other line.
    pub fn parse(line: &str) -> Option<AccessLogEntry> {
        let Ok(Value::Object(mut event)) = serde_json::from_str::<Value>(line.trim()) else {
            return None;
        };
        if event.get("target")?.as_str()? != ACCESS_LOG_TARGET {
            return None;
        }
        // Fields sit under "fields" unless the formatter flattens them into the event.
        let fields = match event.remove("fields") {
            Some(Value::Object(fields)) => fields,
            _ => event,
        };
        Some(AccessLogEntry { fields })
    }

    /// Every access-log event in `log`, in order.
    pub fn all_in(log: &str) -> Vec<AccessLogEntry> {
        log.lines().filter_map(AccessLogEntry::parse).collect()
    }

    /// Field `name` if it is a string (`status`, `path`, `peer`, ...).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name)?.as_str()
    }

    /// Field `name` as a number, if it is one (`latency_ms`) or a string holding one.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.fields.get(name)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// Field `name` as a whole count, if it is one (`attempts`).
    pub fn count(&self, name: &str) -> Option<u64> {
        self.fields.get(name)?.as_u64()
    }

    /// Field `name` as a bool, if it is one (`mtls`).
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.fields.get(name)?.as_bool()
    }

    /// Whether the client (`"client"`) or the server (`"server"`) logged the event.
    pub fn is_side(&self, side: &str) -> bool {
        self.text("side") == Some(side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_and_flattened_fields_and_skips_other_lines() {
        let nested = r#"{"timestamp":"t","level":"INFO","fields":{"side":"client","path":"/demo.ServiceB/Get","status":"0","latency_ms":1.5,"attempts":2,"mtls":true},"target":"mesh::access"}"#;
        let flat = r#"{"level":"INFO","side":"server","peer":"spiffe://cluster.local/ns/demo/sa/servicea","target":"mesh::access"}"#;
        let other = r#"{"level":"INFO","fields":{"message":"hi"},"target":"examples::service_a"}"#;
        let log = [nested, "plain text line", other, flat].join("\n");

        let entries = AccessLogEntry::all_in(&log);
        assert_eq!(entries.len(), 2);
        let client = &entries[0];
        assert!(client.is_side("client"));
        assert_eq!(client.text("path"), Some("/demo.ServiceB/Get"));
        assert_eq!(client.text("status"), Some("0"));
        assert_eq!(client.text("attempts"), None);
        assert_eq!(client.count("attempts"), Some(2));
        assert_eq!(client.count("latency_ms"), None);
        assert_eq!(client.flag("mtls"), Some(true));
        assert_eq!(client.text("upstream"), None);
        assert_eq!(client.number("latency_ms"), Some(1.5));
        assert_eq!(client.number("status"), Some(0.0));
        assert!(entries[1].is_side("server"));
        assert!(!entries[1].is_side("client"));
        assert_eq!(
            entries[1].text("peer"),
            Some("spiffe://cluster.local/ns/demo/sa/servicea")
        );
    }
}

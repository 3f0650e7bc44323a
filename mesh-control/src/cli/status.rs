//! `status`, `config` and `certs`: what a running mesh-control knows, as tables.
//!
//! Each command reads one document of the admin endpoint ([`crate::admin`]) and prints it;
//! the rendering is kept apart from the fetching so it can be tested on its own. What clients
//! chose (node ids, NACK reasons) is printed with its control characters escaped, so that it
//! can neither break a table nor drive the terminal. An identity the CA issued to a node id
//! that the requester named, not proven by the stream's certificate, is marked `(claimed)`.

use std::borrow::Cow;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::admin_client::{AdminError, get};
use crate::admin::{CertView, ClientView, IdentitySource, TypeView};
use crate::ads::SyncState;
use crate::resource_types::RESOURCE_TYPES;

/// What is percent-encoded in a node id in a URL path: all but the unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `mesh-control status`: one line per connected client, then every NACK's reason.
pub(crate) async fn status(admin: &str) -> Result<String, AdminError> {
    let clients: Vec<ClientView> = get(admin, "/clients").await?;
    Ok(render_status(&clients))
}

/// `mesh-control config NODE`: what that client was sent and ACKed, per type.
pub(crate) async fn config(admin: &str, node_id: &str) -> Result<String, AdminError> {
    let client: ClientView = get(admin, &client_path(node_id)).await?;
    Ok(render_client(&client))
}

/// The admin path of one client: `/clients/` and the node id, percent-encoded.
fn client_path(node_id: &str) -> String {
    format!("/clients/{}", utf8_percent_encode(node_id, PATH_SEGMENT))
}

/// `mesh-control certs`: the certificates issued, newest first, with their time to expiry.
pub(crate) async fn certs(admin: &str) -> Result<String, AdminError> {
    let certs: Vec<CertView> = get(admin, "/certs").await?;
    Ok(render_certs(&certs, SystemTime::now()))
}

fn state(view: Option<&TypeView>) -> String {
    view.and_then(|t| t.state)
        .map_or_else(|| "-".to_string(), |state| state.to_string())
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`).
fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// The client's identity, `(claimed)` when only its node id vouches for it, or `-`.
fn identity(client: &ClientView) -> String {
    match (&client.identity, client.identity_source) {
        (None, _) => "-".to_string(),
        (Some(id), Some(IdentitySource::Claimed)) => format!("{} (claimed)", printable(id)),
        (Some(id), _) => printable(id).into_owned(),
    }
}

/// Rows as columns padded to the widest cell, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn render_status(clients: &[ClientView]) -> String {
    if clients.is_empty() {
        return "no clients connected\n".to_string();
    }
    let header = ["NODE", "IDENTITY"]
        .into_iter()
        .chain(RESOURCE_TYPES.map(|t| t.short));
    let mut rows = vec![header.map(String::from).collect()];
    let mut nacks = String::new();
    for client in clients {
        let node_id = printable(&client.node_id);
        let mut row = vec![node_id.to_string(), identity(client)];
        for short in RESOURCE_TYPES.map(|t| t.short) {
            let view = client.types.get(short);
            row.push(state(view));
            if let Some(nack) = view.and_then(|t| t.last_nack.as_ref())
                && view.and_then(|t| t.state) == Some(SyncState::Nacked)
            {
                let _ = writeln!(
                    nacks,
                    "{node_id} {short} NACKED version {} (nonce {}): {}",
                    printable(&nack.version),
                    printable(&nack.nonce),
                    printable(&nack.reason)
                );
            }
        }
        rows.push(row);
    }
    let mut out = table(&rows);
    if !nacks.is_empty() {
        out.push('\n');
        out.push_str(&nacks);
    }
    out
}

pub(crate) fn render_client(client: &ClientView) -> String {
    let mut out = format!(
        "NODE       {}\nIDENTITY   {}\nCONNECTED  {}\n",
        printable(&client.node_id),
        identity(client),
        client.connected_since
    );
    for short in RESOURCE_TYPES.map(|t| t.short) {
        let view = client.types.get(short);
        let version =
            |v: Option<&String>| v.map_or_else(|| "-".to_string(), |v| printable(v).into_owned());
        let _ = writeln!(
            out,
            "\n{short}  {}  sent {}  acked {}",
            state(view),
            version(view.and_then(|t| t.sent_version.as_ref())),
            version(view.and_then(|t| t.acked_version.as_ref())),
        );
        let Some(view) = view else { continue };
        for name in view.resources.iter().flatten() {
            let _ = writeln!(out, "  {}", printable(name));
        }
        if let Some(nack) = &view.last_nack {
            let _ = writeln!(
                out,
                "  last NACK: version {} (nonce {}): {}",
                printable(&nack.version),
                printable(&nack.nonce),
                printable(&nack.reason)
            );
        }
    }
    out
}

pub(crate) fn render_certs(certs: &[CertView], now: SystemTime) -> String {
    if certs.is_empty() {
        return "no certificates issued since mesh-control started\n".to_string();
    }
    let mut rows = vec![
        ["SPIFFE ID", "NODE", "SERIAL", "NOT AFTER", "EXPIRES"]
            .map(String::from)
            .to_vec(),
    ];
    for cert in certs {
        let expires = match OffsetDateTime::parse(&cert.not_after, &Rfc3339) {
            Ok(at) => expiry(SystemTime::from(at), now),
            Err(_) => "?".to_string(),
        };
        rows.push(vec![
            printable(&cert.spiffe_id).into_owned(),
            cert.node_id
                .as_deref()
                .map_or_else(|| "-".to_string(), |id| printable(id).into_owned()),
            cert.serial.clone(),
            cert.not_after.clone(),
            expires,
        ]);
    }
    table(&rows)
}

/// `in 23h59m`, or `expired 5m ago`.
fn expiry(not_after: SystemTime, now: SystemTime) -> String {
    match not_after.duration_since(now) {
        Ok(left) => format!("in {}", short_duration(left)),
        Err(e) => format!("expired {} ago", short_duration(e.duration())),
    }
}

fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::admin::NackView;

    fn client() -> ClientView {
        let synced = TypeView {
            state: Some(SyncState::Synced),
            sent_version: Some("3".into()),
            acked_version: Some("3".into()),
            last_nack: None,
            resources: Some(vec!["serviceb.demo:50051".into()]),
        };
        let nacked = TypeView {
            state: Some(SyncState::Nacked),
            last_nack: Some(NackView {
                version: "4".into(),
                nonce: "7".into(),
                reason: "bad cluster".into(),
            }),
            ..synced.clone()
        };
        ClientView {
            node_id: "a-1".into(),
            identity: None,
            identity_source: None,
            connected_since: "2026-01-01T00:00:00Z".into(),
            types: BTreeMap::from([("LDS".into(), synced), ("CDS".into(), nacked)]),
        }
    }

    #[test]
    fn status_is_a_table_with_the_nack_reasons_below() {
        let out = render_status(&[client()]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NODE  IDENTITY  LDS     RDS  CDS     EDS");
        assert_eq!(lines[1], "a-1   -         SYNCED  -    NACKED  -");
        assert_eq!(lines[3], "a-1 CDS NACKED version 4 (nonce 7): bad cluster");
        assert_eq!(render_status(&[]), "no clients connected\n");
    }

    #[test]
    fn control_characters_are_escaped_and_claims_marked() {
        let mut client = client();
        client.node_id = "a\x1b[2J-1".into();
        client.identity = Some("spiffe://cluster.local/ns/demo/sa/a".into());
        client.identity_source = Some(IdentitySource::Claimed);
        let cds = client.types.get_mut("CDS").expect("CDS");
        cds.last_nack.as_mut().expect("a NACK").reason = "bad\ncluster".into();
        let out = render_status(&[client.clone()]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(
            lines[1].starts_with(
                "a\\u{1b}[2J-1  spiffe://cluster.local/ns/demo/sa/a (claimed)  SYNCED"
            ),
            "{out}"
        );
        assert_eq!(
            lines[3],
            "a\\u{1b}[2J-1 CDS NACKED version 4 (nonce 7): bad\\ncluster"
        );
        let out = render_client(&client);
        assert!(out.starts_with("NODE       a\\u{1b}[2J-1\n"), "{out}");
        assert!(out.contains("(claimed)\n"), "{out}");
        assert!(out.contains(": bad\\ncluster\n"), "{out}");
        client.identity_source = Some(IdentitySource::Certificate);
        assert!(!render_client(&client).contains("(claimed)"));
    }

    #[test]
    fn node_ids_are_percent_encoded_in_the_path() {
        assert_eq!(client_path("a-1.demo_x~"), "/clients/a-1.demo_x~");
        assert_eq!(client_path("a/b c?%"), "/clients/a%2Fb%20c%3F%25");
        assert_eq!(client_path("é"), "/clients/%C3%A9");
    }

    #[test]
    fn config_lists_resources_per_type() {
        let out = render_client(&client());
        assert!(
            out.contains("\nLDS  SYNCED  sent 3  acked 3\n  serviceb.demo:50051\n"),
            "{out}"
        );
        assert!(out.contains("\nRDS  -  sent -  acked -\n"), "{out}");
        assert!(
            out.contains("  last NACK: version 4 (nonce 7): bad cluster\n"),
            "{out}"
        );
    }

    #[test]
    fn certs_show_time_to_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let cert = CertView {
            spiffe_id: "spiffe://cluster.local/ns/demo/sa/a".into(),
            node_id: Some("a-1".into()),
            serial: "ab".into(),
            not_before: "2027-01-15T08:00:00Z".into(),
            // now + 1 h 30 min
            not_after: crate::admin::timestamp(now + Duration::from_secs(5400)),
        };
        let out = render_certs(&[cert], now);
        assert!(out.lines().nth(1).unwrap().ends_with("in 1h30m"), "{out}");
        assert_eq!(
            expiry(now, now + Duration::from_secs(61)),
            "expired 1m01s ago"
        );
    }
}

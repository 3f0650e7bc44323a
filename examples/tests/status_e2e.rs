//! `mesh-control status` with a real gRPC peer: a grpcio xDS client without certificate
//! providers NACKs the Cluster of an mTLS (STRICT) service, which status shows with the
//! reason; once the service is plaintext the client ACKs and status shows it in sync.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::telemetry::control_admin_addr;
use support::{Mesh, PLAINTEXT, STRICT, assert_eventually, demo_cmd, split_config, xds_client_cmd};

const ADMIN_ON: [&str; 2] = ["--admin-addr", "127.0.0.1:0"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_grpcio_client_nacking_an_mtls_cluster_then_synced_when_plaintext() {
    let config = split_config(1, 0);
    let mesh = Mesh::start_with(
        &[("mesh.yaml", &format!("{config}---\n{STRICT}"))],
        &ADMIN_ON,
    )
    .await;
    let admin = control_admin_addr(mesh.control.as_ref().unwrap()).await;
    // No certificate providers in its bootstrap: grpcio refuses a Cluster that asks for mTLS.
    // The call waits for a route (up to 20 s), keeping the client's ADS stream open.
    let bootstrap = mesh.plaintext_bootstrap("python-client").await;
    let log = std::fs::File::create(mesh.logs.path().join("grpcio-client.log")).unwrap();
    let _grpcio = xds_client_cmd(&bootstrap, &["--calls", "1"])
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let status = || async {
        let out = demo_cmd(&["control", "status", "--admin", &format!("http://{admin}")])
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "status failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    assert_eventually("status shows the NACK", Duration::from_secs(20), || async {
        let out = status().await;
        match node_states(&out, "python-client") {
            Some(states) if states[2] == "NACKED" && out.contains("certificate provider") => Ok(()),
            _ => Err(out),
        }
    })
    .await;

    mesh.write("mesh.yaml", &format!("{config}---\n{PLAINTEXT}"));
    assert_eventually(
        "status shows the client in sync",
        Duration::from_secs(20),
        || async {
            let out = status().await;
            match node_states(&out, "python-client") {
                Some(states) if states.iter().all(|s| s == "SYNCED") && !out.contains("NACKED") => {
                    Ok(())
                }
                _ => Err(out),
            }
        },
    )
    .await;
}

/// The LDS, RDS, CDS and EDS states of `node` in the table `mesh-control status` prints.
fn node_states(status: &str, node: &str) -> Option<Vec<String>> {
    let columns: Vec<&str> = status.lines().next()?.split_whitespace().collect();
    let row: Vec<&str> = status
        .lines()
        .find(|line| line.split_whitespace().next() == Some(node))?
        .split_whitespace()
        .collect();
    let states = ["LDS", "RDS", "CDS", "EDS"].map(|type_| {
        let i = columns.iter().position(|c| *c == type_)?;
        row.get(i).map(|s| s.to_string())
    });
    states.into_iter().collect()
}

#[test]
fn reads_the_states_of_a_node_in_the_status_table() {
    let table = "NODE           IDENTITY  LDS     RDS     CDS     EDS\n\
                 python-client  -         SYNCED  SYNCED  NACKED  -\n\n\
                 python-client CDS NACKED version 1 (nonce 3): bad\n";
    assert_eq!(
        node_states(table, "python-client"),
        Some(
            ["SYNCED", "SYNCED", "NACKED", "-"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(node_states(table, "servicea"), None);
}

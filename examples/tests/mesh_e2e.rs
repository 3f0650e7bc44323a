//! End to end on loopback with real processes: mesh-control, serviceB replicas that register
//! themselves, and a Rust MeshChannel client.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use examples::pb::GetRequest;
use support::{Mesh, assert_eventually, call_n, split_config, two_versions};

const TARGET: &str = "xds:///serviceb.demo:50051";

fn only(counts: &std::collections::BTreeMap<String, usize>, replica: &str) -> Result<(), String> {
    if counts.len() == 1 && counts.contains_key(replica) {
        Ok(())
    } else {
        Err(format!("answers: {counts:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight_change_in_yaml_moves_traffic_without_restarts() {
    let (mesh, client) = two_versions(100, 0).await;

    mesh.write("routes.yaml", &split_config(0, 100));
    let took = assert_eventually("all calls reach v2", Duration::from_secs(10), || async {
        only(&call_n(&client, 20).await, "serviceb-v2")
    })
    .await;
    eprintln!("weight change reached the client in {took:?}");

    mesh.write("routes.yaml", &split_config(50, 50));
    assert_eventually("traffic splits 50/50", Duration::from_secs(10), || async {
        let counts = call_n(&client, 400).await;
        let v1 = *counts.get("serviceb-v1").unwrap_or(&0);
        let v2 = *counts.get("serviceb-v2").unwrap_or(&0);
        if v1 + v2 == 400 && (140..=260).contains(&v1) {
            Ok(())
        } else {
            Err(format!("answers: {counts:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_survive_a_control_plane_outage_and_resync_after_restart() {
    let (mut mesh, client) = two_versions(100, 0).await;

    // Load in the background for the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn({
        let (client, stop, ok, failed) = (client.clone(), stop.clone(), ok.clone(), failed.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                match client
                    .clone()
                    .get(GetRequest {
                        caller: "load".into(),
                    })
                    .await
                {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        eprintln!("call failed: {status:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    mesh.kill_control().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_outage = ok.load(Ordering::Relaxed);
    assert!(
        during_outage > 50,
        "calls did not keep flowing while mesh-control was down: {during_outage}"
    );

    mesh.restart_control().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The client resynced: a change made after the restart reaches it.
    mesh.write("routes.yaml", &split_config(0, 100));
    assert_eventually(
        "after the restart, calls follow the new config",
        Duration::from_secs(20),
        || async { only(&call_n(&client, 20).await, "serviceb-v2") },
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "calls failed during the outage or the resync"
    );
    assert!(ok.load(Ordering::Relaxed) > during_outage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_edit_is_refused_and_traffic_is_unaffected() {
    let (mesh, client) = two_versions(100, 0).await;

    // Both weights zero: mesh-control must refuse it and say where.
    mesh.write("routes.yaml", &split_config(0, 0));
    assert_eventually(
        "mesh-control reports the bad file and line",
        Duration::from_secs(10),
        || async {
            let log = mesh.control_log().await;
            if log.contains("routes.yaml:") && log.to_lowercase().contains("weight") {
                Ok(())
            } else {
                Err(format!("log so far:\n{log}"))
            }
        },
    )
    .await;
    let counts = call_n(&client, 200).await;
    assert_eq!(
        only(&counts, "serviceb-v1"),
        Ok(()),
        "traffic changed after a refused edit"
    );

    // A YAML syntax error is refused too.
    mesh.write(
        "routes.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: [oops\n",
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(only(&call_n(&client, 100).await, "serviceb-v1"), Ok(()));

    // The fix applies.
    mesh.write("routes.yaml", &split_config(0, 1));
    assert_eventually(
        "the fixed config applies",
        Duration::from_secs(10),
        || async { only(&call_n(&client, 20).await, "serviceb-v2") },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_endpoint_leaves_when_its_server_goes() {
    let mut mesh = Mesh::start(&[("routes.yaml", &split_config(1, 0))]).await;
    mesh.start_service_b("serviceb-v1-a", "serviceb-v1.demo:50051")
        .await;
    mesh.start_service_b("serviceb-v1-b", "serviceb-v1.demo:50051")
        .await;
    let client = mesh.client(TARGET).await;
    assert_eventually("both replicas answer", Duration::from_secs(20), || async {
        let counts = call_n(&client, 100).await;
        if counts.len() == 2 && counts.keys().all(|k| k.starts_with("serviceb-v1-")) {
            Ok(())
        } else {
            Err(format!("answers: {counts:?}"))
        }
    })
    .await;

    mesh.kill("serviceb-v1-b").await;
    assert_eventually(
        "only the live replica answers",
        Duration::from_secs(10),
        || async { only(&call_n(&client, 50).await, "serviceb-v1-a") },
    )
    .await;
}

//! Authorization and rate limit on a meshed server, from its inbound xDS listener (a fake ADS),
//! with real mTLS callers, for a tonic service and an axum router on one port.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::model::{
    Authorization, AuthzAction, AuthzRule, InboundTls, Listener, LocalRateLimit, Permission,
    Principal, RouteSource, ServerListener, StringMatch,
};
use mesh_server::MeshServer;
use support::ads::{FakeAds, World};
use support::app::{GET, router};
use support::calls::{Via, get, grpc};
use support::certs::{TestCa, spiffe_id};
use tokio::sync::oneshot;

/// The inbound listener of a server at `addr` with `bootstrap`, PERMISSIVE, with these policies.
fn inbound(
    bootstrap: &Bootstrap,
    addr: SocketAddr,
    authorization: Option<Authorization>,
    rate_limit: Option<LocalRateLimit>,
) -> Listener {
    Listener::Server(ServerListener {
        name: bootstrap.server_listener_name(addr),
        address: addr,
        routes: RouteSource::Rds("inbound".into()),
        tls: InboundTls::Permissive,
        authorization,
        rate_limit,
    })
}

fn rule(name: &str, action: AuthzAction, from: Vec<Principal>, to: Vec<Permission>) -> AuthzRule {
    AuthzRule {
        name: name.into(),
        action,
        from,
        to,
    }
}

fn prefix(path: &str) -> Permission {
    Permission {
        path: Some(StringMatch::Prefix(path.into())),
        ..Permission::default()
    }
}

/// servicea may call `Get` and `/hello` but not `/hello/secret`; everyone else nothing.
fn servicea_only() -> Authorization {
    let servicea = Principal::SpiffeId(StringMatch::Exact(spiffe_id("servicea")));
    Authorization {
        rules: vec![
            rule(
                "demo/callers/servicea",
                AuthzAction::Allow,
                vec![servicea],
                vec![prefix("/demo.ServiceB/"), prefix("/hello")],
            ),
            rule(
                "demo/callers/no-secrets",
                AuthzAction::Deny,
                vec![],
                vec![prefix("/hello/secret")],
            ),
        ],
        default_action: AuthzAction::Deny,
    }
}

/// A server with identity `serviceb` following `ads`, serving the test router.
async fn start(
    ca: &TestCa,
    ads: &FakeAds,
) -> (SocketAddr, mesh_server::ServerHandle, oneshot::Sender<()>) {
    let server = MeshServer::builder()
        .bootstrap(ads.bootstrap())
        .identity(ca.identity("serviceb"))
        .drain_delay(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (server.local_addr(), server.handle());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(router(), async { stopped.await.unwrap_or(()) }));
    (addr, handle, stop)
}

#[tokio::test]
async fn authorization_admits_and_refuses_by_spiffe_id_and_path_for_grpc_and_http() {
    let (logs, _guard) = support::logs::capture();
    let ca = TestCa::new("mesh");
    let ads = FakeAds::start(World::default()).await;
    let (addr, handle, _stop) = start(&ca, &ads).await;
    ads.set(World::default().listener(&inbound(
        &ads.bootstrap(),
        addr,
        Some(servicea_only()),
        None,
    )));
    let servicea = ca.identity("servicea");
    let intruder = ca.identity("intruder");
    let (a, x) = (Via::Mtls(&servicea), Via::Mtls(&intruder));

    // gRPC (tonic): servicea in, and its handler sees who called.
    let ok = grpc(addr, &a, GET, "ping").await.unwrap();
    assert_eq!(ok.status, "0", "{ok:?}");
    assert_eq!(
        ok.reply.unwrap(),
        format!("ping from {}", spiffe_id("servicea"))
    );
    let denied = grpc(addr, &x, GET, "ping").await.unwrap();
    assert_eq!(denied.status, "7", "{denied:?}");
    assert!(denied.message.contains("default action"), "{denied:?}");
    assert!(denied.reply.is_none());

    // HTTP (axum): 403 for the intruder and for plaintext; the DENY rule beats the ALLOW one.
    let (status, _, body) = get(addr, &a, "/hello").await.unwrap();
    assert_eq!(
        (status, body),
        (StatusCode::OK, format!("hello {}", spiffe_id("servicea")))
    );
    assert_eq!(
        get(addr, &x, "/hello").await.unwrap().0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(addr, &Via::Plain, "/hello").await.unwrap().0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(addr, &a, "/hello/secret").await.unwrap().0,
        StatusCode::FORBIDDEN
    );
    let secret = grpc(addr, &a, "/hello/secret", "x").await.unwrap();
    assert!(
        secret.message.contains("rule demo/callers/no-secrets"),
        "{secret:?}"
    );

    let denials = logs.lines_with("denied a call");
    assert_eq!(denials.len(), 5, "{}", logs.text());
    assert!(
        denials[0].contains(&spiffe_id("intruder")) && denials[0].contains(GET),
        "{denials:?}"
    );
    assert!(denials[0].contains("default action"), "{denials:?}");
    assert!(denials[2].contains("plaintext"), "{denials:?}");
    assert!(
        denials[3].contains("demo/callers/no-secrets"),
        "{denials:?}"
    );
    let counted = handle.counters();
    assert_eq!((counted.requests, counted.denied), (7, 5), "{counted:?}");
}

#[tokio::test]
async fn a_policy_change_applies_to_new_calls_without_restart() {
    // Every test of this binary captures logs, so no thread without a subscriber caches the
    // call sites as disabled for the one that reads them.
    let (_logs, _guard) = support::logs::capture();
    let ca = TestCa::new("mesh");
    let ads = FakeAds::start(World::default()).await;
    let (addr, _handle, _stop) = start(&ca, &ads).await;
    ads.set(World::default().listener(&inbound(
        &ads.bootstrap(),
        addr,
        Some(servicea_only()),
        None,
    )));
    let intruder = ca.identity("intruder");
    let x = Via::Mtls(&intruder);
    assert_eq!(grpc(addr, &x, GET, "a").await.unwrap().status, "7");

    ads.set(World::default().listener(&inbound(&ads.bootstrap(), addr, None, None)));
    let mut status = String::new();
    for _ in 0..250 {
        status = grpc(addr, &x, GET, "b").await.unwrap().status;
        if status == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status, "0",
        "the intruder is still refused after the policy was lifted"
    );
}

#[tokio::test]
async fn the_rate_limit_refuses_calls_beyond_the_bucket_with_retry_hints() {
    let (_logs, _guard) = support::logs::capture();
    let ca = TestCa::new("mesh");
    let ads = FakeAds::start(World::default()).await;
    let (addr, handle, _stop) = start(&ca, &ads).await;
    // Two calls, then one more every 10 s: no refill during the test.
    let limit = LocalRateLimit {
        max_tokens: 2,
        tokens_per_fill: 1,
        fill_interval: Duration::from_secs(10),
    };
    ads.set(World::default().listener(&inbound(&ads.bootstrap(), addr, None, Some(limit))));
    let servicea = ca.identity("servicea");
    let a = Via::Mtls(&servicea);

    assert_eq!(grpc(addr, &a, GET, "1").await.unwrap().status, "0");
    assert_eq!(get(addr, &a, "/hello").await.unwrap().0, StatusCode::OK);
    let limited = grpc(addr, &a, GET, "3").await.unwrap();
    assert_eq!(limited.status, "8", "{limited:?}");
    let pushback: u64 = limited.headers["grpc-retry-pushback-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10_000).contains(&pushback), "{pushback}");
    let (status, headers, _) = get(addr, &a, "/hello").await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");

    // Health checks are neither limited nor counted.
    for _ in 0..5 {
        assert_eq!(get(addr, &a, "/ready").await.unwrap().0, StatusCode::OK);
    }
    let counted = handle.counters();
    assert_eq!(
        (counted.requests, counted.rate_limited, counted.denied),
        (4, 2, 0)
    );
}

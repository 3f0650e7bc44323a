use std::convert::Infallible;

use mesh_core::model::{HeaderMatch, Permission, StringMatch};
use tower::{Layer, ServiceExt};

use super::*;

const SERVICEA: &str = "spiffe://cluster.local/ns/demo/sa/servicea";
const OTHER: &str = "spiffe://cluster.local/ns/other/sa/x";

fn rule(name: &str, action: AuthzAction, from: Vec<Principal>, to: Vec<Permission>) -> AuthzRule {
    AuthzRule {
        name: name.into(),
        action,
        from,
        to,
    }
}

fn path(prefix: &str) -> Permission {
    Permission {
        path: Some(StringMatch::Prefix(prefix.into())),
        ..Permission::default()
    }
}

fn spiffe(id: &str) -> Principal {
    Principal::SpiffeId(StringMatch::Exact(id.into()))
}

/// `caller` calls `method path` with `headers`; the verdict as (allowed, rule).
fn decide(
    authz: &Authorization,
    caller: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(&'static str, &str)],
) -> (bool, Option<String>) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, value.parse().unwrap());
    }
    let call = Call {
        caller,
        method: &method,
        path,
        headers: &map,
    };
    let verdict = evaluate(authz, &call);
    (verdict.allowed, verdict.rule.map(str::to_string))
}

#[test]
fn deny_rules_win_then_allow_rules_then_the_default() {
    let authz = Authorization {
        rules: vec![
            rule(
                "allow-a",
                AuthzAction::Allow,
                vec![spiffe(SERVICEA)],
                vec![],
            ),
            rule(
                "deny-admin",
                AuthzAction::Deny,
                vec![],
                vec![path("/admin")],
            ),
        ],
        default_action: AuthzAction::Deny,
    };
    let get = |caller, p| decide(&authz, caller, Method::GET, p, &[]);
    assert_eq!(
        get(Some(SERVICEA), "/hello"),
        (true, Some("allow-a".into()))
    );
    assert_eq!(
        get(Some(SERVICEA), "/admin/x"),
        (false, Some("deny-admin".into()))
    );
    assert_eq!(get(Some(OTHER), "/hello"), (false, None));
    assert_eq!(get(None, "/hello"), (false, None));
}

#[test]
fn principals_need_an_mtls_caller_but_empty_from_takes_everyone() {
    let only_authenticated = Authorization {
        rules: vec![rule(
            "mtls",
            AuthzAction::Allow,
            vec![Principal::Authenticated],
            vec![],
        )],
        default_action: AuthzAction::Deny,
    };
    assert!(decide(&only_authenticated, Some(OTHER), Method::GET, "/", &[]).0);
    assert!(!decide(&only_authenticated, None, Method::GET, "/", &[]).0);

    let deny_everyone = Authorization {
        rules: vec![rule("all", AuthzAction::Deny, vec![], vec![])],
        default_action: AuthzAction::Allow,
    };
    assert!(!decide(&deny_everyone, None, Method::GET, "/", &[]).0);

    let by_namespace = Authorization {
        rules: vec![rule(
            "demo",
            AuthzAction::Allow,
            vec![Principal::SpiffeId(StringMatch::Prefix(
                "spiffe://cluster.local/ns/demo/sa/".into(),
            ))],
            vec![],
        )],
        default_action: AuthzAction::Deny,
    };
    assert!(decide(&by_namespace, Some(SERVICEA), Method::GET, "/", &[]).0);
    assert!(!decide(&by_namespace, Some(OTHER), Method::GET, "/", &[]).0);
}

#[test]
fn a_permission_needs_all_its_conditions_and_a_rule_any_permission() {
    let tenant = HeaderMatch {
        name: "x-tenant".into(),
        matcher: StringMatch::Exact("blue".into()),
        invert: false,
    };
    let get_hello = Permission {
        path: Some(StringMatch::Exact("/hello".into())),
        method: Some("GET".into()),
        headers: vec![tenant],
    };
    let authz = Authorization {
        rules: vec![rule(
            "hello",
            AuthzAction::Allow,
            vec![],
            vec![get_hello, path("/demo.ServiceB/")],
        )],
        default_action: AuthzAction::Deny,
    };
    let blue = [("x-tenant", "blue")];
    assert!(decide(&authz, None, Method::GET, "/hello", &blue).0);
    assert!(!decide(&authz, None, Method::POST, "/hello", &blue).0);
    assert!(!decide(&authz, None, Method::GET, "/hello", &[]).0);
    assert!(!decide(&authz, None, Method::GET, "/hello", &[("x-tenant", "red")]).0);
    assert!(decide(&authz, None, Method::POST, "/demo.ServiceB/Get", &[]).0);
}

#[test]
fn header_conditions_see_the_method_joined_values_and_inversion() {
    let call_with = |name: &str, matcher, invert, headers: &[(&'static str, &str)]| {
        let condition = HeaderMatch {
            name: name.into(),
            matcher,
            invert,
        };
        let authz = Authorization {
            rules: vec![rule(
                "h",
                AuthzAction::Allow,
                vec![],
                vec![Permission {
                    headers: vec![condition],
                    ..Permission::default()
                }],
            )],
            default_action: AuthzAction::Deny,
        };
        decide(&authz, None, Method::PUT, "/", headers).0
    };
    assert!(call_with(
        ":method",
        StringMatch::Exact("PUT".into()),
        false,
        &[]
    ));
    let two = [("x-v", "a"), ("x-v", "b")];
    assert!(call_with(
        "x-v",
        StringMatch::Exact("a,b".into()),
        false,
        &two
    ));
    assert!(call_with("x-v", StringMatch::Present, true, &[]));
    assert!(!call_with(
        "x-v",
        StringMatch::Exact("a".into()),
        true,
        &[("x-v", "a")]
    ));
}

fn app() -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("ok".into()))
    })
}

fn request(grpc: bool, caller: Option<&str>) -> Request<String> {
    let mut builder = Request::post("/demo.ServiceB/Get");
    if grpc {
        builder = builder.header("content-type", "application/grpc");
    }
    let mut request = builder.body(String::new()).unwrap();
    if let Some(id) = caller {
        let id = spiffe::SpiffeId::new(id).unwrap();
        request.extensions_mut().insert(PeerIdentity::new(id));
    }
    request
}

fn only_servicea() -> Authorization {
    Authorization {
        rules: vec![rule(
            "demo/callers/servicea",
            AuthzAction::Allow,
            vec![spiffe(SERVICEA)],
            vec![],
        )],
        default_action: AuthzAction::Deny,
    }
}

#[tokio::test]
async fn the_layer_lets_allowed_calls_through_and_refuses_others_per_protocol() {
    let layer = AuthzLayer::fixed(only_servicea());
    let allowed = layer
        .layer(app())
        .oneshot(request(true, Some(SERVICEA)))
        .await
        .unwrap();
    assert_eq!(allowed.into_body().into_inner().unwrap(), "ok");

    let denied = layer
        .layer(app())
        .oneshot(request(true, Some(OTHER)))
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::OK);
    assert_eq!(denied.headers()["grpc-status"], "7");
    let message = denied.headers()["grpc-message"].to_str().unwrap();
    assert!(message.contains("default action"), "{message}");
    assert!(denied.into_body().into_inner().is_none());

    let http = layer
        .layer(app())
        .oneshot(request(false, None))
        .await
        .unwrap();
    assert_eq!(http.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_new_policy_applies_to_the_next_call_and_denials_are_counted() {
    let (tx, rx) = watch::channel(Arc::new(InboundPolicy::default()));
    let counters = Counters::default();
    let layer = AuthzLayer::new(rx).counting(counters.clone());
    let mut service = layer.layer(app());
    let call = |service: &mut Authz<_>| {
        let service = service.clone();
        async move {
            service
                .oneshot(request(false, Some(OTHER)))
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(call(&mut service).await, StatusCode::OK);
    tx.send_replace(Arc::new(InboundPolicy {
        authorization: Some(only_servicea()),
        rate_limit: None,
    }));
    assert_eq!(call(&mut service).await, StatusCode::FORBIDDEN);
    let counted = counters.snapshot();
    assert_eq!((counted.requests, counted.denied), (2, 1));
}

#[tokio::test]
async fn the_connection_s_peer_identity_decides_through_add_peer() {
    let layer = AuthzLayer::fixed(only_servicea());
    let through = |caller: &str| {
        let id = PeerIdentity::new(spiffe::SpiffeId::new(caller).unwrap());
        crate::peer::AddPeer::new(layer.layer(app()), Some(id))
    };
    let allowed = through(SERVICEA)
        .oneshot(request(false, None))
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let denied = through(OTHER).oneshot(request(false, None)).await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
}

#[test]
fn the_caller_is_the_peer_identity_s_spiffe_id() {
    let mut extensions = Extensions::new();
    assert_eq!(caller(&extensions), None);
    let id = spiffe::SpiffeId::new(OTHER).unwrap();
    extensions.insert(PeerIdentity::new(id));
    assert_eq!(caller(&extensions), Some(OTHER));
}

//! A server listener's authorization and rate limit survive encode then decode with the same
//! meaning. ALLOW rules under a default of ALLOW stay off the wire, and policies come back in
//! name order, so authorizations are compared by what they decide, not field by field.

use std::sync::Arc;
use std::time::Duration;

use super::listener;
use crate::model::{
    self, Authorization, AuthzAction, AuthzRule, HeaderMatch, InboundTls, LocalRateLimit,
    PathMatch, Pattern, Permission, Principal, Route, RouteAction, RouteConfig, RouteMatch,
    RouteSource, ServerListener, StringMatch, VirtualHost,
};
use crate::xds::{decode, type_url};

/// What an authorization decides: its DENY rules and, when it denies by default, its ALLOW
/// rules (each in name order, a rule for every request with `to` empty).
type Decision = (Vec<AuthzRule>, Option<Vec<AuthzRule>>);

fn decision(authz: Option<&Authorization>) -> Decision {
    let sorted = |action| {
        let mut rules: Vec<AuthzRule> = authz
            .iter()
            .flat_map(|a| &a.rules)
            .filter(|r| r.action == action)
            .cloned()
            .map(|mut r| {
                if r.to.contains(&Permission::default()) {
                    r.to.clear();
                }
                r
            })
            .collect();
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        rules
    };
    let denies_by_default = authz.is_some_and(|a| a.default_action == AuthzAction::Deny);
    (
        sorted(AuthzAction::Deny),
        denies_by_default.then(|| sorted(AuthzAction::Allow)),
    )
}

fn server(
    tls: InboundTls,
    authorization: Option<Authorization>,
    rate_limit: Option<LocalRateLimit>,
) -> ServerListener {
    let inbound = RouteConfig {
        name: "inbound".into(),
        virtual_hosts: vec![VirtualHost {
            name: "inbound".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                policy: Default::default(),
                name: String::new(),
                matcher: RouteMatch {
                    path: PathMatch::Prefix(String::new()),
                    case_sensitive: true,
                    headers: vec![],
                },
                action: RouteAction::NonForwarding,
            }],
        }],
    };
    ServerListener {
        name: format!("{}127.0.0.1:50051", type_url::SERVER_LISTENER_PREFIX),
        address: "127.0.0.1:50051".parse().unwrap(),
        routes: RouteSource::Inline(Arc::new(inbound)),
        tls,
        authorization,
        rate_limit,
    }
}

fn round_trip(l: &ServerListener) -> ServerListener {
    match decode::listener(&listener(&model::Listener::Server(l.clone()))).unwrap() {
        model::Listener::Server(back) => back,
        other => panic!("not a server listener: {other:?}"),
    }
}

fn rule(name: &str, action: AuthzAction, from: Vec<Principal>, to: Vec<Permission>) -> AuthzRule {
    AuthzRule {
        name: name.into(),
        action,
        from,
        to,
    }
}

fn rich_rules() -> Vec<AuthzRule> {
    let spiffe = |m| Principal::SpiffeId(m);
    let td = "spiffe://cluster.local/ns/demo/sa/";
    vec![
        rule(
            "demo/callers/rule-0",
            AuthzAction::Allow,
            vec![
                spiffe(StringMatch::Exact(format!("{td}servicea"))),
                spiffe(StringMatch::Prefix(td.into())),
            ],
            vec![
                Permission {
                    path: Some(StringMatch::Prefix("/demo.ServiceB/".into())),
                    method: Some("POST".into()),
                    headers: vec![],
                },
                Permission {
                    path: Some(StringMatch::Regex(Pattern::new("/hello/.*").unwrap())),
                    method: Some("GET".into()),
                    headers: vec![
                        HeaderMatch {
                            name: "x-tenant".into(),
                            matcher: StringMatch::Exact("blue".into()),
                            invert: false,
                        },
                        HeaderMatch {
                            name: "x-debug".into(),
                            matcher: StringMatch::Present,
                            invert: true,
                        },
                    ],
                },
            ],
        ),
        rule(
            "demo/callers/rule-1",
            AuthzAction::Deny,
            vec![],
            vec![Permission {
                path: Some(StringMatch::Suffix("/Admin".into())),
                ..Default::default()
            }],
        ),
        rule(
            "demo/callers/rule-2",
            AuthzAction::Allow,
            vec![Principal::Authenticated],
            vec![Permission::default()],
        ),
        rule(
            "demo/callers/rule-3",
            AuthzAction::Deny,
            vec![spiffe(StringMatch::Suffix("/sa/intruder".into()))],
            vec![],
        ),
    ]
}

#[test]
fn authorizations_and_rate_limits_round_trip_on_every_chain() {
    let limit = LocalRateLimit {
        max_tokens: 10,
        tokens_per_fill: 5,
        fill_interval: Duration::from_millis(50),
    };
    let authorizations = [
        None,
        Some(Authorization {
            rules: rich_rules(),
            default_action: AuthzAction::Deny,
        }),
        Some(Authorization {
            rules: rich_rules(),
            default_action: AuthzAction::Allow,
        }),
        Some(Authorization {
            rules: vec![],
            default_action: AuthzAction::Deny,
        }),
        Some(Authorization {
            rules: vec![],
            default_action: AuthzAction::Allow,
        }),
    ];
    for tls in [
        InboundTls::Plaintext,
        InboundTls::Permissive,
        InboundTls::Strict,
    ] {
        for authz in &authorizations {
            for rate_limit in [None, Some(limit)] {
                let sent = server(tls, authz.clone(), rate_limit);
                let back = round_trip(&sent);
                assert_eq!(
                    decision(back.authorization.as_ref()),
                    decision(sent.authorization.as_ref()),
                    "{tls:?} {authz:?}"
                );
                assert_eq!(back.rate_limit, sent.rate_limit);
                assert_eq!((back.routes, back.tls), (sent.routes, sent.tls));
            }
        }
    }
}

#[test]
fn what_the_wire_cannot_carry_comes_back_with_the_same_meaning() {
    // ALLOW rules under a default of ALLOW decide nothing: they are not sent.
    let allow_all = Authorization {
        rules: vec![rule("r", AuthzAction::Allow, vec![], vec![])],
        default_action: AuthzAction::Allow,
    };
    let back = round_trip(&server(InboundTls::Strict, Some(allow_all), None));
    assert_eq!(back.authorization, None);

    // A deny-all default comes back exactly.
    let deny_all = Authorization {
        rules: vec![],
        default_action: AuthzAction::Deny,
    };
    let back = round_trip(&server(InboundTls::Strict, Some(deny_all.clone()), None));
    assert_eq!(back.authorization, Some(deny_all));
}

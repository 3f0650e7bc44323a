use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::CidrRange;
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::rbac::v3::{permission, principal};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    PathMatcher, StringMatcher, string_matcher::MatchPattern,
};

use super::*;
use crate::model::{self, Authorization, HeaderMatch};
use crate::xds::decode::fixtures::{address, any, hcm_rds, router};
use crate::xds::decode::listener;

const CTX: Context<'static> = Context {
    kind: "Listener",
    resource: "l",
};

fn exact(s: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Exact(s.into())),
        ignore_case: false,
    }
}

fn id(identifier: Identifier) -> rbac::Principal {
    rbac::Principal {
        identifier: Some(identifier),
    }
}

fn spiffe(m: MatchPattern) -> rbac::Principal {
    id(Identifier::Authenticated(principal::Authenticated {
        principal_name: Some(StringMatcher {
            match_pattern: Some(m),
            ignore_case: false,
        }),
    }))
}

fn perm(rule: Rule) -> rbac::Permission {
    rbac::Permission { rule: Some(rule) }
}

fn policy_of(principals: Vec<rbac::Principal>, permissions: Vec<rbac::Permission>) -> Policy {
    Policy {
        principals,
        permissions,
        ..Default::default()
    }
}

fn rbac_config(action: Action, policies: Vec<(&str, Policy)>) -> Rbac {
    Rbac {
        rules: Some(rbac::Rbac {
            action: action as i32,
            policies: policies
                .into_iter()
                .map(|(name, p)| (name.to_string(), p))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn decode(config: &Rbac) -> Result<RbacFilter, DecodeError> {
    rbac_filter(CTX, "f", &any(type_url::HTTP_RBAC, config))
}

fn anyone() -> rbac::Principal {
    id(Identifier::Any(true))
}

fn everything() -> rbac::Permission {
    perm(Rule::Any(true))
}

#[test]
fn any_principal_and_permission_match_everyone_and_everything() {
    let got = decode(&rbac_config(
        Action::Deny,
        vec![("all", policy_of(vec![anyone()], vec![everything()]))],
    ));
    let expected = AuthzRule {
        name: "all".into(),
        action: AuthzAction::Deny,
        from: vec![],
        to: vec![],
    };
    assert_eq!(got, Ok(RbacFilter::Deny(vec![expected])));
}

#[test]
fn principal_name_prefix_is_a_spiffe_id_match() {
    let prefix = "spiffe://cluster.local/ns/demo/sa/";
    let got = decode(&rbac_config(
        Action::Allow,
        vec![(
            "demo",
            policy_of(
                vec![
                    spiffe(MatchPattern::Prefix(prefix.into())),
                    id(Identifier::Authenticated(principal::Authenticated {
                        principal_name: None,
                    })),
                ],
                vec![everything()],
            ),
        )],
    ))
    .unwrap();
    let RbacFilter::Allow(rules) = got else {
        panic!("not an ALLOW filter: {got:?}");
    };
    assert_eq!(
        rules[0].from,
        [
            Principal::SpiffeId(StringMatch::Prefix(prefix.into())),
            Principal::Authenticated
        ]
    );
}

#[test]
fn and_rules_of_url_path_and_method_are_one_permission() {
    let method = HeaderMatcher {
        name: ":method".into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(exact("GET"))),
        ..Default::default()
    };
    let tenant = HeaderMatcher {
        name: "X-Tenant".into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(exact("blue"))),
        ..Default::default()
    };
    let and = perm(Rule::AndRules(permission::Set {
        rules: vec![
            perm(Rule::UrlPath(PathMatcher {
                rule: Some(path_matcher::Rule::Path(exact("/hello"))),
            })),
            perm(Rule::Header(method)),
            perm(Rule::Header(tenant)),
        ],
    }));
    let grpc = perm(Rule::UrlPath(PathMatcher {
        rule: Some(path_matcher::Rule::Path(StringMatcher {
            match_pattern: Some(MatchPattern::Prefix("/demo.ServiceB/".into())),
            ignore_case: false,
        })),
    }));
    let either = perm(Rule::OrRules(permission::Set {
        rules: vec![and, grpc],
    }));
    let got = decode(&rbac_config(
        Action::Deny,
        vec![("r", policy_of(vec![anyone()], vec![either]))],
    ))
    .unwrap();
    let RbacFilter::Deny(rules) = got else {
        panic!("not a DENY filter: {got:?}");
    };
    assert_eq!(
        rules[0].to,
        [
            Permission {
                path: Some(StringMatch::Exact("/hello".into())),
                method: Some("GET".into()),
                headers: vec![HeaderMatch {
                    name: "x-tenant".into(),
                    matcher: StringMatch::Exact("blue".into()),
                    invert: false,
                }],
            },
            Permission {
                path: Some(StringMatch::Prefix("/demo.ServiceB/".into())),
                ..Default::default()
            }
        ]
    );
}

#[test]
fn unsupported_principals_and_permissions_name_the_field() {
    let by_ip = id(Identifier::RemoteIp(CidrRange::default()));
    let nested = id(Identifier::OrIds(principal::Set {
        ids: vec![anyone(), id(Identifier::NotId(Box::new(anyone())))],
    }));
    let port = perm(Rule::DestinationPort(8080));
    let cases = [
        (
            policy_of(vec![anyone(), by_ip], vec![everything()]),
            "f.rules.policies[\"p\"].principals[1].remote_ip",
        ),
        (
            policy_of(vec![nested], vec![everything()]),
            "f.rules.policies[\"p\"].principals[0].or_ids.ids[1].not_id",
        ),
        (
            policy_of(vec![anyone()], vec![port]),
            "f.rules.policies[\"p\"].permissions[0].destination_port",
        ),
        (
            policy_of(vec![], vec![everything()]),
            "f.rules.policies[\"p\"].principals",
        ),
        (
            policy_of(vec![id(Identifier::Any(false))], vec![everything()]),
            "f.rules.policies[\"p\"].principals[0].any",
        ),
        (
            Policy {
                condition: Some(Default::default()),
                ..policy_of(vec![anyone()], vec![everything()])
            },
            "f.rules.policies[\"p\"].condition",
        ),
    ];
    for (policy, field) in cases {
        let err = decode(&rbac_config(Action::Allow, vec![("p", policy)])).unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }
    let matcher = Rbac {
        matcher: Some(Default::default()),
        ..Default::default()
    };
    assert_eq!(decode(&matcher).unwrap_err().field, "f.matcher");
}

#[test]
fn log_action_and_missing_rules_enforce_nothing() {
    let log = rbac_config(
        Action::Log,
        vec![("p", policy_of(vec![anyone()], vec![everything()]))],
    );
    assert_eq!(decode(&log), Ok(RbacFilter::Nothing));
    assert_eq!(decode(&Rbac::default()), Ok(RbacFilter::Nothing));
}

fn rbac_http_filter(name: &str, config: &Rbac) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(
            type_url::HTTP_RBAC,
            config,
        ))),
        ..Default::default()
    }
}

fn server_with(filters: Vec<HttpFilter>) -> Listener {
    let mut hcm = hcm_rds("inbound");
    hcm.http_filters = filters;
    hcm.http_filters.push(router());
    Listener {
        name: "grpc/server?xds.resource.listening_address=127.0.0.1:8080".into(),
        address: Some(address("127.0.0.1", 8080)),
        default_filter_chain: Some(FilterChain {
            filters: vec![Filter {
                name: "hcm".into(),
                config_type: Some(filter::ConfigType::TypedConfig(any(
                    type_url::HTTP_CONNECTION_MANAGER,
                    &hcm,
                ))),
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn authorization(proto: &Listener) -> Result<Option<Authorization>, DecodeError> {
    match listener(proto)? {
        model::Listener::Server(l) => Ok(l.authorization),
        other => panic!("not a server listener: {other:?}"),
    }
}

#[test]
fn a_deny_and_an_allow_filter_make_one_authorization() {
    let servicea = "spiffe://cluster.local/ns/demo/sa/servicea";
    let deny = rbac_config(
        Action::Deny,
        vec![(
            "no-plaintext-b",
            policy_of(vec![anyone()], vec![everything()]),
        )],
    );
    let allow = rbac_config(
        Action::Allow,
        vec![(
            "servicea",
            policy_of(
                vec![spiffe(MatchPattern::Exact(servicea.into()))],
                vec![everything()],
            ),
        )],
    );
    // The ALLOW filter first: the order of the filters does not change the decision.
    let proto = server_with(vec![
        rbac_http_filter("allow", &allow),
        rbac_http_filter("deny", &deny),
    ]);
    let rule = |name: &str, action, from| AuthzRule {
        name: name.into(),
        action,
        from,
        to: vec![],
    };
    assert_eq!(
        authorization(&proto),
        Ok(Some(Authorization {
            rules: vec![
                rule("no-plaintext-b", AuthzAction::Deny, vec![]),
                rule(
                    "servicea",
                    AuthzAction::Allow,
                    vec![Principal::SpiffeId(StringMatch::Exact(servicea.into()))]
                ),
            ],
            default_action: AuthzAction::Deny,
        }))
    );

    // Only a DENY filter: the default allows.
    let proto = server_with(vec![rbac_http_filter("deny", &deny)]);
    let got = authorization(&proto).unwrap().unwrap();
    assert_eq!(got.default_action, AuthzAction::Allow);

    let proto = server_with(vec![
        rbac_http_filter("allow", &allow),
        rbac_http_filter("allow2", &allow),
    ]);
    let err = authorization(&proto).unwrap_err();
    assert_eq!(
        err.field,
        "default_filter_chain.filters[0].typed_config.http_filters[1]"
    );
    assert!(err.reason.contains("second RBAC filter"), "{err}");

    let proto = server_with(vec![
        rbac_http_filter("same", &allow),
        rbac_http_filter("same", &deny),
    ]);
    let err = authorization(&proto).unwrap_err();
    assert!(err.reason.contains("unique"), "{err}");
}

#[test]
fn an_rbac_filter_is_unknown_to_clients_and_must_be_optional_there() {
    let allow = rbac_config(Action::Allow, vec![]);
    let mut hcm = hcm_rds("rc");
    hcm.http_filters = vec![rbac_http_filter("rbac", &allow), router()];
    let client = Listener {
        name: "l".into(),
        api_listener: Some(envoy_types::pb::envoy::config::listener::v3::ApiListener {
            api_listener: Some(any(type_url::HTTP_CONNECTION_MANAGER, &hcm)),
        }),
        ..Default::default()
    };
    let err = listener(&client).unwrap_err();
    assert!(err.reason.contains("is_optional"), "{err}");
}

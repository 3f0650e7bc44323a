//! A server connection manager's inbound policies, gathered from its HTTP filters.
//!
//! Every filter must let a call through, so the RBAC filters combine into one
//! [`Authorization`]: the rules of every DENY filter are DENY rules, and an ALLOW filter's
//! rules are the ALLOW rules with a default of DENY (without one, the default is ALLOW and no
//! ALLOW rule is needed). Two ALLOW filters would require a call to match a rule of each, which
//! the model cannot say, so a second one is an error; so is a second rate limit filter. Their
//! order does not matter to which calls get through. A filter `disabled` until a route enables
//! it is not supported for either kind, since per-route overrides are not.

use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use envoy_types::pb::google::protobuf::Any;

use super::authz::{RbacFilter, rbac_filter};
use super::error::{Context, DecodeError};
use super::rate_limit::local_rate_limit;
use crate::model::{Authorization, AuthzAction, AuthzRule, LocalRateLimit};
use crate::xds::type_url;

/// The inbound policies seen so far in one connection manager.
#[derive(Debug, Default)]
pub(crate) struct InboundFilters {
    deny: Vec<AuthzRule>,
    /// The ALLOW filter's field and rules.
    allow: Option<(String, Vec<AuthzRule>)>,
    /// The rate limit filter's field and limit.
    rate_limit: Option<(String, Option<LocalRateLimit>)>,
}

/// What a server's HTTP filters enforce.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InboundPolicies {
    /// Which calls get through; `None`: all.
    pub(crate) authorization: Option<Authorization>,
    /// How many; `None`: no bound.
    pub(crate) rate_limit: Option<LocalRateLimit>,
}

impl InboundFilters {
    /// Takes the filter at `field` (config `any`) if it is an RBAC or rate limit filter;
    /// `false` if it is neither.
    pub(crate) fn take(
        &mut self,
        ctx: Context<'_>,
        field: &str,
        filter: &HttpFilter,
        any: &Any,
    ) -> Result<bool, DecodeError> {
        let url = any.type_url.as_str();
        if url != type_url::HTTP_RBAC && url != type_url::LOCAL_RATE_LIMIT {
            return Ok(false);
        }
        if filter.disabled {
            return Err(ctx.error(
                format!("{field}.disabled"),
                "is not supported: filters cannot be enabled per route; remove the filter instead",
            ));
        }
        let config = format!("{field}.typed_config");
        if url == type_url::LOCAL_RATE_LIMIT {
            if let Some((first, _)) = &self.rate_limit {
                return Err(ctx.error(
                    field,
                    format!("is a second rate limit filter after {first}; keep one"),
                ));
            }
            self.rate_limit = Some((field.into(), local_rate_limit(ctx, &config, any)?));
            return Ok(true);
        }
        match rbac_filter(ctx, &config, any)? {
            RbacFilter::Nothing => {}
            RbacFilter::Deny(rules) => self.deny.extend(rules),
            RbacFilter::Allow(rules) => {
                if let Some((first, _)) = &self.allow {
                    return Err(ctx.error(
                        field,
                        format!(
                            "is a second RBAC filter with action ALLOW after {first}; merge \
                             their policies into one filter"
                        ),
                    ));
                }
                self.allow = Some((field.into(), rules));
            }
        }
        Ok(true)
    }

    /// The policies of the filters taken.
    pub(crate) fn finish(self) -> InboundPolicies {
        let authorization = match (self.deny, self.allow) {
            (deny, None) if deny.is_empty() => None,
            (deny, None) => Some(Authorization {
                rules: deny,
                default_action: AuthzAction::Allow,
            }),
            (mut rules, Some((_, allow))) => {
                rules.extend(allow);
                Some(Authorization {
                    rules,
                    default_action: AuthzAction::Deny,
                })
            }
        };
        InboundPolicies {
            authorization,
            rate_limit: self.rate_limit.and_then(|(_, limit)| limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::rbac::v3::{self as rbac, rbac::Action};
    use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as RateLimitProto;
    use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac;
    use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;

    use super::*;
    use crate::xds::decode::fixtures::any;

    const CTX: Context<'static> = Context {
        kind: "Listener",
        resource: "l",
    };

    fn take(
        filters: &mut InboundFilters,
        field: &str,
        disabled: bool,
        config: &Any,
    ) -> Result<bool, DecodeError> {
        let filter = HttpFilter {
            name: field.into(),
            disabled,
            ..Default::default()
        };
        filters.take(CTX, field, &filter, config)
    }

    fn rbac(action: Action) -> Any {
        let config = Rbac {
            rules: Some(rbac::Rbac {
                action: action as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        any(type_url::HTTP_RBAC, &config)
    }

    /// A rate limit filter left at Envoy's default of 0 % enforced.
    fn idle_rate_limit() -> Any {
        let config = RateLimitProto {
            token_bucket: Some(envoy_types::pb::envoy::r#type::v3::TokenBucket {
                max_tokens: 1,
                tokens_per_fill: None,
                fill_interval: Some(envoy_types::pb::google::protobuf::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
            }),
            ..Default::default()
        };
        any(type_url::LOCAL_RATE_LIMIT, &config)
    }

    #[test]
    fn other_filters_are_left_to_the_caller() {
        let mut filters = InboundFilters::default();
        let router = any(type_url::ROUTER, &Router::default());
        assert_eq!(take(&mut filters, "f", false, &router), Ok(false));
        assert_eq!(
            filters.finish(),
            InboundPolicies {
                authorization: None,
                rate_limit: None
            }
        );
    }

    #[test]
    fn an_empty_allow_filter_denies_every_call() {
        let mut filters = InboundFilters::default();
        assert_eq!(
            take(&mut filters, "a", false, &rbac(Action::Allow)),
            Ok(true)
        );
        // An empty DENY filter refuses nothing.
        assert_eq!(
            take(&mut filters, "d", false, &rbac(Action::Deny)),
            Ok(true)
        );
        assert_eq!(
            filters.finish().authorization,
            Some(Authorization {
                rules: vec![],
                default_action: AuthzAction::Deny
            })
        );
    }

    #[test]
    fn one_rate_limit_filter_and_none_disabled() {
        let mut filters = InboundFilters::default();
        assert_eq!(
            take(&mut filters, "r1", false, &idle_rate_limit()),
            Ok(true)
        );
        let err = take(&mut filters, "r2", false, &idle_rate_limit()).unwrap_err();
        assert_eq!(err.field, "r2");
        assert!(err.reason.contains("after r1"), "{err}");
        assert_eq!(
            filters.finish().rate_limit,
            None,
            "0 % enforced limits nothing"
        );

        let mut filters = InboundFilters::default();
        let err = take(&mut filters, "d", true, &rbac(Action::Deny)).unwrap_err();
        assert_eq!(err.field, "d.disabled");
        let garbage = Any {
            type_url: type_url::HTTP_RBAC.into(),
            value: vec![0xff],
        };
        let err = take(&mut filters, "g", false, &garbage).unwrap_err();
        assert_eq!(err.field, "g.typed_config");
    }
}

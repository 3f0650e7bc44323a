//! Authorization: which callers may make which calls.
//!
//! An [`Authorization`] is a list of ALLOW and DENY rules and a default action. A call matching
//! a DENY rule is refused; otherwise a call matching an ALLOW rule is accepted; otherwise the
//! default action decides. A rule matches when the caller matches any of its principals (none:
//! every caller, plaintext ones too) and the request any of its permissions (none: every
//! request); a permission's conditions (path, method, headers) must all hold. The caller is the
//! SPIFFE ID it proved over mTLS ([`PeerIdentity`]); a plaintext caller matches no principal.
//!
//! A refused call gets `PERMISSION_DENIED` (gRPC, trailers-only, with a message naming the rule)
//! or `403 Forbidden` (HTTP), and is logged at `info` with the caller, the path and the rule.
//! [`AuthzLayer`] reads the policy in force on every call, so a new policy applies to the next
//! call. [`MeshServer`](crate::MeshServer) applies it with the policy of its inbound xDS
//! listener; it is a plain tower layer, usable on its own:
//!
//! ```
//! use mesh_core::model::{Authorization, AuthzAction};
//! use tower::Layer;
//!
//! let app = tower::service_fn(|_: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let nobody = Authorization { rules: Vec::new(), default_action: AuthzAction::Deny };
//! let app = mesh_server::AuthzLayer::fixed(nobody).layer(app);
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode};
use mesh_core::identity::PeerIdentity;
use mesh_core::model::{Authorization, AuthzAction, AuthzRule, Permission, Principal};
use tokio::sync::watch;

use crate::InboundPolicy;
pub use crate::body::ResponseBody;
use crate::counters::Counters;
pub use crate::respond::ResponseFuture;
use crate::respond::{Refusal, drain, is_grpc};

/// A call as the rules see it.
pub(crate) struct Call<'a> {
    /// The caller's SPIFFE ID; `None` for a plaintext caller.
    pub(crate) caller: Option<&'a str>,
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a HeaderMap,
}

/// What the rules say about a call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verdict<'a> {
    /// Whether the call is accepted.
    pub(crate) allowed: bool,
    /// The rule that decided; `None`: the default action.
    pub(crate) rule: Option<&'a str>,
}

/// Decides `call` by `authz`: DENY rules first, then ALLOW rules, then the default action.
pub(crate) fn evaluate<'a>(authz: &'a Authorization, call: &Call<'_>) -> Verdict<'a> {
    let first = |action| {
        authz
            .rules
            .iter()
            .find(|rule| rule.action == action && rule_matches(rule, call))
    };
    if let Some(rule) = first(AuthzAction::Deny) {
        return Verdict {
            allowed: false,
            rule: Some(&rule.name),
        };
    }
    if let Some(rule) = first(AuthzAction::Allow) {
        return Verdict {
            allowed: true,
            rule: Some(&rule.name),
        };
    }
    Verdict {
        allowed: authz.default_action == AuthzAction::Allow,
        rule: None,
    }
}

fn rule_matches(rule: &AuthzRule, call: &Call<'_>) -> bool {
    (rule.from.is_empty() || rule.from.iter().any(|p| principal_matches(p, call.caller)))
        && (rule.to.is_empty() || rule.to.iter().any(|p| permission_matches(p, call)))
}

fn principal_matches(principal: &Principal, caller: Option<&str>) -> bool {
    match (principal, caller) {
        (_, None) => false,
        (Principal::Authenticated, Some(_)) => true,
        (Principal::SpiffeId(matcher), Some(id)) => matcher.matches(id),
    }
}

fn permission_matches(permission: &Permission, call: &Call<'_>) -> bool {
    permission
        .path
        .as_ref()
        .is_none_or(|m| m.matches(call.path))
        && permission
            .method
            .as_ref()
            .is_none_or(|m| m == call.method.as_str())
        && permission
            .headers
            .iter()
            .all(|h| h.matches(call.method, call.headers))
}

/// The caller's SPIFFE ID, as its [`PeerIdentity`] rendered it once per connection.
fn caller(extensions: &Extensions) -> Option<&str> {
    extensions.get::<PeerIdentity>().map(PeerIdentity::as_str)
}

/// Refuses the calls the authorization in force does not allow; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct AuthzLayer {
    policy: watch::Receiver<Arc<InboundPolicy>>,
    counters: Counters,
}

impl AuthzLayer {
    /// Applies the `authorization` of the policy `policy` holds at each call.
    pub fn new(policy: watch::Receiver<Arc<InboundPolicy>>) -> Self {
        Self {
            policy,
            counters: Counters::default(),
        }
    }

    /// Always applies `authorization`.
    pub fn fixed(authorization: Authorization) -> Self {
        Self::new(
            InboundPolicy {
                authorization: Some(authorization),
                rate_limit: None,
            }
            .fixed(),
        )
    }

    /// Counts calls and denials in `counters`.
    pub(crate) fn counting(mut self, counters: Counters) -> Self {
        self.counters = counters;
        self
    }
}

impl<S> tower::Layer<S> for AuthzLayer {
    type Service = Authz<S>;

    fn layer(&self, inner: S) -> Authz<S> {
        Authz {
            inner,
            policy: self.policy.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// A service refusing the calls the authorization in force does not allow; made by
/// [`AuthzLayer`].
#[derive(Clone, Debug)]
pub struct Authz<S> {
    inner: S,
    policy: watch::Receiver<Arc<InboundPolicy>>,
    counters: Counters,
}

impl<S, B, ReqBody> tower::Service<Request<ReqBody>> for Authz<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.counters.request();
        // Most servers have no authorization: they pay a read, not a reference count.
        if self.policy.borrow().authorization.is_none() {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let policy = Arc::clone(&self.policy.borrow());
        let Some(authz) = &policy.authorization else {
            return ResponseFuture::inner(self.inner.call(request));
        };
        let caller = caller(request.extensions());
        let call = Call {
            caller,
            method: request.method(),
            path: request.uri().path(),
            headers: request.headers(),
        };
        let verdict = evaluate(authz, &call);
        if verdict.allowed {
            return ResponseFuture::inner(self.inner.call(request));
        }
        self.counters
            .denied(request.extensions().get::<PeerIdentity>(), verdict.rule);
        let by = match verdict.rule {
            Some(rule) => format!("rule {rule}"),
            None => "the default action (no rule allows this call)".to_string(),
        };
        tracing::info!(
            caller = caller.unwrap_or("plaintext"),
            method = %call.method,
            path = call.path,
            rule = verdict.rule.unwrap_or("default action"),
            "denied a call"
        );
        let refusal = Refusal {
            http: StatusCode::FORBIDDEN,
            grpc: 7,
            message: format!("permission denied by {by}"),
            header: None,
        };
        let response = refusal.response(is_grpc(request.headers()));
        ResponseFuture::refused(response, drain(request.into_body()))
    }
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;

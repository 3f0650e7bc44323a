//! The app the policy tests serve: an axum router with `GET /hello` and, at
//! `/demo.ServiceB/Get`, a tonic unary service; both answer with the caller's SPIFFE ID.

use std::convert::Infallible;
use std::future::{Ready, ready};

use axum::Router;
use axum::routing::get;
use envoy_types::pb::google::protobuf::StringValue;
use http::Request;
use mesh_core::identity::PeerIdentity;
use tonic::server::{Grpc, UnaryService};
use tonic_prost::ProstCodec;

/// The gRPC path of the demo's `Get`.
pub const GET: &str = "/demo.ServiceB/Get";

fn caller(extensions: &http::Extensions) -> String {
    match extensions.get::<PeerIdentity>() {
        Some(peer) => peer.to_string(),
        None => "-".to_string(),
    }
}

/// `Get`: replies `VALUE from CALLER`.
#[derive(Clone)]
struct Get;

impl UnaryService<StringValue> for Get {
    type Response = StringValue;
    type Future = Ready<Result<tonic::Response<StringValue>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<StringValue>) -> Self::Future {
        let value = format!(
            "{} from {}",
            request.get_ref().value,
            caller(request.extensions())
        );
        ready(Ok(tonic::Response::new(StringValue { value })))
    }
}

/// The router.
pub fn router() -> Router {
    let grpc = tower::service_fn(|request: Request<axum::body::Body>| async move {
        let mut grpc = Grpc::new(ProstCodec::<StringValue, StringValue>::default());
        Ok::<_, Infallible>(grpc.unary(Get, request).await)
    });
    Router::new()
        .route(
            "/hello",
            get(|request: Request<axum::body::Body>| async move {
                format!("hello {}", caller(request.extensions()))
            }),
        )
        .route_service(GET, grpc)
}

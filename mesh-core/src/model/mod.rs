//! The validated domain model of the mesh.
//!
//! These types say what the mesh is configured to do, with no protobuf in sight: the xDS edge
//! (`crate::xds`) turns wire resources into them once, validating as it goes, and turns them back
//! into wire resources for the control service. Everything inside the mesh works on these types.
//!
//! The four kinds mirror the four xDS resource types that gRPC's proxyless clients use:
//!
//! | model | xDS resource | what it says |
//! |---|---|---|
//! | [`Listener`] | `Listener` (LDS) | which route table serves a target name such as `serviceb.demo:50051` |
//! | [`RouteConfig`] | `RouteConfiguration` (RDS) | how a request is matched and which clusters, at which weights, take it |
//! | [`Cluster`] | `Cluster` (CDS) | a named group of endpoints and how to balance over them |
//! | [`ClusterLoadAssignment`] | `ClusterLoadAssignment` (EDS) | the endpoints of a cluster right now |
//!
//! Every type serializes (`serde::Serialize`) for config dumps: durations as text such as
//! `"0.25s"`, gRPC status codes as their numbers, patterns as their source.

mod cluster;
mod endpoint;
mod inbound_policy;
mod listener;
mod matcher;
mod policy;
mod route;
mod serde_text;

pub use cluster::{Cluster, UpstreamProtocol, UpstreamTls};
pub use endpoint::{ClusterLoadAssignment, Endpoint, HealthStatus};
pub use inbound_policy::{
    Authorization, AuthzAction, AuthzRule, LocalRateLimit, Permission, Principal,
};
pub use listener::{ClientListener, InboundTls, Listener, RouteSource, ServerListener};
pub use matcher::{Pattern, PatternError, StringMatch};
pub use policy::{
    AbortStatus, CircuitBreaker, ClusterPolicy, DEFAULT_MIN_RING_SIZE, FailurePercentageEjection,
    FaultAbort, FaultDelay, FaultInjection, LbPolicy, MAX_ATTEMPTS, MAX_RING_SIZE_LIMIT,
    OutlierDetection, RETRIABLE_GRPC_CODES, RetryBackoff, RetryBudget, RetryOn, RetryPolicy,
    RoutePolicy, Share, SuccessRateEjection, grpc_code_of_http_status,
};
pub use route::{
    HeaderMatch, PathMatch, Route, RouteAction, RouteConfig, RouteMatch, VirtualHost,
    WeightedCluster,
};

//! The demo's generated gRPC code (`proto/demo.proto`).
#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("demo");

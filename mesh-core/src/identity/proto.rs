//! The certificate service's generated gRPC code (`proto/ca.proto`), wire-compatible with the
//! shape of Istio's `istio.v1.auth.IstioCertificateService`.
#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("istio.v1.auth");

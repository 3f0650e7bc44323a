//! A trace collector that accepts OTLP/gRPC exports and discards them, so that S2's tracing
//! costs what exporting to a real collector costs the app. It counts the spans it got and
//! prints the count when it stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Request, Response, Status};

/// Counts the spans it receives, then drops them.
#[derive(Clone, Debug, Default)]
pub struct Sink {
    spans: Arc<AtomicU64>,
}

impl Sink {
    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Serves the sink on a free loopback port until SIGTERM, printing `listening on ADDR` first.
pub async fn run() -> anyhow::Result<()> {
    let loopback: SocketAddr = "127.0.0.1:0".parse().context("the loopback address")?;
    let incoming =
        tonic::transport::server::TcpIncoming::bind(loopback).context("binding the OTLP sink")?;
    println!("otlp-sink listening on {}", incoming.local_addr()?);
    let sink = Sink::default();
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(sink.clone()))
        .serve_with_incoming_shutdown(incoming, examples::service_b::shutdown_signal())
        .await?;
    println!("otlp-sink received {} spans", sink.spans());
    Ok(())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    #[tokio::test]
    async fn counts_the_spans_of_each_export() {
        let sink = Sink::default();
        let spans = |n| ScopeSpans {
            spans: vec![Span::default(); n],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![spans(2), spans(3)],
                ..Default::default()
            }],
        };
        sink.export(Request::new(request.clone())).await.unwrap();
        sink.export(Request::new(request)).await.unwrap();
        assert_eq!(sink.spans(), 10);
    }
}

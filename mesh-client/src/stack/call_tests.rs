//! The policy stages against real h2c/HTTP servers on loopback: retries, attempt headers,
//! budgets, deadlines, per-try timeouts, bodies, faults and the circuit breaker. Real sockets
//! need real time, so timeouts here are generous and tests assert counts, not durations.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use mesh_core::model::{
    AbortStatus, CircuitBreaker, Cluster, ClusterLoadAssignment, ClusterPolicy,
    Endpoint as ModelEndpoint, FaultAbort, FaultDelay, FaultInjection, HealthStatus, LbPolicy,
    OutlierDetection, PathMatch, RetryBackoff, RetryBudget, RetryOn, RetryPolicy, Route,
    RouteAction, RouteMatch, RoutePolicy, Share, UpstreamProtocol, VirtualHost, WeightedCluster,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::connect::{Caller, Connections, RequestBody};
use crate::counters::Counters;
use crate::resolve::{ClusterInput, Resolution, TableBuilder};
use crate::stack::Stack;
use crate::{BoxError, DEFAULT_CONFIG_TIMEOUT, Error, MeshChannel, ResponseBody};

const LISTENER: &str = "serviceb.demo:50051";

/// What a test server answers to its n-th request (the last one repeats).
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// 200 with the body `ok`.
    Ok,
    /// A trailers-only gRPC response with this status.
    Grpc(&'static str),
    /// This HTTP status.
    Http(u16),
    /// Nothing, ever.
    Stall,
}

/// A test server and what it saw: each request's headers and body.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Server {
    async fn start(script: &'static [Answer]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let log = Arc::clone(&log);
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let log = Arc::clone(&log);
                    async move {
                        let (head, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push((head.headers, body));
                            log.len()
                        };
                        let answer = script[(n - 1).min(script.len() - 1)];
                        Ok::<_, Infallible>(respond(answer).await)
                    }
                });
                tokio::spawn(async move {
                    let http = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = http.serve_connection(io, service).await;
                });
            }
        });
        Server { addr, seen }
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The value of header `name` in each request seen.
    fn header(&self, name: &str) -> Vec<Option<String>> {
        let seen = self.seen.lock().unwrap();
        let value = |h: &HeaderMap| h.get(name).map(|v| v.to_str().unwrap().to_string());
        seen.iter().map(|(h, _)| value(h)).collect()
    }

    fn bodies(&self) -> Vec<Bytes> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn respond(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    match answer {
        Answer::Ok => *response.body_mut() = Full::new(Bytes::from("ok")),
        Answer::Grpc(code) => {
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, "application/grpc".parse().unwrap());
            headers.insert("grpc-status", code.parse().unwrap());
        }
        Answer::Http(status) => *response.status_mut() = StatusCode::from_u16(status).unwrap(),
        Answer::Stall => std::future::pending().await,
    }
    response
}

/// A stack whose one route (with `policy`) sends everything to cluster `b` (with `cluster`)
/// at `endpoints`.
fn new_stack(
    caller: Caller,
    policy: RoutePolicy,
    cluster: ClusterPolicy,
    endpoints: &[SocketAddr],
) -> Stack {
    let route = Route {
        name: "all".into(),
        matcher: RouteMatch {
            path: PathMatch::Prefix(String::new()),
            case_sensitive: true,
            headers: Vec::new(),
        },
        action: RouteAction::Forward(vec![WeightedCluster {
            cluster: "b".into(),
            weight: 1,
        }]),
        policy,
    };
    let vhost = VirtualHost {
        name: "b".into(),
        domains: vec![LISTENER.into(), "serviceb.demo".into()],
        routes: vec![route],
    };
    let model = Cluster {
        name: "b".into(),
        eds_service_name: "b".into(),
        policy: cluster,
        protocol: UpstreamProtocol::Http2,
        tls: None,
    };
    let assignment = ClusterLoadAssignment {
        cluster_name: "b".into(),
        endpoints: endpoints
            .iter()
            .map(|a| ModelEndpoint {
                address: *a,
                weight: 1,
                health: HealthStatus::Healthy,
            })
            .collect(),
    };
    let inputs = HashMap::from([(
        "b".to_string(),
        ClusterInput::Present(&model, Some(&assignment)),
    )]);
    let counters = Arc::new(Counters::default());
    let mut builder = TableBuilder::new(crate::balance::DEFAULT_DECAY, Arc::clone(&counters));
    let table = Resolution::Ready(builder.build(LISTENER, &vhost, &inputs));
    let (tx, rx) = watch::channel(Arc::new(table));
    // The sender may go: the last resolution stays.
    drop(tx);
    Stack::new(
        LISTENER,
        caller,
        DEFAULT_CONFIG_TIMEOUT,
        counters,
        rx,
        Connections::new(None),
    )
}

fn retry(max_attempts: u32, retry_on: RetryOn) -> RoutePolicy {
    RoutePolicy {
        retry: Some(RetryPolicy {
            max_attempts,
            retry_on,
            backoff: RetryBackoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(5),
            },
            per_try_timeout: None,
        }),
        ..Default::default()
    }
}

fn on_grpc(codes: &[tonic::Code]) -> RetryOn {
    RetryOn {
        grpc_codes: codes.to_vec(),
        ..Default::default()
    }
}

fn on_http(statuses: &[u16]) -> RetryOn {
    RetryOn {
        http_statuses: statuses.to_vec(),
        ..Default::default()
    }
}

fn boxed<B>(body: B) -> RequestBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

fn grpc_request() -> Request<RequestBody> {
    let request = Request::post("/demo.Greeter/Hello").header(CONTENT_TYPE, "application/grpc");
    request
        .body(boxed(Full::new(Bytes::from("message"))))
        .unwrap()
}

async fn call(
    stack: &Stack,
    request: Request<RequestBody>,
) -> Result<Response<ResponseBody>, Error> {
    stack.call::<Error>(request).await
}

fn header(response: &Response<ResponseBody>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_configured_grpc_status_is_retried_and_attempts_are_counted_in_headers() {
    static SCRIPT: [Answer; 3] = [Answer::Grpc("14"), Answer::Grpc("14"), Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let policy = retry(4, on_grpc(&[tonic::Code::Unavailable]));
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );

    let response = call(&stack, grpc_request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "grpc-previous-rpc-attempts").as_deref(),
        Some("2")
    );
    let previous = server.header("grpc-previous-rpc-attempts");
    assert_eq!(previous, [None, Some("1".into()), Some("2".into())]);
    // The body went out whole each time.
    assert!(server.bodies().iter().all(|b| b == "message"));
    let counters = stack.counters().snapshot();
    assert_eq!((counters.attempts, counters.retries), (3, 2));
}

#[tokio::test]
async fn a_status_the_policy_does_not_name_is_not_retried() {
    static SCRIPT: [Answer; 2] = [Answer::Grpc("13"), Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let policy = retry(4, on_grpc(&[tonic::Code::Unavailable]));
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );

    let response = call(&stack, grpc_request()).await.unwrap();
    assert_eq!(header(&response, "grpc-status").as_deref(), Some("13"));
    assert_eq!(header(&response, "grpc-previous-rpc-attempts"), None);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn http_statuses_are_retried_only_when_listed() {
    static SCRIPT: [Answer; 3] = [Answer::Http(503), Answer::Http(502), Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let policy = retry(4, on_http(&[503]));
    let stack = new_stack(
        Caller::Http,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );

    let request = Request::get("http://serviceb.demo/x").body(boxed(Full::new(Bytes::new())));
    let response = call(&stack, request.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        header(&response, "grpc-previous-rpc-attempts").as_deref(),
        Some("1")
    );
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    static SCRIPT: [Answer; 1] = [Answer::Grpc("14")];
    let server = Server::start(&SCRIPT).await;
    let policy = retry(3, on_grpc(&[tonic::Code::Unavailable]));
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );

    let response = call(&stack, grpc_request()).await.unwrap();
    assert_eq!(header(&response, "grpc-status").as_deref(), Some("14"));
    assert_eq!(
        header(&response, "grpc-previous-rpc-attempts").as_deref(),
        Some("2")
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn a_spent_retry_budget_stops_retries() {
    static SCRIPT: [Answer; 1] = [Answer::Grpc("14")];
    let server = Server::start(&SCRIPT).await;
    let policy = retry(5, on_grpc(&[tonic::Code::Unavailable]));
    // Half a retry per request, no reserve: the first call may not retry, the second once.
    let cluster = ClusterPolicy {
        retry_budget: RetryBudget {
            ratio: 0.5,
            min_per_second: 0,
            ttl: Duration::from_secs(10),
        },
        ..Default::default()
    };
    let stack = new_stack(Caller::Grpc, policy, cluster, &[server.addr]);

    for _ in 0..2 {
        let response = call(&stack, grpc_request()).await.unwrap();
        assert_eq!(header(&response, "grpc-status").as_deref(), Some("14"));
    }
    assert_eq!(server.requests(), 3);
    let counters = stack.counters().snapshot();
    assert_eq!((counters.retries, counters.budget_exhausted), (1, 2));
}

#[tokio::test]
async fn connect_failures_are_retried_on_another_endpoint() {
    static SCRIPT: [Answer; 1] = [Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let policy = retry(
        2,
        RetryOn {
            connect_failure: true,
            ..Default::default()
        },
    );
    let cluster = ClusterPolicy {
        lb: LbPolicy::RoundRobin,
        ..Default::default()
    };
    let stack = new_stack(Caller::Grpc, policy, cluster, &[closed, server.addr]);

    for _ in 0..4 {
        let response = call(&stack, grpc_request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Round robin sends some first attempts to the closed port; each is retried elsewhere.
    let counters = stack.counters().snapshot();
    assert!(counters.retries >= 1, "{counters:?}");
    assert_eq!(counters.attempts, 4 + counters.retries);
}

#[tokio::test]
async fn a_per_try_timeout_is_retried_on_another_endpoint() {
    static STALL: [Answer; 1] = [Answer::Stall];
    static OK: [Answer; 1] = [Answer::Ok];
    let (stalled, ok) = (Server::start(&STALL).await, Server::start(&OK).await);
    let mut policy = retry(2, on_grpc(&[tonic::Code::DeadlineExceeded]));
    if let Some(retry) = &mut policy.retry {
        retry.per_try_timeout = Some(Duration::from_millis(300));
    }
    let cluster = ClusterPolicy {
        lb: LbPolicy::RoundRobin,
        ..Default::default()
    };
    let stack = new_stack(Caller::Grpc, policy, cluster, &[stalled.addr, ok.addr]);

    for _ in 0..2 {
        let response = call(&stack, grpc_request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(stalled.requests() >= 1);
    assert_eq!(ok.requests(), 2);
    assert_eq!(
        stack.counters().snapshot().retries,
        stalled.requests() as u64
    );
}

#[tokio::test]
async fn an_expired_deadline_is_deadline_exceeded_and_not_retried() {
    static SCRIPT: [Answer; 1] = [Answer::Stall];
    let server = Server::start(&SCRIPT).await;
    let mut policy = retry(3, on_grpc(&[tonic::Code::DeadlineExceeded]));
    policy.timeout = Some(Duration::from_millis(300));
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );

    let status = MeshChannel::from_stack(stack)
        .oneshot(grpc_request())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("route \"all\""),
        "{}",
        status.message()
    );
    assert_eq!(server.requests(), 1);
    // The server was told how long it had.
    let sent = server.header("grpc-timeout")[0].clone().unwrap();
    let left = mesh_core::deadline::parse_timeout(&sent.parse().unwrap()).unwrap();
    assert!(
        left <= Duration::from_millis(300) && left > Duration::ZERO,
        "{sent}"
    );
}

#[tokio::test]
async fn the_deadline_of_the_request_being_served_bounds_the_call() {
    static SCRIPT: [Answer; 1] = [Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let stack = new_stack(
        Caller::Grpc,
        RoutePolicy::default(),
        ClusterPolicy::default(),
        &[server.addr],
    );

    let served = tokio::time::Instant::now() + Duration::from_secs(5);
    let response = mesh_core::deadline::scope(served, call(&stack, grpc_request())).await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    let sent = server.header("grpc-timeout")[0].clone().unwrap();
    let left = mesh_core::deadline::parse_timeout(&sent.parse().unwrap()).unwrap();
    assert!(
        left <= Duration::from_secs(5) && left > Duration::from_secs(3),
        "{sent}"
    );
}

#[tokio::test]
async fn bodies_too_large_or_still_streaming_are_sent_once_and_not_retried() {
    static SCRIPT: [Answer; 2] = [Answer::Http(503), Answer::Ok];
    let policy = retry(3, on_http(&[503]));

    let large = Server::start(&SCRIPT).await;
    let stack_large = new_stack(
        Caller::Http,
        policy.clone(),
        ClusterPolicy::default(),
        &[large.addr],
    );
    let body = boxed(Full::new(Bytes::from(vec![b'x'; 100_000])));
    let request = Request::post("http://serviceb.demo/upload")
        .body(body)
        .unwrap();
    let response = call(&stack_large, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(large.bodies()[0].len(), 100_000);
    assert_eq!(large.requests(), 1);

    let streaming = Server::start(&SCRIPT).await;
    let stack_streaming = new_stack(
        Caller::Http,
        policy,
        ClusterPolicy::default(),
        &[streaming.addr],
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(2);
    tx.send(Ok(Frame::data(Bytes::from("part one, "))))
        .await
        .unwrap();
    let body = boxed(StreamBody::new(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ));
    let request = Request::post("http://serviceb.demo/upload")
        .body(body)
        .unwrap();
    let pending = tokio::spawn({
        let stack = stack_streaming.clone();
        async move { call(&stack, request).await }
    });
    // Let the call start (this runtime has one thread) while the body is still coming.
    tokio::task::yield_now().await;
    tx.send(Ok(Frame::data(Bytes::from("part two"))))
        .await
        .unwrap();
    drop(tx);
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(streaming.bodies(), [Bytes::from("part one, part two")]);
}

fn fault(fault: FaultInjection) -> RoutePolicy {
    RoutePolicy {
        fault: Some(fault),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_injected_abort_answers_without_sending() {
    static SCRIPT: [Answer; 1] = [Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let abort = |status| FaultInjection {
        abort: Some(FaultAbort {
            status,
            share: Share::from_per_million(Share::MILLION).unwrap(),
        }),
        ..Default::default()
    };
    let policy = fault(abort(AbortStatus::Grpc(tonic::Code::Unavailable)));
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );
    let response = call(&stack, grpc_request()).await.unwrap();
    assert_eq!(header(&response, "grpc-status").as_deref(), Some("14"));
    assert_eq!(stack.counters().snapshot().injected_aborts, 1);

    let policy = fault(abort(AbortStatus::Http(429)));
    let http = new_stack(
        Caller::Http,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );
    let request = Request::get("http://serviceb.demo/").body(boxed(Full::new(Bytes::new())));
    let response = call(&http, request.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn an_injected_delay_counts_against_the_deadline() {
    static SCRIPT: [Answer; 1] = [Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let mut policy = fault(FaultInjection {
        delay: Some(FaultDelay {
            delay: Duration::from_secs(30),
            share: Share::from_per_million(Share::MILLION).unwrap(),
        }),
        ..Default::default()
    });
    policy.timeout = Some(Duration::from_millis(200));
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );
    let err = call(&stack, grpc_request()).await.unwrap_err();
    assert!(err.is_deadline_exceeded(), "{err}");
    assert_eq!(stack.counters().snapshot().injected_delays, 1);
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn a_full_circuit_breaker_fails_fast_as_unavailable_naming_the_cluster() {
    static SCRIPT: [Answer; 1] = [Answer::Stall];
    let server = Server::start(&SCRIPT).await;
    let cluster = ClusterPolicy {
        circuit_breaker: CircuitBreaker {
            max_requests: 1,
            max_pending: 0,
        },
        ..Default::default()
    };
    let stack = new_stack(
        Caller::Grpc,
        RoutePolicy::default(),
        cluster,
        &[server.addr],
    );
    let channel = MeshChannel::from_stack(stack);
    let _held = tokio::spawn(channel.clone().oneshot(grpc_request()));
    while server.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = channel.clone().oneshot(grpc_request()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status.message().contains("circuit breaker open"),
        "{}",
        status.message()
    );
    assert_eq!(channel.counters().breaker_overflows, 1);
}

#[tokio::test]
async fn a_retry_whose_backoff_ends_past_the_deadline_is_not_made() {
    static SCRIPT: [Answer; 1] = [Answer::Grpc("14")];
    let server = Server::start(&SCRIPT).await;
    let mut policy = retry(3, on_grpc(&[tonic::Code::Unavailable]));
    policy.timeout = Some(Duration::from_secs(2));
    if let Some(retry) = &mut policy.retry {
        // A pause drawn up to an hour is (all but surely) longer than the time left.
        let hour = Duration::from_secs(3600);
        retry.backoff = RetryBackoff {
            base: hour,
            max: hour,
        };
    }
    let stack = new_stack(
        Caller::Grpc,
        policy,
        ClusterPolicy::default(),
        &[server.addr],
    );

    let started = std::time::Instant::now();
    let err = call(&stack, grpc_request()).await.unwrap_err();
    assert!(err.is_deadline_exceeded(), "{err}");
    // It fails as soon as it knows, without waiting out the deadline or spending budget.
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.requests(), 1);
    assert_eq!(stack.counters().snapshot().retries, 0);
}

#[tokio::test]
async fn an_attempt_the_deadline_cuts_counts_against_its_endpoint() {
    static STALL: [Answer; 1] = [Answer::Stall];
    static OK: [Answer; 1] = [Answer::Ok];
    let (stalled, ok) = (Server::start(&STALL).await, Server::start(&OK).await);
    let policy = RoutePolicy {
        timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let cluster = ClusterPolicy {
        lb: LbPolicy::RoundRobin,
        outlier_detection: Some(OutlierDetection {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 100,
            consecutive_failures: Some(1),
            success_rate: None,
            failure_percentage: None,
        }),
        ..Default::default()
    };
    let stack = new_stack(Caller::Grpc, policy, cluster, &[stalled.addr, ok.addr]);

    let mut timed_out = 0;
    for _ in 0..4 {
        match call(&stack, grpc_request()).await {
            Ok(response) => assert_eq!(response.status(), StatusCode::OK),
            Err(err) => {
                assert!(err.is_deadline_exceeded(), "{err}");
                timed_out += 1;
            }
        }
    }
    // The stalled endpoint failed once and was ejected: round robin stopped sending it calls.
    assert_eq!(timed_out, 1);
    assert_eq!(stalled.requests(), 1);
    assert_eq!(ok.requests(), 3);
}

#[tokio::test]
async fn a_response_holds_its_breaker_slot_until_its_body_ends() {
    static SCRIPT: [Answer; 1] = [Answer::Ok];
    let server = Server::start(&SCRIPT).await;
    let cluster = ClusterPolicy {
        circuit_breaker: CircuitBreaker {
            max_requests: 1,
            max_pending: 0,
        },
        ..Default::default()
    };
    for policy in [RoutePolicy::default(), retry(2, on_grpc(&[]))] {
        let stack = new_stack(Caller::Grpc, policy, cluster.clone(), &[server.addr]);
        let streaming = call(&stack, grpc_request()).await.unwrap();
        let refused = call(&stack, grpc_request()).await.unwrap_err();
        assert!(
            refused.to_string().contains("circuit breaker open"),
            "{refused}"
        );
        let body = streaming.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
        let response = call(&stack, grpc_request()).await.unwrap();
        drop(response);
        call(&stack, grpc_request()).await.unwrap();
    }
}

#[tokio::test]
async fn retries_avoid_every_endpoint_tried_before() {
    static SCRIPT: [Answer; 1] = [Answer::Grpc("14")];
    let servers = [
        Server::start(&SCRIPT).await,
        Server::start(&SCRIPT).await,
        Server::start(&SCRIPT).await,
    ];
    let mut policy = retry(3, on_grpc(&[tonic::Code::Unavailable]));
    policy.hash_header = Some("user".into());
    let cluster = ClusterPolicy {
        lb: LbPolicy::RingHash {
            min_ring_size: 64,
            max_ring_size: 64,
        },
        ..Default::default()
    };
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let stack = new_stack(Caller::Grpc, policy, cluster, &addrs);

    // Every user's hash has an owner, then the next endpoint on the ring, then the owner again
    // if only the last endpoint were avoided.
    for user in 0..10 {
        let mut request = grpc_request();
        let value = http::HeaderValue::from(user);
        request.headers_mut().insert("user", value);
        let response = call(&stack, request).await.unwrap();
        assert_eq!(header(&response, "grpc-status").as_deref(), Some("14"));
    }
    for server in &servers {
        assert_eq!(server.requests(), 10, "each call tries each endpoint once");
    }
}

#[tokio::test]
async fn a_failing_request_body_does_not_count_against_the_endpoint() {
    static OK: [Answer; 1] = [Answer::Ok];
    let servers = [Server::start(&OK).await, Server::start(&OK).await];
    let cluster = ClusterPolicy {
        lb: LbPolicy::RoundRobin,
        outlier_detection: Some(OutlierDetection {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 100,
            consecutive_failures: Some(1),
            success_rate: None,
            failure_percentage: None,
        }),
        ..Default::default()
    };
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let stack = new_stack(Caller::Grpc, RoutePolicy::default(), cluster, &addrs);

    let failing = futures_util::stream::iter([
        Ok(Frame::data(Bytes::from("part"))),
        Err(std::io::Error::other("the caller's stream failed")),
    ]);
    let request = Request::post("/demo.Greeter/Hello")
        .header(CONTENT_TYPE, "application/grpc")
        .body(boxed(StreamBody::new(failing)))
        .unwrap();
    assert!(call(&stack, request).await.is_err());
    for _ in 0..4 {
        call(&stack, grpc_request()).await.unwrap();
    }
    // Nobody was ejected: round robin still takes turns.
    let answered: Vec<_> = servers.iter().map(Server::requests).collect();
    assert!(answered.iter().all(|&n| n >= 2), "{answered:?}");
}

/// An h2 server resetting every stream with `reason`; the address and the streams it saw.
async fn resetting_server(reason: h2::Reason) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((_request, mut respond))) = connection.accept().await {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    respond.send_reset(reason);
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn only_a_refused_stream_is_retried_as_a_connect_failure() {
    static OK: [Answer; 1] = [Answer::Ok];
    let on_connect = RetryOn {
        connect_failure: true,
        ..Default::default()
    };
    let round_robin = ClusterPolicy {
        lb: LbPolicy::RoundRobin,
        ..Default::default()
    };

    // REFUSED_STREAM: the endpoint did not process the request, so it goes to the next one.
    let (refusing, refused) = resetting_server(h2::Reason::REFUSED_STREAM).await;
    let ok = Server::start(&OK).await;
    let policy = retry(2, on_connect.clone());
    let stack = new_stack(
        Caller::Grpc,
        policy,
        round_robin.clone(),
        &[refusing, ok.addr],
    );
    for _ in 0..2 {
        let response = call(&stack, grpc_request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // Any other reset came after the request went out: it may have run, so it is not retried.
    let (resetting, reset) = resetting_server(h2::Reason::INTERNAL_ERROR).await;
    let ok = Server::start(&OK).await;
    let policy = retry(2, on_connect);
    let stack = new_stack(Caller::Grpc, policy, round_robin, &[resetting, ok.addr]);
    let mut failed = 0;
    for _ in 0..2 {
        if call(&stack, grpc_request()).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 1);
    assert_eq!(reset.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(ok.requests(), 1);
    assert_eq!(stack.counters().snapshot().retries, 0);
}

use std::convert::Infallible;

use tower::{Layer, ServiceExt};

use super::*;

/// 3 tokens, 2 more every 100 ms.
const LIMIT: LocalRateLimit = LocalRateLimit {
    max_tokens: 3,
    tokens_per_fill: 2,
    fill_interval: Duration::from_millis(100),
};

#[tokio::test(start_paused = true)]
async fn the_bucket_allows_a_burst_then_refills_per_interval_up_to_its_size() {
    let start = Instant::now();
    let mut bucket = TokenBucket::new(LIMIT, start);
    for _ in 0..3 {
        assert_eq!(bucket.try_take(start), Ok(()));
    }
    assert_eq!(bucket.try_take(start), Err(Duration::from_millis(100)));
    let later = start + Duration::from_millis(30);
    assert_eq!(bucket.try_take(later), Err(Duration::from_millis(70)));

    // One fill: 2 tokens.
    let filled = start + Duration::from_millis(150);
    assert_eq!(bucket.try_take(filled), Ok(()));
    assert_eq!(bucket.try_take(filled), Ok(()));
    assert_eq!(bucket.try_take(filled), Err(Duration::from_millis(50)));

    // Many fills: never more than the bucket's size.
    let much_later = start + Duration::from_secs(10);
    for _ in 0..3 {
        assert_eq!(bucket.try_take(much_later), Ok(()));
    }
    assert!(bucket.try_take(much_later).is_err());
}

fn app() -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(|_: Request<String>| async {
        Ok::<_, Infallible>(Response::new("ok".into()))
    })
}

fn request(grpc: bool) -> Request<String> {
    let mut builder = Request::post("/demo.ServiceB/Get");
    if grpc {
        builder = builder.header("content-type", "application/grpc");
    }
    builder.body(String::new()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn services_share_one_bucket_and_refusals_carry_retry_hints() {
    let layer = RateLimitLayer::fixed(LIMIT);
    // Each call through a fresh service, as each connection gets its own clone.
    for _ in 0..3 {
        let response = layer.layer(app()).oneshot(request(true)).await.unwrap();
        assert!(response.headers().get("grpc-status").is_none());
    }
    tokio::time::advance(Duration::from_millis(40)).await;
    let grpc = layer.layer(app()).oneshot(request(true)).await.unwrap();
    assert_eq!(grpc.headers()["grpc-status"], "8");
    assert_eq!(grpc.headers()["grpc-retry-pushback-ms"], "60");
    let http = layer.layer(app()).oneshot(request(false)).await.unwrap();
    assert_eq!(http.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(http.headers()[RETRY_AFTER], "1");
}

#[tokio::test(start_paused = true)]
async fn a_new_limit_starts_a_full_bucket_and_none_lifts_it() {
    let (tx, rx) = watch::channel(Arc::new(InboundPolicy {
        authorization: None,
        rate_limit: Some(LocalRateLimit {
            max_tokens: 1,
            ..LIMIT
        }),
    }));
    let counters = Counters::default();
    let layer = RateLimitLayer::new(rx).counting(counters.clone());
    let status = |layer: &RateLimitLayer| {
        let service = layer.layer(app());
        async move { service.oneshot(request(false)).await.unwrap().status() }
    };
    assert_eq!(status(&layer).await, StatusCode::OK);
    assert_eq!(status(&layer).await, StatusCode::TOO_MANY_REQUESTS);
    tx.send_replace(Arc::new(InboundPolicy {
        authorization: None,
        rate_limit: Some(LIMIT),
    }));
    for _ in 0..3 {
        assert_eq!(status(&layer).await, StatusCode::OK);
    }
    assert_eq!(status(&layer).await, StatusCode::TOO_MANY_REQUESTS);
    tx.send_replace(Arc::new(InboundPolicy::default()));
    for _ in 0..10 {
        assert_eq!(status(&layer).await, StatusCode::OK);
    }
    assert_eq!(counters.snapshot().rate_limited, 2);
}

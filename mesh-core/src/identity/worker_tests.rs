//! Fetching and rotation against a fake CA, on paused time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::ca::CertificateAuthority;
use super::test_ca::TestCa;
use super::{Identity, IdentityError};
use crate::telemetry::Metrics;
use crate::test_support::promtool_check;
use crate::xds::client::observe_tests::value_of;
use rustls::pki_types::CertificateDer;

const ID: &str = "spiffe://cluster.local/ns/demo/sa/servicea";
const LIFETIME: Duration = Duration::from_secs(100);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Issue,
    Fail,
    Refuse,
}

/// Issues `LIFETIME` certificates, fails or refuses as told; records when it was asked.
#[derive(Clone)]
struct FakeCa(Arc<FakeState>);

struct FakeState {
    ca: TestCa,
    /// How far before the request `not_before` is set, as CAs do for clock skew.
    backdate: Duration,
    mode: Mutex<Mode>,
    calls: Mutex<Vec<Instant>>,
}

impl FakeCa {
    fn new(mode: Mode) -> FakeCa {
        FakeCa::backdating(mode, Duration::ZERO)
    }

    fn backdating(mode: Mode, backdate: Duration) -> FakeCa {
        FakeCa(Arc::new(FakeState {
            ca: TestCa::new("fake mesh CA"),
            backdate,
            mode: Mutex::new(mode),
            calls: Mutex::new(Vec::new()),
        }))
    }

    fn set(&self, mode: Mode) {
        *self.0.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> Vec<Instant> {
        self.0.calls.lock().unwrap().clone()
    }
}

impl CertificateAuthority for FakeCa {
    fn uri(&self) -> &str {
        "fake://ca"
    }

    async fn sign(&self, csr_pem: String) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
        self.0.calls.lock().unwrap().push(Instant::now());
        let mode = *self.0.mode.lock().unwrap();
        match mode {
            Mode::Issue => {
                let now = SystemTime::now();
                Ok(self
                    .0
                    .ca
                    .sign_csr(&csr_pem, ID, now - self.0.backdate, now + LIFETIME))
            }
            Mode::Fail => Err(IdentityError::CaUnreachable {
                uri: self.uri().into(),
                reason: "connection refused".into(),
            }),
            Mode::Refuse => Err(IdentityError::Refused {
                uri: self.uri().into(),
                code: "Unauthenticated".into(),
                message: "unknown join token".into(),
            }),
        }
    }
}

async fn start(ca: &FakeCa) -> Result<Identity, IdentityError> {
    start_counted(ca, &Metrics::new()).await
}

async fn start_counted(ca: &FakeCa, metrics: &Metrics) -> Result<Identity, IdentityError> {
    Identity::builder()
        .first_cert_timeout(Duration::from_secs(10))
        .metrics(metrics.clone())
        .start_with(ca.clone())
        .await
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs() as f64
}

#[tokio::test(start_paused = true)]
async fn rotations_failures_and_expiry_are_measured() {
    let metrics = Metrics::new();
    let ca = FakeCa::new(Mode::Issue);
    let identity = start_counted(&ca, &metrics).await.unwrap();
    let expiry = format!("mesh_identity_cert_expiry_timestamp_seconds{{spiffe_id=\"{ID}\"}}");
    let text = metrics.render_text();
    assert_eq!(
        value_of(&text, &expiry),
        Some(unix_seconds(identity.current().not_after)),
        "{text}"
    );
    assert_eq!(
        value_of(&text, "mesh_identity_rotations_total"),
        Some(0.0),
        "{text}"
    );

    ca.set(Mode::Fail);
    tokio::time::sleep(Duration::from_secs(75)).await;
    let failures = value_of(
        &metrics.render_text(),
        "mesh_identity_renewal_failures_total",
    );
    assert_eq!(
        failures,
        Some((ca.calls().len() - 1) as f64),
        "each failed request counts"
    );
    assert!(failures >= Some(2.0), "{failures:?}");

    ca.set(Mode::Issue);
    let mut svids = identity.watch();
    tokio::time::timeout(Duration::from_secs(60), svids.changed())
        .await
        .expect("renewed once the CA answers")
        .unwrap();
    let text = metrics.render_text();
    assert_eq!(
        value_of(&text, "mesh_identity_rotations_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value_of(&text, &expiry),
        Some(unix_seconds(identity.current().not_after)),
        "the gauge follows the new certificate: {text}"
    );
    promtool_check("the identity", &text);
}

#[tokio::test(start_paused = true)]
async fn rotates_at_seventy_percent_with_a_new_key() {
    let ca = FakeCa::new(Mode::Issue);
    let started = Instant::now();
    let identity = start(&ca).await.unwrap();
    let first = identity.current();
    assert_eq!(identity.spiffe_id().to_string(), ID);

    let mut svids = identity.watch();
    svids.changed().await.unwrap();
    let rotated_after = started.elapsed();
    // X.509 times have whole seconds, so the renewal point moves by up to a second.
    assert!(
        rotated_after >= Duration::from_secs(69) && rotated_after <= Duration::from_secs(71),
        "rotated after {rotated_after:?}"
    );
    let second = identity.current();
    assert_ne!(first.cert_chain[0], second.cert_chain[0]);
    assert_ne!(first.key.secret_der(), second.key.secret_der());
    assert_eq!(ca.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_backdated_certificate_is_renewed_at_seventy_percent_of_what_is_left() {
    let ca = FakeCa::backdating(Mode::Issue, Duration::from_secs(300));
    let started = Instant::now();
    let identity = start(&ca).await.unwrap();
    identity.watch().changed().await.unwrap();
    let rotated_after = started.elapsed();
    assert!(
        rotated_after >= Duration::from_secs(69) && rotated_after <= Duration::from_secs(71),
        "rotated after {rotated_after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn keeps_the_current_cert_and_retries_until_expiry() {
    let ca = FakeCa::new(Mode::Issue);
    let started = Instant::now();
    let identity = start(&ca).await.unwrap();
    let first = identity.current();
    ca.set(Mode::Fail);

    tokio::time::sleep(Duration::from_secs(98)).await;
    assert!(
        Arc::ptr_eq(&first, &identity.current()),
        "the current cert was kept"
    );
    let retries: Vec<_> = ca.calls()[1..].iter().map(|t| *t - started).collect();
    assert!(retries.len() >= 5, "retries: {retries:?}");
    assert!(
        retries.iter().any(|t| *t > Duration::from_secs(95)),
        "a retry happens shortly before expiry: {retries:?}"
    );

    ca.set(Mode::Issue);
    let mut svids = identity.watch();
    tokio::time::timeout(Duration::from_secs(120), svids.changed())
        .await
        .expect("renewed once the CA answers")
        .unwrap();
    assert_ne!(first.cert_chain[0], identity.current().cert_chain[0]);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_fails_the_first_fetch_at_once() {
    let ca = FakeCa::new(Mode::Refuse);
    let started = Instant::now();
    let err = start(&ca).await.unwrap_err();
    assert!(err.is_refusal());
    assert!(err.to_string().contains("unknown join token"), "{err}");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(ca.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_ca_times_out_with_the_last_error() {
    let ca = FakeCa::new(Mode::Fail);
    let started = Instant::now();
    let err = start(&ca).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert!(matches!(err, IdentityError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
    assert!(
        ca.calls().len() >= 4,
        "retried with backoff: {:?}",
        ca.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn the_worker_stops_with_the_last_handle() {
    let metrics = Metrics::new();
    let ca = FakeCa::new(Mode::Issue);
    let identity = start_counted(&ca, &metrics).await.unwrap();
    let config = identity.server_config();
    drop(identity);
    tokio::time::sleep(Duration::from_secs(80)).await;
    assert_eq!(ca.calls().len(), 2, "a config keeps the identity rotating");
    let expiry = "mesh_identity_cert_expiry_timestamp_seconds{";
    assert!(metrics.render_text().contains(expiry));

    drop(config);
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_eq!(ca.calls().len(), 2, "no rotation once every handle is gone");
    let text = metrics.render_text();
    assert!(
        !text.contains(expiry),
        "the expiry series goes with the worker: {text}"
    );
}

#[tokio::test]
async fn rotate_at_must_be_a_fraction() {
    let err = Identity::builder()
        .rotate_at(1.5)
        .start_with(FakeCa::new(Mode::Issue))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rotate_at"), "{err}");
}

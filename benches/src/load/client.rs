//! The client side of every scenario: a `demo.ServiceB` client over a tonic `Channel` (h2c to
//! the server or to S3's client sidecar, or over rustls mTLS) or over a `MeshChannel`, as a
//! [`Caller`] for the load generator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient;
use hyper_util::rt::TokioIo;
use mesh_client::MeshChannel;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::Identity;
use mesh_core::model::StringMatch;
use mesh_core::xds::XdsClient;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use super::certs;
use super::loadgen::Caller;
use super::mesh_config::{CLIENT_TOKEN, TARGET};

/// How long the first call may take to succeed (config, registration, first connection).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientMode {
    /// tonic, plaintext h2c to `--addr`.
    Plain,
    /// tonic over rustls mTLS to `--addr`, with the identity in `--cert-dir`.
    Tls,
    /// A MeshChannel to the mesh target (the bootstrap comes from
    /// `GRPC_XDS_BOOTSTRAP_CONFIG`).
    Mesh,
}

/// Where and how the load generator calls.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// How to call.
    #[arg(long, value_enum)]
    pub mode: ClientMode,
    /// The server (or sidecar) to call (modes `plain` and `tls`).
    #[arg(long, required_if_eq_any([("mode", "plain"), ("mode", "tls")]))]
    pub addr: Option<SocketAddr>,
    /// The directory of the certificates (mode `tls`).
    #[arg(long, required_if_eq("mode", "tls"))]
    pub cert_dir: Option<PathBuf>,
    /// Call without Prometheus metrics (mode `mesh`).
    #[arg(long)]
    pub no_metrics: bool,
}

/// A caller once a first call succeeded.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<Caller> {
    let caller = match args.mode {
        ClientMode::Plain => {
            let addr = args.addr.context("--addr is required")?;
            let channel = Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            caller_keeping(channel, ())
        }
        ClientMode::Tls => {
            let addr = args.addr.context("--addr is required")?;
            let dir = args.cert_dir.as_deref().context("--cert-dir is required")?;
            caller_keeping(tls_channel(addr, &certs::load_identity(dir)?).await?, ())
        }
        ClientMode::Mesh => {
            let bootstrap = Bootstrap::from_env()?;
            let identity = Identity::builder()
                .bootstrap(&bootstrap)
                .token(CLIENT_TOKEN)
                .start()
                .await
                .context("getting the client's certificate from mesh-control")?;
            let xds = XdsClient::builder().bootstrap(bootstrap).build()?;
            let mut builder = MeshChannel::builder().identity(identity);
            if args.no_metrics {
                builder = builder.without_metrics();
            }
            let channel = builder.channel(&xds, TARGET)?;
            // The xDS client must live as long as the channel: the caller keeps it.
            caller_keeping(channel, xds)
        }
    };
    wait_ready(&caller).await?;
    Ok(caller)
}

/// A tonic channel over rustls mTLS to `addr`, with the mesh's client config: the server must
/// prove the SPIFFE ID `server` of the benchmark.
async fn tls_channel(addr: SocketAddr, identity: &Identity) -> anyhow::Result<Channel> {
    let server = vec![StringMatch::Exact(certs::spiffe_id("server"))];
    let connector = TlsConnector::from(identity.client_config(server, &[b"h2"]));
    let connect = tower::service_fn(move |_: http::Uri| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from("server.bench").expect("a valid DNS name");
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Endpoint::from_shared(format!("http://{addr}"))?
        .connect_with_connector(connect)
        .await
        .with_context(|| format!("connecting over mTLS to {addr}"))
}

/// A caller over `channel` that holds `keep` for as long as it lives.
fn caller_keeping<T, K>(channel: T, keep: K) -> Caller
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + Sync + 'static,
    T::Future: Send,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
    T::Error: Into<tonic::codegen::StdError>,
    K: Send + Sync + 'static,
{
    let client = ServiceBClient::new(channel);
    std::sync::Arc::new(move || {
        let _ = &keep;
        let mut client = client.clone();
        Box::pin(async move {
            let request = GetRequest {
                caller: "loadgen".to_string(),
            };
            client
                .get(request)
                .await
                .map(drop)
                .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
        })
    })
}

/// Calls until a call succeeds, for at most [`READY_TIMEOUT`].
async fn wait_ready(caller: &Caller) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        match caller().await {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() > READY_TIMEOUT => {
                anyhow::bail!("no call succeeded within {READY_TIMEOUT:?}; the last said: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

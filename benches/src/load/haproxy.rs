//! The two HAProxy sidecars of S3: the client's takes h2c from the app and speaks mTLS (h2)
//! to the server's, which speaks h2c to the server app. Both present a certificate of the
//! mesh's CA (chain and key in one PEM) and require the peer's (`verify required`).

use std::net::SocketAddr;
use std::path::Path;

use super::certs::{HAPROXY_FILE, ROOT_FILE};

/// Where HAProxy is (Debian's package).
pub const HAPROXY: &str = "/usr/sbin/haproxy";

/// What both sidecars share: one thread (each is pinned to one core), generous timeouts.
const COMMON: &str = "\
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
";

/// The client sidecar: h2c on `listen`, mTLS to the server sidecar at `upstream`, with the
/// certificates in `cert_dir`.
pub fn client_config(listen: SocketAddr, upstream: SocketAddr, cert_dir: &Path) -> String {
    let (crt, ca) = files(cert_dir);
    format!(
        "{COMMON}frontend app_out
    bind {listen} proto h2
    default_backend mesh
backend mesh
    server peer {upstream} ssl crt {crt} ca-file {ca} verify required alpn h2
"
    )
}

/// The server sidecar: mTLS on `listen`, h2c to the app at `app`, with the certificates in
/// `cert_dir`.
pub fn server_config(listen: SocketAddr, app: SocketAddr, cert_dir: &Path) -> String {
    let (crt, ca) = files(cert_dir);
    format!(
        "{COMMON}frontend mesh_in
    bind {listen} ssl crt {crt} ca-file {ca} verify required alpn h2
    default_backend app
backend app
    server app {app} proto h2
"
    )
}

fn files(cert_dir: &Path) -> (String, String) {
    (
        cert_dir.join(HAPROXY_FILE).display().to_string(),
        cert_dir.join(ROOT_FILE).display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_require_the_peer_certificate() {
        let dir = Path::new("/certs");
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let client = client_config(a, b, dir);
        assert!(client.contains("bind 127.0.0.1:1 proto h2"));
        assert!(client.contains("server peer 127.0.0.1:2 ssl crt /certs/haproxy.pem"));
        let server = server_config(b, a, dir);
        assert!(server.contains("bind 127.0.0.1:2 ssl crt /certs/haproxy.pem"));
        assert!(server.contains("server app 127.0.0.1:1 proto h2"));
        for config in [client, server] {
            assert!(config.contains("ca-file /certs/root.pem verify required alpn h2"));
        }
    }
}

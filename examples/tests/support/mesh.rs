//! [`Mesh`]: mesh-control on a config directory a test edits, and the apps of a test as real
//! processes of the `demo` binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use examples::failure_modes::parse_counts;
use examples::pb::service_b_client::ServiceBClient as BClient;
use examples::process::{Proc, Procs};
use mesh_client::MeshChannel;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::JOIN_TOKEN_ENV;

use super::{assert_eventually, call_n, demo_cmd, split_config};

/// A mesh on loopback: a config directory, mesh-control, and the processes of a test.
pub struct Mesh {
    pub config: tempfile::TempDir,
    pub logs: tempfile::TempDir,
    pub control: Option<Proc>,
    pub xds_addr: SocketAddr,
    pub procs: Procs,
    control_args: Vec<String>,
}

impl Mesh {
    /// Writes `files` (name, YAML) into a fresh config dir and starts mesh-control on it.
    pub async fn start(files: &[(&str, &str)]) -> Mesh {
        Mesh::start_with(files, &[]).await
    }

    /// Like [`Mesh::start`], with more arguments for `mesh-control serve`.
    pub async fn start_with(files: &[(&str, &str)], control_args: &[&str]) -> Mesh {
        let config = tempfile::tempdir().unwrap();
        for (name, yaml) in files {
            std::fs::write(config.path().join(name), yaml).unwrap();
        }
        let mut mesh = Mesh {
            config,
            logs: tempfile::tempdir().unwrap(),
            control: None,
            xds_addr: "127.0.0.1:0".parse().unwrap(),
            procs: Procs::default(),
            control_args: control_args.iter().map(|a| a.to_string()).collect(),
        };
        let control = mesh.spawn_control().await;
        mesh.xds_addr = control.addr();
        mesh.control = Some(control);
        mesh
    }

    /// The CA's state dir (its root key and certificate).
    pub fn state_dir(&self) -> PathBuf {
        self.logs.path().join("mesh-control-state")
    }

    async fn spawn_control(&self) -> Proc {
        let config = self.config.path().to_str().unwrap().to_string();
        let state = self.state_dir().to_str().unwrap().to_string();
        let addr = self.xds_addr.to_string();
        let mut args = vec![
            "control",
            "serve",
            "--config",
            &config,
            "--xds-addr",
            &addr,
            "--tls-addr",
            "127.0.0.1:0",
            "--state-dir",
            &state,
        ];
        args.extend(self.control_args.iter().map(String::as_str));
        Proc::spawn("mesh-control", demo_cmd(&args), self.logs.path())
            .await
            .unwrap()
    }

    /// Replaces (or adds) a config file.
    pub fn write(&self, name: &str, yaml: &str) {
        // Write then rename, as editors and kubectl-like tools do, so the reload sees whole files.
        let tmp = self.config.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, self.config.path().join(name)).unwrap();
    }

    /// Kills mesh-control at once.
    pub async fn kill_control(&mut self) {
        self.control
            .take()
            .expect("mesh-control is running")
            .kill()
            .await;
    }

    /// Starts mesh-control again on the same address and state dir.
    pub async fn restart_control(&mut self) {
        assert!(self.control.is_none(), "mesh-control is still running");
        self.control = Some(self.spawn_control().await);
    }

    /// What mesh-control has logged so far.
    pub async fn control_log(&self) -> String {
        self.control
            .as_ref()
            .expect("mesh-control is running")
            .log()
            .await
    }

    /// A bootstrap for a node of this mesh.
    pub fn bootstrap(&self, node_id: &str) -> Bootstrap {
        Bootstrap::insecure(self.xds_addr.to_string(), node_id)
    }

    /// Starts a meshed serviceB replica that registers as `register`, with the identity of
    /// join token `dev-serviceb` (demo/serviceb).
    pub async fn start_service_b(&mut self, replica: &str, register: &str) -> SocketAddr {
        self.start_service_b_as(replica, register, "dev-serviceb")
            .await
    }

    /// Starts a meshed serviceB replica with the identity that join `token` proves.
    pub async fn start_service_b_as(
        &mut self,
        replica: &str,
        register: &str,
        token: &str,
    ) -> SocketAddr {
        self.start_service_b_with(replica, register, token, &[])
            .await
    }

    /// Starts a meshed serviceB replica with the identity that join `token` proves and more
    /// command-line `flags`, e.g. `["--fail-rate", "0.3"]`, `["--delay", "2s"]`, `["--stall"]`.
    pub async fn start_service_b_with(
        &mut self,
        replica: &str,
        register: &str,
        token: &str,
        flags: &[&str],
    ) -> SocketAddr {
        self.start_service_b_env(replica, register, token, flags, &[])
            .await
    }

    /// [`Mesh::start_service_b_with`] with more environment variables `env`.
    pub async fn start_service_b_env(
        &mut self,
        replica: &str,
        register: &str,
        token: &str,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> SocketAddr {
        let mut args = vec!["service-b", "--replica", replica, "--register", register];
        args.extend(flags);
        self.start_app(replica, &args, token, env).await
    }

    /// Starts a meshed serviceA (`GET /call` calls `xds:///serviceb.demo:50051`) as node
    /// `servicea` with the identity of join token `dev-servicea`, more command-line `flags` and
    /// environment variables `env`.
    pub async fn start_service_a(&mut self, flags: &[&str], env: &[(&str, &str)]) -> SocketAddr {
        let mut args = vec!["service-a"];
        args.extend(flags);
        self.start_app("servicea", &args, "dev-servicea", env).await
    }

    /// Starts `demo ARGS` as node `name` of this mesh, with the identity join `token` proves.
    async fn start_app(
        &mut self,
        name: &str,
        args: &[&str],
        token: &str,
        env: &[(&str, &str)],
    ) -> SocketAddr {
        let mut cmd = demo_cmd(args);
        cmd.env(
            "GRPC_XDS_BOOTSTRAP_CONFIG",
            self.bootstrap(name).to_json_pretty(),
        )
        .env(JOIN_TOKEN_ENV, token)
        .envs(env.iter().copied());
        let proc = Proc::spawn(name, cmd, self.logs.path()).await.unwrap();
        let addr = proc.addr();
        self.procs.push(proc);
        addr
    }

    /// The process called `name`.
    pub fn proc(&self, name: &str) -> &Proc {
        self.procs
            .get(name)
            .unwrap_or_else(|| panic!("no process is called {name}"))
    }

    /// Stops serviceB replica `name` (SIGTERM) and returns the calls it received and failed,
    /// from the line it logs when it stops.
    pub async fn stop_and_count(&mut self, name: &str) -> (u64, u64) {
        let proc = self.take(name);
        let log = proc.log_path().to_path_buf();
        proc.stop(Duration::from_secs(5)).await;
        // The log writer may lag the exit by a moment.
        let mut text = String::new();
        for _ in 0..50 {
            text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(counts) = parse_counts(&text) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} logged no call counts when stopped; its log:\n{text}")
    }

    /// Kills the process called `name` at once.
    pub async fn kill(&mut self, name: &str) {
        self.take(name).kill().await;
    }

    /// Takes the process called `name` out of the mesh, e.g. to stop it in another task.
    pub fn take(&mut self, name: &str) -> Proc {
        self.procs
            .take(name)
            .unwrap_or_else(|| panic!("no process is called {name}"))
    }

    /// `mesh-control bootstrap --identity NS/SA --cert-dir DIR` for node `node`, as a non-Rust
    /// app would get it: the certificates are written to `dir`.
    pub async fn bootstrap_with_certs(&self, node: &str, identity: &str, dir: &Path) -> String {
        let xds = self.xds_addr.to_string();
        let state = self.state_dir();
        let out = demo_cmd(&[
            "control",
            "bootstrap",
            "--node-id",
            node,
            "--xds-server",
            &xds,
            "--identity",
            identity,
            "--cert-dir",
            dir.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "bootstrap --cert-dir failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `mesh-control bootstrap` for node `node`: a gRPC xDS bootstrap without certificate
    /// providers, as a non-Rust app without certificates gets it.
    pub async fn plaintext_bootstrap(&self, node: &str) -> String {
        let xds = self.xds_addr.to_string();
        let out = demo_cmd(&[
            "control",
            "bootstrap",
            "--node-id",
            node,
            "--xds-server",
            &xds,
        ])
        .output()
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "bootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// mesh-control serving [`split_config`]`(v1, v2)`, replicas `serviceb-v1` and `serviceb-v2`
/// registered, and a client of `xds:///serviceb.demo:50051` whose calls already succeed.
pub async fn two_versions(v1: u32, v2: u32) -> (Mesh, BClient<MeshChannel>) {
    two_versions_with(v1, v2, "").await
}

/// [`two_versions`] with more YAML documents (`---` separated) in the config.
pub async fn two_versions_with(v1: u32, v2: u32, more: &str) -> (Mesh, BClient<MeshChannel>) {
    let config = format!("{}---\n{more}", split_config(v1, v2));
    let mut mesh = Mesh::start(&[("routes.yaml", &config)]).await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    mesh.start_service_b("serviceb-v2", "serviceb-v2.demo:50051")
        .await;
    let client = mesh.client("xds:///serviceb.demo:50051").await;
    let serving: Vec<&str> = [("serviceb-v1", v1), ("serviceb-v2", v2)]
        .into_iter()
        .filter(|(_, weight)| *weight > 0)
        .map(|(name, _)| name)
        .collect();
    assert_eventually(
        "every version with a weight answers",
        Duration::from_secs(20),
        || async {
            let counts = call_n(&client, 100).await;
            if counts
                .keys()
                .map(String::as_str)
                .eq(serving.iter().copied())
            {
                Ok(())
            } else {
                Err(format!("answers: {counts:?}"))
            }
        },
    )
    .await;
    (mesh, client)
}

//! The orchestrator: for each scenario, start its processes (server side on core 1, client
//! side on core 0), run the load generator, collect its report, stop everything; then print
//! the comparison. Raw output goes to the output directory: `<scenario>.json`, the logs of
//! every process under `<scenario>/`, and `table.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mesh_core::bootstrap::{BOOTSTRAP_CONFIG_ENV, Bootstrap};

use super::certs;
use super::haproxy;
use super::loadgen::Plan;
use super::mesh_config;
use super::process::{Proc, Ready, free_port};
use super::report::{LoadReport, OTLP_SINK, ScenarioReport};
use super::scenario::{self, Kind, MeshFeatures, Scenario};
use super::table;

/// The core of the load generator and the client sidecar.
const CLIENT_CORE: u32 = 0;
/// The core of the server, its sidecar, mesh-control and the trace collector.
const SERVER_CORE: u32 = 1;
/// The log filter of every process of ours: warnings and errors only.
const LOG_FILTER: &str = "warn";
/// mesh-control's log filter: warnings, and the line that says where it listens.
const CONTROL_LOG_FILTER: &str = "warn,mesh_control::server=info";

/// The options of `bench-load run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// A few seconds per scenario (for CI): short phases and low rates.
    #[arg(long)]
    pub smoke: bool,
    /// Where to write the reports and logs.
    #[arg(long)]
    pub out: PathBuf,
    /// Run only these scenarios (e.g. `--scenario S1 --scenario S2`); default all.
    #[arg(long = "scenario")]
    pub scenarios: Vec<String>,
    /// The fixed rates of the open-loop phases, calls per second [default: 1000,5000; smoke:
    /// 100,300].
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<u32>>,
    /// How long each measured phase lasts, in seconds [default: 10; smoke: 0.5].
    #[arg(long)]
    pub phase_secs: Option<f64>,
}

impl RunArgs {
    fn plan(&self) -> anyhow::Result<Plan> {
        let mut plan = self.default_plan();
        if let Some(rates) = &self.rates {
            plan.rates.clone_from(rates);
        }
        if let Some(secs) = self.phase_secs {
            plan.phase = Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("--phase-secs {secs} is not a positive duration"))?;
        }
        Ok(plan)
    }

    fn default_plan(&self) -> Plan {
        if self.smoke {
            Plan {
                warm_up: Duration::from_millis(200),
                phase: Duration::from_millis(500),
                rates: vec![100, 300],
                max_in_flight: 16,
            }
        } else {
            Plan {
                warm_up: Duration::from_secs(3),
                phase: Duration::from_secs(10),
                rates: vec![1000, 5000],
                max_in_flight: 64,
            }
        }
    }
}

/// Runs the scenarios and prints the table; an error if a scenario failed (the others still
/// run and are reported).
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let scenarios = scenario::select(&args.scenarios).map_err(anyhow::Error::msg)?;
    let exe = std::env::current_exe().context("finding the bench-load binary")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    let state = out.join("ca");
    for name in ["client", "server"] {
        certs::issue(&state, name, &out.join("certs").join(name))?;
    }
    let plan = args.plan()?;
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for scenario in scenarios {
        println!("running {}: {}", scenario.name, scenario.description);
        let setup = Setup {
            exe: &exe,
            out: &out,
            plan: &plan,
        };
        match setup.scenario(&scenario).await {
            Ok(report) => {
                let path = out.join(format!("{}.json", scenario.name));
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                reports.push(report);
            }
            Err(e) => {
                eprintln!("{} failed: {e:#}", scenario.name);
                failed.push(scenario.name);
            }
        }
    }
    let table = table::render(&reports);
    println!("\n{table}");
    std::fs::write(out.join("table.md"), &table)?;
    if !failed.is_empty() {
        anyhow::bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}

/// What every scenario needs.
struct Setup<'a> {
    exe: &'a Path,
    out: &'a Path,
    plan: &'a Plan,
}

impl Setup<'_> {
    async fn scenario(&self, scenario: &Scenario) -> anyhow::Result<ScenarioReport> {
        let dir = self.out.join(scenario.name);
        std::fs::create_dir_all(&dir)?;
        let certs = self.out.join("certs");
        let cert_arg = |name: &str| certs.join(name).display().to_string();
        let mut procs: Vec<(String, Proc)> = Vec::new();
        let result = async {
            let mut env = vec![("RUST_LOG".to_string(), LOG_FILTER.to_string())];
            let client = match scenario.kind {
                Kind::Tonic { tls } => {
                    let mut args = vec!["server".into(), "--mode".into()];
                    let mut client = vec!["--mode".into()];
                    if tls {
                        args.extend(["tls".into(), "--cert-dir".into(), cert_arg("server")]);
                        client.extend(["tls".into(), "--cert-dir".into(), cert_arg("client")]);
                    } else {
                        args.push("plain".into());
                        client.push("plain".into());
                    }
                    let server = self.ours("server", SERVER_CORE, &args, &env, &dir).await?;
                    client.extend(["--addr".into(), server.addr()?.to_string()]);
                    procs.push(("server".into(), server));
                    client
                }
                Kind::Mesh(features) => self.mesh(features, &dir, &mut env, &mut procs).await?,
                Kind::Sidecars => self.sidecars(&certs, &dir, &env, &mut procs).await?,
            };
            let mut args = vec!["loadgen".to_string()];
            args.extend(client);
            args.extend(self.plan_args(&dir));
            for (name, proc) in &procs {
                args.extend(["--watch".into(), format!("{name}={}", proc.pid())]);
            }
            let loadgen = Proc::spawn(
                "loadgen",
                CLIENT_CORE,
                self.exe,
                &args,
                &env,
                &dir,
                Ready::Started,
            )
            .await?;
            loadgen.wait(self.loadgen_timeout()).await?;
            let path = dir.join("load.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let load: LoadReport = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            Ok(ScenarioReport {
                scenario: scenario.name.to_string(),
                description: scenario.description.to_string(),
                load,
            })
        }
        .await;
        for (_, proc) in procs.into_iter().rev() {
            proc.stop().await;
        }
        result
    }

    /// Starts mesh-control (and the trace collector) with the config of `features` and a
    /// meshed server; returns the load generator's arguments.
    async fn mesh(
        &self,
        features: MeshFeatures,
        dir: &Path,
        env: &mut Vec<(String, String)>,
        procs: &mut Vec<(String, Proc)>,
    ) -> anyhow::Result<Vec<String>> {
        let config = dir.join("config");
        std::fs::create_dir_all(&config)?;
        std::fs::write(config.join("bench.yaml"), mesh_config::yaml(features))?;
        let state = self.out.join("ca").display().to_string();
        let control_args: Vec<String> = [
            "control",
            "serve",
            "--config",
            &config.display().to_string(),
            "--xds-addr",
            "127.0.0.1:0",
            "--tls-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--warm-up",
            "0",
            "--state-dir",
            &state,
        ]
        .map(String::from)
        .to_vec();
        // Its `listening on` line is logged at INFO.
        let control_env = [("RUST_LOG".to_string(), CONTROL_LOG_FILTER.to_string())];
        let control = self
            .ours(
                "mesh-control",
                SERVER_CORE,
                &control_args,
                &control_env,
                dir,
            )
            .await?;
        let xds = control.addr()?.to_string();
        procs.push(("mesh-control".into(), control));
        if features.trace_percent > 0 {
            let sink = self
                .ours(OTLP_SINK, SERVER_CORE, &["otlp-sink".into()], env, dir)
                .await?;
            let endpoint = format!("http://{}", sink.addr()?);
            env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint));
            // The OpenTelemetry SDK's own variables: the client decides for each call, the
            // server follows the caller's decision.
            env.push((
                "OTEL_TRACES_SAMPLER".into(),
                "parentbased_traceidratio".into(),
            ));
            let ratio = f64::from(features.trace_percent) / 100.0;
            env.push(("OTEL_TRACES_SAMPLER_ARG".into(), ratio.to_string()));
            procs.push((OTLP_SINK.into(), sink));
        }
        let bootstrap = |node: &str| Bootstrap::insecure(xds.clone(), node).to_json_pretty();
        let mut server_env = env.clone();
        server_env.push((BOOTSTRAP_CONFIG_ENV.into(), bootstrap("bench-server")));
        let mut server_args = vec!["server".into(), "--mode".into(), "mesh".into()];
        let mut client = vec!["--mode".into(), "mesh".into()];
        if !features.metrics {
            server_args.push("--no-metrics".into());
            client.push("--no-metrics".into());
        }
        let server = self
            .ours("server", SERVER_CORE, &server_args, &server_env, dir)
            .await?;
        procs.push(("server".into(), server));
        env.push((BOOTSTRAP_CONFIG_ENV.into(), bootstrap("bench-loadgen")));
        Ok(client)
    }

    /// Starts the app server and the two sidecars; returns the load generator's arguments.
    async fn sidecars(
        &self,
        certs: &Path,
        dir: &Path,
        env: &[(String, String)],
        procs: &mut Vec<(String, Proc)>,
    ) -> anyhow::Result<Vec<String>> {
        let args = ["server", "--mode", "plain"].map(String::from);
        let app = self.ours("server", SERVER_CORE, &args, env, dir).await?;
        let app_addr = app.addr()?;
        procs.push(("server".into(), app));
        let server_side = free_port()?;
        let config = haproxy::server_config(server_side, app_addr, &certs.join("server"));
        let sidecar = haproxy_proc("server-sidecar", SERVER_CORE, config, server_side, dir).await?;
        procs.push(("server-sidecar".into(), sidecar));
        let client_side = free_port()?;
        let config = haproxy::client_config(client_side, server_side, &certs.join("client"));
        let sidecar = haproxy_proc("client-sidecar", CLIENT_CORE, config, client_side, dir).await?;
        procs.push(("client-sidecar".into(), sidecar));
        Ok(["--mode", "plain", "--addr", &client_side.to_string()]
            .map(String::from)
            .to_vec())
    }

    /// Starts this binary with `args`, ready when it says where it listens.
    async fn ours(
        &self,
        name: &str,
        core: u32,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Proc> {
        Proc::spawn(name, core, self.exe, args, env, dir, Ready::Line).await
    }

    fn plan_args(&self, dir: &Path) -> Vec<String> {
        let rates: Vec<String> = self.plan.rates.iter().map(u32::to_string).collect();
        vec![
            "--warm-up-ms".into(),
            self.plan.warm_up.as_millis().to_string(),
            "--phase-ms".into(),
            self.plan.phase.as_millis().to_string(),
            "--rates".into(),
            rates.join(","),
            "--max-in-flight".into(),
            self.plan.max_in_flight.to_string(),
            "--report".into(),
            dir.join("load.json").display().to_string(),
        ]
    }

    /// The phases, plus time to get ready and for stragglers.
    fn loadgen_timeout(&self) -> Duration {
        let phases = 2 + self.plan.rates.len() as u32;
        self.plan.warm_up + self.plan.phase * phases + Duration::from_secs(120)
    }
}

/// Writes `config` next to the logs and starts HAProxy on it.
async fn haproxy_proc(
    name: &str,
    core: u32,
    config: String,
    listen: std::net::SocketAddr,
    dir: &Path,
) -> anyhow::Result<Proc> {
    let path = dir.join(format!("{name}.cfg"));
    std::fs::write(&path, config)?;
    let args = [
        "-db".to_string(),
        "-f".to_string(),
        path.display().to_string(),
    ];
    let program = Path::new(haproxy::HAPROXY);
    Proc::spawn(name, core, program, &args, &[], dir, Ready::Port(listen)).await
}

//! Stages 11–13 of the demo: the package served through the gateway in front of two small
//! model servers, a canary promoted, drifted requests, the window that breaches, the rollback
//! to the last known good package, and the audit of a line the gateway wrote.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::response::{IntoResponse as _, Response};
use mlspec_gateway::protocol::{self, Protocol, Scalar};
use mlspec_server::probe;

use super::{Demo, Model, read_rows};

/// Serve the demo's model over the Open Inference Protocol (`/v2/models/churn/infer`, inputs
/// `[N, 3]`: age, income, tenure; outputs `predict` and `score`) until killed.
#[derive(clap::Args)]
pub struct ModelServerArgs {
    /// The model directory (`demo train --out`).
    model: PathBuf,
    /// Write the address listened on here.
    #[arg(long, value_name = "FILE")]
    addr_file: PathBuf,
}

/// The policy the gateway watches: drift of `age` against the training features' profile,
/// errors, latency and liveness, over 2-second windows; drift rolls back to the stable package.
const POLICY: &str = "apiVersion: mlspec/v1
kind: MonitoringPolicy
metadata:
  name: churn-watch
spec:
  target: ModelPackage/churn
  baseline: DataProfile/churn-train-features
  columns: [age, income, tenure]
  signals:
    - {name: age-drift, type: drift, feature: age, metric: jsd, threshold: {op: '>', value: 0.3}, window: 2s, minRequests: 20}
    - {name: error-rate, type: errorRate, threshold: {op: '>', value: 0.05}, window: 2s, minRequests: 20}
    - {name: p99-latency, type: latency, threshold: {op: '>', value: 250}, window: 2s, minRequests: 20}
    - {name: live, type: liveness, threshold: {op: '<', value: 1}, window: 2s}
  rollback:
    target: ModelPackage/churn-stable
    automatic: true
    trigger: {signals: [age-drift], when: any, consecutive: 1}
";

/// `demo model-server`.
pub fn model_server(args: &ModelServerArgs) -> anyhow::Result<std::process::ExitCode> {
    let model = std::sync::Arc::new(Model::load(&args.model)?);
    crate::store::block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        crate::files::write_whole(
            &args.addr_file,
            listener.local_addr()?.to_string().as_bytes(),
            Some(&crate::files::ADDRESS),
        )?;
        let infer = move |body: Bytes| {
            let model = model.clone();
            async move { infer(&model, &body) }
        };
        let app = axum::Router::new()
            .route("/v2/health/live", axum::routing::get(|| async { "" }))
            .route("/v2/health/ready", axum::routing::get(|| async { "" }))
            .route("/v2/models/churn/infer", axum::routing::post(infer));
        axum::serve(listener, app).await?;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// Scores each row of an OIP request (read as the gateway reads it).
fn infer(model: &Model, body: &[u8]) -> Response {
    let bad = |why: String| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": why })),
        )
            .into_response()
    };
    let columns = ["age", "income", "tenure"].map(str::to_owned);
    let table = match protocol::inputs(Protocol::Oip, &protocol::Body::new(body), &columns) {
        Ok(table) => table,
        Err(e) => return bad(e.to_string()),
    };
    let value = |name: &str, row: usize| {
        table
            .columns
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| match c.values.get(row) {
                Some(Scalar::Number(n)) => Some(*n),
                _ => None,
            })
    };
    let mut scores = Vec::with_capacity(table.rows);
    for row in 0..table.rows {
        match (value("age", row), value("income", row), value("tenure", row)) {
            (Some(age), Some(income), Some(tenure)) => scores.push(model.score([age, income, tenure])),
            _ => return bad(format!("row {row} lacks a number for age, income or tenure")),
        }
    }
    let predict: Vec<u8> = scores.iter().map(|s| u8::from(*s > 0.5)).collect();
    let id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id").cloned());
    axum::Json(serde_json::json!({
        "model_name": "churn",
        "id": id,
        "outputs": [
            {"name": "predict", "shape": [scores.len()], "datatype": "INT64", "data": predict},
            {"name": "score", "shape": [scores.len()], "datatype": "FP64", "data": scores},
        ],
    }))
    .into_response()
}

/// A background process of the demo, killed (by its PID) when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Demo {
    /// Starts `mlspec ARGS` in the background; it and the address it writes to `addr_file`.
    fn background(&self, args: &[&str], addr_file: &str) -> anyhow::Result<(Background, String)> {
        let path = self.dir.join(addr_file);
        let child = Command::new(&self.exe)
            .args(args)
            .current_dir(&self.dir)
            .env_remove(crate::env::STORE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let mut process = Background(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = std::fs::read_to_string(&path)
                && !addr.trim().is_empty()
            {
                return Ok((process, addr.trim().to_owned()));
            }
            if let Some(status) = process.0.try_wait()? {
                bail!("`mlspec {}` exited ({status}) before it listened", args.join(" "));
            }
            if Instant::now() > deadline {
                bail!("`mlspec {}` did not listen within 30 s", args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Requests of `rows` holdback rows (age shifted by `age_shift` standard deviations), sent
/// through the gateway with a session key each; the answers' statuses.
fn send(gateway: &str, rows: &[[f64; 3]], age_shift: f64, prefix: &str) -> anyhow::Result<Vec<u16>> {
    let mut statuses = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let body = serde_json::json!({
            "id": format!("{prefix}-{i}"),
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [row[0] + age_shift, row[1], row[2]]}],
        });
        let answer = probe::post_with(
            gateway,
            "/v2/models/churn/infer",
            body.to_string().as_bytes(),
            &[
                ("x-request-id", &format!("{prefix}-{i}")),
                ("x-mlspec-route", &format!("session-{i}")),
            ],
            Duration::from_secs(10),
        )
        .with_context(|| format!("cannot reach the gateway at {gateway}"))?;
        statuses.push(answer.status);
    }
    Ok(statuses)
}

fn varz(gateway: &str) -> anyhow::Result<serde_json::Value> {
    let page = probe::get(gateway, "/varz", Duration::from_secs(5))?;
    serde_json::from_str(&page.body).context("the gateway's /varz is not JSON")
}

/// Stages 11, 12 and 13.
pub fn stages(demo: &Demo) -> anyhow::Result<()> {
    let dir = &demo.dir;
    // The last known good package to roll back to: the same signed chain, its own version.
    super::copy_dir(&dir.join("model"), &dir.join("model-stable"))?;
    let _ = std::fs::remove_file(dir.join("model-stable/mlspec-package.yaml"));
    let _ = std::fs::remove_file(dir.join("model-stable/mlspec-package.intoto.jsonl"));
    demo.stage(
        "11 stable package",
        &[
            "package",
            "build",
            "model-stable",
            "--name",
            "churn-stable",
            "--version",
            "0.9.0",
            "--format",
            "smartcore-logistic-json",
            "--test-report",
            "TestReport/churn-test-read-1",
        ],
    )?;
    demo.stage(
        "11 sign",
        &["package", "sign", "model-stable", "--key", "keys/private.pem"],
    )?;
    demo.stage(
        "12 baseline",
        &[
            "data",
            "profile",
            "parts/train.parquet",
            "--dataset",
            "Dataset/customers-train-transformed@1",
            "--name",
            "churn-train-features",
            "--out",
            "train-features.profile.yaml",
            "--quiet",
        ],
    )?;
    std::fs::write(dir.join("policy.yaml"), POLICY)?;
    demo.stage("12 policy", &["apply", "policy.yaml"])?;
    let (_stable_server, stable) = demo.background(
        &["demo", "model-server", "model-stable", "--addr-file", "stable.addr"],
        "stable.addr",
    )?;
    let (_new_server, new) = demo.background(
        &["demo", "model-server", "model", "--addr-file", "new.addr"],
        "new.addr",
    )?;
    outln!("── 11 model servers: churn-stable@0.9.0 at http://{stable}, churn@1.0.0 at http://{new}\n");
    let stable_url = format!("http://{stable}");
    let canary = format!("model=http://{new}");
    let rollback_to = format!("model-stable=http://{stable}");
    let serve_args = [
        "serve",
        "model-stable",
        "--upstream",
        &stable_url,
        "--canary",
        &canary,
        "--canary-percent",
        "25",
        "--policy",
        "policy.yaml",
        "--rollback-to",
        &rollback_to,
        "--capture",
        "capture.jsonl",
        "--key",
        "keys/private.pem",
        "--listen",
        "127.0.0.1:0",
        "--addr-file",
        "gateway.addr",
        "--health-interval",
        "0.25",
    ];
    outln!("── 11 serve: mlspec {}", serve_args.join(" "));
    let (mut gateway_process, gateway) = demo.background(&serve_args, "gateway.addr")?;
    wait_for(&gateway, "the gateway to be ready", |_| {
        probe::get(&gateway, "/readyz", Duration::from_secs(2)).is_ok_and(|r| r.status == 200)
    })?;
    outln!("   gateway at http://{gateway}: churn-stable@0.9.0 answers, churn@1.0.0 is the canary at 25%\n");
    let rows: Vec<[f64; 3]> = read_rows(&dir.join("parts/holdback.parquet"))?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let normal = &rows[..rows.len().min(80)];
    let statuses = send(&gateway, normal, 0.0, "req")?;
    let answered = varz(&gateway)?;
    outln!(
        "── 11 canary: {} requests, {} answered 200",
        statuses.len(),
        statuses.iter().filter(|s| **s == 200).count()
    );
    for entry in answered["responses"].as_array().into_iter().flatten() {
        outln!(
            "   route {}: {} answered {}",
            entry["route"].as_str().unwrap_or("?"),
            entry["count"],
            entry["status"]
        );
    }
    outln!();
    demo.stage("11 promote", &["rollout", "promote", &gateway])?;
    // A window passes on normal traffic, then the inputs drift: age three standard deviations up.
    std::thread::sleep(Duration::from_millis(2100));
    let drifted = &rows[..rows.len().min(60)];
    send(&gateway, drifted, 3.0, "drifted")?;
    outln!(
        "── 12 drift: {} requests with age shifted by +3 standard deviations",
        drifted.len()
    );
    let page = wait_for(&gateway, "the monitoring window to close", |v| {
        v["monitoring"]["actions"].as_array().is_some_and(|a| !a.is_empty())
    })?;
    for action in page["monitoring"]["actions"].as_array().into_iter().flatten() {
        outln!(
            "   action {}: {} ({})",
            action["type"].as_str().unwrap_or("?"),
            action["detail"].as_str().unwrap_or(""),
            action["result"].as_str().unwrap_or("")
        );
    }
    outln!(
        "   now answering: {}\n",
        page["packages"][0]["model"].as_str().unwrap_or("?")
    );
    demo.stage("12 reports", &["list", "MonitoringReport", "--label", "breached=true"])?;
    stop(&mut gateway_process)?;
    demo.stage(
        "13 log verify",
        &["log", "verify", "serve.log", "--pubkey", "keys/public.pem"],
    )?;
    let line = first_line(&dir.join("serve.log"), "route=canary")?;
    demo.stage(
        "audit",
        &[
            "log",
            "audit",
            &format!("serve.log:{line}"),
            "--package",
            "model",
            "--pubkey",
            "keys/public.pem",
        ],
    )?;
    Ok(())
}

/// Polls the gateway's /varz until `done` says so (at most 20 s); the page that did.
fn wait_for(gateway: &str, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = varz(gateway).unwrap_or_default();
        if done(&page) {
            return Ok(page);
        }
        if Instant::now() > deadline {
            bail!("waited 20 s for {what}; /varz says: {page}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, and what the gateway said.
fn stop(gateway: &mut Background) -> anyhow::Result<()> {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(gateway.0.id()).context("a pid out of range")?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
    let mut stderr = String::new();
    if let Some(mut pipe) = gateway.0.stderr.take() {
        use std::io::Read as _;
        pipe.read_to_string(&mut stderr)?;
    }
    let status = gateway.0.wait()?;
    outln!("── 13 stop the gateway (SIGTERM)");
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        outln!("   {line}");
    }
    outln!();
    if !status.success() {
        bail!("the gateway stopped with {status}");
    }
    Ok(())
}

/// The number of the first line of the log containing `text`.
fn first_line(log: &Path, text: &str) -> anyhow::Result<usize> {
    let content = std::fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))?;
    content
        .lines()
        .position(|l| l.contains(text))
        .map(|i| i + 1)
        .with_context(|| format!("{} has no line with {text}", log.display()))
}

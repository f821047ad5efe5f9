//! The serving gateway against third-party software: a real model server behind it (PyPI's
//! MLServer serving a scikit-learn model over the Open Inference Protocol, asked with
//! tritonclient directly and through the gateway), a real Prometheus scraping it, and goaccess
//! and apachelogs reading its log. `scripts/interop-setup` installs them: the interop venv named
//! by MLSPEC_INTEROP_PYTHON (tritonclient, prometheus_client, apachelogs), MLServer in a venv of
//! its own beside it (`…-mlserver`: its pins conflict with the interop venv's), and Debian's
//! prometheus and goaccess. interop/mlserver holds the model's recipe and the tritonclient check.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlspec_server::probe;
use nix::sys::signal::Signal;

use super::interop::{Prometheus, beside_interop_venv, check_metrics_pages, poll, python};
use super::serve::{
    INFER, Process, field, infer_body, leave_mid_body, log_fields, post, serve, signed_package, stub, two_packages,
    verify_log,
};
use super::store::mlspec;

fn interop(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop").join(path)
}

/// `N` distinct free loopback ports (all held until each is chosen, so none repeats).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [TcpListener; N] = std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").unwrap());
    listeners.map(|l| l.local_addr().unwrap().port())
}

/// MLServer (from the venv scripts/interop-setup makes) serving interop/mlserver's model
/// `churn` from `dir`/mlserver on free ports; its HTTP address once `/v2/health/ready` says so.
fn mlserver(dir: &Path) -> (Process, String) {
    let program = beside_interop_venv("-mlserver", "mlserver");
    let model_dir = dir.join("mlserver");
    let [http, grpc, metrics] = free_ports();
    let made = Command::new(program.with_file_name("python"))
        .arg(interop("mlserver/make_model.py"))
        .arg(&model_dir)
        .args([http, grpc, metrics].map(|port| port.to_string()))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "make_model.py: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let log_path = dir.join("mlserver.log");
    let log = File::create(&log_path).unwrap();
    let mut process = Process(
        Command::new(&program)
            .args(["start", "."])
            .current_dir(&model_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = probe::get(&addr, "/v2/health/ready", Duration::from_secs(2));
        if ready.as_ref().is_ok_and(|r| r.status == 200) {
            return (process, addr);
        }
        let said = || std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("MLServer exited ({status}) before it was ready:\n{}", said());
        }
        assert!(
            Instant::now() < deadline,
            "MLServer was not ready within 2 minutes ({ready:?}):\n{}",
            said()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mlserver_answers_tritonclient_the_same_through_the_gateway_and_its_log_audits() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_mlserver, upstream) = mlserver(dir);
    signed_package(dir, "model", "churn", "1.0.0", true);
    let gateway = serve(dir, "model", &upstream, &[]);
    gateway.wait_ready(200);
    let compared = Command::new(python)
        .arg(interop("mlserver/compare_with_tritonclient.py"))
        .args([upstream.as_str(), gateway.addr.as_str(), "churn"])
        .output()
        .unwrap();
    assert!(
        compared.status.success(),
        "tritonclient direct and through the gateway: {}{}",
        String::from_utf8_lossy(&compared.stdout),
        String::from_utf8_lossy(&compared.stderr)
    );
    let (code, stderr) = gateway.stop(Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");

    let text = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    let lines = log_fields(&dir.join("serve.log"));
    let inferences: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains("\"POST /v2/models/churn/infer HTTP/1.1\" 200 "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(inferences.len(), 5, "5 inference requests through the gateway: {text}");
    for &i in &inferences {
        let line = &lines[i];
        assert_eq!(field(line, "model"), Some("churn@1.0.0"), "{text}");
        assert_eq!(field(line, "route"), Some("primary"), "{text}");
        for digest in ["in", "out"] {
            assert!(
                field(line, digest).is_some_and(|d| d.starts_with("sha256:")),
                "{digest}= on line {}: {text}",
                i + 1
            );
        }
    }
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/churn/ready",
        "/v2/models/churn",
    ] {
        assert!(
            text.contains(&format!("\"GET {path} HTTP/1.1\" 200 ")),
            "{path} through the gateway: {text}"
        );
    }
    let verified = verify_log(dir);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    let at = format!("serve.log:{}", inferences[0] + 1);
    let audit = mlspec(
        dir,
        &["log", "audit", &at, "--package", "model", "--pubkey", "keys/public.pem"],
    );
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
}

#[test]
fn prometheus_scrapes_the_gateway_and_its_metrics_pages_pass_the_standard_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "model", "churn", "1.0.0", true);
    let (_stub, upstream) = stub(dir, "stub");
    let gateway = serve(dir, "model", &upstream, &[]);
    gateway.wait_ready(200);
    for i in 0..5 {
        let answer = post(&gateway.addr, INFER, &[], &infer_body(&format!("p-{i}"), [1.0, -0.5]));
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    check_metrics_pages(&gateway.addr);

    let prometheus = Prometheus::scraping(&gateway.addr);
    assert_eq!(poll("Prometheus scraping the gateway", || prometheus.query("up")), "1");
    let buckets = poll("the latency histogram in Prometheus", || {
        prometheus.query("count(mlspec_gateway_request_duration_seconds_bucket)")
    });
    assert!(
        buckets.parse::<u32>().is_ok_and(|n| n > 1),
        "histogram buckets scraped: {buckets}"
    );
    let (code, stderr) = gateway.stop(Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn goaccess_and_apachelogs_read_every_line_the_gateway_wrote_faults_and_events_included() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (first, upstream, second, upstream2) = two_packages(dir);
    let canary = format!("model2=http://{upstream2}");
    let gateway = serve(dir, "model", &upstream, &["--canary", &canary, "--max-body", "2000"]);
    gateway.wait_ready(200);
    let body = infer_body("g", [1.0, 2.0]);
    for i in 0..10 {
        let answer = post(&gateway.addr, INFER, &[("x-request-id", &format!("g-{i}"))], &body);
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let large = post(&gateway.addr, INFER, &[("x-request-id", "large")], &"x".repeat(3000));
    assert_eq!(large.status, 413, "{large:?}");
    // A client that leaves mid-body.
    leave_mid_body(&gateway.addr, "gone");
    let promote = mlspec(dir, &["rollout", "promote", &gateway.addr]);
    assert_eq!(promote.code, 0, "{}", promote.stderr);
    // Both model servers go away.
    drop((first, second));
    gateway.wait_ready(503);
    let down = post(&gateway.addr, INFER, &[("x-request-id", "down")], &body);
    assert!(matches!(down.status, 502 | 503), "{down:?}");
    let (code, stderr) = gateway.stop(Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");

    let log = dir.join("serve.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = log_fields(&log);
    let has = |key: &str, value: &str| lines.iter().any(|l| field(l, key) == Some(value));
    assert!(has("gateway", "too-large") && text.contains("\" 413 "), "{text}");
    assert!(has("aborted", "client") && text.contains("\" 499 "), "{text}");
    assert!(has("event", "promote"), "{text}");
    assert!(
        has("rid", "down") && (text.contains("\" 503 ") || text.contains("\" 502 ")),
        "{text}"
    );

    let goaccess = Command::new("bash")
        .arg(interop("accesslog/check_goaccess.sh"))
        .arg(&log)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&goaccess.stdout);
    assert!(
        goaccess.status.success(),
        "{said}{}\n{text}",
        String::from_utf8_lossy(&goaccess.stderr)
    );
    assert!(
        said.contains("'failed_requests': 0") && said.contains(&format!("'valid_requests': {}", lines.len())),
        "{said}\n{text}"
    );
    let apachelogs = Command::new(python())
        .arg(interop("accesslog/check_apachelogs.py"))
        .arg("combined+fields")
        .arg(&log)
        .output()
        .unwrap();
    let parsed = String::from_utf8_lossy(&apachelogs.stdout);
    assert!(
        apachelogs.status.success() && parsed.ends_with(&format!("{} lines OK\n", lines.len())),
        "{parsed}{}\n{text}",
        String::from_utf8_lossy(&apachelogs.stderr)
    );
    let verified = verify_log(dir);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

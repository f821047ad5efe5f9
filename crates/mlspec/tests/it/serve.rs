//! The serving gateway end to end: `mlspec serve` in front of a stand-in model server
//! (upstream_stub.py), requests answered and logged, faults answered with reasons, packages
//! refused, canary and shadow routes, SIGTERM and SIGKILL.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlspec_server::probe;
use sha2::{Digest as _, Sha256};

use super::store::mlspec;

/// A process killed (by its PID) when the test ends.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a file a process writes once it listens; its content.
fn wait_for_file(path: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the process exited ({status}) before writing {}", path.display());
        }
        assert!(Instant::now() < deadline, "{} was not written", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stand-in model server; its address.
pub fn stub(dir: &Path, name: &str) -> (Process, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/upstream_stub.py");
    let port_file = dir.join(format!("{name}.port"));
    let mut child = Command::new("python3")
        .arg(script)
        .arg(&port_file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let port = wait_for_file(&port_file, &mut child);
    (Process(child), format!("127.0.0.1:{port}"))
}

/// A signed package `DIR` named `name` at `version`, whose signed verdict `passed` (or not).
pub fn signed_package(dir: &Path, package: &str, name: &str, version: &str, passed: bool) {
    std::fs::create_dir_all(dir.join(package)).unwrap();
    std::fs::write(dir.join(package).join("weights.bin"), format!("{name} {version}")).unwrap();
    if !dir.join("keys/private.pem").exists() {
        assert_eq!(mlspec(dir, &["keygen", "--out", "keys"]).code, 0);
    }
    let result = if passed { "passed" } else { "failed" };
    let report = format!(
        "apiVersion: mlspec/v1\nkind: TestReport\nmetadata:\n  name: {name}-test\nspec:\n  model: Artifact/model\n  dataset: Dataset/holdback@1\n  evaluation: Evaluation/eval\n  evaluationDataset: Dataset/test@1\n  trainingDatasets: [Dataset/train@1]\n  metrics:\n    - {{key: accuracy, value: 0.96}}\n  holdbackReads: 1\n  holdbackReadBudget: 3\n  verdict:\n    objectives: Objectives/churn\n    result: {result}\n    criteria:\n      - {{name: accuracy, met: {passed}, severity: block}}\n"
    );
    std::fs::write(dir.join(format!("{package}-test.yaml")), report).unwrap();
    let test_report = format!("{package}-test.yaml");
    let build = mlspec(
        dir,
        &[
            "package",
            "build",
            package,
            "--name",
            name,
            "--version",
            version,
            "--test-report",
            &test_report,
            "--no-record",
        ],
    );
    assert_eq!(build.code, 0, "{}", build.stderr);
    let sign = mlspec(dir, &["package", "sign", package, "--key", "keys/private.pem"]);
    assert_eq!(sign.code, 0, "{}", sign.stderr);
}

/// A running `mlspec serve`.
pub struct Gateway {
    pub process: Process,
    pub addr: String,
}

/// Starts `mlspec serve PACKAGE --upstream http://UPSTREAM` in `dir` with `extra` arguments.
pub fn serve(dir: &Path, package: &str, upstream: &str, extra: &[&str]) -> Gateway {
    let addr_file = dir.join("gateway.addr");
    let _ = std::fs::remove_file(&addr_file);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("mlspec"))
        .current_dir(dir)
        .args([
            "serve",
            package,
            "--upstream",
            &format!("http://{upstream}"),
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--key",
            "keys/private.pem",
            "--addr-file",
            "gateway.addr",
            "--health-interval",
            "0.2",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = wait_for_file(&addr_file, &mut child);
    Gateway {
        process: Process(child),
        addr,
    }
}

impl Gateway {
    /// Waits until `/readyz` answers `status`.
    pub fn wait_ready(&self, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = probe::get(&self.addr, "/readyz", Duration::from_secs(2));
            if answer.as_ref().is_ok_and(|r| r.status == status) {
                return;
            }
            assert!(Instant::now() < deadline, "/readyz never answered {status}: {answer:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal and waits for the exit; the exit code and stderr.
    pub fn stop(mut self, signal: nix::sys::signal::Signal) -> (i32, String) {
        let pid = nix::unistd::Pid::from_raw(self.process.0.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.process.0.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        let status = self.process.0.wait().unwrap();
        (status.code().unwrap_or(-1), stderr)
    }
}

/// POSTs `body` to `path` at `addr` with `headers`; the status and body.
pub fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> probe::Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    probe::parse(&raw).unwrap()
}

/// A client that sends a request's head and part of its body, then hangs up.
pub fn leave_mid_body(addr: &str, rid: &str) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {INFER} HTTP/1.1\r\nHost: x\r\nx-request-id: {rid}\r\nContent-Length: 1000\r\n\r\n{{\"inp"
    )
    .unwrap();
}

/// An OIP request of one row.
pub fn infer_body(id: &str, row: [f64; 2]) -> String {
    format!(
        r#"{{"id":"{id}","inputs":[{{"name":"x","shape":[1,2],"datatype":"FP64","data":[{},{}]}}]}}"#,
        row[0], row[1]
    )
}

pub const INFER: &str = "/v2/models/m/infer";

/// The log's lines, parsed into (field, value) lists.
pub fn log_fields(path: &Path) -> Vec<Vec<(String, String)>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let fields = line.rsplit_once('"').unwrap().1;
            fields
                .split(' ')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

pub fn field<'a>(line: &'a [(String, String)], key: &str) -> Option<&'a str> {
    line.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn sha256(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

pub fn verify_log(dir: &Path) -> super::store::Out {
    mlspec(dir, &["log", "verify", "serve.log", "--pubkey", "keys/public.pem"])
}

#[test]
fn requests_are_forwarded_answered_and_logged_bound_to_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "model", "churn", "1.0.0", true);
    let (_stub, upstream) = stub(dir, "stub");
    let gateway = serve(dir, "model", &upstream, &["--capture", "capture.jsonl"]);
    gateway.wait_ready(200);
    let mut sent = Vec::new();
    for i in 0..5 {
        let body = infer_body(&format!("r-{i}"), [f64::from(i) - 2.0, 0.5]);
        let direct = post(&upstream, INFER, &[], &body);
        let through = post(&gateway.addr, INFER, &[("x-request-id", &format!("req-{i}"))], &body);
        assert_eq!((through.status, &through.body), (200, &direct.body));
        sent.push((body, through.body));
    }
    let health = probe::get(&gateway.addr, "/v2/health/ready", Duration::from_secs(5)).unwrap();
    assert_eq!(health.status, 200, "the upstream's own health path is forwarded");
    let varz: serde_json::Value =
        serde_json::from_str(&probe::get(&gateway.addr, "/varz", Duration::from_secs(5)).unwrap().body).unwrap();
    assert_eq!(varz["packages"][0]["model"], "churn@1.0.0");
    assert_eq!(varz["packages"][0]["upstreamUp"], true);
    let metrics = probe::get(&gateway.addr, "/metrics", Duration::from_secs(5))
        .unwrap()
        .body;
    assert!(
        metrics.contains("mlspec_gateway_requests_total{route=\"primary\",code=\"200\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mlspec_gateway_request_duration_seconds_bucket{route=\"primary\",le=\"+Inf\"} 6"),
        "{metrics}"
    );
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("serve.log has 6 lines, all signed"), "{stderr}");
    let lines = log_fields(&dir.join("serve.log"));
    assert_eq!(lines.len(), 6);
    for (i, (body, answer)) in sent.iter().enumerate() {
        let line = &lines[i];
        assert_eq!(field(line, "rid"), Some(format!("req-{i}").as_str()));
        assert_eq!(field(line, "model"), Some("churn@1.0.0"));
        assert_eq!(field(line, "route"), Some("primary"));
        assert_eq!(field(line, "in"), Some(sha256(body).as_str()));
        assert_eq!(field(line, "out"), Some(sha256(answer).as_str()));
    }
    let captured: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("capture.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(captured.len(), 5, "the bodies of the 5 POSTs, not the GET");
    for (i, (body, answer)) in sent.iter().enumerate() {
        assert_eq!(captured[i]["rid"], format!("req-{i}"));
        assert_eq!(captured[i]["input"], body.as_str());
        assert_eq!(captured[i]["output"], answer.as_str());
    }
    let verified = verify_log(dir);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    let audit = mlspec(
        dir,
        &[
            "log",
            "audit",
            "serve.log:2",
            "--package",
            "model",
            "--pubkey",
            "keys/public.pem",
        ],
    );
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    assert!(
        audit.stdout.starts_with("request req-1 — serve.log:2\n"),
        "{}",
        audit.stdout
    );
}

#[test]
fn a_package_that_changed_after_signing_or_failed_its_objectives_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "model", "churn", "1.0.0", true);
    signed_package(dir, "failed", "churn", "0.9.0", false);
    std::fs::write(dir.join("model/weights.bin"), "changed").unwrap();
    let start = |package: &str, upstream: &str, extra: &[&str]| {
        let mut args = vec![
            "serve",
            package,
            "--upstream",
            upstream,
            "--key",
            "keys/private.pem",
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend(extra);
        mlspec(dir, &args)
    };
    let changed = start("model", "http://127.0.0.1:9", &[]);
    assert_eq!(changed.code, 2, "{}", changed.stderr);
    assert!(
        changed.stderr.contains("refusing to serve model: it does not verify"),
        "{}",
        changed.stderr
    );
    assert!(changed.stderr.contains("weights.bin"), "{}", changed.stderr);
    let failed = start("failed", "http://127.0.0.1:9", &[]);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("the signed verdict against \"Objectives/churn\" is `failed`"),
        "{}",
        failed.stderr
    );
    let bad_url = start("failed", "127.0.0.1:9", &["--allow-unverified"]);
    assert_eq!(bad_url.code, 2);
    assert!(
        bad_url.stderr.contains("give http://HOST:PORT[/PREFIX]"),
        "{}",
        bad_url.stderr
    );
    assert!(!dir.join("serve.log").exists(), "nothing was logged");
}

#[test]
fn faults_are_answered_with_reasons_and_each_is_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "model", "churn", "1.0.0", true);
    let (stub_process, upstream) = stub(dir, "stub");
    let gateway = serve(
        dir,
        "model",
        &upstream,
        &["--upstream-timeout", "0.5", "--max-body", "2000"],
    );
    gateway.wait_ready(200);
    let body = infer_body("f", [1.0, 1.0]);
    let cases: [(&str, u16, &str); 5] = [
        ("slow:2", 504, "sent no answer within 500 ms"),
        ("garbage", 502, "upstream"),
        ("close", 502, "upstream"),
        ("status:500", 500, "asked for"),
        ("cut", 200, ""),
    ];
    for (behaviour, status, reason) in cases {
        let answer = post(
            &gateway.addr,
            INFER,
            &[("x-stub", behaviour), ("x-request-id", behaviour)],
            &body,
        );
        assert_eq!(answer.status, status, "{behaviour}: {answer:?}");
        assert!(answer.body.contains(reason), "{behaviour}: {}", answer.body);
    }
    let large = post(&gateway.addr, INFER, &[("x-request-id", "large")], &"x".repeat(3000));
    assert_eq!(large.status, 413);
    assert!(large.body.contains("over 2000 bytes (--max-body)"), "{}", large.body);
    // A client that leaves mid-body.
    leave_mid_body(&gateway.addr, "gone");
    // The upstream goes away.
    drop(stub_process);
    gateway.wait_ready(503);
    let readyz = probe::get(&gateway.addr, "/readyz", Duration::from_secs(5)).unwrap();
    assert!(readyz.body.contains("the primary upstream is down"), "{}", readyz.body);
    let down = post(&gateway.addr, INFER, &[("x-request-id", "down")], &body);
    assert_eq!(down.status, 503, "{down:?}");
    assert!(down.body.contains("failed"), "{}", down.body);
    std::thread::sleep(Duration::from_millis(300));
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let lines = log_fields(&dir.join("serve.log"));
    let line = |rid: &str| {
        lines
            .iter()
            .find(|l| field(l, "rid") == Some(rid))
            .unwrap_or_else(|| panic!("no line for {rid}: {lines:?}"))
    };
    assert_eq!(field(line("slow:2"), "gateway"), Some("timeout"));
    assert_eq!(field(line("garbage"), "gateway"), Some("bad-gateway"));
    assert_eq!(field(line("close"), "gateway"), Some("bad-gateway"));
    assert_eq!(field(line("status:500"), "gateway"), None);
    assert_eq!(field(line("cut"), "gateway"), Some("bad-gateway"));
    assert_eq!(field(line("large"), "gateway"), Some("too-large"));
    assert_eq!(field(line("gone"), "aborted"), Some("client"));
    assert_eq!(field(line("down"), "gateway"), Some("unavailable"));
    let text = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(
        text.contains("\" 504 ") && text.contains("\" 499 ") && text.contains("\" 413 "),
        "{text}"
    );
    let verified = verify_log(dir);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

/// Two signed packages (churn 1.0.0 in `model`, 2.0.0 in `model2`), a store, and a stub for each.
pub fn two_packages(dir: &Path) -> (Process, String, Process, String) {
    signed_package(dir, "model", "churn", "1.0.0", true);
    signed_package(dir, "model2", "churn", "2.0.0", true);
    // The store knows the package (the Rollout refers to it), without the test chain behind it.
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    std::fs::create_dir_all(dir.join("recorded")).unwrap();
    std::fs::write(dir.join("recorded/weights.bin"), "w").unwrap();
    let build = mlspec(
        dir,
        &["package", "build", "recorded", "--name", "churn", "--version", "2.0.0"],
    );
    assert_eq!(build.code, 0, "{}", build.stderr);
    let (first, upstream) = stub(dir, "stub");
    let (second, upstream2) = stub(dir, "stub2");
    (first, upstream, second, upstream2)
}

/// The stored document of `reference`, as JSON.
fn stored(dir: &Path, reference: &str) -> serde_json::Value {
    let out = mlspec(dir, &["get", reference, "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn models_by_rid(dir: &Path) -> std::collections::BTreeMap<String, (String, String)> {
    log_fields(&dir.join("serve.log"))
        .iter()
        .filter_map(|l| {
            let value = (field(l, "model")?.to_owned(), field(l, "route")?.to_owned());
            Some((field(l, "rid")?.to_owned(), value))
        })
        .collect()
}

#[test]
fn a_canary_answers_its_sticky_share_and_an_operator_promotes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = two_packages(dir);
    let canary = format!("model2=http://{upstream2}");
    let gateway = serve(
        dir,
        "model",
        &upstream,
        &["--canary", &canary, "--canary-percent", "30"],
    );
    gateway.wait_ready(200);
    let body = infer_body("c", [1.0, 2.0]);
    for i in 0..200 {
        let key = format!("user-{}", i % 100);
        let rid = format!("split-{i}");
        let answer = post(
            &gateway.addr,
            INFER,
            &[("x-mlspec-route", &key), ("x-request-id", &rid)],
            &body,
        );
        assert_eq!(answer.status, 200);
    }
    post(
        &gateway.addr,
        INFER,
        &[("x-mlspec-route", "canary"), ("x-request-id", "forced")],
        &body,
    );
    let status = mlspec(dir, &["rollout", "status", &gateway.addr]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains("rollout churn-rollout of ModelPackage/churn: step 1 of 1, inProgress"),
        "{}",
        status.stdout
    );
    let promote = mlspec(dir, &["rollout", "promote", &gateway.addr]);
    assert_eq!(promote.code, 0, "{}", promote.stderr);
    assert!(promote.stdout.contains("succeeded"), "{}", promote.stdout);
    post(&gateway.addr, INFER, &[("x-request-id", "after")], &body);
    let again = mlspec(dir, &["rollout", "abort", &gateway.addr]);
    assert_eq!(again.code, 2, "an ended rollout cannot be aborted");
    assert!(again.stderr.contains("the rollout is over"), "{}", again.stderr);
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");

    let routes = models_by_rid(dir);
    let canary_share = (0..200).filter(|i| routes[&format!("split-{i}")].1 == "canary").count();
    assert!((35..=85).contains(&canary_share), "{canary_share} of 200 at 30%");
    for i in 0..100 {
        // The same key, the same route.
        assert_eq!(routes[&format!("split-{i}")], routes[&format!("split-{}", i + 100)]);
    }
    for (route, model) in routes.values().map(|(m, r)| (r.as_str(), m.as_str())) {
        let expected = if route == "canary" {
            "churn@2.0.0"
        } else {
            "churn@1.0.0"
        };
        assert!(
            model == expected || route == "primary" && model == "churn@2.0.0",
            "{route} {model}"
        );
    }
    assert_eq!(routes["forced"], ("churn@2.0.0".to_owned(), "canary".to_owned()));
    assert_eq!(
        routes["after"],
        ("churn@2.0.0".to_owned(), "primary".to_owned()),
        "promoted: the canary serves all"
    );
    let text = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(
        text.contains("\"POST /_mlspec/events/promote HTTP/1.1\" 200")
            && text.contains("event=promote from=churn@1.0.0 to=churn@2.0.0"),
        "{text}"
    );
    let rollout = stored(dir, "Rollout/churn-rollout");
    let spec = &rollout["spec"];
    assert_eq!(spec["outcome"], "succeeded");
    assert_eq!(spec["previous"], "ModelPackage/churn");
    assert_eq!(spec["steps"][0]["trafficPercent"], 30.0);
    assert_eq!(spec["steps"][0]["decidedBy"], "operator");
    assert_eq!(
        spec["steps"][0]["observations"]["requests"].as_f64().unwrap() as usize,
        canary_share + 1
    );
    assert_eq!(spec["steps"][1]["trafficPercent"], 100.0);
    let verified = verify_log(dir);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    let line = log_fields(&dir.join("serve.log"))
        .iter()
        .position(|l| field(l, "rid") == Some("forced"))
        .unwrap()
        + 1;
    let at = format!("serve.log:{line}");
    let audit = mlspec(
        dir,
        &[
            "log",
            "audit",
            &at,
            "--package",
            "model2",
            "--pubkey",
            "keys/public.pem",
        ],
    );
    assert_eq!(
        audit.code, 0,
        "a canary line audits against the canary's package: {}{}",
        audit.stdout, audit.stderr
    );
}

#[test]
fn a_planned_rollout_steps_on_schedule_and_an_abort_sends_everything_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = two_packages(dir);
    std::fs::write(
        dir.join("plan.yaml"),
        "apiVersion: mlspec/v1\nkind: Rollout\nmetadata:\n  name: churn-2\nspec:\n  package: ModelPackage/churn\n  environment: staging\n  strategy: canary\n  steps:\n    - {trafficPercent: 20, duration: 300ms, result: pending}\n    - {trafficPercent: 50, duration: 1h, result: pending}\n  outcome: pending\n",
    )
    .unwrap();
    let canary = format!("model2=http://{upstream2}");
    let gateway = serve(
        dir,
        "model",
        &upstream,
        &["--canary", &canary, "--rollout", "plan.yaml"],
    );
    gateway.wait_ready(200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !mlspec(dir, &["rollout", "status", &gateway.addr])
        .stdout
        .contains("step 2 of 2")
    {
        assert!(Instant::now() < deadline, "the first step never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = probe::get(&gateway.addr, "/metrics", Duration::from_secs(5))
        .unwrap()
        .body;
    assert!(
        metrics.contains("mlspec_gateway_canary_traffic_percent 50"),
        "{metrics}"
    );
    let abort = mlspec(dir, &["rollout", "abort", &gateway.addr]);
    assert_eq!(abort.code, 0, "{}", abort.stderr);
    assert!(
        abort.stdout.contains("2. 50% for 1h: failed (operator)"),
        "{}",
        abort.stdout
    );
    let body = infer_body("a", [1.0, 2.0]);
    for i in 0..20 {
        post(
            &gateway.addr,
            INFER,
            &[
                ("x-mlspec-route", &format!("k{i}")),
                ("x-request-id", &format!("back-{i}")),
            ],
            &body,
        );
    }
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let routes = models_by_rid(dir);
    assert!((0..20).all(|i| routes[&format!("back-{i}")] == ("churn@1.0.0".to_owned(), "primary".to_owned())));
    let spec = &stored(dir, "Rollout/churn-2")["spec"];
    assert_eq!(spec["outcome"], "rolledBack");
    assert_eq!(spec["environment"], "staging");
    assert_eq!(spec["steps"][0]["result"], "succeeded");
    assert_eq!(spec["steps"][0]["decidedBy"], "schedule");
    assert_eq!(spec["steps"][1]["result"], "failed");
    let history = mlspec(dir, &["history", "Rollout/churn-2"]);
    assert!(
        history.stdout.lines().count() >= 3,
        "each change is a version: {}",
        history.stdout
    );
}

#[test]
fn shadow_copies_are_answered_and_logged_but_never_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = two_packages(dir);
    let canary = format!("model2=http://{upstream2}");
    let gateway = serve(dir, "model", &upstream, &["--canary", &canary, "--shadow"]);
    gateway.wait_ready(200);
    let body = infer_body("s", [1.0, 2.0]);
    for i in 0..10 {
        let answer = post(
            &gateway.addr,
            INFER,
            &[("x-mlspec-route", "canary"), ("x-request-id", &format!("s-{i}"))],
            &body,
        );
        assert_eq!(answer.status, 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let lines = log_fields(&dir.join("serve.log"));
    let count = |route: &str, model: &str| {
        lines
            .iter()
            .filter(|l| field(l, "route") == Some(route) && field(l, "model") == Some(model))
            .count()
    };
    assert_eq!(count("primary", "churn@1.0.0"), 10);
    assert_eq!(count("shadow", "churn@2.0.0"), 10);
}

#[test]
fn a_killed_gateway_leaves_a_log_that_says_what_is_unsigned_and_a_restart_needs_consent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "model", "churn", "1.0.0", true);
    let (_stub, upstream) = stub(dir, "stub");
    let slow_checkpoints = ["--checkpoint-interval", "3600", "--fsync", "line"];
    let gateway = serve(dir, "model", &upstream, &slow_checkpoints);
    gateway.wait_ready(200);
    let body = infer_body("k", [1.0, 2.0]);
    for i in 0..5 {
        post(&gateway.addr, INFER, &[("x-request-id", &format!("k-{i}"))], &body);
    }
    std::thread::sleep(Duration::from_millis(200));
    let (code, _) = gateway.stop(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(code, -1, "killed");
    let verified = verify_log(dir);
    assert_eq!(verified.code, 1, "{}{}", verified.stdout, verified.stderr);
    assert!(
        verified.stdout.contains("unsigned") || verified.stderr.contains("unsigned"),
        "{}{}",
        verified.stdout,
        verified.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("serve.log")).unwrap().lines().count(),
        5,
        "every answered request was logged"
    );
    let refused = mlspec(
        dir,
        &[
            "serve",
            "model",
            "--upstream",
            &format!("http://{upstream}"),
            "--key",
            "keys/private.pem",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--allow-unsigned-tail"), "{}", refused.stderr);
    let gateway = serve(dir, "model", &upstream, &["--allow-unsigned-tail"]);
    gateway.wait_ready(200);
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let verified = verify_log(dir);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

/// A baseline profile of features `a` and `b` (500 rows), as `data profile` writes it.
fn baseline(dir: &Path) {
    let mut csv = String::from("a,b\n");
    for i in 0..500 {
        csv.push_str(&format!("{},{}\n", feature(i, 37), feature(i, 53)));
    }
    std::fs::write(dir.join("base.csv"), csv).unwrap();
    let profile = mlspec(
        dir,
        &["data", "profile", "base.csv", "--out", "base.profile.yaml", "--quiet"],
    );
    assert_eq!(profile.code, 0, "{}", profile.stderr);
}

/// A deterministic spread of values in [-5, 5).
fn feature(i: usize, stride: usize) -> f64 {
    ((i * stride) % 100) as f64 / 10.0 - 5.0
}

const WATCH: &str = "apiVersion: mlspec/v1
kind: MonitoringPolicy
metadata:
  name: watch
spec:
  target: ModelPackage/churn
  columns: [a, b]
  signals:
    - {name: a-drift, type: drift, feature: a, threshold: {op: '>', value: 0.3}, window: 1s, minRequests: 10}
    - {name: errors, type: errorRate, threshold: {op: '>', value: 0.5}, window: 1s}
    - {name: accuracy, type: performance, feature: predict, threshold: {op: '<', value: 0.1}, window: 1s}
  rollback:
    target: ModelPackage/churn-stable
    automatic: true
    trigger: {signals: [a-drift], when: any, consecutive: 1}
";

/// Sends `n` requests with ids `PREFIX-i`, feature `a` shifted by `shift`.
fn send_rows(addr: &str, prefix: &str, n: usize, shift: f64) {
    for i in 0..n {
        let body = infer_body(&format!("{prefix}-{i}"), [feature(i, 37) + shift, feature(i, 53)]);
        let answer = post(addr, INFER, &[("x-request-id", &format!("{prefix}-{i}"))], &body);
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

/// The store, the packages `model` (churn 1.0.0) and `stable` (churn-stable 0.9.0), their
/// stubs, the baseline and the policy (applied).
fn watched(dir: &Path) -> (Process, String, Process, String) {
    signed_package(dir, "model", "churn", "1.0.0", true);
    signed_package(dir, "stable", "churn-stable", "0.9.0", true);
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    for name in ["churn", "churn-stable"] {
        let recorded = dir.join(format!("recorded-{name}"));
        std::fs::create_dir_all(&recorded).unwrap();
        std::fs::write(recorded.join("w"), name).unwrap();
        let build = mlspec(
            dir,
            &[
                "package",
                "build",
                recorded.to_str().unwrap(),
                "--name",
                name,
                "--version",
                "1.0.0",
            ],
        );
        assert_eq!(build.code, 0, "{}", build.stderr);
    }
    baseline(dir);
    std::fs::write(dir.join("policy.yaml"), WATCH).unwrap();
    let applied = mlspec(dir, &["apply", "policy.yaml"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let (first, upstream) = stub(dir, "stub");
    let (second, upstream2) = stub(dir, "stub2");
    (first, upstream, second, upstream2)
}

fn watching_gateway(dir: &Path, upstream: &str, upstream2: &str) -> Gateway {
    let rollback_to = format!("stable=http://{upstream2}");
    let args = [
        "--policy",
        "policy.yaml",
        "--baseline",
        "base.profile.yaml",
        "--rollback-to",
        &rollback_to,
        "--capture",
        "--protocol",
        "oip",
    ];
    let gateway = serve(dir, "model", upstream, &args);
    gateway.wait_ready(200);
    gateway
}

/// `mlspec monitor serve.log --policy policy.yaml --baseline base.profile.yaml --no-record`
/// with `extra` arguments.
fn monitor_log(dir: &Path, extra: &[&str]) -> super::store::Out {
    let mut args = vec![
        "monitor",
        "serve.log",
        "--policy",
        "policy.yaml",
        "--baseline",
        "base.profile.yaml",
        "--no-record",
    ];
    args.extend(extra);
    mlspec(dir, &args)
}

/// Polls /varz until the monitoring section has an action; it.
fn wait_for_action(gateway: &Gateway) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let varz: serde_json::Value =
            serde_json::from_str(&probe::get(&gateway.addr, "/varz", Duration::from_secs(5)).unwrap().body).unwrap();
        if let Some(action) = varz["monitoring"]["actions"].as_array().and_then(|a| a.first()) {
            return action.clone();
        }
        assert!(Instant::now() < deadline, "no action within 15 s: {varz}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn drift_breaches_a_window_and_the_rollback_moves_traffic_to_the_verified_target() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = watched(dir);
    let gateway = watching_gateway(dir, &upstream, &upstream2);
    send_rows(&gateway.addr, "normal", 30, 0.0);
    std::thread::sleep(Duration::from_millis(1100));
    send_rows(&gateway.addr, "drifted", 40, 20.0);
    let action = wait_for_action(&gateway);
    assert_eq!(action["type"], "rollback", "{action}");
    assert_eq!(action["result"], "done", "{action}");
    assert_eq!(action["target"], "ModelPackage/churn-stable");
    assert_eq!(action["evidence"], serde_json::json!(["a-drift"]));
    send_rows(&gateway.addr, "after", 5, 0.0);
    let metrics = probe::get(&gateway.addr, "/metrics", Duration::from_secs(5))
        .unwrap()
        .body;
    assert!(
        metrics.contains("mlspec_gateway_signal_breached{route=\"primary\",signal=\"a-drift\"}"),
        "{metrics}"
    );
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");

    let routes = models_by_rid(dir);
    assert_eq!(routes["normal-0"].0, "churn@1.0.0");
    assert!(
        (0..5).all(|i| routes[&format!("after-{i}")].0 == "churn-stable@0.9.0"),
        "{routes:?}"
    );
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(
        log.contains("event=rollback from=churn@1.0.0") && log.contains("to=churn-stable@0.9.0"),
        "{log}"
    );
    assert_eq!(verify_log(dir).code, 0);
    let breached = mlspec(dir, &["list", "MonitoringReport", "--label", "breached=true"]);
    assert_eq!(breached.code, 0, "{}", breached.stderr);
    let name = breached
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    let report = &stored(dir, &format!("MonitoringReport/{name}"))["spec"];
    assert_eq!(report["policy"], "MonitoringPolicy/watch");
    assert_eq!(report["package"], "ModelPackage/churn");
    let drift = report["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "a-drift")
        .unwrap();
    assert!(
        drift["value"].as_f64().unwrap() > 0.3 && drift["breached"] == true,
        "{drift}"
    );
    assert!(drift["examples"][0].as_str().unwrap().starts_with("mean "), "{drift}");
    assert_eq!(report["actions"][0]["type"], "rollback");

    // The same signals offline, from the log and the bodies it captured.
    // The bodies are found beside the log (serve.log.capture.jsonl, `serve --capture`'s default).
    let offline = monitor_log(dir, &[]);
    assert_eq!(
        offline.code, 1,
        "a breach is a violation: {}{}",
        offline.stdout, offline.stderr
    );
    assert!(
        offline.stdout.contains("a-drift") && offline.stdout.contains("BREACHED"),
        "{}",
        offline.stdout
    );
    assert!(
        offline
            .stderr
            .contains("76 requests replayed, 75 with their captured bodies")
            || offline.stderr.contains("with their captured bodies"),
        "{}",
        offline.stderr
    );
    std::fs::copy(dir.join("serve.log"), dir.join("copied.log")).unwrap();
    let blind = mlspec(
        dir,
        &[
            "monitor",
            "copied.log",
            "--policy",
            "policy.yaml",
            "--baseline",
            "base.profile.yaml",
            "--no-record",
        ],
    );
    assert_eq!(blind.code, 0, "{}{}", blind.stdout, blind.stderr);
    assert!(
        blind
            .stderr
            .contains("no --capture: drift, prediction drift and performance cannot be computed"),
        "{}",
        blind.stderr
    );
    assert!(blind.stdout.contains("skipped"), "{}", blind.stdout);
}

#[test]
fn a_rollback_target_that_does_not_verify_is_refused_and_traffic_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = watched(dir);
    let gateway = watching_gateway(dir, &upstream, &upstream2);
    std::fs::write(dir.join("stable/weights.bin"), "tampered after signing").unwrap();
    send_rows(&gateway.addr, "drifted", 40, 20.0);
    let action = wait_for_action(&gateway);
    assert_eq!(action["type"], "alert", "{action}");
    assert_eq!(action["result"], "refused", "{action}");
    assert!(
        action["detail"].as_str().unwrap().contains("does not verify"),
        "{action}"
    );
    send_rows(&gateway.addr, "after", 3, 0.0);
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let routes = models_by_rid(dir);
    assert!(
        (0..3).all(|i| routes[&format!("after-{i}")].0 == "churn@1.0.0"),
        "{routes:?}"
    );
    assert!(
        std::fs::read_to_string(dir.join("serve.log"))
            .unwrap()
            .contains("event=rollback-refused")
    );
    // Without a server for the target, the gateway still serves; a trigger is a refused alert.
    std::fs::remove_file(dir.join("serve.log")).unwrap();
    std::fs::remove_file(dir.join("serve.log.checkpoints")).unwrap();
    let args = ["--policy", "policy.yaml", "--baseline", "base.profile.yaml"];
    let gateway = serve(dir, "model", &upstream, &args);
    gateway.wait_ready(200);
    send_rows(&gateway.addr, "drifted", 40, 20.0);
    let action = wait_for_action(&gateway);
    assert_eq!(
        (action["type"].as_str(), action["result"].as_str()),
        (Some("alert"), Some("refused")),
        "{action}"
    );
    assert!(
        action["detail"]
            .as_str()
            .unwrap()
            .contains("no server for ModelPackage/churn-stable was given"),
        "{action}"
    );
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("which is not served here"), "{stderr}");
}

#[test]
fn a_policy_the_baseline_cannot_support_is_refused_at_start_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signed_package(dir, "model", "churn", "1.0.0", true);
    baseline(dir);
    let policy = WATCH
        .replace("feature: a,", "feature: agee,")
        .replace("type: errorRate,", "type: errorRate, metric: p42,");
    std::fs::write(dir.join("bad.yaml"), policy).unwrap();
    let out = mlspec(
        dir,
        &[
            "serve",
            "model",
            "--upstream",
            "http://127.0.0.1:9",
            "--key",
            "keys/private.pem",
            "--listen",
            "127.0.0.1:0",
            "--policy",
            "bad.yaml",
            "--baseline",
            "base.profile.yaml",
            "--rollback-to",
            "model=http://127.0.0.1:9",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("bad.yaml: /spec/signals/0/feature"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("agee"), "{}", out.stderr);
    assert!(
        out.stderr.contains("bad.yaml: /spec/signals/1/metric"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("serve.log").exists());
    let unknown = mlspec(
        dir,
        &["monitor", "serve.log", "--policy", "bad.yaml", "--protocol", "grpc"],
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("`grpc` is not oip, tfserving, mlflow or json"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn labels_join_logged_requests_live_and_offline_and_unmatched_ids_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = watched(dir);
    let gateway = watching_gateway(dir, &upstream, &upstream2);
    for i in 0..20 {
        let body = infer_body(&format!("l-{i}"), [i as f64 - 10.0, 0.0]);
        assert_eq!(
            post(&gateway.addr, INFER, &[("x-request-id", &format!("l-{i}"))], &body).status,
            200
        );
    }
    let mut labels = String::from("rid,label\n");
    for i in 0..20 {
        labels.push_str(&format!("l-{i},1\n"));
    }
    labels.push_str("nobody-1,0\nnobody-2,1\nnobody-3,1\n");
    std::fs::write(dir.join("labels.csv"), labels).unwrap();
    let live = mlspec(dir, &["monitor", "feedback", &gateway.addr, "--labels", "labels.csv"]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert!(
        live.stdout
            .contains("20 labels joined to a request, 3 matched no request"),
        "{}",
        live.stdout
    );
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let offline = mlspec(
        dir,
        &[
            "monitor",
            "feedback",
            "serve.log",
            "--labels",
            "labels.csv",
            "--window",
            "1d",
            "--no-record",
        ],
    );
    assert_eq!(offline.code, 0, "{}{}", offline.stdout, offline.stderr);
    assert!(
        offline
            .stderr
            .contains("labels: 20 joined to a request, 3 matched no request"),
        "{}",
        offline.stderr
    );
    // Rows i - 10 > 0 are predicted 1: 9 of the 20, all labelled 1.
    let accuracy: Vec<&str> = offline.stdout.lines().filter(|l| l.contains(" accuracy ")).collect();
    assert!(
        accuracy.iter().any(|l| l.contains("0.4500")) || accuracy.len() == 2,
        "{}",
        offline.stdout
    );
}

#[test]
fn a_canary_whose_traffic_breaches_is_rolled_back_and_the_rollout_names_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_a, upstream, _b, upstream2) = watched(dir);
    // The same signals without a rollback: drifted requests the primary answers once the canary
    // is gone move nothing more.
    let policy = WATCH
        .split("  rollback:")
        .next()
        .unwrap()
        .replace("name: watch", "name: canary-watch");
    std::fs::write(dir.join("canary-policy.yaml"), policy).unwrap();
    assert_eq!(mlspec(dir, &["apply", "canary-policy.yaml"]).code, 0);
    let canary = format!("stable=http://{upstream2}");
    let args = [
        "--canary",
        &canary,
        "--canary-percent",
        "50",
        "--policy",
        "canary-policy.yaml",
        "--baseline",
        "base.profile.yaml",
    ];
    let gateway = serve(dir, "model", &upstream, &args);
    gateway.wait_ready(200);
    for i in 0..40 {
        let body = infer_body(&format!("c-{i}"), [feature(i, 37) + 20.0, feature(i, 53)]);
        let answer = post(
            &gateway.addr,
            INFER,
            &[("x-mlspec-route", "canary"), ("x-request-id", &format!("c-{i}"))],
            &body,
        );
        assert_eq!(answer.status, 200);
    }
    let action = wait_for_action(&gateway);
    assert_eq!(action["type"], "rollback", "{action}");
    assert!(
        action["detail"]
            .as_str()
            .unwrap()
            .starts_with("the canary breached a-drift"),
        "{action}"
    );
    post(
        &gateway.addr,
        INFER,
        &[("x-mlspec-route", "canary"), ("x-request-id", "after")],
        &infer_body("after", [0.0, 0.0]),
    );
    let (code, stderr) = gateway.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 0, "{stderr}");
    let routes = models_by_rid(dir);
    assert_eq!(routes["c-0"], ("churn-stable@0.9.0".to_owned(), "canary".to_owned()));
    assert_eq!(
        routes["after"],
        ("churn@1.0.0".to_owned(), "primary".to_owned()),
        "rolled back: no canary"
    );
    let spec = &stored(dir, "Rollout/churn-stable-rollout")["spec"];
    assert_eq!(spec["outcome"], "rolledBack");
    assert_eq!(spec["steps"][0]["decidedBy"], "monitoring");
    let report = spec["steps"][0]["reports"][0].as_str().unwrap();
    assert!(report.starts_with("MonitoringReport/canary-watch-canary-"), "{spec}");
    assert_eq!(stored(dir, report)["spec"]["actions"][0]["type"], "rollback");
}

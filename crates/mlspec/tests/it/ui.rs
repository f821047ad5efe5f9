//! The web UI over a real socket: every page answered from a seeded store, user text escaped
//! wherever it is shown, lists paged and sorted by the store, a filter that does not parse
//! shown in place (200, the wrong part marked), unknown addresses and ids a 404 page, the
//! security headers on every answer, the token check on every page and asset (a Basic
//! challenge, so browsers ask), and the loopback `Host` check of a server without tokens.
//! Then every page in a real browser (ui_browser.py: Playwright driving Debian's chromium, from
//! the venv scripts/interop-setup makes; axe-core for accessibility), screenshots kept in
//! `$CARGO_TARGET_DIR/ui-artifacts/`.

use std::fmt::Write as _;
use std::path::Path;

use super::interop::beside_interop_venv;
use super::log::signed_package;
use super::server::{basic, create_token, exchange, launch, request, start};
use super::store::mlspec;

/// Text that would run a script if any page failed to escape it.
const INJECTED: &str = r#"<script>window.__pwned=1</script>"'><img src=x onerror="window.__pwned=1">"#;

/// An experiment, `runs` runs in it (metric `acc` = i/1000 at two steps, a parameter and a label
/// carrying [`INJECTED`]) and one run updated, so its history has a change.
fn seed(dir: &Path, runs: usize) {
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let quoted = serde_json::to_string(INJECTED).unwrap();
    let mut yaml = format!(
        "apiVersion: mlspec/v1\nkind: Experiment\nmetadata: {{name: churn, description: {quoted}}}\nspec: {{}}\n"
    );
    for i in 0..runs {
        write!(
            yaml,
            "---\napiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: run-{i:03}, labels: {{note: {quoted}}}}}\nspec:\n  experiment: Experiment/churn\n  status: Finished\n  startTime: 2026-12-01T10:00:00Z\n  endTime: 2026-12-01T11:00:00Z\n  params: {{lr: {lr}, note: {quoted}}}\n  metrics:\n    - {{key: acc, value: {half}, step: 1}}\n    - {{key: acc, value: {acc}, step: 2}}\n",
            lr = (i % 7) as f64 / 10.0,
            half = i as f64 / 2000.0,
            acc = i as f64 / 1000.0,
        )
        .unwrap();
    }
    std::fs::write(dir.join("seed.yaml"), yaml).unwrap();
    let out = mlspec(dir, &["apply", "seed.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let update = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: run-001}\nspec: {experiment: Experiment/churn, status: Failed, startTime: 2026-12-01T10:00:00Z, endTime: 2026-12-01T11:00:00Z, exitCode: 1, params: {lr: 0.1}}\n";
    std::fs::write(dir.join("update.yaml"), update).unwrap();
    assert_eq!(mlspec(dir, &["apply", "update.yaml"]).code, 0);
}

/// Appends `points` points of `loss` and `acc` to a run's series through the API, 5,000 steps
/// (10,000 points) a post (`loss` falls from 1 with a spike at the middle step; `acc` rises), one second apart.
fn append_series(addr: &str, run: &str, points: u64, auth: &[(&str, &str)]) {
    let mut start = 0;
    while start < points {
        let end = (start + 5_000).min(points);
        let mut batch = Vec::with_capacity(2 * (end - start) as usize);
        for step in start..end {
            let spike = if step == points / 2 { 5.0 } else { 0.0 };
            let time = 1_764_000_000_000_000 + step as i64 * 1_000_000;
            batch.push(serde_json::json!({"key": "loss", "value": 1.0 / (1.0 + step as f64) + spike, "step": step, "timestampUs": time}));
            batch.push(serde_json::json!({"key": "acc", "value": step as f64 / points as f64, "step": step, "timestampUs": time}));
        }
        let body = serde_json::json!({"points": batch}).to_string();
        let mut headers = vec![("Content-Type", "application/json")];
        headers.extend_from_slice(auth);
        let (status, answer) = request(
            addr,
            "POST",
            &format!("/api/v1/ids/{run}/series"),
            &headers,
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(status, 200, "{answer}");
        start = end;
    }
}

/// The id of the `kind` named `name`.
fn id_of(dir: &Path, kind: &str, name: &str) -> String {
    let out = mlspec(dir, &["get", kind, name, "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    document["metadata"]["id"].as_str().unwrap().to_owned()
}

/// A page's status and HTML.
fn page(addr: &str, path: &str) -> (u16, String) {
    request(addr, "GET", path, &[], b"").unwrap_or_else(|| panic!("GET {path}: no answer"))
}

/// The names of the runs listed, in order.
fn listed_runs(html: &str) -> Vec<String> {
    html.split("<th scope=\"row\">")
        .skip(1)
        .filter_map(|row| row.split("\">").nth(1)?.split('<').next().map(str::to_owned))
        .collect()
}

#[test]
fn every_page_shows_the_store_with_user_text_escaped() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 120);
    let server = start(dir.path(), None);
    let addr = &server.addr;
    let run = id_of(dir.path(), "Run", "run-001");
    let experiment = id_of(dir.path(), "Experiment", "churn");
    let pages = [
        "/".to_owned(),
        "/ui/runs".to_owned(),
        "/ui/kinds/Experiment".to_owned(),
        format!("/ui/objects/{run}"),
        format!("/ui/objects/{run}/history"),
        format!("/ui/objects/{experiment}"),
        format!("/ui/lineage/{experiment}?depth=2"),
    ];
    for path in &pages {
        let (status, html) = page(addr, path);
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.starts_with("<!DOCTYPE html>"), "{path}");
        // The only scripts are the page's own files; injected text appears escaped.
        assert_eq!(html.matches("<script").count(), 2, "{path}: {html}");
        assert!(!html.contains("<img src=x"), "{path}");
    }
    let other = id_of(dir.path(), "Run", "run-002");
    let (_, object) = page(addr, &format!("/ui/objects/{other}"));
    assert!(
        object.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"),
        "{object}"
    );
    let (_, history) = page(addr, &format!("/ui/objects/{run}/history"));
    assert!(history.contains("<code>/spec/status</code>"), "{history}");
    assert!(history.contains("Finished") && history.contains("Failed"), "{history}");
    let (_, lineage) = page(addr, &format!("/ui/lineage/{experiment}?depth=1"));
    assert!(lineage.contains("data-nodes=\"121\""), "{lineage}");
    assert_eq!(lineage.matches("<rect ").count(), 121);

    let (status, raw) = page(addr, &format!("/ui/objects/{run}/raw?format=json"));
    assert_eq!(status, 200);
    let document: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(document["spec"]["status"], "Failed");
    let (status, yaml) = page(addr, &format!("/ui/objects/{run}/raw?format=yaml"));
    assert!(status == 200 && yaml.contains("kind: Run"), "{yaml}");
}

#[test]
fn the_runs_table_pages_sorts_shows_columns_and_explains_a_bad_filter() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 120);
    let server = start(dir.path(), None);
    let addr = &server.addr;

    let (status, first) = page(addr, "/ui/runs?order=metrics.acc%20desc&columns=metrics.acc,params.lr");
    assert_eq!(status, 200);
    let names = listed_runs(&first);
    assert_eq!(names.len(), 50, "{first}");
    assert_eq!(&names[..3], ["run-119", "run-118", "run-117"]);
    assert!(first.contains("<td class=\"num\">0.119</td>"), "{first}");
    assert!(first.contains("rel=\"next\"") && !first.contains("rel=\"prev\""));
    let (_, last) = page(addr, "/ui/runs?order=metrics.acc%20desc&page=3");
    assert_eq!(listed_runs(&last).len(), 20);
    assert!(last.contains("rel=\"prev\"") && !last.contains("rel=\"next\""));

    let (_, filtered) = page(
        addr,
        "/ui/runs?where=metrics.acc%20%3C%200.005&experiment=Experiment/churn",
    );
    assert_eq!(listed_runs(&filtered), ["run-000", "run-002", "run-003", "run-004"]);

    let (status, bad) = page(addr, "/ui/runs?where=metrics.acc%20%3E");
    assert_eq!(status, 200, "a filter that does not parse is shown in place: {bad}");
    assert!(bad.contains("role=\"alert\"") && bad.contains("<mark>"), "{bad}");
    assert!(bad.contains("aria-invalid=\"true\""));
    let (_, bad_order) = page(addr, "/ui/runs?order=metrics.acc%20sideways");
    assert!(bad_order.contains("is not a direction"), "{bad_order}");
}

#[test]
fn a_long_curve_reaches_the_chart_downsampled_with_its_spike() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 3);
    let server = start(dir.path(), None);
    let addr = &server.addr;
    let (a, b) = (id_of(dir.path(), "Run", "run-000"), id_of(dir.path(), "Run", "run-002"));
    append_series(addr, &a, 100_000, &[]);
    append_series(addr, &b, 1_000, &[]);
    let (status, html) = page(addr, &format!("/ui/runs/compare?run={a}&run={b}"));
    assert_eq!(status, 200, "{html}");
    assert_eq!(html.matches("data-chart=").count(), 2, "acc and loss: {html}");
    assert!(html.contains("<tr class=\"differs\">"), "{html}");

    let (status, json) = page(addr, &format!("/ui/series?key=loss&run={a}&run={b}&width=500"));
    assert_eq!(status, 200, "{json}");
    let curves: serde_json::Value = serde_json::from_str(&json).unwrap();
    let long = &curves["runs"][0];
    assert_eq!(
        (long["total"].as_u64(), long["downsampled"].as_bool()),
        (Some(100_000), Some(true))
    );
    let ys: Vec<Option<f64>> = serde_json::from_value(long["y"].clone()).unwrap();
    assert!(ys.len() <= 1000, "{}", ys.len());
    assert_eq!(ys.len(), curves["x"].as_array().unwrap().len());
    let peak = ys.iter().flatten().cloned().fold(f64::MIN, f64::max);
    assert!(
        (peak - (5.0 + 1.0 / 50_001.0)).abs() < 1e-5,
        "the spike survives downsampling: {peak}"
    );
    // The short run's 1,000 steps fill the first pixels of the long run's axis.
    let short: Vec<Option<f64>> = serde_json::from_value(curves["runs"][1]["y"].clone()).unwrap();
    assert_eq!(curves["runs"][1]["total"], 1000);
    assert!(
        short.iter().flatten().count() <= 12 && short[0] == Some(1.0) && short.iter().flatten().any(|v| *v > 5.0),
        "{short:?}"
    );

    // Zoomed in on the time axis (seconds), at full detail.
    let from = 1_764_000_000.0 + 50_000.0;
    let (_, zoomed) = page(
        addr,
        &format!(
            "/ui/series?key=loss&run={a}&axis=time&from={from}&to={}&width=500",
            from + 100.0
        ),
    );
    let zoomed: serde_json::Value = serde_json::from_str(&zoomed).unwrap();
    let xs: Vec<f64> = serde_json::from_value(zoomed["x"].clone()).unwrap();
    assert_eq!(xs.len(), 101, "{zoomed}");
    assert_eq!(zoomed["runs"][0]["downsampled"], false);
    assert_eq!(xs[0], from);

    for bad in ["key=loss", "run=x&key=loss", &format!("run={a}&key=loss&axis=sideways")] {
        let (status, _) = page(addr, &format!("/ui/series?{bad}"));
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
}

#[test]
fn unknown_pages_ids_and_parameters_are_pages_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 1);
    let server = start(dir.path(), None);
    let addr = &server.addr;
    for path in [
        "/nope",
        "/ui/objects/0193c7a2-7b7e-7d4e-8f00-000000000000",
        "/ui/objects/..%2f..%2fetc",
        "/ui/kinds/Nope",
        "/ui/lineage/missing",
        "/ui/assets/nope.js",
    ] {
        let (status, html) = page(addr, path);
        assert_eq!(status, 404, "{path}: {html}");
        assert!(html.contains("<h1>Not found</h1>"), "{path}: {html}");
    }
    for path in [
        "/ui/runs?page=x",
        "/ui/runs?size=-1",
        "/ui/lineage/x?direction=sideways",
    ] {
        let (status, html) = page(addr, path);
        assert!(status == 400 || status == 404, "{path}: {status} {html}");
    }
    // The API's own unknown routes stay JSON.
    let (status, body) = page(addr, "/api/v1/ids/x/y/z/w");
    assert_eq!(status, 404);
    assert!(body.starts_with('{'), "{body}");
}

#[test]
fn every_answer_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 1);
    let server = start(dir.path(), None);
    for path in ["/", "/nope", "/ui/assets/ui.js"] {
        let answer = exchange(&server.addr, "GET", path, &[], b"").unwrap();
        let head = answer.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(
            head.contains("content-security-policy: default-src 'none'; script-src 'self';"),
            "{path}: {head}"
        );
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(head.contains("x-frame-options: deny"), "{head}");
    }
}

#[test]
fn the_ui_needs_a_token_when_the_server_has_tokens() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 1);
    let token = create_token(dir.path(), "viewer", "read");
    let server = launch(dir.path(), None, &[], &[]);
    let addr = &server.addr;
    for path in ["/", "/ui/runs", "/ui/assets/uPlot.iife.min.js", "/nope"] {
        let answer = exchange(addr, "GET", path, &[], b"").unwrap();
        let head = answer.split("\r\n\r\n").next().unwrap().to_owned();
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
        assert!(
            head.contains("www-authenticate: Basic realm=\"mlspec\""),
            "{path}: {head}"
        );
        assert!(!answer.contains("run-000"), "{path}: no data without a token");
        let (name, value) = basic("anyone", &token);
        let (status, _) = request(addr, "GET", path, &[(name, &value)], b"").unwrap();
        assert_eq!(status, if path == "/nope" { 404 } else { 200 }, "{path}");
    }
    let (name, value) = basic("anyone", "mlspec_wrong");
    let (status, body) = request(addr, "GET", "/", &[(name, &value)], b"").unwrap();
    assert_eq!(status, 401);
    assert!(!body.contains("mlspec_wrong"), "{body}");
}

#[test]
fn a_server_without_tokens_answers_loopback_names_only() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 1);
    let server = start(dir.path(), None);
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    for host in ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example"] {
        let host = format!("{host}:{port}");
        for path in ["/", "/api/v1/Run"] {
            let answer = raw_with_host(&server.addr, path, &host);
            assert!(answer.starts_with("HTTP/1.1 421"), "{host}{path}: {answer}");
            assert!(!answer.contains("run-000"));
        }
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        assert!(
            raw_with_host(&server.addr, "/", &host).starts_with("HTTP/1.1 200"),
            "{host}"
        );
    }
}

/// A GET with a `Host` header of our choosing.
fn raw_with_host(addr: &str, path: &str, host: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Where the browser test keeps its screenshots (CI keeps them as artifacts).
fn artifacts() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-artifacts")
}

#[test]
fn every_page_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 120);
    let token = create_token(dir.path(), "browser", "read");
    let writer = create_token(dir.path(), "writer", "write");
    let server = launch(dir.path(), None, &[], &[]);
    let (name, value) = basic("seed", &writer);
    let curves: Vec<String> = ["run-119", "run-118", "run-117"]
        .iter()
        .map(|r| id_of(dir.path(), "Run", r))
        .collect();
    for run in &curves {
        append_series(&server.addr, run, 100_000, &[(name, &value)]);
    }
    let compare = format!(
        "/ui/runs/compare?{}",
        curves.iter().map(|r| format!("run={r}")).collect::<Vec<_>>().join("&")
    );
    let run = id_of(dir.path(), "Run", "run-002");
    let experiment = id_of(dir.path(), "Experiment", "churn");
    let plan = serde_json::json!({
        "pages": [
            {"name": "start", "path": "/", "texts": ["Experiments", "churn", "Latest runs"]},
            {"name": "runs", "path": "/ui/runs?columns=metrics.acc,params.lr,params.note&order=metrics.acc%20desc",
             "texts": ["run-119", "0.119", INJECTED], "counts": {"table.list tbody tr": 50}},
            {"name": "runs-bad-filter", "path": "/ui/runs?where=metrics.acc%20%3E", "texts": ["Where: "],
             "counts": {"[role=alert] mark": 1}},
            {"name": "experiments", "path": "/ui/kinds/Experiment", "texts": ["churn"]},
            {"name": "run", "path": format!("/ui/objects/{run}"), "texts": ["run-002", "acc", "0.002", INJECTED]},
            {"name": "history", "path": format!("/ui/objects/{}/history", id_of(dir.path(), "Run", "run-001")),
             "texts": ["/spec/status", "Failed"]},
            {"name": "experiment", "path": format!("/ui/objects/{experiment}"), "texts": [INJECTED]},
            {"name": "lineage", "path": format!("/ui/lineage/{experiment}?depth=1"),
             "counts": {"svg.lineage g.nodes > a": 121}},
            {"name": "compare", "path": compare, "texts": ["Compare 3 runs", "Parameters", "run-119"],
             "charts": {"keys": 2, "series": 3, "total": 100_000}},
            {"name": "not-found", "path": "/ui/objects/no-such-object", "status": 404, "statuses": [404],
             "texts": ["Not found"]},
        ],
        "flows": {
            "filter": "metrics.acc < 0.005", "filter_rows": 4, "highest": "run-119", "compare": 3,
            "lineage": format!("/ui/lineage/{experiment}?depth=1"), "lineage_nodes": 121,
        },
    });
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let out = browser(&server.addr, &token, &plan_file);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("ui: screenshots in {}", artifacts().display());
}

/// ui_browser.py through the `plan` (JSON), against the server at `addr`.
fn browser(addr: &str, token: &str, plan: &Path) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ui_browser.py");
    let axe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/vendor/axe-core-4.14.1/axe.min.js");
    std::process::Command::new(beside_interop_venv("-playwright", "python"))
        .arg(script)
        .args(["--base", &format!("http://{addr}"), "--token", token])
        .args(["--chromium", "/usr/bin/chromium", "--axe"])
        .arg(axe)
        .arg("--out")
        .arg(artifacts())
        .arg("--plan")
        .arg(plan)
        .output()
        .unwrap()
}

/// A package signed with `keys/`, built in `packages/churn`, and `logs/serve.log` holding two
/// requests it answered (the second one's user agent carrying [`INJECTED`]), made by the CLI.
fn signed_package_and_log(dir: &Path) {
    signed_package(dir, "packages/churn");
    std::fs::create_dir(dir.join("logs")).unwrap();
    let agent = serde_json::to_string(INJECTED).unwrap();
    let records = format!(
        "{{\"client\":\"10.0.0.1\",\"method\":\"POST\",\"path\":\"/v2/models/churn/infer\",\"status\":200,\"request_id\":\"req-1\",\"latency_ms\":2}}\n{{\"client\":\"10.0.0.2\",\"method\":\"POST\",\"path\":\"/v2/models/churn/infer\",\"status\":200,\"user_agent\":{agent},\"request_id\":\"req-2\",\"latency_ms\":3}}\n"
    );
    let out = assert_cmd::Command::cargo_bin("mlspec")
        .unwrap()
        .current_dir(dir)
        .args([
            "log",
            "append",
            "logs/serve.log",
            "--key",
            "keys/private.pem",
            "--package",
            "packages/churn",
        ])
        .write_stdin(records)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_audit_page_walks_a_logged_request_with_the_servers_logs_packages_and_key() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), 1);
    signed_package_and_log(dir.path());
    let options = [
        "--audit-logs",
        "logs",
        "--packages",
        "packages",
        "--pubkey",
        "keys/public.pem",
    ];
    let server = launch(dir.path(), None, &[], &options);
    let addr = &server.addr;
    let (status, html) = page(addr, "/ui/audit?log=serve.log&line=2");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<code>req-2</code>"), "{html}");
    assert!(
        html.contains("Chain: <span class=\"pass\">verified</span> — signed"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"pass\">verified</span> — the line names its attestations"),
        "{html}"
    );
    assert!(!html.contains("<img src=x"), "{html}");
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    let (status, _) = page(addr, "/ui/audit?log=..%2Fkeys%2Fprivate.pem&line=1");
    assert_eq!(status, 400);
}

/// A pipeline runner, killed with its steps (its process group) if the test ends first.
struct Runner(Option<std::process::Child>);

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// A pipeline whose second step waits for a file: its Run's page in a real browser shows the
/// step running (from the step's own endpoints), then, once the file is there and the pipeline
/// ends, reloads into the ended Run.
#[test]
fn a_running_pipeline_is_watched_live_in_a_real_browser() {
    use super::pipeline::{INPUTS, Project, WAITING, spawn_runner, wait_for_line};
    let project = Project::new(&format!("{INPUTS}{WAITING}"));
    let token = create_token(project.path(), "browser", "read");
    let server = launch(project.path(), None, &[], &[]);
    let flag = project.path().join("flag");
    let (child, log) = spawn_runner(&project, &flag);
    let mut runner = Runner(Some(child));
    wait_for_line(&log, "waiting: started");
    let runs = mlspec(project.path(), &["list", "Run", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("p-"))
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .expect("the pipeline's Run is recorded before its steps start");
    let (name, value) = basic("ui", &token);
    let state = format!("/ui/pipelines/{run}/state");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let running = loop {
        let (status, body) = request(&server.addr, "GET", &state, &[(name, &value)], b"").unwrap();
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        if answer["steps"][1]["state"] == "running" || std::time::Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(running["steps"][0]["state"], "finished", "{running}");
    assert_eq!(running["steps"][1]["state"], "running", "{running}");

    let plan = serde_json::json!({
        "pages": [{"name": "pipeline-live", "path": format!("/ui/objects/{run}"),
                   "texts": ["Steps, live", "quick", "finished", "waiting", "running"]}],
        "live": {"path": format!("/ui/objects/{run}"), "step": "waiting", "flag": flag,
                 "ended_texts": ["State: finished", "What each step did: WorkflowRecord/"]},
    });
    let plan_file = project.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let out = browser(&server.addr, &token, &plan_file);
    let ended = runner.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the browser found problems:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ended.status.success(), "{}", std::fs::read_to_string(&log).unwrap());
}

/// Copies the files of `from` (and its directories') into a new `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every stage `mlspec demo` records, in a real browser: objectives, a profile and one of its
/// slices, drift between two profiles, the split with its leakage check, a validation report,
/// the pipeline, its record and its Run, the evaluation, the test report, the signed package
/// verified on the server, its lineage, the monitoring window that rolled traffic back, the
/// audit of a logged request (by line, then pasted), and a raw document — each with the values and verdicts that matter, in both themes, with
/// axe-core.
#[test]
fn every_stage_of_the_demo_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = mlspec(tmp.path(), &["demo", "--dir", "run"]);
    assert_eq!(demo.code, 0, "{}{}", demo.stdout, demo.stderr);
    let run = tmp.path().join("run");
    let (logs, packages) = (tmp.path().join("logs"), tmp.path().join("packages"));
    std::fs::create_dir(&logs).unwrap();
    for file in ["serve.log", "serve.log.checkpoints"] {
        std::fs::copy(run.join(file), logs.join(file)).unwrap();
    }
    copy_dir(&run.join("model"), &packages.join("churn"));
    copy_dir(&run.join("model-stable"), &packages.join("churn-stable"));
    let token = create_token(&run, "browser", "read");
    let [logs, packages, key] = [logs, packages, run.join("keys/public.pem")].map(|p| p.display().to_string());
    let server = launch(
        &run,
        None,
        &[],
        &["--audit-logs", &logs, "--packages", &packages, "--pubkey", &key],
    );

    let id = |kind: &str, name: &str| id_of(&run, kind, name);
    let records = mlspec(&run, &["list", "WorkflowRecord", "--format", "json"]);
    let records: serde_json::Value = serde_json::from_str(&records.stdout).unwrap();
    let record = records[0]["id"].as_str().unwrap().to_owned();
    let shown = mlspec(&run, &["get", &record, "-o", "json"]);
    let pipeline_run = serde_json::from_str::<serde_json::Value>(&shown.stdout).unwrap()["spec"]["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let (profile, package, objectives) = (
        id("DataProfile", "shard-00000-profile"),
        id("ModelPackage", "churn"),
        id("Objectives", "churn"),
    );
    let reports = mlspec(&run, &["list", "MonitoringReport", "--format", "json"]);
    let reports: serde_json::Value = serde_json::from_str(&reports.stdout).unwrap();
    let rolled_back = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .find(|id| {
            let shown = mlspec(&run, &["get", id, "-o", "json"]);
            let report: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
            report["spec"]["actions"].is_array()
        })
        .expect("the demo's breached window rolled traffic back");
    let logged = std::fs::read_to_string(run.join("serve.log")).unwrap();
    let line = logged.lines().nth(1).unwrap();
    let object = |name: &str, id: &str, texts: &[&str]| serde_json::json!({"name": name, "path": format!("/ui/objects/{id}"), "texts": texts});
    let plan = serde_json::json!({
        "pages": [
            object("objectives", &objectives, &["Launch criteria", "accuracy >= 0.7", "fair-by-gender"]),
            object("profile", &profile, &["6000 rows profiled", "row_id", "Quantiles within", "outlier(s) by iqr"]),
            {"name": "profile-slice", "path": format!("/ui/objects/{profile}/slices/country%3DDE"),
             "texts": ["Slice country=DE", "2006 rows"]},
            {"name": "drift", "path": format!("/ui/profiles/compare?a={profile}&b={}", id("DataProfile", "shard-00000-holdback-profile")),
             "texts": ["features drifted", "jensenShannon", "lInfinity"]},
            object("split", &id("Split", "shard-00000-split"), &["no row and no key is in more than one split", "holdback"]),
            object("validation", &id("ValidationReport", "shard-00000-validation"), &["Result: passed", "0 error(s)"]),
            {"name": "pipeline", "path": format!("/ui/objects/{}", id("Pipeline", "churn-training")),
             "texts": ["predict-test"], "counts": {"svg.lineage g.nodes > a": 5}},
            {"name": "workflow-record", "path": format!("/ui/objects/{record}"),
             "texts": ["predictions", "finished"], "counts": {"svg.lineage g.nodes > a": 5}},
            object("pipeline-run", &pipeline_run, &["State: finished", "What each step did"]),
            object("evaluation", &id("Evaluation", "churn-eval"), &["roc_auc", "The worst slice of each metric is marked"]),
            object("test-report", &id("TestReport", "churn-test-read-1"), &["Holdback read 1 of 3", "accuracy"]),
            object("package", &package, &["every attestation signed, every file as signed", "Signed verdict: verified"]),
            {"name": "package-lineage", "path": format!("/ui/lineage/{package}?direction=upstream&depth=4"),
             "texts": ["TestReport"], "counts": {"svg.lineage g.nodes > a": 18}},
            {"name": "audit", "path": "/ui/audit?log=serve.log&line=2",
             "texts": ["Chain: verified", "the signed verdict names this test report"]},
            object("training", &id("Training", "churn-search"), &["val_accuracy"]),
            object("monitoring", &rolled_back, &["1 of 4 signal(s) breached", "age-drift", "rollback", "done", "churn-stable"]),
            {"name": "raw", "path": format!("/ui/objects/{objectives}/raw?format=yaml"),
             "texts": ["kind: Objectives"], "axe": false},
        ],
        "audit_flow": {"log": "serve.log", "paste": line,
                       "texts": ["Pasted line: verified", "Chain: verified", "says they were met"]},
    });
    let plan_file = tmp.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let out = browser(&server.addr, &token, &plan_file);
    assert!(
        out.status.success(),
        "the browser found problems:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

//! The web UI over a real socket: every page answered from a seeded store, user text escaped
//! wherever it is shown, lists paged and sorted by the store, a filter that does not parse
//! shown in place (200, the wrong part marked), unknown addresses and ids a 404 page, the
//! security headers on every answer, the token check on every page and asset (a Basic
//! challenge, so browsers ask), and the loopback `Host` check of a server without tokens.

use std::fmt::Write as _;
use std::path::Path;

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

/// A package signed with `keys/`, built in `packages/churn`, and `logs/serve.log` holding two
/// requests it answered (the second one's user agent carrying [`INJECTED`]), made by the CLI.
fn signed_package_and_log(dir: &Path) {
    std::fs::create_dir_all(dir.join("packages/churn")).unwrap();
    std::fs::create_dir(dir.join("logs")).unwrap();
    std::fs::write(dir.join("packages/churn/weights.bin"), b"weights").unwrap();
    let steps: [&[&str]; 3] = [
        &["keygen", "--out", "keys"],
        &[
            "package",
            "build",
            "packages/churn",
            "--name",
            "churn",
            "--version",
            "1.0.0",
            "--no-record",
        ],
        &["package", "sign", "packages/churn", "--key", "keys/private.pem"],
    ];
    for step in steps {
        let out = mlspec(dir, step);
        assert_eq!(out.code, 0, "{step:?}: {}", out.stderr);
    }
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

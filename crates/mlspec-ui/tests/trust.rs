//! The trust pages over a SQLite store, a signed package and a signed inference log made with
//! mlspec-attest: a package verified on the server (or each problem named), the audit of a
//! logged request link by link, pasted lines found, differing or missing, names that would
//! leave the allowed directories refused without reading, and log fields escaped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use mlspec_attest::digest::file;
use mlspec_attest::dsse::{Envelope, IN_TOTO};
use mlspec_attest::keys::{Algorithm, SigningKey};
use mlspec_attest::log::{LogOptions, LogWriter};
use mlspec_attest::package::{ENVELOPES_FILE, PACKAGE_FILE, binding};
use mlspec_attest::predicate::Verdict;
use mlspec_attest::statement::{Statement, Subject};
use mlspec_spec::kinds::Outcome;
use mlspec_store::{Location, Selector, SqlStore, Store};
use mlspec_ui::{Trust, UiConfig};
use tower::ServiceExt as _;

/// A user agent that would run a script if the page did not escape it.
const AGENT: &str = "<script>window.__pwned=1</script>";

/// The package document: `weights.bin` of `digest`, made from a training, a dataset and a test.
fn package_document(digest: &str) -> String {
    format!(
        "apiVersion: mlspec/v1
kind: ModelPackage
metadata:
  name: churn
spec:
  version: 1.0.0
  format: onnx
  files:
    - {{path: weights.bin, digest: 'sha256:{digest}', size: 7}}
  signature:
    inputs: [{{name: features, dtype: float32, shape: [-1, 3]}}]
    outputs: [{{name: churn, dtype: float32, shape: [-1]}}]
  training: Training/churn-train
  datasets: [Dataset/churn-train@1]
  testReport: TestReport/churn-test
  verdict: {{objectives: Objectives/churn, result: passed, criteria: []}}
"
    )
}

const DATA: &str = "apiVersion: mlspec/v1
kind: Datastore
metadata: {name: lake}
spec: {type: filesystem, uri: 'file:///srv/lake'}
---
apiVersion: mlspec/v1
kind: Dataset
metadata: {name: churn-train}
spec:
  versions:
    - version: '1'
      definition: {datastore: lake, path: churn/v1.csv}
      digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
";

/// A temporary directory with `packages/churn` signed by `key`, `logs/serve.log` (three
/// requests answered by it, signed), a file outside both, and the store holding the package.
struct Fixture {
    dir: tempfile::TempDir,
    key: SigningKey,
    store: Arc<dyn Store>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let model = dir.path().join("packages/churn");
        std::fs::create_dir_all(&model).unwrap();
        let document = sign_package(&model, &key);
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        write_log(&dir.path().join("logs/serve.log"), &model, &key);
        std::fs::write(dir.path().join("secret"), "TOPSECRET").unwrap();
        let (store, _) = SqlStore::init(&Location::in_project(&dir.path().join("project")))
            .await
            .unwrap();
        // The store refuses references to what it does not hold: its copy names the data only.
        let stored: String = document
            .lines()
            .filter(|l| {
                !["  training:", "  testReport:", "  verdict:"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{stored}---\n{DATA}");
        let documents = mlspec_spec::validate_text(&text, mlspec_spec::Format::Yaml, &Default::default()).documents;
        assert_eq!(documents.len(), 3);
        store.apply(&documents, "t").await.unwrap();
        Fixture {
            dir,
            key,
            store: Arc::new(store),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Everything the trust pages may use, with `keys`.
    fn trust(&self, keys: &[&SigningKey]) -> Trust {
        Trust {
            audit_logs: Some(self.path("logs")),
            packages: Some(self.path("packages")),
            keys: keys.iter().map(|k| k.public()).collect(),
        }
    }

    fn router(&self, trust: Trust) -> Router {
        mlspec_ui::router(UiConfig {
            store: self.store.clone(),
            request_timeout: Duration::from_secs(30),
            trust,
        })
    }

    async fn package_id(&self) -> String {
        let reference = "ModelPackage/churn".parse().unwrap();
        self.store.get(&Selector::from(&reference)).await.unwrap().summary.id
    }

    fn line(&self, number: usize) -> String {
        let log = std::fs::read_to_string(self.path("logs/serve.log")).unwrap();
        log.lines().nth(number - 1).unwrap().to_owned()
    }
}

/// Makes `dir` a package signed by `key` (with a passed verdict); its document's text.
fn sign_package(dir: &Path, key: &SigningKey) -> String {
    std::fs::write(dir.join("weights.bin"), b"weights").unwrap();
    let weights = file(&dir.join("weights.bin")).unwrap().sha256;
    let document = package_document(&weights);
    std::fs::write(dir.join(PACKAGE_FILE), &document).unwrap();
    let signed_document = file(&dir.join(PACKAGE_FILE)).unwrap().sha256;
    let subjects = vec![
        Subject::sha256("weights.bin", &weights),
        Subject::sha256(PACKAGE_FILE, &signed_document),
    ];
    let verdict = Verdict {
        objectives: "Objectives/churn".into(),
        result: Outcome::Passed,
        test_report: Some("TestReport/churn-test".into()),
        criteria: Vec::new(),
    };
    let payload = serde_json::to_vec(&Statement::new(subjects, verdict)).unwrap();
    let envelope = Envelope::sign(IN_TOTO, &payload, &[key]);
    std::fs::write(
        dir.join(ENVELOPES_FILE),
        serde_json::to_string(&envelope).unwrap() + "\n",
    )
    .unwrap();
    document
}

/// Three requests, `r-1` … `r-3`, answered by the package in `model`, signed by `key`.
fn write_log(log: &Path, model: &Path, key: &SigningKey) {
    let (mut writer, _) = LogWriter::open(log, binding(model).unwrap(), key.clone(), LogOptions::default()).unwrap();
    for i in 1..=3 {
        let request = mlspec_attest::log::Request {
            client: "10.0.0.7".into(),
            method: "POST".into(),
            path: format!("/v2/models/churn/infer?q=<b>{i}</b>"),
            status: 200,
            bytes: 42,
            user_agent: Some(AGENT.into()),
            request_id: format!("r-{i}"),
            latency_ms: 1.5,
            ..Default::default()
        };
        writer.append(&request).unwrap();
    }
    writer.close().unwrap();
}

/// A page's status and HTML.
async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The audit page of a pasted `line` of serve.log.
fn pasted(line: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("log", "serve.log")
        .append_pair("paste", line)
        .finish();
    format!("/ui/audit?{query}")
}

const VERIFIED: &str = "<span class=\"pass\">verified</span>";
const NOT_VERIFIED: &str = "<span class=\"fail\">not verified</span>";

#[tokio::test]
async fn the_package_page_shows_files_and_verifies_with_the_trusted_key() {
    let fixture = Fixture::new().await;
    let router = fixture.router(fixture.trust(&[&fixture.key]));
    let (status, html) = get(&router, &format!("/ui/objects/{}", fixture.package_id().await)).await;
    assert_eq!(status, 200, "{html}");
    let weights = file(&fixture.path("packages/churn/weights.bin")).unwrap().sha256;
    assert!(html.contains("<code>weights.bin</code>"), "{html}");
    assert!(html.contains(&format!("sha256:{weights}")), "{html}");
    let key_id = fixture.key.public().key_id();
    assert!(
        html.contains(&format!(
            "{VERIFIED} with key <code>{key_id}</code>: every attestation signed, every file as signed."
        )),
        "{html}"
    );
    assert!(
        html.contains("the signed verdict says the objectives were met"),
        "{html}"
    );
    assert!(html.contains("<a href=\"/ui/objects/"), "the dataset is linked: {html}");
    assert!(html.contains("<th scope=\"row\">features</th>"), "{html}");
}

#[tokio::test]
async fn a_changed_file_or_another_key_is_not_verified_and_no_options_say_which_would_verify() {
    let fixture = Fixture::new().await;
    let id = fixture.package_id().await;
    let other = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let (_, html) = get(&fixture.router(fixture.trust(&[&other])), &format!("/ui/objects/{id}")).await;
    assert!(
        html.contains(&format!("{NOT_VERIFIED} with the trusted keys:")),
        "{html}"
    );
    assert!(html.contains("no key given has the id"), "{html}");
    assert!(
        !html.contains(&fixture.dir.path().display().to_string()),
        "server paths stay hidden: {html}"
    );

    let (_, html) = get(&fixture.router(Trust::default()), &format!("/ui/objects/{id}")).await;
    assert!(html.contains("start the server with `--packages DIR`"), "{html}");

    std::fs::write(fixture.path("packages/churn/weights.bin"), b"changed").unwrap();
    let (_, html) = get(
        &fixture.router(fixture.trust(&[&fixture.key])),
        &format!("/ui/objects/{id}"),
    )
    .await;
    assert!(html.contains(NOT_VERIFIED), "{html}");
    let problems = html.split("<ul class=\"problems\">").nth(1).unwrap();
    assert!(
        problems.split("</ul>").next().unwrap().contains("weights.bin"),
        "{html}"
    );
}

#[tokio::test]
async fn the_audit_of_a_line_marks_every_link() {
    let fixture = Fixture::new().await;
    let router = fixture.router(fixture.trust(&[&fixture.key]));
    let (status, html) = get(&router, "/ui/audit?log=serve.log&line=2").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<code>r-2</code>"), "{html}");
    assert!(
        html.contains("Chain: <span class=\"pass\">verified</span> — signed"),
        "{html}"
    );
    // Package, training, data, test report and objectives.
    assert_eq!(html.matches(VERIFIED).count(), 6, "{html}");
    assert!(!html.contains(NOT_VERIFIED), "{html}");
    assert!(
        html.contains("<option value=\"serve.log\" selected>serve.log</option>"),
        "{html}"
    );
    assert!(
        html.contains("<code>Training/churn-train</code> <span class=\"unknown\">not in the store</span>"),
        "{html}"
    );
    assert!(!html.contains("serve.log.checkpoints"), "sidecars are not logs: {html}");

    // From the store alone nothing is verified, and the page says what would verify it.
    let (status, html) = get(
        &fixture.router(Trust {
            audit_logs: Some(fixture.path("logs")),
            ..Trust::default()
        }),
        "/ui/audit?log=serve.log&line=2",
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains(VERIFIED), "{html}");
    assert!(html.contains("unkeyed: no key was given"), "{html}");
    assert!(
        html.contains("taken from the store, its attestations not checked"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"/ui/objects/"),
        "the package's page is linked: {html}"
    );
}

#[tokio::test]
async fn a_pasted_line_is_found_or_the_difference_is_shown() {
    let fixture = Fixture::new().await;
    let router = fixture.router(fixture.trust(&[&fixture.key]));
    let line = fixture.line(3);
    let (status, html) = get(&router, &pasted(&line)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Pasted line: <span class=\"pass\">verified</span> — the log holds it, unchanged"),
        "{html}"
    );
    assert!(html.contains("<code>r-3</code>"), "{html}");

    let (status, html) = get(&router, &pasted(&line.replace("\" 200 ", "\" 500 "))).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("serve.log:3 has its request id, but its status differ"),
        "{html}"
    );
    assert!(html.contains("<code>r-3</code>"), "the logged line is audited: {html}");

    let (status, html) = get(&router, &pasted(&line.replace("rid=r-3", "rid=r-9"))).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("no line has its request id `r-9`"), "{html}");
    let (_, html) = get(&router, &pasted("not a line")).await;
    assert!(
        html.contains("Pasted line: <span class=\"fail\">not verified</span> — the pasted text"),
        "{html}"
    );

    let long = "x".repeat(mlspec_ui::MAX_PASTE + 1);
    let (status, _) = get(&router, &pasted(&long)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn names_that_leave_the_allowed_directories_are_refused_unread() {
    let fixture = Fixture::new().await;
    std::os::unix::fs::symlink(fixture.path("secret"), fixture.path("logs/out.log")).unwrap();
    std::fs::create_dir(fixture.path("logs/sub")).unwrap();
    let router = fixture.router(fixture.trust(&[&fixture.key]));
    for name in ["..%2Fsecret", "%2Fetc%2Fpasswd", "out.log", "sub", "..", "nope.log"] {
        let (status, html) = get(&router, &format!("/ui/audit?log={name}&line=1")).await;
        assert!(status == 400 || status == 404, "{name}: {status} {html}");
        assert!(!html.contains("TOPSECRET"), "{name}");
    }
    let (_, html) = get(&router, "/ui/audit").await;
    assert!(!html.contains("out.log") && !html.contains(">sub<"), "{html}");
    let (status, _) = get(&fixture.router(Trust::default()), "/ui/audit?log=serve.log&line=1").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn log_fields_are_escaped() {
    let fixture = Fixture::new().await;
    let router = fixture.router(fixture.trust(&[&fixture.key]));
    let (_, html) = get(&router, "/ui/audit?log=serve.log&line=1").await;
    assert!(html.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"), "{html}");
    assert!(html.contains("q=&lt;b&gt;1&lt;/b&gt;"), "{html}");
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the page's own scripts: {html}"
    );
    let (_, html) = get(&router, &pasted(&fixture.line(1))).await;
    assert_eq!(
        html.matches("<script").count(),
        2,
        "the pasted text is escaped too: {html}"
    );
}

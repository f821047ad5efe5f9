//! `mlspec server` end to end: the REST API answered over a real socket (JSON errors with the
//! right statuses), every store command run with `--store http://…` against SQLite and
//! PostgreSQL behind a server giving what it gives against the database directly, a graceful
//! SIGTERM, the database going away (503, then recovery), and the third-party checks: PyPI's
//! `openapi-spec-validator` on the served OpenAPI document and `schemathesis` against the live
//! server (from the venv named by MLSPEC_INTEROP_PYTHON, which scripts/interop-setup makes).
//! And tokens: made once and stored hashed, 401/403/200 by scope, basic auth, anonymous
//! reads, the http backend with MLSPEC_TOKEN, revocation seen at once, and no token in any
//! output.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

use super::store::{mlspec, mlspec_with, quickstart, test_stores};

/// A running `mlspec server`, killed (by PID) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `mlspec server` in `dir` (on its project store, or `store`) and waits for `/ok`.
pub(crate) fn start(dir: &Path, store: Option<&str>) -> Server {
    start_with(dir, store, &[])
}

/// [`start`] with environment variables.
fn start_with(dir: &Path, store: Option<&str>, env: &[(&str, &str)]) -> Server {
    launch(dir, store, env, &[])
}

/// [`start_with`] with more arguments for `mlspec server`.
pub(crate) fn launch(dir: &Path, store: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(cargo_bin("mlspec"));
    command
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .envs(env.iter().copied())
        .args(["server", "--listen", &addr])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(store) = store {
        command.args(["--store", store]);
    }
    let server = Server {
        child: command.spawn().unwrap(),
        addr,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(&server.addr, "GET", "/ok", &[], b"").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "the server did not answer /ok within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// One HTTP/1.1 request on a fresh connection: the status and the body; `None` when the
/// server cannot be reached.
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let answer = exchange(addr, method, path, headers, body)?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// One HTTP/1.1 request on a fresh connection: the whole answer, head and body.
pub(crate) fn exchange(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Some(String::from_utf8_lossy(&answer).into_owned())
}

fn call(server: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let (status, body) = request(&server.addr, method, path, headers, body).unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {status} {body}: {e}"));
    (status, json)
}

/// The error kind of an error answer, checking its shape.
fn kind(answer: &Value) -> &str {
    assert!(answer["error"]["message"].is_string(), "{answer}");
    answer["error"]["kind"].as_str().unwrap()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const YAML: (&str, &str) = ("Content-Type", "application/yaml");

fn run_yaml(name: &str) -> String {
    format!(
        "apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: {name}, labels: {{team: risk}}}}\nspec: {{status: Running, params: {{lr: 0.1}}}}\n"
    )
}

#[test]
fn the_api_applies_gets_lists_and_refuses_with_json_errors() {
    let project = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(project.path(), &["init"]).code, 0);
    let server = start(project.path(), None);

    let docs = format!("{}---\n{}", run_yaml("train-1"), run_yaml("train-2"));
    let (status, report) = call(
        &server,
        "POST",
        "/api/v1/apply",
        &[YAML, ("X-MLSpec-Actor", "Zo%C3%AB")],
        docs.as_bytes(),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["results"][0]["action"], "Created");
    let id = report["results"][0]["id"].as_str().unwrap().to_owned();

    let (status, object) = call(&server, "GET", "/api/v1/Run/train-1", &[], b"");
    assert_eq!((status, object["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(object["document"]["metadata"]["createdBy"], "Zoë");
    let (status, by_id) = call(&server, "GET", &format!("/api/v1/ids/{id}"), &[], b"");
    assert_eq!((status, &by_id["name"]), (200, &Value::from("train-1")));

    let (status, page) = call(
        &server,
        "GET",
        "/api/v1/Run?where=params.lr%20%3E%200.05&order_by=name%20desc&limit=1",
        &[],
        b"",
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["name"], "train-2");
    let token = page["nextPageToken"].as_str().unwrap();
    let (_, next) = call(
        &server,
        "GET",
        &format!("/api/v1/Run?where=params.lr%20%3E%200.05&order_by=name%20desc&limit=1&page_token={token}"),
        &[],
        b"",
    );
    assert_eq!(next["items"][0]["name"], "train-1");
    assert!(next.get("nextPageToken").is_none(), "{next}");

    let (status, change) = call(&server, "POST", "/api/v1/Run/train-2/deprecate", &[], b"");
    assert_eq!((status, &change["object"]["status"]), (200, &Value::from("Deprecated")));
    let (status, change) = call(
        &server,
        "POST",
        "/api/v1/Run/train-2/rename",
        &[JSON],
        br#"{"name": "train-3"}"#,
    );
    assert_eq!((status, &change["object"]["name"]), (200, &Value::from("train-3")));
    let (status, history) = call(
        &server,
        "GET",
        &format!("/api/v1/ids/{}/history", change["object"]["id"].as_str().unwrap()),
        &[],
        b"",
    );
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!((status, actions), (200, vec!["create", "deprecate", "rename"]));
    let (status, dot) = request(
        &server.addr,
        "GET",
        "/api/v1/Run/train-1/lineage?format=dot&direction=upstream&depth=2",
        &[],
        b"",
    )
    .unwrap();
    assert!(status == 200 && dot.starts_with("digraph lineage"), "{status} {dot}");
    let (status, verify) = call(&server, "GET", "/api/v1/store/verify", &[], b"");
    assert_eq!((status, verify["problems"].as_array().map(Vec::len)), (200, Some(0)));

    // Bad input: 400 with where; unknown: 404; a name taken ignoring case: 409.
    let (status, error) = call(
        &server,
        "GET",
        "/api/v1/Run?where=metrics.accuracy%20%3E%3E%201",
        &[],
        b"",
    );
    assert_eq!((status, kind(&error)), (400, "InvalidArgument"));
    assert!(
        error["error"]["message"].as_str().unwrap().contains("column"),
        "{error}"
    );
    let invalid = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: bad}\nspec: {status: Sleeping}\n";
    let (status, error) = call(&server, "POST", "/api/v1/apply", &[YAML], invalid.as_bytes());
    assert_eq!((status, kind(&error)), (400, "InvalidArgument"));
    assert_eq!(error["error"]["diagnostics"][0]["line"], 4, "{error}");
    let (status, error) = call(&server, "GET", "/api/v1/Run/nope", &[], b"");
    assert_eq!((status, kind(&error)), (404, "NotFound"));
    let (status, error) = call(&server, "GET", "/api/v1/Spaceship/x", &[], b"");
    assert_eq!((status, kind(&error)), (404, "NotFound"));
    let (status, error) = call(
        &server,
        "POST",
        "/api/v1/apply",
        &[YAML],
        run_yaml("TRAIN-1").as_bytes(),
    );
    assert_eq!((status, kind(&error)), (409, "AlreadyExists"));
    // The request's form: 415, 413 (declared, and actual), 405, malformed JSON.
    let (status, error) = call(
        &server,
        "POST",
        "/api/v1/apply",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    assert_eq!((status, kind(&error)), (415, "InvalidArgument"));
    let (status, _) = call(
        &server,
        "POST",
        "/api/v1/apply",
        &[YAML, ("Content-Length", "999999999999")],
        b"",
    );
    assert_eq!(status, 413);
    let (status, _) = call(&server, "POST", "/api/v1/search", &[JSON], &vec![b' '; 100_000]);
    assert_eq!(status, 413);
    let (status, _) = call(&server, "DELETE", "/api/v1/Run/train-1", &[], b"");
    assert_eq!(status, 405);
    let (status, error) = call(&server, "POST", "/api/v1/apply", &[JSON], b"{\"apiVersion\": ");
    assert_eq!((status, kind(&error)), (400, "InvalidArgument"));

    // The probes are the step's.
    assert_eq!(request(&server.addr, "GET", "/healthz", &[], b"").unwrap().0, 200);
    let (status, varz) = call(&server, "GET", "/varz", &[], b"");
    assert_eq!((status, &varz["name"]), (200, &Value::from("mlspec-server")));
    let (status, metrics) = request(&server.addr, "GET", "/metrics", &[], b"").unwrap();
    assert!(status == 200 && metrics.contains("process_"), "{metrics}");
}

/// What a command prints, with the parts that differ between two stores (ids, times, hashes,
/// the store's location) masked.
fn masked(out: &super::store::Out) -> String {
    let id = regex::Regex::new(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64}|\d{4}-\d{2}-\d{2}[T ][0-9:.]+Z?",
    )
    .unwrap();
    format!("{} {}", out.code, id.replace_all(&out.stdout, "[X]"))
}

#[test]
fn every_store_command_works_against_a_server_as_against_the_database() {
    for store in test_stores("server_cli") {
        let direct = tempfile::tempdir().unwrap();
        let served = tempfile::tempdir().unwrap();
        for dir in [direct.path(), served.path()] {
            assert_eq!(mlspec(dir, &["init"]).code, 0);
        }
        // A PostgreSQL store is served; the direct comparison runs on a SQLite project.
        if let Some(url) = &store {
            assert_eq!(mlspec(served.path(), &["--store", url, "init"]).code, 0);
        }
        let server = start(served.path(), store.as_deref());
        let remote = format!("http://{}", server.addr);
        let both = |args: &[&str]| {
            let here = mlspec(direct.path(), args);
            let mut remote_args = vec!["--store", remote.as_str()];
            remote_args.extend_from_slice(args);
            let there = mlspec(served.path(), &remote_args);
            assert_eq!(masked(&here), masked(&there), "{args:?}: {}", there.stderr);
            there
        };
        let quickstart = quickstart();
        assert_eq!(both(&["apply", &quickstart]).code, 0);
        for args in [
            vec!["list", "runs"],
            vec![
                "list",
                "runs",
                "--where",
                "metrics.accuracy > 0.5",
                "--order-by",
                "metrics.accuracy desc",
                "--format",
                "json",
            ],
            vec!["get", "Dataset", "penguins-raw", "-o", "json"],
            vec!["lineage", "Run", "train-1", "--format", "dot"],
            vec!["lineage", "Artifact", "model", "--upstream", "--format", "json"],
            vec!["deprecate", "Run", "prepare-1"],
            vec!["rename", "Run", "prepare-1", "prepared"],
            vec!["history", "Run", "prepared"],
            vec!["archive", "Run", "prepared"],
            vec!["list", "runs", "--status", "archived"],
            vec!["get", "Run", "nope"],
            vec!["store", "verify"],
        ] {
            both(&args);
        }
        assert!(
            mlspec(served.path(), &["--store", "http://127.0.0.1:1", "list", "runs"])
                .stderr
                .contains("did not answer")
        );
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let project = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(project.path(), &["init"]).code, 0);
    let mut server = start(project.path(), None);
    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success() && stderr.contains("stopped"), "{status}: {stderr}");
}

#[test]
fn missing_tokens_and_public_addresses_are_refused() {
    let project = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(project.path(), &["init"]).code, 0);
    for (args, says) in [
        (vec!["server", "--token-file", "t"], "cannot read the token file"),
        (vec!["server", "--allow-anonymous-read"], "needs tokens"),
        (vec!["server", "--listen", "0.0.0.0:5000"], "loopback only"),
    ] {
        let out = mlspec(project.path(), &args);
        assert!(out.code == 2 && out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

/// A TCP proxy in front of PostgreSQL that can fail like a network or server outage: while
/// down it resets every connection through it and refuses new ones.
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(upstream: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            up: Default::default(),
            open: Default::default(),
        };
        proxy.up.store(true, Ordering::SeqCst);
        let (up, open) = (proxy.up.clone(), proxy.open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                if !up.load(Ordering::SeqCst) {
                    continue;
                }
                open.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        proxy
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            for stream in self.open.lock().unwrap().drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

#[test]
fn an_unreachable_database_is_503_with_a_reason_and_recovers() {
    // The PostgreSQL store only (MLSPEC_TEST_POSTGRES), reached through a proxy that fails.
    let Some(Some(url)) = test_stores("server_down").pop() else {
        return;
    };
    let project = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(project.path(), &["--store", &url, "init"]).code, 0);
    let (scheme_user, rest) = url.rsplit_once('@').unwrap();
    let (host_port, database) = rest.split_once('/').unwrap();
    let proxy = Proxy::to(host_port.to_owned());
    let proxied = format!("{scheme_user}@127.0.0.1:{}/{database}", proxy.port);
    let server = start_with(project.path(), Some(&proxied), &[("MLSPEC_STORE_CONNECT_TIMEOUT", "2")]);
    assert_eq!(call(&server, "GET", "/api/v1/Run", &[], b"").0, 200);
    proxy.set_up(false);
    let (status, error) = call(&server, "GET", "/api/v1/Run", &[], b"");
    assert_eq!((status, kind(&error)), (503, "Unavailable"), "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("connection"),
        "{error}"
    );
    // Readiness follows the store (checked every 2 s); liveness does not.
    let probe = |path: &str| request(&server.addr, "GET", path, &[], b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe("/readyz").0 != 503 {
        assert!(Instant::now() < deadline, "/readyz stayed 200 without the database");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(probe("/readyz").1.contains("store"), "{:?}", probe("/readyz"));
    assert_eq!(probe("/healthz").0, 200);
    proxy.set_up(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(&server, "GET", "/api/v1/Run", &[], b"").0 != 200 || probe("/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the server did not recover within 20 s of the database's return"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which makes a venv with schemathesis"
        )
    })
}

/// A tool installed beside the venv's python.
fn venv_tool(name: &str) -> String {
    Path::new(&python()).with_file_name(name).display().to_string()
}

#[test]
fn the_openapi_document_is_valid_and_the_live_server_keeps_it() {
    let project = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(project.path(), &["init"]).code, 0);
    assert_eq!(mlspec(project.path(), &["apply", &quickstart()]).code, 0);
    let server = start(project.path(), None);
    let (status, document) = request(&server.addr, "GET", "/api/v1/openapi.json", &[], b"").unwrap();
    assert_eq!(status, 200);
    let file = project.path().join("openapi.json");
    std::fs::write(&file, &document).unwrap();
    let out = Command::new(venv_tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(venv_tool("schemathesis"))
        .current_dir(project.path())
        .args([
            "run",
            &format!("http://{}/api/v1/openapi.json", server.addr),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-time",
            "45",
            "--workers",
            "2",
            "--seed",
            "1",
        ])
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
}

impl Server {
    /// Stops the server (SIGTERM) and returns everything it wrote to stderr.
    fn stop(mut self) -> String {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let _ = self.child.wait();
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        stderr
    }
}

/// `mlspec server token create` in `dir`: the token it prints, checked to be printed once.
pub(crate) fn create_token(dir: &Path, name: &str, scope: &str) -> String {
    let out = mlspec(dir, &["server", "token", "create", "--name", name, "--scope", scope]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let token = out.stdout.trim().to_owned();
    assert!(token.starts_with("mlspec_") && token.len() == 71, "{token}");
    assert!(
        !out.stderr.contains(&token) && out.stderr.contains("shown only now"),
        "{}",
        out.stderr
    );
    token
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

pub(crate) fn basic(user: &str, token: &str) -> (&'static str, String) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    ("Authorization", format!("Basic {encoded}"))
}

/// [`call`] with headers given as owned pairs.
fn call_as(
    server: &Server,
    method: &str,
    path: &str,
    auth: &(&str, String),
    more: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut headers = vec![(auth.0, auth.1.as_str())];
    headers.extend_from_slice(more);
    call(server, method, path, &headers, body)
}

#[test]
fn tokens_are_made_once_stored_hashed_and_guard_the_api_by_scope() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let ci = create_token(dir, "ci", "write");
    let reader = create_token(dir, "reader", "read");
    let admin = create_token(dir, "ops", "admin");
    let tokens = [&ci, &reader, &admin];

    // The file holds hashes only, readable by its owner only; the list shows no secret.
    let file = dir.join(".mlspec/server-tokens.json");
    let stored = std::fs::read_to_string(&file).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let list = mlspec(dir, &["server", "token", "list"]);
    for token in tokens {
        let secret = token.trim_start_matches("mlspec_");
        assert!(!stored.contains(secret) && !list.stdout.contains(secret), "{stored}");
    }
    assert!(list.stdout.contains("ci") && list.stdout.contains("write") && !list.stdout.contains("sha256"));
    assert_eq!(
        mlspec(dir, &["server", "token", "create", "--name", "ci", "--scope", "read"]).code,
        2
    );

    let server = start(dir, None);
    // No token: 401 with a challenge; a read token may read, not write: 403; a write token may.
    let answer = exchange(&server.addr, "GET", "/api/v1/Run", &[], b"").unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401") && answer.to_ascii_lowercase().contains("www-authenticate: bearer"),
        "{answer}"
    );
    let (status, error) = call(&server, "POST", "/api/v1/apply", &[YAML], run_yaml("a").as_bytes());
    assert_eq!((status, kind(&error)), (401, "Unauthenticated"));
    let (status, error) = call_as(
        &server,
        "POST",
        "/api/v1/apply",
        &bearer(&reader),
        &[YAML],
        run_yaml("a").as_bytes(),
    );
    assert_eq!((status, kind(&error)), (403, "PermissionDenied"));
    assert!(
        error["error"]["message"].as_str().unwrap().contains("needs write"),
        "{error}"
    );
    let (status, report) = call_as(
        &server,
        "POST",
        "/api/v1/apply",
        &bearer(&ci),
        &[YAML, ("X-MLSpec-Actor", "eve")],
        run_yaml("a").as_bytes(),
    );
    assert_eq!(status, 200, "{report}");
    // The token's name is the actor, whatever the client claims.
    let (_, history) = call_as(&server, "GET", "/api/v1/Run/a/history", &bearer(&reader), &[], b"");
    assert_eq!(history[0]["actor"], "ci", "{history}");
    let (status, error) = call_as(&server, "GET", "/api/v1/Run/a", &bearer("mlspec_0000"), &[], b"");
    assert_eq!((status, kind(&error)), (401, "Unauthenticated"));

    // Basic auth (MLflow's username/password): the password is the token.
    let (status, _) = call_as(&server, "GET", "/api/v1/Run/a", &basic("anyone", &reader), &[], b"");
    assert_eq!(status, 200);
    let (status, _) = call_as(&server, "POST", "/api/v1/Run/a/deprecate", &basic("x", &ci), &[], b"");
    assert_eq!(status, 200);
    // store verify is admin's; the probes and the OpenAPI document are open; /varz is a read.
    assert_eq!(
        call_as(&server, "GET", "/api/v1/store/verify", &bearer(&ci), &[], b"").0,
        403
    );
    assert_eq!(
        call_as(&server, "GET", "/api/v1/store/verify", &bearer(&admin), &[], b"").0,
        200
    );
    for open in ["/ok", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        assert_eq!(request(&server.addr, "GET", open, &[], b"").unwrap().0, 200, "{open}");
    }
    assert_eq!(call(&server, "GET", "/varz", &[], b"").0, 401);
    let (status, varz) = request(
        &server.addr,
        "GET",
        "/varz",
        &[("Authorization", &format!("Bearer {reader}"))],
        b"",
    )
    .unwrap();
    assert!(
        status == 200 && tokens.iter().all(|t| !varz.contains(t.as_str())),
        "{varz}"
    );

    // The http backend sends MLSPEC_TOKEN; without it, the server's refusal says what to do.
    let remote = format!("http://{}", server.addr);
    let with = |token: &str, args: &[&str]| {
        let mut all = vec!["--store", remote.as_str()];
        all.extend_from_slice(args);
        let out = mlspec_with(dir, &[("MLSPEC_TOKEN", token)], &all);
        for t in tokens {
            assert!(
                !out.stdout.contains(t.as_str()) && !out.stderr.contains(t.as_str()),
                "{args:?}"
            );
        }
        out
    };
    let quickstart = quickstart();
    for args in [
        vec!["apply", quickstart.as_str()],
        vec!["list", "runs"],
        vec!["get", "Dataset", "penguins-raw", "-o", "json"],
        vec!["lineage", "Artifact", "model", "--upstream"],
        vec!["rename", "Run", "prepare-1", "prepared"],
        vec!["history", "Run", "prepared"],
    ] {
        let out = with(&ci, &args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    assert_eq!(with(&admin, &["store", "verify"]).code, 0);
    let out = with(&reader, &["deprecate", "Run", "prepared"]);
    assert!(
        out.code != 0 && out.stderr.contains("PermissionDenied"),
        "{}",
        out.stderr
    );
    let out = mlspec(dir, &["--store", &remote, "list", "runs"]);
    assert!(
        out.code != 0 && out.stderr.contains("Unauthenticated") && out.stderr.contains("MLSPEC_TOKEN"),
        "{}",
        out.stderr
    );

    // Revoking takes effect at the next request, without a restart.
    let out = mlspec(dir, &["server", "token", "revoke", "ci"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (status, error) = call_as(&server, "GET", "/api/v1/Run", &bearer(&ci), &[], b"");
    assert_eq!((status, kind(&error)), (401, "Unauthenticated"));
    assert_eq!(
        call_as(&server, "GET", "/api/v1/Run", &bearer(&reader), &[], b"").0,
        200
    );

    let log = server.stop();
    assert!(
        log.contains("tokens on (3 in") && log.contains("reread the token file"),
        "{log}"
    );
    for token in tokens {
        assert!(!log.contains(token.as_str()), "{log}");
    }
}

#[test]
fn anonymous_reads_pass_when_allowed_and_writes_still_need_a_token() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let file = dir.join("tokens.json");
    let file_arg = file.display().to_string();
    let out = mlspec(
        dir,
        &[
            "server",
            "token",
            "create",
            "--token-file",
            &file_arg,
            "--name",
            "ci",
            "--scope",
            "write",
        ],
    );
    let ci = out.stdout.trim().to_owned();
    let server = launch(dir, None, &[], &["--token-file", &file_arg, "--allow-anonymous-read"]);
    assert_eq!(call(&server, "GET", "/api/v1/Run", &[], b"").0, 200);
    assert_eq!(
        call(&server, "POST", "/api/v1/search", &[JSON], br#"{"kind": "Run"}"#).0,
        200
    );
    let (status, error) = call(&server, "POST", "/api/v1/apply", &[YAML], run_yaml("a").as_bytes());
    assert_eq!((status, kind(&error)), (401, "Unauthenticated"));
    // Credentials presented are checked even where none are needed.
    assert_eq!(
        call_as(&server, "GET", "/api/v1/Run", &bearer("wrong"), &[], b"").0,
        401
    );
    assert_eq!(
        call_as(
            &server,
            "POST",
            "/api/v1/apply",
            &bearer(&ci),
            &[YAML],
            run_yaml("a").as_bytes()
        )
        .0,
        200
    );
    let out = mlspec(dir, &["--store", &format!("http://{}", server.addr), "list", "runs"]);
    assert!(out.code == 0 && out.stdout.contains('a'), "{}", out.stderr);
    let log = server.stop();
    assert!(log.contains("reads are open to anyone") && !log.contains(&ci), "{log}");
}

#[test]
fn tokens_made_at_once_are_all_kept() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let names: Vec<String> = (0..6).map(|i| format!("pod-{i}")).collect();
    std::thread::scope(|scope| {
        for name in &names {
            scope.spawn(move || create_token(dir, name, "write"));
        }
    });
    let list = mlspec(dir, &["server", "token", "list"]);
    for name in &names {
        assert!(list.stdout.contains(name.as_str()), "{name}: {}", list.stdout);
    }
}

/// The MLflow client, unchanged, talks to `mlspec server` (the tracking API is mounted beside
/// the REST API): what it logs is an mlspec Run that `list --where` finds, and its artifact is
/// kept under the project's `.mlspec/artifacts/` by default.
#[test]
fn the_mlflow_client_logs_to_the_server_and_mlspec_sees_the_run() {
    let project = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(project.path(), &["init"]).code, 0);
    let server = start(project.path(), None);
    let script = r#"
import mlflow, sys
mlflow.set_experiment("churn")
with mlflow.start_run(run_name="fit") as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("loss", 0.25, step=3)
    mlflow.log_dict({"k": 1}, "config.json")
print(run.info.run_id)
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .env("MLFLOW_TRACKING_URI", format!("http://{}", server.addr))
        .current_dir(project.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The client prints its own lines ("View run … at …") before the id.
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let run_id = printed.lines().last().unwrap_or_default().trim().to_owned();

    let listed = mlspec(
        project.path(),
        &["list", "runs", "--where", "metrics.loss < 0.5", "--format", "json"],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains(&run_id), "{}", listed.stdout);
    let stored = project.path().join(".mlspec/artifacts");
    let found = walk(&stored).into_iter().any(|p| p.ends_with("config.json"));
    assert!(found, "no config.json under {}", stored.display());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The MLflow client, unchanged, against a server with tokens: `MLFLOW_TRACKING_TOKEN` (Bearer)
/// and `MLFLOW_TRACKING_USERNAME`/`PASSWORD` (basic, the token as password) are accepted; a
/// read token may not log (PERMISSION_DENIED), no token may not read (UNAUTHENTICATED).
#[test]
fn the_mlflow_client_logs_with_a_token_or_basic_credentials() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let ci = create_token(dir, "ci", "write");
    let reader = create_token(dir, "reader", "read");
    let server = start(dir, None);
    let script = r#"
import mlflow
mlflow.set_experiment("churn")
with mlflow.start_run(run_name="fit"):
    mlflow.log_metric("loss", 0.25)
print("logged")
"#;
    let log_with = |env: &[(&str, &str)]| {
        let out = Command::new(python())
            .args(["-c", script])
            .env("MLFLOW_TRACKING_URI", format!("http://{}", server.addr))
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD")
            .envs(env.iter().copied())
            .current_dir(dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = log_with(&[("MLFLOW_TRACKING_TOKEN", &ci)]);
    assert!(ok && text.contains("logged"), "{text}");
    // The store records the token's name as who made the changes.
    let history = mlspec(dir, &["history", "Experiment/churn", "--format", "json"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    assert!(
        history.stdout.contains("\"ci\"") && !history.stdout.contains("mlflow-api"),
        "{}",
        history.stdout
    );
    let (ok, text) = log_with(&[
        ("MLFLOW_TRACKING_USERNAME", "someone"),
        ("MLFLOW_TRACKING_PASSWORD", &ci),
    ]);
    assert!(ok && text.contains("logged"), "{text}");
    let (ok, text) = log_with(&[("MLFLOW_TRACKING_TOKEN", &reader)]);
    assert!(!ok && text.contains("PERMISSION_DENIED"), "{text}");
    let (ok, text) = log_with(&[]);
    assert!(!ok && text.contains("UNAUTHENTICATED"), "{text}");
    let log = server.stop();
    assert!(!log.contains(&ci) && !log.contains(&reader), "{log}");
}

/// Four clients apply Runs as fast as the server answers; the server is SIGKILLed under that
/// load and started again on the same store: every Run whose apply was acknowledged (200) is
/// there, and `store verify` finds the history intact.
#[test]
fn a_server_killed_under_load_keeps_every_acknowledged_write() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let mut server = start(dir, None);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (addr, stop) = (server.addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("load-{client}-{i}");
                    match request(&addr, "POST", "/api/v1/apply", &[YAML], run_yaml(&name).as_bytes()) {
                        Some((200, _)) => acknowledged.push(name),
                        Some(_) | None => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.child.kill().unwrap();
    let _ = server.child.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acknowledged: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(
        acknowledged.len() > 20,
        "only {} writes before the kill",
        acknowledged.len()
    );

    let server = start(dir, None);
    for name in &acknowledged {
        let (status, _) = request(&server.addr, "GET", &format!("/api/v1/Run/{name}"), &[], b"").unwrap();
        assert_eq!(status, 200, "Run {name} was acknowledged before the kill but is gone");
    }
    drop(server);
    let verify = mlspec(dir, &["store", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

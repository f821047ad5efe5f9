//! Third-party tools against a running step: promtool, a real Prometheus server, the blackbox
//! exporter, the official Python OpenMetrics parser and tritonclient. `scripts/test` installs
//! them (Debian's prometheus and prometheus-blackbox-exporter, a venv with tritonclient[http]
//! and prometheus_client named by MLSPEC_INTEROP_PYTHON). The checks of a metrics page and the
//! Prometheus server are shared with the gateway's interop tests (serve_interop.rs).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::step::{Project, get, spawn_waiting_step};

pub fn tool(name: &str) -> String {
    let found = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .any(|p| p.is_file())
        })
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: run the suite with scripts/test, which installs it"
    );
    name.to_owned()
}

pub fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which makes a venv with tritonclient"
        )
    })
}

/// `program` in the venv that scripts/interop-setup makes beside the interop venv, named like it
/// with `suffix` (for tools whose pins conflict with the interop venv's).
pub fn beside_interop_venv(suffix: &str, program: &str) -> PathBuf {
    let python = PathBuf::from(python());
    let venv = python.parent().and_then(Path::parent).unwrap();
    let mut name = venv.file_name().unwrap().to_os_string();
    name.push(suffix);
    let path = venv.with_file_name(name).join("bin").join(program);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/interop-setup, which installs it beside {}",
        path.display(),
        venv.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn run_with_stdin(program: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Kills the server it holds when dropped, by PID.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn poll(what: &str, mut check: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within a minute");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `/metrics` page at `addr` in both formats passes the standard checks: promtool lints the
/// Prometheus 0.0.4 text clean; the official Python parser accepts the OpenMetrics one, and
/// promtool, a 0.0.4 linter, parses it and only notes that counter samples (`x_total`) have no
/// HELP of their own — as it does for the official Python client's OpenMetrics output.
pub fn check_metrics_pages(addr: &str) {
    let text = mlspec_server::probe::get(addr, "/metrics", Duration::from_secs(5))
        .unwrap()
        .body;
    let out = run_with_stdin(&tool("promtool"), &["check", "metrics"], &text);
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let om = mlspec_server::probe::get_with(
        addr,
        "/metrics",
        "application/openmetrics-text; version=1.0.0",
        Duration::from_secs(5),
    )
    .unwrap()
    .body;
    assert!(om.ends_with("# EOF\n"), "{om}");
    let parse = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\nprint(len(list(parse(sys.stdin.read()))))";
    let out = run_with_stdin(&python(), &["-c", parse], &om);
    assert!(
        out.status.success(),
        "OpenMetrics parser: {}\n{om}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_with_stdin(&tool("promtool"), &["check", "metrics"], &om);
    let notes = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        notes
            .lines()
            .all(|l| l.trim().is_empty() || (l.contains("_total no help text"))),
        "promtool on OpenMetrics: {notes}\n{om}"
    );
}

/// A real Prometheus (Debian's) scraping one target every second, in a directory of its own.
pub struct Prometheus {
    _server: Server,
    _dir: tempfile::TempDir,
    pub addr: String,
}

impl Prometheus {
    pub fn scraping(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: target\n    static_configs: [{{targets: [\"{target}\"]}}]\n")).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let server = Server(
            Command::new(tool("prometheus"))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        Prometheus {
            _server: server,
            _dir: dir,
            addr,
        }
    }

    /// The first value an instant query answers, once there is one.
    pub fn query(&self, query: &str) -> Option<String> {
        let answer = mlspec_server::probe::get(
            &self.addr,
            &format!("/api/v1/query?query={query}"),
            Duration::from_secs(5),
        )
        .ok()?;
        let json: serde_json::Value = serde_json::from_str(&answer.body).ok()?;
        json["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
    }
}

#[test]
fn standard_tools_accept_a_running_step() {
    let project = Project::new();
    let report = "for k in loss val/acc throughput; do echo \"{\\\"key\\\": \\\"$k\\\", \\\"value\\\": 0.5}\" >> \"$MLSPEC_METRICS_FILE\"; done";
    let (mut step, addr, release) = spawn_waiting_step(&project, "interop", report);
    poll("the reported metrics", || {
        get(&addr, "/metrics").body.contains("throughput 0.5").then(String::new)
    });

    check_metrics_pages(&addr);

    // A real Prometheus scrapes the step: up is 1 and the reported metric arrives.
    let prometheus = Prometheus::scraping(&addr);
    assert_eq!(poll("Prometheus scraping the step", || prometheus.query("up")), "1");
    assert_eq!(
        poll("the reported metric in Prometheus", || prometheus.query("throughput")),
        "0.5"
    );

    // The blackbox exporter's probes.
    let dir = tempfile::tempdir().unwrap();
    let blackbox_config = dir.path().join("blackbox.yml");
    std::fs::write(
        &blackbox_config,
        "modules:\n  http_2xx: {prober: http, timeout: 3s, http: {preferred_ip_protocol: ip4}}\n  http_ok_body: {prober: http, timeout: 3s, http: {preferred_ip_protocol: ip4, fail_if_body_not_matches_regexp: ['^ok']}}\n",
    )
    .unwrap();
    let blackbox_addr = format!("127.0.0.1:{}", free_port());
    let _blackbox = Server(
        Command::new(tool("prometheus-blackbox-exporter"))
            .arg(format!("--config.file={}", blackbox_config.display()))
            .arg(format!("--web.listen-address={blackbox_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let probes = [
        ("http_ok_body", "/ok"),
        ("http_2xx", "/healthz"),
        ("http_2xx", "/readyz"),
        ("http_2xx", "/v2/health/live"),
        ("http_2xx", "/v2/health/ready"),
        ("http_2xx", "/varz"),
        ("http_2xx", "/metrics"),
    ];
    for (module, path) in probes {
        let url = format!("/probe?module={module}&target=http://{addr}{path}");
        let result = poll("the blackbox exporter answering", || {
            mlspec_server::probe::get(&blackbox_addr, &url, Duration::from_secs(5))
                .ok()
                .map(|r| r.body)
        });
        assert!(
            result.lines().any(|l| l == "probe_success 1"),
            "{module} {path}:\n{result}"
        );
    }

    // tritonclient's Open Inference Protocol health calls.
    let triton = format!(
        "import tritonclient.http as h\nc = h.InferenceServerClient(url='{addr}')\nassert c.is_server_live() and c.is_server_ready()\nprint('ok')"
    );
    let out = Command::new(python()).args(["-c", &triton]).output().unwrap();
    assert!(
        out.status.success(),
        "tritonclient: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(&release, "").unwrap();
    assert!(step.wait().unwrap().success());
}

//! Nothing hangs and the step's inputs are bounded: a store that never answers, slow and idle
//! clients of the step server, hostile metric posts and metrics-file lines, and files that are
//! not regular files.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

use crate::step::{Project, get};

/// A TCP server that accepts and then never answers (`hold`) or closes at once.
struct SilentServer {
    addr: String,
}

impl SilentServer {
    fn start(hold: bool) -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                if hold {
                    held.push(stream);
                }
            }
        });
        SilentServer { addr }
    }

    fn url(&self) -> String {
        format!("postgres://me:s3cret@{}/db", self.addr)
    }
}

fn mlspec_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(cargo_bin("mlspec"))
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .env("MLSPEC_ACTOR", "tester")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_store_that_never_answers_fails_within_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    for hold in [true, false] {
        let server = SilentServer::start(hold);
        let started = Instant::now();
        let out = mlspec_in(
            dir.path(),
            &[("MLSPEC_STORE_CONNECT_TIMEOUT", "1.5")],
            &["list", "runs", "--store", &server.url()],
        );
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
        assert!(
            stderr.contains(&format!(
                "cannot reach the store at postgres://me:***@{}/db",
                server.addr
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
        if hold {
            assert!(elapsed >= Duration::from_millis(1400), "took {elapsed:?}");
            assert!(stderr.contains("no answer within 1.5 s"), "{stderr}");
            assert!(stderr.contains("MLSPEC_STORE_CONNECT_TIMEOUT"), "{stderr}");
        }
    }
}

#[test]
fn bad_timeout_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("MLSPEC_STORE_CONNECT_TIMEOUT", "soon"),
        ("MLSPEC_STORE_STATEMENT_TIMEOUT", "0"),
        ("MLSPEC_STORE_STATEMENT_TIMEOUT", "-3"),
    ] {
        let out = mlspec_in(
            dir.path(),
            &[(var, value)],
            &["list", "runs", "--store", "postgres://u@127.0.0.1:1/d"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("{var}=`{value}` is not a number of seconds")),
            "{stderr}"
        );
    }
}

#[test]
fn a_step_whose_store_never_answers_spools_the_run_and_flush_records_it() {
    let project = Project::new();
    let home = project.path().join("home");
    let outside = tempfile::tempdir().unwrap();
    let server = SilentServer::start(true);
    let started = Instant::now();
    let out = Command::new(cargo_bin("mlspec"))
        .current_dir(outside.path())
        .env("MLSPEC_HOME", &home)
        .env("MLSPEC_STORE", server.url())
        .env("MLSPEC_STORE_CONNECT_TIMEOUT", "1")
        .args([
            "step",
            "run",
            "--name",
            "silent",
            "--",
            "sh",
            "-c",
            "echo '{\"key\":\"loss\",\"value\":0.5}' >> \"$MLSPEC_METRICS_FILE\"",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(stderr.contains("no answer within 1 s"), "{stderr}");
    assert!(stderr.contains("mlspec step flush"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert_eq!(std::fs::read_dir(home.join("spool")).unwrap().count(), 1);
    let store = format!("sqlite:{}", project.path().join(".mlspec/store.db").display());
    let flush = Command::new(cargo_bin("mlspec"))
        .current_dir(outside.path())
        .env("MLSPEC_HOME", &home)
        .args(["--store", &store, "step", "flush"])
        .output()
        .unwrap();
    assert!(flush.status.success(), "{}", String::from_utf8_lossy(&flush.stderr));
    assert_eq!(std::fs::read_dir(home.join("spool")).unwrap().count(), 0);
    let run = project.run_of("silent");
    assert_eq!(run["spec"]["status"], "Finished");
    assert_eq!(run["spec"]["metrics"][0]["value"], 0.5);
}

/// Starts `mlspec step run` with `env` on a command that waits for the release file.
fn spawn_step(
    project: &Project,
    name: &str,
    env: &[(&str, &str)],
) -> (std::process::Child, String, std::path::PathBuf) {
    let addr_file = project.path().join(format!("{name}.addr"));
    let release = project.path().join(format!("{name}.release"));
    let body = format!("while [ ! -f '{}' ]; do sleep 0.05; done", release.display());
    let child = Command::new(cargo_bin("mlspec"))
        .current_dir(project.path())
        .env_remove("MLSPEC_STORE")
        .envs(env.iter().copied())
        .args([
            "step",
            "run",
            "--name",
            name,
            "--addr-file",
            addr_file.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &body,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr = crate::step::wait_for_file(&addr_file);
    (child, addr, release)
}

/// Finishes a step started by [`spawn_step`]; its stderr.
fn finish(child: std::process::Child, release: &Path) -> String {
    std::fs::write(release, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the server closed `stream` (EOF or reset) before `deadline`.
fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Lets this test process hold a few thousand sockets.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 4096 {
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard).unwrap();
    }
}

#[test]
fn slow_and_idle_clients_cannot_make_the_step_unreachable() {
    raise_open_files_limit();
    let project = Project::new();
    let env = [
        ("MLSPEC_STEP_IDLE_TIMEOUT", "2"),
        ("MLSPEC_STEP_HEADER_TIMEOUT", "3"),
        ("MLSPEC_STEP_MAX_CONNECTIONS", "300"),
    ];
    let (child, addr, release) = spawn_step(&project, "flooded", &env);
    // 1,000 half-sent request lines, and keep-alive connections left idle after one request.
    let opened = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..1_000)
        .map(|_| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream.write_all(b"GET /ok HT").unwrap();
            stream
        })
        .collect();
    let mut idle: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut answer = [0; 17];
            stream.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"HTTP/1.1 200 OK\r\n");
            stream
        })
        .collect();
    // A client that trickles a header byte by byte is never idle, but its head never ends.
    let mut trickler = TcpStream::connect(&addr).unwrap();
    trickler.write_all(b"GET /ok HTTP/1.1\r\nX: ").unwrap();
    let trickle_started = Instant::now();
    let trickle = std::thread::spawn({
        let mut writer = trickler.try_clone().unwrap();
        move || {
            while writer.write_all(b"a").is_ok() && trickle_started.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(get(&addr, "/ok").status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/ok took {:?}",
            asked.elapsed()
        );
    }
    // Everything stalled or idle is closed once the idle timeout has passed.
    let deadline = opened + Duration::from_secs(8);
    let open_after = stalled
        .iter_mut()
        .chain(&mut idle)
        .map(|s| closed_by(s, deadline))
        .filter(|closed| !closed)
        .count();
    assert_eq!(open_after, 0, "connections still open after the idle timeout");
    assert!(
        closed_by(&mut trickler, trickle_started + Duration::from_secs(7)),
        "the trickled head was not cut off"
    );
    assert!(
        trickle_started.elapsed() >= Duration::from_millis(2_500),
        "{:?}",
        trickle_started.elapsed()
    );
    trickle.join().unwrap();
    assert_eq!(get(&addr, "/ok").status, 200);
    finish(child, &release);
}

#[test]
fn bad_server_settings_are_refused() {
    let project = Project::new();
    for (var, value, expected) in [
        ("MLSPEC_STEP_IDLE_TIMEOUT", "never", "is not a number of seconds"),
        ("MLSPEC_STEP_HEADER_TIMEOUT", "0", "is not a number of seconds"),
        ("MLSPEC_STEP_MAX_CONNECTIONS", "0", "is not a whole number"),
    ] {
        let out = mlspec_in(
            project.path(),
            &[(var, value)],
            &["step", "run", "--name", "bad", "--", "true"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{var}=`{value}` {expected}")), "{stderr}");
    }
}

/// POSTs `body` to the step's metric endpoint; the status and the JSON answer.
fn post(addr: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /api/v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}")),
    )
}

fn metric(key: &str, step: usize, value: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "key": key, "value": value, "step": step })
}

/// Posts `metrics` in bodies under the size limit; the refusals' reasons.
fn post_all(addr: &str, metrics: Vec<serde_json::Value>) -> Vec<String> {
    let mut refusals = Vec::new();
    let mut batch: Vec<serde_json::Value> = Vec::new();
    let mut size = 0;
    let mut send = |batch: &mut Vec<serde_json::Value>| {
        if batch.is_empty() {
            return;
        }
        let (status, answer) = post(addr, &serde_json::to_vec(&batch).unwrap());
        if status != 202 {
            assert_eq!(status, 413, "{answer}");
            refusals.push(answer["error"].as_str().unwrap().to_owned());
        }
        batch.clear();
    };
    for m in metrics {
        let len = serde_json::to_vec(&m).unwrap().len() + 1;
        if size + len > 1_000_000 {
            send(&mut batch);
            size = 0;
        }
        size += len;
        batch.push(m);
    }
    send(&mut batch);
    refusals
}

#[test]
fn a_run_filled_to_every_metric_limit_validates_and_round_trips() {
    let project = Project::new();
    let (child, addr, release) = spawn_step(&project, "full", &[]);
    let long_key = |i: usize| format!("{i:04}{}", "k".repeat(246));
    // Every key the run may have, each with the longest key.
    let keys: Vec<_> = (0..1_000)
        .map(|i| metric(&long_key(i), 0, serde_json::json!(1.5)))
        .collect();
    assert!(post_all(&addr, keys).is_empty());
    let refused = post_all(&addr, vec![metric("one-key-too-many", 0, serde_json::json!(1))]);
    assert!(refused[0].contains("already has 1000 metric keys"), "{refused:?}");
    // Long histories: more points per key and per run than are kept.
    let points: Vec<_> = (0..60)
        .flat_map(|i| (1..1_200).map(move |step| metric(&long_key(i), step, serde_json::json!(step as f64 / 7.0))))
        .collect();
    assert!(post_all(&addr, points).is_empty());
    // Wide values with the longest field names, past the value and byte budgets.
    // Field names of 250 bytes, 100 of them control characters that JSON escapes to 6 bytes.
    let name = |f: usize| format!("{f:03}{}{}", "\u{1}".repeat(100), "f".repeat(147));
    let wide: serde_json::Map<String, serde_json::Value> =
        (0..999).map(|f| (name(f), serde_json::json!(-2.5e-300))).collect();
    let wide: Vec<_> = (0..60)
        .map(|step| metric(&long_key(999), step + 1, serde_json::Value::Object(wide.clone())))
        .collect();
    let refused = post_all(&addr, wide);
    assert!(refused.iter().all(|r| r.contains("metrics are full")), "{refused:?}");
    finish(child, &release);

    let run = project.run_of("full");
    let metrics = run["spec"]["metrics"].as_array().unwrap();
    assert!(metrics.len() <= 50_000 && metrics.len() > 1_000, "{}", metrics.len());
    let per_key = |i: usize| metrics.iter().filter(|m| m["key"] == long_key(i)).count();
    assert!((2..=1_000).contains(&per_key(0)), "{}", per_key(0));
    assert_eq!(per_key(500), 1);
    assert!((2..60).contains(&per_key(999)), "{}", per_key(999));
    let id = run["metadata"]["id"].as_str().unwrap();
    for format in ["yaml", "json"] {
        let got = project.mlspec(&["get", "Run", id, "-o", format]);
        assert!(got.status.success());
        let file = project.path().join(format!("run.{format}"));
        std::fs::write(&file, &got.stdout).unwrap();
        let checked = project.mlspec(&["validate", file.to_str().unwrap()]);
        assert!(
            checked.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
    let verified = project.mlspec(&["store", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

#[test]
fn hostile_metric_posts_get_a_4xx_with_a_reason() {
    let project = Project::new();
    let (child, addr, release) = spawn_step(&project, "hostile", &[]);
    let too_big = vec![b' '; 3 << 20];
    let many = serde_json::to_vec(
        &(0..10_001)
            .map(|i| metric("a", i, serde_json::json!(1)))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for (body, status, reason) in [
        (too_big, 413, "the body is over 1048576 bytes"),
        (many, 413, "10001 metrics in one post; the limit is 10000"),
        (
            br#"{"key":"x","value":NaN}"#.to_vec(),
            400,
            "NaN and infinite values cannot be recorded",
        ),
        (
            br#"{"key":"x","value":[1,-Infinity]}"#.to_vec(),
            400,
            "NaN and infinite values cannot be recorded",
        ),
        (br#"{"key":"x","value":1e999}"#.to_vec(), 400, "the body is not JSON"),
        (
            format!(r#"{{"key":"{}","value":1}}"#, "k".repeat(251)).into_bytes(),
            400,
            "250",
        ),
    ] {
        let (got, answer) = post(&addr, &body);
        assert_eq!(got, status, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(reason), "{answer}");
    }
    finish(child, &release);
    assert!(
        project.run_of("hostile")["spec"]["metrics"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}

#[test]
fn long_and_non_finite_metrics_file_lines_are_skipped_with_their_line_number() {
    let project = Project::new();
    let script = "f=\"$MLSPEC_METRICS_FILE\"; \
        printf '{\"key\":\"ok\",\"value\":1}\\n' >> \"$f\"; \
        head -c 3000000 /dev/zero | tr '\\0' 'x' >> \"$f\"; printf '\\n' >> \"$f\"; \
        printf '{\"key\":\"nan\",\"value\":NaN}\\n{\"key\":\"inf\",\"value\":1e999}\\n' >> \"$f\"; \
        printf '{\"key\":\"after\",\"value\":2}' >> \"$f\"";
    let out = project.mlspec(&["step", "run", "--name", "lines", "--", "sh", "-c", script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: longer than 1048576 bytes"), "{stderr}");
    assert!(
        stderr.contains("line 3: the body is not JSON") && stderr.contains("NaN and infinite"),
        "{stderr}"
    );
    assert!(stderr.contains("line 4: the body is not JSON"), "{stderr}");
    let metrics = &project.run_of("lines")["spec"]["metrics"];
    let keys: Vec<_> = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["after", "ok"]);
}

/// Runs mlspec in `dir` and kills it if it takes more than 20 s: a hang fails the test.
fn bounded(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(cargo_bin("mlspec"))
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .env("MLSPEC_HOME", dir.join("home"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("mlspec {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn files_that_are_not_regular_files_are_skipped_or_refused_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/spec/examples/run.yaml");
    std::fs::copy(&example, docs.join("run.yaml")).unwrap();
    mkfifo(&docs.join("pipe.yaml"));
    std::os::unix::fs::symlink("/dev/zero", docs.join("zero.json")).unwrap();
    std::os::unix::fs::symlink(docs.join("pipe.yaml"), docs.join("link.yml")).unwrap();
    let (code, stderr) = bounded(dir.path(), &["validate", "docs"]);
    assert_eq!(code, 0, "{stderr}");
    for skipped in [
        "pipe.yaml: it is a FIFO (named pipe)",
        "zero.json: it is a device",
        "link.yml: it is a FIFO",
    ] {
        assert!(
            stderr.contains(&format!("warning: skipped docs/{skipped}")),
            "{skipped}: {stderr}"
        );
    }
    assert!(stderr.contains("ok: 1 file(s)"), "{stderr}");
    // Named directly: an error, exit 2.
    for (path, what) in [("docs/pipe.yaml", "a FIFO (named pipe)"), ("/dev/zero", "a device")] {
        let (code, stderr) = bounded(dir.path(), &["validate", path]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("cannot read {path}: it is {what}, not a regular file")),
            "{stderr}"
        );
    }
    // The siblings: data files, key files, step outputs, a SQLite store path.
    mkfifo(&dir.path().join("rows.csv"));
    std::fs::create_dir(dir.path().join("dir.csv")).unwrap();
    for (args, expected) in [
        (vec!["data", "profile", "rows.csv"], "is not a regular file"),
        (vec!["data", "profile", "dir.csv"], "is not a regular file"),
        (
            vec!["package", "verify", ".", "--pubkey", "docs/pipe.yaml"],
            "is not a regular file",
        ),
        (
            vec!["list", "runs", "--store", "docs/pipe.yaml"],
            "is not a regular file",
        ),
    ] {
        let (code, stderr) = bounded(dir.path(), &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let (code, stderr) = bounded(dir.path(), &["step", "run", "--output", "docs/pipe.yaml", "--", "true"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("output docs/pipe.yaml: cannot read docs/pipe.yaml: it is a FIFO"),
        "{stderr}"
    );
}

//! `mlspec step` end to end: a real child process, real endpoints, the Run in the store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let project = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        assert!(project.mlspec(&["init"]).status.success());
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(cargo_bin("mlspec"));
        command
            .current_dir(self.path())
            .env_remove("MLSPEC_STORE")
            .env("MLSPEC_ACTOR", "tester")
            .args(args);
        command
    }

    pub fn mlspec(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }

    /// The one recorded run of step `name`, as JSON.
    pub fn run_of(&self, name: &str) -> serde_json::Value {
        let list = self.mlspec(&[
            "list",
            "run",
            "--format",
            "json",
            "--label",
            &format!("mlspec.org/step={name}"),
        ]);
        let runs: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
        let id = runs[0]["id"].as_str().unwrap().to_owned();
        let got = self.mlspec(&["get", "Run", &id, "-o", "json"]);
        serde_json::from_slice(&got.stdout).unwrap()
    }
}

pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn get(addr: &str, path: &str) -> mlspec_server::probe::Response {
    mlspec_server::probe::get(addr, path, Duration::from_secs(5)).unwrap()
}

pub fn spawn_waiting_step(project: &Project, name: &str, script: &str) -> (Child, String, PathBuf) {
    let addr_file = project.path().join(format!("{name}.addr"));
    let release = project.path().join(format!("{name}.release"));
    let body = format!("{script}; while [ ! -f '{}' ]; do sleep 0.05; done", release.display());
    let child = project
        .command(&[
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = wait_for_file(&addr_file);
    (child, addr, release)
}

#[test]
fn a_step_serves_its_endpoints_and_is_recorded() {
    let project = Project::new();
    let post = r#"python3 -c "import os, urllib.request as u; u.urlopen(u.Request(os.environ['MLSPEC_STEP_URL'] + '/api/v1/metrics', data=b'{\"key\": \"loss\", \"value\": 0.25, \"step\": 3}'))""#;
    let script = format!(
        "{post}; echo '{{\"key\": \"val/acc\", \"value\": [0.5, 0.75]}}' >> \"$MLSPEC_METRICS_FILE\"; echo hello; echo model > model.bin"
    );
    let (mut child, addr, release) = spawn_waiting_step(&project, "train", &script);

    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let page = get(&addr, "/metrics").body;
        if page.contains("val_acc{index=\"1\"} 0.75") && page.contains("loss 0.25") {
            break page;
        }
        assert!(Instant::now() < deadline, "metrics never appeared:\n{page}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.contains("mlspec_step_state{state=\"running\"} 1"), "{metrics}");
    assert_eq!(
        get(&addr, "/ok"),
        mlspec_server::probe::Response {
            status: 200,
            body: "ok\n".into()
        }
    );
    let varz: serde_json::Value = serde_json::from_str(&get(&addr, "/varz").body).unwrap();
    assert_eq!(varz["name"], "train");
    let status = project.mlspec(&["step", "status", &addr]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("train ("));

    std::fs::write(&release, "").unwrap();
    assert!(child.wait().unwrap().success());
    let run = project.run_of("train");
    assert_eq!(run["spec"]["status"], "Finished");
    assert_eq!(run["metadata"]["createdBy"], "tester");
    let metrics = run["spec"]["metrics"].as_array().unwrap();
    assert!(
        metrics
            .iter()
            .any(|m| m["key"] == "loss" && m["value"] == 0.25 && m["step"] == 3),
        "{metrics:?}"
    );
    assert!(
        metrics.iter().any(|m| m["key"] == "val/acc" && m["value"][1] == 0.75),
        "{metrics:?}"
    );
    assert!(run["spec"]["resources"]["cpuSeconds"].as_f64().is_some());
    assert!(run["spec"]["resources"]["peakMemoryBytes"].as_u64().unwrap() > 0);
    assert_eq!(run["spec"]["tags"]["mlspec.stdout.bytes"], "6");
    let log = project
        .path()
        .join(".mlspec/logs")
        .join(run["metadata"]["id"].as_str().unwrap())
        .join("stdout.log");
    assert_eq!(std::fs::read_to_string(log).unwrap(), "hello\n");
    assert_eq!(
        project.mlspec(&["step", "status", &addr]).status.code(),
        Some(2),
        "the step is gone"
    );
}

#[test]
fn outputs_are_recorded_with_their_digests() {
    let project = Project::new();
    let out = project.mlspec(&[
        "step",
        "run",
        "--name",
        "write",
        "--param",
        "n=3",
        "--output",
        "out.txt",
        "--",
        "sh",
        "-c",
        "printf abc > out.txt",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = project.run_of("write");
    assert_eq!(run["spec"]["params"]["n"], 3.0);
    let artifact_id = run["spec"]["outputs"][0].as_str().unwrap();
    let artifact: serde_json::Value =
        serde_json::from_slice(&project.mlspec(&["get", "Artifact", artifact_id, "-o", "json"]).stdout).unwrap();
    // sha256("abc"), the FIPS 180-2 test vector.
    assert_eq!(
        artifact["spec"]["digest"],
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(artifact["spec"]["size"], 3);
    assert_eq!(artifact["spec"]["path"]["path"], "out.txt");
}

#[test]
fn failures_keep_the_exit_code() {
    let project = Project::new();
    let out = project.mlspec(&["step", "run", "--name", "fails", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let run = project.run_of("fails");
    assert_eq!(run["spec"]["status"], "Failed");
    assert_eq!(run["spec"]["exitCode"], 3);
}

#[test]
fn a_missing_command_is_an_error_and_a_failed_run() {
    let project = Project::new();
    let out = project.mlspec(&["step", "run", "--name", "ghost", "--", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot run `no-such-command-here`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = project.run_of("ghost");
    assert_eq!(run["spec"]["status"], "Failed");
    assert_eq!(run["spec"]["exitCode"], 127);
}

#[test]
fn a_child_killed_by_a_signal_is_recorded_as_killed() {
    let project = Project::new();
    let out = project.mlspec(&["step", "run", "--name", "doomed", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(128 + 9));
    let run = project.run_of("doomed");
    assert_eq!(run["spec"]["status"], "Killed");
    assert_eq!(run["spec"]["signal"], "SIGKILL");
}

#[test]
fn sigterm_is_forwarded_and_the_run_is_killed() {
    let project = Project::new();
    let (child, addr, _release) = spawn_waiting_step(&project, "stopped", "true");
    assert_eq!(get(&addr, "/ok").status, 200);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(128 + 15));
    let run = project.run_of("stopped");
    assert_eq!(run["spec"]["status"], "Killed");
    assert_eq!(run["spec"]["signal"], "SIGTERM");
}

#[test]
fn big_output_is_capped_in_the_log_not_on_the_terminal() {
    let project = Project::new();
    let out = project.mlspec(&[
        "step",
        "run",
        "--name",
        "chatty",
        "--log-limit",
        "1000",
        "--",
        "sh",
        "-c",
        "head -c 3000000 /dev/zero",
    ]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 3_000_000, "the terminal gets everything");
    let run = project.run_of("chatty");
    assert_eq!(run["spec"]["tags"]["mlspec.stdout.bytes"], "3000000");
    assert_eq!(run["spec"]["tags"]["mlspec.stdout.truncated_at"], "1000");
}

#[test]
fn an_address_in_use_is_a_clear_error() {
    let project = Project::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = project.mlspec(&["step", "run", "--listen", &addr, "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {addr}")));
}

#[test]
fn an_unreachable_store_spools_the_run_for_flush() {
    let project = Project::new();
    let home = project.path().join("home");
    let outside = tempfile::tempdir().unwrap();
    let mut command = Command::new(cargo_bin("mlspec"));
    command
        .current_dir(outside.path())
        .env("MLSPEC_HOME", &home)
        .env("MLSPEC_STORE", "postgres://nobody@127.0.0.1:1/none")
        .args(["step", "run", "--name", "offline", "--", "true"]);
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mlspec step flush"));
    let spooled: Vec<_> = std::fs::read_dir(home.join("spool")).unwrap().collect();
    assert_eq!(spooled.len(), 1);
    let store = format!("sqlite:{}", project.path().join(".mlspec/store.db").display());
    let flush = Command::new(cargo_bin("mlspec"))
        .current_dir(outside.path())
        .env("MLSPEC_HOME", &home)
        .args(["--store", &store, "step", "flush"])
        .output()
        .unwrap();
    assert!(flush.status.success(), "{}", String::from_utf8_lossy(&flush.stderr));
    assert_eq!(std::fs::read_dir(home.join("spool")).unwrap().count(), 0);
    assert_eq!(project.run_of("offline")["spec"]["status"], "Finished");
}

#[test]
fn a_file_that_is_not_executable_is_an_error_and_a_failed_run() {
    let project = Project::new();
    std::fs::write(project.path().join("script.sh"), "echo hi\n").unwrap();
    let out = project.mlspec(&["step", "run", "--name", "noexec", "--", "./script.sh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run `./script.sh`"));
    assert_eq!(project.run_of("noexec")["spec"]["exitCode"], 126);
}

#[test]
fn a_child_that_closes_stdout_early_still_finishes() {
    let project = Project::new();
    let out = project.mlspec(&[
        "step",
        "run",
        "--name",
        "closer",
        "--",
        "sh",
        "-c",
        "echo first; exec 1>&-; sleep 0.2; echo after >&2",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");
    let run = project.run_of("closer");
    assert_eq!(run["spec"]["status"], "Finished");
    assert_eq!(run["spec"]["tags"]["mlspec.stdout.bytes"], "6");
    assert_eq!(run["spec"]["tags"]["mlspec.stderr.bytes"], "6");
}

#[test]
fn bad_metric_file_lines_are_reported_and_skipped() {
    let project = Project::new();
    let script = "printf 'not json\\n{\"key\":\"ok\",\"value\":1}\\n' >> \"$MLSPEC_METRICS_FILE\"";
    let out = project.mlspec(&["step", "run", "--name", "lines", "--", "sh", "-c", script]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1: the body is not JSON"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics = &project.run_of("lines")["spec"]["metrics"];
    assert_eq!(metrics.as_array().unwrap().len(), 1);
    assert_eq!(metrics[0]["key"], "ok");
}

//! `mlspec tune` end to end: real trial commands (shell scripts) run as steps, their Runs and
//! the Training document read back from the store — on every store backend for the main case.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

use super::store::{mlspec, mlspec_with, test_stores};

/// A project directory with a store and the files given.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(dir.path(), &["init"]).code, 0);
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// Reports `score` = the parameter x (the best trial has the largest x).
const REPORT_X: &str = r#"printf '{"key":"score","value":%s}\n' "$MLSPEC_PARAM_X" >> "$MLSPEC_METRICS_FILE""#;

/// `mlspec get KIND NAME -o json`, from `store` or the project's.
fn get(dir: &Path, store: Option<&str>, kind: &str, name: &str) -> Value {
    let mut args = vec!["get", kind, name, "-o", "json"];
    if let Some(store) = store {
        args.extend(["--store", store]);
    }
    let got = mlspec(dir, &args);
    assert_eq!(got.code, 0, "{}", got.stderr);
    serde_json::from_str(&got.stdout).unwrap()
}

fn training(dir: &Path, store: Option<&str>, name: &str) -> Value {
    get(dir, store, "training", name)
}

fn run_document(dir: &Path, store: Option<&str>, id: &str) -> Value {
    get(dir, store, "run", id)
}

/// The recorded trials (none yet: the field is left out).
fn trials(training: &Value) -> &[Value] {
    training["spec"]["trials"].as_array().map_or(&[], Vec::as_slice)
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"))
}

#[test]
fn a_random_search_records_every_trial_as_a_child_run_and_the_best() {
    for store in test_stores("tune") {
        let dir = project(&[("space.yaml", "x: {min: -5, max: 5}\nsolver: {choices: [lbfgs, saga]}\n")]);
        if let Some(store) = &store {
            assert_eq!(mlspec(dir.path(), &["init", "--store", store]).code, 0);
        }
        let mut args = vec![
            "tune",
            "--space",
            "space.yaml",
            "--trials",
            "8",
            "--jobs",
            "3",
            "--sampler",
            "random",
            "--seed",
            "11",
            "--objective",
            "maximize metrics.score",
            "--name",
            "search",
        ];
        if let Some(store) = &store {
            args.extend(["--store", store.as_str()]);
        }
        args.extend(["--", "sh", "-c", REPORT_X]);
        let out = mlspec(dir.path(), &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout
                .contains("Training/search: 8 trials (8 completed, 0 pruned, 0 failed)"),
            "{}",
            out.stdout
        );

        let training = training(dir.path(), store.as_deref(), "search");
        let spec = &training["spec"];
        assert_eq!(spec["search"]["algorithm"], "random");
        assert_eq!(spec["search"]["seed"], 11);
        assert_eq!(spec["search"]["maxTrials"], 8);
        assert_eq!(spec["search"]["space"]["x"]["min"], -5.0);
        let trials = trials(&training);
        let ids: Vec<&str> = trials.iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(ids, (0..8).map(|i| format!("trial-{i:04}")).collect::<Vec<_>>());
        // Each trial's score is the x it was given; the best is the largest.
        let mut best = ("", f64::NEG_INFINITY);
        for trial in trials {
            assert_eq!(trial["status"], "completed");
            let x = number(&trial["params"]["x"]);
            assert!((-5.0..=5.0).contains(&x));
            assert!(["lbfgs", "saga"].contains(&trial["params"]["solver"].as_str().unwrap()));
            assert_eq!(number(&trial["metrics"][0]["value"]), x);
            if x > best.1 {
                best = (trial["id"].as_str().unwrap(), x);
            }
        }
        assert_eq!(spec["bestTrial"], best.0);
        assert_eq!(number(&spec["params"]["x"]), best.1);
        // Every trial is a recorded step whose parent is the search's Run.
        let search_run = spec["run"].as_str().unwrap();
        for trial in trials {
            let run = run_document(dir.path(), store.as_deref(), trial["run"].as_str().unwrap());
            assert_eq!(run["spec"]["parent"], search_run);
            assert_eq!(run["spec"]["status"], "Finished");
            assert_eq!(run["spec"]["params"], trial["params"]);
            assert_eq!(run["spec"]["tags"]["mlspec.trial"], trial["id"]);
        }
        let search = run_document(dir.path(), store.as_deref(), search_run);
        assert_eq!(search["spec"]["status"], "Finished");
    }
}

#[test]
fn a_grid_search_visits_every_combination_once_with_params_in_arguments() {
    let dir = project(&[(
        "space.yaml",
        "a: {choices: [1, 2, 3]}\nb: {min: 0, max: 1, step: 0.5}\n",
    )]);
    let report = r#"awk -v a="$1" -v b="$MLSPEC_PARAM_B" 'BEGIN { printf "{\"key\":\"v\",\"value\":%.17g}\n", a * 10 + b }' >> "$MLSPEC_METRICS_FILE""#;
    let out = mlspec(
        dir.path(),
        &[
            "tune",
            "--space",
            "space.yaml",
            "--sampler",
            "grid",
            "--objective",
            "maximize metrics.v",
            "--name",
            "grid",
            "--",
            "sh",
            "-c",
            report,
            "trial",
            "{params.a}",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // What a user sees: each trial as it starts and ends, then the summary and the best.
    insta::assert_snapshot!("tune_grid_output", format!("{}{}", out.stderr, out.stdout));
    let training = training(dir.path(), None, "grid");
    let seen: BTreeSet<(String, String)> = trials(&training)
        .iter()
        .map(|t| (t["params"]["a"].to_string(), t["params"]["b"].to_string()))
        .collect();
    let expected: BTreeSet<(String, String)> = ["1.0", "2.0", "3.0"]
        .iter()
        .flat_map(|a| ["0.0", "0.5", "1.0"].map(|b| (a.to_string(), b.to_string())))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(trials(&training).len(), 9);
    assert_eq!(training["spec"]["search"]["algorithm"], "grid");
    assert_eq!(number(&training["spec"]["metrics"][0]["value"]), 31.0);
}

#[test]
fn crashing_hanging_and_silent_trials_fail_with_their_reason_and_the_search_goes_on() {
    // x's value picks the behaviour: the grid is 0 (crash), 1 (hang), 2 (no metric), 3 (fine).
    let script = r#"case "$MLSPEC_PARAM_X" in
0) echo "boom: out of memory" >&2; exit 3;;
1) exec sleep 60;;
2) exit 0;;
*) printf '{"key":"score","value":1}\n' >> "$MLSPEC_METRICS_FILE";;
esac"#;
    let dir = project(&[("space.yaml", "x: {min: 0, max: 3, step: 1}\n"), ("trial.sh", script)]);
    let started = Instant::now();
    let out = mlspec(
        dir.path(),
        &[
            "tune",
            "--space",
            "space.yaml",
            "--sampler",
            "grid",
            "--jobs",
            "4",
            "--trial-timeout",
            "1",
            "--objective",
            "maximize metrics.score",
            "--name",
            "faults",
            "--",
            "sh",
            "trial.sh",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the hanging trial was not stopped"
    );
    let training = training(dir.path(), None, "faults");
    let by_x: BTreeMap<i64, &Value> = trials(&training)
        .iter()
        .map(|t| (number(&t["params"]["x"]) as i64, t))
        .collect();
    assert_eq!(by_x[&0]["status"], "failed");
    assert_eq!(
        by_x[&0]["reason"],
        "the command exited with code 3: boom: out of memory"
    );
    assert_eq!(by_x[&1]["status"], "failed");
    assert_eq!(
        by_x[&1]["reason"],
        "ran longer than --trial-timeout (1 s) and was stopped"
    );
    assert_eq!(by_x[&2]["status"], "failed");
    assert!(
        by_x[&2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the trial never reported metrics.score")
    );
    assert_eq!(by_x[&3]["status"], "completed");
    assert_eq!(training["spec"]["bestTrial"], by_x[&3]["id"]);
    let run = run_document(dir.path(), None, by_x[&0]["run"].as_str().unwrap());
    assert_eq!(run["spec"]["status"], "Failed");
    assert_eq!(run["spec"]["tags"]["mlspec.failure"], by_x[&0]["reason"]);

    // No trial completing is a finding: exit 1.
    let out = mlspec(
        dir.path(),
        &[
            "tune",
            "--space",
            "space.yaml",
            "--trials",
            "2",
            "--sampler",
            "random",
            "--objective",
            "maximize metrics.none",
            "--name",
            "silent",
            "--",
            "true",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no trial completed"), "{}", out.stderr);
}

#[test]
fn trials_behind_the_median_are_pruned_from_their_intermediate_values() {
    // The score at each step is x × (step + 1): a trial with a small x is behind from step 0.
    let script = r#"for step in 0 1 2 3 4; do
  awk -v x="$MLSPEC_PARAM_X" -v s="$step" 'BEGIN { printf "{\"key\":\"score\",\"value\":%.17g,\"step\":%d}\n", x * (s + 1), s }' >> "$MLSPEC_METRICS_FILE"
  sleep 0.2
done"#;
    // The grid runs the choices in order: the first five complete and set the median.
    let dir = project(&[
        ("space.yaml", "x: {choices: [5, 6, 7, 8, 9, 1, 2, 10]}\n"),
        ("trial.sh", script),
    ]);
    let out = mlspec(
        dir.path(),
        &[
            "tune",
            "--space",
            "space.yaml",
            "--sampler",
            "grid",
            "--prune",
            "median",
            "--objective",
            "maximize metrics.score",
            "--name",
            "pruned",
            "--",
            "sh",
            "trial.sh",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let training = training(dir.path(), None, "pruned");
    let statuses: Vec<(f64, &str)> = trials(&training)
        .iter()
        .map(|t| (number(&t["params"]["x"]), t["status"].as_str().unwrap()))
        .collect();
    // The median of 5..9 at every step is 7 × (step + 1): 1 and 2 fall behind, 10 does not.
    assert_eq!(
        statuses,
        [
            (5.0, "completed"),
            (6.0, "completed"),
            (7.0, "completed"),
            (8.0, "completed"),
            (9.0, "completed"),
            (1.0, "pruned"),
            (2.0, "pruned"),
            (10.0, "completed"),
        ]
    );
    let pruned = &trials(&training)[5];
    let reason = pruned["reason"].as_str().unwrap();
    assert!(
        reason.contains("is worse than the median") && reason.ends_with("of 5 completed trials at that step"),
        "{pruned}"
    );
    let run = run_document(dir.path(), None, pruned["run"].as_str().unwrap());
    assert_eq!(run["spec"]["status"], "Killed");
    assert_eq!(
        training["spec"]["search"]["pruner"],
        "median (after 5 completed trials)"
    );
}

/// Starts `mlspec tune` in `dir`.
fn start_tune(dir: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(cargo_bin("mlspec"))
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until Training/resumable holds `recorded` trials.
fn wait_until_recorded(dir: &Path, recorded: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = mlspec(dir, &["get", "training", "resumable", "-o", "json"]);
        if got.code == 0 {
            let training: Value = serde_json::from_str(&got.stdout).unwrap();
            if trials(&training).len() >= recorded {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the search recorded fewer than {recorded} trials in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_interrupted_search_continues_where_it_stopped() {
    let script = format!("sleep 0.3; {REPORT_X}");
    let dir = project(&[("space.yaml", "x: {min: -5, max: 5}\n"), ("trial.sh", &script)]);
    let args = |name: &'static str| {
        vec![
            "tune",
            "--space",
            "space.yaml",
            "--trials",
            "30",
            "--jobs",
            "2",
            "--sampler",
            "random",
            "--seed",
            "3",
            "--objective",
            "maximize metrics.score",
            "--name",
            name,
            "--",
            "sh",
            "trial.sh",
        ]
    };
    // Killed outright (no chance to clean up) after three trials…
    let mut child = start_tune(dir.path(), &args("resumable"));
    wait_until_recorded(dir.path(), 3);
    child.kill().unwrap();
    child.wait().unwrap();
    // …then interrupted with Ctrl-C…
    let child = start_tune(dir.path(), &args("resumable"));
    wait_until_recorded(dir.path(), 8);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let ended = child.wait_with_output().unwrap();
    assert_eq!(
        ended.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    assert!(String::from_utf8_lossy(&ended.stderr).contains("run the same command again to continue"));
    // …and run again: it continues.
    let out = mlspec(dir.path(), &args("resumable"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("continuing Training/resumable"), "{}", out.stderr);
    // The same trials, with the same parameters, as a search that was never interrupted.
    let whole = mlspec(dir.path(), &args("whole"));
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let params = |name| -> Vec<(String, Value)> {
        trials(&training(dir.path(), None, name))
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_owned(), t["params"].clone()))
            .collect()
    };
    assert_eq!(params("resumable"), params("whole"));
    // Once complete, running it again runs nothing.
    let again = mlspec(dir.path(), &args("resumable"));
    assert_eq!(again.code, 0);
    assert!(
        again
            .stderr
            .contains("is complete (30 of 30 trials recorded); nothing to run"),
        "{}",
        again.stderr
    );
}

#[test]
fn bad_input_is_refused_before_any_trial_runs() {
    let dir = project(&[
        ("space.yaml", "x: {min: 0, max: 1}\n"),
        ("bad.yaml", "x: {min: 3, max: 1}\n"),
        ("grid.yaml", "x: {min: 0, max: 1}\n"),
    ]);
    let tune = |extra: &[&str]| {
        let mut args = vec!["tune", "--name", "bad", "--trials", "2"];
        args.extend(extra);
        args.extend(["--", "sh", "-c", "touch ran"]);
        mlspec(dir.path(), &args)
    };
    let cases: [(&[&str], &str); 5] = [
        (
            &["--space", "bad.yaml", "--objective", "max metrics.a"],
            "parameter `x`: `max` (1) is less than `min` (3)",
        ),
        (
            &["--space", "missing.yaml", "--objective", "max metrics.a"],
            "cannot read the search space missing.yaml",
        ),
        (
            &["--space", "space.yaml", "--objective", "improve metrics.a"],
            "`improve` is not maximize or minimize",
        ),
        (
            &[
                "--space",
                "grid.yaml",
                "--sampler",
                "grid",
                "--objective",
                "max metrics.a",
            ],
            "`x` is a continuous range",
        ),
        (
            &[
                "--space",
                "space.yaml",
                "--objective",
                "max metrics.a",
                "--trial-timeout",
                "0",
            ],
            "not a number of seconds",
        ),
    ];
    for (extra, expected) in cases {
        let out = tune(extra);
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{extra:?}: {}", out.stderr);
    }
    assert!(!dir.path().join("ran").exists());

    // A different search under a name already used: refused, with the way out.
    let first = mlspec_with(
        dir.path(),
        &[],
        &[
            "tune",
            "--space",
            "space.yaml",
            "--trials",
            "1",
            "--objective",
            "max metrics.a",
            "--name",
            "taken",
            "--",
            "true",
        ],
    );
    assert_eq!(first.code, 1, "{}", first.stderr);
    let other = mlspec(
        dir.path(),
        &[
            "tune",
            "--space",
            "space.yaml",
            "--trials",
            "1",
            "--objective",
            "min metrics.a",
            "--name",
            "taken",
            "--",
            "true",
        ],
    );
    assert_eq!(other.code, 2);
    assert!(other.stderr.contains("records a different search"), "{}", other.stderr);
    assert!(other.stderr.contains("--fresh"), "{}", other.stderr);
}

#[test]
fn tpe_is_recorded_as_a_bayesian_search_and_closes_in_on_the_optimum() {
    // score = −(x − 2)²: TPE's best after 30 trials is near x = 2.
    let report = r#"awk -v x="$MLSPEC_PARAM_X" 'BEGIN { printf "{\"key\":\"score\",\"value\":%.17g}\n", -(x - 2) ^ 2 }' >> "$MLSPEC_METRICS_FILE""#;
    let dir = project(&[("space.yaml", "x: {min: -10, max: 10}\n")]);
    let out = mlspec(
        dir.path(),
        &[
            "tune",
            "--space",
            "space.yaml",
            "--trials",
            "30",
            "--seed",
            "4",
            "--objective",
            "maximize metrics.score",
            "--name",
            "tpe",
            "--",
            "sh",
            "-c",
            report,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let training = training(dir.path(), None, "tpe");
    assert_eq!(training["spec"]["search"]["algorithm"], "bayesian");
    assert!(
        training["spec"]["search"]["sampler"]
            .as_str()
            .unwrap()
            .starts_with("tpe")
    );
    let best_x = number(&training["spec"]["params"]["x"]);
    assert!((best_x - 2.0).abs() < 0.5, "best x {best_x}");
}

//! End-to-end tests of the `mlspec` binary: exit codes, and snapshots of what a user sees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod store;
mod attest;
mod data;
mod demo;
mod eval;
mod ingest;
mod interop;
mod log;
mod objectives;
mod output;
mod pipeline;
mod roundtrip;
mod runtime;
mod serve;
mod serve_interop;
mod server;
mod split;
mod step;
mod test_stage;
mod training;
mod transform;
mod tune;
mod ui;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mlspec() -> Command {
    let mut cmd = Command::cargo_bin("mlspec").unwrap();
    cmd.current_dir(workspace());
    cmd
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = mlspec();
    cmd.args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_examples_are_valid() {
    let out = run(&["validate", "docs/spec/examples"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stderr, @"ok: 24 file(s), 24 document(s), 0 invalid; 0 error(s), 0 warning(s)");
}

#[test]
fn every_invalid_fixture_fails_with_its_snapshot() {
    let dir = workspace().join("crates/mlspec/tests/fixtures/invalid");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    fixtures.sort();
    assert_eq!(fixtures.len(), 46, "two invalid fixtures per kind");
    for path in fixtures {
        let relative = path.strip_prefix(workspace()).unwrap().to_string_lossy().into_owned();
        let out = run(&["validate", &relative], None);
        assert_eq!(out.code, 1, "{relative}: {}", out.stderr);
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, out.stderr);
    }
}

#[test]
fn json_report_is_structured() {
    let out = run(
        &[
            "validate",
            "--format",
            "json",
            "crates/mlspec/tests/fixtures/invalid/split.semantic.yaml",
        ],
        None,
    );
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let doc = "apiVersion: mlspec/v1\nkind: Experiment\nmetadata: {name: e}\nspec: {}\n";
    assert_eq!(run(&["validate", "-"], Some(doc)).code, 0);
    let out = run(
        &["validate", "-"],
        Some("{\"apiVersion\": \"mlspec/v1\", \"kind\": \"Experimnt\"}"),
    );
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn errors_that_stop_the_command_exit_2() {
    let missing = run(&["validate", "no/such/file.yaml"], None);
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr,
        "error: cannot read no/such/file.yaml: No such file or directory (os error 2)\n"
    );
    assert_eq!(run(&["validate", "--format", "xml", "docs"], None).code, 2);
    assert_eq!(run(&["validate"], None).code, 2);
    assert_eq!(run(&["schema", "Nope"], None).code, 2);
    assert_eq!(
        run(&["new", "Datset"], None).stderr,
        "error: unknown kind `Datset`; did you mean `Dataset`?; `mlspec kinds` lists them\n"
    );
}

#[test]
fn rules_across_files_name_the_other_file() {
    let out = run(&["validate", "crates/mlspec/tests/fixtures/batch"], None);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr);
    // Each file alone is valid: the problems exist only between them.
    for file in [
        "1-dataset",
        "2-dataset-same-name-other-case",
        "3-evaluation",
        "4-test-report-on-evaluation-data",
    ] {
        let path = format!("crates/mlspec/tests/fixtures/batch/{file}.yaml");
        assert_eq!(run(&["validate", &path], None).code, 0, "{file}");
    }
}

#[test]
fn bad_inputs_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 GiB file (sparse: nothing is written, and mlspec must not read it either).
    let huge = dir.path().join("huge.yaml");
    std::fs::File::create(&huge).unwrap().set_len(1 << 30).unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, b"apiVersion: mlspec/v1\nkind: \xff\xfe\n").unwrap();
    for (path, expected) in [
        (
            &huge,
            "error: the input is 1073741824 bytes; the limit is 67108864 bytes",
        ),
        (&empty, "error: the input holds no document"),
        (&binary, "error: invalid UTF-8 at byte offset 28"),
    ] {
        let out = run(&["validate", path.to_str().unwrap()], None);
        assert_eq!(out.code, 1, "{}: {}", path.display(), out.stderr);
        assert!(out.stderr.starts_with(expected), "{}: {}", path.display(), out.stderr);
    }
}

#[test]
fn kinds_lists_every_kind() {
    let out = run(&["kinds"], None);
    assert_eq!(out.code, 0);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn every_template_is_valid_and_takes_a_name() {
    for kind in mlspec_spec::Kind::ALL {
        let template = run(&["new", kind.as_str(), "--name", "my-thing"], None);
        assert_eq!(template.code, 0, "{kind}");
        assert!(template.stdout.contains("  name: my-thing\n"), "{kind}");
        assert!(template.stdout.starts_with('#'), "{kind}: the template is commented");
        let check = run(&["validate", "-"], Some(&template.stdout));
        assert_eq!(check.code, 0, "{kind}: {}", check.stderr);
    }
    assert_eq!(run(&["new", "run", "--name", "not valid"], None).code, 2);
}

#[test]
fn schema_prints_and_exports_the_committed_schemas() {
    let printed = run(&["schema", "data-profile"], None);
    let committed = std::fs::read_to_string(workspace().join("schemas/v1/data-profile.json")).unwrap();
    assert_eq!(printed.stdout, committed);
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["schema", "--export", dir.path().to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        mlspec_spec::Kind::ALL.len()
    );
}

#[test]
fn migrate_converts_seed_examples_and_refuses_malformed_yaml() {
    let seeds = workspace().join("crates/mlspec-spec/tests/seed-examples");
    let experiment = seeds.join("mlspec-repo/experiment_tracking_experiment_example.yml");
    let out = run(&["migrate", experiment.to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let body: String = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("# migrated"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(body);
    assert_eq!(run(&["validate", "-"], Some(&out.stdout)).code, 0);

    let malformed = seeds.join("mlspec-repo/metadata_file_metadata.yaml");
    let out = run(&["migrate", malformed.to_str().unwrap()], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("invalid YAML at line 2, column 12: while scanning a plain scalar, found a tab"),
        "{}",
        out.stderr
    );
}

#[test]
fn help_and_version() {
    assert_eq!(
        run(&["--version"], None).stdout,
        format!("mlspec {}\n", env!("CARGO_PKG_VERSION"))
    );
    for command in ["validate", "migrate", "schema", "new", "kinds"] {
        let help = run(&[command, "--help"], None);
        assert_eq!(help.code, 0);
        assert!(help.stdout.contains("Usage: mlspec"), "{command}");
    }
}

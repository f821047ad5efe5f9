//! What every command does when its output cannot be written: a reader that went away ends the
//! command quietly with exit 0 (as ripgrep does), a full disk is exit 2 with the reason, never a
//! panic; and control characters from stored names and values never reach a terminal raw.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::store::{mlspec, quickstart};

/// A project with the quickstart's documents applied and many runs, so that listings are long.
fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(mlspec(tmp.path(), &["init"]).code, 0);
    assert_eq!(mlspec(tmp.path(), &["apply", &quickstart()]).code, 0);
    let runs: String = (0..300)
        .map(|i| {
            format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: run-{i}}}\nspec: {{status: Running}}\n---\n")
        })
        .collect();
    std::fs::write(tmp.path().join("runs.yaml"), runs).unwrap();
    assert_eq!(mlspec(tmp.path(), &["apply", "runs.yaml"]).code, 0);
    tmp
}

/// Runs `mlspec ARGS` with stdout a pipe whose reader reads `keep` bytes and then closes it.
fn with_closed_pipe(dir: &Path, args: &[&str], keep: usize) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlspec"))
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0; keep];
    let _ = stdout.read_exact(&mut first);
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_full_disk(dir: &Path, args: &[&str]) -> (i32, String) {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlspec"))
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .args(args)
        .stdout(full)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Commands that print to stdout, from one line to thousands.
const PRINTERS: &[&[&str]] = &[
    &["list", "runs"],
    &["list", "runs", "--format", "json"],
    &["apply", "runs.yaml"],
    &["store", "info"],
    &["kinds"],
    &["schema", "Run"],
    &["new", "Run"],
    &["get", "Run", "run-7", "-o", "json"],
    &["history", "Run", "run-7"],
];

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let project = project();
    for args in PRINTERS {
        for keep in [0, 1] {
            let (code, stderr) = with_closed_pipe(project.path(), args, keep);
            assert_eq!(code, 0, "mlspec {args:?} | head -c {keep}: {stderr}");
            assert!(!stderr.contains("panicked"), "mlspec {args:?}: {stderr}");
            assert!(!stderr.contains("Broken pipe"), "mlspec {args:?}: {stderr}");
        }
    }
}

#[test]
fn a_full_disk_is_an_error_with_its_reason() {
    let project = project();
    for args in PRINTERS {
        let (code, stderr) = with_full_disk(project.path(), args);
        assert_eq!(code, 2, "mlspec {args:?} > /dev/full: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output: No space left on device"),
            "mlspec {args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "mlspec {args:?}: {stderr}");
    }
}

#[test]
fn control_characters_from_files_and_arguments_are_escaped() {
    let project = project();
    let esc = "\u{1b}[2J\rfake";
    // A value in a data file, shown among a profile's top values.
    let csv: String = std::iter::once("city,n\n".to_owned())
        .chain((0..50).map(|i| format!("\"{esc}\",{i}\n")))
        .collect();
    std::fs::write(project.path().join("cities.csv"), csv).unwrap();
    // A name given on the command line, echoed in an error; a file name in a diagnostic.
    std::fs::write(project.path().join(format!("{esc}.yaml")), "kind: [").unwrap();
    let cases: [&[&str]; 3] = [
        &["data", "profile", "cities.csv", "--no-record"],
        &["get", "Run", esc],
        &["validate", "."],
    ];
    for args in cases {
        let out = mlspec(project.path(), args);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(said.contains("\\x1b[2J\\rfake"), "{args:?}: {said:?}");
        assert!(!said.contains('\u{1b}') && !said.contains('\r'), "{args:?}: {said:?}");
    }
}

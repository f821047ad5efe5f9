//! The store commands end to end, as a new user runs them from the README, in a fresh project
//! directory. Ids, times, hashes and paths are redacted in snapshots.

use std::path::Path;

use assert_cmd::Command;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn mlspec(dir: &Path, args: &[&str]) -> Out {
    mlspec_with(dir, &[], args)
}

/// [`mlspec`] with environment variables.
pub fn mlspec_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let out = Command::cargo_bin("mlspec")
        .unwrap()
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .env_remove("MLSPEC_TOKEN")
        .env("MLSPEC_ACTOR", "tester")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The stores a test runs on: the project directory's SQLite store (`None`), and — when
/// MLSPEC_TEST_POSTGRES names a PostgreSQL server — a new database on it, named after `purpose`.
pub fn test_stores(purpose: &str) -> Vec<Option<String>> {
    let mut stores = vec![None];
    if let Ok(admin) = std::env::var("MLSPEC_TEST_POSTGRES") {
        let database = format!("mlspec_{purpose}_{}", std::process::id());
        let made = std::process::Command::new("psql")
            .args([admin.as_str(), "-c", &format!("CREATE DATABASE {database}")])
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let (base, _) = admin.rsplit_once('/').unwrap();
        stores.push(Some(format!("{base}/{database}")));
    }
    stores
}

pub fn quickstart() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/quickstart")
        .display()
        .to_string()
}

macro_rules! snapshot {
    ($dir:expr, $name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[ID]"),
            (r"[0-9a-f]{64}", "[HASH]"),
            (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?", "[TIME]"),
            (regex_escape(&$dir.display().to_string()).as_str(), "[DIR]"),
        ]}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

pub fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '/' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_project_store_from_init_to_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let out = mlspec(dir, &["list", "run"]);
    assert_eq!(out.code, 2);
    snapshot!(dir, "store_missing", out.stderr);

    let out = mlspec(dir, &["init"]);
    assert_eq!(out.code, 0);
    snapshot!(dir, "store_init", out.stdout);

    let out = mlspec(dir, &["apply", &quickstart()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot!(dir, "store_apply", out.stdout);
    let out = mlspec(dir, &["apply", &quickstart()]);
    assert!(
        out.stdout.ends_with("0 created, 0 updated, 12 unchanged\n"),
        "{}",
        out.stdout
    );

    // Commands find the store from a subdirectory, as git does.
    let sub = dir.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let out = mlspec(&sub, &["list", "run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot!(dir, "store_list_runs", out.stdout);

    let out = mlspec(
        dir,
        &["list", "dataset", "--all", "--label", "team=risk", "--format", "json"],
    );
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "penguins-raw");
    assert_eq!(listed[0]["status"], "Active");

    let out = mlspec(dir, &["get", "Run", "TRAIN-1", "-o", "json"]);
    let run: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(run["metadata"]["name"], "train-1");
    assert_eq!(run["metadata"]["createdBy"], "tester");
    assert_eq!(run["spec"]["params"]["C"], 100.0);

    let out = mlspec(dir, &["lineage", "Artifact/model", "--upstream"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot!(dir, "store_lineage_text", out.stdout);
    let out = mlspec(
        dir,
        &[
            "lineage",
            "Artifact",
            "model",
            "--upstream",
            "--depth",
            "2",
            "--format",
            "mermaid",
        ],
    );
    snapshot!(dir, "store_lineage_mermaid", format!("{}{}", out.stdout, out.stderr));

    let out = mlspec(dir, &["promote", "features", "--dataset", "penguins-features"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot!(dir, "store_promote", out.stdout);

    let out = mlspec(dir, &["archive", "Dataset", "penguins-raw@1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let uses_archived = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: late}\nspec: {status: Running, inputs: [Dataset/penguins-raw@1]}\n";
    let out = mlspec(dir, &["apply", &write(dir, "late.yaml", uses_archived)]);
    assert_eq!(out.code, 2);
    snapshot!(dir, "store_apply_archived_version", out.stderr);

    let out = mlspec(dir, &["rename", "Run", "prepare-1", "Train-1"]);
    assert_eq!(out.code, 2);
    snapshot!(dir, "store_rename_taken", out.stderr);

    let changed = std::fs::read_to_string(Path::new(&quickstart()).join("03-runs.yaml"))
        .unwrap()
        .replace("C: 100", "C: 10");
    let out = mlspec(dir, &["apply", &write(dir, "runs.yaml", &changed)]);
    assert!(out.stdout.contains("updated    Run/train-1"), "{}", out.stdout);
    let out = mlspec(dir, &["history", "Run", "train-1"]);
    snapshot!(dir, "store_history", out.stdout);

    let out = mlspec(dir, &["store", "verify"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    snapshot!(dir, "store_verify_intact", out.stdout);
}

#[test]
fn invalid_documents_apply_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    mlspec(dir, &["init"]);
    let invalid = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: a}\nspec: {status: Runing}\n";
    let out = mlspec(dir, &["apply", &write(dir, "bad.yaml", invalid)]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.ends_with("nothing was applied\n"), "{}", out.stderr);
    let out = mlspec(dir, &["store", "info"]);
    let info: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(info["events"], 0);
    assert_eq!(info["backend"], "sqlite");
}

#[test]
fn bad_store_urls_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = mlspec(dir, &["--store", "mysql://h/db", "list", "run"]);
    assert_eq!(out.code, 2);
    snapshot!(dir, "store_bad_scheme", out.stderr);
    let out = mlspec(dir, &["list", "run", "--store", "postgres://u@h:port/db"]);
    assert_eq!(out.code, 2);
    snapshot!(dir, "store_bad_port", out.stderr);
    let junk = write(dir, "junk.db", "this is not a database, it is text");
    let out = mlspec(dir, &["--store", &junk, "list", "run"]);
    assert_eq!(out.code, 2);
    snapshot!(dir, "store_not_a_store", out.stderr);
}

/// Tampering done by an independent tool: Python's sqlite3 module edits the database directly.
#[test]
fn verify_reports_tampering_done_outside_mlspec() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    mlspec(dir, &["init"]);
    mlspec(dir, &["apply", &quickstart()]);
    let script = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        db.execute('DROP TRIGGER events_refuse_update')\n\
        db.execute(\"UPDATE events SET at_us = at_us - 3600000000 WHERE seq = 3\")\n\
        db.execute(\"UPDATE objects SET status = 'Archived' WHERE name = 'train-1'\")\n\
        db.commit()\n";
    let status = std::process::Command::new("python3")
        .args(["-c", script, &dir.join(".mlspec/store.db").display().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = mlspec(dir, &["store", "verify"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    snapshot!(dir, "store_verify_tampered", out.stdout);
    let out = mlspec(dir, &["store", "verify", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 3);
}

#[test]
fn list_where_filters_orders_and_explains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    assert_eq!(mlspec(dir, &["apply", &quickstart()]).code, 0);

    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list"];
        all.extend(args);
        all.extend(["--format", "json"]);
        let out = mlspec(dir, &all);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&[
            "runs",
            "--where",
            "metrics.accuracy > 0.9 and params.solver = \"lbfgs\""
        ]),
        ["train-1"]
    );
    assert_eq!(
        names(&[
            "runs",
            "--where",
            "labels.team = \"risk\"",
            "--order-by",
            "created desc",
            "--limit",
            "2"
        ]),
        ["train-1", "prepare-1"]
    );
    assert_eq!(
        names(&[
            "runs",
            "--where",
            "labels.team = \"risk\"",
            "--order-by",
            "created desc",
            "--limit",
            "2",
            "--offset",
            "2"
        ]),
        ["pipeline-1"]
    );
    assert_eq!(
        names(&[
            "evaluations",
            "--where",
            "accuracy >= 0.9",
            "--order-by",
            "metrics.accuracy desc"
        ]),
        ["penguins-logreg-eval", "penguins-baseline-eval"]
    );
    assert_eq!(
        names(&["runs", "--where", "labels.team = \"x' OR '1'='1\""]),
        Vec::<String>::new()
    );

    let out = mlspec(dir, &["list", "runs", "--where", "metrics.accuracy > 0.9", "--explain"]);
    assert!(out.stdout.contains("fields_by_number"), "{}", out.stdout);

    let out = mlspec(
        dir,
        &[
            "list",
            "runs",
            "--where",
            "metrics.accuracy > \"high\" or (params.lr < 0.1",
        ],
    );
    assert_eq!(out.code, 2);
    snapshot!(dir, "list_where_bad_expression", out.stderr);
    let out = mlspec(dir, &["list", "runs", "--order-by", "metrics.accuracy sideways"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`sideways` is not a direction"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn a_where_expression_that_is_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt as _;
    let out = Command::cargo_bin("mlspec")
        .unwrap()
        .env_remove("MLSPEC_STORE")
        .args([
            "list".as_ref(),
            "runs".as_ref(),
            "--where".as_ref(),
            std::ffi::OsStr::from_bytes(b"accuracy > \xff"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid UTF-8"));
}

//! `mlspec demo`: the whole chain runs from a fresh directory on the embedded store, and its
//! output ends with the audit chain of a logged request.

use super::store::mlspec;

#[test]
fn the_demo_runs_the_whole_chain_and_ends_with_an_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let out = mlspec(tmp.path(), &["demo", "--dir", "run"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for stage in [
        "── 1 objectives",
        "── 2 ingest: mlspec ingest sqlite:crm.db --table customers",
        "── 3 profile",
        "── 6 split",
        "── 4 transform fit",
        "── 4 transform apply (holdback)",
        "── 7 tune",
        "── 5-8 pipeline",
        "── recreate",
        "── 9 test",
        "── 10 package",
        "── 10 sign",
        "── 11 serve: mlspec serve model-stable",
        "── 11 canary",
        "── 11 promote",
        "── 12 drift",
        "── 12 reports",
        "── 13 stop the gateway",
        "── 13 log verify",
        "── audit",
    ] {
        assert!(out.stdout.contains(stage), "{stage} is missing:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("no leakage"), "{}", out.stdout);
    // Stage 2 read the rows out of the database it made; stage 7 searched five penalties.
    assert!(
        out.stdout.contains("customers: 6000 rows in 1 shards"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Training/churn-search: 5 trials (5 completed, 0 pruned, 0 failed)"),
        "{}",
        out.stdout
    );
    // The pipeline ran its five steps, and recreating it from its record wrote the same bytes.
    assert!(
        out.stdout
            .contains("Finished — 5 finished, 0 cached, 0 failed, 0 killed, 0 skipped"),
        "{}",
        out.stdout
    );
    for step in [
        "schema/schema",
        "validate/report",
        "train/model",
        "predict-test/predictions",
        "evaluate/evaluation",
    ] {
        assert!(
            out.stdout.contains(&format!("{step}: same sha256:")),
            "{step}: {}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("5 of 5 output(s) the same"), "{}", out.stdout);
    assert!(out.stdout.contains("holdback reads: 1 of 3"), "{}", out.stdout);
    // Stages 11-12: the canary promoted, then drifted requests roll traffic back.
    assert!(out.stdout.contains("route canary: "), "{}", out.stdout);
    assert!(
        out.stdout.contains("2. 100% for 0s: succeeded (operator)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "action rollback: breached: age-drift; all traffic moved from churn@1.0.0 to churn-stable@0.9.0 (done)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("now answering: churn-stable@0.9.0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("churn-watch-primary-"),
        "the breached report is listed: {}",
        out.stdout
    );
    assert!(out.stdout.contains("lines, all signed"), "{}", out.stdout);
    let audit = out.stdout.rsplit("── audit").next().unwrap();
    assert!(
        audit.contains("chain      verified from line 1 to this line"),
        "{audit}"
    );
    assert!(audit.contains("verified)"), "the package's signature: {audit}");
    assert!(
        audit.contains("data       Dataset/customers-train-transformed@1 (version 1, sha256:"),
        "{audit}"
    );
    let last = out.stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(last.trim(), "objectives Objectives/churn met");
    // The audit with only FILE:LINE: the package from the store, the chain without a key.
    let run = tmp.path().join("run");
    let audit = mlspec(&run, &["log", "audit", "serve.log:2"]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    assert!(
        audit.stdout.contains("(from the store; its attestation not re-checked"),
        "{}",
        audit.stdout
    );
    assert!(
        audit.stdout.contains("objectives Objectives/churn met"),
        "{}",
        audit.stdout
    );
    // A package can be named by its document too.
    let verify = mlspec(
        &run,
        &[
            "package",
            "verify",
            "model/mlspec-package.yaml",
            "--pubkey",
            "keys/public.pem",
        ],
    );
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    // It refuses to run over a directory that holds something.
    let again = mlspec(tmp.path(), &["demo", "--dir", "run"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("is not empty"), "{}", again.stderr);
}

/// Without `--dir` the demo works in a new temporary directory, leaving nothing where it was
/// started; a reader that stops reading its output does not stop it half-way.
#[test]
fn the_demo_leaves_nothing_behind_and_finishes_when_its_reader_goes_away() {
    use std::io::Read as _;
    let cwd = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mlspec"))
        .arg("demo")
        .current_dir(cwd.path())
        .env_remove("MLSPEC_STORE")
        .env("TMPDIR", temp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = [0; 16];
    child.stdout.take().unwrap().read_exact(&mut first_line).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&first_line).starts_with("mlspec demo in "));
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "the demo wrote into its working directory"
    );
    let made: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        made[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("mlspec-demo-")
    );
    assert!(
        made[0].join("serve.log").is_file(),
        "the demo stopped before its last stage"
    );
    let verified = mlspec(&made[0], &["store", "verify"]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
}

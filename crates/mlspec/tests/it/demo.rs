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
        "── 3 profile",
        "── 4 schema",
        "── 5 validation",
        "── 6 split",
        "── 7 training",
        "── 8 evaluation",
        "── 9 test",
        "── 10 package",
        "── 10 sign",
        "── 13 inference log",
        "── audit",
    ] {
        assert!(out.stdout.contains(stage), "{stage} is missing:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("no leakage"), "{}", out.stdout);
    assert!(out.stdout.contains("holdback reads: 1 of 3"), "{}", out.stdout);
    let audit = out.stdout.rsplit("── audit").next().unwrap();
    assert!(
        audit.contains("chain      verified from line 1 to this line"),
        "{audit}"
    );
    assert!(audit.contains("verified)"), "the package's signature: {audit}");
    assert!(
        audit.contains("data       Dataset/customers-train@1 (version 1, sha256:"),
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

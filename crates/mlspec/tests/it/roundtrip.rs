//! Everything the commands write passes mlspec's own checks. After the demo (which runs
//! objectives, ingest, profile, infer-schema, validate, split, transform fit and apply, tune,
//! training, eval, test, package and log append) and the document-recording commands it does not run (`objectives check`,
//! `step run`): every document file validates and applying it again changes nothing; every
//! stored object's `get`, in YAML and in JSON, validates, is the same document in both, and
//! applying it changes nothing; `store verify` is clean. Then every object is copied into new
//! stores — SQLite, and PostgreSQL when MLSPEC_TEST_POSTGRES is set — where `get` returns the
//! very same documents and `store verify` is clean too.

use std::path::{Path, PathBuf};

use super::store::{Out, mlspec, test_stores};

fn ok(out: Out) -> Out {
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    out
}

fn unchanged(out: &Out) -> bool {
    out.stdout
        .lines()
        .last()
        .is_some_and(|l| l.starts_with("0 created, 0 updated,"))
}

/// The YAML files the demo writes that are inputs to commands, not documents: a transform
/// spec and a search space.
const DEMO_INPUTS: [&str; 2] = ["transform.yaml", "search-space.yaml"];

/// Every `.yaml` document file under `dir` (the demo's inputs left out), outside the store's
/// directory.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let input = path.file_name().is_some_and(|n| DEMO_INPUTS.iter().any(|i| n == *i));
        if path.is_dir() && !path.ends_with(".mlspec") {
            found.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") && !input {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The ids of every object in the store, of every kind and status.
fn every_id(dir: &Path, store: &[&str]) -> Vec<String> {
    let kinds = ok(mlspec(dir, &["kinds"])).stdout;
    let mut ids = Vec::new();
    for kind in kinds.lines().filter_map(|l| l.split_whitespace().next()) {
        let mut args = vec!["list", kind, "--all", "--format", "json"];
        args.extend(store);
        let listed: serde_json::Value = serde_json::from_str(&ok(mlspec(dir, &args)).stdout).unwrap();
        for object in listed.as_array().unwrap() {
            ids.push(object["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

/// `mlspec get ID` in YAML and in JSON: both validate and hold the same document; the YAML.
fn get_checked(dir: &Path, id: &str, store: &[&str]) -> String {
    let get = |format: &str| {
        let mut args = vec!["get", id, "-o", format];
        args.extend(store);
        ok(mlspec(dir, &args)).stdout
    };
    let (yaml, json) = (get("yaml"), get("json"));
    for (text, file) in [(&yaml, "got.yaml"), (&json, "got.json")] {
        std::fs::write(dir.join(file), text).unwrap();
        ok(mlspec(dir, &["validate", file]));
    }
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    let from_json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(from_yaml, from_json, "{id}: the YAML and JSON forms differ");
    yaml
}

#[test]
fn every_document_the_commands_write_validates_and_round_trips_through_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    ok(mlspec(tmp.path(), &["demo", "--dir", "run"]));
    let run = tmp.path().join("run");
    ok(mlspec(
        &run,
        &[
            "objectives",
            "check",
            "--metrics",
            "Evaluation/churn-eval",
            "Objectives/churn",
        ],
    ));
    ok(mlspec(
        &run,
        &[
            "step",
            "run",
            "--name",
            "prep",
            "--output",
            "model/model.json",
            "--",
            "true",
        ],
    ));

    let written = yaml_files(&run);
    assert!(
        written.len() >= 12,
        "the demo wrote fewer documents than expected: {written:?}"
    );
    for file in &written {
        let file = file.to_str().unwrap();
        ok(mlspec(&run, &["validate", file]));
        if file.ends_with("/mlspec-package.yaml") {
            continue; // a signed subject of its own envelope: only the store lists the signature (model/, model-stable/)
        }
        let again = ok(mlspec(&run, &["apply", file]));
        assert!(
            unchanged(&again),
            "{file} is not what the store holds:\n{}",
            again.stdout
        );
    }
    let package: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(run.join("model/mlspec-package.yaml")).unwrap()).unwrap();
    let mut stored: serde_json::Value =
        serde_json::from_str(&ok(mlspec(&run, &["get", "ModelPackage/churn", "-o", "json"])).stdout).unwrap();
    let signatures = stored["spec"].as_object_mut().unwrap().remove("signatures").unwrap();
    assert_eq!(signatures[0]["envelope"], "mlspec-package.intoto.jsonl");
    assert_eq!(stored["spec"], package["spec"]);

    let ids = every_id(&run, &[]);
    assert!(ids.len() >= 21, "{ids:?}");
    let mut dump = String::new();
    for id in &ids {
        let yaml = get_checked(&run, id, &[]);
        std::fs::write(run.join("got.yaml"), &yaml).unwrap();
        let again = ok(mlspec(&run, &["apply", "got.yaml"]));
        assert!(unchanged(&again), "{id}: get then apply changed it:\n{}", again.stdout);
        dump.push_str(&yaml);
        dump.push_str("---\n");
    }
    ok(mlspec(&run, &["store", "verify"]));

    for (i, store) in test_stores("roundtrip").iter().enumerate() {
        let copy = tmp.path().join(format!("copy-{i}"));
        std::fs::create_dir(&copy).unwrap();
        std::fs::write(copy.join("all.yaml"), &dump).unwrap();
        let store: Vec<&str> = store.iter().flat_map(|url| ["--store", url.as_str()]).collect();
        let with_store = |args: &[&'static str]| [args, &store[..]].concat();
        ok(mlspec(&copy, &with_store(&["init"])));
        let applied = ok(mlspec(&copy, &with_store(&["apply", "all.yaml"])));
        assert!(
            applied
                .stdout
                .contains(&format!("{} created, 0 updated, 0 unchanged", ids.len())),
            "{}",
            applied.stdout
        );
        for id in &ids {
            assert_eq!(
                get_checked(&copy, id, &store),
                ok(mlspec(&run, &["get", id])).stdout,
                "{id} differs in the copy"
            );
        }
        ok(mlspec(&copy, &with_store(&["store", "verify"])));
        let again = ok(mlspec(&copy, &with_store(&["apply", "all.yaml"])));
        assert!(unchanged(&again), "{}", again.stdout);
    }
}

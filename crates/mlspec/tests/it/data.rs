//! `mlspec data profile`: a valid DataProfile document and a readable summary; located errors
//! with exit 2.

use super::store::mlspec;

const CSV: &str = "age,income,country,is_member\n34,52000.5,US,true\n,61000,DE,false\n51,,US,true\n27,38000.25,FR,\n";

#[test]
fn a_profile_is_a_valid_document_with_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("people.csv"), CSV).unwrap();
    let out = mlspec(
        dir,
        &[
            "data",
            "profile",
            "people.csv",
            "--slice",
            "country",
            "--out",
            "p.yaml",
            "--threads",
            "1",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("data_profile_summary", out.stderr);
    let check = mlspec(dir, &["validate", "p.yaml"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let json = mlspec(dir, &["data", "profile", "people.csv", "--format", "json", "--quiet"]);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(document["kind"], "DataProfile");
    assert_eq!(document["metadata"]["name"], "people-profile");
    assert_eq!(document["spec"]["rows"], 4);
    assert_eq!(document["spec"]["features"][0]["missing"], 1);
    assert_eq!(document["spec"]["features"][1]["numeric"]["min"], 38000.25);
}

#[test]
fn unreadable_inputs_exit_2_with_the_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("ragged.csv"), "a,b\n1,2\n3\n").unwrap();
    let out = mlspec(dir, &["data", "profile", "ragged.csv"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("ragged.csv (line 3)"), "{}", out.stderr);
    let out = mlspec(dir, &["data", "profile", "ragged.csv", "--slice", "nope"]);
    assert_eq!(out.code, 2);
    let out = mlspec(dir, &["data", "profile", "missing.parquet"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing.parquet: cannot read"), "{}", out.stderr);
}

//! `mlspec data split` and `mlspec data leakage`: parts on disk and a valid Split document;
//! exit 1 when parts or inputs share rows or keys; exit 2 on bad ratios and unknown columns.

use std::fmt::Write as _;

use super::store::mlspec;

/// 400 rows of 100 users; rows 0..4 are repeated (with new ids) at the end.
fn people() -> String {
    let mut csv = String::from("id,user,amount,country\n");
    for i in 0..400 {
        writeln!(csv, "{i},u{},{}.5,{}", i % 100, i * 7 % 90, ["US", "DE", "FR"][i % 3]).unwrap();
    }
    for i in 0..4 {
        writeln!(
            csv,
            "{},u{},{}.5,{}",
            400 + i,
            i % 100,
            i * 7 % 90,
            ["US", "DE", "FR"][i % 3]
        )
        .unwrap();
    }
    csv
}

#[test]
fn a_hash_split_writes_parts_and_a_valid_document() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("people.csv"), people()).unwrap();
    let out = mlspec(
        dir,
        &[
            "data",
            "split",
            "people.csv",
            "--by",
            "user",
            "--holdback",
            "0.1",
            "--ignore",
            "id",
            "--out-dir",
            "parts",
            "--out",
            "split.yaml",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("data_split_summary", out.stderr);
    let check = mlspec(dir, &["validate", "split.yaml"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let document = std::fs::read_to_string(dir.join("split.yaml")).unwrap();
    assert!(document.contains("method: hash"), "{document}");
    assert!(document.contains("sharedRows: 0"), "{document}");
    for role in ["train", "validation", "test", "holdback"] {
        assert!(dir.join(format!("parts/people-{role}.csv")).exists(), "{role}");
        let profile = format!("parts/people-{role}.profile.yaml");
        let check = mlspec(dir, &["validate", &profile]);
        assert_eq!(check.code, 0, "{role}: {}", check.stderr);
    }
    // The parts are disjoint by the leakage command too.
    let parts: Vec<String> = ["train", "validation", "test", "holdback"]
        .iter()
        .map(|r| format!("parts/people-{r}.csv"))
        .collect();
    let mut args = vec!["data", "leakage", "--key", "user", "--ignore", "id"];
    args.extend(parts.iter().map(String::as_str));
    let leakage = mlspec(dir, &args);
    assert_eq!(leakage.code, 0, "{}", leakage.stdout);
}

#[test]
fn a_random_split_of_duplicates_leaks_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("people.csv"), people()).unwrap();
    let out = mlspec(
        dir,
        &[
            "data",
            "split",
            "people.csv",
            "--seed",
            "3",
            "--ignore",
            "id",
            "--out-dir",
            "parts",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(document["spec"]["method"], "random");
    assert_eq!(document["spec"]["seed"], 3);
    assert!(out.stderr.contains("leakage found"), "{}", out.stderr);
}

#[test]
fn leakage_reports_shared_rows_and_keys_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("a.csv"), "id,user,x\n1,u1,0.5\n2,u2,1.5\n3,u3,2.5\n").unwrap();
    std::fs::write(dir.join("b.csv"), "x,user,id\n0.50,u1,10\n9,u3,11\n").unwrap();
    let out = mlspec(
        dir,
        &[
            "data", "leakage", "a.csv", "b.csv", "--key", "user", "--ignore", "id", "--format", "json",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let pair = &report["pairs"][0];
    assert_eq!(pair["rows"]["distinct"], 1);
    assert_eq!(pair["rows"]["examples"], serde_json::json!([[0, 0]]));
    assert_eq!(pair["keys"]["distinct"], 2);
    assert_eq!(report["inputs"][0]["distinctRows"], 3);
    assert_eq!(report["rowColumns"], serde_json::json!(["user", "x"]));
    let table = mlspec(dir, &["data", "leakage", "a.csv", "b.csv", "--ignore", "id"]);
    assert_eq!(table.code, 1);
    insta::assert_snapshot!("data_leakage_table", table.stdout);
}

#[test]
fn bad_ratios_and_columns_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("people.csv"), people()).unwrap();
    let sum = mlspec(
        dir,
        &[
            "data",
            "split",
            "people.csv",
            "--seed",
            "1",
            "--ratios",
            "train=0.8,test=0.1",
        ],
    );
    assert_eq!(sum.code, 2);
    assert!(sum.stderr.contains("sum to 0.9"), "{}", sum.stderr);
    let role = mlspec(
        dir,
        &[
            "data",
            "split",
            "people.csv",
            "--seed",
            "1",
            "--ratios",
            "train=0.5,dev=0.5",
        ],
    );
    assert_eq!(role.code, 2);
    assert!(role.stderr.contains("`dev` is not a role"), "{}", role.stderr);
    let none = mlspec(dir, &["data", "split", "people.csv"]);
    assert_eq!(none.code, 2);
    let key = mlspec(dir, &["data", "split", "people.csv", "--by", "usr"]);
    assert_eq!(key.code, 2);
    assert!(key.stderr.contains("there is no column `usr`"), "{}", key.stderr);
    let columns = mlspec(dir, &["data", "leakage", "people.csv", "people.csv", "--key", "nope"]);
    assert_eq!(columns.code, 2);
}

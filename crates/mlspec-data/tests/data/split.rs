//! Splits: hash splits are stable across file orderings and batch sizes, random splits repeat,
//! time splits cut at the fractions and keep equal times together; bad ratios and null keys
//! are refused. Leakage: every planted duplicate, key and near-duplicate is found, nothing on
//! disjoint data; row identity ignores column order and number formatting.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use mlspec_data::leakage::{LeakageOptions, compare, hash_file};
use mlspec_data::rowhash::Normalization;
use mlspec_data::split::{Method, NullKeys, SplitOptions, parts, split};
use mlspec_data::{ErrorKind, ReadOptions, open};
use mlspec_spec::kinds::SplitRole;

use crate::profile::unit;

const RATIOS: &[(SplitRole, f64)] = &[
    (SplitRole::Train, 0.8),
    (SplitRole::Validation, 0.1),
    (SplitRole::Test, 0.1),
];

/// `rows` rows: id, user (rows / 4 distinct), amount, day.
fn rows(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let user = (unit(i, 1) * (n / 4) as f64) as u64;
            let amount = (unit(i, 2) * 1e4).round() / 100.0;
            format!("{i},u{user},{amount},2024-01-{:02}T00:00:00", 1 + i % 28)
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[String]) {
    let mut csv = String::from("id,user,amount,day\n");
    for row in rows {
        writeln!(csv, "{row}").unwrap();
    }
    std::fs::write(path, csv).unwrap();
}

fn options(dir: &Path, method: Method) -> SplitOptions {
    SplitOptions {
        method,
        parts: parts(RATIOS, 0.05, 0.0).unwrap(),
        out_dir: dir.to_owned(),
        stem: "part".into(),
        ignore: vec!["id".into()],
    }
}

/// The part each id landed in, read back from the written files.
fn parts_of_ids(outcome: &mlspec_data::split::Split) -> HashMap<i64, SplitRole> {
    let mut found = HashMap::new();
    for part in &outcome.parts {
        for batch in open(&part.path, &ReadOptions::default()).unwrap() {
            let batch = batch.unwrap();
            let ids = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Int64).unwrap();
            let ids = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&ids);
            for id in ids.values() {
                assert!(found.insert(*id, part.role).is_none(), "row {id} is in two parts");
            }
        }
    }
    found
}

#[test]
fn a_hash_split_is_stable_across_orderings_and_batch_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = rows(4000);
    write_csv(&dir.path().join("a.csv"), &data);
    data.reverse();
    write_csv(&dir.path().join("b.csv"), &data);
    let by_user = || Method::Hash {
        keys: vec!["user".into()],
        nulls: NullKeys::Refuse,
    };
    let first = split(
        &dir.path().join("a.csv"),
        &ReadOptions::default(),
        &options(&dir.path().join("a"), by_user()),
        |_| {},
    )
    .unwrap();
    let small = ReadOptions {
        batch_size: 7,
        ..ReadOptions::default()
    };
    let second = split(
        &dir.path().join("b.csv"),
        &small,
        &options(&dir.path().join("b"), by_user()),
        |_| {},
    )
    .unwrap();
    let (a, b) = (parts_of_ids(&first), parts_of_ids(&second));
    assert_eq!(a.len(), 4000);
    assert_eq!(a, b);
    // A user's rows are all in one part, so the parts share no key and no row.
    assert!(!first.leakage.leaked, "{:?}", first.leakage);
    // The shares are near the fractions asked (0.76, 0.095, 0.095, 0.05).
    for part in &first.parts {
        let share = part.rows as f64 / 4000.0;
        assert!((share - part.fraction).abs() < 0.05, "{:?} {share}", part.role);
    }
    // The proofs do not depend on the order either.
    let proofs = |s: &mlspec_data::split::Split| -> Vec<String> {
        s.leakage.inputs.iter().map(|i| i.rows_digest.to_string()).collect()
    };
    assert_eq!(proofs(&first), proofs(&second));
    // The Split document's check: nothing shared, each part's digest under its role.
    let check = first.leakage.check().unwrap();
    assert_eq!((check.shared_rows, check.shared_keys), (0, 0));
    assert_eq!(
        check.row_columns.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["amount", "day", "user"]
    );
    let digests: Vec<(String, String)> = check
        .row_hash_digests
        .iter()
        .map(|(role, digest)| (role.to_string(), digest.to_string()))
        .collect();
    let mut reported: Vec<(String, String)> = first
        .leakage
        .inputs
        .iter()
        .map(|i| (i.name.clone(), i.rows_digest.to_string()))
        .collect();
    reported.sort();
    assert_eq!(digests, reported);
}

#[test]
fn a_random_split_repeats_with_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("a.csv"), &rows(3000));
    let run = |seed: u64, batch_size: usize, out: &str| {
        let read = ReadOptions {
            batch_size,
            ..ReadOptions::default()
        };
        parts_of_ids(
            &split(
                &dir.path().join("a.csv"),
                &read,
                &options(&dir.path().join(out), Method::Random { seed }),
                |_| {},
            )
            .unwrap(),
        )
    };
    let a = run(7, 8192, "a");
    assert_eq!(a, run(7, 13, "b"));
    assert_ne!(a, run(8, 8192, "c"));
}

#[test]
fn a_time_split_cuts_at_the_fractions_and_keeps_equal_times_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.csv");
    write_csv(&path, &rows(2800));
    let outcome = split(
        &path,
        &ReadOptions::default(),
        &options(&dir.path().join("t"), Method::Time { column: "day".into() }),
        |_| {},
    )
    .unwrap();
    // 28 days, 100 rows each: each part holds whole days, earlier parts earlier days.
    let mut last_day = 0;
    for part in &outcome.parts {
        assert_eq!(part.rows % 100, 0, "{:?}: {}", part.role, part.rows);
        let profile = part.profile.spec(Default::default());
        let day = profile.features.iter().find(|f| f.name.as_str() == "day").unwrap();
        let (first, last) = (day.earliest.unwrap().timestamp(), day.latest.unwrap().timestamp());
        assert!(first > last_day, "{:?} overlaps the previous part", part.role);
        last_day = last;
    }
    let train = &outcome.parts[0];
    assert_eq!(train.rows, 2100); // 0.76 × 2800 = 2128 → the cut falls inside day 22: days 1–21
    assert_eq!(outcome.parts.iter().map(|p| p.rows).sum::<u64>(), 2800);

    std::fs::write(dir.path().join("n.csv"), "id,day\n1,2024-01-01T00:00:00\n2,\n").unwrap();
    let error = split(
        &dir.path().join("n.csv"),
        &ReadOptions::default(),
        &options(&dir.path().join("n"), Method::Time { column: "day".into() }),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(
        (error.kind, error.at.as_deref()),
        (ErrorKind::MissingValue, Some("row 1")),
        "{error}"
    );
}

#[test]
fn null_keys_are_refused_or_kept_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.csv");
    std::fs::write(&path, "id,user\n1,a\n2,\n3,b\n4,\n").unwrap();
    let method = |nulls| Method::Hash {
        keys: vec!["user".into()],
        nulls,
    };
    let error = split(
        &path,
        &ReadOptions::default(),
        &options(&dir.path().join("r"), method(NullKeys::Refuse)),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(
        (error.kind, error.at.as_deref(), error.message.as_str()),
        (ErrorKind::MissingValue, Some("row 1"), "a key (user) has a null")
    );
    let together = parts_of_ids(
        &split(
            &path,
            &ReadOptions::default(),
            &options(&dir.path().join("t"), method(NullKeys::Together)),
            |_| {},
        )
        .unwrap(),
    );
    assert_eq!(together[&2], together[&4]);
    let missing = split(
        &path,
        &ReadOptions::default(),
        &options(
            &dir.path().join("m"),
            Method::Hash {
                keys: vec!["usr".into()],
                nulls: NullKeys::Refuse,
            },
        ),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(
        (missing.kind, missing.column.as_deref()),
        (ErrorKind::NoSuchColumn, Some("usr"))
    );
}

#[test]
fn bad_ratios_are_refused() {
    let refused = |ratios: &[(SplitRole, f64)], holdback: f64, debug: f64, why: &str| {
        let error = parts(ratios, holdback, debug).unwrap_err();
        assert_eq!(
            (error.kind, error.file.as_str()),
            (ErrorKind::InvalidArgument, "--ratios"),
            "{error}"
        );
        assert!(error.message.contains(why), "{error}");
    };
    refused(
        &[(SplitRole::Train, 0.8), (SplitRole::Test, 0.1)],
        0.0,
        0.0,
        "sum to 0.9",
    );
    refused(&[(SplitRole::Train, 0.5), (SplitRole::Train, 0.5)], 0.0, 0.0, "twice");
    refused(RATIOS, 1.0, 0.0, "--holdback");
    refused(RATIOS, 0.6, 0.4, "nothing to split");
    refused(&[(SplitRole::Holdback, 1.0)], 0.0, 0.0, "--holdback");
    let carved = parts(RATIOS, 0.05, 0.01).unwrap();
    assert_eq!(carved.len(), 5);
    assert!((carved.iter().map(|(_, f)| f).sum::<f64>() - 1.0).abs() < 1e-12);
}

fn leakage_of(dir: &Path, files: &[(&str, &str)], options: &LeakageOptions) -> mlspec_data::leakage::LeakageReport {
    let hashed = files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            hash_file(&path, &ReadOptions::default(), options).unwrap()
        })
        .collect();
    compare(hashed, vec![], options.keys.clone())
}

#[test]
fn planted_duplicates_keys_and_near_duplicates_are_all_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = String::from("id,user,amount,city\n");
    let mut b = String::from("city,amount,user,id\n");
    // 500 rows each, disjoint ids; rows 0..40 of a reappear in b (other id, other column
    // order, other number formatting); users 100..110 appear in both; 7 rows of b equal rows of
    // a after case and whitespace normalisation only.
    for i in 0..500u64 {
        writeln!(a, "{i},u{i},{i}.50,Paris").unwrap();
    }
    for i in 0..500u64 {
        let id = 1000 + i;
        if i < 40 {
            writeln!(b, "Paris,{}.5,u{i},{id}", i).unwrap();
        } else if (100..110).contains(&i) {
            writeln!(b, "Lyon,1.25,u{i},{id}").unwrap();
        } else if (200..207).contains(&i) {
            writeln!(b, "\"  PARIS \",{i}.5,U{i},{id}").unwrap();
        } else {
            writeln!(b, "Lyon,{}.25,v{i},{id}", i).unwrap();
        }
    }
    let options = LeakageOptions {
        keys: vec!["user".into()],
        ignore: vec!["id".into()],
        near: Some(Normalization {
            case: true,
            whitespace: true,
            decimals: None,
        }),
    };
    let report = leakage_of(dir.path(), &[("a.csv", &a), ("b.csv", &b)], &options);
    let pair = &report.pairs[0];
    assert_eq!(pair.rows.distinct, 40);
    assert_eq!((pair.rows.rows_a, pair.rows.rows_b), (40, 40));
    assert_eq!(pair.rows.fraction_a, 0.08);
    assert_eq!(pair.rows.examples[0], (0, 0));
    // Keys: the 40 duplicated rows' users, the 10 planted users (users are case-sensitive).
    assert_eq!(pair.keys.as_ref().unwrap().distinct, 50);
    // After normalisation: the 40 duplicates and the 7 near-duplicates.
    assert_eq!(pair.near_duplicates.as_ref().unwrap().distinct, 47);
    assert!(report.leaked);
    // As a Split document's check: the shared distinct rows and keys of every pair.
    let check = report.check().unwrap();
    assert_eq!((check.shared_rows, check.shared_keys), (40, 50));
    assert_eq!(check.keys.iter().map(|k| k.as_str()).collect::<Vec<_>>(), ["user"]);

    // Disjoint data: nothing.
    let c = "id,user,amount,city\n1,x,1.0,Rome\n2,y,2.0,Rome\n";
    let report = leakage_of(dir.path(), &[("a.csv", &a), ("c.csv", c)], &options);
    assert!(!report.leaked, "{report:?}");
}

#[test]
fn rounding_finds_numbers_that_differ_in_the_last_digits() {
    let dir = tempfile::tempdir().unwrap();
    let options = |decimals| LeakageOptions {
        near: Some(Normalization {
            decimals,
            ..Normalization::default()
        }),
        ..LeakageOptions::default()
    };
    let files = [("a.csv", "x,y\n0.123456,a\n"), ("b.csv", "x,y\n0.123457,a\n")];
    let exact = leakage_of(dir.path(), &files, &options(None));
    assert_eq!(exact.pairs[0].near_duplicates.as_ref().unwrap().distinct, 0);
    let rounded = leakage_of(dir.path(), &files, &options(Some(4)));
    assert_eq!(rounded.pairs[0].near_duplicates.as_ref().unwrap().distinct, 1);
    assert_eq!(rounded.pairs[0].rows.distinct, 0);
}

#[test]
fn the_proof_changes_with_one_row_and_not_with_order() {
    let dir = tempfile::tempdir().unwrap();
    let options = LeakageOptions::default();
    let report = leakage_of(
        dir.path(),
        &[
            ("a.csv", "x,y\n1,a\n2,b\n"),
            ("b.csv", "y,x\nb,2\na,1.0\n"),
            ("c.csv", "x,y\n1,a\n2,c\n"),
        ],
        &options,
    );
    let digests: Vec<&str> = report.inputs.iter().map(|i| i.rows_digest.as_str()).collect();
    assert_eq!(digests[0], digests[1]);
    assert_ne!(digests[0], digests[2]);
    assert_eq!(report.inputs[0].distinct_rows, 2);
    assert_eq!(report.pairs[0].rows.distinct, 2);
}

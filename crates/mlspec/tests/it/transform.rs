//! `mlspec data transform fit|apply`: agreement with scikit-learn's transformers (to 1e-12,
//! through $MLSPEC_INTEROP_PYTHON), outlier rules' exact removed counts (against numpy),
//! out-of-vocabulary counts, byte-identical repeated applies, and located errors (exit 2).

use std::fmt::Write as _;
use std::path::Path;

use super::store::mlspec;

/// A deterministic number in [0, 1) for row `i` and column `salt` (SplitMix64).
fn unit(i: u64, salt: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

const CITIES: [&str; 8] = [
    "Zurich",
    "amsterdam",
    "Berlin",
    "köln",
    "Paris",
    "Oslo",
    "Lima",
    "Accra",
];

/// Rows of a training (`test` false) or test file, and per one-hot/vocabulary feature the test
/// rows whose value the training data never had.
fn data(rows: u64, test: bool) -> (String, [u64; 3]) {
    let salt = if test { 100 } else { 0 };
    let mut unseen = [0u64; 3];
    let mut csv = String::from("id,age,income,score,city,count,color,height,weight,weight2\n");
    for i in 0..rows {
        let u = |column: u64| unit(i, column + salt);
        let age = match i {
            _ if i % 17 == 3 => String::new(),
            _ if i % 97 == 0 => "150".into(),
            _ => format!("{:.3}", 20.0 + 50.0 * u(1)),
        };
        let income = match i {
            _ if i % 23 == 5 => String::new(),
            _ if i % 61 == 7 => "500000".into(),
            _ if i % 89 == 11 => "-50.5".into(),
            _ => format!("{:.2}", 1000.0 + 40000.0 * u(2) * u(2)),
        };
        let score = (u(3) * 1000.0).floor() / 1000.0;
        // Oslo (index 5) appears only in the test data.
        let mut city = CITIES[(u(4) * u(4) * 8.0) as usize % 8];
        if !test && city == "Oslo" {
            city = "Paris";
        }
        if test && city == "Oslo" {
            unseen[0] += 1;
        }
        let city = if i % 19 == 2 { "" } else { city };
        let mut count = [1, 2, 3, 5, 8, 10, 12][(u(5) * 7.0) as usize % 7];
        if test && i % 30 == 0 {
            count = 99;
            unseen[1] += 1;
        }
        let mut color = ["red", "green", "blue", "yellow"][(u(6) * 4.0) as usize % 4];
        if test && i % 25 == 0 {
            color = "purple";
            unseen[2] += 1;
        }
        let height = if i % 13 == 1 {
            String::new()
        } else {
            format!("{:.1}", 150.0 + 40.0 * u(7))
        };
        let weight = 50.0 + 50.0 * u(8);
        let weight2 = 40.0 + 60.0 * u(9);
        writeln!(
            csv,
            "{i},{age},{income},{score},{city},{count},{color},{height},{weight:.4},{weight2:.4}"
        )
        .unwrap();
    }
    (csv, unseen)
}

const SPEC: &str = "\
features:
  - {feature: age, impute: median, standardize: true}
  - {feature: income, impute: mean, clip: {min: 0, max: 50000}, minMax: true}
  - {feature: score, bucketize: {boundaries: [0.2, 0.5, 0.8]}}
  - {feature: city, impute: mostFrequent, vocabulary: true}
  - {feature: count, vocabulary: true}
  - {feature: color, oneHot: true}
  - {feature: height, impute: {constant: 170}}
  - {feature: weight, standardize: true}
  - {feature: weight2, bucketize: {quantiles: 4}}
";

const OUTLIERS: &str = "\
features:
  - {feature: weight, standardize: true}
outliers:
  - {feature: income, method: iqr, threshold: 1.5}
  - {feature: age, method: zscore, threshold: 2}
  - {feature: score, method: range, min: 0.1, max: 0.9}
";

/// A directory with train.csv (400 rows), test.csv (150 rows) and transform.yaml; the test
/// data's unseen city, count and color values.
fn project(spec: &str) -> (tempfile::TempDir, [u64; 3]) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("train.csv"), data(400, false).0).unwrap();
    let (test, unseen) = data(150, true);
    std::fs::write(tmp.path().join("test.csv"), test).unwrap();
    std::fs::write(tmp.path().join("transform.yaml"), spec).unwrap();
    (tmp, unseen)
}

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").expect(
        "MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which installs numpy, pandas and scikit-learn",
    )
}

/// Runs the reference script; whether it agreed, and what it said.
fn reference(dir: &Path, args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/transform_reference.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn fit(dir: &Path, out: &str, extra: &[&str]) {
    let mut args = vec![
        "data",
        "transform",
        "fit",
        "train.csv",
        "--spec",
        "transform.yaml",
        "--out",
        out,
        "--quiet",
    ];
    args.extend(extra);
    let fitted = mlspec(dir, &args);
    assert_eq!(fitted.code, 0, "{}", fitted.stderr);
}

fn apply(dir: &Path, fitted: &str, out: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "data",
        "transform",
        "apply",
        "test.csv",
        "--fitted",
        fitted,
        "--out",
        out,
        "--quiet",
    ];
    args.extend(extra);
    let applied = mlspec(dir, &args);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    applied.stderr
}

#[test]
fn fit_and_apply_agree_with_scikit_learn() {
    let (tmp, unseen) = project(SPEC);
    let dir = tmp.path();
    fit(dir, "fitted.json", &["--format", "json"]);
    let summary = apply(dir, "fitted.json", "out.csv", &["--document", "applied.yaml"]);
    let (agreed, said) = reference(dir, &["sklearn", "train.csv", "test.csv", "out.csv", "fitted.json"]);
    assert!(agreed, "{said}");
    for (feature, count) in ["city", "count", "color"].iter().zip(unseen) {
        assert!(count > 0, "the test data has unseen {feature} values");
        assert!(
            summary.contains(&format!("{feature}: {count} values outside the vocabulary")),
            "{summary}"
        );
    }
    for document in ["fitted.json", "applied.yaml"] {
        let check = mlspec(dir, &["validate", document]);
        assert_eq!(check.code, 0, "{document}: {}", check.stderr);
    }
    let fitted = std::fs::read_to_string(dir.join("fitted.json")).unwrap();
    for recorded in [
        "\"type\": \"impute\"",
        "\"strategy\": \"median\"",
        "\"stdDev\"",
        "\"Zurich\"",
        "\"köln\"",
    ] {
        assert!(fitted.contains(recorded), "{recorded} in {fitted}");
    }
}

#[test]
fn outlier_rules_remove_exactly_the_rows_numpy_finds() {
    let (tmp, _) = project(OUTLIERS);
    let dir = tmp.path();
    fit(dir, "fitted.yaml", &[]);
    let summary = apply(dir, "fitted.yaml", "out.parquet", &["--document", "applied.yaml"]);
    let (agreed, said) = reference(dir, &["outliers", "train.csv", "test.csv"]);
    assert!(agreed, "{said}");
    let counts: Vec<(&str, u64)> = said
        .split_whitespace()
        .map(|pair| {
            let (name, count) = pair.split_once('=').unwrap();
            (name, count.parse().unwrap())
        })
        .collect();
    for ((method, count), feature) in counts.iter().zip(["income", "age", "score"]) {
        assert!(*count > 0, "the test data has {method} outliers");
        assert!(
            summary.contains(&format!("outlier {feature} {method}: {count} rows removed")),
            "{said}\n{summary}"
        );
    }
    let kept = counts.last().unwrap().1;
    assert!(
        summary.contains("rows out to out.parquet") && summary.contains(&format!(", {kept} rows out")),
        "{summary}"
    );
    let check = mlspec(dir, &["validate", "applied.yaml"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let applied = std::fs::read_to_string(dir.join("applied.yaml")).unwrap();
    assert!(applied.contains(&format!("rowsOut: {kept}")), "{applied}");
}

#[test]
fn applying_twice_gives_identical_bytes() {
    let (tmp, _) = project(&format!("{SPEC}outliers:\n  - {{feature: income, method: iqr}}\n"));
    let dir = tmp.path();
    fit(dir, "fitted.yaml", &[]);
    for extension in ["parquet", "csv"] {
        let first = format!("first.{extension}");
        let second = format!("second.{extension}");
        apply(dir, "fitted.yaml", &first, &[]);
        apply(dir, "fitted.yaml", &second, &[]);
        let (a, b) = (
            std::fs::read(dir.join(&first)).unwrap(),
            std::fs::read(dir.join(&second)).unwrap(),
        );
        assert!(!a.is_empty() && a == b, "{extension} differs");
    }
    // Fitting twice gives the same document.
    fit(dir, "again.yaml", &[]);
    assert_eq!(
        std::fs::read_to_string(dir.join("fitted.yaml")).unwrap(),
        std::fs::read_to_string(dir.join("again.yaml")).unwrap()
    );
}

/// Fits with `spec`; the exit code and standard error.
fn fit_failing(spec: &str) -> (i32, String) {
    let (tmp, _) = project(spec);
    let out = mlspec(
        tmp.path(),
        &[
            "data",
            "transform",
            "fit",
            "train.csv",
            "--spec",
            "transform.yaml",
            "--out",
            "f.yaml",
            "--quiet",
        ],
    );
    assert!(!tmp.path().join("f.yaml").exists(), "nothing is written on error");
    (out.code, out.stderr)
}

#[test]
fn a_missing_feature_is_a_located_error() {
    let (code, stderr) =
        fit_failing("features:\n  - {feature: age, standardize: true}\n  - {feature: nope, minMax: true}\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("transform.yaml (features[1]), column `nope`: train.csv has no column `nope`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: name one of its columns (id, age, income"),
        "{stderr}"
    );
    let (code, stderr) = fit_failing("outliers:\n  - {feature: gone, method: iqr}\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("transform.yaml (outliers[0]), column `gone`"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_type_is_a_located_error() {
    let (code, stderr) = fit_failing("features:\n  - {feature: city, standardize: true}\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "transform.yaml (features[0]), column `city`: `standardize` needs a numeric column, and `city` is Utf8"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: use `vocabulary` or `oneHot`"), "{stderr}");
    let (code, stderr) = fit_failing("features:\n  - {feature: weight, oneHot: true}\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("(features[0]), column `weight`: a vocabulary or one-hot encoding needs"),
        "{stderr}"
    );
    let (code, stderr) = fit_failing("outliers:\n  - {feature: color, method: zscore}\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("(outliers[0]), column `color`: an outlier rule needs a numeric column"),
        "{stderr}"
    );
}

#[test]
fn a_bad_spec_is_a_located_error() {
    let cases = [
        (
            "features:\n  - {feature: age, standardize: true\n",
            "transform.yaml (line ",
        ),
        (
            "features:\n  - {feature: age, standardise: true}\n",
            "transform.yaml (features[0]), column `age`: not a feature entry: unknown field `standardise`",
        ),
        (
            "features:\n  - {feature: age, standardize: true, minMax: true}\n",
            "(features[0]), column `age`: the entry asks for more than one encoding",
        ),
        (
            "features:\n  - {feature: score, bucketize: {boundaries: [0.5, 0.2]}}\n",
            "(features[0]), column `score`: the bucket boundaries [0.5, 0.2] do not increase",
        ),
        (
            "features:\n  - {feature: age, impute: average}\n",
            "(features[0]), column `age`: not a feature entry: impute is `mean`, `median`",
        ),
        (
            "features:\n  - {feature: city, vocabulary: true, log: true}\n",
            "(features[0]), column `city`: clip and log work on numbers",
        ),
        (
            "features:\n  - {feature: age, standardize: true}\n  - {feature: age, minMax: true}\n",
            "(features[1]), column `age`: the feature is listed twice",
        ),
        (
            "outliers:\n  - {feature: age, method: range}\n",
            "(outliers[0]), column `age`: a range rule needs `min`, `max` or both",
        ),
        (
            "outliers:\n  - {feature: age, method: tukey}\n",
            "(outliers[0]), column `age`: not an outlier rule: unknown variant `tukey`",
        ),
        ("[1, 2]\n", "transform.yaml"),
        ("{}\n", "the transform spec has no features and no outliers"),
    ];
    for (spec, expected) in cases {
        let (code, stderr) = fit_failing(spec);
        assert_eq!(code, 2, "{spec}: {stderr}");
        assert!(stderr.contains(expected), "{spec}: {stderr}");
        assert!(stderr.contains("hint:"), "{spec}: {stderr}");
    }
}

#[test]
fn apply_refuses_data_without_the_fitted_columns() {
    let (tmp, _) = project(SPEC);
    let dir = tmp.path();
    fit(dir, "fitted.yaml", &[]);
    std::fs::write(dir.join("serving.csv"), "id,age\n1,30\n").unwrap();
    let out = mlspec(
        dir,
        &[
            "data",
            "transform",
            "apply",
            "serving.csv",
            "--fitted",
            "fitted.yaml",
            "--out",
            "o.csv",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("serving.csv, column `income`: there is no column `income`"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("o.csv").exists() && !dir.join("o.csv.partial").exists());
    // The input is never the output.
    let out = mlspec(
        dir,
        &[
            "data",
            "transform",
            "apply",
            "test.csv",
            "--fitted",
            "fitted.yaml",
            "--out",
            "test.csv",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("the output would overwrite the input"),
        "{}",
        out.stderr
    );
}

#[test]
fn recorded_transformations_trace_the_data_they_read_and_wrote() {
    let (tmp, _) = project(SPEC);
    let dir = tmp.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let datasets = "apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {name: train-data}\nspec: {versions: [{version: \"1\", definition: {datastore: local, path: train.csv}}]}\n---\n\
                    apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {name: test-data}\nspec: {versions: [{version: \"1\", definition: {datastore: local, path: test.csv}}]}\n";
    std::fs::write(dir.join("datasets.yaml"), datasets).unwrap();
    assert_eq!(mlspec(dir, &["apply", "datasets.yaml"]).code, 0);
    fit(
        dir,
        "fitted.yaml",
        &["--dataset", "Dataset/train-data@1", "--name", "features"],
    );
    let said = apply(
        dir,
        "fitted.yaml",
        "test-out.parquet",
        &["--dataset", "Dataset/test-data@1", "--name", "features-test"],
    );
    assert!(said.contains("recorded Dataset/test-data-transformed"), "{said}");
    // The fitted document has written nothing: no outputs.
    let fitted = mlspec(dir, &["get", "transformation", "features", "-o", "json"]);
    let fitted: serde_json::Value = serde_json::from_str(&fitted.stdout).unwrap();
    assert!(fitted["spec"].get("outputs").is_none(), "{fitted}");
    // The applied one names the output, a Dataset version with the written file's digest.
    let output = mlspec(dir, &["get", "dataset", "test-data-transformed", "-o", "json"]);
    let output: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let version = &output["spec"]["versions"][0];
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(
        std::fs::read(dir.join("test-out.parquet")).unwrap(),
    ));
    assert_eq!(version["digest"], format!("sha256:{digest}"));
    assert_eq!(version["definition"]["path"], "test-out.parquet");
    let lineage = mlspec(dir, &["lineage", "dataset", "test-data-transformed", "--upstream"]);
    assert!(
        lineage
            .stdout
            .contains("Dataset/test-data --input--> Transformation/features-test"),
        "{}",
        lineage.stdout
    );
    assert!(
        lineage
            .stdout
            .contains("Transformation/features-test --output--> Dataset/test-data-transformed"),
        "{}",
        lineage.stdout
    );
    // Applying again writes the same bytes: the same version, nothing new.
    let again = apply(
        dir,
        "fitted.yaml",
        "test-out.parquet",
        &["--dataset", "Dataset/test-data@1", "--name", "features-test"],
    );
    assert!(!again.contains("recorded Dataset/test-data-transformed"), "{again}");
}

/// Runs mlspec in `dir`, expecting success.
fn succeeds(dir: &Path, args: &[&str]) {
    let out = mlspec(dir, args);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
}

/// The temporary spools left in `dir` (there should be none).
fn spools_left(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".mlspec-spool"))
        .collect()
}

/// `fit FILE --apply-out OUT` in one directory and `fit FILE` then `apply FILE` in another
/// write the same bytes: the fitted document, the data and the applied document.
#[test]
fn fit_with_apply_out_writes_what_fit_then_apply_write() {
    let (tmp, _) = project(&format!("{SPEC}outliers:\n  - {{feature: income, method: iqr}}\n"));
    let dir = tmp.path();
    // Several batches (8192 rows each).
    std::fs::write(dir.join("train.csv"), data(20_000, false).0).unwrap();
    let to_parquet = std::process::Command::new(python())
        .args([
            "-c",
            "import pandas; pandas.read_csv('train.csv').to_parquet('train.parquet')",
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(to_parquet.success());
    for input in ["train.csv", "train.parquet"] {
        for out in ["out.parquet", "out.csv"] {
            let (two, one) = (dir.join("two"), dir.join("one"));
            for run in [&two, &one] {
                let _ = std::fs::remove_dir_all(run);
                std::fs::create_dir(run).unwrap();
                for file in [input, "transform.yaml"] {
                    std::fs::copy(dir.join(file), run.join(file)).unwrap();
                }
            }
            let fit = ["data", "transform", "fit", input, "--spec", "transform.yaml"];
            let fit = [&fit[..], &["--out", "fitted.yaml", "--quiet"]].concat();
            succeeds(&two, &fit);
            succeeds(
                &two,
                &[
                    "data",
                    "transform",
                    "apply",
                    input,
                    "--fitted",
                    "fitted.yaml",
                    "--out",
                    out,
                    "--document",
                    "applied.yaml",
                    "--quiet",
                ],
            );
            succeeds(
                &one,
                &[&fit[..], &["--apply-out", out, "--apply-document", "applied.yaml"]].concat(),
            );
            for written in ["fitted.yaml", out, "applied.yaml"] {
                let (a, b) = (
                    std::fs::read(two.join(written)).unwrap(),
                    std::fs::read(one.join(written)).unwrap(),
                );
                assert!(!a.is_empty() && a == b, "{input} → {out}: {written} differs");
            }
            assert!(spools_left(&one).is_empty(), "{:?}", spools_left(&one));
        }
    }
}

#[test]
fn fit_with_apply_out_refuses_what_apply_refuses_and_leaves_no_spool() {
    let (tmp, _) = project(SPEC);
    let dir = tmp.path();
    let fit = ["data", "transform", "fit", "train.csv", "--spec", "transform.yaml"];
    // The input is never the output; refused before reading.
    let out = mlspec(
        dir,
        &[&fit[..], &["--out", "f.yaml", "--apply-out", "train.csv"]].concat(),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("the output would overwrite the input"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("f.yaml").exists());
    // A failure while applying (one-hot columns named like an input column) removes the spool.
    std::fs::write(dir.join("clash.csv"), "color,color_red\nred,1\nblue,2\n").unwrap();
    std::fs::write(
        dir.join("onehot.yaml"),
        "features:\n  - {feature: color, oneHot: true}\n",
    )
    .unwrap();
    let out = mlspec(
        dir,
        &[
            "data",
            "transform",
            "fit",
            "clash.csv",
            "--spec",
            "onehot.yaml",
            "--out",
            "f.yaml",
            "--apply-out",
            "o.csv",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("two output columns would be named `color_red`"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("o.csv").exists() && !dir.join("o.csv.partial").exists());
    assert!(spools_left(dir).is_empty(), "{:?}", spools_left(dir));
}

#[test]
fn fit_with_apply_out_records_both_documents() {
    let (tmp, _) = project(SPEC);
    let dir = tmp.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let dataset = "apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {name: train-data}\nspec: {versions: [{version: \"1\", definition: {datastore: local, path: train.csv}}]}\n";
    std::fs::write(dir.join("dataset.yaml"), dataset).unwrap();
    assert_eq!(mlspec(dir, &["apply", "dataset.yaml"]).code, 0);
    fit(
        dir,
        "fitted.yaml",
        &[
            "--dataset",
            "Dataset/train-data@1",
            "--name",
            "features",
            "--apply-out",
            "train-out.parquet",
        ],
    );
    let fitted = mlspec(dir, &["get", "transformation", "features", "-o", "json"]);
    let fitted: serde_json::Value = serde_json::from_str(&fitted.stdout).unwrap();
    assert!(fitted["spec"].get("outputs").is_none(), "{fitted}");
    let lineage = mlspec(dir, &["lineage", "dataset", "train-data-transformed", "--upstream"]);
    for edge in [
        "Dataset/train-data --input--> Transformation/train-out-transformation",
        "Transformation/train-out-transformation --output--> Dataset/train-data-transformed",
    ] {
        assert!(lineage.stdout.contains(edge), "{edge} in {}", lineage.stdout);
    }
}

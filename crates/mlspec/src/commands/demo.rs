//! `mlspec demo`: the whole chain on the embedded store, from codified objectives to the audit
//! of one logged request — every stage run through the real commands.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_spec::newtypes::Digest;
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

/// Run the whole MLSpec chain on generated data, in DIR with its own store: objectives →
/// profile → schema → validation → split with leakage check → training (smartcore logistic
/// regression) → evaluation on slices → test on the holdback → package → sign → inference log
/// → audit. Prints what each stage recorded; the last lines are the audit chain of one logged
/// request. Exit 0, or the failing stage's exit code.
#[derive(clap::Args)]
pub struct Args {
    /// Where to run (created; must not exist yet, or be empty). Default: a new directory in the
    /// system's temporary directory, so that nothing is left in the current one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the directory when a stage fails (it is removed by default: a half-made demo is
    /// not a record of anything).
    #[arg(long)]
    keep_on_failure: bool,
}

/// Rows of generated customer data.
const ROWS: u64 = 6000;

/// A deterministic number in [0, 1) (SplitMix64 of the row and a stream).
fn unit(i: u64, stream: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// A customer: row id, user, age, income (k), tenure (months), country, gender, churned.
fn customer(i: u64) -> (u64, u64, f64, f64, f64, &'static str, &'static str, u8) {
    let user = (unit(i, 1) * (ROWS / 3) as f64) as u64;
    let age = (18.0 + unit(user, 2) * 60.0).round();
    let income = (20.0 + unit(user, 3) * 100.0).round();
    let tenure = (unit(i, 4) * 72.0).round();
    let country = ["DE", "FR", "US"][(unit(user, 5) * 3.0) as usize % 3];
    let gender = if unit(user, 6) < 0.5 { "F" } else { "M" };
    let logit = 1.5 - 0.06 * tenure - 0.015 * (income - 70.0) + 0.02 * (age - 48.0);
    let churned = u8::from(unit(i, 7) < 1.0 / (1.0 + (-logit).exp()));
    (i, user, age, income, tenure, country, gender, churned)
}

const OBJECTIVES: &str = "apiVersion: mlspec/v1
kind: Objectives
metadata:
  name: churn
spec:
  outputs:
    - {name: churned, type: class, classes: [\"0\", \"1\"]}
    - {name: score, type: probability, min: 0, max: 1}
  errors:
    - name: missed-churner
      description: A customer who leaves was not offered a retention deal.
      severity: high
      cost: 120
      costUnit: EUR
  holdbackReadBudget: 3
  criteria:
    - name: accurate
      expression: accuracy >= 0.7
      severity: block
    - name: calibrated
      expression: expected_calibration_error < 0.1
      severity: warn
    - name: fair-by-gender
      expression: gap(accuracy, by=gender) < 0.1
      severity: warn
---
apiVersion: mlspec/v1
kind: Dataset
metadata:
  name: customers
spec:
  versions:
    - version: \"1\"
      definition: {datastore: local, path: customers.csv}
";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                bail!(
                    "{} exists and is not empty; pass --dir with a new directory",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            dir
        }
        None => tempfile::Builder::new()
            .prefix("mlspec-demo-")
            .tempdir()
            .context("cannot create a directory for the demo in the temporary directory")?
            .keep(),
    };
    let result = stages(dir.clone());
    if result.is_err() && !args.keep_on_failure {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => errln!(
                "removed the unfinished demo directory {} (--keep-on-failure keeps it)",
                dir.display()
            ),
            Err(error) => errln!(
                "warning: cannot remove the unfinished demo directory {}: {error}",
                dir.display()
            ),
        }
    }
    result
}

/// Every stage, in `dir` (which exists and is empty).
fn stages(dir: PathBuf) -> anyhow::Result<ExitCode> {
    let demo = Demo {
        dir: dir.clone(),
        exe: std::env::current_exe().context("cannot find the mlspec binary")?,
    };
    outln!("mlspec demo in {}\n", dir.display());
    demo.stage("store", &["init"])?;
    write_customers(&dir.join("customers.csv"))?;
    std::fs::write(dir.join("objectives.yaml"), OBJECTIVES)?;
    demo.stage("1 objectives", &["apply", "objectives.yaml"])?;
    demo.stage(
        "3 profile",
        &[
            "data",
            "profile",
            "customers.csv",
            "--slice",
            "country,gender",
            "--dataset",
            "Dataset/customers",
            "--out",
            "customers.profile.yaml",
            "--quiet",
        ],
    )?;
    demo.stage(
        "4 schema",
        &[
            "data",
            "infer-schema",
            "customers.csv",
            "--out",
            "customers.schema.yaml",
        ],
    )?;
    demo.stage(
        "5 validation",
        &[
            "data",
            "validate",
            "customers.csv",
            "--schema",
            "customers.schema.yaml",
            "--dataset",
            "Dataset/customers",
            "--out",
            "validation.yaml",
        ],
    )?;
    demo.stage(
        "6 split",
        &[
            "data",
            "split",
            "customers.csv",
            "--by",
            "user_id",
            "--holdback",
            "0.1",
            "--ignore",
            "row_id",
            "--dataset",
            "Dataset/customers",
            "--out-dir",
            "parts",
            "--out",
            "split.yaml",
            "--quiet",
        ],
    )?;
    let model = train(&dir)?;
    demo.stage("7 training", &["apply", "training.yaml"])?;
    predict(
        &model,
        &dir.join("parts/customers-test.csv"),
        &dir.join("test-predictions.csv"),
    )?;
    demo.stage(
        "8 evaluation",
        &[
            "eval",
            "test-predictions.csv",
            "--score",
            "score",
            "--slice",
            "gender,country",
            "--model",
            "Artifact/churn-model",
            "--dataset",
            "Dataset/customers-test",
            "--objectives",
            "Objectives/churn",
            "--name",
            "churn-eval",
            "--out",
            "evaluation.yaml",
            "--quiet",
        ],
    )?;
    predict(
        &model,
        &dir.join("parts/customers-holdback.csv"),
        &dir.join("holdback-predictions.csv"),
    )?;
    demo.stage(
        "9 test",
        &[
            "test",
            "holdback-predictions.csv",
            "--holdback",
            "parts/customers-holdback.csv",
            "--dataset",
            "Dataset/customers-holdback",
            "--evaluation",
            "Evaluation/churn-eval",
            "--objectives",
            "Objectives/churn",
            "--ignore",
            "row_id",
            "--score",
            "score",
            "--slice",
            "gender,country",
            "--name",
            "churn-test",
            "--out",
            "test-report.yaml",
            "--quiet",
        ],
    )?;
    demo.stage("10 keys", &["keygen", "--out", "keys"])?;
    demo.stage(
        "10 package",
        &[
            "package",
            "build",
            "model",
            "--name",
            "churn",
            "--version",
            "1.0.0",
            "--format",
            "smartcore-logistic-json",
            "--memory",
            "512MiB",
            "--test-report",
            "TestReport/churn-test-read-1",
        ],
    )?;
    demo.stage("10 sign", &["package", "sign", "model", "--key", "keys/private.pem"])?;
    demo.stage(
        "10 verify",
        &[
            "package",
            "verify",
            "model",
            "--pubkey",
            "keys/public.pem",
            "--require-objectives-met",
        ],
    )?;
    let requests = requests(&model, &dir.join("parts/customers-holdback.csv"))?;
    demo.stage_with_input(
        "13 inference log",
        &[
            "log",
            "append",
            "serve.log",
            "--key",
            "keys/private.pem",
            "--package",
            "model",
            "--checkpoint-every",
            "4",
        ],
        &requests,
    )?;
    demo.stage(
        "13 log verify",
        &["log", "verify", "serve.log", "--pubkey", "keys/public.pem"],
    )?;
    demo.stage(
        "audit",
        &[
            "log",
            "audit",
            "serve.log:3",
            "--package",
            "model",
            "--pubkey",
            "keys/public.pem",
        ],
    )?;
    Ok(ExitCode::SUCCESS)
}

struct Demo {
    dir: PathBuf,
    exe: PathBuf,
}

impl Demo {
    fn stage(&self, name: &str, args: &[&str]) -> anyhow::Result<()> {
        self.stage_with_input(name, args, "")
    }

    /// Runs `mlspec ARGS` in the demo directory, printing the command and what it said.
    fn stage_with_input(&self, name: &str, args: &[&str], input: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        outln!("── {name}: mlspec {}", args.join(" "));
        let mut child = std::process::Command::new(&self.exe)
            .args(args)
            .current_dir(&self.dir)
            .env_remove(crate::env::STORE)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        for text in [&out.stderr, &out.stdout] {
            let text = String::from_utf8_lossy(text);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                outln!("   {line}");
            }
        }
        outln!();
        if !out.status.success() {
            bail!("the {name} stage failed (exit {})", out.status.code().unwrap_or(-1));
        }
        Ok(())
    }
}

fn write_customers(path: &Path) -> anyhow::Result<()> {
    let mut csv = String::from("row_id,user_id,age,income,tenure,country,gender,churned\n");
    for i in 0..ROWS {
        let (row, user, age, income, tenure, country, gender, churned) = customer(i);
        writeln!(csv, "{row},{user},{age},{income},{tenure},{country},{gender},{churned}")?;
    }
    std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))
}

/// A trained model: feature means and scales, coefficients and intercept.
struct Model {
    means: [f64; 3],
    scales: [f64; 3],
    coefficients: [f64; 3],
    intercept: f64,
}

impl Model {
    fn score(&self, features: [f64; 3]) -> f64 {
        let z: f64 = (0..3)
            .map(|j| self.coefficients[j] * (features[j] - self.means[j]) / self.scales[j])
            .sum::<f64>()
            + self.intercept;
        1.0 / (1.0 + (-z).exp())
    }
}

/// (features, label, gender, country, row id) of a part's rows.
type Row = ([f64; 3], u8, String, String, String);

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [row, _, age, income, tenure, country, gender, churned] = f.as_slice() else {
            bail!("{}: unexpected line {line}", path.display());
        };
        let number = |t: &str| {
            t.parse::<f64>()
                .with_context(|| format!("{}: `{t}` is not a number", path.display()))
        };
        rows.push((
            [number(age)?, number(income)?, number(tenure)?],
            churned
                .parse::<u8>()
                .with_context(|| format!("{}: bad label", path.display()))?,
            (*gender).to_owned(),
            (*country).to_owned(),
            (*row).to_owned(),
        ));
    }
    Ok(rows)
}

/// Stage 7: fits a logistic regression (smartcore) on the train part, writes the model
/// directory and a Run + Artifact for the store.
fn train(dir: &Path) -> anyhow::Result<Model> {
    outln!("── 7 training: smartcore logistic regression on parts/customers-train.csv");
    let rows = read_rows(&dir.join("parts/customers-train.csv"))?;
    let n = rows.len() as f64;
    let mut means = [0.0; 3];
    let mut scales = [0.0; 3];
    for j in 0..3 {
        means[j] = rows.iter().map(|r| r.0[j]).sum::<f64>() / n;
        scales[j] = (rows.iter().map(|r| (r.0[j] - means[j]).powi(2)).sum::<f64>() / n)
            .sqrt()
            .max(1e-9);
    }
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| (0..3).map(|j| (r.0[j] - means[j]) / scales[j]).collect())
        .collect();
    let y: Vec<i32> = rows.iter().map(|r| i32::from(r.1)).collect();
    let matrix = DenseMatrix::from_2d_vec(&x).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fitted = LogisticRegression::fit(&matrix, &y, LogisticRegressionParameters::default())
        .map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
    let coefficients = [
        *fitted.coefficients().get((0, 0)),
        *fitted.coefficients().get((0, 1)),
        *fitted.coefficients().get((0, 2)),
    ];
    let model = Model {
        means,
        scales,
        coefficients,
        intercept: *fitted.intercept().get((0, 0)),
    };
    std::fs::create_dir_all(dir.join("model"))?;
    let json = serde_json::json!({
        "type": "logistic-regression",
        "features": ["age", "income", "tenure"],
        "means": model.means, "scales": model.scales,
        "coefficients": model.coefficients, "intercept": model.intercept,
    });
    std::fs::write(dir.join("model/model.json"), serde_json::to_string_pretty(&json)?)?;
    let digest = mlspec_attest::digest::file(&dir.join("model/model.json"))?;
    let prefixed = digest.prefixed()?;
    let accuracy = rows.iter().filter(|r| u8::from(model.score(r.0) > 0.5) == r.1).count() as f64 / n;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::fs::write(
        dir.join("training.yaml"),
        format!(
            "apiVersion: mlspec/v1\nkind: Run\nmetadata:\n  name: train-churn\nspec:\n  status: Finished\n  startTime: {now}\n  endTime: {now}\n  params:\n    model: logistic-regression\n    features: age,income,tenure\n  metrics:\n    - {{key: train_accuracy, value: {accuracy}}}\n  inputs: [Dataset/customers-train@1]\n---\napiVersion: mlspec/v1\nkind: Artifact\nmetadata:\n  name: churn-model\nspec:\n  run: Run/train-churn\n  type: model\n  path: {{datastore: local, path: model/model.json}}\n  digest: {}\n  size: {}\n  mediaType: application/json\n",
            prefixed, digest.size
        ),
    )?;
    outln!(
        "   {} rows, train accuracy {accuracy:.4}, model/model.json {}\n",
        rows.len(),
        prefixed
    );
    Ok(model)
}

/// Writes the model's predictions on a part: label, prediction, score, gender, country.
fn predict(model: &Model, part: &Path, out: &Path) -> anyhow::Result<()> {
    let mut csv = String::from("label,prediction,score,gender,country\n");
    for (features, label, gender, country, _) in read_rows(part)? {
        let score = model.score(features);
        writeln!(csv, "{label},{},{score:.6},{gender},{country}", u8::from(score > 0.5))?;
    }
    std::fs::write(out, csv).with_context(|| format!("cannot write {}", out.display()))
}

/// Five requests answered by the model, as `log append` reads them.
fn requests(model: &Model, part: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    for (i, (features, _, _, _, row)) in read_rows(part)?.into_iter().take(5).enumerate() {
        let score = model.score(features);
        let request = serde_json::json!({
            "client": format!("10.0.0.{}", i + 1),
            "method": "POST",
            "path": "/v2/models/churn/infer",
            "status": 200,
            "bytes": 48,
            "user_agent": "mlspec-demo",
            "request_id": format!("req-{row}"),
            "latency_ms": 1.5 + i as f64,
            "time": format!("2026-11-30T12:00:0{i}Z"),
            "output_digest": Digest::sha256_of(format!("{score:.6}")),
        });
        writeln!(out, "{request}")?;
    }
    Ok(out)
}

//! `mlspec demo`: the whole chain on the embedded store, from codified objectives to the audit
//! of one logged request — every stage run through the real commands.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

/// Run the whole MLSpec chain on generated data, in DIR with its own store: objectives →
/// ingestion from a SQLite database → profile → split with leakage check → a transformation
/// fitted on the train part and applied to every part → a search of the model's L2 penalty →
/// a pipeline of modules (schema → validation → training with smartcore's logistic regression
/// → evaluation on slices) and its recreation from the WorkflowRecord → test on the holdback →
/// package (with the fitted transformation) → sign → inference log → audit. Prints what
/// each stage recorded; the last lines are the audit chain of one logged request. Exit 0, or
/// the failing stage's exit code.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    step: Option<DemoStep>,
    /// Where to run (created; must not exist yet, or be empty). Default: a new directory in the
    /// system's temporary directory, so that nothing is left in the current one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the directory when a stage fails (it is removed by default: a half-made demo is
    /// not a record of anything).
    #[arg(long)]
    keep_on_failure: bool,
}

mod serving;

/// The demo pipeline's own steps (its modules call them), and its model server.
#[derive(clap::Subcommand)]
enum DemoStep {
    Train(TrainArgs),
    Predict(PredictArgs),
    ModelServer(serving::ModelServerArgs),
}

/// Fit the demo's churn model (logistic regression on age, income and tenure) to a training
/// part; write MODEL_DIR/model.json and report train_accuracy (and val_accuracy, with
/// --validation) to the step, if in one.
#[derive(clap::Args)]
struct TrainArgs {
    /// The training part (CSV or Parquet, as `data split` or `data transform apply` write it).
    data: PathBuf,
    /// The model directory to write.
    #[arg(long, value_name = "MODEL_DIR")]
    out: PathBuf,
    /// The L2 penalty.
    #[arg(long, default_value_t = 0.0)]
    alpha: f64,
    /// A validation part to report val_accuracy on.
    #[arg(long, value_name = "FILE")]
    validation: Option<PathBuf>,
}

/// Score a part with the demo's model: label, prediction, score, gender, country.
#[derive(clap::Args)]
struct PredictArgs {
    /// The model directory (`demo train --out`).
    model: PathBuf,
    /// The part to score (CSV or Parquet).
    data: PathBuf,
    /// The predictions file to write (CSV).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// The demo pipeline, as shipped in examples/demo/.
const MODULES: &str = include_str!("../../../../examples/demo/modules.yaml");
const PIPELINE: &str = include_str!("../../../../examples/demo/pipeline.yaml");

/// The time the demo's steps write into their documents (2025-12-01), so that each writes the
/// same bytes when recreated.
const SOURCE_DATE_EPOCH: &str = "1764547200";

/// Rows of generated customer data.
const ROWS: u64 = 6000;

/// The snapshot `mlspec ingest` takes of the CRM database: one Parquet shard.
const SNAPSHOT: &str = "customers/shard-00000.parquet";
/// How `data split` names the parts of the snapshot: `parts/<stem>-<role>.parquet`.
const PART_STEM: &str = "shard-00000";

/// Stage 4's transformation: the model's features standardized (income imputed first, tenure
/// clipped to its possible range), and rows with an impossible age dropped.
const TRANSFORM: &str = "features:
  - {feature: age, standardize: true}
  - {feature: income, impute: median, standardize: true}
  - {feature: tenure, clip: {min: 0, max: 72}, standardize: true}
outliers:
  - {feature: age, method: range, min: 18, max: 100}
";

/// Stage 7's search space: the logistic regression's L2 penalty.
const SEARCH_SPACE: &str = "alpha: {choices: [0, 0.1, 1, 10, 100]}\n";

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
";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.step {
        Some(DemoStep::Train(step)) => return train_step(&step),
        Some(DemoStep::Predict(step)) => {
            predict(&Model::load(&step.model)?, &step.data, &step.out)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(DemoStep::ModelServer(server)) => return serving::model_server(&server),
        None => {}
    }
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
    std::fs::write(dir.join("objectives.yaml"), OBJECTIVES)?;
    demo.stage("1 objectives", &["apply", "objectives.yaml"])?;
    crate::store::block_on(write_crm(&dir.join("crm.db")))?;
    demo.stage(
        "2 ingest",
        &[
            "ingest",
            "sqlite:crm.db",
            "--table",
            "customers",
            "--out",
            "customers",
            "--dataset",
            "customers",
            "--document",
            "ingestion.yaml",
        ],
    )?;
    demo.stage(
        "3 profile",
        &[
            "data",
            "profile",
            SNAPSHOT,
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
        "6 split",
        &[
            "data",
            "split",
            SNAPSHOT,
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
    transform(&demo)?;
    let alpha = search(&demo)?;
    std::fs::write(dir.join("modules.yaml"), MODULES)?;
    std::fs::write(dir.join("pipeline.yaml"), PIPELINE)?;
    let environment = format!("SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}");
    let alpha = format!("alpha={alpha}");
    demo.stage(
        "5-8 pipeline",
        &[
            "pipeline",
            "run",
            "pipeline.yaml",
            "-f",
            "modules.yaml",
            "--input",
            &format!("customers={SNAPSHOT}"),
            "--input",
            "train=Dataset/customers-train-transformed@1",
            "--input",
            "test=Dataset/customers-test-transformed@1",
            "--param",
            &alpha,
            "--env",
            &environment,
            "--out",
            "workflow.yaml",
        ],
    )?;
    demo.stage("recreate", &["recreate", "workflow.yaml", "--check"])?;
    let outputs = pipeline_outputs(&dir.join("workflow.yaml"))?;
    copy_dir(&dir.join(output(&outputs, "train", "model")?), &dir.join("model"))?;
    // The package carries the fitted transformation its inputs go through.
    std::fs::copy(dir.join("fitted.yaml"), dir.join("model/transform.yaml"))
        .context("cannot copy fitted.yaml into the model")?;
    let model = Model::load(&dir.join("model"))?;
    predict(
        &model,
        &dir.join("parts/holdback.parquet"),
        &dir.join("holdback-predictions.csv"),
    )?;
    demo.stage(
        "9 test",
        &[
            "test",
            "holdback-predictions.csv",
            "--holdback",
            &format!("parts/{PART_STEM}-holdback.parquet"),
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
    serving::stages(&demo)?;
    Ok(ExitCode::SUCCESS)
}

struct Demo {
    dir: PathBuf,
    exe: PathBuf,
}

impl Demo {
    /// What `mlspec ARGS` prints, for the demo to read (not shown).
    fn capture(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = std::process::Command::new(&self.exe)
            .args(args)
            .current_dir(&self.dir)
            .env_remove(crate::env::STORE)
            .output()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        if !out.status.success() {
            bail!(
                "mlspec {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

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

/// Each step's outputs in a WorkflowRecord: (step, output, path relative to the project).
fn pipeline_outputs(record: &Path) -> anyhow::Result<Vec<(String, String, String)>> {
    let (document, _) = crate::documents::read_one(&record.display().to_string())?;
    let mlspec_spec::Spec::WorkflowRecord(spec) = document.spec else {
        bail!("{} is not a WorkflowRecord", record.display());
    };
    Ok(spec
        .steps
        .iter()
        .flat_map(|step| {
            step.outputs.iter().filter_map(|output| {
                let path = output
                    .path
                    .as_ref()
                    .filter(|p| p.datastore.as_str() == "local")?
                    .path
                    .as_ref()?;
                Some((step.name.to_string(), output.name.to_string(), path.to_string()))
            })
        })
        .collect())
}

fn output<'a>(outputs: &'a [(String, String, String)], step: &str, name: &str) -> anyhow::Result<&'a str> {
    outputs
        .iter()
        .find(|(s, o, _)| s == step && o == name)
        .map(|(_, _, path)| path.as_str())
        .with_context(|| format!("the pipeline recorded no output `{name}` of step `{step}` in the project"))
}

/// Copies the files of `from` into `to` (created); the pipeline's outputs stay as recorded.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Writes the customers into a new SQLite database (the "CRM" the demo ingests from).
async fn write_crm(path: &Path) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut db = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot create {}", path.display()))?;
    sqlx::query(
        "CREATE TABLE customers (row_id INTEGER NOT NULL, user_id INTEGER NOT NULL, age REAL NOT NULL, \
         income REAL NOT NULL, tenure REAL NOT NULL, country TEXT NOT NULL, gender TEXT NOT NULL, churned INTEGER NOT NULL)",
    )
    .execute(&mut db)
    .await?;
    let mut insert = db.begin().await?;
    for i in 0..ROWS {
        let (row, user, age, income, tenure, country, gender, churned) = customer(i);
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(i64::try_from(row)?)
            .bind(i64::try_from(user)?)
            .bind(age)
            .bind(income)
            .bind(tenure)
            .bind(country)
            .bind(gender)
            .bind(i64::from(churned))
            .execute(&mut *insert)
            .await?;
    }
    insert.commit().await?;
    db.close().await?;
    Ok(())
}

/// Stage 4: fits the transformation on the train part and applies it to every part.
fn transform(demo: &Demo) -> anyhow::Result<()> {
    std::fs::write(demo.dir.join("transform.yaml"), TRANSFORM)?;
    demo.stage(
        "4 transform fit",
        &[
            "data",
            "transform",
            "fit",
            &format!("parts/{PART_STEM}-train.parquet"),
            "--spec",
            "transform.yaml",
            "--dataset",
            "Dataset/customers-train@1",
            "--name",
            "churn-features",
            "--out",
            "fitted.yaml",
            "--quiet",
        ],
    )?;
    for role in ["train", "validation", "test", "holdback"] {
        demo.stage(
            &format!("4 transform apply ({role})"),
            &[
                "data",
                "transform",
                "apply",
                &format!("parts/{PART_STEM}-{role}.parquet"),
                "--fitted",
                "fitted.yaml",
                "--dataset",
                &format!("Dataset/customers-{role}@1"),
                "--out",
                &format!("parts/{role}.parquet"),
                "--name",
                &format!("churn-features-{role}"),
                "--quiet",
            ],
        )?;
    }
    Ok(())
}

/// Stage 7: a grid search of the model's L2 penalty on the validation part; the best value.
fn search(demo: &Demo) -> anyhow::Result<f64> {
    std::fs::write(demo.dir.join("search-space.yaml"), SEARCH_SPACE)?;
    demo.stage(
        "7 tune",
        &[
            "tune",
            "--space",
            "search-space.yaml",
            "--sampler",
            "grid",
            "--objective",
            "maximize metrics.val_accuracy",
            "--name",
            "churn-search",
            "--dataset",
            "Dataset/customers-train@1",
            "--",
            "mlspec",
            "demo",
            "train",
            "parts/train.parquet",
            "--validation",
            "parts/validation.parquet",
            "--alpha",
            "{params.alpha}",
            "--out",
            "trials/{params.alpha}",
        ],
    )?;
    let training: serde_json::Value =
        serde_json::from_str(&demo.capture(&["get", "training", "churn-search", "-o", "json"])?)
            .context("`mlspec get training churn-search` did not print JSON")?;
    training["spec"]["params"]["alpha"]
        .as_f64()
        .context("the search recorded no best alpha")
}

/// A trained model: feature means and scales, coefficients and intercept.
struct Model {
    means: [f64; 3],
    scales: [f64; 3],
    coefficients: [f64; 3],
    intercept: f64,
}

impl Model {
    /// Writes MODEL_DIR/model.json.
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let json = serde_json::json!({
            "type": "logistic-regression",
            "features": ["age", "income", "tenure"],
            "means": self.means, "scales": self.scales,
            "coefficients": self.coefficients, "intercept": self.intercept,
        });
        let path = dir.join("model.json");
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads MODEL_DIR/model.json.
    fn load(dir: &Path) -> anyhow::Result<Model> {
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
        let three = |key: &str| -> anyhow::Result<[f64; 3]> {
            let values: Vec<f64> = json[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_f64)
                .collect();
            values
                .try_into()
                .map_err(|_| anyhow::anyhow!("{}: `{key}` is not three numbers", path.display()))
        };
        Ok(Model {
            means: three("means")?,
            scales: three("scales")?,
            coefficients: three("coefficients")?,
            intercept: json["intercept"]
                .as_f64()
                .with_context(|| format!("{}: no `intercept`", path.display()))?,
        })
    }

    /// The share of `rows` whose label the model predicts.
    fn accuracy(&self, rows: &[Row]) -> f64 {
        let right = rows.iter().filter(|r| u8::from(self.score(r.0) > 0.5) == r.1).count();
        right as f64 / rows.len().max(1) as f64
    }

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

/// A part's rows (CSV or Parquet, as `data split` and `data transform apply` write them).
fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    use crate::columns::{Column, read_columns};
    let columns = read_columns(path)?;
    let find = |name: &str| {
        columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .with_context(|| format!("{}: no column `{name}`", path.display()))
    };
    let numbers = |name: &str| -> anyhow::Result<Vec<f64>> {
        match find(name)? {
            Column::Numbers(values) => values
                .iter()
                .map(|v| v.with_context(|| format!("{}: a missing `{name}`", path.display())))
                .collect(),
            Column::Texts(_) => bail!("{}: `{name}` is not numeric", path.display()),
        }
    };
    let texts = |name: &str| -> anyhow::Result<Vec<String>> {
        Ok(match find(name)? {
            Column::Texts(values) => values.iter().map(|v| v.clone().unwrap_or_default()).collect(),
            Column::Numbers(values) => values
                .iter()
                .map(|v| v.map(|n| n.to_string()).unwrap_or_default())
                .collect(),
        })
    };
    let (age, income, tenure, churned) = (
        numbers("age")?,
        numbers("income")?,
        numbers("tenure")?,
        numbers("churned")?,
    );
    let (gender, country, row) = (texts("gender")?, texts("country")?, texts("row_id")?);
    Ok((0..age.len())
        .map(|i| {
            (
                [age[i], income[i], tenure[i]],
                u8::from(churned[i] > 0.5),
                gender[i].clone(),
                country[i].clone(),
                row[i].clone(),
            )
        })
        .collect())
}

/// `demo train`: fits the model, writes it, and reports its training (and validation)
/// accuracy.
fn train_step(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let rows = read_rows(&args.data)?;
    let model = train(&rows, args.alpha)?;
    model.save(&args.out)?;
    let accuracy = model.accuracy(&rows);
    report_metric("train_accuracy", accuracy)?;
    let validation = match &args.validation {
        Some(part) => {
            let accuracy = model.accuracy(&read_rows(part)?);
            report_metric("val_accuracy", accuracy)?;
            format!(", validation accuracy {accuracy:.4}")
        }
        None => String::new(),
    };
    outln!(
        "{} rows, alpha {}, train accuracy {accuracy:.4}{validation}, model in {}",
        rows.len(),
        args.alpha,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reports a metric to the step this runs in, if any.
fn report_metric(key: &str, value: f64) -> anyhow::Result<()> {
    if let Some(file) = std::env::var_os(crate::env::METRICS_FILE) {
        use std::io::Write as _;
        let line = serde_json::json!({"key": key, "value": value});
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| writeln!(f, "{line}"))
            .with_context(|| format!("cannot report the metric to {}", Path::new(&file).display()))?;
    }
    Ok(())
}

/// Stage 7: fits a logistic regression (smartcore, L2 penalty `alpha`) to a part's rows.
fn train(rows: &[Row], alpha: f64) -> anyhow::Result<Model> {
    if rows.is_empty() {
        bail!("no rows to train on");
    }
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
    let parameters = LogisticRegressionParameters::default().with_alpha(alpha);
    let fitted =
        LogisticRegression::fit(&matrix, &y, parameters).map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
    let coefficients = [
        *fitted.coefficients().get((0, 0)),
        *fitted.coefficients().get((0, 1)),
        *fitted.coefficients().get((0, 2)),
    ];
    Ok(Model {
        means,
        scales,
        coefficients,
        intercept: *fitted.intercept().get((0, 0)),
    })
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

//! `mlspec eval`: an Evaluation of predictions against labels — overall, per slice, with
//! bootstrap intervals, fairness summaries, deltas against a baseline and the objectives'
//! verdict.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mlspec_spec::kinds::{EvaluationSpec, Outcome};
use mlspec_spec::newtypes::Key;
use mlspec_spec::values::{Metric, MetricValue};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Ref, Spec};

use crate::args::OutputArgs;
use crate::documents::{derived_name, document_name, load_document, write_document};
use crate::evaluation::{EvalArgs, summary};
use crate::store::{LazyStore, StoreChoice, block_on, record};
use crate::verdict::verdict_on;

/// Evaluate predictions against labels: classification (accuracy, balanced accuracy,
/// precision/recall/F1 per class and macro/micro/weighted, confusion matrix; with --score on a
/// binary task ROC AUC, average precision, log loss, expected calibration error) or regression
/// (MAE, RMSE, R², MAPE), overall and per slice (each --slice column and their crossings), with
/// seeded bootstrap confidence intervals, fairness summaries per sensitive attribute
/// (demographic parity difference and ratio, equalized odds difference), deltas against a
/// baseline Evaluation and, with --objectives, the verdict of every criterion. Writes an
/// Evaluation document (to --out or standard output) and a summary on standard error. Exit 0;
/// 1 when a `block` criterion of the objectives is not met; 2 on bad input.
#[derive(clap::Args)]
pub struct Args {
    /// The predictions file (CSV, Parquet, JSON Lines): one row per example.
    predictions: PathBuf,
    #[command(flatten)]
    eval: EvalArgs,
    /// The Objectives to judge the metrics against (a file or a stored reference).
    #[arg(long, value_name = "FILE|REF")]
    objectives: Option<String>,
    /// A baseline Evaluation (a file or a stored reference): deltas, and `baseline.x` in
    /// criteria.
    #[arg(long, value_name = "FILE|REF")]
    baseline: Option<String>,
    /// The model evaluated (e.g. `Training/churn` or `ModelPackage/churn@3`).
    #[arg(long, value_name = "REF")]
    model: Option<Ref>,
    /// The dataset the predictions are on (e.g. `Dataset/churn-test@1`).
    #[arg(long, value_name = "REF")]
    dataset: Option<Ref>,
    /// The Evaluation's name (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    /// Do not record the Evaluation in the store.
    #[arg(long)]
    no_record: bool,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    block_on(run_eval(args, choice))
}

async fn run_eval(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    let outcome = args.eval.run(&args.predictions)?;
    let parts = outcome.spec_parts()?;
    let baseline = match &args.baseline {
        Some(arg) => Some(load_document(arg, &[Kind::Evaluation], &mut store).await?),
        None => None,
    };
    let deltas = match &baseline {
        Some(Document {
            spec: Spec::Evaluation(base),
            ..
        }) => deltas(&parts.metrics, &base.metrics)?,
        _ => Default::default(),
    };
    let name = document_name(args.name.as_deref(), &args.predictions, "eval")?;
    let mut document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::Evaluation(EvaluationSpec {
            model: args
                .model
                .clone()
                .unwrap_or(Ref::named(Kind::Artifact, derived_name(&args.predictions, "model")?)),
            dataset: args
                .dataset
                .clone()
                .unwrap_or(Ref::named(Kind::Dataset, derived_name(&args.predictions, "data")?)),
            task: Some(outcome.task),
            metrics: parts.metrics,
            undefined: parts.undefined,
            slices: parts.slices,
            fairness: parts.fairness,
            baseline: baseline
                .as_ref()
                .map(|b| Ref::named(Kind::Evaluation, b.metadata.name.clone())),
            deltas,
            verdict: None,
            run: None,
        }),
    };
    let verdict = match &args.objectives {
        Some(objectives) => Some(verdict_on(objectives, &document, baseline.as_ref(), &mut store).await?),
        None => None,
    };
    let failed = verdict.as_ref().is_some_and(|v| v.result == Outcome::Failed);
    if let Spec::Evaluation(spec) = &mut document.spec {
        spec.verdict = verdict.clone();
    }
    write_document(&document, &args.output)?;
    err!("{}", summary(&outcome, verdict.as_ref()));
    if !args.no_record {
        if args.model.is_some() && args.dataset.is_some() {
            record(&mut store, vec![document]).await?;
        } else if store.for_recording().await?.is_some() {
            errln!("note: not recorded: name the model and the dataset (--model, --dataset) to record the Evaluation");
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// This − baseline, for the scalar metrics both have.
fn deltas(metrics: &[Metric], baseline: &[Metric]) -> anyhow::Result<mlspec_spec::values::UniqueMap<Key, f64>> {
    let base: BTreeMap<&str, f64> = baseline
        .iter()
        .filter_map(|m| match m.value {
            MetricValue::Scalar(v) => Some((m.key.as_str(), v)),
            _ => None,
        })
        .collect();
    Ok(metrics
        .iter()
        .filter(|m| !m.key.as_str().ends_with("_ci_low") && !m.key.as_str().ends_with("_ci_high"))
        .filter_map(|m| match (&m.value, base.get(m.key.as_str())) {
            // Two finite metrics far apart can differ by more than the largest float.
            (MetricValue::Scalar(v), Some(b)) => Some((m.key.clone(), v - b)).filter(|(_, d)| d.is_finite()),
            _ => None,
        })
        .collect())
}

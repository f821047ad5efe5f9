//! `mlspec training record-conversion` and `record-compression`: stage 7's conversions (e.g.
//! scikit-learn → ONNX) and compressions (quantize, prune, …) recorded in the model's Training
//! document — the new file as an Artifact of the same run (digest, size), with the evidence that
//! it still behaves: predictions compared within a tolerance, or metric deltas between two
//! Evaluations.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_spec::kinds::{
    ArtifactSpec, ArtifactType, Compression, CompressionMethod, Conversion, ConversionCheck, EvaluationSpec,
    TrainingSpec,
};
use mlspec_spec::newtypes::{Key, MediaType, ShortText};
use mlspec_spec::values::{MetricValue, ParamValue, Params};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Name, Ref, Spec};
use mlspec_store::{ListQuery, Selector, Store, StoredObject};

use crate::columns::{Column, read_columns};
use crate::datasets::{content_digest, local_data};
use crate::store::{StoreChoice, actor, block_on};

/// Record what was done to a trained model after training.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    RecordConversion(ConversionArgs),
    RecordCompression(CompressionArgs),
}

/// Record a conversion of a model to another format: the converted file becomes an Artifact of
/// the model's run, and the Training document that trained the model (or --training) gains a
/// conversion whose check compares the two models' predictions on the same inputs (BEFORE.csv
/// and AFTER.csv, same columns and rows): numeric columns by their largest absolute difference
/// against --tolerance, the others by equality. Exit 0, 1 when the predictions differ beyond
/// the tolerance (recorded as failed), 2 on bad input.
#[derive(clap::Args)]
struct ConversionArgs {
    /// The original model: an Artifact (`Artifact/model` or its id).
    #[arg(long, value_name = "REF")]
    model: Ref,
    /// The converted model file.
    #[arg(long, value_name = "FILE")]
    converted: PathBuf,
    /// The target format, e.g. `onnx`.
    #[arg(long)]
    format: String,
    /// The converter and its version, e.g. `skl2onnx 1.20`.
    #[arg(long)]
    tool: Option<String>,
    /// The original's and the converted model's predictions on the same inputs.
    #[arg(long, num_args = 2, value_names = ["BEFORE.csv", "AFTER.csv"], required = true)]
    compare: Vec<PathBuf>,
    /// The largest acceptable absolute difference.
    #[arg(long, default_value_t = 1e-6)]
    tolerance: f64,
    /// The Training document to record in (default: the one whose model is --model).
    #[arg(long, value_name = "NAME")]
    training: Option<Name>,
}

/// Record a compression of a model: the compressed file becomes an Artifact of the model's
/// run, and the Training document gains the method, its parameters, the sizes before and after,
/// and each metric's change between the Evaluation of the original (--before) and of the
/// compressed model (--after). Exit 0, 2 on bad input.
#[derive(clap::Args)]
struct CompressionArgs {
    /// The original model: an Artifact (`Artifact/model` or its id).
    #[arg(long, value_name = "REF")]
    model: Ref,
    /// The compressed model file.
    #[arg(long, value_name = "FILE")]
    compressed: PathBuf,
    /// How it was compressed.
    #[arg(long, value_enum)]
    method: MethodArg,
    /// A setting of the method, e.g. `dtype=int8`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// The original model's Evaluation (a stored `Evaluation/NAME`, or a document file).
    #[arg(long, value_name = "EVAL")]
    before: String,
    /// The compressed model's Evaluation.
    #[arg(long, value_name = "EVAL")]
    after: String,
    /// The Training document to record in (default: the one whose model is --model).
    #[arg(long, value_name = "NAME")]
    training: Option<Name>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    Quantize,
    Prune,
    Distill,
    LowRank,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::RecordConversion(args) => block_on(record_conversion(args, choice)),
        Command::RecordCompression(args) => block_on(record_compression(args, choice)),
    }
}

async fn record_conversion(args: ConversionArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let checks = compare_predictions(&args.compare[0], &args.compare[1], args.tolerance)?;
    let store = choice.open().await?;
    let model = model_artifact(store.as_ref(), &args.model).await?;
    let (training_name, mut training) = training_of(store.as_ref(), &model, args.training.as_ref()).await?;
    let artifact = derived_artifact(&model, &args.converted, &args.format)?;
    let passed = checks.iter().all(|c| c.passed);
    training.conversions.push(Conversion {
        format: ShortText::new(args.format.as_str())?,
        tool: args.tool.as_deref().map(ShortText::new).transpose()?,
        output: Ref::named(Kind::Artifact, artifact.metadata.name.clone()),
        validation: checks.clone(),
    });
    save(store.as_ref(), artifact, training_name, training).await?;
    for check in &checks {
        errln!(
            "{}: {} (tolerance {}) — {}",
            check.metric,
            check.after,
            check.tolerance,
            if check.passed { "passed" } else { "FAILED" }
        );
    }
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn record_compression(args: CompressionArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let store = choice.open().await?;
    let model = model_artifact(store.as_ref(), &args.model).await?;
    let (training_name, mut training) = training_of(store.as_ref(), &model, args.training.as_ref()).await?;
    let before = evaluation(store.as_ref(), &args.before).await?;
    let after = evaluation(store.as_ref(), &args.after).await?;
    let method = match args.method {
        MethodArg::Quantize => CompressionMethod::Quantize,
        MethodArg::Prune => CompressionMethod::Prune,
        MethodArg::Distill => CompressionMethod::Distill,
        MethodArg::LowRank => CompressionMethod::LowRank,
    };
    let suffix = format!("{method:?}").to_ascii_lowercase();
    let artifact = derived_artifact(&model, &args.compressed, &suffix)?;
    let Spec::Artifact(original) = &model.document.spec else {
        bail!("{} is not an Artifact", args.model);
    };
    let Spec::Artifact(compressed) = &artifact.spec else {
        bail!("the compressed model's Artifact could not be made");
    };
    let mut parameters = Params::default();
    for param in &args.params {
        let (key, value) = param
            .split_once('=')
            .with_context(|| format!("`{param}` is not KEY=VALUE"))?;
        parameters
            .0
            .insert(Key::new(key.trim())?, ParamValue::String(value.to_owned()));
    }
    let mut metric_deltas = mlspec_spec::values::UniqueMap::default();
    for metric in &after.metrics {
        let old = before
            .metrics
            .iter()
            .find(|m| m.key == metric.key && m.step == metric.step);
        if let (Some(old), MetricValue::Scalar(new)) = (old, &metric.value)
            && let MetricValue::Scalar(old) = old.value
        {
            metric_deltas.0.insert(metric.key.clone(), new - old);
        }
    }
    if metric_deltas.0.is_empty() {
        bail!("the two Evaluations share no single-number metric to compare");
    }
    let summary: Vec<String> = metric_deltas.0.iter().map(|(k, d)| format!("{k} {d:+.6}")).collect();
    training.compression.push(Compression {
        method,
        parameters,
        output: Ref::named(Kind::Artifact, artifact.metadata.name.clone()),
        size_before: original.size,
        size_after: compressed.size,
        metric_deltas,
    });
    errln!(
        "size {} → {} bytes; {}",
        original.size,
        compressed.size,
        summary.join(", ")
    );
    save(store.as_ref(), artifact, training_name, training).await?;
    Ok(ExitCode::SUCCESS)
}

/// The model, which must be a stored Artifact.
async fn model_artifact(store: &dyn Store, model: &Ref) -> anyhow::Result<StoredObject> {
    let found = store.get(&Selector::from(model)).await?;
    if !matches!(found.document.spec, Spec::Artifact(_)) {
        bail!(
            "{model} is a {}, not an Artifact (the model file a run wrote)",
            found.summary.kind
        );
    }
    Ok(found)
}

/// The Training document to record in: the one named, or the one whose model is `model`.
async fn training_of(
    store: &dyn Store,
    model: &StoredObject,
    named: Option<&Name>,
) -> anyhow::Result<(Name, TrainingSpec)> {
    let candidates: Vec<StoredObject> = match named {
        Some(name) => vec![
            store
                .get(&Selector::Name {
                    kind: Kind::Training,
                    name: name.clone(),
                    version: None,
                })
                .await?,
        ],
        None => {
            let ids: Vec<mlspec_spec::ObjectId> = store
                .list(&ListQuery::new(Kind::Training))
                .await?
                .into_iter()
                .filter_map(|s| mlspec_spec::ObjectId::new(s.id).ok())
                .collect();
            store.get_many(&ids).await?
        }
    };
    for candidate in candidates {
        let Spec::Training(spec) = candidate.document.spec else {
            continue;
        };
        let trains_it = match &spec.model {
            Some(trained) => store
                .get(&Selector::from(trained))
                .await
                .is_ok_and(|trained| trained.summary.id == model.summary.id),
            None => false,
        };
        if trains_it || named.is_some() {
            return Ok((candidate.document.metadata.name, spec));
        }
    }
    bail!(
        "no Training document names {}/{} as its model; name one with --training",
        model.summary.kind,
        model.summary.name
    )
}

/// An Artifact of the model's run for a file made from it, named `<model>-<suffix>`.
fn derived_artifact(model: &StoredObject, file: &Path, suffix: &str) -> anyhow::Result<Document> {
    let Spec::Artifact(original) = &model.document.spec else {
        bail!("the model is not an Artifact");
    };
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let name = Name::new(Name::sanitized_text(&format!("{}-{suffix}", model.summary.name), 255))?;
    let media_type = match file.extension().and_then(|e| e.to_str()) {
        Some("onnx") => "application/onnx",
        _ => "application/octet-stream",
    };
    Ok(Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::Artifact(ArtifactSpec {
            run: original.run.clone(),
            artifact_type: ArtifactType::Model,
            path: local_data(file)?,
            digest: content_digest(file)?,
            size,
            media_type: MediaType::new(media_type)?,
        }),
    })
}

async fn save(
    store: &dyn Store,
    artifact: Document,
    training_name: Name,
    training: TrainingSpec,
) -> anyhow::Result<()> {
    let stored = store
        .get(&Selector::Name {
            kind: Kind::Training,
            name: training_name.clone(),
            version: None,
        })
        .await?;
    let mut metadata = stored.document.metadata;
    metadata.name = training_name;
    let training = Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::Training(training),
    };
    let report = store
        .apply(&[artifact, training], &actor())
        .await
        .context("the result could not be recorded")?;
    for applied in &report.results {
        errln!("recorded {}/{} ({})", applied.kind, applied.name, applied.id);
    }
    Ok(())
}

/// An Evaluation: a stored `Evaluation/NAME`, or a document file.
async fn evaluation(store: &dyn Store, text: &str) -> anyhow::Result<EvaluationSpec> {
    let document = if Path::new(text).is_file() {
        crate::documents::read_one(text)?.0
    } else {
        let reference: Ref = text
            .parse()
            .with_context(|| format!("`{text}` is neither a file nor a reference like Evaluation/NAME"))?;
        store.get(&Selector::from(&reference)).await?.document
    };
    match document.spec {
        Spec::Evaluation(spec) => Ok(spec),
        other => bail!("{text} is a {}, not an Evaluation", other.kind()),
    }
}

/// The checks of two prediction files: per numeric column the largest absolute difference (all
/// together as `max_abs_diff`), and the count of unequal values in the other columns
/// (`mismatches`, tolerance 0).
fn compare_predictions(before: &Path, after: &Path, tolerance: f64) -> anyhow::Result<Vec<ConversionCheck>> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        bail!("--tolerance must be a finite number ≥ 0");
    }
    let left = read_columns(before)?;
    let right = read_columns(after)?;
    let names = |columns: &[(String, Column)]| columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if names(&left) != names(&right) {
        bail!(
            "{} and {} have different columns: {:?} and {:?}",
            before.display(),
            after.display(),
            names(&left),
            names(&right)
        );
    }
    let mut largest = 0.0f64;
    let mut mismatches = 0u64;
    let mut numeric = false;
    for ((name, a), (_, b)) in left.iter().zip(&right) {
        match (a, b) {
            (Column::Numbers(a), Column::Numbers(b)) => {
                same_length(name, a.len(), b.len())?;
                numeric = true;
                for (x, y) in a.iter().zip(b) {
                    let difference = match (x, y) {
                        (Some(x), Some(y)) if x.is_nan() && y.is_nan() => 0.0,
                        (Some(x), Some(y)) => (x - y).abs(),
                        (None, None) => 0.0,
                        _ => f64::INFINITY,
                    };
                    largest = largest.max(if difference.is_nan() { f64::INFINITY } else { difference });
                }
            }
            (Column::Texts(a), Column::Texts(b)) => {
                same_length(name, a.len(), b.len())?;
                mismatches += a.iter().zip(b).filter(|(x, y)| x != y).count() as u64;
            }
            _ => bail!("column `{name}` is numeric in one file and not in the other"),
        }
    }
    let mut checks = Vec::new();
    if numeric {
        let after = if largest.is_finite() { largest } else { f64::MAX };
        checks.push(ConversionCheck {
            metric: Key::new("max_abs_diff")?,
            before: Some(0.0),
            after,
            tolerance,
            passed: after <= tolerance,
        });
    }
    if left.iter().any(|(_, c)| matches!(c, Column::Texts(_))) {
        checks.push(ConversionCheck {
            metric: Key::new("mismatches")?,
            before: Some(0.0),
            after: mismatches as f64,
            tolerance: 0.0,
            passed: mismatches == 0,
        });
    }
    Ok(checks)
}

fn same_length(column: &str, a: usize, b: usize) -> anyhow::Result<()> {
    if a != b {
        bail!(
            "the files have different row counts ({a} and {b}, column `{column}`): compare predictions on the same inputs"
        );
    }
    Ok(())
}

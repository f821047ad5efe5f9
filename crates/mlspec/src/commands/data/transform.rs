//! `mlspec data transform fit` and `mlspec data transform apply`: feature transformations
//! learned once on training data (a Transformation document with every fitted value) and
//! applied unchanged to any other data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use mlspec_data::transform::{Applied, Fitted, Plan, Spool, apply, fit, fit_spooling};
use mlspec_spec::kinds::TransformationSpec;
use mlspec_spec::newtypes::ShortText;
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Ref, Spec};

use super::{RecordArgs, check_dataset, read_document};
use crate::args::{CsvArgs, OutputArgs};
use crate::datasets::{NewVersion, content_digest, dataset_version, local_data};
use crate::documents::{derived_name, document_name, write_document};
use crate::progress::Progress;
use crate::store::{LazyStore, StoreChoice, record};

/// Learn and apply feature transformations (vocabularies, standardization, min-max scaling,
/// logarithms, buckets, imputation, clipping, one-hot) and outlier rules: `fit` on training
/// data, `apply` with exactly those values on any other data. See docs/transform.md.
#[derive(clap::Args)]
pub(super) struct TransformArgs {
    #[command(subcommand)]
    command: TransformCommand,
}

#[derive(clap::Subcommand)]
enum TransformCommand {
    Fit(FitArgs),
    Apply(ApplyArgs),
}

/// Learn a transform spec's mappings from training data in one pass — vocabularies (with
/// top-k, minimum-frequency and out-of-vocabulary buckets), means and standard deviations,
/// extremes, quantile boundaries, fill values, outlier bounds — and write them as a
/// Transformation document (to --out or standard output). With --apply-out, also applies it
/// to the training data itself, reading the file only once (as `apply FILE --fitted … --out
/// OUT` would, to the byte). Exit 0; 2 when the spec names a missing feature or a step that
/// does not suit its type, or the data cannot be read.
#[derive(clap::Args)]
struct FitArgs {
    /// The training data.
    file: PathBuf,
    /// The transform spec (YAML): `features` with their steps, and `outliers`.
    #[arg(long, value_name = "TRANSFORM.yaml")]
    spec: PathBuf,
    /// The document's name (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    csv: CsvArgs,
    /// Also apply the fitted transformation to FILE and write the transformed data here
    /// (.parquet, .csv or .jsonl), as `apply` would, reading FILE only once: its batches are
    /// spooled to a temporary Arrow file beside OUT while fitting.
    #[arg(long, value_name = "OUT")]
    apply_out: Option<PathBuf>,
    /// With --apply-out: also write the applied Transformation here (as apply's --document).
    #[arg(long, value_name = "PATH", requires = "apply_out")]
    apply_document: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    record: RecordArgs,
}

/// Apply a fitted Transformation (from `fit`) to data: outlier rules drop rows (counted per
/// rule), each feature's chain maps its values with the recorded parameters, values outside a
/// vocabulary go to its out-of-vocabulary bucket (counted). Writes the data to --out (Parquet,
/// CSV or JSON Lines by its name; the same input gives the same bytes), the applied
/// Transformation (with the counts) to --document, and a summary to standard error. Exit 0;
/// 2 on bad input.
#[derive(clap::Args)]
struct ApplyArgs {
    /// The data to transform.
    file: PathBuf,
    /// The fitted Transformation document.
    #[arg(long, value_name = "FITTED.yaml")]
    fitted: PathBuf,
    /// The transformed data: .parquet, .csv or .jsonl.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    /// Also write the applied Transformation (inputs, outputs, rows, removed counts) here.
    #[arg(long, value_name = "PATH")]
    document: Option<PathBuf>,
    /// The applied document's name (default: from the output's file name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    csv: CsvArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    record: RecordArgs,
}

pub(super) async fn run(args: TransformArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        TransformCommand::Fit(args) => run_fit(args, choice).await,
        TransformCommand::Apply(args) => run_apply(args, choice).await,
    }
}

/// The data file as a reference: the `--dataset` given, else a Dataset named after the file.
fn data_ref(record: &RecordArgs, file: &Path) -> anyhow::Result<Ref> {
    Ok(match &record.dataset {
        Some(dataset) => dataset.clone(),
        None => Ref::named(Kind::Dataset, derived_name(file, "data")?),
    })
}

fn code() -> anyhow::Result<ShortText> {
    Ok(ShortText::new(format!(
        "mlspec data transform {}",
        env!("CARGO_PKG_VERSION")
    ))?)
}

async fn run_fit(args: FitArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    check_dataset(&mut store, &args.record).await?;
    let plan = Plan::read(&args.spec)?;
    let size = std::fs::metadata(&args.file).map_or(0, |m| m.len());
    let mut progress = Progress::new(size, args.quiet);
    let read = args.csv.read_options();
    let (fitted, spool) = match &args.apply_out {
        None => (fit(&args.file, &read, &plan, |bytes| progress.update(bytes))?, None),
        Some(out) => {
            let (fitted, spool) = fit_spooling(&args.file, &read, &plan, out, |bytes| progress.update(bytes))?;
            (fitted, Some(spool))
        }
    };
    progress.finish();
    let name = document_name(args.name.as_deref(), &args.file, "transform")?;
    // A fitted document has written no data yet: it lists no outputs (and no rowsOut).
    let spec = TransformationSpec {
        inputs: vec![data_ref(&args.record, &args.file)?],
        outputs: Vec::new(),
        run: None,
        mappings: fitted.mappings()?,
        outlier_rules: fitted.outlier_rules(&[])?,
        rows_in: Some(fitted.rows),
        rows_out: None,
        code: Some(code()?),
    };
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::Transformation(spec),
    };
    write_document(&document, &args.output)?;
    errln!("{}", fit_summary(&fitted));
    // Recorded as `fit` then `apply` record: the fitted document stays when applying fails.
    if recording(&args.record) {
        record(&mut store, vec![document.clone()]).await?;
    }
    if let (Some(spool), Spec::Transformation(recorded)) = (spool, &document.spec) {
        let applied_documents = apply_spooled(&mut store, &args, spool, recorded).await?;
        if recording(&args.record) {
            record(&mut store, applied_documents).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `fit --apply-out`: the fitted document `recorded` applied to the spooled training data, as
/// `apply` would apply it; returns what to record.
async fn apply_spooled(
    store: &mut LazyStore<'_>,
    args: &FitArgs,
    spool: Spool,
    recorded: &TransformationSpec,
) -> anyhow::Result<Vec<Document>> {
    let fitted_file = args
        .output
        .out
        .as_ref()
        .map_or_else(|| "the fitted transformation".to_owned(), |p| p.display().to_string());
    // As `apply` takes it from the document written.
    let fitted = Fitted::from_spec(recorded, &fitted_file)?;
    let out = spool.out().to_owned();
    let mut progress = Progress::new(spool.size(), args.quiet);
    let applied = spool.apply(&fitted, &fitted_file, |bytes| progress.update(bytes))?;
    progress.finish();
    let target = Applying {
        file: &args.file,
        out: &out,
        document: args.apply_document.as_deref(),
        name: None,
        record: &args.record,
    };
    finish_apply(store, &target, recorded, &fitted, &applied).await
}

/// Whether the run records its documents in the store: with a `--dataset`, unless
/// `--no-record`.
fn recording(record: &RecordArgs) -> bool {
    !record.no_record && record.dataset.is_some()
}

fn fit_summary(fitted: &Fitted) -> String {
    let mut out = format!(
        "fitted {} features and {} outlier rules on {} rows",
        fitted.chains.len(),
        fitted.outliers.len(),
        fitted.rows
    );
    for rule in &fitted.outliers {
        out.push_str(&format!(
            "\n  {} {}: keeps [{}, {}]",
            rule.feature,
            rule.method.name(),
            rule.min.map_or("-inf".into(), |v| v.to_string()),
            rule.max.map_or("inf".into(), |v| v.to_string()),
        ));
    }
    out
}

async fn run_apply(args: ApplyArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    check_dataset(&mut store, &args.record).await?;
    let fitted_file = args.fitted.display().to_string();
    let document = read_document(&args.fitted)?;
    let Spec::Transformation(recorded) = &document.spec else {
        bail!("{fitted_file} is {}, not a Transformation", document.kind());
    };
    let fitted = Fitted::from_spec(recorded, &fitted_file)?;
    let size = std::fs::metadata(&args.file).map_or(0, |m| m.len());
    let mut progress = Progress::new(size, args.quiet);
    let applied = apply(
        &args.file,
        &args.csv.read_options(),
        &fitted,
        &fitted_file,
        &args.out,
        |bytes| progress.update(bytes),
    )?;
    progress.finish();
    let target = Applying {
        file: &args.file,
        out: &args.out,
        document: args.document.as_deref(),
        name: args.name.as_deref(),
        record: &args.record,
    };
    let documents = finish_apply(&mut store, &target, recorded, &fitted, &applied).await?;
    if recording(&args.record) {
        record(&mut store, documents).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What a transformation was applied to, and where its results go.
struct Applying<'a> {
    /// The data read.
    file: &'a Path,
    /// The transformed data written.
    out: &'a Path,
    /// Where the applied document goes, if anywhere.
    document: Option<&'a Path>,
    /// The applied document's name (default: from `out`).
    name: Option<&'a str>,
    record: &'a RecordArgs,
}

/// After the data is written: prints the summary, writes the applied Transformation (the
/// fitted document `recorded` with what applying it did), and returns what to record when
/// recording: the output's Dataset version (when new) and the applied document.
async fn finish_apply(
    store: &mut LazyStore<'_>,
    target: &Applying<'_>,
    recorded: &TransformationSpec,
    fitted: &Fitted,
    applied: &Applied,
) -> anyhow::Result<Vec<Document>> {
    err!("{}", apply_summary(fitted, applied, target.out));
    let name = document_name(target.name, target.out, "transformation")?;
    let recording = recording(target.record);
    let (output_dataset, output) = match (recording, store.for_recording().await?) {
        (true, Some(store)) => output_version(store, target.record, target.out, applied).await?,
        _ => (None, Ref::named(Kind::Dataset, derived_name(target.out, "data")?)),
    };
    let spec = TransformationSpec {
        inputs: vec![data_ref(target.record, target.file)?],
        outputs: vec![output],
        run: None,
        mappings: recorded.mappings.clone(),
        outlier_rules: fitted.outlier_rules(&applied.removed)?,
        rows_in: Some(applied.rows_in),
        rows_out: Some(applied.rows_out),
        code: Some(code()?),
    };
    let applied_document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::Transformation(spec),
    };
    if let Some(path) = target.document {
        let output = OutputArgs {
            out: Some(path.to_owned()),
            format: crate::output::Format::Yaml,
        };
        write_document(&applied_document, &output)?;
    }
    Ok(if recording {
        output_dataset.into_iter().chain([applied_document]).collect()
    } else {
        Vec::new()
    })
}

/// The transformed data as a Dataset version: `<input dataset>-transformed`, versioned by the
/// output file's digest (the same output again is the same version), with the document that
/// records it when it is new.
async fn output_version(
    store: &dyn mlspec_store::Store,
    record: &RecordArgs,
    out: &Path,
    applied: &Applied,
) -> anyhow::Result<(Option<Document>, Ref)> {
    let name = match record.dataset.as_ref().map(|r| &r.target) {
        Some(mlspec_spec::RefTarget::Named { name, .. }) => {
            mlspec_spec::Name::new(format!("{}-transformed", name.as_str()))?
        }
        _ => derived_name(out, "data")?,
    };
    let version = NewVersion {
        definition: local_data(out)?,
        digest: Some(content_digest(out)?),
        rows: Some(applied.rows_out),
        bytes: std::fs::metadata(out).ok().map(|m| m.len()),
        profile: None,
    };
    dataset_version(store, name, version).await
}

/// Rows in and out, removals per rule, unseen values per vocabulary.
fn apply_summary(fitted: &Fitted, applied: &Applied, out: &Path) -> String {
    let mut text = format!(
        "{} rows in, {} removed, {} rows out to {}\n",
        applied.rows_in,
        applied.rows_in - applied.rows_out,
        applied.rows_out,
        out.display()
    );
    for (rule, removed) in fitted.outliers.iter().zip(&applied.removed) {
        text.push_str(&format!(
            "  outlier {} {}: {removed} rows removed\n",
            rule.feature,
            rule.method.name()
        ));
    }
    for (feature, unseen) in &applied.unseen {
        text.push_str(&format!(
            "  {feature}: {unseen} values outside the vocabulary (out-of-vocabulary bucket)\n"
        ));
    }
    text
}

//! `mlspec data …`: the data engine's commands. `data profile FILE` profiles CSV, Parquet or
//! JSON Lines (plain, gzip or zstd) in one pass and writes a DataProfile document.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_data::drift::{FeatureDrift, Shift, Thresholds, compare, schema_anomalies};
use mlspec_data::profile::{OutlierRules, ProfileOptions, Profiler, profile};
use mlspec_data::validate::Validator;
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::{Anomaly, DataProfileSpec, FeatureStats, IssueSeverity, Outcome, ValidationReportSpec};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Name, Ref, Spec, Status};
use mlspec_store::Selector;

use crate::args::{CsvArgs, OutputArgs};
use crate::datasets::content_digest;
use crate::documents::{derived_name, document_name, read_one, write_document};
use crate::output::{Format, TABLE_OR_JSON, formats};
use crate::progress::Progress;
use crate::store::{LazyStore, StoreChoice, block_on, record};

mod sign;
mod split;
mod transform;

/// Profile, validate and compare data.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Profile(ProfileArgs),
    InferSchema(InferArgs),
    Validate(ValidateArgs),
    Drift(DriftArgs),
    Split(split::SplitArgs),
    Sign(sign::SignArgs),
    Verify(sign::VerifyArgs),
    Leakage(split::LeakageArgs),
    Transform(transform::TransformArgs),
}

/// Compare current data with a baseline, per feature: numeric features binned by the
/// baseline's deciles (Jensen–Shannon divergence, the drift statistic; PSI; Kolmogorov–Smirnov),
/// categorical ones by the L-infinity distance of their shares (with new and vanished
/// categories), timestamps by range, every feature by its share of missing values. Each input
/// is a DataProfile document (.yaml/.json, from `data profile`) or a data file, profiled here.
/// Exit 0 when nothing drifted, 1 when a feature did, 2 when an input cannot be read.
#[derive(clap::Args)]
struct DriftArgs {
    /// The baseline: a profile or a data file.
    baseline: PathBuf,
    /// The current data: a profile or a data file.
    current: PathBuf,
    /// The drift threshold (Jensen–Shannon for numeric, L-infinity for categorical features)
    /// where the schema sets none.
    #[arg(long, default_value_t = 0.01)]
    threshold: f64,
    /// The largest change in the share of missing values that is not drift.
    #[arg(long, default_value_t = 0.02)]
    missing_threshold: f64,
    /// A DataSchema whose features' `driftThreshold`s apply.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// How to print the result.
    #[arg(long, value_parser = formats(TABLE_OR_JSON), default_value = "table")]
    format: Format,
    #[command(flatten)]
    csv: CsvArgs,
}

/// Validate a data file against a DataSchema: missing and unexpected columns, type mismatches,
/// too many missing values, numbers outside the domain's range, new categories — each with
/// its feature, severity, count and examples — in a ValidationReport (to --out or standard
/// output) and a summary on standard error. Exit 0 when no anomaly is an error, 1 when one is,
/// 2 when the data or the schema cannot be read.
#[derive(clap::Args)]
struct ValidateArgs {
    /// The data file.
    file: PathBuf,
    /// The DataSchema: a file, or a stored one (`DataSchema/NAME` or an id; a Deprecated schema
    /// warns, an Archived one is refused).
    #[arg(long, value_name = "FILE|REF")]
    schema: PathBuf,
    /// A baseline (a DataProfile document or a data file) to check drift against, with each
    /// feature's `driftThreshold` (or `skewThreshold` with --skew; 0.01 where unset).
    #[arg(long, value_name = "PROFILE|FILE")]
    baseline: Option<PathBuf>,
    /// The baseline is the training data and this file serving data: report skew.
    #[arg(long, requires = "baseline")]
    skew: bool,
    #[command(flatten)]
    record: RecordArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    csv: CsvArgs,
}

/// Write the first version of a DataSchema from a sample of a data file (its first --limit
/// rows), one that the rest of the data meets too: each column's type; presence (required; at
/// least the lower 99.9% confidence bound of the fraction present in the sample); a value set
/// for a string column whose vocabulary looks closed (at most 20 values, each seen at least 10
/// times); numeric ranges only with --numeric-domains; drift and skew thresholds of 0.01 — a
/// document to edit, then to validate data against.
#[derive(clap::Args)]
struct InferArgs {
    /// The data file.
    file: PathBuf,
    /// Rows to read.
    #[arg(long, default_value_t = 10_000)]
    limit: u64,
    /// Give numeric features the sample's min and max as their domain: hard bounds that data
    /// beyond the sample may break (off by default, as in TFDV).
    #[arg(long)]
    numeric_domains: bool,
    /// The schema's name (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    /// The schema's version.
    #[arg(long = "schema-version", default_value = "1")]
    schema_version: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    csv: CsvArgs,
}

/// Profile a CSV, TSV, Parquet or JSON Lines file (optionally .gz or .zst) in one pass (and a
/// counting-only second read when more outliers lie beyond a fence than one pass keeps): per
/// feature count, missing, type; numeric mean, std, min, max, zeros, quantiles (KLL sketch),
/// histogram and outliers (IQR fences and z-scores, with example rows); string distinct values,
/// top values and lengths; booleans; time ranges — overall and per slice. Writes a DataProfile
/// document (YAML or JSON) to --out or standard output and a summary to standard error. Exit 0,
/// or 2 when the input cannot be read.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ProfileArgs {
    #[command(subcommand)]
    merge: Option<ProfileCommand>,
    /// The data file.
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Profile each value of these columns and of their crossings too (repeatable), e.g.
    /// `--slice country,gender`.
    #[arg(long, value_name = "COL[,COL]")]
    slice: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
    /// The profile's name (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Tukey fence multiplier for IQR outliers.
    #[arg(long, default_value_t = 1.5)]
    iqr: f64,
    /// |z| beyond which a value is a z-score outlier.
    #[arg(long, default_value_t = 3.0)]
    zscore: f64,
    /// Read the file once only: outlier counts beyond the 256 kept extremes per side are then
    /// estimated from the quantile sketch (and marked `estimated`) instead of counted in a
    /// second pass.
    #[arg(long)]
    one_pass: bool,
    #[command(flatten)]
    csv: CsvArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    record: RecordArgs,
}

/// Where results go in the store.
#[derive(clap::Args)]
struct RecordArgs {
    /// The dataset (version) the file is, e.g. `Dataset/customers@3`: referenced by the
    /// results, and checked first — a Deprecated one warns, an Archived one is refused.
    #[arg(long, value_name = "REF")]
    dataset: Option<Ref>,
    /// Do not record the result in the store (by default it is, when a store is in use).
    #[arg(long)]
    no_record: bool,
}

#[derive(clap::Subcommand)]
enum ProfileCommand {
    Merge(MergeArgs),
}

/// Merge the profiles of parts of a dataset (shards, in order) into the profile of the whole:
/// counts, moments, extremes, exact value counts and time ranges exactly, quantiles and
/// estimated distinct counts within their sketches' error. Row numbers of the later parts are
/// counted after the earlier ones. The profiles must have the same features.
#[derive(clap::Args)]
struct MergeArgs {
    /// DataProfile documents written by `mlspec data profile`, in row order.
    #[arg(required = true, num_args = 2..)]
    profiles: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    /// The merged profile's name (default: the first profile's).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Profile(args) => block_on(run_profile(args, choice)),
        Command::InferSchema(args) => run_infer(args),
        Command::Validate(args) => block_on(run_validate(args, choice)),
        Command::Drift(args) => run_drift(args),
        Command::Split(args) => block_on(split::run_split(args, choice)),
        Command::Sign(args) => sign::sign(args),
        Command::Verify(args) => sign::verify(args),
        Command::Leakage(args) => split::run_leakage(args),
        Command::Transform(args) => block_on(transform::run(args, choice)),
    }
}

/// The one document of the file at `path`, which must be valid.
fn read_document(path: &Path) -> anyhow::Result<Document> {
    Ok(read_one(&path.display().to_string())?.0)
}

/// A profile: read from a DataProfile document, or made from a data file.
fn load_profile(path: &Path, csv: &CsvArgs) -> anyhow::Result<Profiler> {
    let document_like = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"));
    if document_like {
        let document = read_document(path)?;
        let Spec::DataProfile(spec) = &document.spec else {
            bail!("{} is {}, not a DataProfile", path.display(), document.kind());
        };
        return Ok(Profiler::restore(spec, &path.display().to_string())?);
    }
    let batches = open(path, &csv.read_options())?;
    Ok(profile(batches, &ProfileOptions::default(), |_| {})?)
}

fn run_drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let baseline = load_profile(&args.baseline, &args.csv)?;
    let current = load_profile(&args.current, &args.csv)?;
    let schema = match &args.schema {
        Some(path) => match read_document(path)?.spec {
            Spec::DataSchema(schema) => Some(schema),
            _ => bail!("{} is not a DataSchema", path.display()),
        },
        None => None,
    };
    let defaults = Thresholds {
        distance: args.threshold,
        missing: args.missing_threshold,
    };
    let threshold_of = |name: &str| schema.as_ref().and_then(|s| Shift::Drift.threshold(s, name));
    let drifts = compare(&baseline, &current, defaults, threshold_of);
    let drifted = drifts.iter().filter(|d| d.drifted).count();
    match args.format {
        Format::Json => crate::output::json(&drifts)?,
        _ => out!("{}", drift_table(&args.baseline, &args.current, &drifts)),
    }
    Ok(if drifted > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn drift_table(baseline: &Path, current: &Path, drifts: &[FeatureDrift]) -> String {
    let rows: Vec<Vec<String>> = drifts
        .iter()
        .map(|d| {
            vec![
                d.feature.clone(),
                format!("{} {:.4}", d.statistic, d.distance),
                d.psi.map_or_else(String::new, |v| format!("{v:.4}")),
                d.ks.map_or_else(String::new, |v| format!("{v:.4}")),
                format!("{:.1}% → {:.1}%", d.missing_before * 100.0, d.missing_after * 100.0),
                if d.drifted {
                    format!("DRIFT: {}", d.reasons.join("; "))
                } else {
                    "ok".into()
                },
            ]
        })
        .collect();
    let drifted = drifts.iter().filter(|d| d.drifted).count();
    let mut out = format!("{} against {}\n\n", current.display(), baseline.display());
    out.push_str(&crate::table::render(
        &["FEATURE", "DISTANCE", "PSI", "KS", "MISSING", "VERDICT"],
        &rows,
    ));
    out.push_str(&format!("\n{drifted} of {} features drifted\n", drifts.len()));
    out
}

/// The schema document: from its file, or from the store (checking its status).
async fn load_schema(path: &Path, store: &mut LazyStore<'_>) -> anyhow::Result<(Document, bool)> {
    if path.exists() {
        return Ok((read_document(path)?, true));
    }
    let text = path.display().to_string();
    let reference: Ref = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{text} is neither a file nor a stored DataSchema: {e}"))?;
    let stored = store.get().await?.get(&Selector::from(&reference)).await?;
    usable(
        &text,
        stored.summary.status,
        "an Archived schema cannot be validated against",
    )?;
    Ok((stored.document, false))
}

async fn run_validate(args: ValidateArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    check_dataset(&mut store, &args.record).await?;
    let (schema_document, from_file) = load_schema(&args.schema, &mut store).await?;
    let Spec::DataSchema(schema) = &schema_document.spec else {
        bail!(
            "{} is {}, not a DataSchema",
            args.schema.display(),
            schema_document.kind()
        );
    };
    let baseline = args
        .baseline
        .as_deref()
        .map(|p| load_profile(p, &args.csv))
        .transpose()?;
    let batches = open(&args.file, &args.csv.read_options())?;
    let mut validator = Validator::new(&batches.schema(), schema);
    let mut current = Profiler::new(&batches.schema(), &[])?;
    for batch in batches {
        let batch = batch?;
        validator.add(&batch)?;
        if baseline.is_some() {
            let first_row = current.rows();
            current.add(&batch, first_row)?;
        }
    }
    let mut anomalies = validator.anomalies();
    if let Some(baseline) = &baseline {
        let shift = if args.skew { Shift::Skew } else { Shift::Drift };
        anomalies.extend(schema_anomalies(baseline, &current, schema, shift));
    }
    let failed = anomalies.iter().any(|a| a.severity == IssueSeverity::Error);
    err!("{}", anomaly_summary(&args.file, validator.rows(), &anomalies));
    let report = ValidationReportSpec {
        dataset: match &args.record.dataset {
            Some(dataset) => dataset.clone(),
            None => Ref::named(Kind::Dataset, derived_name(&args.file, "data")?),
        },
        schema: Ref::named(Kind::DataSchema, schema_document.metadata.name.clone()),
        baseline: match &args.baseline {
            Some(path) => Some(Ref::named(Kind::DataProfile, derived_name(path, "profile")?)),
            None => None,
        },
        checked_at: crate::env::document_time(),
        rows: validator.rows(),
        anomalies,
        result: if failed { Outcome::Failed } else { Outcome::Passed },
    };
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(derived_name(&args.file, "validation")?),
        spec: Spec::ValidationReport(report),
    };
    write_document(&document, &args.output)?;
    if !args.record.no_record {
        if args.record.dataset.is_none() {
            errln!("note: the report was not recorded; pass --dataset REF to record it with the dataset it checked");
        } else {
            let mut documents = Vec::new();
            if from_file {
                documents.push(schema_document.clone());
            }
            documents.push(document);
            record(&mut store, documents).await?;
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn anomaly_summary(file: &Path, rows: u64, anomalies: &[Anomaly]) -> String {
    let rows_table: Vec<Vec<String>> = anomalies
        .iter()
        .map(|a| {
            vec![
                a.feature.as_ref().map_or_else(String::new, ToString::to_string),
                format!("{:?}", a.kind),
                format!("{:?}", a.severity).to_lowercase(),
                a.count.map_or_else(String::new, |c| c.to_string()),
                a.description.to_string(),
            ]
        })
        .collect();
    let verdict = if anomalies.iter().any(|a| a.severity == IssueSeverity::Error) {
        "FAILED"
    } else {
        "passed"
    };
    let mut out = format!(
        "{}: {rows} rows, {} anomalies: {verdict}\n",
        file.display(),
        anomalies.len()
    );
    if !rows_table.is_empty() {
        out.push_str(&crate::table::render(
            &["FEATURE", "ANOMALY", "SEVERITY", "COUNT", "DESCRIPTION"],
            &rows_table,
        ));
    }
    out
}

fn run_infer(args: InferArgs) -> anyhow::Result<ExitCode> {
    let batches = open(&args.file, &args.csv.read_options())?;
    let version = mlspec_spec::Version::new(args.schema_version.as_str())?;
    let inference = mlspec_data::schema::Inference {
        numeric_domains: args.numeric_domains,
    };
    let spec = mlspec_data::schema::infer_from(batches, args.limit.max(1), version, inference)?;
    let name = document_name(args.name.as_deref(), &args.file, "schema")?;
    errln!(
        "{}: a schema of {} features from the first {} rows; edit it before validating against it",
        args.file.display(),
        spec.features.len(),
        args.limit
    );
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::DataSchema(spec),
    };
    write_document(&document, &args.output)?;
    Ok(ExitCode::SUCCESS)
}

async fn run_profile(args: ProfileArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    if let Some(ProfileCommand::Merge(merge)) = args.merge {
        return run_merge(merge);
    }
    let file = args.file.clone().context("name the data file to profile")?;
    let mut store = LazyStore::new(choice);
    check_dataset(&mut store, &args.record).await?;
    let read = args.csv.read_options();
    let mut options = ProfileOptions {
        outliers: OutlierRules {
            iqr: args.iqr,
            zscore: args.zscore,
        },
        slices: args
            .slice
            .iter()
            .map(|s| s.split(',').map(|c| c.trim().to_owned()).collect())
            .collect(),
        ..ProfileOptions::default()
    };
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    let batches = open(&file, &read)?;
    let mut progress = Progress::new(batches.size(), args.quiet);
    // The content digest is computed beside the profile, in one more thread.
    let (profiled, digest) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| content_digest(&file));
        let profiled = profile(batches, &options, |bytes| progress.update(bytes));
        (profiled, digest.join())
    });
    let mut profiler = profiled?;
    progress.finish();
    if !args.one_pass && profiler.needs_outlier_pass(options.outliers) {
        // The second read warns about nothing the first did not.
        let only = ReadOptions {
            only_columns: Some(profiler.outlier_pass_columns(options.outliers)),
            warn: None,
            ..read
        };
        let batches = open(&file, &only)?;
        let mut progress = Progress::new(batches.size(), args.quiet);
        profiler.count_outliers(batches, options.outliers, options.threads, |bytes| {
            progress.update(bytes)
        })?;
        progress.finish();
    }
    let mut spec = profiler.spec(options.outliers);
    spec.digest = digest.map_err(|_| anyhow::anyhow!("the digest thread failed"))??.into();
    spec.dataset = args.record.dataset.clone();
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(document_name(args.name.as_deref(), &file, "profile")?),
        spec: Spec::DataProfile(spec),
    };
    write_document(&document, &args.output)?;
    if let Spec::DataProfile(spec) = &document.spec {
        err!("{}", summary(&file.display().to_string(), spec));
    }
    if !args.record.no_record {
        record(&mut store, vec![document]).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the `--dataset` reference in the store, when one is given and a store is in use: a
/// Deprecated dataset (or version) warns, an Archived one is refused before any data is read.
async fn check_dataset(store: &mut LazyStore<'_>, args: &RecordArgs) -> anyhow::Result<()> {
    let Some(dataset) = &args.dataset else { return Ok(()) };
    let Some(store) = store.for_recording().await? else {
        return Ok(());
    };
    let found = store.get(&Selector::from(dataset)).await?;
    let status = found.version.as_ref().map_or(found.summary.status, |v| v.status);
    usable(
        dataset,
        status,
        "data marked Archived cannot be profiled or validated (reactivate it, or use an active version)",
    )
}

/// The rule for a stored input: a Deprecated one warns, an Archived one is refused (`why`).
fn usable(input: &dyn std::fmt::Display, status: Status, why: &str) -> anyhow::Result<()> {
    match status {
        Status::Archived => bail!("{input} is archived; {why}"),
        Status::Deprecated => errln!("warning: {input} is deprecated"),
        Status::Active => {}
    }
    Ok(())
}

fn run_merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut merged: Option<(Name, Profiler)> = None;
    for path in &args.profiles {
        let shown = path.display().to_string();
        let document = read_document(path)?;
        let Spec::DataProfile(spec) = &document.spec else {
            bail!("{shown} is {}, not a DataProfile", document.kind());
        };
        let part =
            Profiler::restore(spec, &shown).map_err(|e| anyhow::anyhow!("{e}; profile it again with this mlspec"))?;
        match &mut merged {
            None => merged = Some((document.metadata.name.clone(), part)),
            Some((_, total)) => total.append(part, &shown)?,
        }
    }
    let (first_name, total) = merged.context("give at least two profiles")?;
    let name = match &args.name {
        Some(name) => Name::new(name.as_str())?,
        None => first_name,
    };
    let spec = total.spec(OutlierRules::default());
    err!(
        "{}",
        summary(&format!("{} profiles merged", args.profiles.len()), &spec)
    );
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::DataProfile(spec),
    };
    write_document(&document, &args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// A readable summary: rows, then one line per feature.
fn summary(what: &str, spec: &DataProfileSpec) -> String {
    let rows: Vec<Vec<String>> = spec.features.iter().map(feature_row).collect();
    let mut out = format!(
        "{what}: {} rows, {} features, {} slices\n",
        spec.rows,
        spec.features.len(),
        spec.slices.len()
    );
    out.push_str(&crate::table::render(&["FEATURE", "TYPE", "MISSING", "SUMMARY"], &rows));
    out
}

fn feature_row(f: &FeatureStats) -> Vec<String> {
    let total = f.count + f.missing;
    let missing = if total == 0 {
        0.0
    } else {
        100.0 * f.missing as f64 / total as f64
    };
    let described = if let Some(n) = &f.numeric {
        let outliers: Vec<String> = n
            .outliers
            .iter()
            .map(|o| format!("{}{} {}", if o.estimated { "≈" } else { "" }, o.count, o.method))
            .collect();
        format!(
            "mean {:.4} std {:.4} min {} max {}; outliers {}",
            n.mean,
            n.std_dev,
            n.min,
            n.max,
            outliers.join(", ")
        )
    } else if let Some(s) = &f.string {
        let top: Vec<String> = s
            .top_values
            .iter()
            .take(3)
            .map(|v| format!("{} ({})", v.value, v.count))
            .collect();
        let about = if s.distinct_estimated { "≈" } else { "" };
        let top = if !top.is_empty() {
            format!("top {}", top.join(", "))
        } else if s.distinct_estimated {
            "no value is frequent enough to list".to_owned()
        } else {
            "every value is distinct".to_owned()
        };
        format!("{about}{} distinct; {top}", s.distinct)
    } else if let Some(trues) = f.true_count {
        format!("{trues} true")
    } else if let (Some(a), Some(b)) = (f.earliest, f.latest) {
        format!("{} … {}", a.to_rfc3339(), b.to_rfc3339())
    } else {
        String::new()
    };
    let non_finite: Vec<String> = [
        (f.nan_count, "NaN"),
        (f.positive_infinity_count, "+inf"),
        (f.negative_infinity_count, "-inf"),
    ]
    .iter()
    .filter_map(|(n, what)| n.map(|n| format!("{n} {what}")))
    .collect();
    let described = match (non_finite.is_empty(), described.is_empty()) {
        (true, _) => described,
        (false, true) => non_finite.join(", "),
        (false, false) => format!("{described}; {}", non_finite.join(", ")),
    };
    vec![
        f.name.to_string(),
        format!("{:?}", f.feature_type).to_lowercase(),
        format!("{missing:.1}%"),
        described,
    ]
}

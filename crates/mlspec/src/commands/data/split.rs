//! `mlspec data split` and `mlspec data leakage`: deterministic splits written to one file per
//! part with a Split document, and the leakage check between any datasets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_data::leakage::{LeakageOptions, LeakageReport, compare, hash_file};
use mlspec_data::profile::OutlierRules;
use mlspec_data::rowhash::Normalization;
use mlspec_data::split::{Method, NullKeys, SplitOptions, parts, role_name, split};
use mlspec_spec::kinds::{SplitMethod, SplitPart, SplitRole, SplitSpec};
use mlspec_spec::newtypes::Key;
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Ref, Spec};

use super::{RecordArgs, check_dataset};
use crate::args::{CsvArgs, OutputArgs};
use crate::datasets::{NewVersion, content_digest, dataset_version, local_data};
use crate::documents::{derived_name, document_name, file_stem, write_document};
use crate::output::{Format, TABLE_OR_JSON, formats};
use crate::progress::Progress;
use crate::store::{LazyStore, StoreChoice, record};

/// Split a data file deterministically into parts — by a stable hash of key columns (the same
/// key always lands in the same part), by a seeded random draw, or by time — writing one file
/// per part (in the input's format) and a Split document (to --out or standard output) with
/// each part's rows, content digest and profile, and a leakage check of the parts against each
/// other. `--holdback` and `--debug` are carved out of the whole first; `--ratios` share the
/// rest. Exit 0; 1 when the parts share rows or keys (e.g. duplicate rows split apart);
/// 2 on bad input.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("method").required(true).args(["by", "seed", "time"]))]
pub(super) struct SplitArgs {
    /// The data file.
    file: PathBuf,
    /// The parts and their shares of what holdback and debug leave, summing to 1.
    #[arg(long, value_name = "ROLE=R,…", default_value = "train=0.8,validation=0.1,test=0.1", value_parser = ratios)]
    ratios: Ratios,
    /// The share of the whole held back for the final test stage.
    #[arg(long, default_value_t = 0.0)]
    holdback: f64,
    /// The share of the whole kept as a small debugging sample.
    #[arg(long, default_value_t = 0.0)]
    debug: f64,
    /// Split by a stable hash of these key columns.
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    by: Vec<String>,
    /// Split by a seeded pseudo-random draw per row.
    #[arg(long)]
    seed: Option<u64>,
    /// Split by this time column: earlier rows to earlier parts.
    #[arg(long, value_name = "COL")]
    time: Option<String>,
    /// Keys with a null: refuse them (default), or keep them all together in one part.
    #[arg(long, value_enum, default_value = "refuse", requires = "by")]
    null_keys: NullKeysArg,
    /// Columns left out when rows are compared for leakage (e.g. a row id).
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    ignore: Vec<String>,
    /// Where the parts are written (default: `<stem>-split` beside the input).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// The Split document's name (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    csv: CsvArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum NullKeysArg {
    Refuse,
    Together,
}

/// `--ratios`, parsed.
#[derive(Clone, Debug)]
struct Ratios(Vec<(SplitRole, f64)>);

fn ratios(text: &str) -> Result<Ratios, String> {
    text.split(',')
        .map(|pair| {
            let (role, ratio) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not ROLE=RATIO"))?;
            let role = match role.trim() {
                "train" => SplitRole::Train,
                "validation" => SplitRole::Validation,
                "test" => SplitRole::Test,
                "holdback" => SplitRole::Holdback,
                "debug" => SplitRole::Debug,
                other => return Err(format!("`{other}` is not a role (train, validation, test)")),
            };
            let ratio: f64 = ratio.trim().parse().map_err(|_| format!("`{ratio}` is not a number"))?;
            Ok((role, ratio))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Ratios)
}

/// Find rows shared between datasets — exact duplicates (compared by a canonical row hash,
/// independent of column order and number formatting), shared keys (--key), and, with
/// --near, rows equal after normalisation — with counts, overlap fractions, example rows and a
/// proof per input (the number of distinct row hashes and the SHA-256 of their sorted list)
/// that can be recomputed later. Exit 0 when the inputs are disjoint, 1 when something is
/// shared, 2 on bad input.
#[derive(clap::Args)]
pub(super) struct LeakageArgs {
    /// Two or more data files (e.g. the parts of a split).
    #[arg(required = true, num_args = 2..)]
    files: Vec<PathBuf>,
    /// Key columns: a key in two inputs is leakage (e.g. one user in train and test).
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    key: Vec<String>,
    /// Columns left out when rows are compared (e.g. a row id).
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    ignore: Vec<String>,
    /// Also find near-duplicates: rows equal after this normalisation (`case`, `whitespace`,
    /// or both, comma-separated).
    #[arg(long, value_name = "case,whitespace", value_delimiter = ',')]
    near: Vec<NearArg>,
    /// For near-duplicates, round floats to this many decimals.
    #[arg(long, value_name = "DECIMALS")]
    round: Option<u32>,
    /// How to print the report.
    #[arg(long, value_parser = formats(TABLE_OR_JSON), default_value = "table")]
    format: Format,
    #[command(flatten)]
    csv: CsvArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum NearArg {
    Case,
    Whitespace,
}

pub(super) async fn run_split(args: SplitArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    check_dataset(&mut store, &args.record).await?;
    let parts = parts(&args.ratios.0, args.holdback, args.debug)?;
    let method = if let Some(seed) = args.seed {
        Method::Random { seed }
    } else if let Some(column) = &args.time {
        Method::Time { column: column.clone() }
    } else {
        Method::Hash {
            keys: args.by.clone(),
            nulls: match args.null_keys {
                NullKeysArg::Refuse => NullKeys::Refuse,
                NullKeysArg::Together => NullKeys::Together,
            },
        }
    };
    let stem = file_stem(&args.file);
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| args.file.with_file_name(format!("{stem}-split")));
    let options = SplitOptions {
        method,
        parts,
        out_dir,
        stem: stem.clone(),
        ignore: args.ignore.clone(),
    };
    let read = args.csv.read_options();
    let size = std::fs::metadata(&args.file).map_or(0, |m| m.len());
    let mut progress = Progress::new(size, args.quiet);
    let outcome = split(&args.file, &read, &options, |bytes| progress.update(bytes))?;
    progress.finish();

    let name = document_name(args.name.as_deref(), &args.file, "split")?;
    let mut profiles = Vec::new();
    let mut split_parts = Vec::new();
    for part in &outcome.parts {
        let profile_name = derived_name(&part.path, "profile")?;
        let mut profile = part.profile.spec(OutlierRules::default());
        profile.digest = Some(content_digest(&part.path)?);
        split_parts.push(SplitPart {
            role: part.role,
            fraction: part.fraction,
            rows: Some(part.rows),
            digest: profile.digest.clone(),
            output: None,
            profile: Some(Ref::named(Kind::DataProfile, profile_name.clone())),
        });
        let profile = Document {
            api_version: ApiVersion::V1,
            metadata: Metadata::named(profile_name),
            spec: Spec::DataProfile(profile),
        };
        // Beside its part, so that it is kept without a store too.
        let beside = OutputArgs {
            out: Some(part.path.with_extension("profile.yaml")),
            format: Format::Yaml,
        };
        write_document(&profile, &beside)?;
        profiles.push(profile);
    }
    let input = match &args.record.dataset {
        Some(dataset) => dataset.clone(),
        None => Ref::named(Kind::Dataset, derived_name(&args.file, "data")?),
    };
    // Recorded, each part is a version of its own Dataset (`<input dataset>-<role>`).
    let recording = !args.record.no_record && args.record.dataset.is_some();
    let mut datasets = Vec::new();
    if recording && let Some(store) = store.for_recording().await? {
        for (part, entry) in outcome.parts.iter().zip(split_parts.iter_mut()) {
            let name = mlspec_spec::Name::new(format!("{}-{}", dataset_stem(&input), role_name(part.role)))?;
            let version = NewVersion {
                definition: local_data(&part.path)?,
                digest: entry.digest.clone(),
                rows: Some(part.rows),
                bytes: std::fs::metadata(&part.path).ok().map(|m| m.len()),
                profile: None,
            };
            let (document, reference) = dataset_version(store, name, version).await?;
            datasets.extend(document);
            entry.output = Some(reference);
        }
    }
    let spec = SplitSpec {
        input,
        method: match &options.method {
            Method::Hash { .. } => SplitMethod::Hash,
            Method::Random { .. } => SplitMethod::Random,
            Method::Time { .. } => SplitMethod::Time,
        },
        keys: args.by.iter().map(|k| Key::new(k.as_str())).collect::<Result<_, _>>()?,
        seed: args.seed,
        time_column: args.time.as_deref().map(Key::new).transpose()?,
        rows: Some(outcome.rows),
        splits: split_parts,
        leakage: Some(outcome.leakage.check()?),
    };
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::Split(spec),
    };
    write_document(&document, &args.output)?;
    err!("{}", split_summary(&outcome));
    err!("{}", leakage_summary(&outcome.leakage));
    if !args.record.no_record {
        if recording {
            profiles.extend(datasets);
            profiles.push(document);
            record(&mut store, profiles).await?;
        } else if store.for_recording().await?.is_some() {
            errln!("note: not recorded: name the input's Dataset with --dataset to record the split");
        }
    }
    Ok(if outcome.leakage.leaked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The name parts' Datasets are named after: the input Dataset's.
fn dataset_stem(input: &Ref) -> String {
    match &input.target {
        mlspec_spec::RefTarget::Named { name, .. } => name.to_string(),
        mlspec_spec::RefTarget::Id(id) => id.to_string(),
    }
}

fn split_summary(outcome: &mlspec_data::split::Split) -> String {
    let mut out = format!("{} rows split into {} parts\n", outcome.rows, outcome.parts.len());
    out.push_str(&format!(
        "{:<12} {:>10} {:>9} {:>9}  FILE\n",
        "PART", "ROWS", "ASKED", "GOT"
    ));
    for part in &outcome.parts {
        let got = if outcome.rows == 0 {
            0.0
        } else {
            part.rows as f64 / outcome.rows as f64
        };
        out.push_str(&format!(
            "{:<12} {:>10} {:>8.2}% {:>8.2}%  {}\n",
            role_name(part.role),
            part.rows,
            part.fraction * 100.0,
            got * 100.0,
            part.path.display()
        ));
    }
    out
}

/// The leakage report as a table: one line per pair.
fn leakage_summary(report: &LeakageReport) -> String {
    let mut out = String::new();
    for pair in &report.pairs {
        let mut found = Vec::new();
        let mut describe = |what: &str, overlap: &mlspec_data::leakage::Overlap| {
            if overlap.distinct > 0 {
                let rows: Vec<String> = overlap.examples.iter().map(|(a, b)| format!("{a}↔{b}")).collect();
                found.push(format!(
                    "{what}: {} (in {} rows of the first, {:.2}%, and {} of the second, {:.2}%; e.g. rows {})",
                    overlap.distinct,
                    overlap.rows_a,
                    overlap.fraction_a * 100.0,
                    overlap.rows_b,
                    overlap.fraction_b * 100.0,
                    rows.join(", ")
                ));
            }
        };
        describe("shared rows", &pair.rows);
        if let Some(keys) = &pair.keys {
            describe("shared keys", keys);
        }
        if let Some(near) = &pair.near_duplicates {
            describe("near-duplicates", near);
        }
        let verdict = if found.is_empty() {
            "disjoint".to_owned()
        } else {
            found.join("; ")
        };
        out.push_str(&format!("{} × {}: {verdict}\n", pair.a, pair.b));
    }
    out.push_str(if report.leaked {
        "leakage found\n"
    } else {
        "no leakage\n"
    });
    out
}

pub(super) fn run_leakage(args: LeakageArgs) -> anyhow::Result<ExitCode> {
    let near = (!args.near.is_empty() || args.round.is_some()).then_some(Normalization {
        case: args.near.contains(&NearArg::Case),
        whitespace: args.near.contains(&NearArg::Whitespace),
        decimals: args.round,
    });
    let options = LeakageOptions {
        keys: args.key.clone(),
        ignore: args.ignore.clone(),
        near,
    };
    let read = args.csv.read_options();
    // Each file is hashed on its own thread.
    let hashed = std::thread::scope(|scope| {
        let workers: Vec<_> = args
            .files
            .iter()
            .map(|file| scope.spawn(|| hash_file(file, &read, &options)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a hashing thread failed"))?
                    .map_err(anyhow::Error::from)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let columns = row_columns(&args.files, &read, &options)?;
    let report = compare(hashed, columns, args.key.clone());
    match args.format {
        Format::Json => crate::output::json(&report).context("cannot print the report")?,
        _ => out!("{}", leakage_summary(&report)),
    }
    Ok(if report.leaked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The columns rows are compared by (the first file's; every file must have them).
fn row_columns(
    files: &[PathBuf],
    read: &mlspec_data::ReadOptions,
    options: &LeakageOptions,
) -> anyhow::Result<Vec<String>> {
    let mut columns: Option<Vec<String>> = None;
    for file in files {
        let names = mlspec_data::leakage::row_columns(file, read, &options.ignore)?;
        match &columns {
            None => columns = Some(names),
            Some(first) if *first != names => bail!(
                "{} has the columns {}, not {} as the first file: rows of different columns cannot be compared",
                file.display(),
                names.join(", "),
                first.join(", ")
            ),
            Some(_) => {}
        }
    }
    Ok(columns.unwrap_or_default())
}

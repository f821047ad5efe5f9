//! `mlspec ingest`: stage 2 as a tool. A source — files or a glob, a PostgreSQL or SQLite query,
//! or a command's output — becomes a snapshot of Parquet shards in a directory, with a shard
//! manifest (row counts, SHA-256; optionally signed), a DataProfile merged from the shards'
//! profiles, an Ingestion document and, with `--dataset`, a new Dataset version.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_attest::digest::{Entry, FileDigest, Manifest};
use mlspec_attest::keys::SigningKey;
use mlspec_data::ingest::sql::{self, redacted};
use mlspec_data::ingest::{Sharding, Written, partial_dir, write_shards};
use mlspec_data::profile::OutlierRules;
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::{
    Connector, DataProfileSpec, DatastoreSpec, DatastoreType, IngestionSource, IngestionSpec, Labelling, Shard,
    Snapshot, SyntheticGeneration,
};
use mlspec_spec::newtypes::{Key, RelativePath, ShortText, Text};
use mlspec_spec::values::{DataPath, ParamValue, Params};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Name, Ref, Spec};

use crate::args::{CsvArgs, OutputArgs};
use crate::datasets::{NewVersion, dataset_version, local_data, shard_manifest, write_envelope};
use crate::documents::write_document;
use crate::progress::Progress;
use crate::store::{LazyStore, StoreChoice, block_on, record};

/// Ingest a source into a snapshot: Parquet shards in --out (dealt by rows, bytes or a column's
/// values), `<out>.manifest.json` (each shard's id, size, rows and SHA-256, and the snapshot
/// digest), with --sign `<out>.dsse.json` (the `data sign` envelope), and an Ingestion document
/// (to --document or standard output) with the DataProfile of the whole snapshot; recorded in
/// the store with a new version of --dataset. SOURCE is a file or a glob (CSV/TSV, Parquet,
/// JSON Lines, plain, gzip or zstd), `postgres://…` or `sqlite:PATH` with --query or --table,
/// or nothing with --from-command. Secrets in a connection string are never written anywhere.
/// Exit 0, or 2 when the source cannot be read (nothing is left that looks complete).
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("sharding").args(["shard_rows", "shard_bytes", "shard_by"]))]
pub struct Args {
    /// A file or glob, `postgres://USER@HOST/DB` or `sqlite:PATH` (none with --from-command).
    #[arg(required_unless_present = "from_command")]
    source: Option<String>,
    /// The snapshot's directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A new shard every N rows (the default: 1,000,000).
    #[arg(long, value_name = "N")]
    shard_rows: Option<u64>,
    /// A new shard once a shard holds B bytes (suffixes k, M, G: 64M).
    #[arg(long, value_name = "B", value_parser = byte_size)]
    shard_bytes: Option<u64>,
    /// One shard per value of this column.
    #[arg(long, value_name = "COL")]
    shard_by: Option<String>,
    /// The query to run (SQL sources).
    #[arg(long, value_name = "SQL", conflicts_with = "table")]
    query: Option<String>,
    /// The table to read whole (SQL sources).
    #[arg(long, value_name = "TABLE")]
    table: Option<String>,
    /// Read the standard output (CSV or JSON Lines) of the command after `--`: a generator or
    /// simulator of synthetic data, run with MLSPEC_SEED and MLSPEC_PARAM_<KEY> set.
    #[arg(long, requires = "command")]
    from_command: bool,
    /// The seed passed to the command (MLSPEC_SEED) and recorded.
    #[arg(long, requires = "from_command")]
    seed: Option<u64>,
    /// A parameter passed to the command (MLSPEC_PARAM_<KEY>) and recorded.
    #[arg(long = "param", value_name = "KEY=VALUE", requires = "from_command", value_parser = key_value)]
    params: Vec<(String, String)>,
    /// The command, after `--`.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
    /// The Dataset the snapshot becomes a new version of (recorded in the store).
    #[arg(long, value_name = "NAME")]
    dataset: Option<Name>,
    /// Sign the shard manifest with this private key (PKCS#8 PEM).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    /// A labels file whose labelling is recorded (with --labeller).
    #[arg(long, value_name = "FILE", requires = "labeller")]
    labels: Option<PathBuf>,
    /// Who or what labelled the data.
    #[arg(long, value_name = "NAME", requires = "labels")]
    labeller: Option<String>,
    /// The Ingestion document's name (default: from --dataset or the output directory).
    #[arg(long)]
    name: Option<String>,
    /// Write the Ingestion document here instead of standard output.
    #[arg(long, value_name = "PATH")]
    document: Option<PathBuf>,
    #[command(flatten)]
    csv: CsvArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Do not record the result in the store (by default it is, when a store is in use).
    #[arg(long)]
    no_record: bool,
}

fn byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size like 64M"))?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(format!("`{unit}` is not a size unit (k, M, G)")),
    };
    number
        .checked_mul(scale)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size like 64M"))
}

fn key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    let key = key.trim();
    // The key names an environment variable (MLSPEC_PARAM_<KEY>) and a recorded parameter.
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{key}`: a parameter name is letters, digits and `_`"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Where the rows come from.
enum Source {
    Files(Vec<PathBuf>),
    Database { url: String, query: String },
    Command,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let source = source_of(&args)?;
    let sharding = match (&args.shard_rows, &args.shard_bytes, &args.shard_by) {
        (_, Some(bytes), _) => Sharding::Bytes(*bytes),
        (_, _, Some(column)) => Sharding::By(column.clone()),
        (rows, _, _) => Sharding::Rows(rows.unwrap_or(1_000_000)),
    };
    let key = args.sign.as_deref().map(SigningKey::read).transpose()?;
    let partial = prepare_output(&args.out)?;
    let started = chrono::Utc::now();
    let written = match read_into(&args, &source, &sharding, &partial) {
        Ok(written) => written,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(error.context("nothing was ingested (the unfinished shards were removed)"));
        }
    };
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("cannot move the finished snapshot to {}", args.out.display()))?;
    let finished = chrono::Utc::now();

    let manifest = manifest_of(&written);
    let paths: Vec<PathBuf> = manifest.entries.iter().map(|e| args.out.join(&e.path)).collect();
    let manifest_file = beside(&args.out, "manifest.json");
    let listing = serde_json::to_string_pretty(&shard_manifest(&manifest, &paths))? + "\n";
    crate::files::write_whole(&manifest_file, listing.as_bytes(), None)?;
    if let Some(key) = &key {
        write_envelope(&manifest, &paths, key, &beside(&args.out, "dsse.json"))?;
    }
    let snapshot = Snapshot {
        digest: manifest.digest(),
        rows: written.rows,
        bytes: manifest.bytes(),
        shards: shards(&args.out, &manifest, &written)?,
        signed: key.is_some(),
    };
    let name = ingestion_name(&args)?;
    let mut profile: DataProfileSpec = written.profile()?.spec(OutlierRules::default());
    profile.digest = Some(snapshot.digest.clone());
    let profile = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new(format!("{name}-profile"))?),
        spec: Spec::DataProfile(profile),
    };
    let (mut ingestion_source, datastore) = ingestion_source(&args, &source)?;
    let labelling = labelling(&args, &mut ingestion_source)?;
    let spec = IngestionSpec {
        source: ingestion_source,
        dataset: None,
        snapshot,
        run: None,
        started_at: started,
        finished_at: Some(finished),
        labelling,
        synthetic: synthetic(&args)?,
    };
    errln!(
        "{}: {} rows in {} shards, {} bytes, snapshot {}",
        args.out.display(),
        spec.snapshot.rows,
        spec.snapshot.shards.len(),
        spec.snapshot.bytes,
        spec.snapshot.digest
    );
    block_on(finish(args, choice, name, spec, profile, datastore))
}

/// Records the documents (and the Dataset version) and writes the Ingestion document.
async fn finish(
    args: Args,
    choice: &StoreChoice,
    name: Name,
    mut spec: IngestionSpec,
    profile: Document,
    datastore: Option<Document>,
) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    let mut documents: Vec<Document> = datastore.into_iter().collect();
    documents.push(profile.clone());
    let recording = if args.no_record {
        None
    } else {
        store.for_recording().await?
    };
    if let (Some(store), Some(dataset)) = (recording, &args.dataset) {
        let version = NewVersion {
            definition: local_data(&args.out)?,
            digest: Some(spec.snapshot.digest.clone()),
            rows: Some(spec.snapshot.rows),
            bytes: Some(spec.snapshot.bytes),
            profile: Some(Ref::named(Kind::DataProfile, profile.metadata.name.clone())),
        };
        let (document, reference) = dataset_version(store, dataset.clone(), version).await?;
        documents.extend(document);
        spec.dataset = Some(reference);
    }
    let ingestion = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::Ingestion(spec),
    };
    let output = OutputArgs {
        out: args.document.clone(),
        format: crate::output::Format::Yaml,
    };
    write_document(&ingestion, &output)?;
    documents.push(ingestion);
    if !args.no_record {
        record(&mut store, documents).await?;
    }
    Ok(ExitCode::SUCCESS)
}

fn source_of(args: &Args) -> anyhow::Result<Source> {
    if args.from_command {
        if args.source.is_some() {
            bail!("give either a SOURCE or --from-command, not both");
        }
        return Ok(Source::Command);
    }
    let source = args.source.clone().unwrap_or_default();
    let database = ["postgres://", "postgresql://", "sqlite:", "odbc:"];
    if database.iter().any(|prefix| source.starts_with(prefix)) {
        let query = match (&args.query, &args.table) {
            (Some(query), _) => query.clone(),
            (None, Some(table)) => format!("SELECT * FROM {}", quoted_table(table)?),
            (None, None) => bail!(
                "{}: name what to read with --query 'select …' or --table T",
                redacted(&source)
            ),
        };
        return Ok(Source::Database { url: source, query });
    }
    if args.query.is_some() || args.table.is_some() {
        bail!("--query and --table read a database: give a postgres:// or sqlite: SOURCE");
    }
    Ok(Source::Files(matching_files(&source)?))
}

/// `schema.table` or `table`, each part quoted as an identifier.
fn quoted_table(table: &str) -> anyhow::Result<String> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        bail!("`{table}` is not a table name (TABLE or SCHEMA.TABLE)");
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join("."))
}

/// The files a path or glob names, sorted.
fn matching_files(pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
    if !pattern.contains(['*', '?', '[']) {
        let path = PathBuf::from(pattern);
        if !path.is_file() {
            bail!("{pattern}: no such file (give a file, a glob like 'data/*.csv', or a postgres:// or sqlite: URL)");
        }
        return Ok(vec![path]);
    }
    let mut files: Vec<PathBuf> = glob::glob(pattern)
        .with_context(|| format!("`{pattern}` is not a glob"))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{pattern}: no file matches");
    }
    Ok(files)
}

/// Makes `OUT.partial` (empty) for the shards, after checking that OUT is free.
fn prepare_output(out: &Path) -> anyhow::Result<PathBuf> {
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            bail!(
                "{} already exists: give a new directory for the snapshot",
                out.display()
            );
        }
        std::fs::remove_dir(out).with_context(|| format!("cannot replace the empty directory {}", out.display()))?;
    }
    let partial = partial_dir(out);
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove the unfinished snapshot {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    Ok(partial)
}

fn beside(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{suffix}"));
    out.with_file_name(name)
}

/// Reads the source into shards in `dir`.
fn read_into(args: &Args, source: &Source, sharding: &Sharding, dir: &Path) -> anyhow::Result<Written> {
    let mut progress = Progress::new(0, args.quiet);
    let written = match source {
        Source::Files(files) => {
            let read = args.csv.read_options();
            let first = open(&files[0], &read)?;
            let schema = first.schema();
            let first_schema = schema.clone();
            let rest = files[1..]
                .iter()
                .map(move |path| same_columns(path, &read, &first_schema));
            let batches = first.chain(rest.flat_map(|opened| match opened {
                Ok(batches) => Box::new(batches) as Box<dyn Iterator<Item = _>>,
                Err(e) => Box::new(std::iter::once(Err(e))),
            }));
            write_shards(batches, schema, dir, sharding, |rows| progress.update(rows))?
        }
        Source::Database { url, query } => {
            let batches = sql::query(url, query)?;
            let schema = batches.schema();
            write_shards(batches, schema, dir, sharding, |rows| progress.update(rows))?
        }
        Source::Command => {
            let output = run_command(args, dir)?;
            let mut read = args.csv.read_options();
            read.format = Some(sniff_format(&output)?);
            let batches = open(&output, &read)?;
            let schema = batches.schema();
            let written = write_shards(batches, schema, dir, sharding, |rows| progress.update(rows));
            std::fs::remove_file(&output).ok();
            written?
        }
    };
    progress.finish();
    Ok(written)
}

/// A further file of a glob, refused when its columns differ from the first file's.
fn same_columns(
    path: &Path,
    read: &ReadOptions,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<mlspec_data::read::Batches, mlspec_data::error::DataError> {
    let batches = open(path, read)?;
    if batches.schema().fields() != schema.fields() {
        return Err(mlspec_data::error::DataError::new(
            mlspec_data::error::ErrorKind::InvalidArgument,
            &path.display().to_string(),
            "its columns (names or types) differ from the first file's",
        )
        .with_hint("ingest files with the same columns together, or fix the types with --type"));
    }
    Ok(batches)
}

/// Runs the command with its seed and parameters in the environment; its standard output goes
/// to a file beside the shards (removed once read).
fn run_command(args: &Args, dir: &Path) -> anyhow::Result<PathBuf> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!("--from-command needs the command after `--`");
    };
    let output = dir.with_extension("stdout");
    let file = std::fs::File::create(&output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut command = std::process::Command::new(program);
    command.args(rest).stdout(file).stdin(std::process::Stdio::null());
    if let Some(seed) = args.seed {
        command.env("MLSPEC_SEED", seed.to_string());
    }
    for (key, value) in &args.params {
        command.env(crate::env::param_variable(key), value);
    }
    let status = command.status().with_context(|| format!("cannot run `{program}`"))?;
    if !status.success() {
        std::fs::remove_file(&output).ok();
        bail!("`{}` failed ({status}); nothing was ingested", args.command.join(" "));
    }
    Ok(output)
}

/// JSON Lines when the first non-blank byte opens an object, CSV otherwise.
fn sniff_format(path: &Path) -> anyhow::Result<mlspec_data::read::Format> {
    use std::io::Read as _;
    let mut head = [0u8; 4096];
    let read = std::fs::File::open(path)?.read(&mut head)?;
    let first = head[..read].iter().find(|b| !b.is_ascii_whitespace());
    Ok(match first {
        Some(b'{') => mlspec_data::read::Format::JsonLines,
        _ => mlspec_data::read::Format::Csv,
    })
}

/// The shards' manifest, from the digests taken as they were written (the same as
/// `Manifest::of` the directory computes, without reading the shards again).
fn manifest_of(written: &Written) -> Manifest {
    let mut entries: Vec<Entry> = written
        .shards
        .iter()
        .map(|shard| Entry {
            path: shard.file.clone(),
            digest: FileDigest {
                sha256: shard.sha256.clone(),
                size: shard.bytes,
            },
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Manifest { entries }
}

fn shards(out: &Path, manifest: &Manifest, written: &Written) -> anyhow::Result<Vec<Shard>> {
    manifest
        .entries
        .iter()
        .map(|entry| {
            let rows = written.shards.iter().find(|s| s.file == entry.path).map(|s| s.rows);
            Ok(Shard {
                id: Key::new(entry.path.trim_end_matches(".parquet"))?,
                path: local_data(&out.join(&entry.path))?,
                digest: entry.digest.prefixed()?,
                bytes: entry.digest.size,
                rows,
            })
        })
        .collect()
}

fn ingestion_name(args: &Args) -> anyhow::Result<Name> {
    if let Some(name) = &args.name {
        return Ok(Name::new(name.as_str())?);
    }
    if let Some(dataset) = &args.dataset {
        return Ok(Name::new(format!("{dataset}-ingestion"))?);
    }
    let stem = args
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sanitized = Name::sanitized_text(&stem, 200);
    Name::new(if sanitized.is_empty() {
        "ingestion".to_owned()
    } else {
        format!("{sanitized}-ingestion")
    })
    .context("cannot name the Ingestion document; give --name")
}

/// The source as the Ingestion records it, and for a database the Datastore it names.
fn ingestion_source(args: &Args, source: &Source) -> anyhow::Result<(IngestionSource, Option<Document>)> {
    let mut options = Params::default();
    Ok(match source {
        Source::Files(files) => {
            let connector = match mlspec_data::read::detect(&files[0]) {
                Some((mlspec_data::read::Format::Parquet, _)) => Connector::Parquet,
                Some((mlspec_data::read::Format::JsonLines, _)) => Connector::Jsonl,
                _ => Connector::Csv,
            };
            let pattern = args.source.clone().unwrap_or_default();
            options
                .0
                .insert(Key::new("files")?, ParamValue::String(files.len().to_string()));
            let data = DataPath {
                datastore: Name::new("local")?,
                path: Some(RelativePath::new(pattern.trim_start_matches("./")).or_else(|_| {
                    RelativePath::new(
                        files[0]
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    )
                })?),
                table: None,
                query: None,
            };
            (
                IngestionSource {
                    connector,
                    data,
                    options,
                },
                None,
            )
        }
        Source::Database { url, query } => {
            let datastore = datastore_document(url)?;
            let data = DataPath {
                datastore: datastore.metadata.name.clone(),
                path: None,
                table: args.table.as_deref().map(Key::new).transpose()?,
                query: args.query.is_some().then(|| Text::new(query.as_str())).transpose()?,
            };
            if url.starts_with("odbc:") {
                options
                    .0
                    .insert(Key::new("connector")?, ParamValue::String("odbc".to_owned()));
            }
            (
                IngestionSource {
                    connector: Connector::Sql,
                    data,
                    options,
                },
                Some(datastore),
            )
        }
        Source::Command => {
            // The command line is the "query" whose output is the data.
            let data = DataPath {
                datastore: Name::new("local")?,
                path: None,
                table: None,
                query: Some(Text::new(args.command.join(" "))?),
            };
            options
                .0
                .insert(Key::new("connector")?, ParamValue::String("command".to_owned()));
            (
                IngestionSource {
                    connector: Connector::Other,
                    data,
                    options,
                },
                None,
            )
        }
    })
}

/// The Datastore a database URL names: its address without any credentials, the user as a
/// plain setting, never a password.
fn datastore_document(url: &str) -> anyhow::Result<Document> {
    let (store_type, address) = if let Some(path) = url.strip_prefix("sqlite:") {
        (
            DatastoreType::Sqlite,
            format!("sqlite:{}", path.trim_start_matches("//")),
        )
    } else if let Some(connection) = url.strip_prefix("odbc:") {
        (DatastoreType::Other, format!("odbc:{}", odbc_address(connection)))
    } else {
        let shown = redacted(url);
        let (scheme, rest) = shown.split_once("://").unwrap_or(("postgres", &shown));
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let host = host.split('?').next().unwrap_or(host);
        (DatastoreType::Postgres, format!("{scheme}://{host}"))
    };
    let name = Name::sanitized_text(&address.replace("://", "-"), 200);
    let spec = DatastoreSpec {
        store_type,
        uri: ShortText::new(address.as_str())?,
        connection: Default::default(),
        read_only: true,
    };
    Ok(Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new(if name.is_empty() { "database".to_owned() } else { name })?),
        spec: Spec::Datastore(spec),
    })
}

/// Where an ODBC source is: the DSN, or the connection string's attributes that say where
/// (driver, server, port, database, DSN) — never the user or the password.
fn odbc_address(connection: &str) -> String {
    if !connection.contains('=') {
        return connection.to_owned();
    }
    let kept = [
        "driver",
        "dsn",
        "server",
        "servername",
        "host",
        "port",
        "database",
        "db",
    ];
    connection
        .split(';')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(key, _)| kept.contains(&key.trim().to_ascii_lowercase().as_str()))
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Who labelled the data; the labels file itself goes into the source's options (its path and
/// digest), so that the record names exactly which labels were used.
fn labelling(args: &Args, source: &mut IngestionSource) -> anyhow::Result<Option<Labelling>> {
    let (Some(labels), Some(labeller)) = (&args.labels, &args.labeller) else {
        return Ok(None);
    };
    let digest = mlspec_attest::digest::file(labels)?.prefixed()?;
    source
        .options
        .0
        .insert(Key::new("labels")?, ParamValue::String(labels.display().to_string()));
    source
        .options
        .0
        .insert(Key::new("labelsDigest")?, ParamValue::String(digest.to_string()));
    Ok(Some(Labelling {
        tool: ShortText::new(labeller.as_str())?,
        guidelines: None,
        annotators_per_item: None,
        agreement: None,
    }))
}

fn synthetic(args: &Args) -> anyhow::Result<Option<SyntheticGeneration>> {
    if !args.from_command {
        return Ok(None);
    }
    let mut parameters = Params::default();
    for (key, value) in &args.params {
        parameters
            .0
            .insert(Key::new(key.as_str())?, ParamValue::String(value.clone()));
    }
    Ok(Some(SyntheticGeneration {
        generator: ShortText::new(args.command.join(" "))?,
        parameters,
        seed: args.seed,
        fraction: Some(1.0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_parameters_parse_or_say_why() {
        assert_eq!(byte_size("64M"), Ok(64 << 20));
        assert_eq!(byte_size("512k"), Ok(512 << 10));
        assert_eq!(byte_size("1000"), Ok(1000));
        assert_eq!(byte_size("2GB"), Ok(2 << 30));
        for bad in ["", "0", "M", "1.5M", "10X", "99999999999999999999G", "-1"] {
            assert!(byte_size(bad).is_err(), "{bad}");
        }
        assert_eq!(key_value("rows=10"), Ok(("rows".to_owned(), "10".to_owned())));
        assert_eq!(key_value("expr=a=b"), Ok(("expr".to_owned(), "a=b".to_owned())));
        assert!(key_value("novalue").is_err());
        assert!(key_value("bad key=1").is_err());
        assert_eq!(quoted_table("s.t\"x").unwrap(), "\"s\".\"t\"\"x\"");
        assert!(quoted_table("a.b.c").is_err() && quoted_table(".t").is_err());
    }
}

//! `mlspec data sign` and `mlspec data verify`: a dataset's shards — ids, sizes, row counts
//! where the format records them, digests — signed as an in-toto statement in a DSSE envelope.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_attest::digest::{Difference, Entry, Manifest};
use mlspec_attest::dsse::Envelope;
use mlspec_attest::keys::SigningKey;
use mlspec_attest::predicate::DATASET_MANIFEST_V1;
use mlspec_attest::statement::Statement;

use crate::datasets::write_envelope;
use crate::trust::{report, trusted_key};

/// Sign a dataset: a directory of shards or a list of files. The envelope (an in-toto
/// Statement v1 whose subjects are the shards with their SHA-256, and whose predicate lists
/// each shard's id, size and — for Parquet, from its footer — row count) goes to --out. Exit 0,
/// or 2 on bad input (a symbolic link in the directory is refused).
#[derive(clap::Args)]
pub(super) struct SignArgs {
    /// A directory of shards, or the shard files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The private key (PKCS#8 PEM).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Where to write the envelope (outside a signed directory).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Verify a signed dataset: the envelope's signature and every shard against its signed digest
/// (modified, missing and extra shards each reported). Exit 0 when verified, 1 when not, 2 when
/// it cannot be checked.
#[derive(clap::Args)]
pub(super) struct VerifyArgs {
    /// The directory of shards, or the shard files, as signed.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The envelope `data sign` wrote.
    #[arg(long, value_name = "FILE")]
    envelope: PathBuf,
    /// The public key (PEM).
    #[arg(long, value_name = "KEY")]
    pubkey: PathBuf,
}

/// The shards: a directory's files (relative paths), or the files given (by name).
fn shards(inputs: &[PathBuf]) -> anyhow::Result<(Manifest, Vec<PathBuf>)> {
    if let [dir] = inputs
        && dir.is_dir()
    {
        let manifest = Manifest::of(dir)?;
        let paths = manifest.entries.iter().map(|e| dir.join(&e.path)).collect();
        return Ok((manifest, paths));
    }
    let mut entries = Vec::new();
    for path in inputs {
        if path.is_dir() {
            bail!("{} is a directory: sign one directory, or files", path.display());
        }
        entries.push(Entry {
            path: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            digest: mlspec_attest::digest::file(path)?,
        });
    }
    let mut names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w.first() == w.get(1)) {
        bail!("two shards have the same file name; sign their directory instead");
    }
    Ok((Manifest { entries }, inputs.to_vec()))
}

pub(super) fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::read(&args.key)?;
    let (manifest, paths) = shards(&args.inputs)?;
    write_envelope(&manifest, &paths, &key, &args.out)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = trusted_key(&args.pubkey)?;
    let text = crate::inputs::read_text(&args.envelope, mlspec_spec::validate::Limits::default().max_bytes)?;
    let envelope = Envelope::parse(&text, &args.envelope.display().to_string())?;
    let checked = envelope.verify(std::slice::from_ref(&key))?;
    let mut problems: Vec<String> = Vec::new();
    if checked.verified.is_empty() {
        problems.extend(checked.failures);
    } else {
        let statement: Statement = serde_json::from_slice(&envelope.payload_bytes()?)
            .with_context(|| format!("{}: the payload is not an in-toto statement", args.envelope.display()))?;
        if statement.predicate_type != DATASET_MANIFEST_V1 {
            problems.push(format!(
                "the envelope is a {}, not a dataset manifest",
                statement.predicate_type
            ));
        }
        let signed = statement.manifest();
        let (mut actual, _) = shards(&args.inputs)?;
        actual
            .entries
            .retain(|e| Path::new(&e.path) != args.envelope.file_name().map(Path::new).unwrap_or(Path::new("")));
        let actual = actual.without_sizes();
        problems.extend(signed.differences(&actual).iter().map(|d| match d {
            Difference::Modified(p) => format!("modified shard: {p}"),
            Difference::Missing(p) => format!("missing shard: {p}"),
            Difference::Extra(p) => format!("extra shard: {p}"),
        }));
    }
    Ok(report(&problems, || {
        format!("verified: every shard matches the manifest signed by {}", key.key_id())
    }))
}

//! `mlspec log append|verify|audit`: hash-chained inference logs bound to a signed package.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_attest::digest::file;
use mlspec_attest::keys::SigningKey;
use mlspec_attest::log::{Binding, Fsync, Layout, LogOptions, LogWriter, Request, verify, verify_chain};
use mlspec_spec::Spec;
use mlspec_spec::kinds::ModelPackageSpec;
use sha2::{Digest as _, Sha256};

use super::package::{ENVELOPES_FILE, PACKAGE_FILE, package_dir, report, trusted_key};
use super::validate::read_one;
use crate::store::{LazyStore, StoreChoice, block_on};

/// Append to, verify and audit inference logs.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Append(AppendArgs),
    Verify(VerifyArgs),
    Audit(AuditArgs),
}

/// Append request records (JSON Lines on standard input: client, user, time, method, path,
/// protocol, status, bytes, referer, user_agent, request_id, latency_ms, input_digest,
/// output_digest) to LOGFILE as hash-chained lines bound to the signed package: NCSA Combined
/// with extension fields (or JSON Lines), and signed checkpoints in LOGFILE.checkpoints. A
/// partial last line left by a stopped writer is cut off first (and said). Exit 0, or 2 on a
/// bad record (its line number is given; the lines before it are kept).
#[derive(clap::Args)]
struct AppendArgs {
    /// The log file.
    log: PathBuf,
    /// The private key that signs the checkpoints.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The signed model package directory the requests were answered by.
    #[arg(long, value_name = "DIR")]
    package: PathBuf,
    /// The line layout.
    #[arg(long, value_enum, default_value = "combined")]
    format: LayoutArg,
    /// When lines reach the disk: `never` (the OS decides; the default), `line`, `N` lines or
    /// `Tms` milliseconds.
    #[arg(long, default_value = "never", value_parser = fsync)]
    fsync: Fsync,
    /// Sign a checkpoint every N lines (and at the end); 0: only at the end.
    #[arg(long, default_value_t = 100_000)]
    checkpoint_every: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LayoutArg {
    Combined,
    Jsonl,
}

impl LayoutArg {
    fn layout(self) -> Layout {
        match self {
            LayoutArg::Combined => Layout::Combined,
            LayoutArg::Jsonl => Layout::JsonLines,
        }
    }
}

fn fsync(text: &str) -> Result<Fsync, String> {
    match text {
        "never" => Ok(Fsync::Never),
        "line" => Ok(Fsync::EveryLine),
        _ => {
            if let Some(ms) = text.strip_suffix("ms") {
                let ms: u64 = ms.parse().map_err(|_| format!("`{text}` is not Tms"))?;
                Ok(Fsync::Every(Duration::from_millis(ms)))
            } else {
                let n: u64 = text
                    .parse()
                    .map_err(|_| format!("`{text}` is not never, line, N or Tms"))?;
                Ok(Fsync::EveryLines(n.max(1)))
            }
        }
    }
}

/// Verify a log's hash chain and signed checkpoints: says which line was modified, deleted,
/// inserted or moved, whether the log was truncated before its last checkpoint, and whether
/// the last line is partial. Exit 0 when verified, 1 when not, 2 when it cannot be read.
#[derive(clap::Args)]
struct VerifyArgs {
    /// The log file.
    log: PathBuf,
    /// The public key the checkpoints were signed with.
    #[arg(long, value_name = "KEY")]
    pubkey: PathBuf,
    /// The line layout.
    #[arg(long, value_enum, default_value = "combined")]
    format: LayoutArg,
}

/// Walk from one logged request to what made its answer: the line (its chain verified up to
/// it), the package it names (with --package, its attestation's digest and, with --pubkey, its
/// signatures; else the ModelPackage the store holds under the line's model name), the
/// training, the data digests and the objectives' verdict. Exit 0; 1 when a link does not hold;
/// 2 when something cannot be read.
#[derive(clap::Args)]
struct AuditArgs {
    /// The log file and line, `FILE:LINE`.
    at: String,
    /// The signed model package directory (default: the store's ModelPackage of the line's
    /// model; its attestation is then not re-checked).
    #[arg(long, value_name = "DIR")]
    package: Option<PathBuf>,
    /// The public key the package and checkpoints were signed with (without it, signatures
    /// are not checked).
    #[arg(long, value_name = "KEY")]
    pubkey: Option<PathBuf>,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Append(args) => append(args),
        Command::Verify(args) => verify_log(args),
        Command::Audit(args) => block_on(audit(args, choice)),
    }
}

/// The package document of a signed package directory.
fn package_spec(dir: &Path) -> anyhow::Result<(String, ModelPackageSpec)> {
    let (document, _) = read_one(&dir.join(PACKAGE_FILE).display().to_string())?;
    match document.spec {
        Spec::ModelPackage(spec) => Ok((document.metadata.name.to_string(), spec)),
        _ => bail!("{} is not a ModelPackage", dir.join(PACKAGE_FILE).display()),
    }
}

/// What the lines of a package's log are bound to: `name@version`; the attestation file's
/// digest; the pipeline (the training reference's pinned digest, else the package document's);
/// the training data (SHA-256 of the sorted dataset references, each with its pinned digest).
pub(crate) fn binding(dir: &Path) -> anyhow::Result<Binding> {
    let (name, spec) = package_spec(dir)?;
    let envelopes = dir.join(ENVELOPES_FILE);
    if !envelopes.exists() {
        bail!(
            "{} is not signed (no {ENVELOPES_FILE}); run `mlspec package sign` first",
            dir.display()
        );
    }
    let pipeline = match spec.training.as_ref().and_then(|t| t.digest.clone()) {
        Some(digest) => digest.to_string(),
        None => file(&dir.join(PACKAGE_FILE))?.prefixed(),
    };
    let mut datasets: Vec<String> = spec.datasets.iter().map(ToString::to_string).collect();
    datasets.sort();
    Ok(Binding {
        model: format!("{name}@{}", spec.version),
        package: file(&envelopes)?.prefixed(),
        pipeline,
        data: format!("sha256:{}", hex::encode(Sha256::digest(datasets.join("\n").as_bytes()))),
    })
}

fn append(args: AppendArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::read(&args.key)?;
    let options = LogOptions {
        layout: args.format.layout(),
        fsync: args.fsync,
        checkpoint_every: args.checkpoint_every,
    };
    let (mut writer, cut) = LogWriter::open(&args.log, binding(&package_dir(&args.package))?, key, options)?;
    if cut > 0 {
        errln!("note: cut off a partial last line of {cut} bytes (a writer stopped while writing it)");
    }
    let stdin = std::io::stdin();
    let mut outcome = Ok(());
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                writer.append(&request)?;
            }
            Err(e) => {
                outcome = Err(anyhow::anyhow!(
                    "standard input line {}: not a request record: {e}",
                    i + 1
                ));
                break;
            }
        }
    }
    let lines = writer.close()?;
    errln!("{}: {lines} lines", args.log.display());
    outcome.map(|()| ExitCode::SUCCESS)
}

fn verify_log(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = match trusted_key(&args.pubkey)? {
        Ok(key) => key,
        Err(expired) => return Ok(report(&[expired], String::new)),
    };
    let report = verify(&args.log, &key, args.format.layout())?;
    for note in &report.notes {
        errln!("note: {note}");
    }
    if report.findings.is_empty() {
        outln!(
            "verified: {} lines chained, {} signed checkpoints",
            report.verified,
            report.checkpoints
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!("not verified ({} of {} lines chain):", report.verified, report.lines);
    for finding in &report.findings {
        match finding.line {
            Some(line) => outln!("  {}:{line}: {}", args.log.display(), finding.message),
            None => outln!("  {}", finding.message),
        }
    }
    Ok(ExitCode::from(1))
}

async fn audit(args: AuditArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let (path, line) = args
        .at
        .rsplit_once(':')
        .and_then(|(p, l)| Some((PathBuf::from(p), l.parse::<u64>().ok()?)))
        .context("name the request as FILE:LINE, e.g. serve.log:3")?;
    let key = match &args.pubkey {
        Some(path) => match trusted_key(path)? {
            Ok(key) => Some(key),
            Err(expired) => return Ok(report(&[expired], String::new)),
        },
        None => None,
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(entry) = line.checked_sub(1).and_then(|i| text.lines().nth(i as usize)) else {
        bail!("{} has no line {line}", path.display());
    };
    let fields = extensions(entry);
    let field = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("?")
    };
    let mut broken = Vec::new();
    let checked = verify_chain(&path, key.as_ref(), Layout::Combined)?;
    let bad_before = checked
        .findings
        .iter()
        .filter(|f| f.line.is_some_and(|l| l <= line))
        .count();
    if bad_before > 0 {
        broken.push(format!("the log's chain is broken at or before line {line}"));
    }
    let mut lazy = LazyStore::new(choice);
    let store = lazy.for_recording().await?;
    let mut out = format!("request {} — {}:{line}\n", field("rid"), path.display());
    out.push_str(&format!(
        "  chain      {}\n",
        if bad_before == 0 {
            "verified from line 1 to this line"
        } else {
            "BROKEN"
        }
    ));
    out.push_str(&format!("  model      {}\n", field("model")));
    let spec = match &args.package {
        Some(dir) => {
            let dir = &package_dir(dir);
            let bound = binding(dir)?;
            if bound.package != field("package") {
                broken.push(format!(
                    "the line names package {}, but {} is {}",
                    field("package"),
                    dir.display(),
                    bound.package
                ));
            }
            let (name, spec) = package_spec(dir)?;
            let signatures = match &key {
                Some(key) => {
                    let envelopes = std::fs::read_to_string(dir.join(ENVELOPES_FILE))?;
                    let signed = envelopes.lines().filter(|l| !l.trim().is_empty()).all(|l| {
                        mlspec_attest::dsse::Envelope::parse(l, "envelope")
                            .and_then(|e| e.verify(std::slice::from_ref(key)))
                            .is_ok_and(|v| !v.verified.is_empty())
                    });
                    if !signed {
                        broken.push(format!(
                            "the package's attestations do not verify with key {}",
                            key.key_id()
                        ));
                    }
                    format!(
                        "signed by {}, {}",
                        key.key_id(),
                        if signed { "verified" } else { "NOT verified" }
                    )
                }
                None => "signatures not checked: pass --pubkey".into(),
            };
            out.push_str(&format!(
                "  package    {name}@{} {} ({ENVELOPES_FILE}, {signatures})\n",
                spec.version,
                field("package")
            ));
            spec
        }
        None => {
            let Some(store) = store else {
                bail!("name the package with --package DIR (there is no store to find it in)");
            };
            let name = field("model").split('@').next().unwrap_or_default();
            let reference: mlspec_spec::Ref = format!("ModelPackage/{name}")
                .parse()
                .map_err(|e| anyhow::anyhow!("the line's model `{}` names no package: {e}", field("model")))?;
            let stored = store.get(&mlspec_store::Selector::from(&reference)).await?;
            let Spec::ModelPackage(spec) = stored.document.spec else {
                bail!("{reference} is not a ModelPackage");
            };
            out.push_str(&format!(
                "  package    {reference}@{} {} (from the store; its attestation not re-checked: pass --package DIR)\n",
                spec.version,
                field("package")
            ));
            spec
        }
    };
    for (what, reference) in spec
        .training
        .iter()
        .map(|r| ("training  ", r))
        .chain(spec.datasets.iter().map(|r| ("data      ", r)))
    {
        let detail = match store {
            Some(store) => stored_detail(store, reference).await,
            None => String::new(),
        };
        out.push_str(&format!("  {what} {reference}{detail}\n"));
    }
    out.push_str(&format!("  data ids   {} (the line's binding)\n", field("data")));
    if let Some(report) = &spec.test_report {
        let detail = match store {
            Some(store) => stored_detail(store, report).await,
            None => String::new(),
        };
        out.push_str(&format!("  test       {report}{detail}\n"));
    }
    match &spec.verdict {
        Some(verdict) => out.push_str(&format!(
            "  objectives {} {}\n",
            verdict.objectives,
            if verdict.result == mlspec_spec::kinds::Outcome::Passed {
                "met"
            } else {
                "NOT met"
            }
        )),
        None => out.push_str("  objectives (no verdict in the package)\n"),
    }
    out!("{out}");
    if broken.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &broken {
            outln!("not verified: {problem}");
        }
        Ok(ExitCode::from(1))
    }
}

/// What the store says of a referenced object: a Run's status and end, a Dataset version's
/// digest and rows, a TestReport's holdback reads — or that it is not there.
async fn stored_detail(store: &dyn mlspec_store::Store, reference: &mlspec_spec::Ref) -> String {
    let Ok(stored) = store.get(&mlspec_store::Selector::from(reference)).await else {
        return " (not in the store)".into();
    };
    match &stored.document.spec {
        Spec::Run(run) => format!(
            " ({:?}{})",
            run.status,
            run.end_time.map(|t| format!(", ended {t}")).unwrap_or_default()
        ),
        Spec::Dataset(dataset) => {
            let version = stored
                .version
                .as_ref()
                .map(|v| v.version.to_string())
                .or_else(|| dataset.current.as_ref().map(ToString::to_string))
                .or_else(|| dataset.versions.last().map(|v| v.version.to_string()));
            let found = dataset.versions.iter().find(|v| Some(v.version.to_string()) == version);
            match found {
                Some(v) => format!(
                    " (version {}, {}{})",
                    v.version,
                    v.digest.as_ref().map_or("no digest".to_owned(), ToString::to_string),
                    v.rows.map(|r| format!(", {r} rows")).unwrap_or_default()
                ),
                None => String::new(),
            }
        }
        Spec::TestReport(report) => format!(
            " (holdback read {}{}{})",
            report.holdback_reads,
            report
                .holdback_read_budget
                .map(|b| format!(" of {b}"))
                .unwrap_or_default(),
            report
                .holdback_digest
                .as_ref()
                .map(|d| format!(", rows {d}"))
                .unwrap_or_default()
        ),
        _ => String::new(),
    }
}

/// The `key=value` extension fields after a Combined line's user agent.
fn extensions(line: &str) -> Vec<(String, String)> {
    let tail = line.rsplit_once('"').map_or("", |(_, t)| t);
    tail.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

//! `mlspec log append|verify|audit`: hash-chained inference logs bound to a signed package.

use std::borrow::Cow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_attest::audit::{Audit, AuditedPackage, ChainStatus, LoggedLine, PackageSource, Signatures};
use mlspec_attest::keys::SigningKey;
use mlspec_attest::log::{
    Fsync, Layout, Line, LogOptions, LogWriter, Problem, Request, UnsignedTail, read_line, verify,
};
use mlspec_attest::package::{ENVELOPES_FILE, binding, package_dir};
use mlspec_spec::Spec;
use mlspec_spec::kinds::ModelPackageSpec;

use crate::store::{LazyStore, StoreChoice, block_on};
use crate::trust::trusted_key;

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
/// with extension fields (or JSON Lines), and signed checkpoints in LOGFILE.checkpoints; the
/// append always ends with one. Holds the lock LOGFILE.lock while it runs (another appender
/// waits, at most --lock-wait). Refuses, changing nothing, a file that is not an mlspec log of
/// the format, a log that does not verify with the key, and lines after its last checkpoint
/// (unless --allow-unsigned-tail). A partial last line left by a stopped writer is cut off
/// first (and said). Exit 0, or 2 on a bad record (its line number is given; the lines before
/// it are kept and signed).
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
    #[arg(long, default_value = "never", value_parser = crate::args::fsync)]
    fsync: Fsync,
    /// Sign a checkpoint every N lines (and at the end); 0: only at the end.
    #[arg(long, default_value_t = 100_000)]
    checkpoint_every: u64,
    /// Sign over lines of the existing log that no checkpoint covers (a writer stopped before
    /// signing them — or someone else appended them: check them first).
    #[arg(long)]
    allow_unsigned_tail: bool,
    /// Seconds to wait for another appender's lock before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    lock_wait: u64,
}

/// The longest request record read from standard input.
const MAX_RECORD_BYTES: u64 = 64 << 10;

fn unsigned_tail(allow: bool) -> UnsignedTail {
    match allow {
        true => UnsignedTail::Allow,
        false => UnsignedTail::Refuse,
    }
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

/// Verify a log's hash chain and signed checkpoints: only lines covered by a signed checkpoint
/// of this log are verified. Says which line was modified, deleted, inserted or moved, whether
/// the log was truncated before its last checkpoint, whether the checkpoints are another log's,
/// how many lines come after the last checkpoint, and whether the last line is partial. Exit 0
/// when verified, 1 when not, 2 when it cannot be read.
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
    /// Accept lines after the last signed checkpoint (a writer that has not signed yet, or
    /// stopped): say how many, and exit 0 if nothing else is wrong.
    #[arg(long)]
    allow_unsigned_tail: bool,
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
    /// are not checked and the line is not verified: an unkeyed chain can be recomputed).
    #[arg(long, value_name = "KEY")]
    pubkey: Option<PathBuf>,
    /// Accept a line after the last signed checkpoint (said, exit 0).
    #[arg(long)]
    allow_unsigned_tail: bool,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Append(args) => append(args),
        Command::Verify(args) => verify_log(args),
        Command::Audit(args) => block_on(audit(args, choice)),
    }
}

fn append(args: AppendArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::read(&args.key)?;
    let options = LogOptions {
        layout: args.format.layout(),
        fsync: args.fsync,
        checkpoint_every: args.checkpoint_every,
        checkpoint_interval: None,
        unsigned_tail: unsigned_tail(args.allow_unsigned_tail),
        lock_wait: Duration::from_secs(args.lock_wait),
    };
    let (mut writer, reopened) = LogWriter::open(&args.log, binding(&package_dir(&args.package))?, key, options)?;
    if reopened.cut > 0 {
        errln!(
            "note: cut off a partial last line of {} bytes (a writer stopped while writing it)",
            reopened.cut
        );
    }
    if reopened.cut_checkpoint > 0 {
        errln!(
            "note: cut off a partial last checkpoint of {} bytes (a writer stopped while writing it)",
            reopened.cut_checkpoint
        );
    }
    if reopened.unsigned > 0 {
        errln!(
            "warning: signing {} lines that no checkpoint covered (--allow-unsigned-tail)",
            reopened.unsigned
        );
    }
    let outcome = append_records(&mut writer);
    let lines = writer.close()?;
    errln!("{}: {lines} lines", args.log.display());
    outcome.map(|()| ExitCode::SUCCESS)
}

/// Appends the request records on standard input until the first bad one.
fn append_records(writer: &mut LogWriter) -> anyhow::Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    for number in 1u64.. {
        let at = format!("standard input line {number}");
        match read_line(&mut stdin, &mut line, MAX_RECORD_BYTES).with_context(|| format!("cannot read {at}"))? {
            Line::End => return Ok(()),
            Line::TooLong => bail!(
                "{at}: longer than {} KiB, the longest request record",
                MAX_RECORD_BYTES >> 10
            ),
            Line::Complete | Line::Partial => {}
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let request: Request =
            serde_json::from_slice(&line).map_err(|e| anyhow::anyhow!("{at}: not a request record: {e}"))?;
        request.check().map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        writer.append(&request)?;
    }
    Ok(())
}

fn verify_log(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = trusted_key(&args.pubkey)?;
    let tail = unsigned_tail(args.allow_unsigned_tail);
    let report = verify(&args.log, &key, args.format.layout(), tail)?;
    for note in &report.notes {
        errln!("note: {note}");
    }
    if report.findings.is_empty() {
        let unsigned = report.lines - report.covered;
        match unsigned {
            0 => outln!(
                "verified: {} lines chained and signed ({} signed checkpoints)",
                report.covered,
                report.checkpoints
            ),
            _ => outln!(
                "verified: {} of {} lines chained and signed ({} signed checkpoints); the last {unsigned} lines are NOT signed (accepted with --allow-unsigned-tail)",
                report.covered,
                report.lines,
                report.checkpoints
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "not verified ({} of {} lines chain, {} signed):",
        report.verified,
        report.lines,
        report.covered
    );
    for finding in &report.findings {
        match finding.line {
            Some(line) => outln!("  {}:{line}: {}", args.log.display(), finding.message),
            None => outln!("  {}", finding.message),
        }
    }
    if report.findings.iter().any(|f| f.problem == Problem::UnsignedTail) {
        outln!("  (if those lines are a writer's that stopped before signing, accept them with --allow-unsigned-tail)");
    }
    Ok(ExitCode::from(1))
}

/// A logged value on one line of output: newlines and tabs it carries are shown as `\n`, `\t`
/// (the output layer makes every other control character visible).
fn one_line(text: &str) -> Cow<'_, str> {
    match text.contains(['\n', '\t']) {
        true => Cow::Owned(text.replace('\n', "\\n").replace('\t', "\\t")),
        false => Cow::Borrowed(text),
    }
}

async fn audit(args: AuditArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let (path, line) = args
        .at
        .rsplit_once(':')
        .and_then(|(p, l)| Some((PathBuf::from(p), l.parse::<u64>().ok()?)))
        .context("name the request as FILE:LINE, e.g. serve.log:3")?;
    let key = match &args.pubkey {
        Some(path) => Some(trusted_key(path)?),
        None => None,
    };
    let logged = LoggedLine::read(&path, line)?;
    let mut lazy = LazyStore::new(choice);
    let store = lazy.for_recording().await?;
    let dir = args.package.as_deref().map(package_dir);
    let stored;
    let source = match &dir {
        Some(dir) => PackageSource::Directory(dir),
        None => {
            stored = stored_package(store, &logged).await?;
            PackageSource::Stored {
                reference: &stored.0,
                spec: &stored.1,
            }
        }
    };
    let tail = unsigned_tail(args.allow_unsigned_tail);
    let audited = mlspec_attest::audit::audit(logged, source, key.as_ref(), tail)?;
    let mut out = request_text(&audited);
    for (what, reference) in audited
        .links
        .training
        .iter()
        .map(|r| ("training  ", r))
        .chain(audited.links.datasets.iter().map(|r| ("data      ", r)))
    {
        let detail = match store {
            Some(store) => stored_detail(store, reference).await,
            None => String::new(),
        };
        out.push_str(&format!("  {what} {reference}{detail}\n"));
    }
    let field = |k: &str| one_line(audited.line.entry.field(k).unwrap_or("?")).into_owned();
    out.push_str(&format!("  data ids   {} (the line's binding)\n", field("data")));
    if let Some(report) = &audited.links.test_report {
        let detail = match store {
            Some(store) => stored_detail(store, report).await,
            None => String::new(),
        };
        out.push_str(&format!("  test       {report}{detail}\n"));
    }
    match &audited.links.verdict {
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
    if audited.problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &audited.problems {
        outln!("not verified: {}", one_line(problem));
    }
    Ok(ExitCode::from(1))
}

/// The ModelPackage the store holds under the line's model name, and its reference.
async fn stored_package(
    store: Option<&dyn mlspec_store::Store>,
    line: &LoggedLine,
) -> anyhow::Result<(mlspec_spec::Ref, ModelPackageSpec)> {
    let Some(store) = store else {
        bail!("name the package with --package DIR (there is no store to find it in)");
    };
    let name = line.package_name().unwrap_or("?");
    let reference: mlspec_spec::Ref = format!("ModelPackage/{}", one_line(name)).parse().map_err(|e| {
        anyhow::anyhow!(
            "the line's model `{}` names no package: {e}",
            one_line(line.model().unwrap_or("?"))
        )
    })?;
    let stored = store.get(&mlspec_store::Selector::from(&reference)).await?;
    let Spec::ModelPackage(spec) = stored.document.spec else {
        bail!("{reference} is not a ModelPackage");
    };
    Ok((reference, spec))
}

/// The audit's first lines: the request, its chain, its client and agent, its model and
/// package.
fn request_text(audited: &Audit) -> String {
    let line = &audited.line;
    let entry = &line.entry;
    let field = |k: &str| one_line(entry.field(k).unwrap_or("?"));
    let mut out = format!("request {} — {}:{}\n", field("rid"), line.log.display(), line.number);
    out.push_str(&format!("  chain      {}\n", chain_text(audited.chain, line.number)));
    out.push_str(&format!(
        "  request    {} {} {} → {} ({} bytes, {} ms)\n",
        one_line(&entry.method),
        one_line(&entry.path),
        one_line(&entry.protocol),
        entry.status,
        entry.bytes,
        field("latency_ms")
    ));
    out.push_str(&format!(
        "  client     {}{} at {}\n",
        one_line(&entry.client),
        entry
            .user
            .as_deref()
            .map(|u| format!(" (user {})", one_line(u)))
            .unwrap_or_default(),
        entry.time
    ));
    if let Some(agent) = &entry.user_agent {
        out.push_str(&format!("  agent      {}\n", one_line(agent)));
    }
    if let Some(referer) = &entry.referer {
        out.push_str(&format!("  referer    {}\n", one_line(referer)));
    }
    out.push_str(&format!("  model      {}\n", field("model")));
    let package = match &audited.package {
        AuditedPackage::Directory {
            name,
            version,
            signatures,
            ..
        } => format!(
            "{name}@{version} {} ({ENVELOPES_FILE}, {})",
            field("package"),
            signatures_text(signatures)
        ),
        AuditedPackage::Stored { reference, version } => format!(
            "{reference}@{version} {} (from the store; its attestation not re-checked: pass --package DIR)",
            field("package")
        ),
    };
    out.push_str(&format!("  package    {package}\n"));
    out
}

/// What the chain and checkpoints say of the audited line.
fn chain_text(chain: ChainStatus, line: u64) -> String {
    match chain {
        ChainStatus::Signed { checkpoint } => {
            format!("verified from line 1 to this line, signed (checkpoint at line {checkpoint})")
        }
        ChainStatus::Broken => "BROKEN (see `mlspec log verify`)".into(),
        ChainStatus::Unkeyed => {
            "intact from line 1 to this line, but NOT verified: an unkeyed chain can be recomputed; pass --pubkey"
                .into()
        }
        ChainStatus::Unsigned { accepted: true, .. } => format!(
            "intact but NOT signed: {} (accepted with --allow-unsigned-tail)",
            chain.reason(line).unwrap_or_default()
        ),
        ChainStatus::Unsigned { accepted: false, .. } => "NOT signed".into(),
    }
}

/// What was checked of the package's signatures.
fn signatures_text(signatures: &Signatures) -> String {
    match signatures {
        Signatures::Verified { key_id } => format!("signed by {key_id}, verified"),
        Signatures::NotVerified { key_id, .. } => format!("signed by {key_id}, NOT verified"),
        Signatures::NotChecked => "signatures not checked: pass --pubkey".into(),
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

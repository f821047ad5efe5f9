//! `mlspec objectives check OBJECTIVES --metrics FILE|REF [--baseline FILE|REF]`: evaluate
//! every launch criterion against an Evaluation, TestReport, Run or Training, print the verdict
//! (table, JSON or JUnit XML), and record it in the store as an ObjectivesCheck.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_spec::expr::{self, Context, ExprDiagnostic, Level, Record, Scope, Span};
use mlspec_spec::kinds::{
    CriterionResult, CriterionStatus, Gate, ObjectivesCheckSpec, ObjectivesSpec, ObservedValue, Outcome, RESULT_KINDS,
};
use mlspec_spec::newtypes::{ShortText, Text};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Name, ObjectId, Ref, RefTarget, Spec};
use mlspec_store::{Selector, Store};
use serde::Serialize;

use super::validate::read_one;
use crate::store::{LazyStore, StoreChoice, actor, block_on};

mod junit;

/// Check results against Objectives.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Check(CheckArgs),
}

/// Evaluate every criterion of OBJECTIVES against the results of an Evaluation, TestReport, Run
/// or Training and print the verdict. A criterion over a value that was not recorded is not met.
/// Exit 0 when every `block` criterion is met, 1 when one is not, 2 on errors (unreadable
/// input, an expression that does not parse or type-check). With a store (--store, or
/// .mlspec/store.db found upwards), the verdict is recorded as an ObjectivesCheck that pins the
/// objectives and the results by digest; inputs given as files are applied first.
#[derive(clap::Args)]
struct CheckArgs {
    /// The Objectives: a file, or a stored object (`Objectives/NAME` or an id).
    #[arg(value_name = "OBJECTIVES")]
    objectives: String,
    /// The results: an Evaluation, TestReport, Run or Training, as a file or a stored object.
    #[arg(long, value_name = "FILE|REF")]
    metrics: String,
    /// The baseline model's results, for `baseline.x`, `delta(x)` and `rel_delta(x)`.
    #[arg(long, value_name = "FILE|REF")]
    baseline: Option<String>,
    /// How to print the verdict.
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
    /// Do not record the verdict in the store.
    #[arg(long)]
    no_record: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CheckFormat {
    /// An aligned table with the reasons below.
    Table,
    /// One JSON object.
    Json,
    /// JUnit XML: one test suite, one test case per criterion.
    Junit,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Check(args) => block_on(check(args, choice)),
    }
}

/// A document to check with, and where it came from.
struct Input {
    document: Document,
    /// The file's text, when it came from a file.
    file: Option<(String, String)>,
}

impl Input {
    fn label(&self) -> String {
        format!("{}/{}", self.document.kind(), self.document.metadata.name)
    }
}

/// The verdict of every criterion.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    objectives: String,
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<String>,
    result: Outcome,
    criteria: Vec<CriterionResult>,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<Recorded>,
}

#[derive(Serialize)]
struct Recorded {
    id: String,
    name: String,
}

async fn check(args: CheckArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    let objectives = load(&args.objectives, &[Kind::Objectives], &mut store).await?;
    let subject = load(&args.metrics, RESULT_KINDS, &mut store).await?;
    let baseline = match &args.baseline {
        Some(arg) => Some(load(arg, RESULT_KINDS, &mut store).await?),
        None => None,
    };
    let Spec::Objectives(spec) = &objectives.document.spec else {
        bail!("{} is not Objectives", args.objectives);
    };
    let record = Record::from_document(&subject.document).context("the results document holds no metrics")?;
    let base = baseline.as_ref().and_then(|b| Record::from_document(&b.document));
    let (criteria, warnings) = evaluate_all(spec, &objectives, &record, base.as_ref())?;
    let blocked = criteria.iter().any(|c| !c.met && c.severity == Gate::Block);
    let mut report = Report {
        objectives: objectives.label(),
        subject: subject.label(),
        baseline: baseline.as_ref().map(Input::label),
        result: if blocked { Outcome::Failed } else { Outcome::Passed },
        criteria,
        warnings,
        recorded: None,
    };
    if !args.no_record {
        match store.for_recording().await? {
            Some(store) => {
                report.recorded = Some(record_verdict(store, &report, &objectives, &subject, baseline.as_ref()).await?);
            }
            None => errln!("note: no store here, so the verdict was not recorded (`mlspec init` makes one)"),
        }
    }
    print_report(&report, args.format)?;
    Ok(if blocked { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The verdict of the Objectives (`arg`: a file or a stored reference) on a results document
/// (an Evaluation or TestReport being made), against an optional baseline results document.
/// Exit-2 errors when the objectives cannot be read or an expression has errors.
pub(crate) async fn verdict_on(
    arg: &str,
    subject: &Document,
    baseline: Option<&Document>,
    store: &mut LazyStore<'_>,
) -> anyhow::Result<mlspec_spec::kinds::Verdict> {
    let objectives = load(arg, &[Kind::Objectives], store).await?;
    let Spec::Objectives(spec) = &objectives.document.spec else {
        bail!("{arg} is not Objectives");
    };
    let record = Record::from_document(subject).context("the results document holds no metrics")?;
    let base = baseline.and_then(Record::from_document);
    let (criteria, _) = evaluate_all(spec, &objectives, &record, base.as_ref())?;
    let blocked = criteria.iter().any(|c| !c.met && c.severity == Gate::Block);
    Ok(mlspec_spec::kinds::Verdict {
        objectives: Ref::named(Kind::Objectives, objectives.document.metadata.name.clone()),
        result: if blocked { Outcome::Failed } else { Outcome::Passed },
        criteria,
    })
}

/// Reads a FILE or a stored REF; the document must be of one of `kinds`.
pub(crate) async fn load_document(arg: &str, kinds: &[Kind], store: &mut LazyStore<'_>) -> anyhow::Result<Document> {
    Ok(load(arg, kinds, store).await?.document)
}

/// Reads a FILE or a stored REF; the document must be of one of `kinds`.
async fn load(arg: &str, kinds: &[Kind], store: &mut LazyStore<'_>) -> anyhow::Result<Input> {
    let input = if Path::new(arg).exists() || arg == "-" {
        load_file(arg)?
    } else {
        let reference: Ref = arg
            .parse()
            .map_err(|e| anyhow::anyhow!("{arg} is neither a file nor a stored object: {e}"))?;
        let stored = store.get().await?.get(&Selector::from(&reference)).await?;
        Input {
            document: stored.document,
            file: None,
        }
    };
    let kind = input.document.kind();
    if !kinds.contains(&kind) {
        let wanted: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        bail!(
            "{arg} is {kind} {}; expected {}",
            input.document.metadata.name,
            wanted.join(" or ")
        );
    }
    Ok(input)
}

fn load_file(path: &str) -> anyhow::Result<Input> {
    let (document, text) = read_one(path)?;
    Ok(Input {
        document,
        file: Some((path.to_owned(), text)),
    })
}

/// Compiles and evaluates every criterion. Diagnostics are printed to stderr; an error in any
/// criterion stops the check before anything is evaluated.
fn evaluate_all(
    spec: &ObjectivesSpec,
    objectives: &Input,
    record: &Record,
    baseline: Option<&Record>,
) -> anyhow::Result<(Vec<CriterionResult>, Vec<String>)> {
    let scope = Scope {
        context: Context::Criterion,
        current: Some(record),
        baseline,
        has_baseline: baseline.is_some(),
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut compiled = Vec::new();
    let mut warnings = Vec::new();
    let mut failed = 0;
    for criterion in &spec.criteria {
        let text = criterion.expression.as_str();
        let (expr, diagnostics) = expr::compile(text, &scope);
        let (name, source, offset) = diagnostic_source(objectives, criterion.name.as_str(), text);
        for d in &diagnostics {
            let mut shifted = d.clone();
            shifted.span = Span::new(d.span.start + offset, d.span.end + offset);
            let rendered = shifted.render(&name, source, color);
            if color {
                err_raw!("{rendered}");
            } else {
                err!("{rendered}");
            }
            if d.level == Level::Warning {
                warnings.push(format!("{}: {}", criterion.name, plain(d)));
            }
        }
        match expr {
            Some(expr) => compiled.push((criterion, expr)),
            None => failed += 1,
        }
    }
    if failed > 0 {
        bail!("{failed} criterion expression(s) have errors; nothing was checked");
    }
    let results = compiled
        .into_iter()
        .map(|(criterion, expr)| {
            let verdict = expr::evaluate(&expr, record, baseline);
            CriterionResult {
                name: criterion.name.clone(),
                met: verdict.status.is_met(),
                severity: criterion.severity,
                reason: verdict.reason.map(|r| Text::new(r.as_str())).transpose().ok().flatten(),
                expression: Some(criterion.expression.clone()),
                status: Some(status(verdict.status)),
                observed: verdict
                    .observed
                    .iter()
                    .filter_map(|o| {
                        Some(ObservedValue {
                            what: short(&o.what)?,
                            value: short(&o.value)?,
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    Ok((results, warnings))
}

fn plain(d: &ExprDiagnostic) -> String {
    match &d.help {
        Some(help) => format!("{} ({help})", d.message),
        None => d.message.clone(),
    }
}

/// Text as a ShortText: control characters become spaces, and long text is cut.
fn short(text: &str) -> Option<ShortText> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1024)
        .collect();
    ShortText::new(cleaned.as_str()).ok()
}

fn status(status: expr::Status) -> CriterionStatus {
    match status {
        expr::Status::Met => CriterionStatus::Met,
        expr::Status::NotMet => CriterionStatus::NotMet,
        expr::Status::Unknown => CriterionStatus::Unknown,
        expr::Status::Error => CriterionStatus::Error,
    }
}

/// What diagnostics of a criterion are drawn over: the objectives file itself when the
/// expression is written there on one line (so that positions are the file's), else the
/// expression alone. Returns the source's name, its text and the expression's offset in it.
fn diagnostic_source<'a>(objectives: &'a Input, criterion: &str, expression: &'a str) -> (String, &'a str, usize) {
    if let Some((path, text)) = &objectives.file
        && let Some(offset) = offset_in_file(text, expression)
    {
        return (path.clone(), text, offset);
    }
    (format!("{} criterion {criterion}", objectives.label()), expression, 0)
}

/// The byte offset of `expression` where a line of `text` sets it as an `expression:` value.
fn offset_in_file(text: &str, expression: &str) -> Option<usize> {
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if let Some(at) = line.find("expression:")
            && let Some(found) = line[at..].find(expression)
        {
            return Some(line_start + at + found);
        }
        line_start += line.len();
    }
    None
}

/// Records the verdict: inputs read from files are applied first, then an ObjectivesCheck that
/// pins each input's stored version by digest.
async fn record_verdict(
    store: &dyn Store,
    report: &Report,
    objectives: &Input,
    subject: &Input,
    baseline: Option<&Input>,
) -> anyhow::Result<Recorded> {
    let inputs: Vec<&Input> = [Some(objectives), Some(subject), baseline]
        .into_iter()
        .flatten()
        .collect();
    let from_files: Vec<Document> = inputs
        .iter()
        .filter(|i| i.file.is_some())
        .map(|i| i.document.clone())
        .collect();
    let mut applied = Vec::new();
    if !from_files.is_empty() {
        let outcome = store
            .apply(&from_files, &actor())
            .await
            .context("the verdict was not recorded: the inputs could not be stored")?;
        for warning in &outcome.warnings {
            errln!("warning: {warning}");
        }
        applied = outcome.results.into_iter().map(|a| a.id).collect();
    }
    let mut applied = applied.into_iter();
    let mut pinned = Vec::new();
    for input in &inputs {
        let id = match (&input.file, &input.document.metadata.id) {
            (Some(_), _) => applied.next(),
            (None, id) => id.as_ref().map(|i| i.as_str().to_owned()),
        }
        .context("a stored input has no id")?;
        pinned.push(pin(store, &id).await?);
    }
    let mut pinned = pinned.into_iter();
    let (Some(objectives_ref), Some(subject_ref)) = (pinned.next(), pinned.next()) else {
        bail!("internal: inputs were not pinned");
    };
    let name = Name::sanitized_text(
        &format!(
            "{}--{}",
            objectives.document.metadata.name, subject.document.metadata.name
        ),
        255,
    );
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new(name.as_str())?),
        spec: Spec::ObjectivesCheck(ObjectivesCheckSpec {
            objectives: objectives_ref,
            subject: subject_ref,
            baseline: pinned.next(),
            result: report.result,
            criteria: report.criteria.clone(),
        }),
    };
    let outcome = store
        .apply(&[document], &actor())
        .await
        .context("the verdict could not be recorded")?;
    let id = outcome.results.into_iter().next().map(|a| a.id).unwrap_or_default();
    Ok(Recorded { id, name })
}

/// A reference to the stored object `id`, pinned to its current content.
async fn pin(store: &dyn Store, id: &str) -> anyhow::Result<Ref> {
    let object_id = ObjectId::new(id)?;
    let stored = store.get(&Selector::Id(object_id.clone())).await?;
    let digest = mlspec_store::content_digest(&stored.document)?;
    Ok(Ref {
        target: RefTarget::Id(object_id),
        digest: Some(mlspec_spec::newtypes::Digest::new(digest)?),
    })
}

fn print_report(report: &Report, format: CheckFormat) -> anyhow::Result<()> {
    match format {
        CheckFormat::Json => outln!("{}", serde_json::to_string_pretty(report)?),
        CheckFormat::Junit => out!("{}", junit::render(report)?),
        CheckFormat::Table => out!("{}", render_table(report)),
    }
    if let Some(recorded) = &report.recorded {
        errln!("recorded ObjectivesCheck/{} ({})", recorded.name, recorded.id);
    }
    Ok(())
}

fn render_table(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .criteria
        .iter()
        .map(|c| {
            vec![
                c.name.to_string(),
                gate(c.severity).to_owned(),
                c.expression.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
                actual(c),
                verdict_word(c).to_owned(),
            ]
        })
        .collect();
    let mut out = format!("{} against {}", report.subject, report.objectives);
    if let Some(baseline) = &report.baseline {
        out.push_str(&format!(" (baseline {baseline})"));
    }
    out.push_str("\n\n");
    out.push_str(&crate::table::render(
        &["CRITERION", "GATE", "EXPRESSION", "ACTUAL", "VERDICT"],
        &rows,
    ));
    let reasons: Vec<String> = report
        .criteria
        .iter()
        .filter(|c| !c.met)
        .filter_map(|c| c.reason.as_ref().map(|r| format!("  {}: {r}", c.name)))
        .collect();
    if !reasons.is_empty() {
        out.push_str(&format!("\nnot met:\n{}\n", reasons.join("\n")));
    }
    let blocking = report
        .criteria
        .iter()
        .filter(|c| !c.met && c.severity == Gate::Block)
        .count();
    let warned = report
        .criteria
        .iter()
        .filter(|c| !c.met && c.severity == Gate::Warn)
        .count();
    let total_block = report.criteria.iter().filter(|c| c.severity == Gate::Block).count();
    let result = match report.result {
        Outcome::Passed => "PASSED",
        Outcome::Failed => "FAILED",
    };
    out.push_str(&format!(
        "\n{result}: {} of {total_block} block criteria met; {warned} warn criteria not met\n",
        total_block - blocking
    ));
    out
}

fn gate(severity: Gate) -> &'static str {
    match severity {
        Gate::Block => "block",
        Gate::Warn => "warn",
    }
}

/// The values a criterion read: `accuracy = 0.93, recall[gender=F] = 0.8`.
fn actual(c: &CriterionResult) -> String {
    let parts: Vec<String> = c.observed.iter().map(|o| format!("{} = {}", o.what, o.value)).collect();
    parts.join(", ")
}

fn verdict_word(c: &CriterionResult) -> &'static str {
    match c.status {
        Some(CriterionStatus::Met) => "met",
        Some(CriterionStatus::NotMet) => "NOT MET",
        Some(CriterionStatus::Unknown) => "NOT MET (unknown)",
        Some(CriterionStatus::Error) => "NOT MET (error)",
        None if c.met => "met",
        None => "NOT MET",
    }
}

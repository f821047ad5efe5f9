//! `mlspec objectives check OBJECTIVES --metrics FILE|REF [--baseline FILE|REF]`: evaluate
//! every launch criterion against an Evaluation, TestReport, Run or Training, print the verdict
//! (table, JSON or JUnit XML), and record it in the store as an ObjectivesCheck.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_spec::expr::Record;
use mlspec_spec::kinds::{CriterionResult, CriterionStatus, Gate, ObjectivesCheckSpec, Outcome, RESULT_KINDS};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Name, ObjectId, Ref, RefTarget, Spec};
use mlspec_store::{Selector, Store};
use serde::Serialize;

use crate::documents::{Loaded, load};
use crate::output::{Choice, Format, formats};
use crate::store::{LazyStore, StoreChoice, actor, block_on};
use crate::verdict::evaluate_all;

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
    #[arg(long, value_parser = formats(CHECK_FORMATS), default_value = "table")]
    format: Format,
    /// Do not record the verdict in the store.
    #[arg(long)]
    no_record: bool,
}

/// The formats of a verdict.
const CHECK_FORMATS: &[Choice] = &[
    ("table", Format::Text, "An aligned table with the reasons below"),
    ("json", Format::Json, "One JSON object"),
    (
        "junit",
        Format::Junit,
        "JUnit XML: one test suite, one test case per criterion",
    ),
];

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Check(args) => block_on(check(args, choice)),
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
        baseline: baseline.as_ref().map(Loaded::label),
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

/// Records the verdict: inputs read from files are applied first, then an ObjectivesCheck that
/// pins each input's stored version by digest.
async fn record_verdict(
    store: &dyn Store,
    report: &Report,
    objectives: &Loaded,
    subject: &Loaded,
    baseline: Option<&Loaded>,
) -> anyhow::Result<Recorded> {
    let inputs: Vec<&Loaded> = [Some(objectives), Some(subject), baseline]
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
        digest: Some(digest),
    })
}

fn print_report(report: &Report, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => crate::output::json(report)?,
        Format::Junit => out!("{}", junit::render(report)?),
        _ => out!("{}", render_table(report)),
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

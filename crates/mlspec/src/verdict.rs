//! The verdict of Objectives on results: every criterion's expression compiled against the
//! results (and a baseline's), its diagnostics drawn over the objectives file where they stand,
//! and evaluated — `objectives check` prints and records the verdict, `eval` and `test` put it in
//! the document they write.

use anyhow::{Context as _, bail};
use mlspec_spec::expr::{self, Context, ExprDiagnostic, Level, Record, Scope, Span};
use mlspec_spec::kinds::{CriterionResult, CriterionStatus, Gate, ObjectivesSpec, ObservedValue, Outcome, Verdict};
use mlspec_spec::newtypes::{ShortText, Text};
use mlspec_spec::{Document, Kind, Ref, Spec};

use crate::documents::{Loaded, load};
use crate::store::LazyStore;

/// The verdict of the Objectives (`arg`: a file or a stored reference) on a results document
/// (an Evaluation or TestReport being made), against an optional baseline results document.
/// Exit-2 errors when the objectives cannot be read or an expression has errors.
pub async fn verdict_on(
    arg: &str,
    subject: &Document,
    baseline: Option<&Document>,
    store: &mut LazyStore<'_>,
) -> anyhow::Result<Verdict> {
    let objectives = load(arg, &[Kind::Objectives], store).await?;
    let Spec::Objectives(spec) = &objectives.document.spec else {
        bail!("{arg} is not Objectives");
    };
    let record = Record::from_document(subject).context("the results document holds no metrics")?;
    let base = baseline.and_then(Record::from_document);
    let (criteria, _) = evaluate_all(spec, &objectives, &record, base.as_ref())?;
    let blocked = criteria.iter().any(|c| !c.met && c.severity == Gate::Block);
    Ok(Verdict {
        objectives: Ref::named(Kind::Objectives, objectives.document.metadata.name.clone()),
        result: if blocked { Outcome::Failed } else { Outcome::Passed },
        criteria,
    })
}

/// Compiles and evaluates every criterion. Diagnostics are printed to stderr; an error in any
/// criterion stops the check before anything is evaluated.
pub fn evaluate_all(
    spec: &ObjectivesSpec,
    objectives: &Loaded,
    record: &Record,
    baseline: Option<&Record>,
) -> anyhow::Result<(Vec<CriterionResult>, Vec<String>)> {
    let scope = Scope {
        context: Context::Criterion,
        current: Some(record),
        baseline,
        has_baseline: baseline.is_some(),
    };
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
            crate::output::diagnostic(|colour| shifted.render(&name, source, colour));
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
fn diagnostic_source<'a>(objectives: &'a Loaded, criterion: &str, expression: &'a str) -> (String, &'a str, usize) {
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

//! The part of an object's page that depends on its kind: a run's state and metrics (with a
//! link to its curves; a running pipeline's steps live, an ended one's WorkflowRecord), an evaluation's or test's metrics with their confidence intervals,
//! its slices with the worst value of each metric marked, its fairness summaries and its
//! verdict; the objectives' criteria and each check's result with the values it observed.
//! A pipeline and a pipeline run ([`crate::pipelines`]) show their steps as a graph; the data
//! kinds' views (profiles, validation reports, splits) are in [`crate::data`], a monitoring
//! window's in [`crate::monitoring`]. Kinds without a
//! view of their own show the document only.

use std::collections::BTreeMap;

use maud::{Markup, html};
use mlspec_spec::Spec;
use mlspec_spec::kinds::{
    CriterionResult, CriterionStatus, EvaluationSpec, Fairness, Gate, ObjectivesSpec, Outcome, RunSpec, RunStatus,
    SliceMetrics, TestReportSpec, Verdict,
};
use mlspec_spec::values::{Metric, MetricValue};
use mlspec_store::StoredObject;

use crate::data;
use crate::format::{encode, number, run_duration, time};
use crate::{Ui, UiError};

/// The kind's own view of `object`.
pub(crate) async fn of(ui: &Ui, object: &StoredObject) -> Result<Markup, UiError> {
    Ok(match &object.document.spec {
        Spec::WorkflowRecord(record) => crate::pipelines::record_view(ui, record).await?,
        Spec::Pipeline(pipeline) => crate::pipelines::pipeline_view(pipeline),
        Spec::Run(run) => html! {
            (run_state(run))
            @if crate::live::is_live(run) { (crate::live::view(ui, &object.summary.id, run).await) }
            @else if run.pipeline.is_some() { (crate::pipelines::record_link(ui, &object.summary.id).await) }
            (results(&object.summary.id, &run.metrics, true))
        },
        Spec::Training(training) => results(&object.summary.id, &training.metrics, false),
        Spec::Evaluation(evaluation) => evaluation_view(evaluation),
        Spec::TestReport(report) => test_view(report),
        Spec::ObjectivesCheck(check) => html! {
            h2 { "Result: " (outcome(check.result)) }
            (criteria(&check.criteria))
        },
        Spec::Objectives(objectives) => objectives_view(objectives),
        Spec::DataProfile(profile) => data::profile_view(&object.summary.id, profile),
        Spec::ValidationReport(report) => data::validation_view(report),
        Spec::Split(split) => data::split_view(split),
        Spec::ModelPackage(package) => crate::trust::package::view(ui, object, package).await,
        Spec::MonitoringReport(report) => crate::monitoring::view(ui, report).await,
        _ => html! {},
    })
}

/// A run's state, times, and how it ended.
fn run_state(run: &RunSpec) -> Markup {
    let (word, tone) = match run.status {
        RunStatus::Scheduled => ("scheduled", "busy"),
        RunStatus::Running => ("running", "busy"),
        RunStatus::Finished => ("finished", "pass"),
        RunStatus::Failed => ("failed", "fail"),
        RunStatus::Killed => ("killed", "fail"),
        RunStatus::Unknown => ("unknown", ""),
    };
    html! {
        p.run-state {
            "State: " span class=(tone) { (word) }
            @if let Some(start) = &run.start_time { " · started " (time(&start.to_string())) }
            @if let Some(took) = run_duration(run) { " · took " (took) }
            @if let Some(code) = run.exit_code { " · exit code " (code) }
            @if let Some(signal) = &run.signal { " · " (signal.as_str()) }
        }
    }
}

/// A verdict, coloured.
pub(crate) fn outcome(result: Outcome) -> Markup {
    match result {
        Outcome::Passed => html! { span.pass { "passed" } },
        Outcome::Failed => html! { span.fail { "failed" } },
    }
}

/// The metrics' latest scalar values (the last recorded per key), and the curves' link.
fn results(id: &str, metrics: &[Metric], curves: bool) -> Markup {
    let latest = latest_scalars(metrics);
    html! {
        h2 { "Metrics" }
        (metric_table(&latest))
        @if curves && metrics.iter().any(|m| m.step.is_some() || m.timestamp.is_some()) {
            p { a href=(format!("/ui/runs/compare?run={}", encode(id))) { "Curves of every metric →" } }
        }
    }
}

/// Each key's last scalar value, in key order.
fn latest_scalars(metrics: &[Metric]) -> BTreeMap<String, f64> {
    let mut latest = BTreeMap::new();
    for metric in metrics {
        if let MetricValue::Scalar(value) = metric.value {
            latest.insert(metric.key.as_str().to_owned(), value);
        }
    }
    latest
}

/// Metric values with their intervals: `KEY_ci_low` and `KEY_ci_high` join `KEY`.
fn metric_table(values: &BTreeMap<String, f64>) -> Markup {
    let interval = |key: &str| {
        let low = values.get(&format!("{key}_ci_low"))?;
        let high = values.get(&format!("{key}_ci_high"))?;
        Some(format!("[{}, {}]", number(*low), number(*high)))
    };
    let shown: Vec<(&String, &f64)> = values
        .iter()
        .filter(|(k, _)| !k.ends_with("_ci_low") && !k.ends_with("_ci_high"))
        .collect();
    html! {
        @if shown.is_empty() { p.empty { "No scalar metric." } }
        @else {
            table.metrics {
                thead { tr { th scope="col" { "Metric" } th scope="col" { "Value" } th scope="col" { "Interval" } } }
                tbody {
                    @for (key, value) in shown {
                        tr { th scope="row" { (key) } td.num { (number(*value)) } td.num { (interval(key).unwrap_or_default()) } }
                    }
                }
            }
        }
    }
}

fn evaluation_view(spec: &EvaluationSpec) -> Markup {
    html! {
        h2 { "Metrics" }
        (metric_table(&latest_scalars(&spec.metrics)))
        @if !spec.deltas.0.is_empty() {
            h2 { "Against the baseline" }
            table.metrics {
                thead { tr { th scope="col" { "Metric" } th scope="col" { "Change" } } }
                tbody { @for (key, delta) in &spec.deltas.0 { tr { th scope="row" { (key.as_str()) } td.num { (number(*delta)) } } } }
            }
        }
        (slices(&spec.slices))
        (fairness(&spec.fairness))
        (verdict(spec.verdict.as_ref()))
    }
}

fn test_view(spec: &TestReportSpec) -> Markup {
    html! {
        p {
            "Holdback read " (spec.holdback_reads)
            @if let Some(budget) = spec.holdback_read_budget { " of " (budget) " allowed" }
            " time(s)."
        }
        h2 { "Metrics" }
        (metric_table(&latest_scalars(&spec.metrics)))
        (slices(&spec.slices))
        (verdict(spec.verdict.as_ref()))
    }
}

/// Whether a lower value of the metric is better (losses and errors).
fn lower_is_better(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["loss", "error", "mse", "mae", "rmse", "mape", "brier", "fpr", "fnr"]
        .iter()
        .any(|word| key.contains(word))
}

/// Metrics per slice: one row per slice; in each metric's column the worst slice is marked.
fn slices(slices: &[SliceMetrics]) -> Markup {
    if slices.is_empty() {
        return html! {};
    }
    let values: Vec<BTreeMap<String, f64>> = slices.iter().map(|s| latest_scalars(&s.metrics)).collect();
    let mut keys: Vec<&String> = values.iter().flat_map(BTreeMap::keys).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| !k.ends_with("_ci_low") && !k.ends_with("_ci_high"));
    let worst: BTreeMap<&String, usize> = keys
        .iter()
        .filter_map(|&key| {
            let present = values.iter().enumerate().filter_map(|(i, v)| Some((i, *v.get(key)?)));
            let pick = match lower_is_better(key) {
                true => present.max_by(|a, b| a.1.total_cmp(&b.1)),
                false => present.min_by(|a, b| a.1.total_cmp(&b.1)),
            };
            pick.map(|(i, _)| (key, i))
        })
        .collect();
    html! {
        h2 { "Slices" }
        p.hint { "The worst slice of each metric is marked." }
        div.table-scroll role="region" tabindex="0" aria-label="Metrics by slice" {
            table.slices {
                thead { tr { th scope="col" { "Slice" } th scope="col" { "Rows" } @for key in &keys { th scope="col" { (key) } } } }
                tbody {
                    @for (i, (slice, row)) in slices.iter().zip(&values).enumerate() {
                        tr {
                            th scope="row" { (slice.name.as_str()) }
                            td.num { (slice.rows) }
                            @for key in &keys {
                                @let is_worst = worst.get(key) == Some(&i) && slices.len() > 1;
                                td.num.worst[is_worst] {
                                    (row.get(*key).map(|v| number(*v)).unwrap_or_default())
                                    @if is_worst { span.visually-hidden { " (worst)" } " ▼" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn fairness(summaries: &[Fairness]) -> Markup {
    let cell = |value: Option<f64>| value.map(number).unwrap_or_default();
    html! {
        @if !summaries.is_empty() {
            h2 { "Fairness" }
            table.fairness {
                thead { tr {
                    th scope="col" { "Attribute" } th scope="col" { "Demographic parity difference" }
                    th scope="col" { "Demographic parity ratio" } th scope="col" { "Equalized odds difference" }
                } }
                tbody {
                    @for summary in summaries {
                        tr {
                            th scope="row" { (summary.attribute.as_str()) }
                            td.num { (cell(summary.demographic_parity_difference)) }
                            td.num { (cell(summary.demographic_parity_ratio)) }
                            td.num { (cell(summary.equalized_odds_difference)) }
                        }
                    }
                }
            }
        }
    }
}

/// The verdict against the objectives, with every criterion.
pub(crate) fn verdict(verdict: Option<&Verdict>) -> Markup {
    html! {
        @if let Some(verdict) = verdict {
            h2 { "Verdict against " (verdict.objectives.to_string()) ": " (outcome(verdict.result)) }
            (criteria(&verdict.criteria))
        }
    }
}

/// Each criterion: met or not, how much it matters, the values it observed and why.
fn criteria(criteria: &[CriterionResult]) -> Markup {
    html! {
        table.criteria {
            thead { tr {
                th scope="col" { "Criterion" } th scope="col" { "Result" } th scope="col" { "Gate" }
                th scope="col" { "Observed" } th scope="col" { "Why" }
            } }
            tbody {
                @for criterion in criteria {
                    tr {
                        th scope="row" { (criterion.name.as_str())
                            @if let Some(expression) = &criterion.expression { br; code { (expression.as_str()) } } }
                        td { (criterion_result(criterion)) }
                        td { (match criterion.severity { Gate::Block => "blocks", Gate::Warn => "warns" }) }
                        td { ul.observed { @for value in &criterion.observed { li { (value.what.as_str()) " = " (value.value.as_str()) } } } }
                        td { (criterion.reason.as_ref().map(|r| r.as_str()).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

fn criterion_result(criterion: &CriterionResult) -> Markup {
    match criterion.status {
        Some(CriterionStatus::Unknown) => html! { span.unknown { "unknown" } },
        Some(CriterionStatus::Error) => html! { span.fail { "error" } },
        _ if criterion.met => html! { span.pass { "met" } },
        _ => html! { span.fail { "not met" } },
    }
}

fn objectives_view(spec: &ObjectivesSpec) -> Markup {
    html! {
        h2 { "Launch criteria" }
        table.criteria {
            thead { tr { th scope="col" { "Criterion" } th scope="col" { "Expression" } th scope="col" { "Gate" } th scope="col" { "Why it matters" } } }
            tbody {
                @for criterion in &spec.criteria {
                    tr {
                        th scope="row" { (criterion.name.as_str()) }
                        td { code { (criterion.expression.as_str()) } }
                        td { (match criterion.severity { Gate::Block => "blocks", Gate::Warn => "warns" }) }
                        td { (criterion.description.as_ref().map(|d| d.as_str()).unwrap_or_default()) }
                    }
                }
            }
        }
        @if let Some(budget) = spec.holdback_read_budget { p { "The holdback set may be read " (budget) " time(s)." } }
        p { a href="/ui/kinds/ObjectivesCheck" { "Every recorded check →" } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_and_errors_are_better_low() {
        assert!(lower_is_better("val/loss"));
        assert!(lower_is_better("RMSE"));
        assert!(!lower_is_better("accuracy"));
        assert!(!lower_is_better("auc"));
    }
}

//! A MonitoringReport: one window of a served package's traffic against its policy — each
//! signal's observed value against its threshold, breached ones first with their evidence, the
//! signals that could not be evaluated and why, and what was done about a breach (an alert, a
//! rollback with the package traffic moved to, whether it was carried out or refused).

use maud::{Markup, html};
use mlspec_spec::kinds::{ActionResult, ActionType, Comparison, MonitoringReportSpec, SignalObservation};

use crate::Ui;
use crate::format::{number, time};
use crate::pipelines::reference;

/// The report's page.
pub(crate) async fn view(ui: &Ui, spec: &MonitoringReportSpec) -> Markup {
    let breached = spec.signals.iter().filter(|s| s.breached).count();
    let mut signals: Vec<&SignalObservation> = spec.signals.iter().collect();
    signals.sort_by_key(|s| !s.breached);
    let mut targets = Vec::with_capacity(spec.actions.len());
    for action in &spec.actions {
        targets.push(match &action.target {
            Some(target) => Some(reference(ui, target).await),
            None => None,
        });
    }
    html! {
        p {
            "Policy " (reference(ui, &spec.policy).await)
            @if let Some(package) = &spec.package { " · package " (reference(ui, package).await) }
            @if let Some(route) = &spec.route { " · route " (route.as_str()) }
        }
        p {
            "Window " (time(&spec.window_start.to_string())) " – " (time(&spec.window_end.to_string()))
            @if let Some(requests) = spec.requests { " · " (requests) " requests" }
            @if let Some(source) = &spec.source { " · from " code { (source.as_str()) } }
        }
        h2 {
            "Result: "
            @if breached > 0 { span.fail { (breached) " of " (spec.signals.len()) " signal(s) breached" } }
            @else { span.pass { "no signal breached" } }
        }
        div.table-scroll role="region" tabindex="0" aria-label="Signals" {
            table.signals {
                thead { tr {
                    th scope="col" { "Signal" } th scope="col" { "Observed" } th scope="col" { "Breached when" }
                    th scope="col" { "Verdict" } th scope="col" { "Samples" } th scope="col" { "Evidence" }
                } }
                tbody {
                    @for signal in &signals {
                        tr {
                            th scope="row" { (signal.name.as_str()) }
                            td.num { (number(signal.value)) }
                            td.num { (symbol(signal.threshold.op)) " " (number(signal.threshold.value)) }
                            td { @if signal.breached { span.fail { "breached" } } @else { span.pass { "within" } } }
                            td.num { (signal.samples.map(|n| n.to_string()).unwrap_or_default()) }
                            td { @for example in &signal.examples { code { (example.as_str()) } " " } }
                        }
                    }
                }
            }
        }
        @if !spec.skipped.is_empty() {
            h2 { "Not evaluated" }
            ul { @for skipped in &spec.skipped { li { strong { (skipped.name.as_str()) } ": " (skipped.reason.as_str()) } } }
        }
        @if !spec.actions.is_empty() {
            h2 { "Actions" }
            ul.actions {
                @for (action, target) in spec.actions.iter().zip(targets) {
                    li {
                        strong { (action_word(action.action_type)) }
                        " at " (time(&action.at.to_string()))
                        @if let Some(target) = target { " → " (target) }
                        @match action.result {
                            Some(ActionResult::Done) => { ": " span.pass { "done" } }
                            Some(ActionResult::Refused) => { ": " span.fail { "refused" } }
                            None => {}
                        }
                        @if !action.evidence.is_empty() {
                            " · on " @for name in &action.evidence { (name.as_str()) " " }
                        }
                        @if let Some(detail) = &action.detail { br; span.meta { (detail.as_str()) } }
                    }
                }
            }
        }
    }
}

fn symbol(op: Comparison) -> &'static str {
    match op {
        Comparison::Gt => ">",
        Comparison::Ge => "≥",
        Comparison::Lt => "<",
        Comparison::Le => "≤",
    }
}

fn action_word(action: ActionType) -> &'static str {
    match action {
        ActionType::Alert => "alert",
        ActionType::Rollback => "rollback",
        ActionType::Retrain => "retrain",
    }
}

//! Pipelines: a Pipeline's steps as the graph they form (each step after the steps it depends
//! on), and a WorkflowRecord — one run of a pipeline, the metadata file it can be recreated
//! from — as the same graph with each step's outcome (finished, cached, failed, killed,
//! skipped), and a table of each step's module, times, cache key, and outputs with their
//! digests. A reference the store can resolve becomes a link to its object's page.

use maud::{Markup, html};
use mlspec_spec::kinds::{PipelineSpec, StepRecord, StepStatus, WorkflowRecordSpec};
use mlspec_spec::{Kind, ObjectId, Ref, Spec};
use mlspec_store::{Direction, Selector};

use crate::format::{object_href, time};
use crate::lineage::{GraphNode, draw};
use crate::{Ui, UiError};

/// A link to the object a reference names when the store has it; else the reference as text.
pub(crate) async fn reference(ui: &Ui, reference: &Ref) -> Markup {
    match ui.store.get(&Selector::from(reference)).await {
        Ok(found) => html! { a href=(object_href(&found.summary.id)) { (reference.to_string()) } },
        Err(_) => html! { span { (reference.to_string()) } " " span.meta { "(not in the store)" } },
    }
}

/// A link to the WorkflowRecord of an ended pipeline Run (found among the objects that name it),
/// whose page shows what each step did.
pub(crate) async fn record_link(ui: &Ui, run_id: &str) -> Markup {
    let Ok(id) = ObjectId::new(run_id) else { return html! {} };
    let near = ui.store.lineage(&Selector::Id(id), Direction::Both, 1).await;
    let record = near
        .ok()
        .and_then(|graph| graph.nodes.into_iter().find(|n| n.kind == Kind::WorkflowRecord));
    html! {
        @match record {
            Some(node) => p { "What each step did: " a href=(object_href(&node.id)) { "WorkflowRecord/" (node.name) } },
            None => p.hint { "No WorkflowRecord names this run: its pipeline did not end (the runner was stopped at once)." },
        }
    }
}

/// Each step's dependencies as edges (dependency → step), with the relation's name.
fn dependency_edges(spec: &PipelineSpec) -> Vec<(usize, usize, &'static str)> {
    spec.step_dependencies()
        .iter()
        .enumerate()
        .flat_map(|(step, deps)| deps.iter().map(move |&dep| (dep, step, "then")))
        .collect()
}

/// A Pipeline's steps as a graph; each node names its module.
pub(crate) fn pipeline_view(spec: &PipelineSpec) -> Markup {
    let nodes: Vec<GraphNode> = spec
        .steps
        .iter()
        .map(|step| GraphNode {
            href: format!("#step-{}", step.name.as_str()),
            classes: "g-train".to_owned(),
            kind: step.module.to_string(),
            name: step.name.as_str().to_owned(),
            title: format!("step {} runs {}", step.name.as_str(), step.module),
        })
        .collect();
    html! {
        h2 { "Steps" }
        (draw(&nodes, &dependency_edges(spec), "Pipeline steps"))
        table.steps {
            thead { tr { th scope="col" { "Step" } th scope="col" { "Module" } th scope="col" { "After" } } }
            tbody {
                @for step in &spec.steps {
                    tr #(format!("step-{}", step.name.as_str())) {
                        th scope="row" { (step.name.as_str()) }
                        td { (step.module.to_string()) }
                        td { @for dep in &step.depends_on { (dep.as_str()) " " } }
                    }
                }
            }
        }
    }
}

fn outcome(status: StepStatus) -> (&'static str, &'static str) {
    match status {
        StepStatus::Finished => ("finished", "pass"),
        StepStatus::Cached => ("cached", "pass"),
        StepStatus::Failed => ("failed", "fail"),
        StepStatus::Killed => ("killed", "fail"),
        StepStatus::Skipped => ("skipped", "unknown"),
    }
}

/// A WorkflowRecord: the steps as a graph coloured by outcome, and each step's record.
pub(crate) async fn record_view(ui: &Ui, spec: &WorkflowRecordSpec) -> Result<Markup, UiError> {
    let pipeline = match ui.store.get(&Selector::from(&spec.pipeline)).await {
        Ok(found) => match found.document.spec {
            Spec::Pipeline(pipeline) => Some(pipeline),
            _ => None,
        },
        Err(_) => None,
    };
    let edges = match &pipeline {
        Some(pipeline) => edges_between(
            pipeline,
            &spec.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ),
        None => Vec::new(),
    };
    let nodes: Vec<GraphNode> = spec
        .steps
        .iter()
        .map(|step| {
            let (word, class) = outcome(step.status);
            GraphNode {
                href: format!("#step-{}", step.name.as_str()),
                classes: format!("g-train state-{word} {class}"),
                kind: word.to_owned(),
                name: step.name.as_str().to_owned(),
                title: format!("step {}: {word}", step.name.as_str()),
            }
        })
        .collect();
    let mut rows = Vec::with_capacity(spec.steps.len());
    for step in &spec.steps {
        rows.push(step_row(ui, step).await);
    }
    Ok(html! {
        p { "Pipeline " (reference(ui, &spec.pipeline).await)
            @if let Some(run) = &spec.run { " · run " (reference(ui, run).await) } }
        @if pipeline.is_none() { p.notice { "The pipeline is not in the store: the steps are drawn without their order." } }
        h2 { "Steps" }
        (draw(&nodes, &edges, "Pipeline run"))
        div.table-scroll role="region" tabindex="0" aria-label="Steps" {
            table.steps {
                thead { tr {
                    th scope="col" { "Step" } th scope="col" { "Outcome" } th scope="col" { "Run" } th scope="col" { "Started" }
                    th scope="col" { "Finished" } th scope="col" { "Outputs" }
                } }
                tbody { @for row in rows { (row) } }
            }
        }
        @if !spec.inputs.is_empty() {
            h2 { "Inputs" }
            table {
                thead { tr { th scope="col" { "Input" } th scope="col" { "Source" } th scope="col" { "Digest" } } }
                tbody { @for input in &spec.inputs {
                    tr { th scope="row" { (input.name.as_str()) } td { (reference(ui, &input.source).await) } td { code { (input.digest.to_string()) } } }
                } }
            }
        }
    })
}

/// The pipeline's step order as edges between the steps `names` (matched by name): a record's
/// or a running pipeline's, which may lack some of the pipeline's steps.
pub(crate) fn edges_between(pipeline: &PipelineSpec, names: &[&str]) -> Vec<(usize, usize, &'static str)> {
    let position = |name: &str| names.iter().position(|n| *n == name);
    dependency_edges(pipeline)
        .into_iter()
        .filter_map(|(dep, step, relation)| {
            let from = position(pipeline.steps.get(dep)?.name.as_str())?;
            let to = position(pipeline.steps.get(step)?.name.as_str())?;
            Some((from, to, relation))
        })
        .collect()
}

async fn step_row(ui: &Ui, step: &StepRecord) -> Markup {
    let (word, class) = outcome(step.status);
    let run = match &step.run {
        Some(run) => reference(ui, run).await,
        None => html! {},
    };
    html! {
        tr #(format!("step-{}", step.name.as_str())) {
            th scope="row" { (step.name.as_str()) }
            td { span class=(class) { (word) }
                @if let Some(reason) = &step.reason { br; span.meta { (reason.as_str()) } }
                @if let Some(from) = &step.cached_from { br; span.meta { "from " (from.to_string()) } } }
            td { (run) }
            td { (step.started_at.as_ref().map(|t| time(&t.to_string())).unwrap_or_default()) }
            td { (step.finished_at.as_ref().map(|t| time(&t.to_string())).unwrap_or_default()) }
            td { ul.outputs { @for output in &step.outputs { li { (output.name.as_str()) " " code { (output.digest.to_string()) } } } } }
        }
    }
}

//! A pipeline as it runs: its Run, while `Running`, says where each begun step can be watched
//! ([`mlspec_pipeline::live`]). Each step's state comes from the store when its Run is recorded
//! (it ended), else from the step's own `/varz` (starting, running, ending, stopping), else it
//! has not begun (waiting). `/ui/pipelines/{id}/state` answers the same as JSON, and the page's
//! script asks it every 2 s until the pipeline ends.
//!
//! The endpoints are probed from the server, not the browser: only loopback `http://` ones
//! (where a pipeline's steps listen; a tag is anyone's to write, and must not aim the server's
//! requests elsewhere), only `/varz`, within a second, and an answer counts only when it names
//! the step's own Run — so a UI on another machine than the runner says "unreachable" rather
//! than show whatever answers there.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use maud::{Markup, html};
use mlspec_pipeline::live::{Progress, progress_of};
use mlspec_spec::kinds::{PipelineSpec, RunSpec, RunStatus};
use mlspec_spec::{ObjectId, Spec};
use mlspec_store::Selector;
use serde::Serialize;
use serde_json::Value;

use crate::format::{duration, object_href};
use crate::lineage::{GraphNode, draw};
use crate::page::json_island;
use crate::pipelines::edges_between;
use crate::{Ui, UiError};

/// How long one step's endpoints may take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The most endpoints one request probes (a Run's tags are anyone's to write).
const MAX_PROBES: usize = 16;

/// The most steps shown when the pipeline is not in the store and the Run's tags name them.
const MAX_STEPS: usize = 1000;

/// One step of a running pipeline, as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct StepState {
    pub name: String,
    /// waiting, starting, running, ending, stopping, finished, cached, failed, killed or
    /// unreachable.
    pub state: &'static str,
    /// `pass`, `fail`, `busy` or empty: how the state is coloured.
    pub tone: &'static str,
    /// More words: how long it has run, why it failed, where its endpoints are.
    pub detail: String,
    /// The step's Run page, once it is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

/// The answer of `/ui/pipelines/{id}/state`.
#[derive(Debug, Serialize)]
pub(crate) struct PipelineState {
    /// False once the pipeline Run has ended (the page then reloads).
    pub running: bool,
    pub steps: Vec<StepState>,
}

/// A Run of a pipeline that has not ended.
pub(crate) fn is_live(run: &RunSpec) -> bool {
    run.pipeline.is_some() && matches!(run.status, RunStatus::Running | RunStatus::Scheduled)
}

/// `GET /ui/pipelines/{id}/state`.
pub(crate) async fn state(State(ui): State<Ui>, Path(id): Path<String>) -> Result<Json<PipelineState>, UiError> {
    let object = crate::objects::stored(&ui, &id).await?;
    let Spec::Run(run) = &object.document.spec else {
        return Err(UiError::not_found(format!("{id} is not a Run")));
    };
    if run.pipeline.is_none() {
        return Err(UiError::not_found(format!("Run {id} is not a pipeline's run")));
    }
    let pipeline = pipeline_of(&ui, run).await;
    Ok(Json(PipelineState {
        running: is_live(run),
        steps: steps(&ui, run, pipeline.as_ref()).await,
    }))
}

/// The live part of a running pipeline's Run page: its steps as a graph and a table, in their
/// states now, refreshed by the page's script.
pub(crate) async fn view(ui: &Ui, id: &str, run: &RunSpec) -> Markup {
    let pipeline = pipeline_of(ui, run).await;
    let states = steps(ui, run, pipeline.as_ref()).await;
    let nodes: Vec<GraphNode> = states
        .iter()
        .map(|step| GraphNode {
            href: format!("#step-{}", step.name),
            classes: format!("g-train state-{}", step.state),
            kind: step.state.to_owned(),
            name: step.name.clone(),
            title: format!("step {}: {}", step.name, step.state),
        })
        .collect();
    let names: Vec<&str> = states.iter().map(|s| s.name.as_str()).collect();
    let edges = pipeline.as_ref().map(|p| edges_between(p, &names)).unwrap_or_default();
    html! {
        h2 { "Steps, live" }
        p.hint #live-note aria-live="polite" {
            "This pipeline is running: each step's state is read from the store or its own endpoints, again every 2 s."
        }
        (draw(&nodes, &edges, "Running pipeline"))
        div.table-scroll role="region" tabindex="0" aria-label="Steps" {
            table.steps {
                thead { tr { th scope="col" { "Step" } th scope="col" { "State" } th scope="col" { "Details" } th scope="col" { "Run" } } }
                tbody {
                    @for step in &states {
                        tr #(format!("step-{}", step.name)) {
                            th scope="row" { (step.name) }
                            td data-step-state=(step.name) class=(step.tone) { (step.state) }
                            td data-step-detail=(step.name) { (step.detail) }
                            td data-step-run=(step.name) { @if let Some(href) = &step.href { a href=(href) { "Run" } } }
                        }
                    }
                }
            }
        }
        (json_island("pipeline-data", &serde_json::json!({ "state": format!("/ui/pipelines/{}/state", crate::format::encode(id)) })))
    }
}

async fn pipeline_of(ui: &Ui, run: &RunSpec) -> Option<PipelineSpec> {
    let reference = run.pipeline.as_ref()?;
    match ui.store.get(&Selector::from(reference)).await.ok()?.document.spec {
        Spec::Pipeline(pipeline) => Some(pipeline),
        _ => None,
    }
}

/// Every step's state: the pipeline's steps in order (or, without the pipeline, the begun ones).
async fn steps(ui: &Ui, run: &RunSpec, pipeline: Option<&PipelineSpec>) -> Vec<StepState> {
    let progress = progress_of(run.tags.0.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let names: Vec<String> = match pipeline {
        Some(pipeline) => pipeline.steps.iter().map(|s| s.name.as_str().to_owned()).collect(),
        None => progress.keys().take(MAX_STEPS).cloned().collect(),
    };
    let mut probes = 0;
    let mut looks = Vec::with_capacity(names.len());
    for name in names {
        looks.push(match progress.get(&name) {
            None => Look::Known(waiting(name)),
            Some(begun) => begun_step(ui, name, begun, &mut probes).await,
        });
    }
    // The running steps' endpoints, asked all at once.
    futures_util::future::join_all(looks.into_iter().map(|look| async move {
        match look {
            Look::Known(state) => state,
            Look::Probe(asked) => probe(asked).await,
        }
    }))
    .await
}

/// A step's state as the store tells it, or the endpoints still to ask.
enum Look {
    Known(StepState),
    Probe(Asked),
}

/// A running step whose loopback endpoints are to be asked.
struct Asked {
    name: String,
    run: ObjectId,
    endpoint: String,
    addr: SocketAddr,
}

fn waiting(name: String) -> StepState {
    StepState {
        name,
        state: "waiting",
        tone: "",
        detail: "not begun".to_owned(),
        href: None,
    }
}

async fn begun_step(ui: &Ui, name: String, begun: &Progress, probes: &mut usize) -> Look {
    let recorded = ui.store.get(&Selector::Id(begun.run().clone())).await;
    let href = Some(object_href(begun.run().as_str()));
    Look::Known(match (recorded.map(|o| o.document.spec), begun) {
        (Ok(Spec::Run(step)), Progress::Cached { .. }) => StepState {
            name,
            state: "cached",
            tone: "pass",
            detail: cached_detail(&step),
            href,
        },
        (Ok(Spec::Run(step)), Progress::Started { .. }) => ended(name, &step, href),
        (_, Progress::Cached { .. }) => StepState {
            name,
            state: "cached",
            tone: "pass",
            detail: "answered from the cache; its Run is recorded when the pipeline ends".to_owned(),
            href: None,
        },
        (_, Progress::Started { run, endpoint }) => match begun.loopback_endpoint() {
            Some(addr) if *probes < MAX_PROBES => {
                *probes += 1;
                return Look::Probe(Asked {
                    name,
                    run: run.clone(),
                    endpoint: endpoint.clone(),
                    addr,
                });
            }
            _ => unreachable(name, endpoint),
        },
    })
}

fn cached_detail(step: &RunSpec) -> String {
    match &step.cached_from {
        Some(from) => format!("answered from the cache (outputs of {from})"),
        None => "answered from the cache".to_owned(),
    }
}

/// A step whose Run is recorded: how it ended.
fn ended(name: String, step: &RunSpec, href: Option<String>) -> StepState {
    let (state, tone) = match step.status {
        RunStatus::Finished | RunStatus::Unknown => ("finished", "pass"),
        RunStatus::Failed => ("failed", "fail"),
        RunStatus::Killed => ("killed", "fail"),
        RunStatus::Running | RunStatus::Scheduled => ("running", "busy"),
    };
    let detail = crate::format::run_duration(step)
        .map(|took| format!("in {took}"))
        .unwrap_or_default();
    StepState {
        name,
        state,
        tone,
        detail,
        href,
    }
}

fn unreachable(name: String, endpoint: &str) -> StepState {
    StepState {
        name,
        state: "unreachable",
        tone: "fail",
        detail: format!(
            "its endpoints ({endpoint}) do not answer from this server: the step runs on another machine, or its runner stopped"
        ),
        href: None,
    }
}

/// Asks a running step's `/varz` how it is doing.
async fn probe(asked: Asked) -> StepState {
    let Asked {
        name,
        run,
        endpoint,
        addr,
    } = asked;
    let answer = tokio::task::spawn_blocking(move || varz(addr)).await.ok().flatten();
    match answer {
        Some(varz) if varz["runId"].as_str() == Some(run.as_str()) => from_varz(name, &varz, &endpoint),
        _ => unreachable(name, &endpoint),
    }
}

fn varz(addr: SocketAddr) -> Option<Value> {
    let response = mlspec_server::probe::get(&addr.to_string(), "/varz", PROBE_TIMEOUT).ok()?;
    (response.status == 200)
        .then(|| serde_json::from_str(&response.body).ok())
        .flatten()
}

/// The state a step's `/varz` reports.
fn from_varz(name: String, varz: &Value, endpoint: &str) -> StepState {
    let uptime = varz["uptimeSeconds"].as_f64().unwrap_or(0.0);
    let reason = varz["state"]["reason"].as_str().unwrap_or_default();
    let (state, tone, detail) = match varz["state"]["state"].as_str() {
        Some("starting") => ("starting", "busy", format!("at {endpoint}")),
        Some("running") => ("running", "busy", format!("for {}, at {endpoint}", duration(uptime))),
        Some("finished") => (
            "ending",
            "busy",
            "its command finished; its Run is being recorded".to_owned(),
        ),
        Some("failed") => ("failed", "fail", reason.to_owned()),
        Some("shutting_down") => ("stopping", "busy", reason.to_owned()),
        _ => ("unreachable", "fail", format!("{endpoint} answered, but not as a step")),
    };
    StepState {
        name,
        state,
        tone,
        detail,
        href: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_phase_a_step_reports_has_its_state() {
        let at = "http://127.0.0.1:1";
        let phase = |state: Value| from_varz("s".to_owned(), &json!({ "state": state, "uptimeSeconds": 12.0 }), at);
        assert_eq!(phase(json!({"state": "running"})).state, "running");
        assert_eq!(
            phase(json!({"state": "running"})).detail,
            "for 12.0 s, at http://127.0.0.1:1"
        );
        assert_eq!(phase(json!({"state": "starting"})).state, "starting");
        assert_eq!(phase(json!({"state": "finished"})).state, "ending");
        let failed = phase(json!({"state": "failed", "reason": "exit code 3"}));
        assert_eq!(
            (failed.state, failed.tone, failed.detail.as_str()),
            ("failed", "fail", "exit code 3")
        );
        assert_eq!(
            phase(json!({"state": "shutting_down", "reason": "SIGTERM"})).state,
            "stopping"
        );
        assert_eq!(phase(json!("nonsense")).state, "unreachable");
    }
}

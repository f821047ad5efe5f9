//! `/`: where to start — the latest experiments, runs, pipeline records and model packages,
//! and every kind's list.

use axum::extract::State;
use maud::{Markup, html};
use mlspec_spec::Kind;
use mlspec_spec::expr::query::parse_order;
use mlspec_store::{ListQuery, ObjectSummary};

use crate::format::{kind_href, object_href, status, time};
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// How many of each kind the start page shows.
const LATEST: u32 = 10;

/// The kinds the start page lists, with a heading each.
const SHOWN: &[(Kind, &str)] = &[
    (Kind::Experiment, "Experiments"),
    (Kind::Run, "Latest runs"),
    (Kind::WorkflowRecord, "Pipeline runs"),
    (Kind::ModelPackage, "Model packages"),
];

/// The latest changed objects of a kind.
async fn latest(ui: &Ui, kind: Kind) -> Result<Vec<ObjectSummary>, UiError> {
    let query = ListQuery {
        order: parse_order("updated desc").ok(),
        limit: Some(LATEST),
        ..ListQuery::new(kind)
    };
    Ok(ui.store.list(&query).await?)
}

/// `GET /`.
pub(crate) async fn page(State(ui): State<Ui>) -> Result<Markup, UiError> {
    let mut sections = Vec::with_capacity(SHOWN.len());
    for &(kind, heading) in SHOWN {
        sections.push((kind, heading, latest(&ui, kind).await?));
    }
    let body = html! {
        h1 { "mlspec" }
        div.cards {
            @for (kind, heading, objects) in &sections {
                section.card {
                    h2 { (heading) }
                    @if objects.is_empty() { p.empty { "None yet." } }
                    @else {
                        ul.latest {
                            @for object in objects {
                                li {
                                    a href=(object_href(&object.id)) { (object.name) }
                                    " " span.meta { (status(object.status)) " · " (time(&object.updated_at)) }
                                }
                            }
                        }
                    }
                    p { a href=(if *kind == Kind::Run { "/ui/runs".to_owned() } else { kind_href(*kind) }) { "All " (kind.as_str()) " objects →" } }
                }
            }
        }
        section {
            h2 { "Every kind" }
            ul.kind-index {
                @for &kind in Kind::ALL {
                    li { a href=(kind_href(kind)) { (kind.as_str()) } " — " (kind.summary()) }
                }
            }
        }
    };
    Ok(shell("Start", Section::Home, body))
}

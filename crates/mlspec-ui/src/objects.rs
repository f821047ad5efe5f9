//! Every document, whatever its kind: `/ui/objects/{id}` (what it is, its labels, the view of
//! its kind, the document itself), `/raw?format=yaml|json` (the document as text, exactly as
//! `mlspec get` prints it) and `/history` (every event: who, when, what, and each field that
//! changed with its value before and after).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use mlspec_spec::{Document, ObjectId};
use mlspec_store::{Event, Selector, StoredObject};
use serde::Deserialize;

use crate::format::{kind_href, object_href, query, status, time, value};
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// An id from an address; one that cannot be an id names no object (404).
pub fn object_id(text: &str) -> Result<ObjectId, UiError> {
    ObjectId::new(text).map_err(|_| UiError::not_found("there is no object with this id"))
}

/// The object with the id in the address.
pub(crate) async fn stored(ui: &Ui, id: &str) -> Result<StoredObject, UiError> {
    Ok(ui.store.get(&Selector::Id(object_id(id)?)).await?)
}

/// `GET /ui/objects/{id}`.
pub(crate) async fn page(State(ui): State<Ui>, Path(id): Path<String>) -> Result<Markup, UiError> {
    let object = stored(&ui, &id).await?;
    let document = &object.document;
    let yaml = serde_saphyr::to_string(document).unwrap_or_default();
    let title = format!("{} {}", document.kind().as_str(), object.summary.name);
    let view = crate::views::of(&ui, &object).await;
    let body = html! {
        (heading(&object))
        (about(document))
        (view)
        section {
            h2 { "Document" }
            pre.document { code { (yaml) } }
        }
    };
    Ok(shell(&title, Section::Objects, body))
}

/// The object's kind, name and status, and the links to its other views.
pub(crate) fn heading(object: &StoredObject) -> Markup {
    let summary = &object.summary;
    let id = &summary.id;
    html! {
        p.breadcrumb { a href=(kind_href(summary.kind)) { (summary.kind.as_str()) } }
        h1 { (summary.name) " " span.badge class=(format!("status-{}", status(summary.status))) { (status(summary.status)) } }
        p.meta {
            "id " code { (id) } " · created " (time(&summary.created_at)) " · changed " (time(&summary.updated_at))
        }
        nav.views aria-label="Views of this object" {
            a href=(object_href(id)) { "Overview" }
            a href=(format!("{}/history", object_href(id))) { "History" }
            a href=(format!("/ui/lineage/{}", crate::format::encode(id))) { "Lineage" }
            a href=(format!("{}/raw?format=yaml", object_href(id))) { "YAML" }
            a href=(format!("{}/raw?format=json", object_href(id))) { "JSON" }
        }
    }
}

/// The description and labels.
fn about(document: &Document) -> Markup {
    let metadata = &document.metadata;
    html! {
        @if let Some(description) = &metadata.description { p.description { (description.as_str()) } }
        @if !metadata.labels.0.is_empty() {
            ul.labels aria-label="Labels" {
                @for (key, label) in &metadata.labels.0 { li { span.key { (key.as_str()) } "=" span { (label.as_str()) } } }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RawParams {
    format: Option<String>,
}

/// `GET /ui/objects/{id}/raw?format=yaml|json`: the document as text.
pub(crate) async fn raw(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    params: Result<Query<RawParams>, QueryRejection>,
) -> Result<Response, UiError> {
    let params = query(params)?;
    let object = stored(&ui, &id).await?;
    let (text, content_type) = match params.format.as_deref().unwrap_or("yaml") {
        "yaml" => (
            serde_saphyr::to_string(&object.document).map_err(|e| UiError::bad_request(e.to_string()))?,
            "text/plain; charset=utf-8",
        ),
        "json" => (
            serde_json::to_string_pretty(&object.document).map_err(|e| UiError::bad_request(e.to_string()))?,
            "application/json",
        ),
        other => {
            return Err(UiError::bad_request(format!(
                "`{other}` is not a format: write yaml or json"
            )));
        }
    };
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// `GET /ui/objects/{id}/history`: newest event first.
pub(crate) async fn history(State(ui): State<Ui>, Path(id): Path<String>) -> Result<Markup, UiError> {
    let object = stored(&ui, &id).await?;
    let mut events = ui.store.history(&Selector::Id(object_id(&id)?)).await?;
    events.reverse();
    let title = format!("History of {} {}", object.summary.kind.as_str(), object.summary.name);
    let body = html! {
        (heading(&object))
        h2 { "History" }
        ol.events reversed {
            @for event in &events { li { (event_view(event)) } }
        }
    };
    Ok(shell(&title, Section::Objects, body))
}

fn event_view(event: &Event) -> Markup {
    html! {
        p.event {
            strong { (event.action) } " by " (event.actor) " at " (time(&event.at)) " · event " (event.seq)
            " · status " (status(event.status))
        }
        @if !event.changes.is_empty() {
            table.changes {
                thead { tr { th scope="col" { "Field" } th scope="col" { "Before" } th scope="col" { "After" } } }
                tbody {
                    @for change in &event.changes {
                        tr {
                            td { code { (change.path) } }
                            td.before { (change.previous.as_ref().map(value).unwrap_or_default()) }
                            td.after { (change.new.as_ref().map(value).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

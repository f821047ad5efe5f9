//! Lists: `/ui/runs` (the runs of an experiment, or all, with chosen parameter and metric
//! columns, a `where` filter in the store's query language, sorting by any column, paging, and
//! a selection to compare) and `/ui/kinds/{kind}` (the same table for any kind).
//!
//! Everything is a GET form or a link, so a view is an address to share. A page reads
//! `size + 1` objects from the store — the extra one only says whether there is a next page —
//! and never counts them all, so a store with 100,000 runs pages as fast as one with 100; the
//! columns are read from the store's field index for the page's rows only. A filter that does
//! not parse is shown under the box with the wrong part marked, on an answer of 200 (the page
//! itself is fine; the query is not).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use mlspec_spec::Kind;
use mlspec_spec::expr::diagnostic::ExprDiagnostic;
use mlspec_spec::expr::query::{Filter, OrderBy, parse_filter, parse_order};
use mlspec_store::{ListQuery, ObjectSummary};
use serde::Deserialize;

use crate::format::{kind_href, object_href, query, query_string, quoted, status, time, value};
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// Rows per page unless asked otherwise.
pub const PAGE_SIZE: u32 = 50;
/// The most rows one page shows.
pub const MAX_PAGE_SIZE: u32 = 200;
/// The most columns one table shows.
pub const MAX_COLUMNS: usize = 16;
/// The most runs one comparison shows.
pub const MAX_COMPARED: usize = 20;

/// A list's address: every control of the page is one of these.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListParams {
    /// Runs of this experiment (`Experiment/NAME`, as runs refer to it).
    #[serde(default)]
    pub experiment: String,
    /// A filter in the store's query language.
    #[serde(default, rename = "where")]
    pub filter: String,
    /// `KEY [asc|desc]`.
    #[serde(default)]
    pub order: String,
    /// Field keys, separated by commas.
    #[serde(default)]
    pub columns: String,
    /// The page, from 1.
    pub page: Option<u32>,
    /// Rows per page.
    pub size: Option<u32>,
}

impl ListParams {
    fn page(&self) -> u32 {
        self.page.unwrap_or(1).max(1)
    }

    fn size(&self) -> u32 {
        self.size.unwrap_or(PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
    }

    /// The columns asked for: trimmed, without repeats, at most [`MAX_COLUMNS`].
    pub fn column_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for key in self.columns.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if !keys.iter().any(|k| k == key) && keys.len() < MAX_COLUMNS {
                keys.push(key.to_owned());
            }
        }
        keys
    }

    /// This address with some controls changed.
    fn href(&self, base: &str, order: Option<&str>, page: Option<u32>) -> String {
        let page = page.unwrap_or(1).to_string();
        let size = self.size.map(|s| s.to_string()).unwrap_or_default();
        let page = if page == "1" { "" } else { page.as_str() };
        let pairs = [
            ("experiment", self.experiment.as_str()),
            ("where", self.filter.as_str()),
            ("order", order.unwrap_or(&self.order)),
            ("columns", self.columns.as_str()),
            ("page", page),
            ("size", size.as_str()),
        ];
        format!("{base}{}", query_string(pairs))
    }
}

/// Why the list cannot be read as asked: shown beside the control at fault.
enum QueryProblem {
    Filter(Vec<ExprDiagnostic>),
    Order(String),
}

/// The store query of a list page, or what is wrong with the address's controls.
fn list_query(kind: Kind, params: &ListParams) -> Result<ListQuery, QueryProblem> {
    let mut parts: Vec<Filter> = Vec::new();
    if !params.filter.trim().is_empty() {
        parts.push(parse_filter(params.filter.trim()).map_err(QueryProblem::Filter)?);
    }
    if !params.experiment.trim().is_empty() {
        let clause = format!("spec.experiment = {}", quoted(params.experiment.trim()));
        parts.push(parse_filter(&clause).map_err(QueryProblem::Filter)?);
    }
    let filter = match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Filter::All(parts)),
    };
    let order: Option<OrderBy> = match params.order.trim() {
        "" => None,
        text => Some(parse_order(text).map_err(QueryProblem::Order)?),
    };
    let size = params.size();
    Ok(ListQuery {
        filter,
        order,
        limit: Some(size + 1),
        offset: (params.page() - 1).saturating_mul(size),
        columns: params.column_keys(),
        ..ListQuery::new(kind)
    })
}

/// `GET /ui/runs`.
pub(crate) async fn page(
    State(ui): State<Ui>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Markup, UiError> {
    let params = query(params)?;
    list_page(&ui, Kind::Run, &params).await
}

/// `GET /ui/kinds/{kind}`.
pub(crate) async fn kind_page(
    State(ui): State<Ui>,
    Path(kind): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Markup, UiError> {
    let params = query(params)?;
    let kind = Kind::lookup(&kind).map_err(|e| UiError::not_found(e.to_string()))?;
    list_page(&ui, kind, &params).await
}

async fn list_page(ui: &Ui, kind: Kind, params: &ListParams) -> Result<Markup, UiError> {
    let runs = kind == Kind::Run;
    let base = if runs { "/ui/runs".to_owned() } else { kind_href(kind) };
    let keys = ui.store.field_keys(kind).await?;
    let (rows, problem) = match list_query(kind, params) {
        Ok(query) => (ui.store.list(&query).await?, None),
        Err(problem) => (Vec::new(), Some(problem)),
    };
    let size = params.size() as usize;
    let more = rows.len() > size;
    let rows = &rows[..rows.len().min(size)];
    let columns = params.column_keys();
    let title = if runs {
        "Runs".to_owned()
    } else {
        kind.as_str().to_owned()
    };
    let body = html! {
        (kind_tabs(kind))
        h1 { (title) }
        (controls(params, &base, &keys, problem.as_ref(), runs))
        @if problem.is_none() {
            form method="get" action="/ui/runs/compare" {
                (table(rows, &columns, params, &base, runs))
                @if runs && !rows.is_empty() {
                    p { button type="submit" { "Compare selected runs" } " (up to " (MAX_COMPARED) ")" }
                }
            }
            (pager(params, &base, more))
        }
    };
    let section = if runs { Section::Runs } else { Section::Objects };
    Ok(shell(&title, section, body))
}

/// Links to every kind's list.
fn kind_tabs(current: Kind) -> Markup {
    html! {
        nav.kinds aria-label="Kinds" {
            ul {
                @for &kind in Kind::ALL {
                    li {
                        @if kind == current { a href=(kind_href(kind)) aria-current="page" { (kind.as_str()) } }
                        @else { a href=(kind_href(kind)) { (kind.as_str()) } }
                    }
                }
            }
        }
    }
}

/// The filter, order, columns and experiment controls, with what is wrong with them.
fn controls(params: &ListParams, base: &str, keys: &[String], problem: Option<&QueryProblem>, runs: bool) -> Markup {
    html! {
        form.controls method="get" action=(base) role="search" {
            @if runs {
                label { "Experiment " input type="text" name="experiment" value=(params.experiment) placeholder="Experiment/NAME"; }
            }
            label.wide { "Where "
                input type="text" name="where" value=(params.filter) placeholder="metrics.accuracy > 0.9 and params.lr < 0.1"
                    aria-describedby="where-help" aria-invalid=[matches!(problem, Some(QueryProblem::Filter(_))).then_some("true")];
            }
            label { "Order by " input type="text" name="order" value=(params.order) placeholder="metrics.accuracy desc"; }
            label.wide { "Columns " input type="text" name="columns" value=(params.columns) list="field-keys" placeholder="params.lr, metrics.accuracy"; }
            datalist #field-keys { @for key in keys { option value=(key) {} } }
            button type="submit" { "Apply" }
        }
        p #where-help .hint { "The store's query language: " code { "metrics.auc >= 0.8 and labels.team = \"risk\"" } "." }
        @match problem {
            Some(QueryProblem::Filter(diagnostics)) => { (filter_errors(&params.filter, diagnostics)) }
            Some(QueryProblem::Order(message)) => { p.error role="alert" { "Order by: " (message) } }
            None => {}
        }
    }
}

/// Each diagnostic of a filter, with the text it is about marked.
fn filter_errors(text: &str, diagnostics: &[ExprDiagnostic]) -> Markup {
    html! {
        div.error role="alert" {
            @for diagnostic in diagnostics {
                @let (before, marked, after) = split_at_span(text, diagnostic.span.start, diagnostic.span.end);
                p { "Where: " (diagnostic.message) }
                pre.where-error { code { (before) mark { (if marked.is_empty() { " " } else { marked }) } (after) } }
                @if !diagnostic.label.is_empty() { p.hint { "at " (diagnostic.span.start) ": " (diagnostic.label) } }
                @if let Some(help) = &diagnostic.help { p.hint { (help) } }
            }
        }
    }
}

/// `text` cut at a byte span, the cuts moved to character boundaries.
fn split_at_span(text: &str, start: usize, end: usize) -> (&str, &str, &str) {
    let boundary = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (start, end) = (boundary(start), boundary(end.max(start)));
    (&text[..start], &text[start..end], &text[end..])
}

/// The rows, with a selection box per run and a sort link per column.
fn table(rows: &[ObjectSummary], columns: &[String], params: &ListParams, base: &str, runs: bool) -> Markup {
    let sort = |key: &str, label: &str| {
        let current = params.order.split_whitespace().collect::<Vec<_>>();
        let (next, mark) = match current.as_slice() {
            [k] | [k, "asc"] if *k == key => (format!("{key} desc"), " ▲"),
            [k, "desc"] if *k == key => (format!("{key} asc"), " ▼"),
            _ => (format!("{key} asc"), ""),
        };
        html! { a href=(params.href(base, Some(&next), None)) { (label) (mark) } }
    };
    html! {
        @if rows.is_empty() {
            p.empty { "Nothing matches." }
        } @else {
            div.table-scroll role="region" tabindex="0" aria-label="Runs" {
                table.list {
                    thead { tr {
                        @if runs { th scope="col" { span.visually-hidden { "Select" } } }
                        th scope="col" { (sort("name", "Name")) }
                        th scope="col" { "Status" }
                        th scope="col" { (sort("created", "Created")) }
                        @for key in columns { th scope="col" { (sort(key, key)) } }
                    } }
                    tbody {
                        @for row in rows {
                            tr {
                                @if runs {
                                    td { input type="checkbox" name="run" value=(row.id) aria-label=(format!("Select {}", row.name)); }
                                }
                                th scope="row" { a href=(object_href(&row.id)) { (row.name) } }
                                td { (status(row.status)) }
                                td { (time(&row.created_at)) }
                                @for key in columns {
                                    td.num { (row.fields.get(key).map(value).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Previous and next links.
fn pager(params: &ListParams, base: &str, more: bool) -> Markup {
    let page = params.page();
    html! {
        nav.pager aria-label="Pages" {
            @if page > 1 { a href=(params.href(base, None, Some(page - 1))) rel="prev" { "← Previous" } }
            span { "Page " (page) }
            @if more { a href=(params.href(base, None, Some(page + 1))) rel="next" { "Next →" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_cut_at_character_boundaries() {
        assert_eq!(split_at_span("a > é", 4, 5), ("a > ", "", "é"));
        assert_eq!(split_at_span("abc", 1, 2), ("a", "b", "c"));
        assert_eq!(split_at_span("abc", 7, 9), ("abc", "", ""));
    }

    #[test]
    fn a_page_asks_the_store_for_one_row_more_than_it_shows() {
        let params = ListParams {
            page: Some(3),
            size: Some(50),
            columns: "metrics.acc, params.lr,metrics.acc".into(),
            ..ListParams::default()
        };
        let Ok(query) = list_query(Kind::Run, &params) else {
            panic!()
        };
        assert_eq!((query.limit, query.offset), (Some(51), 100));
        assert_eq!(query.columns, ["metrics.acc", "params.lr"]);
    }

    #[test]
    fn a_filter_that_does_not_parse_is_a_problem_not_an_error() {
        let params = ListParams {
            filter: "metrics.acc >".into(),
            ..ListParams::default()
        };
        assert!(matches!(list_query(Kind::Run, &params), Err(QueryProblem::Filter(d)) if !d.is_empty()));
    }
}

//! Comparing runs: `/ui/runs/compare?run=ID&run=ID…` shows the runs' parameters and latest
//! metrics side by side, each row whose values differ marked, and one chart per metric key
//! with every run's curve overlaid; `/ui/series` answers a chart's data.
//!
//! A chart never receives a whole history: the page's script asks for a key's curves at the
//! chart's width in pixels, and the store returns at most two points per pixel for each run —
//! the first, lowest, highest and last point of each bucket of steps (or of time), which
//! draws the same lines and spikes as every point would — read from the summaries it keeps per
//! chunk of 1,024 points. A curve of a million points is therefore a few thousand numbers on
//! the wire. Zooming in (drag across a chart) asks again for the range chosen, at full detail
//! once the range holds few enough points.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{RawQuery, State};
use maud::{Markup, html};
use mlspec_spec::expr::Record;
use mlspec_spec::expr::record::Scalar;
use mlspec_store::{Axis, Selector, SeriesQuery, StoredObject};
use serde::Serialize;

use crate::align::{Points, align};
use crate::format::{number, object_href};
use crate::objects::object_id;
use crate::page::{Section, json_island, shell};
use crate::runs::MAX_COMPARED;
use crate::{Ui, UiError};

/// The most points one curve of a chart may carry, whatever the width asked.
pub const MAX_POINTS: u32 = 8192;

/// The runs named by `run=` in a query, in order, without repeats.
fn run_ids(raw: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if key == "run" && !value.is_empty() && !ids.iter().any(|id| *id == value) {
            ids.push(value.into_owned());
        }
    }
    ids
}

/// The runs of a comparison, read in one call.
async fn runs(ui: &Ui, ids: &[String]) -> Result<Vec<StoredObject>, UiError> {
    if ids.is_empty() {
        return Err(UiError::bad_request("no run is selected").with_hint("tick the runs to compare on the runs page"));
    }
    if ids.len() > MAX_COMPARED {
        return Err(UiError::bad_request(format!(
            "{} runs are selected; one comparison shows at most {MAX_COMPARED}",
            ids.len()
        )));
    }
    let parsed = ids.iter().map(|id| object_id(id)).collect::<Result<Vec<_>, _>>()?;
    let found = ui.store.get_many(&parsed).await?;
    if found.len() < parsed.len() {
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| !found.iter().any(|o| o.summary.id == **id))
            .map(String::as_str)
            .collect();
        return Err(UiError::not_found(format!(
            "no object has the id {}",
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// `GET /ui/runs/compare?run=ID&run=ID…`.
pub(crate) async fn compare(State(ui): State<Ui>, RawQuery(raw): RawQuery) -> Result<Markup, UiError> {
    let ids = run_ids(raw.as_deref());
    let objects = runs(&ui, &ids).await?;
    let records: Vec<Option<Record>> = objects.iter().map(|o| Record::from_document(&o.document)).collect();
    let mut keys = BTreeSet::new();
    for object in &objects {
        let selector = Selector::Id(object_id(&object.summary.id)?);
        keys.extend(ui.store.metric_keys(&selector).await?.into_iter().map(|s| s.key));
    }
    let names: Vec<&str> = objects.iter().map(|o| o.summary.name.as_str()).collect();
    let params = rows(&records, |r| {
        r.params
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Scalar::Num(n) => number(*n),
                    Scalar::Str(s) => s.clone(),
                };
                (k.clone(), text)
            })
            .collect()
    });
    let metrics = rows(&records, |r| {
        r.metrics.iter().map(|(k, v)| (k.clone(), number(*v))).collect()
    });
    let chart_runs: Vec<ChartRun> = objects
        .iter()
        .map(|o| ChartRun {
            id: o.summary.id.clone(),
            name: o.summary.name.clone(),
        })
        .collect();
    let title = format!("Compare {} runs", objects.len());
    let body = html! {
        h1 { (title) }
        ul.compared {
            @for object in &objects { li { a href=(object_href(&object.summary.id)) { (object.summary.name) } } }
        }
        h2 { "Parameters" }
        (side_by_side(&names, &params))
        h2 { "Metrics (latest value)" }
        (side_by_side(&names, &metrics))
        h2 { "Curves" }
        @if keys.is_empty() { p.empty { "These runs recorded no metric history." } }
        @else {
            p.hint { "Drag across a chart to zoom in (the range is read again at full detail); Reset returns to the whole run." }
            (json_island("chart-data", &ChartPage { runs: chart_runs }))
            div.charts {
                @for key in &keys { (chart(key)) }
            }
        }
    };
    Ok(shell(&title, Section::Runs, body))
}

/// The runs of a chart, for the page's script.
#[derive(Serialize)]
struct ChartPage {
    runs: Vec<ChartRun>,
}

#[derive(Serialize)]
struct ChartRun {
    id: String,
    name: String,
}

/// One chart's frame; the script fills `.plot`.
fn chart(key: &str) -> Markup {
    let id = format!("chart-{}", crate::format::encode(key));
    html! {
        figure.chart data-chart=(key) aria-labelledby=(id) {
            h3 #(id) { (key) }
            div.chart-tools {
                label { input type="checkbox" data-log; " log scale" }
                label { "x axis " select data-axis { option value="step" { "step" } option value="time" { "time" } } }
                button type="button" data-reset { "Reset zoom" }
            }
            div.plot {}
            p.series-status.hint aria-live="polite" { "Loading…" }
        }
    }
}

/// Each key's value per run (empty where a run has none): the union of keys, in order.
fn rows(
    records: &[Option<Record>],
    values: impl Fn(&Record) -> BTreeMap<String, String>,
) -> Vec<(String, Vec<String>)> {
    let per_run: Vec<BTreeMap<String, String>> = records
        .iter()
        .map(|r| r.as_ref().map(&values).unwrap_or_default())
        .collect();
    let keys: BTreeSet<&String> = per_run.iter().flat_map(BTreeMap::keys).collect();
    keys.into_iter()
        .map(|key| {
            let cells = per_run
                .iter()
                .map(|m| m.get(key).cloned().unwrap_or_default())
                .collect();
            (key.clone(), cells)
        })
        .collect()
}

/// A table of keys × runs; a row whose values are not all equal is marked.
fn side_by_side(names: &[&str], rows: &[(String, Vec<String>)]) -> Markup {
    html! {
        @if rows.is_empty() { p.empty { "None." } }
        @else {
            div.table-scroll role="region" tabindex="0" aria-label="Compared values" {
                table.compare {
                    thead { tr { th scope="col" { "Key" } @for name in names { th scope="col" { (name) } } } }
                    tbody {
                        @for (key, cells) in rows {
                            @let differs = cells.windows(2).any(|w| w[0] != w[1]);
                            tr class=[differs.then_some("differs")] {
                                th scope="row" { (key) @if differs { span.visually-hidden { " (differs)" } } }
                                @for cell in cells { td.num { (cell) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One run's curve, as the script draws it.
#[derive(Serialize)]
pub struct Curve {
    id: String,
    name: String,
    /// Points recorded in the whole run.
    total: u64,
    /// Whether `y` holds fewer values than the points in the range.
    downsampled: bool,
    /// The values at each x of the chart's axis; `null` is a gap. Single precision: a chart
    /// has no use for more, and the answer is half as long.
    y: Vec<Option<f32>>,
}

/// A chart's data: one x axis shared by every run (see [`crate::align`]).
#[derive(Serialize)]
pub struct Curves {
    key: String,
    axis: &'static str,
    x: Vec<f64>,
    runs: Vec<Curve>,
}

/// What `/ui/series` reads from its query.
struct SeriesParams {
    key: String,
    runs: Vec<String>,
    axis: Axis,
    range: Option<(f64, f64)>,
    width: u32,
}

fn series_params(raw: Option<&str>) -> Result<SeriesParams, UiError> {
    let mut key = None;
    let (mut axis, mut from, mut to, mut width) = (Axis::Step, None, None, 600u32);
    let number = |name: &str, text: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| UiError::bad_request(format!("`{name}` must be a number, not `{text}`")))
    };
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "key" => key = Some(value.into_owned()),
            "axis" => {
                axis = match value.as_ref() {
                    "step" => Axis::Step,
                    "time" => Axis::Time,
                    other => {
                        return Err(UiError::bad_request(format!(
                            "`{other}` is not an axis: write step or time"
                        )));
                    }
                }
            }
            "from" => from = Some(number("from", &value)?),
            "to" => to = Some(number("to", &value)?),
            "width" => width = number("width", &value)?.clamp(10.0, 4096.0) as u32,
            _ => {}
        }
    }
    let key = key.ok_or_else(|| UiError::bad_request("name the metric with `key=`"))?;
    let range = match (from, to) {
        (Some(a), Some(b)) if a <= b => Some((a, b)),
        (None, None) => None,
        _ => return Err(UiError::bad_request("give both `from` and `to`, from ≤ to")),
    };
    Ok(SeriesParams {
        key,
        runs: run_ids(raw),
        axis,
        range,
        width,
    })
}

/// `GET /ui/series?key=K&run=ID…&axis=step|time&width=PX[&from=&to=]`: each run's curve of
/// `key`, downsampled to two points per pixel of `width`.
pub(crate) async fn series(State(ui): State<Ui>, RawQuery(raw): RawQuery) -> Result<Json<Curves>, UiError> {
    let params = series_params(raw.as_deref())?;
    let objects = runs(&ui, &params.runs).await?;
    // The browser's time axis is in seconds; the store's in microseconds.
    let scale = match params.axis {
        Axis::Step => 1.0,
        Axis::Time => 1e6,
    };
    let query = SeriesQuery {
        axis: params.axis,
        range: params.range.map(|(from, to)| (from * scale, to * scale)),
        max_points: (params.width * 2).min(MAX_POINTS),
    };
    let reads = objects.iter().map(|object| {
        let store = ui.store.clone();
        let key = params.key.clone();
        let id = object.summary.id.clone();
        async move {
            let selector = Selector::Id(object_id(&id)?);
            Ok::<_, UiError>(store.metric_series(&selector, &key, &query).await?)
        }
    });
    let read = futures_util::future::join_all(reads).await;
    let mut series = Vec::with_capacity(read.len());
    for one in read {
        let mut one = one?;
        one.x.iter_mut().for_each(|x| *x /= scale);
        series.push(one);
    }
    let points: Vec<Points<'_>> = series.iter().map(|s| Points { x: &s.x, y: &s.y }).collect();
    let aligned = align(&points, (params.width / 2) as usize);
    let runs = objects
        .iter()
        .zip(&series)
        .zip(aligned.y)
        .map(|((object, one), values)| Curve {
            id: object.summary.id.clone(),
            name: object.summary.name.clone(),
            total: one.total_points,
            downsampled: one.downsampled || values.iter().flatten().count() < one.x.len(),
            y: values.into_iter().map(|v| v.map(|v| v as f32)).collect(),
        })
        .collect();
    Ok(Json(Curves {
        key: params.key,
        axis: match params.axis {
            Axis::Step => "step",
            Axis::Time => "time",
        },
        x: aligned.x,
        runs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_runs_are_read_once_in_order() {
        assert_eq!(run_ids(Some("run=b&run=a&run=b&x=1&run=")), ["b", "a"]);
        assert!(run_ids(None).is_empty());
    }

    #[test]
    fn a_series_query_is_checked() {
        let ok = series_params(Some("key=val%2Floss&run=a&axis=time&width=99999&from=1&to=2")).unwrap();
        assert_eq!(
            (ok.key.as_str(), ok.width, ok.range),
            ("val/loss", 4096, Some((1.0, 2.0)))
        );
        for bad in [
            "run=a",
            "key=k&axis=x",
            "key=k&from=1",
            "key=k&from=2&to=1",
            "key=k&width=NaN",
        ] {
            assert!(series_params(Some(bad)).is_err(), "{bad}");
        }
    }
}

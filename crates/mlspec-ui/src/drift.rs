//! `/ui/profiles/compare?a=ID&b=ID`: how the data of profile `b` (the current data) moved away
//! from profile `a` (the baseline), feature by feature — both histograms in one chart, the
//! distance, and the verdict — and, without `b`, the profiles to compare `a` with.
//!
//! The numbers are `mlspec data drift`'s, from the same library call
//! ([`mlspec_data::drift::compare`]) with its default thresholds, so the page and the command
//! never disagree. The distance shown is the one a verdict is made on, as in TensorFlow Data
//! Validation:
//! - for a **numeric** feature, the Jensen–Shannon divergence (base 2, from 0 for the same
//!   distribution to 1 for disjoint ones) of the two distributions binned by the baseline's
//!   deciles — bins of equal baseline mass, so neither an outlier nor a long tail hides a
//!   shift; the population stability index and the Kolmogorov–Smirnov statistic are shown
//!   beside it;
//! - for a **categorical** feature (strings, booleans), the L-infinity distance: the largest
//!   change in any one value's share, which a reader can find in the top values;
//! - for a **timestamp**, 1 when the two ranges do not overlap.
//!
//! A feature drifts when its distance exceeds the threshold (0.01), when its share of missing
//! or infinite values moves by more than 2 points, or when new categories hold more than the
//! threshold's share of the values; the verdict gives each reason. The library compares only
//! features that both profiles have with the same type; the others are listed apart. Profiles
//! are restored from their sketches, so one written by another program, without them, cannot be
//! compared (a 400 page that says so).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use maud::{Markup, html};
use mlspec_data::drift::{FeatureDrift, Thresholds, compare};
use mlspec_data::profile::Profiler;
use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::kinds::{DataProfileSpec, FeatureStats, ValueCount};
use mlspec_spec::{Kind, Ref};
use mlspec_store::{ListQuery, ObjectSummary, StoredObject};
use serde::Deserialize;

use crate::bars::{Series, histogram};
use crate::data::{names, profile_of, share_of, word};
use crate::format::{number, object_href, query, query_string, quoted};
use crate::objects::stored;
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// The most profiles offered to compare with.
const CANDIDATES: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct CompareParams {
    /// The baseline profile's id.
    #[serde(default)]
    a: String,
    /// The current profile's id.
    #[serde(default)]
    b: String,
}

/// `GET /ui/profiles/compare?a=ID&b=ID`.
pub(crate) async fn page(
    State(ui): State<Ui>,
    params: Result<Query<CompareParams>, QueryRejection>,
) -> Result<Markup, UiError> {
    let params = query(params)?;
    let (a, b) = (params.a.trim(), params.b.trim());
    if a.is_empty() {
        return Err(
            UiError::bad_request("which profile is the baseline? Give its id as `a`")
                .with_hint("a DataProfile's page links to this comparison"),
        );
    }
    let baseline = stored(&ui, a).await?;
    profile_of(&baseline)?;
    if b.is_empty() {
        return chooser(&ui, &baseline).await;
    }
    let current = stored(&ui, b).await?;
    profile_of(&current)?;
    drift_page(&baseline, &current)
}

/// The page that picks `b`: an id box, and the other profiles of the same dataset (or the latest
/// profiles, for a profile of no dataset).
async fn chooser(ui: &Ui, baseline: &StoredObject) -> Result<Markup, UiError> {
    let spec = profile_of(baseline)?;
    let candidates = candidates(ui, spec.dataset.as_ref()).await?;
    let id = &baseline.summary.id;
    let title = format!("Drift against {}", baseline.summary.name);
    let body = html! {
        h1 { "Drift: choose the current profile" }
        p { "Baseline: " a href=(object_href(id)) { (baseline.summary.name) } }
        form.controls method="get" action="/ui/profiles/compare" {
            input type="hidden" name="a" value=(id);
            label { "Current profile (id)" input name="b" required; }
            button type="submit" { "Compare" }
        }
        h2 {
            @match &spec.dataset {
                Some(dataset) => { "Other profiles of " (dataset.to_string()) },
                None => "Latest profiles",
            }
        }
        ul.candidates {
            @for other in candidates.iter().filter(|o| &o.id != id) {
                li { a href=(compare_href(id, &other.id)) { (other.name) } " " span.meta { (other.id) } }
            }
        }
    };
    Ok(shell(&title, Section::Objects, body))
}

fn compare_href(a: &str, b: &str) -> String {
    format!("/ui/profiles/compare{}", query_string([("a", a), ("b", b)]))
}

/// The latest changed profiles of `dataset` (as the profiles refer to it), or of any dataset.
async fn candidates(ui: &Ui, dataset: Option<&Ref>) -> Result<Vec<ObjectSummary>, UiError> {
    let filter = match dataset {
        Some(dataset) => Some(
            parse_filter(&format!("spec.dataset = {}", quoted(&dataset.to_string())))
                .map_err(|_| UiError::bad_request(format!("cannot look up the profiles of {dataset}")))?,
        ),
        None => None,
    };
    let query = ListQuery {
        filter,
        order: parse_order("updated desc").ok(),
        limit: Some(CANDIDATES),
        ..ListQuery::new(Kind::DataProfile)
    };
    Ok(ui.store.list(&query).await?)
}

/// The profile as the drift library reads it, or a 400 page naming the profile.
fn restored(object: &StoredObject, spec: &DataProfileSpec) -> Result<Profiler, UiError> {
    let what = format!("DataProfile {} ({})", object.summary.name, object.summary.id);
    Profiler::restore(spec, &what).map_err(|e| {
        UiError::bad_request(format!("{what} cannot be compared: {e}"))
            .with_hint("drift reads the profile's sketches, which `mlspec data profile` writes")
    })
}

/// Both profiles' features compared, drifted first and the largest distances first.
fn drift_page(baseline: &StoredObject, current: &StoredObject) -> Result<Markup, UiError> {
    let (a, b) = (profile_of(baseline)?, profile_of(current)?);
    let mut drifts = compare(
        &restored(baseline, a)?,
        &restored(current, b)?,
        Thresholds::default(),
        |_| None,
    );
    drifts.sort_by(|x, y| y.drifted.cmp(&x.drifted).then(y.distance.total_cmp(&x.distance)));
    let drifted = drifts.iter().filter(|d| d.drifted).count();
    let title = format!("Drift of {} against {}", current.summary.name, baseline.summary.name);
    let body = html! {
        h1 { "Drift" }
        p {
            span.swatch.a {} " Baseline " a href=(object_href(&baseline.summary.id)) { (baseline.summary.name) } " (" (a.rows) " rows)"
            " · " span.swatch.b {} " current " a href=(object_href(&current.summary.id)) { (current.summary.name) } " (" (b.rows) " rows)"
            " · " a href=(compare_href(&current.summary.id, &baseline.summary.id)) { "swap" }
        }
        p.hint {
            "Numeric features: Jensen–Shannon divergence over the baseline's deciles; categorical: "
            "the largest change in a value's share (L-infinity); both as "
            code { "mlspec data drift" } " computes them, threshold " (Thresholds::default().distance) "."
        }
        h2 {
            @if drifted == 0 { span.pass { "No drift" } } @else { span.fail { (drifted) " of " (drifts.len()) " features drifted" } }
        }
        (summary_table(&drifts))
        (not_compared(&a.features, &b.features, &drifts))
        div.cards { @for drift in &drifts { (feature_card(drift, a, b)) } }
    };
    Ok(shell(&title, Section::Objects, body))
}

fn summary_table(drifts: &[FeatureDrift]) -> Markup {
    let cell = |value: Option<f64>| value.map(number).unwrap_or_default();
    html! {
        div.table-scroll role="region" tabindex="0" aria-label="Drift by feature" {
            table.drift {
                thead { tr {
                    th scope="col" { "Feature" } th scope="col" { "Statistic" } th scope="col" { "Distance" }
                    th scope="col" { "Threshold" } th scope="col" { "PSI" } th scope="col" { "KS" }
                    th scope="col" { "Missing" } th scope="col" { "Verdict" }
                } }
                tbody {
                    @for drift in drifts {
                        tr {
                            th scope="row" { a href=(format!("#{}", anchor(&drift.feature))) { (drift.feature) } }
                            td { (drift.statistic) }
                            td.num { (number(drift.distance)) }
                            td.num { (number(drift.threshold)) }
                            td.num { (cell(drift.psi)) }
                            td.num { (cell(drift.ks)) }
                            td.num { (format!("{:.1}% → {:.1}%", drift.missing_before * 100.0, drift.missing_after * 100.0)) }
                            td { (verdict(drift)) }
                        }
                    }
                }
            }
        }
    }
}

fn verdict(drift: &FeatureDrift) -> Markup {
    html! {
        @if drift.drifted { span.fail { "drifted" } ": " (drift.reasons.join("; ")) } @else { span.pass { "ok" } }
    }
}

/// A fragment id for a feature's card: its name's bytes in hex, so any name makes a valid id.
fn anchor(feature: &str) -> String {
    format!("f-{}", hex::encode(feature))
}

/// Features the library did not compare: in one profile only, or of another type in each.
fn not_compared(a: &[FeatureStats], b: &[FeatureStats], drifts: &[FeatureDrift]) -> Markup {
    let compared = |name: &str| drifts.iter().any(|d| d.feature == name);
    let find = |list: &[FeatureStats], name: &str| named(list, name).map(|f| f.feature_type);
    let mut rows: Vec<(&str, String)> = Vec::new();
    for feature in a.iter().filter(|f| !compared(f.name.as_str())) {
        let name = feature.name.as_str();
        let why = match find(b, name) {
            Some(other) => format!("{} in the baseline, {} now", word(&feature.feature_type), word(&other)),
            None => "only in the baseline".to_owned(),
        };
        rows.push((name, why));
    }
    for feature in b.iter().filter(|f| find(a, f.name.as_str()).is_none()) {
        rows.push((feature.name.as_str(), "only in the current profile".to_owned()));
    }
    html! {
        @if !rows.is_empty() {
            h2 { "Not compared" }
            ul.not-compared { @for (name, why) in rows { li { code { (name) } ": " (why) } } }
        }
    }
}

/// The feature of this name.
fn named<'a>(features: &'a [FeatureStats], name: &str) -> Option<&'a FeatureStats> {
    features.iter().find(|f| f.name.as_str() == name)
}

/// One feature: its verdict, and both distributions in one chart.
fn feature_card(drift: &FeatureDrift, a: &DataProfileSpec, b: &DataProfileSpec) -> Markup {
    let name = drift.feature.as_str();
    html! {
        section.card.feature id=(anchor(name)) {
            h3 { (name) }
            p { (drift.statistic) " " (number(drift.distance)) " · " (verdict(drift)) }
            @if let (Some(before), Some(after)) = (named(&a.features, name), named(&b.features, name)) { (overlay(name, before, after)) }
            @if !drift.new_categories.is_empty() { p { "New: " (names(drift.new_categories.iter().map(String::as_str))) } }
            @if !drift.vanished_categories.is_empty() { p { "Gone: " (names(drift.vanished_categories.iter().map(String::as_str))) } }
        }
    }
}

/// Both histograms in one chart (numeric), or both shares of each top value (categorical).
fn overlay(name: &str, before: &FeatureStats, after: &FeatureStats) -> Markup {
    if let (Some(x), Some(y)) = (&before.numeric, &after.numeric) {
        let label = format!(
            "Histograms of {name}: the baseline's {} buckets and the current {}, as shares of their values",
            x.histogram.len(),
            y.histogram.len()
        );
        return histogram(
            &label,
            &[
                Series {
                    name: "baseline",
                    buckets: &x.histogram,
                    class: "a",
                },
                Series {
                    name: "current",
                    buckets: &y.histogram,
                    class: "b",
                },
            ],
        );
    }
    match (&before.string, &after.string) {
        (Some(x), Some(y)) => shares_table(before.count, &x.top_values, after.count, &y.top_values),
        _ => html! {},
    }
}

/// Each top value of either profile with its share of the present values in both.
fn shares_table(present_a: u64, a: &[ValueCount], present_b: u64, b: &[ValueCount]) -> Markup {
    let mut values: Vec<&str> = a.iter().chain(b).map(|v| v.value.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    let share = |list: &[ValueCount], present: u64, value: &str| {
        share_of(list.iter().find(|v| v.value == value).map_or(0, |v| v.count), present)
    };
    html! {
        table.top-values {
            caption { "Top values: share of present values" }
            thead { tr { th scope="col" { "Value" } th scope="col" { "Baseline" } th scope="col" { "Current" } } }
            tbody {
                @for value in values {
                    tr {
                        th scope="row" { (value) }
                        td.num { (format!("{:.1}%", share(a, present_a, value) * 100.0)) }
                        td.num { (format!("{:.1}%", share(b, present_b, value) * 100.0)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, dataset, has_injected_script, profile_document};

    /// `rows` rows: `x` from `start`, a column only this file has, `t` numeric or text, `city`.
    fn csv(start: u32, only: &str, t_text: bool, cities: &[&str]) -> String {
        let mut text = format!("x,{only},t,city\n");
        for i in 0..40 {
            let t = if t_text { format!("t{i}") } else { i.to_string() };
            let city = cities[i as usize % cities.len()];
            text.push_str(&format!("{},{i},{t},{city}\n", start + i));
        }
        text
    }

    /// Two stored profiles of one dataset; the fixture, their ids and their specs.
    async fn two_profiles() -> (Fixture, Vec<String>, DataProfileSpec, DataProfileSpec) {
        let ui = Fixture::new().await;
        let mut a = ui.profile("a.csv", &csv(0, "only_a", false, &["x", "y"]), &[]);
        let mut b = ui.profile(
            "b.csv",
            &csv(30, "only_b", true, &["x", "<script>alert(1)</script>"]),
            &[],
        );
        a.dataset = Some("Dataset/d@1".parse().unwrap());
        b.dataset = a.dataset.clone();
        let ids = ui
            .apply(&[
                dataset("d"),
                profile_document("pa", a.clone()),
                profile_document("pb", b.clone()),
            ])
            .await;
        (ui, ids, a, b)
    }

    #[tokio::test]
    async fn the_drift_page_shows_the_library_distance_and_verdict_per_feature() {
        let (ui, ids, a, b) = two_profiles().await;
        let expected = compare(
            &Profiler::restore(&a, "a").unwrap(),
            &Profiler::restore(&b, "b").unwrap(),
            Thresholds::default(),
            |_| None,
        );
        let (status, text) = ui.get(&compare_href(&ids[1], &ids[2])).await;
        assert_eq!(status, 200, "{text}");
        let x = expected.iter().find(|d| d.feature == "x").unwrap();
        assert!(x.drifted && x.distance > 0.5, "{x:?}");
        let row = format!(
            "<td>jensenShannon</td><td class=\"num\">{}</td><td class=\"num\">0.01</td>",
            number(x.distance)
        );
        assert!(text.contains(&row), "{row}: {text}");
        let city = expected.iter().find(|d| d.feature == "city").unwrap();
        assert!(
            text.contains(&format!(
                "<td>lInfinity</td><td class=\"num\">{}</td>",
                number(city.distance)
            )),
            "{text}"
        );
        let drifted = expected.iter().filter(|d| d.drifted).count();
        assert!(
            text.contains(&format!("{drifted} of {} features drifted", expected.len())),
            "{text}"
        );
        assert!(
            text.contains(r#"<span class="fail">drifted</span>: jensenShannon"#),
            "{text}"
        );
        // Both histograms of x in one chart.
        let bars = |class: &str| text.matches(&format!("<rect class=\"{class}\"")).count();
        let histogram = |spec: &DataProfileSpec| {
            let x = spec.features.iter().find(|f| f.name.as_str() == "x").unwrap();
            x.numeric.as_ref().unwrap().histogram.len()
        };
        assert!(bars("a") >= histogram(&a) && bars("b") >= histogram(&b), "{text}");
        // Features the library does not compare are listed, and say why.
        assert!(text.contains("<code>only_a</code>: only in the baseline"), "{text}");
        assert!(
            text.contains("<code>only_b</code>: only in the current profile"),
            "{text}"
        );
        assert!(
            text.contains("<code>t</code>: integer in the baseline, string now"),
            "{text}"
        );
        // A new category's text is escaped.
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !has_injected_script(&text),
            "{text}"
        );
    }

    #[tokio::test]
    async fn without_b_the_other_profiles_of_the_dataset_are_offered() {
        let (ui, ids, _, _) = two_profiles().await;
        let (status, text) = ui.get(&format!("/ui/profiles/compare?a={}", ids[1])).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("Other profiles of Dataset/d@1"), "{text}");
        let offered = compare_href(&ids[1], &ids[2]).replace('&', "&amp;");
        assert!(text.contains(&offered), "{offered}: {text}");
        assert!(
            !text.contains(&compare_href(&ids[1], &ids[1]).replace('&', "&amp;")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_missing_or_wrong_id_is_an_error_page() {
        let (ui, ids, _, _) = two_profiles().await;
        let cases = [
            (compare_href(&ids[1], "no-such-id"), 404),
            (compare_href("no-such-id", &ids[2]), 404),
            (compare_href(&ids[1], "<x>"), 404),
            (compare_href(&ids[1], &ids[0]), 400),
            (compare_href(&ids[0], &ids[1]), 400),
            ("/ui/profiles/compare".to_owned(), 400),
        ];
        for (uri, status) in cases {
            let (answer, text) = ui.get(&uri).await;
            assert_eq!(answer, status, "{uri}: {text}");
            assert!(text.contains(r#"<p class="error" role="alert">"#), "{uri}: {text}");
        }
    }

    #[tokio::test]
    async fn a_profile_without_sketches_cannot_be_compared_and_the_page_says_why() {
        let ui = Fixture::new().await;
        let mut a = ui.profile("a.csv", &csv(0, "o", false, &["x"]), &[]);
        for feature in &mut a.features {
            feature.sketch = None;
        }
        let ids = ui
            .apply(&[profile_document("pa", a.clone()), profile_document("pb", a)])
            .await;
        let (status, text) = ui.get(&compare_href(&ids[0], &ids[1])).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("cannot be compared"), "{text}");
    }
}

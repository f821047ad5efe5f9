//! The views of the data kinds.
//!
//! - A **DataProfile** shows one card per feature: its type, how many values are present and
//!   missing (NaN and infinities counted apart: the numeric statistics describe the finite
//!   values only), the numeric statistics with their quantiles and an SVG histogram ([`bars`]),
//!   a string feature's top values as bars of their share, and the outliers by method with
//!   example rows. Slices are listed with their row counts; each slice's features are on a page
//!   of their own (`/ui/objects/{id}/slices/{name}`), so a profile with 100 features and 20
//!   slices stays one light page. A link leads to its drift against another profile
//!   ([`crate::drift`]).
//! - A **ValidationReport** shows its verdict and every anomaly, errors first and the largest
//!   counts first within a severity, with its feature, kind, description, measured value against
//!   its threshold and examples.
//! - A **Split** shows each part's requested and actual share of rows with its digest, and the
//!   leakage check as a pass or a fail with its evidence: what rows were compared by, how many
//!   rows and keys more than one split holds, and the digest of each split's row-hash set, which
//!   `mlspec data leakage` re-checks against the split files.
//!
//! [`bars`]: crate::bars

use axum::extract::{Path, State};
use maud::{Markup, html};
use mlspec_spec::Ref;
use mlspec_spec::Spec;
use mlspec_spec::kinds::{
    Anomaly, DataProfileSpec, FeatureStats, IssueSeverity, LeakageCheck, NumericStats, SplitPart, SplitSpec,
    StringStats, ValidationReportSpec, ValueCount,
};
use mlspec_store::StoredObject;
use serde::Serialize;

use crate::bars::{Series, histogram};
use crate::format::{encode, number, object_href, ref_href, time};
use crate::objects::{heading, stored};
use crate::page::{Section, shell};
use crate::views::outcome;
use crate::{Ui, UiError};

/// The profile's own view: what was profiled, each feature's card, the slices and the drift link.
pub fn profile_view(id: &str, spec: &DataProfileSpec) -> Markup {
    html! {
        p {
            (spec.rows) " rows profiled"
            @if let Some(dataset) = &spec.dataset { " from " (reference(dataset)) }
            @if let Some(digest) = &spec.digest { " · digest " code { (digest.to_string()) } }
        }
        p { a href=(format!("/ui/profiles/compare?a={}", encode(id))) { "Drift against another profile →" } }
        h2 { "Features" }
        (features(&spec.features))
        @if !spec.slices.is_empty() {
            h2 { "Slices" }
            table.slices-list {
                thead { tr { th scope="col" { "Slice" } th scope="col" { "Rows" } } }
                tbody {
                    @for slice in &spec.slices {
                        tr {
                            th scope="row" { a href=(slice_href(id, slice.name.as_str())) { (slice.name.as_str()) } }
                            td.num { (slice.rows) }
                        }
                    }
                }
            }
        }
    }
}

fn slice_href(id: &str, slice: &str) -> String {
    format!("{}/slices/{}", object_href(id), encode(slice))
}

/// A link to what a reference names.
fn reference(reference: &Ref) -> Markup {
    html! { a href=(ref_href(reference)) { (reference.to_string()) } }
}

/// One card per feature.
fn features(features: &[FeatureStats]) -> Markup {
    html! {
        @if features.is_empty() { p.empty { "No feature." } }
        div.cards { @for feature in features { (feature_card(feature)) } }
    }
}

fn feature_card(feature: &FeatureStats) -> Markup {
    let name = feature.name.as_str();
    html! {
        section.card.feature {
            h3 { (name) " " span.badge { (word(&feature.feature_type)) } }
            table.stats { tbody { (presence(feature)) } }
            @if let Some(numeric) = &feature.numeric { (numeric_stats(name, numeric)) }
            @if let Some(strings) = &feature.string { (string_stats(feature.count, strings)) }
        }
    }
}

/// A row of a card's statistics table.
fn stat(label: &str, value: impl maud::Render) -> Markup {
    html! { tr { th scope="row" { (label) } td.num { (value) } } }
}

/// Present, missing (with its share), NaN and infinities, and the type's own counts.
fn presence(feature: &FeatureStats) -> Markup {
    let rows = feature.count + feature.missing;
    let share = match rows {
        0 => String::new(),
        rows => format!(" ({:.1}%)", feature.missing as f64 / rows as f64 * 100.0),
    };
    html! {
        (stat("Present", feature.count))
        (stat("Missing", format!("{}{share}", feature.missing)))
        @if let Some(n) = feature.nan_count { (stat("of which NaN", n)) }
        @if let Some(n) = feature.positive_infinity_count { (stat("+Infinity", n)) }
        @if let Some(n) = feature.negative_infinity_count { (stat("−Infinity", n)) }
        @if let Some(n) = feature.true_count { (stat("True", n)) }
        @if let Some(t) = &feature.earliest { (stat("Earliest", time(&t.to_string()))) }
        @if let Some(t) = &feature.latest { (stat("Latest", time(&t.to_string()))) }
        @if let Some(g) = &feature.granularity { (stat("Granularity", g.as_str())) }
    }
}

fn numeric_stats(name: &str, stats: &NumericStats) -> Markup {
    let label = format!(
        "Histogram of {name}: {} buckets from {} to {}",
        stats.histogram.len(),
        number(stats.min),
        number(stats.max)
    );
    html! {
        table.stats {
            tbody {
                (stat("Mean", number(stats.mean)))
                (stat("Std. dev.", number(stats.std_dev)))
                (stat("Min", number(stats.min)))
                @for q in &stats.quantiles { (stat(&format!("p{}", number(q.q * 100.0)), number(q.value))) }
                (stat("Max", number(stats.max)))
                (stat("Zeros", stats.zeros))
            }
        }
        @if let Some(error) = stats.rank_error { p.hint { "Quantiles within ±" (number(error * 100.0)) "% of rank." } }
        @if !stats.histogram.is_empty() {
            (histogram(&label, &[Series { name: "", buckets: &stats.histogram, class: "a" }]))
        }
        @for outliers in &stats.outliers {
            p.outliers {
                (outliers.count) @if outliers.estimated { " (estimated)" }
                " outlier(s) by " (outliers.method.as_str()) " " (number(outliers.threshold))
                @if !outliers.example_rows.is_empty() {
                    ", e.g. rows " (outliers.example_rows.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
                }
            }
        }
    }
}

fn string_stats(present: u64, stats: &StringStats) -> Markup {
    html! {
        table.stats {
            tbody {
                (stat("Distinct", format!("{}{}", if stats.distinct_estimated { "≈" } else { "" }, stats.distinct)))
                @if let Some(n) = stats.min_length { (stat("Shortest", n)) }
                @if let Some(x) = stats.mean_length { (stat("Mean length", number(x))) }
                @if let Some(n) = stats.max_length { (stat("Longest", n)) }
            }
        }
        (top_values(present, &stats.top_values))
    }
}

/// The most frequent values, each with a bar of its share of the present values.
fn top_values(present: u64, values: &[ValueCount]) -> Markup {
    html! {
        @if !values.is_empty() {
            table.top-values {
                caption { "Top values" }
                tbody {
                    @for value in values {
                        @let share = share_of(value.count, present);
                        tr {
                            th scope="row" { (value.value) }
                            td.num { (value.count) }
                            td { meter min="0" max="1" value=(share) title=(format!("{:.1}%", share * 100.0)) {} }
                        }
                    }
                }
            }
        }
    }
}

/// `count` as a share of `total` (0 of nothing).
pub fn share_of(count: u64, total: u64) -> f64 {
    match total {
        0 => 0.0,
        total => count as f64 / total as f64,
    }
}

/// A spec enum's word as documents write it (`missingColumn`, `holdback`).
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// `GET /ui/objects/{id}/slices/{slice}`: one slice's features.
pub(crate) async fn slice_page(
    State(ui): State<Ui>,
    Path((id, slice)): Path<(String, String)>,
) -> Result<Markup, UiError> {
    let object = stored(&ui, &id).await?;
    let spec = profile_of(&object)?;
    let Some(found) = spec.slices.iter().find(|s| s.name.as_str() == slice) else {
        return Err(UiError::not_found(format!("this profile has no slice `{slice}`"))
            .with_hint("the profile's page lists its slices"));
    };
    let title = format!("Slice {slice} of {}", object.summary.name);
    let body = html! {
        (heading(&object))
        h2 { "Slice " (slice) }
        p { (found.rows) " rows" }
        @if !found.filter.0.is_empty() {
            ul.labels aria-label="Filter" {
                @for (column, value) in &found.filter.0 { li { span.key { (column.as_str()) } "=" span { (value.as_str()) } } }
            }
        }
        p { a href=(object_href(&id)) { "← The whole profile" } }
        (features(&found.features))
    };
    Ok(shell(&title, Section::Objects, body))
}

/// The profile `object` holds, or a 400 page saying what it is instead.
pub(crate) fn profile_of(object: &StoredObject) -> Result<&DataProfileSpec, UiError> {
    match &object.document.spec {
        Spec::DataProfile(spec) => Ok(spec),
        other => Err(UiError::bad_request(format!(
            "{} is a {}, not a DataProfile",
            object.summary.id,
            other.kind().as_str()
        ))),
    }
}

/// The report's view: what was checked against what, the verdict, and the anomalies, worst first.
pub fn validation_view(spec: &ValidationReportSpec) -> Markup {
    let errors = spec
        .anomalies
        .iter()
        .filter(|a| a.severity == IssueSeverity::Error)
        .count();
    let mut anomalies: Vec<&Anomaly> = spec.anomalies.iter().collect();
    anomalies.sort_by_key(|a| (a.severity != IssueSeverity::Error, std::cmp::Reverse(a.count)));
    html! {
        p {
            (spec.rows) " rows of " (reference(&spec.dataset)) " checked against " (reference(&spec.schema))
            @if let Some(baseline) = &spec.baseline { " and the baseline " (reference(baseline)) }
            " at " (time(&spec.checked_at.to_string())) "."
        }
        h2 { "Result: " (outcome(spec.result)) }
        p { (errors) " error(s), " (spec.anomalies.len() - errors) " warning(s)." }
        @if !anomalies.is_empty() {
            div.table-scroll role="region" tabindex="0" aria-label="Anomalies" {
                table.anomalies {
                    thead { tr {
                        th scope="col" { "Severity" } th scope="col" { "Feature" } th scope="col" { "Kind" }
                        th scope="col" { "What was found" } th scope="col" { "Count" }
                        th scope="col" { "Value" } th scope="col" { "Threshold" } th scope="col" { "Examples" }
                    } }
                    tbody { @for anomaly in anomalies { (anomaly_row(anomaly)) } }
                }
            }
        }
    }
}

fn anomaly_row(anomaly: &Anomaly) -> Markup {
    let cell = |value: Option<f64>| value.map(number).unwrap_or_default();
    html! {
        tr {
            td { @match anomaly.severity {
                IssueSeverity::Error => span.fail { "error" },
                IssueSeverity::Warning => span.unknown { "warning" },
            } }
            th scope="row" { (anomaly.feature.as_ref().map(|f| f.as_str()).unwrap_or("(whole dataset)")) }
            td { (word(&anomaly.kind)) }
            td { (anomaly.description.as_str()) }
            td.num { (anomaly.count.map(|n| n.to_string()).unwrap_or_default()) }
            td.num { (cell(anomaly.value)) }
            td.num { (cell(anomaly.threshold)) }
            td { ul.examples { @for example in &anomaly.examples { li { code { (example) } } } } }
        }
    }
}

/// The split's view: how rows were assigned, each part, and the leakage check.
pub fn split_view(spec: &SplitSpec) -> Markup {
    let assigned: u64 = spec.splits.iter().filter_map(|s| s.rows).sum();
    let total = spec.rows.unwrap_or(assigned);
    html! {
        p {
            (reference(&spec.input)) " split by " (word(&spec.method))
            @if !spec.keys.is_empty() { " of " (names(spec.keys.iter().map(|k| k.as_str()))) }
            @if let Some(seed) = spec.seed { " with seed " (seed) }
            @if let Some(column) = &spec.time_column { " on " code { (column.as_str()) } }
            @if let Some(rows) = spec.rows { " · " (rows) " rows" }
        }
        h2 { "Parts" }
        div.table-scroll role="region" tabindex="0" aria-label="Parts" {
            table.splits {
                thead { tr {
                    th scope="col" { "Role" } th scope="col" { "Requested" } th scope="col" { "Rows" }
                    th scope="col" { "Actual" } th scope="col" { "Digest" } th scope="col" { "Data" } th scope="col" { "Profile" }
                } }
                tbody { @for part in &spec.splits { (part_row(part, total)) } }
            }
        }
        h2 { "Leakage" }
        (leakage(spec.leakage.as_ref()))
    }
}

fn part_row(part: &SplitPart, total: u64) -> Markup {
    html! {
        tr {
            th scope="row" { (word(&part.role)) }
            td.num { (format!("{:.1}%", part.fraction * 100.0)) }
            td.num { (part.rows.map(|n| n.to_string()).unwrap_or_default()) }
            td.num { @if let Some(rows) = part.rows { (format!("{:.1}%", share_of(rows, total) * 100.0)) } }
            td { @if let Some(digest) = &part.digest { code { (digest.to_string()) } } }
            td { @if let Some(output) = &part.output { (reference(output)) } }
            td { @if let Some(profile) = &part.profile { (reference(profile)) } }
        }
    }
}

/// Names in `code`, separated by commas.
pub fn names<'a>(names: impl Iterator<Item = &'a str>) -> Markup {
    html! { @for (i, name) in names.enumerate() { @if i > 0 { ", " } code { (name) } } }
}

/// The leakage check: passed when no row and no key is in more than one split.
fn leakage(check: Option<&LeakageCheck>) -> Markup {
    let Some(check) = check else {
        return html! { p.notice { "No leakage check was recorded: nothing shows that the splits share no rows." } };
    };
    let clean = check.shared_rows == 0 && check.shared_keys == 0;
    html! {
        p {
            @if clean { span.pass { "Passed" } ": no row" @if !check.keys.is_empty() { " and no key" } " is in more than one split." }
            @else {
                span.fail { "Failed" } ": " (check.shared_rows) " row(s)"
                @if !check.keys.is_empty() { " and " (check.shared_keys) " key(s)" } " are in more than one split."
            }
        }
        table.stats {
            tbody {
                @if !check.keys.is_empty() { tr { th scope="row" { "Keys compared" } td { (names(check.keys.iter().map(|k| k.as_str()))) } } }
                tr {
                    th scope="row" { "Rows compared by" }
                    td { @if check.row_columns.is_empty() { "every column" } @else { (names(check.row_columns.iter().map(|k| k.as_str()))) } }
                }
                (stat("Rows shared", check.shared_rows))
                @if !check.keys.is_empty() { (stat("Keys shared", check.shared_keys)) }
            }
        }
        @if !check.row_hash_digests.is_empty() {
            h3 { "Row-hash digests" }
            p.hint { "The digest of each split's set of row hashes: " code { "mlspec data leakage" } " recomputes them from the split files." }
            table.digests {
                tbody { @for (role, digest) in check.row_hash_digests.iter() { tr { th scope="row" { (role.as_str()) } td { code { (digest.to_string()) } } } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixture, dataset, document, has_injected_script, profile_document};

    fn spec_of(yaml: &str) -> Spec {
        document(yaml).spec
    }

    const REPORT: &str = r#"
apiVersion: mlspec/v1
kind: ValidationReport
metadata: {name: v}
spec:
  dataset: Dataset/d@1
  schema: DataSchema/s
  checkedAt: 2026-12-06T10:00:00Z
  rows: 100
  result: failed
  anomalies:
    - {feature: a, kind: unexpectedColumn, severity: warning, description: "an unlisted column", count: 100}
    - {feature: b, kind: outOfDomain, severity: error, description: "<script>alert(1)</script> out", count: 3, value: 9.5, threshold: 5, examples: ["<b>x</b>", "12"]}
    - {kind: valueCountMismatch, severity: error, description: "rows too short", count: 7}
"#;

    #[test]
    fn a_report_shows_its_errors_first_with_their_examples_escaped() {
        let Spec::ValidationReport(report) = spec_of(REPORT) else {
            panic!("not a report")
        };
        let text = validation_view(&report).into_string();
        assert!(text.contains(r#"<span class="fail">failed</span>"#), "{text}");
        assert!(text.contains("2 error(s), 1 warning(s)"), "{text}");
        // Errors first, the larger count first; the warning last.
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}: {text}"));
        assert!(
            at("rows too short") < at("alert(1)") && at("alert(1)") < at("an unlisted column"),
            "{text}"
        );
        assert!(
            text.contains("(whole dataset)") && text.contains("outOfDomain"),
            "{text}"
        );
        assert!(text.contains("<code>&lt;b&gt;x&lt;/b&gt;</code>"), "{text}");
        assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt; out"), "{text}");
        assert!(!has_injected_script(&text), "{text}");
        assert!(
            text.contains(r#"<td class="num">9.5</td><td class="num">5</td>"#),
            "{text}"
        );
    }

    fn split(leakage: &str) -> SplitSpec {
        let yaml = format!(
            "apiVersion: mlspec/v1\nkind: Split\nmetadata: {{name: s}}\nspec:\n  input: Dataset/d@1\n  method: hash\n  keys: [user]\n  rows: 100\n  splits:\n    - {{role: train, fraction: 0.8, rows: 79, digest: sha256:{}}}\n    - {{role: test, fraction: 0.2, rows: 21}}\n{leakage}",
            "ab".repeat(32)
        );
        let Spec::Split(spec) = spec_of(&yaml) else {
            panic!("not a split")
        };
        spec
    }

    #[test]
    fn a_split_shows_its_parts_and_a_passed_leakage_check_with_its_evidence() {
        let digest = format!("sha256:{}", "cd".repeat(32));
        let leakage = format!(
            "  leakage:\n    keys: [user]\n    rowColumns: [user, x]\n    sharedRows: 0\n    sharedKeys: 0\n    rowHashDigests: {{train: {digest}}}\n"
        );
        let text = split_view(&split(&leakage)).into_string();
        assert!(text.contains(r#"<th scope="row">train</th><td class="num">80.0%</td><td class="num">79</td><td class="num">79.0%</td>"#), "{text}");
        assert!(
            text.contains(r#"<span class="pass">Passed</span>: no row and no key"#),
            "{text}"
        );
        assert!(text.contains(&digest) && text.contains("<code>x</code>"), "{text}");
    }

    #[test]
    fn shared_rows_or_keys_fail_the_check_and_no_check_says_so() {
        let leakage = "  leakage:\n    keys: [user]\n    sharedRows: 2\n    sharedKeys: 5\n";
        let text = split_view(&split(leakage)).into_string();
        assert!(
            text.contains(r#"<span class="fail">Failed</span>: 2 row(s) and 5 key(s)"#),
            "{text}"
        );
        assert!(text.contains("every column"), "{text}");
        let text = split_view(&split("")).into_string();
        assert!(text.contains("No leakage check was recorded"), "{text}");
    }

    const CSV: &str = "x,city\n1,a\n2,a\n3,<script>alert(1)</script>\n,b\n5,b\n6,b\n";

    #[tokio::test]
    async fn a_profile_page_shows_each_feature_its_histogram_and_its_slices() {
        let ui = Fixture::new().await;
        let mut spec = ui.profile("d.csv", CSV, &["city"]);
        spec.dataset = Some("Dataset/d@1".parse().unwrap());
        let ids = ui.apply(&[dataset("d"), profile_document("p", spec.clone())]).await;
        let (status, text) = ui.get(&object_href(&ids[1])).await;
        assert_eq!(status, 200, "{text}");
        let x = spec.features.iter().find(|f| f.name.as_str() == "x").unwrap();
        assert_eq!(x.missing, 1);
        assert!(
            text.contains(r#"<th scope="row">Missing</th><td class="num">1 (16.7%)</td>"#),
            "{text}"
        );
        let bins = x.numeric.as_ref().unwrap().histogram.len();
        assert!(bins > 0);
        assert_eq!(text.matches("<rect").count(), bins, "{text}");
        assert!(
            text.contains(&format!("Histogram of x: {bins} buckets from 1 to 6")),
            "{text}"
        );
        assert!(
            text.contains(r#"<th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;</th>"#),
            "{text}"
        );
        assert!(!has_injected_script(&text), "{text}");
        assert!(
            text.contains(&format!("/ui/profiles/compare?a={}", encode(&ids[1]))),
            "{text}"
        );
        let slice = spec.slices.iter().find(|s| s.name.as_str().contains("script")).unwrap();
        let href = slice_href(&ids[1], slice.name.as_str());
        assert!(text.contains(&href), "{text}");

        let (status, text) = ui.get(&href).await;
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains("Slice city=&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{text}"
        );
        assert!(text.contains("1 rows") && !has_injected_script(&text), "{text}");
        let (status, _) = ui.get(&slice_href(&ids[1], "city=zzz")).await;
        assert_eq!(status, 404);
        let (status, _) = ui.get(&slice_href(&ids[0], "city=a")).await;
        assert_eq!(status, 400);
    }
}

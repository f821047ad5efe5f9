//! Histograms as small inline SVG bar charts, drawn here in Rust: each bucket a `<rect>` whose
//! height is its share of the series' values, each with a `<title>` (its range and count) that
//! browsers show on hover and screen readers read. No script and no inline style: the colours
//! are the stylesheet's (`svg.bars rect`, and `rect.b` for a second series).
//!
//! Bars are placed by value on one axis spanning every series, so two profiles' histograms
//! (whose equal-width buckets cover different ranges) overlay truthfully; heights are shares,
//! not counts, so a profile of 1,000 rows compares with one of 10 million.

use maud::{Markup, html};
use mlspec_spec::kinds::Bucket;

use crate::format::number;

/// The plot area, in SVG units.
const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 64.0;
/// Room under the plot for the axis's two labels.
const AXIS: f64 = 14.0;

/// One histogram to draw.
pub struct Series<'a> {
    /// What it is, in each bar's title (empty for a chart of one series).
    pub name: &'a str,
    /// Its buckets, in order.
    pub buckets: &'a [Bucket],
    /// The bars' CSS class: `a` (the first colour) or `b` (the second).
    pub class: &'static str,
}

/// The series as one bar chart, `label` its accessible summary.
pub fn histogram(label: &str, series: &[Series<'_>]) -> Markup {
    let Some(axis) = Axis::of(series) else {
        return html! { p.empty { "No histogram." } };
    };
    let top = series.iter().flat_map(shares).fold(0.0, f64::max);
    html! {
        svg.bars role="img" aria-label=(label) width=(WIDTH) height=(HEIGHT + AXIS)
            viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + AXIS)) {
            @for one in series {
                @for (i, (bucket, share)) in one.buckets.iter().zip(shares(one)).enumerate() {
                    @let (x, width) = axis.span(i, one.buckets.len(), bucket);
                    @let height = if top > 0.0 { share / top * HEIGHT } else { 0.0 };
                    rect class=(one.class) x=(coordinate(x)) y=(coordinate(HEIGHT - height))
                        width=(coordinate(width)) height=(coordinate(height)) {
                        title { (bar_title(one.name, bucket, i + 1 == one.buckets.len(), share)) }
                    }
                }
            }
            text x="0" y=(HEIGHT + AXIS - 2.0) { (number(axis.low)) }
            text x=(WIDTH) y=(HEIGHT + AXIS - 2.0) text-anchor="end" { (number(axis.high)) }
        }
    }
}

/// Each bucket's share of the series' values.
fn shares<'a>(series: &'a Series<'_>) -> impl Iterator<Item = f64> + 'a {
    let total: u64 = series.buckets.iter().map(|b| b.count).sum();
    series.buckets.iter().map(move |b| match total {
        0 => 0.0,
        total => b.count as f64 / total as f64,
    })
}

/// `[low, high): count (share)`, the last bucket closed.
fn bar_title(name: &str, bucket: &Bucket, last: bool, share: f64) -> String {
    let close = if last { ']' } else { ')' };
    let range = format!(
        "[{}, {}{close}: {} ({:.1}%)",
        number(bucket.low),
        number(bucket.high),
        bucket.count,
        share * 100.0
    );
    match name {
        "" => range,
        name => format!("{name}: {range}"),
    }
}

fn coordinate(x: f64) -> String {
    format!("{x:.1}")
}

/// The horizontal axis: from the lowest bucket bound of every series to the highest.
struct Axis {
    low: f64,
    high: f64,
}

impl Axis {
    fn of(series: &[Series<'_>]) -> Option<Axis> {
        let bounds = series.iter().flat_map(|s| s.buckets).flat_map(|b| [b.low, b.high]);
        let (low, high) = bounds
            .filter(|x| x.is_finite())
            .fold(None, |range: Option<(f64, f64)>, x| match range {
                None => Some((x, x)),
                Some((low, high)) => Some((low.min(x), high.max(x))),
            })?;
        Some(Axis { low, high })
    }

    /// Where bucket `i` of `n` is drawn: `(x, width)`. By its value range on the axis; by its
    /// place among the series' buckets when the axis has no width (a constant feature).
    fn span(&self, i: usize, n: usize, bucket: &Bucket) -> (f64, f64) {
        let range = self.high - self.low;
        let (start, end) = match range > 0.0 && bucket.low.is_finite() && bucket.high.is_finite() {
            true => ((bucket.low - self.low) / range, (bucket.high - self.low) / range),
            false => (i as f64 / n as f64, (i + 1) as f64 / n as f64),
        };
        let width = (end - start) * WIDTH;
        // A hairline between neighbouring bars, unless the bars are too thin to spare it.
        let gap = if width > 3.0 { 1.0 } else { 0.0 };
        (start * WIDTH, (width - gap).max(0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(low: f64, high: f64, count: u64) -> Bucket {
        Bucket { low, high, count }
    }

    /// The histogram of one unnamed series.
    fn one(buckets: &[Bucket]) -> String {
        let series = Series {
            name: "",
            buckets,
            class: "a",
        };
        histogram("h", &[series]).into_string()
    }

    #[test]
    fn one_rect_per_bucket_with_its_range_and_count() {
        let buckets = [bucket(0.0, 1.0, 3), bucket(1.0, 2.0, 1)];
        let text = one(&buckets);
        assert_eq!(text.matches("<rect").count(), 2, "{text}");
        assert!(text.contains("<title>[0, 1): 3 (75.0%)</title>"), "{text}");
        assert!(text.contains("<title>[1, 2]: 1 (25.0%)</title>"), "{text}");
        assert!(text.contains(r#"role="img" aria-label="h""#), "{text}");
        // The tallest bar fills the plot.
        assert!(text.contains(r#"y="0.0" width="119.0" height="64.0""#), "{text}");
    }

    #[test]
    fn two_series_share_one_axis_and_scale_by_share() {
        let a = [bucket(0.0, 10.0, 10)];
        let b = [bucket(10.0, 20.0, 1000)];
        let text = histogram(
            "h",
            &[
                Series {
                    name: "A",
                    buckets: &a,
                    class: "a",
                },
                Series {
                    name: "B",
                    buckets: &b,
                    class: "b",
                },
            ],
        )
        .into_string();
        assert!(
            text.contains(r#"<rect class="a" x="0.0" y="0.0" width="119.0" height="64.0">"#),
            "{text}"
        );
        assert!(
            text.contains(r#"<rect class="b" x="120.0" y="0.0" width="119.0" height="64.0">"#),
            "{text}"
        );
        assert!(text.contains("<title>B: [10, 20]: 1000 (100.0%)</title>"), "{text}");
    }

    #[test]
    fn a_constant_feature_is_drawn_by_place() {
        let buckets = [bucket(5.0, 5.0, 4)];
        let text = one(&buckets);
        assert!(text.contains(r#"x="0.0" y="0.0" width="239.0""#), "{text}");
    }

    #[test]
    fn no_buckets_no_chart() {
        let text = one(&[]);
        assert!(!text.contains("<svg"), "{text}");
    }
}

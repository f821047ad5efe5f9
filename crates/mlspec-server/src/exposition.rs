//! The `/metrics` page, in Prometheus text format 0.0.4 or OpenMetrics 1.0.
//!
//! Written by hand rather than with prometheus-client: that crate encodes OpenMetrics only, and
//! every series here is a snapshot of state (not an instrumented counter), so a registry would
//! add a copy of the state and a second code path for the 0.0.4 format.
//!
//! Reported metric keys become metric names by mapping every character outside `[A-Za-z0-9_]`
//! to `_` and prefixing `_` to a leading digit; a name that would take the reserved `process_`
//! or `mlspec_` prefix gets `step_` in front, one ending in a suffix OpenMetrics reserves
//! (`_total`, `_count`, `_sum`, `_bucket`, `_created`, `_info`) gets `_value` appended. When
//! several keys map to one name, each series carries its original key as the label `key`.
//! Arrays become one series per element (label `index`), objects one per field (label `field`);
//! deeper values stay in the Run only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mlspec_spec::values::MetricValue;

use crate::process::ProcessStats;
use crate::state::{Phase, StepState};

/// The two text formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text004,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the scraper's Accept header asks for it, else 0.0.4.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text004,
        }
    }

    /// The Content-Type of the page.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
}

/// A histogram's state: the count of observations at or below each bound (cumulative, the
/// bounds ascending), the count of all of them and their sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, ascending; `+Inf` is added from `count`.
    pub buckets: Vec<(f64, u64)>,
    /// All observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

/// A metrics page being written: families of counters, gauges and histograms, each sample with
/// its label set (`{a="x"}`, or empty), in one of the two formats.
pub struct Page {
    format: Format,
    out: String,
}

impl Page {
    /// An empty page.
    pub fn new(format: Format) -> Page {
        Page {
            format,
            out: String::with_capacity(4096),
        }
    }

    /// A counter family; `name` without `_total`.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(String, f64)]) {
        self.family(name, Type::Counter, help, samples);
    }

    /// A gauge family.
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(String, f64)]) {
        self.family(name, Type::Gauge, help, samples);
    }

    /// A histogram family: `_bucket{le=…}` (ending with `+Inf`), `_count` and `_sum` per label
    /// set; `labels` are the set's pairs without braces (`route="canary"`), or empty.
    pub fn histogram(&mut self, name: &str, help: &str, series: &[(String, HistogramSnapshot)]) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} histogram");
        for (labels, snapshot) in series {
            let with = |extra: String| match labels.is_empty() {
                true => format!("{{{extra}}}"),
                false => format!("{{{labels},{extra}}}"),
            };
            let bounds = snapshot.buckets.iter().map(|(bound, n)| (number(*bound), *n));
            for (bound, n) in bounds.chain([("+Inf".to_owned(), snapshot.count)]) {
                let _ = writeln!(self.out, "{name}_bucket{} {n}", with(format!("le=\"{bound}\"")));
            }
            let plain = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(self.out, "{name}_count{plain} {}", snapshot.count);
            let _ = writeln!(self.out, "{name}_sum{plain} {}", number(snapshot.sum));
        }
    }

    /// The page's text (OpenMetrics' `# EOF` added).
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    /// The process's own CPU, memory and start time (the standard `process_` families).
    pub fn process(&mut self, own: &ProcessStats) {
        self.counter(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            &[(String::new(), own.cpu_seconds)],
        );
        self.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            &[(String::new(), own.resident_bytes as f64)],
        );
        self.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            &[(String::new(), own.start_time_seconds)],
        );
    }

    /// Writes one metric family: `name` without `_total`; counters get the suffix on samples.
    fn family(&mut self, name: &str, kind: Type, help: &str, samples: &[(String, f64)]) {
        let (family, sample) = match (kind, self.format) {
            (Type::Counter, Format::OpenMetrics) => (name.to_owned(), format!("{name}_total")),
            (Type::Counter, Format::Text004) => (format!("{name}_total"), format!("{name}_total")),
            (Type::Gauge, _) => (name.to_owned(), name.to_owned()),
        };
        let type_name = if kind == Type::Counter { "counter" } else { "gauge" };
        let _ = writeln!(self.out, "# HELP {family} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {family} {type_name}");
        for (labels, value) in samples {
            let _ = writeln!(self.out, "{sample}{labels} {}", number(*value));
        }
    }
}

/// Renders the page.
pub fn render(state: &StepState, own: &ProcessStats, child: Option<&ProcessStats>, format: Format) -> String {
    let mut page = Page::new(format);
    page.process(own);
    let phase = state.phase();
    let states: Vec<(String, f64)> = Phase::NAMES
        .iter()
        .map(|name| {
            (
                format!("{{state=\"{name}\"}}"),
                f64::from(u8::from(*name == phase.name())),
            )
        })
        .collect();
    page.family(
        "mlspec_step_state",
        Type::Gauge,
        "1 for the step's current state, 0 for the others.",
        &states,
    );
    page.family(
        "mlspec_step_duration_seconds",
        Type::Gauge,
        "Seconds since the step started, frozen when it ended.",
        &[(String::new(), state.duration_seconds())],
    );
    if let Some(code) = state.exit_code() {
        page.family(
            "mlspec_step_exit_code",
            Type::Gauge,
            "The command's exit code.",
            &[(String::new(), f64::from(code))],
        );
    }
    if let Some(child) = child {
        page.family(
            "mlspec_step_child_cpu_seconds",
            Type::Counter,
            "CPU time of the step's command in seconds.",
            &[(String::new(), child.cpu_seconds)],
        );
        page.family(
            "mlspec_step_child_resident_memory_bytes",
            Type::Gauge,
            "Resident memory of the step's command in bytes.",
            &[(String::new(), child.resident_bytes as f64)],
        );
    }
    reported(&mut page, state);
    page.finish()
}

fn reported(page: &mut Page, state: &StepState) {
    let mut families: BTreeMap<String, Vec<(String, &MetricValue)>> = BTreeMap::new();
    let latest = state.latest();
    for (key, value) in &latest {
        families
            .entry(metric_name(key))
            .or_default()
            .push((key.clone(), &value.value));
    }
    for (name, members) in families {
        let shared = members.len() > 1;
        let mut samples = Vec::new();
        for (key, value) in &members {
            let key_label = shared.then(|| format!("key=\"{}\"", escape_label(key)));
            samples.extend(
                series(value)
                    .into_iter()
                    .map(|(label, v)| (labels(key_label.as_deref(), label.as_deref()), v)),
            );
        }
        page.family(&name, Type::Gauge, "Reported by the step.", &samples);
    }
}

/// The scalar series of a value: itself, or one per array element or object field.
fn series(value: &MetricValue) -> Vec<(Option<String>, f64)> {
    match value {
        MetricValue::Scalar(v) => vec![(None, *v)],
        MetricValue::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| scalar(item).map(|v| (Some(format!("index=\"{i}\"")), v)))
            .collect(),
        MetricValue::Object(fields) => fields
            .iter()
            .filter_map(|(name, item)| scalar(item).map(|v| (Some(format!("field=\"{}\"", escape_label(name))), v)))
            .collect(),
    }
}

fn scalar(value: &MetricValue) -> Option<f64> {
    match value {
        MetricValue::Scalar(v) => Some(*v),
        _ => None,
    }
}

fn labels(first: Option<&str>, second: Option<&str>) -> String {
    let parts: Vec<&str> = [first, second].into_iter().flatten().collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A reported key as a valid metric name (see the module docs).
pub fn metric_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if name.starts_with("process_") || name.starts_with("mlspec_") {
        name.insert_str(0, "step_");
    }
    if ["_total", "_count", "_sum", "_bucket", "_created", "_info"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        name.push_str("_value");
    }
    name
}

fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "NaN".to_owned()
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value escaped for either format.
pub fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keys_to_valid_names() {
        assert_eq!(metric_name("val/loss"), "val_loss");
        assert_eq!(metric_name("1st-epoch.acc"), "_1st_epoch_acc");
        assert_eq!(metric_name("process_cpu"), "step_process_cpu");
        assert_eq!(metric_name("images_total"), "images_total_value");
        assert_eq!(metric_name("ünï"), "_n_");
    }
}

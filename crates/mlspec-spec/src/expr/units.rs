//! Units: durations (base unit: the second) and sizes (base unit: the byte). Numbers written
//! with a unit are converted to the base unit; `5%` is the plain number 0.05. Metrics take a
//! unit from their key's suffix, the Prometheus naming convention: `latency_seconds`,
//! `p99_ms`, `model_size_bytes`.

use serde::Serialize;

/// What a number measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dim {
    /// A plain number (ratios, counts, scores).
    None,
    /// A duration, in seconds.
    Duration,
    /// A size, in bytes.
    Size,
}

impl Dim {
    /// How the dimension reads in a message.
    pub fn noun(self) -> &'static str {
        match self {
            Dim::None => "a number",
            Dim::Duration => "a duration",
            Dim::Size => "a size",
        }
    }
}

/// The units a number may carry, and how to convert to the base unit.
const UNITS: &[(&str, Dim, f64)] = &[
    ("%", Dim::None, 0.01),
    ("ns", Dim::Duration, 1e-9),
    ("us", Dim::Duration, 1e-6),
    ("µs", Dim::Duration, 1e-6),
    ("ms", Dim::Duration, 1e-3),
    ("s", Dim::Duration, 1.0),
    ("m", Dim::Duration, 60.0),
    ("min", Dim::Duration, 60.0),
    ("h", Dim::Duration, 3600.0),
    ("d", Dim::Duration, 86400.0),
    ("B", Dim::Size, 1.0),
    ("KB", Dim::Size, 1e3),
    ("MB", Dim::Size, 1e6),
    ("GB", Dim::Size, 1e9),
    ("TB", Dim::Size, 1e12),
    ("KiB", Dim::Size, 1024.0),
    ("MiB", Dim::Size, 1_048_576.0),
    ("GiB", Dim::Size, 1_073_741_824.0),
    ("TiB", Dim::Size, 1_099_511_627_776.0),
];

/// The units, for a hint.
pub const UNITS_HELP: &str =
    "known units: % (percent), ns us ms s m|min h d (durations), B KB MB GB TB KiB MiB GiB TiB (sizes)";

/// The dimension and scale of a unit suffix.
pub fn unit(suffix: &str) -> Option<(Dim, f64)> {
    UNITS
        .iter()
        .find(|(name, ..)| *name == suffix)
        .map(|(_, dim, scale)| (*dim, *scale))
}

/// Metric-key suffixes that give a metric a unit.
const METRIC_SUFFIXES: &[(&str, Dim, f64)] = &[
    ("_seconds", Dim::Duration, 1.0),
    ("_ms", Dim::Duration, 1e-3),
    ("_us", Dim::Duration, 1e-6),
    ("_ns", Dim::Duration, 1e-9),
    ("_bytes", Dim::Size, 1.0),
];

/// The dimension of a metric, and the scale of its recorded values, from its key's suffix.
pub fn metric_unit(key: &str) -> (Dim, f64) {
    METRIC_SUFFIXES
        .iter()
        .find(|(suffix, ..)| key.ends_with(suffix))
        .map_or((Dim::None, 1.0), |(_, dim, scale)| (*dim, *scale))
}

/// A number of dimension `dim` as it reads: twelve significant digits, durations in s or ms,
/// sizes in the largest binary unit below them.
pub fn quantity_text(value: f64, dim: Dim) -> String {
    match dim {
        Dim::None => round(value).to_string(),
        Dim::Duration if value.abs() < 1.0 => format!("{}ms", round(value * 1e3)),
        Dim::Duration => format!("{}s", round(value)),
        Dim::Size => match SIZE_UNITS.iter().rev().find(|(_, scale)| value.abs() >= *scale) {
            Some((unit, scale)) => format!("{}{unit}", round(value / scale)),
            None => format!("{}B", round(value)),
        },
    }
}

/// Binary size units, for showing sizes.
const SIZE_UNITS: &[(&str, f64)] = &[
    ("KiB", 1024.0),
    ("MiB", 1_048_576.0),
    ("GiB", 1_073_741_824.0),
    ("TiB", 1_099_511_627_776.0),
];

/// Twelve significant digits: enough to compare, short enough to read.
fn round(v: f64) -> f64 {
    format!("{v:.12e}").parse().unwrap_or(v)
}

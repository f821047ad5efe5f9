//! The metric history a step records in its Run, bounded so that the Run always stays a valid
//! document (under the size and node limits `mlspec validate` enforces on reading):
//!
//! - at most [`MAX_KEYS`] keys; a point for a new key past that is refused;
//! - at most [`MAX_POINTS_PER_KEY`] points per key: past it the key's history is **thinned** —
//!   every second kept point is dropped and from then on only every 2nd (then 4th, 8th, …)
//!   report is kept, so the history spans the whole run at a coarser resolution; the first and
//!   the latest point are always kept (TensorBoard keeps a reservoir sample for the same reason;
//!   MLflow keeps every point, but has no document to keep valid);
//! - at most [`MAX_POINTS`] points, [`MAX_VALUES`] values and [`MAX_BYTES`] bytes of JSON over
//!   all keys: past any of them the key holding the most of it (points, values or bytes) is
//!   thinned, until the run is within them again; when every key is down to its first and
//!   latest point, the new point is refused.
//!
//! A point for a step that a key already has replaces it.

use std::collections::BTreeMap;

use mlspec_spec::values::{Metric, MetricValue};

/// Most metric keys per run.
pub const MAX_KEYS: usize = 1_000;
/// Most points kept per key.
pub const MAX_POINTS_PER_KEY: usize = 1_000;
/// Most points kept per run.
pub const MAX_POINTS: usize = 50_000;
/// Most values (numbers, arrays and objects) in one metric value.
pub const MAX_VALUES_PER_POINT: usize = 1_000;
/// Most values kept per run.
pub const MAX_VALUES: usize = 200_000;
/// Most bytes of JSON of the points kept per run (the Run document's limit is 64 MiB).
pub const MAX_BYTES: usize = 32 << 20;
/// Deepest nesting of arrays and objects in one metric value.
pub const MAX_VALUE_DEPTH: usize = 16;
/// Longest field name of an object value, in bytes (as long as a metric key).
pub const MAX_FIELD_NAME_BYTES: usize = 250;

/// Why a point could not be kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

/// Checks what one metric's value may hold: values, depth and field names.
pub fn check_value(value: &MetricValue) -> Result<(), String> {
    if count_values(value, 1)? > MAX_VALUES_PER_POINT {
        return Err(format!(
            "its value holds more than {MAX_VALUES_PER_POINT} numbers, arrays and objects, the most one value may hold"
        ));
    }
    Ok(())
}

fn count_values(value: &MetricValue, depth: usize) -> Result<usize, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!("its value nests deeper than {MAX_VALUE_DEPTH} levels"));
    }
    let mut count = 1;
    match value {
        MetricValue::Scalar(_) => {}
        MetricValue::Array(items) => {
            for item in items {
                count += count_values(item, depth + 1)?;
                if count > MAX_VALUES_PER_POINT {
                    break;
                }
            }
        }
        MetricValue::Object(fields) => {
            for (name, item) in fields {
                if name.len() > MAX_FIELD_NAME_BYTES {
                    return Err(format!(
                        "its value has a field name of {} bytes; the limit is {MAX_FIELD_NAME_BYTES}",
                        name.len()
                    ));
                }
                count += count_values(item, depth + 1)?;
                if count > MAX_VALUES_PER_POINT {
                    break;
                }
            }
        }
    }
    Ok(count)
}

/// One kept point and what it costs.
#[derive(Clone, Debug)]
struct Point {
    /// Its place among the key's reports (0, 1, 2, …).
    ordinal: u64,
    metric: Metric,
    values: usize,
    bytes: usize,
}

/// One key's points, by step.
#[derive(Clone, Debug, Default)]
struct Series {
    points: BTreeMap<Option<u64>, Point>,
    /// Only reports whose ordinal is a multiple of this are kept (besides the latest).
    stride: u64,
    reports: u64,
    latest: Option<Option<u64>>,
}

impl Series {
    fn on_stride(&self, point: &Point) -> bool {
        point.ordinal.is_multiple_of(self.stride.max(1))
    }

    /// Adds or replaces the point for its step; returns what it replaced or dropped.
    fn put(&mut self, metric: Metric, values: usize, bytes: usize) -> Vec<Point> {
        let step = metric.step;
        let mut gone = Vec::new();
        let ordinal = match self.points.get(&step) {
            Some(old) => old.ordinal,
            None => {
                // The previous latest point stays only if it is on the stride.
                if let Some(previous) = self.latest.filter(|p| *p != step)
                    && self.points.get(&previous).is_some_and(|p| !self.on_stride(p))
                    && let Some(point) = self.points.remove(&previous)
                {
                    gone.push(point);
                }
                self.reports += 1;
                self.reports - 1
            }
        };
        let point = Point {
            ordinal,
            metric,
            values,
            bytes,
        };
        gone.extend(self.points.insert(step, point));
        self.latest = Some(step);
        gone
    }

    /// Halves the points kept: doubles the stride and drops what is off it (never the latest).
    fn thin(&mut self) -> Vec<Point> {
        self.stride = self.stride.max(1) * 2;
        let stride = self.stride;
        let latest = self.latest;
        let (kept, gone): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.points)
            .into_iter()
            .partition(|(step, point)| point.ordinal.is_multiple_of(stride) || Some(*step) == latest);
        self.points = kept;
        gone.into_values().collect()
    }
}

/// Every key's bounded history, and the totals the run's budget counts.
#[derive(Clone, Debug, Default)]
pub struct History {
    series: BTreeMap<String, Series>,
    points: usize,
    values: usize,
    bytes: usize,
}

impl History {
    /// Keeps `metric` (after [`check_value`]), thinning as the module docs say.
    pub fn record(&mut self, metric: Metric) -> Result<(), Refused> {
        let key = metric.key.as_str().to_owned();
        if !self.series.contains_key(&key) && self.series.len() >= MAX_KEYS {
            return Err(Refused(format!(
                "the run already has {MAX_KEYS} metric keys, the most it records; `{key}` was not recorded"
            )));
        }
        let values = count_values(&metric.value, 1).unwrap_or(MAX_VALUES_PER_POINT);
        let bytes = serde_json::to_vec(&metric).map_or(0, |json| json.len());
        let step = metric.step;
        let series = self.series.entry(key.clone()).or_default();
        let gone = series.put(metric, values, bytes);
        self.add(values, bytes);
        self.forget(&gone);
        if self
            .series
            .get(&key)
            .is_some_and(|s| s.points.len() > MAX_POINTS_PER_KEY)
        {
            self.thin(&key);
        }
        while self.over_budget() {
            let Some(largest) = self.largest_thinnable() else {
                self.take_back(&key, step);
                return Err(Refused(format!(
                    "the run's metrics are full ({} points, {} values, {} bytes kept; the limits are {MAX_POINTS}, {MAX_VALUES} and {MAX_BYTES}); this point of `{key}` was not recorded",
                    self.points, self.values, self.bytes
                )));
            };
            self.thin(&largest);
        }
        Ok(())
    }

    /// The points kept, in key then step order.
    pub fn metrics(&self) -> Vec<Metric> {
        self.series
            .values()
            .flat_map(|s| s.points.values().map(|p| p.metric.clone()))
            .collect()
    }

    /// Points, values and bytes kept.
    pub fn totals(&self) -> (usize, usize, usize) {
        (self.points, self.values, self.bytes)
    }

    fn add(&mut self, values: usize, bytes: usize) {
        self.points += 1;
        self.values += values;
        self.bytes += bytes;
    }

    fn forget(&mut self, gone: &[Point]) {
        for point in gone {
            self.points -= 1;
            self.values -= point.values;
            self.bytes -= point.bytes;
        }
    }

    fn over_budget(&self) -> bool {
        self.points > MAX_POINTS || self.values > MAX_VALUES || self.bytes > MAX_BYTES
    }

    fn thin(&mut self, key: &str) {
        let Some(series) = self.series.get_mut(key) else {
            return;
        };
        let mut gone = Vec::new();
        while series.points.len() > MAX_POINTS_PER_KEY || gone.is_empty() {
            let dropped = series.thin();
            if dropped.is_empty() && series.points.len() <= 2 {
                break;
            }
            gone.extend(dropped);
        }
        self.forget(&gone);
    }

    /// The key that holds the most of what is over budget (bytes, values or points), among
    /// those with more than their first and latest point.
    fn largest_thinnable(&self) -> Option<String> {
        let measure: fn(&Series) -> usize = if self.bytes > MAX_BYTES {
            |s| s.points.values().map(|p| p.bytes).sum()
        } else if self.values > MAX_VALUES {
            |s| s.points.values().map(|p| p.values).sum()
        } else {
            |s| s.points.len()
        };
        self.series
            .iter()
            .filter(|(_, s)| s.points.len() > 2)
            .max_by_key(|(_, s)| measure(s))
            .map(|(key, _)| key.clone())
    }

    /// Removes the point just recorded (its key too, when that was its only point).
    fn take_back(&mut self, key: &str, step: Option<u64>) {
        let Some(series) = self.series.get_mut(key) else {
            return;
        };
        let gone: Vec<Point> = series.points.remove(&step).into_iter().collect();
        if series.points.is_empty() {
            self.series.remove(key);
        }
        self.forget(&gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlspec_spec::newtypes::Key;

    fn point(key: &str, step: u64, value: f64) -> Metric {
        Metric {
            key: Key::new(key).unwrap(),
            value: MetricValue::Scalar(value),
            step: Some(step),
            timestamp: None,
        }
    }

    fn steps(history: &History, key: &str) -> Vec<u64> {
        history
            .metrics()
            .into_iter()
            .filter(|m| m.key.as_str() == key)
            .filter_map(|m| m.step)
            .collect()
    }

    #[test]
    fn a_long_history_is_thinned_evenly_keeping_the_first_and_latest() {
        let mut history = History::default();
        for step in 0..10_000 {
            history.record(point("loss", step, step as f64)).unwrap();
        }
        let kept = steps(&history, "loss");
        assert!(
            kept.len() <= MAX_POINTS_PER_KEY && kept.len() >= MAX_POINTS_PER_KEY / 2,
            "{}",
            kept.len()
        );
        assert_eq!(kept[0], 0);
        assert_eq!(*kept.last().unwrap(), 9_999);
        // Evenly spaced: every kept step but the latest is a multiple of one stride.
        let stride = kept[1] - kept[0];
        assert!(stride.is_power_of_two(), "{stride}");
        assert!(kept[..kept.len() - 1].iter().all(|s| s % stride == 0), "{kept:?}");
        assert_eq!(history.totals().0, kept.len());
    }

    #[test]
    fn the_same_step_replaces_its_point() {
        let mut history = History::default();
        history.record(point("acc", 3, 0.5)).unwrap();
        history.record(point("acc", 3, 0.7)).unwrap();
        let metrics = history.metrics();
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics[0].value, MetricValue::Scalar(0.7));
        assert_eq!(history.totals().0, 1);
    }

    #[test]
    fn keys_past_the_limit_are_refused() {
        let mut history = History::default();
        for i in 0..MAX_KEYS {
            history.record(point(&format!("k{i}"), 0, 1.0)).unwrap();
        }
        let refused = history.record(point("one-more", 0, 1.0)).unwrap_err();
        assert!(refused.0.contains("1000 metric keys"), "{refused:?}");
        history.record(point("k0", 1, 2.0)).unwrap();
    }

    #[test]
    fn the_run_budget_thins_the_largest_key_then_refuses() {
        let mut history = History::default();
        let wide = MetricValue::Array(vec![MetricValue::Scalar(1.5); MAX_VALUES_PER_POINT - 1]);
        let mut refused = None;
        for i in 0..MAX_KEYS {
            for step in 0..3 {
                let metric = Metric {
                    key: Key::new(format!("k{i}")).unwrap(),
                    value: wide.clone(),
                    step: Some(step),
                    timestamp: None,
                };
                if let Err(error) = history.record(metric) {
                    refused = Some(error);
                }
            }
            let (points, values, bytes) = history.totals();
            assert!(points <= MAX_POINTS && values <= MAX_VALUES && bytes <= MAX_BYTES);
        }
        assert!(refused.unwrap().0.contains("metrics are full"));
        assert_eq!(history.metrics().len(), history.totals().0);
    }

    #[test]
    fn values_are_checked() {
        let deep = (0..20).fold(MetricValue::Scalar(1.0), |v, _| MetricValue::Array(vec![v]));
        assert!(check_value(&deep).unwrap_err().contains("deeper than 16"));
        let wide = MetricValue::Array(vec![MetricValue::Scalar(1.0); 5_000]);
        assert!(check_value(&wide).unwrap_err().contains("more than 1000 numbers"));
        let long_name = MetricValue::Object(BTreeMap::from([("x".repeat(300), MetricValue::Scalar(1.0))]));
        assert!(check_value(&long_name).unwrap_err().contains("field name of 300 bytes"));
        assert!(check_value(&MetricValue::Scalar(2.0)).is_ok());
    }
}

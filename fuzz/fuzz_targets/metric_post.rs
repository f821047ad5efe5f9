//! Any bytes as a metric post and as an HTTP response to the probe: never a panic, and every
//! accepted metric has a finite value and a valid key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_spec::values::MetricValue;

fn finite(value: &MetricValue) -> bool {
    match value {
        MetricValue::Scalar(v) => v.is_finite(),
        MetricValue::Array(items) => items.iter().all(finite),
        MetricValue::Object(fields) => fields.values().all(finite),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(metrics) = mlspec_server::parse_metrics(data) {
        for metric in &metrics {
            assert!(finite(&metric.value), "accepted a non-finite value: {metric:?}");
            assert!(!metric.key.as_str().is_empty());
            let _ = mlspec_server::exposition::metric_name(metric.key.as_str());
        }
    }
    let _ = mlspec_server::probe::parse(data);
});

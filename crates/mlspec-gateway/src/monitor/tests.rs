use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use mlspec_data::profile::{OutlierRules, Profiler};
use mlspec_spec::kinds::{DataProfileSpec, MonitoringPolicySpec, SignalObservation};
use mlspec_spec::{Format, Limits, validate_text};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// 2026-12-06T08:00:00Z, a whole minute.
const T0: i64 = 1796544000000;

fn at(ms: i64) -> DateTime<Utc> {
    time_of(T0 + ms)
}

fn policy(signals: Value, rollback: Option<Value>) -> MonitoringPolicySpec {
    let mut policy = json!({
        "target": "ModelPackage/churn@2",
        "baseline": "DataProfile/train",
        "columns": ["age", "income"],
        "signals": signals,
    });
    if let Some(rollback) = rollback {
        policy["rollback"] = rollback;
    }
    serde_json::from_value(policy).unwrap()
}

pub(crate) fn signal(name: &str, kind: &str, extra: Value) -> Value {
    let mut signal = json!({
        "name": name,
        "type": kind,
        "threshold": {"op": ">", "value": 0.1},
        "window": "1m",
    });
    for (key, value) in extra.as_object().unwrap() {
        signal[key] = value.clone();
    }
    signal
}

/// The training profile: `age` (integer) 20–59, `income` (float) 1000–1990, `city` a/b/c.
fn baseline() -> DataProfileSpec {
    let rows = 1_000;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values((0..rows).map(|i| 20 + i % 40))),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| 1_000.0 + (i % 100) as f64 * 10.0),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| ["a", "b", "c"][i as usize % 3]),
        )),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("age", DataType::Int64, true),
        Field::new("income", DataType::Float64, true),
        Field::new("city", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut profiler = Profiler::new(&schema, &[]).unwrap();
    profiler.add(&batch, 0).unwrap();
    profiler.spec(OutlierRules::default())
}

pub(crate) fn watch(signals: Value) -> Watch {
    Watch::new("churn-watch", &policy(signals, None), Some(&baseline())).unwrap()
}

fn sample(ms: i64, route: Route, status: u16, latency_ms: f64, id: &str) -> Sample {
    Sample {
        time: at(ms),
        route,
        status,
        latency_ms,
        request_id: id.to_owned(),
        path: "/v2/models/churn/infer".into(),
        content_type: Some("application/json".into()),
        input: None,
        output: None,
        input_header_length: None,
        output_header_length: None,
    }
}

/// An OIP request of `[age, income]` rows, as one FP64 `[N, 2]` tensor.
fn oip_rows(rows: &[(f64, f64)]) -> Bytes {
    let data: Vec<f64> = rows.iter().flat_map(|(a, b)| [*a, *b]).collect();
    let body = json!({"inputs": [{"name": "x", "shape": [rows.len(), 2], "datatype": "FP64", "data": data}]});
    Bytes::from(body.to_string())
}

fn oip_answer(output: &str, value: f64) -> Bytes {
    let body = json!({"model_name": "churn", "outputs": [{"name": output, "shape": [1], "datatype": "FP64", "data": [value]}]});
    Bytes::from(body.to_string())
}

fn with_rows(mut sample: Sample, rows: &[(f64, f64)]) -> Sample {
    sample.input = Some(oip_rows(rows));
    sample
}

/// The report's observation of `name`.
fn observed<'a>(report: &'a WindowReport, name: &str) -> &'a SignalObservation {
    report
        .report
        .signals
        .iter()
        .find(|s| s.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not observed: {:?}", report.report.skipped))
}

fn skip_reason<'a>(report: &'a WindowReport, name: &str) -> &'a str {
    report
        .report
        .skipped
        .iter()
        .find(|s| s.name.as_str() == name)
        .map(|s| s.reason.as_str())
        .unwrap_or_else(|| panic!("{name} not skipped: {:?}", report.report.signals))
}

fn examples(observation: &SignalObservation) -> Vec<&str> {
    observation.examples.iter().map(|e| e.as_str()).collect()
}

/// The report passes the spec's rules for a MonitoringReport.
fn assert_valid(report: &WindowReport) {
    let document = json!({
        "apiVersion": "mlspec/v1",
        "kind": "MonitoringReport",
        "metadata": {"name": "window"},
        "spec": serde_json::to_value(&report.report).unwrap(),
    });
    let outcome = validate_text(&document.to_string(), Format::Json, &Limits::default());
    assert!(!outcome.has_errors(), "{:?}\n{document:#}", outcome.diagnostics);
}

#[test]
fn latency_quantiles_and_error_rates_are_exact() {
    let mut watch = watch(json!([
        signal("p99", "latency", json!({"threshold": {"op": ">", "value": 9.5}})),
        signal("p50", "latency", json!({"metric": "p50_latency_ms"})),
        signal("mean", "latency", json!({"metric": "mean_latency_ms"})),
        signal("max", "latency", json!({"metric": "max_latency_ms"})),
        signal("errors", "errorRate", json!({})),
        signal("client", "errorRate", json!({"metric": "client_error_rate"})),
    ]));
    let statuses = [200, 200, 500, 503, 404, 499, 200, 200, 200, 200];
    for (i, status) in statuses.into_iter().enumerate() {
        let latency = (i + 1) as f64;
        watch.add(&sample(
            1_000 * i as i64,
            Route::Primary,
            status,
            latency,
            &format!("r{i}"),
        ));
    }
    assert!(watch.evaluate(at(59_999)).is_empty());
    let reports = watch.evaluate(at(60_000));
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.route, "primary");
    assert_eq!(report.report.window_start, at(0));
    assert_eq!(report.report.window_end, at(60_000));
    assert_eq!(report.report.requests, Some(10));
    assert_eq!(report.report.policy.to_string(), "MonitoringPolicy/churn-watch");
    assert_eq!(observed(report, "p99").value, 10.0);
    assert!(observed(report, "p99").breached);
    assert_eq!(observed(report, "p50").value, 5.0);
    assert_eq!(observed(report, "mean").value, 5.5);
    assert_eq!(observed(report, "max").value, 10.0);
    assert_eq!(
        examples(observed(report, "max")),
        ["r9 (10 ms)", "r8 (9 ms)", "r7 (8 ms)", "r6 (7 ms)", "r5 (6 ms)"]
    );
    let errors = observed(report, "errors");
    assert_eq!((errors.value, errors.samples, errors.breached), (0.2, Some(10), true));
    assert_eq!(examples(errors), ["r2 (500)", "r3 (503)"]);
    // 499 (the client left) is neither a server nor a client error.
    assert_eq!(observed(report, "client").value, 0.1);
    assert_eq!(examples(observed(report, "client")), ["r4 (404)"]);
    assert_eq!(report.breached, ["p99", "p50", "mean", "max", "errors"]);
    assert_valid(report);
}

/// `n` rows of the training distribution, shifted by `shift` years of age.
fn training_rows(n: i64, shift: f64) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| ((20 + i % 40) as f64 + shift, 1_000.0 + (i % 100) as f64 * 10.0))
        .collect()
}

fn drift_watch() -> Watch {
    watch(json!([
        signal("age", "drift", json!({"feature": "age"})),
        signal(
            "income",
            "skew",
            json!({"feature": "income", "metric": "psi", "threshold": {"op": ">", "value": 0.2}})
        ),
        signal("age-ks", "drift", json!({"feature": "age", "metric": "ks"})),
        signal(
            "city",
            "drift",
            json!({"feature": "city", "threshold": {"op": ">", "value": 0.2}})
        ),
    ]))
}

#[test]
fn drift_breaches_on_shifted_numbers_and_new_categories_but_not_on_the_training_distribution() {
    let mut same = drift_watch();
    let mut shifted = drift_watch();
    // Four requests of 100 rows each; the FP64 tensor carries the integer `age` as 41.0 etc.
    for i in 0..4 {
        let rows = &training_rows(400, 0.0)[i * 100..(i + 1) * 100];
        same.add(&with_rows(sample(i as i64, Route::Primary, 200, 1.0, "s"), rows));
        let rows = &training_rows(400, 30.0)[i * 100..(i + 1) * 100];
        shifted.add(&with_rows(sample(i as i64, Route::Primary, 200, 1.0, "d"), rows));
    }
    let cities = |names: &[&str]| {
        let rows: Vec<Value> = names.iter().map(|c| json!({"city": c})).collect();
        Bytes::from(Value::Array(rows).to_string())
    };
    let plain = |watch: &mut Watch, names: &[&str]| {
        let mut s = sample(10, Route::Primary, 200, 1.0, "c");
        s.path = "/predict".into();
        s.input = Some(cities(names));
        watch.add(&s);
    };
    plain(&mut same, &["a", "b", "c", "a", "b", "c"]);
    plain(&mut shifted, &["z", "z", "z", "y", "a", "z"]);

    let same = same.evaluate(at(60_000));
    let calm = &same[0];
    for name in ["age", "income", "age-ks", "city"] {
        assert!(!observed(calm, name).breached, "{name}: {:?}", observed(calm, name));
    }
    assert!(observed(calm, "age").value < 0.01, "{:?}", observed(calm, "age"));
    assert_eq!(
        observed(calm, "age").samples,
        Some(406),
        "the city rows count as missing ages"
    );
    assert_eq!(observed(calm, "city").samples, Some(406));
    assert_valid(calm);

    let shifted = shifted.evaluate(at(60_000));
    let moved = &shifted[0];
    let age = observed(moved, "age");
    assert!(age.breached && age.value > 0.3, "{age:?}");
    assert!(examples(age).contains(&"mean 39.5 → 69.5"), "{age:?}");
    assert!(observed(moved, "age-ks").breached);
    assert!(!observed(moved, "income").breached, "income did not move");
    let city = observed(moved, "city");
    assert!(city.breached && (city.value - 2.0 / 3.0).abs() < 1e-9, "{city:?}");
    assert!(examples(city).contains(&"new category `y`"), "{city:?}");
    assert!(examples(city).contains(&"new category `z`"), "{city:?}");
    assert_eq!(moved.breached, ["age", "age-ks", "city"]);
    assert_valid(moved);
}

#[test]
fn json_floats_of_an_integer_feature_are_compared_as_integers() {
    let mut watch = watch(json!([signal(
        "age",
        "drift",
        json!({"feature": "age", "metric": "missing"})
    )]))
    .with_protocol(Protocol::Json);
    let mut s = sample(0, Route::Primary, 200, 1.0, "r");
    s.input = Some(Bytes::from(
        r#"[{"age": 41.0}, {"age": 30.4}, {"age": "52"}, {"age": "old"}]"#,
    ));
    watch.add(&s);
    let report = &watch.evaluate(at(60_000))[0];
    let age = observed(report, "age");
    // Only `old` cannot be an integer: a quarter missing, against none in training.
    assert_eq!((age.value, age.samples), (0.25, Some(4)));
    assert_eq!(examples(age), ["mean 39.5 → 41", "missing 0.0% → 25.0%"]);
}

#[test]
fn too_few_requests_and_unreadable_bodies_are_skipped_with_the_reason() {
    let mut watch = watch(json!([
        signal("errors", "errorRate", json!({"minRequests": 5})),
        signal("age", "drift", json!({"feature": "age"})),
        signal("up", "liveness", json!({"threshold": {"op": "<", "value": 1.0}})),
    ]));
    for i in 0..3 {
        let mut s = sample(i, Route::Primary, 200, 1.0, "r");
        s.input = Some(Bytes::from_static(b"not json"));
        watch.add(&s);
    }
    watch.health(Route::Primary, true, at(1));
    watch.health(Route::Primary, false, at(2));
    let reports = watch.evaluate(at(60_000));
    let report = &reports[0];
    assert_eq!(
        skip_reason(report, "errors"),
        "3 requests in the window, fewer than minRequests 5"
    );
    let reason = skip_reason(report, "age");
    assert!(
        reason.starts_with(
            "no request of the 3 in the window had a value of `age`; 3 could not be read (first: the body is not JSON"
        ),
        "{reason}"
    );
    let up = observed(report, "up");
    assert_eq!((up.value, up.samples, up.breached), (0.5, Some(2), true));
    assert_valid(report);
    // A window without requests still reports liveness (skipped without checks) and skips the rest.
    let idle = &watch.evaluate(at(120_000))[0];
    assert_eq!(idle.report.requests, Some(0));
    assert_eq!(skip_reason(idle, "errors"), "no requests");
    assert_eq!(skip_reason(idle, "up"), "no health checks in the window");
    assert_valid(idle);
}

#[test]
fn each_route_is_judged_on_its_own_samples() {
    let mut watch = watch(json!([
        signal("errors", "errorRate", json!({})),
        signal("all-errors", "errorRate", json!({"route": "all"})),
        signal(
            "canary-latency",
            "latency",
            json!({"route": "canary", "threshold": {"op": ">", "value": 100.0}})
        ),
    ]));
    for i in 0..10 {
        watch.add(&sample(i, Route::Primary, 200, 5.0, &format!("p{i}")));
        let status = if i % 2 == 0 { 500 } else { 200 };
        watch.add(&sample(i, Route::Canary, status, 500.0, &format!("c{i}")));
    }
    watch.add(&sample(3, Route::Shadow, 200, 1.0, "s"));
    let reports = watch.evaluate(at(60_000));
    let routes: Vec<&str> = reports.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(routes, ["all", "canary", "primary", "shadow"]);
    assert_eq!(observed(&reports[0], "all-errors").value, 5.0 / 21.0);
    assert_eq!(reports[0].report.requests, Some(21));
    assert_eq!(reports[1].breached, ["errors", "canary-latency"]);
    assert_eq!(observed(&reports[1], "errors").value, 0.5);
    assert!(reports[2].breached.is_empty());
    assert_eq!(
        reports[2].report.signals.len(),
        1,
        "canary-latency is not a primary signal"
    );
    assert_eq!(observed(&reports[3], "errors").value, 0.0);
    for report in &reports {
        assert_eq!(
            report.report.route.as_ref().map(|r| r.as_str()),
            Some(report.route.as_str())
        );
        assert_valid(report);
    }
    // Only the primary route is reported without samples.
    let idle = watch.evaluate(at(120_000));
    assert_eq!(idle.iter().map(|r| r.route.as_str()).collect::<Vec<_>>(), ["primary"]);
}

#[test]
fn prediction_drift_without_a_baseline_column_compares_with_the_first_window() {
    let signals = json!([signal(
        "score",
        "predictionDrift",
        json!({"feature": "score", "minRequests": 20})
    )]);
    let mut watch = watch(signals);
    let window = |watch: &mut Watch, minute: i64, shift: f64, n: i64| {
        for i in 0..n {
            let mut s = sample(minute * 60_000 + i, Route::Primary, 200, 1.0, &format!("r{minute}-{i}"));
            s.output = Some(oip_answer("score", (i % 10) as f64 / 10.0 + shift));
            watch.add(&s);
        }
        watch.evaluate(at((minute + 1) * 60_000)).remove(0)
    };
    let few = window(&mut watch, 0, 0.0, 5);
    assert_eq!(
        skip_reason(&few, "score"),
        "5 requests in the window, fewer than minRequests 20"
    );
    let reference = window(&mut watch, 1, 0.0, 50);
    assert_eq!(
        skip_reason(&reference, "score"),
        "reference window: later windows of this route are compared with its 50 values of `score`"
    );
    let calm = window(&mut watch, 2, 0.0, 50);
    assert_eq!(observed(&calm, "score").value, 0.0);
    let moved = window(&mut watch, 3, 0.5, 50);
    assert!(observed(&moved, "score").breached, "{:?}", observed(&moved, "score"));
    assert!(examples(observed(&moved, "score")).contains(&"mean 0.45 → 0.95"));
    assert_valid(&moved);
}

#[test]
fn prediction_drift_of_an_output_the_baseline_has_compares_with_the_baseline_at_once() {
    let mut watch = watch(json!([signal("age-out", "predictionDrift", json!({"feature": "age"}))]));
    for i in 0..40 {
        let mut s = sample(i, Route::Primary, 200, 1.0, "r");
        s.output = Some(oip_answer("age", (60 + i) as f64));
        watch.add(&s);
    }
    let report = watch.evaluate(at(60_000)).remove(0);
    let age = observed(&report, "age-out");
    assert!(age.breached && age.samples == Some(40), "{age:?}");
    assert_eq!(examples(age), ["mean 39.5 → 79.5"]);
}

#[test]
fn a_watch_can_move_to_the_monitor_thread() {
    fn send<T: Send + 'static>(_: &T) {}
    send(&watch(json!([signal("errors", "errorRate", json!({}))])));
}

#[test]
fn performance_counts_the_labels_received_in_time_for_a_window() {
    let mut watch = watch(json!([
        signal(
            "accuracy",
            "performance",
            json!({"threshold": {"op": "<", "value": 0.9}})
        ),
        signal("mae", "performance", json!({"metric": "mae", "feature": "churn"})),
    ]));
    for (i, predicted) in [1.0, 0.0, 1.0, 1.0].into_iter().enumerate() {
        let mut s = sample(i as i64, Route::Primary, 200, 1.0, &format!("r{i}"));
        s.output = Some(oip_answer("churn", predicted));
        watch.add(&s);
    }
    assert!(watch.label("r0", Scalar::Number(1.0), at(30_000)));
    assert!(watch.label("r1", Scalar::Bool(false), at(30_000)));
    assert!(watch.label("r2", Scalar::Text("0".into()), at(30_000)));
    assert!(!watch.label("nobody", Scalar::Number(1.0), at(30_000)));
    let first = watch.evaluate(at(60_000)).remove(0);
    let accuracy = observed(&first, "accuracy");
    assert_eq!((accuracy.value, accuracy.samples), (2.0 / 3.0, Some(3)));
    assert_eq!(examples(accuracy), ["predicted 1, labelled 0"]);
    assert_eq!(observed(&first, "mae").value, 1.0 / 3.0);
    // r3's label comes after its window was reported: it counts in the window it arrived in.
    assert!(watch.label("r3", Scalar::Number(1.0), at(70_000)));
    let mut s = sample(80_000, Route::Primary, 200, 1.0, "r4");
    s.output = Some(oip_answer("churn", 0.0));
    watch.add(&s);
    assert!(watch.label("r4", Scalar::Number(1.0), at(90_000)));
    let second = watch.evaluate(at(120_000)).remove(0);
    let accuracy = observed(&second, "accuracy");
    assert_eq!((accuracy.value, accuracy.samples), (0.5, Some(2)));
    assert_valid(&second);
    let third = watch.evaluate(at(180_000)).remove(0);
    assert_eq!(skip_reason(&third, "accuracy"), "no labels yet");
}

#[test]
fn binary_metrics_count_the_positive_class() {
    let mut watch = watch(json!([
        signal("precision", "performance", json!({"metric": "precision"})),
        signal("recall", "performance", json!({"metric": "recall"})),
        signal("f1", "performance", json!({"metric": "f1"})),
        signal("rmse", "performance", json!({"metric": "rmse"})),
    ]));
    // predicted/labelled: tp, tp, fp, fn, tn
    let pairs = [(1.0, true), (1.0, true), (1.0, false), (0.0, true), (0.0, false)];
    for (i, (predicted, label)) in pairs.into_iter().enumerate() {
        let id = format!("r{i}");
        let mut s = sample(i as i64, Route::Primary, 200, 1.0, &id);
        s.output = Some(oip_answer("churn", predicted));
        watch.add(&s);
        assert!(watch.label(&id, Scalar::Bool(label), at(10)));
    }
    let report = watch.evaluate(at(60_000)).remove(0);
    assert_eq!(observed(&report, "precision").value, 2.0 / 3.0);
    assert_eq!(observed(&report, "recall").value, 2.0 / 3.0);
    assert_eq!(observed(&report, "f1").value, 2.0 / 3.0);
    assert_eq!(observed(&report, "rmse").value, (2.0f64 / 5.0).sqrt());
}

/// Feeds one minute of 10 requests, `failing` of them 500, at `latency` ms; evaluates it.
fn minute(watch: &mut Watch, m: i64, failing: usize, latency: f64) -> WindowReport {
    for i in 0..10 {
        let status = if i < failing { 500 } else { 200 };
        watch.add(&sample(m * 60_000 + i as i64, Route::Primary, status, latency, "r"));
    }
    let mut reports = watch.evaluate(at((m + 1) * 60_000));
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

fn trigger_watch(when: &str, consecutive: u32) -> Watch {
    let signals = json!([
        signal("errors", "errorRate", json!({})),
        signal("slow", "latency", json!({"threshold": {"op": ">", "value": 100.0}})),
    ]);
    let rollback = json!({"target": "ModelPackage/churn@1", "trigger": {"signals": ["errors", "slow"], "when": when, "consecutive": consecutive}});
    Watch::new("p", &policy(signals, Some(rollback)), None).unwrap()
}

#[test]
fn the_rollback_trigger_fires_after_consecutive_breached_windows() {
    let mut any = trigger_watch("any", 2);
    let due: Vec<bool> = [(5, 1.0), (5, 1.0), (5, 1.0), (0, 1.0), (0, 500.0), (0, 500.0)]
        .into_iter()
        .enumerate()
        .map(|(m, (failing, latency))| minute(&mut any, m as i64, failing, latency).rollback_due)
        .collect();
    assert_eq!(due, [false, true, false, false, false, true]);

    let mut all = trigger_watch("all", 1);
    let due: Vec<bool> = [(5, 1.0), (0, 500.0), (5, 500.0), (5, 500.0)]
        .into_iter()
        .enumerate()
        .map(|(m, (failing, latency))| minute(&mut all, m as i64, failing, latency).rollback_due)
        .collect();
    assert_eq!(due, [false, false, true, true]);
    // A window without requests skips both signals: the trigger does not hold.
    assert!(!all.evaluate(at(5 * 60_000))[0].rollback_due);
}

fn problems(name: &str, signals: Value, rollback: Option<Value>, baseline: Option<&DataProfileSpec>) -> Vec<String> {
    Watch::new(name, &policy(signals, rollback), baseline)
        .unwrap_err()
        .iter()
        .map(Problem::to_string)
        .collect()
}

#[test]
fn a_policy_the_gateway_cannot_compute_is_refused_with_each_problem_located() {
    let signals = json!([
        signal("a", "drift", json!({"feature": "agee"})),
        signal("b", "latency", json!({"metric": "p98_latency_ms"})),
        signal("c", "custom", json!({"metric": "revenue"})),
        signal("d", "errorRate", json!({"interval": "2m"})),
        signal("e", "drift", json!({"feature": "city", "metric": "jsd"})),
        signal("f", "errorRate", json!({"route": "canary"})),
        signal("g", "performance", json!({"metric": "auc"})),
    ]);
    let rollback = json!({"target": "ModelPackage/churn@1", "trigger": {"signals": ["f"], "when": "any"}});
    assert_eq!(
        problems("bad name!", signals.clone(), Some(rollback), Some(&baseline())),
        [
            "/metadata/name: `bad name!` is not a policy name: ".to_owned() + &Name::new("bad name!").unwrap_err().to_string(),
            "/spec/signals/0/feature: the baseline has no feature `agee`; it has: age, income, city".into(),
            "/spec/signals/1/metric: `p98_latency_ms` is not a latency metric; known: p99_latency_ms, p50_latency_ms, p90_latency_ms, p95_latency_ms, p999_latency_ms, mean_latency_ms, max_latency_ms".into(),
            "/spec/signals/2/type: the gateway cannot compute a `custom` signal; compute it elsewhere and write its MonitoringReport, or remove the signal from this policy".into(),
            "/spec/signals/3/interval: evaluating every 2m over a window of 1m would never see the requests between windows; make the interval at most the window".into(),
            "/spec/signals/4/metric: `jsd` does not apply to `city`, a categorical feature; use linf or missing".into(),
            "/spec/signals/6/metric: `auc` is not a performance metric; known: accuracy, precision, recall, f1, mae, rmse".into(),
            "/spec/rollback/trigger/signals/0: signal `f` does not watch the primary route alone, and the rollback trigger is judged on the primary route's windows; leave its `route` out or set it to `primary`".into(),
        ]
    );
    assert_eq!(
        problems("p", json!([signal("a", "skew", json!({"feature": "age"}))]), None, None),
        [
            "/spec/signals/0: a drift or skew signal compares with the training DataProfile, and none was given; set `baseline` in the policy (or pass one) so the gateway has a profile to compare with"
        ]
    );
    assert_eq!(
        problems("p", json!([signal("a", "drift", json!({}))]), None, Some(&baseline())),
        ["/spec/signals/0/feature: a drift, skew or prediction-drift signal names its `feature`"]
    );
}

#[test]
fn windows_end_on_multiples_of_the_interval() {
    let mut watch = watch(json!([signal("errors", "errorRate", json!({"window": "1s"}))]));
    assert_eq!(watch.next_due(), DateTime::<Utc>::MIN_UTC);
    watch.add(&sample(1_500, Route::Primary, 200, 1.0, "r"));
    assert_eq!(watch.next_due(), at(2_000));
    let reports = watch.evaluate(at(2_000));
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].report.window_start, reports[0].report.window_end),
        (at(1_000), at(2_000))
    );
    assert_eq!(watch.next_due(), at(3_000));

    // Sliding: a 1m window every 10s sees a sample in six windows.
    let mut sliding = watch_of_sliding();
    sliding.add(&sample(5_000, Route::Primary, 200, 1.0, "r"));
    let seen: Vec<(i64, u64)> = sliding
        .evaluate(at(80_000))
        .iter()
        .map(|r| {
            (
                (r.report.window_end - at(0)).num_seconds(),
                r.report.requests.unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(10, 1), (20, 1), (30, 1), (40, 1), (50, 1), (60, 1), (70, 0), (80, 0)]
    );

    // An idle hour is not reported second by second.
    let idle = watch.evaluate(at(3_600_000));
    let ends: Vec<i64> = idle
        .iter()
        .map(|r| (r.report.window_end - at(0)).num_seconds())
        .collect();
    assert_eq!(ends, [3, 4, 5, 3_600]);
    assert_eq!(watch.next_due(), at(3_601_000));
}

fn watch_of_sliding() -> Watch {
    watch(json!([signal("errors", "errorRate", json!({"interval": "10s"}))]))
}

#[test]
fn retained_samples_are_bounded_and_forgotten_when_no_window_needs_them() {
    let mut watch = watch(json!([signal("errors", "errorRate", json!({}))])).retain_at_most(100);
    for i in 0..250 {
        watch.add(&sample(i, Route::Primary, 200, 1.0, "r"));
    }
    assert_eq!((watch.retained(), watch.dropped()), (100, 150));
    assert_eq!(watch.evaluate(at(60_000))[0].report.requests, Some(100));
    assert_eq!(watch.retained(), 0);
}

#[test]
fn the_timeline_keeps_within_its_count_and_weight() {
    let mut timeline = store::Timeline::new(3, 5);
    for (time, weight) in [(1, 2), (2, 2), (3, 2)] {
        timeline.push(time, time, weight);
    }
    assert_eq!((timeline.len(), timeline.dropped), (2, 1), "6 > 5: the oldest went");
    timeline.push(4, 4, 1);
    assert_eq!(timeline.between(0, 10).copied().collect::<Vec<_>>(), [2, 3, 4]);
    timeline.forget_before(3);
    timeline.push(5, 5, 2);
    assert_eq!(timeline.between(0, 10).copied().collect::<Vec<_>>(), [3, 4, 5]);
    timeline.push(6, 6, 0);
    assert_eq!((timeline.len(), timeline.dropped), (3, 2), "at most 3 items");
}

fn arbitrary_sample() -> impl Strategy<Value = Sample> {
    let bodies = prop_oneof![
        Just(None),
        any::<Vec<u8>>().prop_map(|b| Some(Bytes::from(b))),
        proptest::collection::vec((0.0..100.0f64, -1e12..1e12f64), 0..4).prop_map(|rows| Some(oip_rows(&rows))),
        "[\\[\\]{}\"a-z0-9:,.-]{0,40}".prop_map(|s| Some(Bytes::from(s))),
    ];
    let answers = prop_oneof![Just(None), any::<f64>().prop_map(|v| Some(oip_answer("churn", v)))];
    let paths = prop_oneof![
        Just("/v2/models/m/infer"),
        Just("/v1/models/m:predict"),
        Just("/invocations"),
        Just("/predict")
    ];
    (
        0..300_000i64,
        0..3usize,
        100..600u16,
        any::<f64>(),
        bodies,
        answers,
        paths,
        0..20u8,
    )
        .prop_map(|(ms, route, status, latency_ms, input, output, path, id)| Sample {
            time: at(ms),
            route: [Route::Primary, Route::Canary, Route::Shadow][route],
            status,
            latency_ms,
            request_id: format!("r{id}"),
            path: path.into(),
            content_type: None,
            input,
            output,
            input_header_length: None,
            output_header_length: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_samples_never_break_evaluation(samples in proptest::collection::vec(arbitrary_sample(), 0..40), labels in proptest::collection::vec((0..20u8, any::<bool>()), 0..10)) {
        let mut watch = watch(json!([
            signal("p99", "latency", json!({"window": "1m", "interval": "20s"})),
            signal("errors", "errorRate", json!({"minRequests": 2})),
            signal("all", "errorRate", json!({"route": "all", "window": "30s"})),
            signal("age", "drift", json!({"feature": "age"})),
            signal("missing", "drift", json!({"feature": "income", "metric": "missing"})),
            signal("city", "skew", json!({"feature": "city"})),
            signal("score", "predictionDrift", json!({"feature": "churn", "metric": "psi"})),
            signal("accuracy", "performance", json!({})),
            signal("up", "liveness", json!({})),
        ]));
        let mut reports = Vec::new();
        for (i, sample) in samples.iter().enumerate() {
            watch.add(sample);
            watch.health(sample.route, i % 3 != 0, sample.time);
            if i % 7 == 0 {
                reports.extend(watch.evaluate(sample.time));
            }
        }
        for (id, label) in labels {
            watch.label(&format!("r{id}"), Scalar::Bool(label), at(150_000));
        }
        reports.extend(watch.evaluate(at(400_000)));
        for report in &reports {
            prop_assert!(report.report.signals.iter().all(|s| s.value.is_finite()));
            assert_valid(report);
        }
    }
}

/// An OIP request of `[age, income]` rows as one binary FP64 tensor (the binary tensor
/// extension), and the length of its JSON header.
fn binary_rows(rows: &[(f64, f64)]) -> (Bytes, usize) {
    let header = json!({"inputs": [{"name": "x", "shape": [rows.len(), 2], "datatype": "FP64", "parameters": {"binary_data_size": rows.len() * 16}}]});
    let mut body = header.to_string().into_bytes();
    let length = body.len();
    for (age, income) in rows {
        body.extend_from_slice(&age.to_le_bytes());
        body.extend_from_slice(&income.to_le_bytes());
    }
    (Bytes::from(body), length)
}

#[test]
fn binary_tensors_are_read_with_the_length_of_their_json_header() {
    let mut with_header = drift_watch();
    let mut without = drift_watch();
    let (body, length) = binary_rows(&training_rows(100, 30.0));
    let mut request = sample(1, Route::Primary, 200, 1.0, "b");
    request.input = Some(body);
    without.add(&request);
    request.input_header_length = Some(length);
    with_header.add(&request);
    let read = with_header.evaluate(at(60_000));
    assert!(observed(&read[0], "age").breached, "{:?}", read[0]);
    assert_eq!(observed(&read[0], "age").samples, Some(100));
    let unread = without.evaluate(at(60_000));
    assert!(
        skip_reason(&unread[0], "age").contains("1 could not be read"),
        "{:?}",
        unread[0]
    );
}

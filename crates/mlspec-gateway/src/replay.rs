//! Monitoring offline (`mlspec monitor LOG`): a recorded inference log — and the capture file
//! of its bodies, and delayed labels — replayed through the same [`Watch`] the live gateway
//! uses, so a batch-scoring log or yesterday's traffic yields the same MonitoringReports.
//!
//! From the log alone come the latency, error-rate and (by `route=`) route signals; drift,
//! prediction drift and performance need the bodies, which only the capture file keeps. A
//! captured body is used only when its SHA-256 is the one the log line carries (`in=`,
//! `out=`): what is monitored is what was logged. Event lines (`/_mlspec/events/…`) are not
//! requests. The log's lines are read in order; a request's time is the capture's (to the
//! millisecond) or the line's (to the second). A label is applied right after its request,
//! so that each window's performance covers the labelled requests that arrived in it.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use mlspec_attest::log::{Entry, Layout, Line, MAX_LINE_BYTES, parse, read_line};

use crate::GatewayError;
use crate::capture::Record;
use crate::monitor::{Sample, Watch, WindowReport};
use crate::protocol::Scalar;
use crate::route::Route;

/// What a replay found.
#[derive(Default)]
pub struct Replay {
    /// The reports of every window, in order.
    pub reports: Vec<WindowReport>,
    /// Lines read.
    pub lines: u64,
    /// Requests replayed (lines that are not events).
    pub requests: u64,
    /// Requests whose bodies came from the capture file.
    pub captured: u64,
    /// Captured bodies not used because their digest is not the log's.
    pub mismatched: u64,
    /// Lines that could not be read (`LOG:N: why`), at most 20 kept.
    pub unreadable: Vec<String>,
    /// How many lines could not be read.
    pub unreadable_count: u64,
    /// Labels joined to a request.
    pub labels_matched: u64,
    /// Labels whose id no request has, with up to 20 of the ids.
    pub labels_unmatched: (u64, Vec<String>),
}

/// Replays the log at `path` through `watch`.
pub fn replay(
    path: &Path,
    capture: Option<&HashMap<String, Record>>,
    labels: &HashMap<String, Scalar>,
    watch: &mut Watch,
) -> Result<Replay, GatewayError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| GatewayError::Io(format!("cannot read the log {shown}: {e}")))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut replay = Replay::default();
    let mut line = Vec::new();
    let mut last: Option<DateTime<Utc>> = None;
    let mut used_labels = std::collections::HashSet::new();
    loop {
        let read = read_line(&mut reader, &mut line, MAX_LINE_BYTES as u64)
            .map_err(|e| GatewayError::Io(format!("cannot read the log {shown}: {e}")))?;
        if read == Line::End {
            break;
        }
        replay.lines += 1;
        let number = replay.lines;
        let parsed = match read {
            Line::TooLong => Err("longer than a log line may be".to_owned()),
            _ => std::str::from_utf8(&line)
                .map_err(|_| "not UTF-8".to_owned())
                .and_then(|text| parse(text, Layout::of(&line))),
        };
        let entry = match parsed {
            Ok(entry) => entry,
            Err(why) => {
                replay.unreadable_count += 1;
                if replay.unreadable.len() < 20 {
                    replay.unreadable.push(format!("{shown}:{number}: {why}"));
                }
                continue;
            }
        };
        if entry.path.starts_with("/_mlspec/events/") {
            continue;
        }
        let Some(sample) = sample(&entry, capture, &mut replay) else {
            replay.unreadable_count += 1;
            continue;
        };
        replay.requests += 1;
        if let Some(time) = last
            && sample.time > time
        {
            replay.reports.extend(watch.evaluate(sample.time));
        }
        last = Some(last.map_or(sample.time, |t| t.max(sample.time)));
        watch.add(&sample);
        if let Some(label) = labels.get(&sample.request_id) {
            used_labels.insert(sample.request_id.clone());
            if watch.label(&sample.request_id, label.clone(), sample.time) {
                replay.labels_matched += 1;
            }
        }
    }
    if let Some(last) = last {
        close_windows(watch, last, &mut replay.reports);
    }
    let unmatched: Vec<&String> = labels.keys().filter(|id| !used_labels.contains(*id)).collect();
    replay.labels_unmatched = (
        unmatched.len() as u64,
        unmatched.into_iter().take(20).cloned().collect(),
    );
    Ok(replay)
}

/// Closes the windows the last requests fell in: evaluates at each next window end until the
/// windows closed start after the last request (at most 10,000 ends).
fn close_windows(watch: &mut Watch, last: DateTime<Utc>, reports: &mut Vec<WindowReport>) {
    for _ in 0..10_000 {
        let closed = watch.evaluate(watch.next_due());
        let past = !closed.is_empty() && closed.iter().all(|r| r.report.window_start > last);
        reports.extend(closed.into_iter().filter(|r| r.report.window_start <= last));
        if past {
            return;
        }
    }
}

/// The sample of a log line: its request, with the captured bodies when they are the logged ones.
fn sample(entry: &Entry, capture: Option<&HashMap<String, Record>>, replay: &mut Replay) -> Option<Sample> {
    let rid = entry.field("rid")?.to_owned();
    let latency_ms = entry.field("latency_ms")?.parse().ok()?;
    let route = match entry.field("route") {
        Some("canary") => Route::Canary,
        Some("shadow") => Route::Shadow,
        _ => Route::Primary,
    };
    let mut sample = Sample {
        time: line_time(&entry.time)?,
        route,
        status: entry.status,
        latency_ms,
        request_id: rid,
        path: entry.path.split('?').next().unwrap_or_default().to_owned(),
        content_type: None,
        input: None,
        output: None,
        input_header_length: None,
        output_header_length: None,
    };
    if let Some(record) = capture.and_then(|c| c.get(&sample.request_id)) {
        if record.matches(entry.field("in"), entry.field("out")) {
            let captured = record.sample();
            replay.captured += 1;
            sample.time = captured.time;
            sample.content_type = captured.content_type;
            sample.input = captured.input;
            sample.output = captured.output.or(Some(Bytes::new()));
            sample.input_header_length = captured.input_header_length;
            sample.output_header_length = captured.output_header_length;
        } else {
            replay.mismatched += 1;
        }
    }
    Some(sample)
}

/// A line's time: Combined `dd/Mon/yyyy:HH:MM:SS +0000` or JSON Lines' RFC 3339.
fn line_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::tests::{signal, watch};
    use proptest::strategy::Strategy as _;
    use serde_json::json;

    /// A Combined line of a request, as the gateway writes them (without a chain).
    fn line(second: u32, status: u16, latency: f64, rid: &str, route: &str) -> String {
        format!(
            "127.0.0.1 - - [06/Dec/2026:07:41:{:02} +0000] \"POST /v2/models/m/infer HTTP/1.1\" {status} 10 \"-\" \"-\" rid={rid} model=m@1 latency_ms={latency:.3} route={route}",
            second % 60
        )
    }

    #[test]
    fn a_log_replays_into_the_windows_its_lines_fell_in_and_event_lines_are_not_requests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.log");
        let mut text: Vec<String> = (0..10)
            .map(|i| line(1, if i < 3 { 500 } else { 200 }, 2.0, &format!("r{i}"), "primary"))
            .collect();
        text.push("127.0.0.1 - - [06/Dec/2026:07:41:01 +0000] \"POST /_mlspec/events/rollback HTTP/1.1\" 200 0 \"-\" \"-\" rid=e event=rollback".into());
        text.push("not a log line".into());
        text.extend((0..4).map(|i| line(3, 200, 1.0, &format!("s{i}"), "canary")));
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
        let mut watch = watch(json!([signal("errors", "errorRate", json!({"window": "1s"}))]));
        let replayed = replay(&path, None, &HashMap::new(), &mut watch).unwrap();
        assert_eq!(
            (replayed.lines, replayed.requests, replayed.unreadable_count),
            (16, 14, 1)
        );
        assert!(
            replayed.unreadable[0].ends_with(":12: no time"),
            "{:?}",
            replayed.unreadable
        );
        let errors: Vec<(String, f64)> = replayed
            .reports
            .iter()
            .filter_map(|r| Some((r.route.clone(), r.report.signals.first()?.value)))
            .collect();
        assert_eq!(errors, [("primary".to_owned(), 0.3), ("canary".to_owned(), 0.0)]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn any_log_text_replays_without_panicking(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Strategy::boxed("(?s).{0,120}"),
                    proptest::strategy::Strategy::prop_map(
                        (0u32..60, 100u16..600, 0.0f64..1e4, "[a-z0-9-]{1,8}", "primary|canary|shadow|x"),
                        |(s, status, latency, rid, route): (u32, u16, f64, String, String)| line(s, status, latency, &rid, &route),
                    )
                    .boxed(),
                ],
                0..40,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("serve.log");
            std::fs::write(&path, lines.join("\n")).unwrap();
            let mut watch = watch(json!([
                signal("errors", "errorRate", json!({"window": "1s"})),
                signal("slow", "latency", json!({"window": "2s", "interval": "1s"})),
            ]));
            let replayed = replay(&path, None, &HashMap::new(), &mut watch).unwrap();
            proptest::prop_assert!(replayed.requests <= replayed.lines);
            for report in &replayed.reports {
                proptest::prop_assert!(report.report.signals.iter().all(|s| s.value.is_finite()));
            }
        }
    }

    #[test]
    fn both_layouts_times_are_read() {
        assert_eq!(
            line_time("06/Dec/2026:07:41:48 +0000").map(|t| t.timestamp()),
            Some(1_796_542_908)
        );
        assert_eq!(
            line_time("2026-12-06T07:41:48.250Z").map(|t| t.timestamp_millis()),
            Some(1_796_542_908_250)
        );
        assert_eq!(line_time("yesterday"), None);
    }
}

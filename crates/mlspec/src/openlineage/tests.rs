//! The events against the official schemas (run through the Python `jsonschema` validator from
//! the interop venv named by `MLSPEC_INTEROP_PYTHON`, as the interop tests do), and the sinks
//! against a real file and a local HTTP server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{TimeZone as _, Utc};
use mlspec_spec::ObjectId;
use mlspec_spec::newtypes::Digest;
use serde_json::Value;

use super::event::{FACET_SCHEMA_URLS, RUN_EVENT_SCHEMA_URL, RunEvent};
use super::sink::{CONNECT_TIMEOUT, Delivery, REQUEST_TIMEOUT};
use super::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which makes a venv with jsonschema")
    })
}

/// Runs the official-schema validator (plus mlspec's published facet schemas) on an NDJSON
/// file: whether every event is valid, and what it printed.
fn validate(events: &Path) -> (bool, String) {
    let out = Command::new(python())
        .arg(workspace().join("crates/mlspec/tests/it/openlineage_validate.py"))
        .arg(workspace().join("vendor/schemas/openlineage"))
        .arg("--facets")
        .arg(workspace().join("schemas/openlineage/1-0-0"))
        .arg(events)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn digest(text: &str) -> Digest {
    Digest::sha256_of(text)
}

fn at(second: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 22, 0, second).unwrap()
}

/// A pipeline `iris` of two steps, `prepare` completing and `train` failing: every event kind
/// and facet mlspec emits.
struct Sample {
    pipeline_run: ObjectId,
    prepare_run: ObjectId,
    train_run: ObjectId,
    raw: Vec<Dataset>,
    prepared: Vec<Dataset>,
    prepared_declared: Vec<Dataset>,
    model: Vec<Dataset>,
    cache_key: Digest,
    module: Digest,
}

impl Sample {
    fn new() -> Sample {
        Sample {
            pipeline_run: ObjectId::generate(),
            prepare_run: ObjectId::generate(),
            train_run: ObjectId::generate(),
            raw: vec![dataset("s3://lake/raw", "iris.csv", Some(digest("raw")))],
            prepared: vec![dataset(
                "file:///work/iris",
                "prepared.parquet",
                Some(digest("prepared")),
            )],
            prepared_declared: vec![dataset("file:///work/iris", "prepared.parquet", None)],
            model: vec![dataset("", "/work/iris/model.bin", None)],
            cache_key: digest("cache key"),
            module: digest("module"),
        }
    }

    fn pipeline(&self) -> JobRun<'_> {
        JobRun {
            run_id: &self.pipeline_run,
            job_namespace: "mlspec-demo",
            job_name: "iris",
            job_type: JobType::Pipeline,
            parent: None,
            inputs: &[],
            outputs: &[],
            cache_key: None,
            module_digest: None,
            error: None,
        }
    }

    fn step<'a>(&'a self, run_id: &'a ObjectId, name: &'a str) -> JobRun<'a> {
        JobRun {
            run_id,
            job_name: name,
            job_type: JobType::Step,
            parent: Some(ParentRun {
                run_id: &self.pipeline_run,
                job_name: "iris",
            }),
            module_digest: Some(&self.module),
            ..self.pipeline()
        }
    }

    fn events(&self) -> Vec<RunEvent> {
        let prepare_started = JobRun {
            inputs: &self.raw,
            outputs: &self.prepared_declared,
            ..self.step(&self.prepare_run, "iris.prepare")
        };
        let prepare_done = JobRun {
            outputs: &self.prepared,
            cache_key: Some(&self.cache_key),
            ..prepare_started
        };
        let train = JobRun {
            inputs: &self.prepared,
            outputs: &self.model,
            ..self.step(&self.train_run, "iris.train")
        };
        let train_failed = JobRun {
            error: Some("step `train` exited with status 1"),
            ..train
        };
        let pipeline_failed = JobRun {
            error: Some("step `train` failed"),
            ..self.pipeline()
        };
        vec![
            run_event(&self.pipeline(), EventType::Start, at(0)),
            run_event(&prepare_started, EventType::Start, at(1)),
            run_event(&prepare_done, EventType::Complete, at(2)),
            run_event(&train, EventType::Start, at(3)),
            run_event(&train_failed, EventType::Fail, at(4)),
            run_event(&pipeline_failed, EventType::Fail, at(5)),
            run_event(&self.pipeline(), EventType::Abort, at(6)),
        ]
    }
}

fn json(event: &RunEvent) -> Value {
    serde_json::to_value(event).unwrap()
}

#[test]
fn a_step_event_has_the_run_job_parent_datasets_and_digests() {
    let sample = Sample::new();
    let events = sample.events();
    let done = json(&events[2]);
    assert_eq!(done["eventType"], "COMPLETE");
    assert_eq!(done["eventTime"], "2026-12-05T22:00:02.000Z");
    assert_eq!(done["schemaURL"], RUN_EVENT_SCHEMA_URL);
    assert_eq!(done["run"]["runId"], sample.prepare_run.as_str());
    assert_eq!(
        done["job"],
        serde_json::json!({"namespace": "mlspec-demo", "name": "iris.prepare", "facets": {"jobType": {
        "_producer": done["producer"], "_schemaURL": "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
        "processingType": "BATCH", "integration": "MLSPEC", "jobType": "STEP"}}})
    );
    let parent = &done["run"]["facets"]["parent"];
    let pipeline = serde_json::json!({"run": {"runId": sample.pipeline_run.as_str()}, "job": {"namespace": "mlspec-demo", "name": "iris"}});
    assert_eq!(parent["run"], pipeline["run"]);
    assert_eq!(parent["job"], pipeline["job"]);
    assert_eq!(parent["root"], pipeline);
    assert_eq!(done["inputs"][0]["namespace"], "s3://lake");
    assert_eq!(done["inputs"][0]["name"], "raw/iris.csv");
    assert_eq!(
        done["outputs"][0]["facets"]["version"]["datasetVersion"],
        digest("prepared").as_str()
    );
    let digests = &done["run"]["facets"]["mlspec_digests"];
    assert_eq!(digests["cacheKey"], sample.cache_key.as_str());
    assert_eq!(digests["moduleDigest"], sample.module.as_str());
    assert_eq!(digests["inputs"][0]["digest"], digest("raw").as_str());
    assert_eq!(digests["outputs"][0]["name"], "/work/iris/prepared.parquet");
    assert!(done["run"]["facets"].get("errorMessage").is_none());

    let failed = json(&events[4]);
    assert_eq!(
        failed["run"]["facets"]["errorMessage"]["message"],
        "step `train` exited with status 1"
    );
    let pipeline_start = json(&events[0]);
    assert!(pipeline_start["run"]["facets"].get("parent").is_none());
    assert!(
        pipeline_start["run"]["facets"].get("mlspec_digests").is_none(),
        "nothing to say yet"
    );
    assert_eq!(pipeline_start["job"]["facets"]["jobType"]["jobType"], "PIPELINE");
}

#[test]
fn a_run_id_that_is_no_uuid_maps_to_the_same_uuid_every_time() {
    let id = ObjectId::new("train-2026-12-05").unwrap();
    let sample = Sample::new();
    let run = JobRun {
        run_id: &id,
        ..sample.pipeline()
    };
    let first = json(&run_event(&run, EventType::Start, at(0)))["run"]["runId"].clone();
    let again = json(&run_event(&run, EventType::Complete, at(1)))["run"]["runId"].clone();
    assert_eq!(first, again);
    let uuid = uuid::Uuid::parse_str(first.as_str().unwrap()).unwrap();
    assert_eq!(uuid.get_version_num(), 8);
}

#[test]
fn facet_schema_urls_name_the_vendored_and_the_published_schemas() {
    let vendored = workspace().join("vendor/schemas/openlineage");
    for url in FACET_SCHEMA_URLS.iter().chain([&RUN_EVENT_SCHEMA_URL]) {
        let (id, pointer) = url.split_once('#').unwrap();
        let file = if let Some(published) = id.strip_prefix("https://mlspec.org/schemas/") {
            workspace().join("schemas").join(published)
        } else if id.starts_with("https://openlineage.io/spec/facets/") {
            vendored.join("facets").join(id.rsplit('/').next().unwrap())
        } else {
            vendored.join("OpenLineage.json")
        };
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(schema["$id"], id, "{}", file.display());
        assert!(
            schema.pointer(pointer).is_some(),
            "{url}: no {pointer} in {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn every_event_validates_against_the_official_schemas_and_mlspecs_facet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let mut sink = Sink::open(path.to_str().unwrap(), None).unwrap();
    let events = Sample::new().events();
    for event in &events {
        sink.emit(event).await;
    }
    assert_eq!(sink.finish().delivered, events.len());

    let (ok, report) = validate(&path);
    assert!(ok, "{report}");
    let verdicts: Vec<&str> = report.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(verdicts.len(), events.len(), "{report}");
    for line in verdicts {
        assert!(
            line.starts_with("OK ") && line.ends_with("custom facets=0"),
            "every facet checked by a schema: {line}"
        );
    }
}

#[test]
fn the_validator_rejects_a_broken_event_and_a_broken_mlspec_facet() {
    let dir = tempfile::tempdir().unwrap();
    let valid = json(&Sample::new().events()[2]);

    let mut no_run_id = valid.clone();
    no_run_id["run"].as_object_mut().unwrap().remove("runId");
    let path = dir.path().join("no-run-id.ndjson");
    std::fs::write(&path, no_run_id.to_string()).unwrap();
    let (ok, report) = validate(&path);
    assert!(!ok && report.contains("'runId' is a required property"), "{report}");

    let mut bad_digest = valid;
    bad_digest["run"]["facets"]["mlspec_digests"]["cacheKey"] = "md5:abc".into();
    let path = dir.path().join("bad-digest.ndjson");
    std::fs::write(&path, bad_digest.to_string()).unwrap();
    let (ok, report) = validate(&path);
    assert!(!ok && report.contains("run.facets/mlspec_digests"), "{report}");
}

/// What the local endpoint received: path, Content-Type, body.
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A local HTTP server that records every request and answers `status`; its base URL.
async fn endpoint(status: StatusCode) -> (String, Received) {
    async fn record(
        State((received, status)): State<(Received, StatusCode)>,
        uri: Uri,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        received
            .lock()
            .unwrap()
            .push((uri.path().to_owned(), content_type, body));
        status
    }
    let received = Received::default();
    let app = axum::Router::new()
        .fallback(record)
        .with_state((received.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn the_http_sink_posts_exactly_the_events_as_json_to_the_lineage_api() {
    let (url, received) = endpoint(StatusCode::CREATED).await;
    let mut sink = Sink::open(&url, None).unwrap();
    let events = Sample::new().events();
    for event in &events {
        sink.emit(event).await;
    }
    let delivery: Delivery = sink.finish();
    assert_eq!((delivery.delivered, delivery.failure), (events.len(), None));
    let received = received.lock().unwrap().clone();
    let expected: Vec<_> = events
        .iter()
        .map(|e| ("/api/v1/lineage".to_owned(), "application/json".to_owned(), json(e)))
        .collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn an_error_answer_is_reported_and_a_url_with_a_path_is_used_as_it_is() {
    let (url, received) = endpoint(StatusCode::BAD_REQUEST).await;
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("undelivered.ndjson");
    let mut sink = Sink::open(&format!("{url}/custom/lineage"), Some(&kept)).unwrap();
    for event in &Sample::new().events()[..2] {
        sink.emit(event).await;
    }
    let delivery = sink.finish();
    assert_eq!(received.lock().unwrap().len(), 1, "no retries after a failure");
    assert_eq!(received.lock().unwrap()[0].0, "/custom/lineage");
    assert!(delivery.failure.unwrap().contains("400 Bad Request"));
    assert_eq!((delivery.delivered, delivery.kept, delivery.dropped), (0, 2, 0));
    assert_eq!(std::fs::read_to_string(&kept).unwrap().lines().count(), 2);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported_once_without_credentials_and_its_events_kept() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("undelivered.ndjson");
    let started = Instant::now();
    let mut sink = Sink::open(&format!("http://marquez:s3cret@127.0.0.1:{port}"), Some(&kept)).unwrap();
    let events = Sample::new().events();
    for event in &events {
        sink.emit(event).await;
    }
    let delivery = sink.finish();
    assert!(started.elapsed() < CONNECT_TIMEOUT, "{:?}", started.elapsed());
    let failure = delivery.failure.unwrap();
    assert!(
        failure.contains(&format!("127.0.0.1:{port}/api/v1/lineage")),
        "{failure}"
    );
    assert!(!failure.contains("s3cret"), "{failure}");
    assert_eq!(
        (delivery.delivered, delivery.kept, delivery.dropped),
        (0, events.len(), 0)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&kept)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, events.iter().map(json).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_silent_endpoint_costs_one_timeout_and_its_events_are_counted() {
    // Listening but never accepting: the connection opens, no answer ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let mut sink = Sink::open(&url, None).unwrap();
    for event in &Sample::new().events()[..3] {
        sink.emit(event).await;
    }
    let delivery = sink.finish();
    let elapsed = started.elapsed();
    assert!(elapsed < REQUEST_TIMEOUT + Duration::from_secs(2), "{elapsed:?}");
    assert!(delivery.failure.is_some());
    assert_eq!((delivery.delivered, delivery.kept, delivery.dropped), (0, 0, 3));
}

#[test]
fn a_file_that_cannot_be_opened_is_an_error_before_anything_runs() {
    let error = Sink::open("/nonexistent-dir/events.ndjson", None).unwrap_err();
    assert!(
        format!("{error:#}").contains("/nonexistent-dir/events.ndjson"),
        "{error:#}"
    );
}

#[test]
fn two_writers_appending_to_one_file_leave_only_whole_lines() {
    const EVENTS: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let start = std::sync::Barrier::new(2);
    // Long lines (16 KiB) written at the same moment from two threads: a line written in more
    // than one write would be torn.
    let error = "x".repeat(16 * 1024);
    let write = |job_name: &str| {
        let sample = Sample::new();
        let run = JobRun {
            job_name,
            error: Some(&error),
            ..sample.pipeline()
        };
        let event = run_event(&run, EventType::Fail, at(0));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut sink = Sink::open(path.to_str().unwrap(), None).unwrap();
        start.wait();
        for _ in 0..EVENTS {
            runtime.block_on(sink.emit(&event));
        }
        sink.finish().delivered
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| write("a"));
        let b = scope.spawn(|| write("b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a, b), (EVENTS, EVENTS));
    let text = std::fs::read_to_string(&path).unwrap();
    let names: Vec<String> = text
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("a whole event on every line");
            event["job"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "a").count(), EVENTS);
    assert_eq!(names.iter().filter(|n| *n == "b").count(), EVENTS);
}

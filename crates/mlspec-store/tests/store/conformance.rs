//! One conformance suite, stamped out per backend: every case runs on SQLite, on PostgreSQL,
//! and through `mlspec server`'s API (the http backend) on each of them, and must behave
//! identically, errors included.

use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::{Kind, Name, ObjectId, Spec, Status, Version};
use mlspec_store::{ApplyAction, Axis, Direction, ErrorKind, ListQuery, Selector, SeriesPoint, SeriesQuery};

use crate::support::*;

macro_rules! conformance {
    ($(async fn $name:ident($store:ident) $body:block)*) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let $store = Fixture::sqlite().await;
                $body
            })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let $store = Fixture::postgres().await;
                $body
            })*
        }
        mod http_sqlite {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let $store = Fixture::http_sqlite().await;
                $body
            })*
        }
        mod http_postgres {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let $store = Fixture::http_postgres().await;
                $body
            })*
        }
    };
}

async fn events(store: &Fixture) -> i64 {
    store.scalar("SELECT COUNT(*) FROM events").await
}

/// The names `list --where FILTER --order-by ORDER` returns for Runs, in order.
async fn found(store: &Fixture, filter: &str, order: Option<&str>, limit: Option<u32>, offset: u32) -> Vec<String> {
    let query = ListQuery {
        filter: Some(parse_filter(filter).unwrap_or_else(|d| panic!("{filter}: {d:#?}"))),
        order: order.map(|o| parse_order(o).unwrap()),
        limit,
        offset,
        ..ListQuery::new(Kind::Run)
    };
    store.list(&query).await.unwrap().into_iter().map(|o| o.name).collect()
}

/// Runs with results to query: metrics (one at two steps), parameters, labels.
fn scored_runs() -> String {
    let scored = |name: &str, team: &str, spec: &str| {
        format!(
            "apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: {name}, labels: {{team: {team}}}}}\nspec: {{status: Finished, startTime: 2026-01-01T00:00:00Z, endTime: 2026-01-01T01:00:00Z, {spec}}}\n"
        )
    };
    join(&[
        scored(
            "a",
            "risk",
            "metrics: [{key: accuracy, value: 0.95}, {key: latency_ms, value: 40}], params: {lr: 0.01, opt: adam}",
        ),
        scored(
            "b",
            "risk",
            "metrics: [{key: accuracy, value: 0.85}], params: {lr: 0.2, opt: sgd}",
        ),
        scored(
            "c",
            "ops",
            "metrics: [{key: accuracy, value: 0.99, step: 1}, {key: accuracy, value: 0.91, step: 2}], params: {lr: 0.05}",
        ),
        scored("d", "ops", "params: {lr: 0.5}"),
        run("e"),
    ])
}

/// Points of metric `key` at steps `steps`, value `f(step)`, a millisecond apart.
fn series_points(key: &str, steps: std::ops::Range<u64>, f: impl Fn(u64) -> f64) -> Vec<SeriesPoint> {
    steps
        .map(|step| SeriesPoint {
            key: key.parse().unwrap(),
            value: f(step),
            step,
            timestamp_us: Some(1_700_000_000_000_000 + step as i64 * 1000),
        })
        .collect()
}

/// Appends `points` in appends of at most 10,000.
async fn append_all(store: &Fixture, run: &Selector, points: &[SeriesPoint]) {
    for batch in points.chunks(10_000) {
        store.append_metrics(run, batch).await.unwrap();
    }
}

async fn assert_intact(store: &Fixture) {
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

conformance! {
    async fn creates_and_gets_by_name_and_id(store) {
        let report = store.apply_yaml(&run("Train-1")).await.unwrap();
        assert_eq!(report.results[0].action, ApplyAction::Created);
        let id = report.results[0].id.clone();
        let by_name = store.get(&named(Kind::Run, "train-1")).await.unwrap();
        assert_eq!(by_name.summary.id, id);
        assert_eq!(by_name.summary.name, "Train-1");
        assert_eq!(by_name.document.metadata.id.as_ref().unwrap().as_str(), id);
        assert_eq!(by_name.document.metadata.created_by.as_ref().unwrap().as_str(), "tester");
        let by_id = store.get(&text(Kind::Run, &id)).await.unwrap();
        assert_eq!(by_id.summary, by_name.summary);
        assert_kind(store.get(&named(Kind::Run, "nope")).await, ErrorKind::NotFound);
        assert_kind(store.get(&named(Kind::Dataset, "train-1")).await, ErrorKind::NotFound);
        assert_intact(&store).await;
    }

    async fn gets_many_by_id_in_the_order_asked(store) {
        let report = store.apply_yaml(&join(&[run("a"), run_with("b", "params: {lr: 0.1}"), run("c")])).await.unwrap();
        let ids: Vec<ObjectId> = report.results.iter().map(|r| ObjectId::new(r.id.as_str()).unwrap()).collect();
        let asked = [ids[2].clone(), ids[0].clone(), ids[1].clone(), ids[0].clone()];
        let got = store.get_many(&asked).await.unwrap();
        let names: Vec<&str> = got.iter().map(|o| o.summary.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b", "a"]);
        let one = store.get(&text(Kind::Run, ids[1].as_str())).await.unwrap();
        assert_eq!((&got[2].summary, &got[2].document), (&one.summary, &one.document));
        assert!(store.get_many(&[]).await.unwrap().is_empty());
        let missing = [ids[0].clone(), ObjectId::new("no-such-object").unwrap()];
        assert_kind(store.get_many(&missing).await, ErrorKind::NotFound);
    }

    async fn same_content_writes_no_event(store) {
        store.apply_yaml(&run("a")).await.unwrap();
        let before = events(&store).await;
        let again = store.apply_yaml(&run("a")).await.unwrap();
        assert_eq!(again.results[0].action, ApplyAction::Unchanged);
        assert_eq!(again.results[0].seq, None);
        assert_eq!(events(&store).await, before);
    }

    async fn updates_keep_previous_and_new_values(store) {
        store.apply_yaml(&run_with("a", "params: {lr: 0.1}")).await.unwrap();
        let updated = store.apply_yaml(&run_with("a", "params: {lr: 0.2}")).await.unwrap();
        assert_eq!(updated.results[0].action, ApplyAction::Updated);
        let history = store.history(&named(Kind::Run, "a")).await.unwrap();
        let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "update"]);
        let change = &history[1].changes;
        assert_eq!(change.len(), 1, "{change:?}");
        assert_eq!(change[0].path, "/spec/params/lr");
        assert_eq!(change[0].previous, Some(serde_json::json!(0.1)));
        assert_eq!(change[0].new, Some(serde_json::json!(0.2)));
        assert_eq!(history[1].actor, "tester");
        assert_intact(&store).await;
    }

    async fn case_only_name_collision_is_refused(store) {
        store.apply_yaml(&run("train")).await.unwrap();
        let error = assert_kind(store.apply_yaml(&run("TRAIN")).await, ErrorKind::AlreadyExists);
        assert!(error.message.contains("Run/train"), "{error}");
        assert_kind(store.apply_yaml(&join(&[run("x"), run("X")])).await, ErrorKind::AlreadyExists);
        let with_id = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {id: fresh-1, name: Train}\nspec: {status: Running}\n";
        let error = assert_kind(store.apply_yaml(with_id).await, ErrorKind::AlreadyExists);
        assert!(error.message.contains("already exists"), "{error}");
        let error = assert_kind(store.apply_yaml(&join(&[run("y"), run("y")])).await, ErrorKind::InvalidArgument);
        assert!(error.message.contains("documents 1 and 2"), "{error}");
        assert_eq!(events(&store).await, 1);
    }

    async fn lists_active_by_default_and_filters(store) {
        let labelled = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: b, labels: {team: risk}}\nspec: {status: Running}\n";
        store.apply_yaml(&join(&[run("c"), labelled.to_owned(), run("a")])).await.unwrap();
        store.set_status(&named(Kind::Run, "c"), Status::Deprecated, "t").await.unwrap();
        let names = |list: Vec<mlspec_store::ObjectSummary>| list.into_iter().map(|o| o.name).collect::<Vec<_>>();
        let query = |statuses: Vec<Status>, labels: Vec<(String, String)>| ListQuery { statuses, labels, ..ListQuery::new(Kind::Run) };
        assert_eq!(names(store.list(&query(vec![], vec![])).await.unwrap()), ["a", "b"]);
        let all = vec![Status::Active, Status::Deprecated, Status::Archived];
        assert_eq!(names(store.list(&query(all, vec![])).await.unwrap()), ["a", "b", "c"]);
        assert_eq!(names(store.list(&query(vec![Status::Deprecated], vec![])).await.unwrap()), ["c"]);
        let team = vec![("team".to_owned(), "risk".to_owned())];
        assert_eq!(names(store.list(&query(vec![], team)).await.unwrap()), ["b"]);
        let limited = ListQuery { limit: Some(1), ..ListQuery::new(Kind::Run) };
        assert_eq!(names(store.list(&limited).await.unwrap()), ["a"]);
    }

    async fn archive_frees_the_name_and_keeps_the_object(store) {
        let first = store.apply_yaml(&run("a")).await.unwrap().results[0].id.clone();
        let change = store.set_status(&named(Kind::Run, "a"), Status::Archived, "t").await.unwrap();
        assert!(change.changed);
        assert_eq!(change.object.status, Status::Archived);
        let again = store.set_status(&text(Kind::Run, &first), Status::Archived, "t").await.unwrap();
        assert!(!again.changed, "archiving twice writes nothing");
        assert_kind(store.get(&named(Kind::Run, "a")).await, ErrorKind::FailedPrecondition);
        assert_eq!(store.get(&text(Kind::Run, &first)).await.unwrap().summary.status, Status::Archived);
        let second = store.apply_yaml(&run("A")).await.unwrap().results[0].id.clone();
        assert_ne!(first, second);
        // Reactivating the first would take the name back from the second.
        assert_kind(store.set_status(&text(Kind::Run, &first), Status::Active, "t").await, ErrorKind::AlreadyExists);
        store.set_status(&named(Kind::Run, "a"), Status::Archived, "t").await.unwrap();
        let error = assert_kind(store.set_status(&named(Kind::Run, "a"), Status::Active, "t").await, ErrorKind::Conflict);
        assert!(error.message.contains("2 archived"), "{error}");
        store.set_status(&text(Kind::Run, &first), Status::Active, "t").await.unwrap();
        assert_eq!(store.get(&named(Kind::Run, "a")).await.unwrap().summary.id, first);
        let actions: Vec<String> = store.history(&text(Kind::Run, &first)).await.unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["create", "archive", "reactivate"]);
        assert_intact(&store).await;
    }

    async fn deprecated_objects_are_found_by_name(store) {
        store.apply_yaml(&run("a")).await.unwrap();
        store.set_status(&named(Kind::Run, "a"), Status::Deprecated, "t").await.unwrap();
        assert_eq!(store.get(&named(Kind::Run, "A")).await.unwrap().summary.status, Status::Deprecated);
        let archived = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: a, status: Archived}\nspec: {status: Running}\n";
        let error = assert_kind(store.apply_yaml(archived).await, ErrorKind::InvalidArgument);
        assert!(error.message.contains("apply does not change an object's status"), "{error}");
        // Without a status, apply keeps the stored one.
        store.apply_yaml(&run_with("a", "params: {x: 1}")).await.unwrap();
        assert_eq!(store.get(&named(Kind::Run, "a")).await.unwrap().summary.status, Status::Deprecated);
    }

    async fn renames_within_the_rules(store) {
        store.apply_yaml(&join(&[run("a"), run("b"), run("old")])).await.unwrap();
        let new = |n: &str| Name::new(n).unwrap();
        assert_kind(store.rename(&named(Kind::Run, "a"), &new("B"), "t").await, ErrorKind::AlreadyExists);
        store.set_status(&named(Kind::Run, "old"), Status::Archived, "t").await.unwrap();
        let change = store.rename(&named(Kind::Run, "a"), &new("old"), "t").await.unwrap();
        assert_eq!(change.object.name, "old");
        assert!(store.rename(&named(Kind::Run, "old"), &new("Old"), "t").await.unwrap().changed, "case-only rename of itself");
        let archived = store.list(&ListQuery { statuses: vec![Status::Archived], ..ListQuery::new(Kind::Run) }).await.unwrap();
        assert_kind(store.rename(&text(Kind::Run, &archived[0].id), &new("z"), "t").await, ErrorKind::FailedPrecondition);
        assert_kind(store.rename(&named(Kind::Run, "missing"), &new("z"), "t").await, ErrorKind::NotFound);
        assert_intact(&store).await;
    }

    async fn unknown_references_are_refused_and_nothing_is_applied(store) {
        let bad = run_with("r", "inputs: [Dataset/nowhere]");
        let error = assert_kind(store.apply_yaml(&join(&[run("ok"), bad])).await, ErrorKind::NotFound);
        assert!(error.message.contains("Dataset/nowhere"), "{error}");
        assert!(error.message.contains("/spec/inputs/0"), "{error}");
        assert_eq!(events(&store).await, 0, "the whole batch is refused");
        let by_id = run_with("r", "parent: 0193c7a2-7b7e-7d4e-8f00-0000000000aa");
        assert_kind(store.apply_yaml(&by_id).await, ErrorKind::NotFound);
    }

    async fn dataset_version_status_is_checked_on_use(store) {
        store.apply_yaml(&dataset("d", &[("1", "Archived"), ("2", "Deprecated"), ("3", "Active")])).await.unwrap();
        let error = assert_kind(store.apply_yaml(&run_with("r1", "inputs: [Dataset/d@1]")).await, ErrorKind::FailedPrecondition);
        assert!(error.message.contains("Dataset/d@1 is archived"), "{error}");
        let warned = store.apply_yaml(&run_with("r2", "inputs: [Dataset/d@2]")).await.unwrap();
        assert_eq!(warned.warnings.len(), 1);
        assert!(warned.warnings[0].contains("Dataset/d@2 is deprecated"), "{:?}", warned.warnings);
        assert!(store.apply_yaml(&run_with("r3", "inputs: [Dataset/d@3]")).await.unwrap().warnings.is_empty());
        assert_kind(store.apply_yaml(&run_with("r4", "inputs: [Dataset/d@9]")).await, ErrorKind::NotFound);
        let version = Selector::Name { kind: Kind::Dataset, name: Name::new("d").unwrap(), version: Some(Version::new("3").unwrap()) };
        store.set_status(&version, Status::Deprecated, "t").await.unwrap();
        let got = store.get(&version).await.unwrap();
        assert_eq!(got.version.unwrap().status, Status::Deprecated);
        assert_eq!(got.summary.status, Status::Active, "the dataset itself stays active");
        assert_eq!(store.apply_yaml(&run_with("r5", "inputs: [Dataset/d@3]")).await.unwrap().warnings.len(), 1);
    }

    async fn module_versions_are_objects_with_their_own_status(store) {
        store.apply_yaml(&join(&[module("train", "1.0"), module("train", "2.0")])).await.unwrap();
        let latest = store.get(&named(Kind::Module, "train")).await.unwrap();
        assert_eq!(latest.summary.scope, "2.0");
        let v1 = text(Kind::Module, "train@1.0");
        store.set_status(&v1, Status::Archived, "t").await.unwrap();
        let error = assert_kind(store.apply_yaml(&run_with("r", "module: Module/train@1.0")).await, ErrorKind::FailedPrecondition);
        assert!(error.message.contains("archived"), "{error}");
        store.set_status(&text(Kind::Module, "train@2.0"), Status::Deprecated, "t").await.unwrap();
        let report = store.apply_yaml(&run_with("r", "module: Module/train@2.0")).await.unwrap();
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    }

    async fn artifact_names_are_unique_per_run(store) {
        store.apply_yaml(&join(&[run("r1"), run("r2"), artifact("model", "Run/r1"), artifact("model", "Run/r2")])).await.unwrap();
        let error = assert_kind(store.get(&named(Kind::Artifact, "model")).await, ErrorKind::Conflict);
        assert!(error.message.contains("2 artifacts"), "{error}");
        let again = store.apply_yaml(&artifact("model", "Run/r1")).await.unwrap();
        assert_eq!(again.results[0].action, ApplyAction::Unchanged);
    }

    async fn promotes_an_artifact_to_a_dataset_version(store) {
        store.apply_yaml(&join(&[run("prep"), artifact("clean", "Run/prep")])).await.unwrap();
        let artifact_id = store.get(&named(Kind::Artifact, "clean")).await.unwrap().summary.id;
        let name = Name::new("customers").unwrap();
        let first = store.promote(&named(Kind::Artifact, "clean"), &name, None, "t").await.unwrap();
        assert_eq!(first.object.kind, Kind::Dataset);
        let second = store.promote(&named(Kind::Artifact, "clean"), &name, None, "t").await.unwrap();
        assert_eq!(second.object.id, first.object.id);
        let dataset = store.get(&named(Kind::Dataset, "customers")).await.unwrap();
        let Spec::Dataset(spec) = &dataset.document.spec else { panic!("not a dataset") };
        let versions: Vec<&str> = spec.versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(versions, ["1", "2"]);
        assert_eq!(spec.versions[0].digest.as_ref().unwrap().as_str(), format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(spec.versions[0].bytes, Some(42));
        let taken = Version::new("2").unwrap();
        assert_kind(store.promote(&named(Kind::Artifact, "clean"), &name, Some(&taken), "t").await, ErrorKind::AlreadyExists);
        assert_kind(store.promote(&named(Kind::Run, "prep"), &name, None, "t").await, ErrorKind::InvalidArgument);
        let graph = store.lineage(&named(Kind::Dataset, "customers"), Direction::Upstream, 5).await.unwrap();
        let kinds: Vec<(Kind, u32)> = graph.nodes.iter().map(|n| (n.kind, n.depth)).collect();
        assert_eq!(kinds, [(Kind::Dataset, 0), (Kind::Artifact, 1), (Kind::Run, 2)]);
        assert!(graph.edges.iter().any(|e| e.source == artifact_id && e.relation == "derived"));
        assert_intact(&store).await;
    }

    async fn lineage_follows_runs_both_ways(store) {
        let yaml = join(&[
            dataset("raw", &[("1", "Active")]),
            run("pipeline"),
            run_with("prep", "parent: Run/pipeline, inputs: [Dataset/raw@1], outputs: [Artifact/features]"),
            artifact("features", "Run/prep"),
            run_with("train", "parent: Run/pipeline, inputs: [Artifact/features]"),
            artifact("model", "Run/train"),
        ]);
        store.apply_yaml(&yaml).await.unwrap();
        let model = named(Kind::Artifact, "model");
        let up = store.lineage(&model, Direction::Upstream, 10).await.unwrap();
        let names: Vec<&str> = up.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["model", "train", "features", "pipeline", "prep", "raw"]);
        assert!(!up.truncated);
        let short = store.lineage(&model, Direction::Upstream, 2).await.unwrap();
        assert_eq!(short.nodes.len(), 4);
        assert!(short.truncated);
        let down = store.lineage(&named(Kind::Dataset, "raw"), Direction::Downstream, 10).await.unwrap();
        let names: Vec<&str> = down.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["raw", "prep", "features", "train", "model"]);
        let both = store.lineage(&named(Kind::Run, "train"), Direction::Both, 1).await.unwrap();
        assert_eq!(both.nodes.len(), 4, "{:?}", both.nodes);
        // Dropping an input removes its edge; the history keeps it.
        store.apply_yaml(&run_with("train", "parent: Run/pipeline")).await.unwrap();
        let up = store.lineage(&model, Direction::Upstream, 10).await.unwrap();
        let names: Vec<&str> = up.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["model", "train", "pipeline"]);
        assert_intact(&store).await;
    }

    async fn direct_changes_to_the_log_are_refused(store) {
        store.apply_yaml(&run("a")).await.unwrap();
        let mut conn = store.raw().await;
        for sql in ["UPDATE events SET at_us = 0", "DELETE FROM events", "DELETE FROM objects"] {
            let result = sqlx::query(sql).execute(&mut conn).await;
            assert!(result.is_err(), "{sql} must be refused");
        }
        assert_intact(&store).await;
    }

    async fn verify_detects_an_edited_event(store) {
        store.apply_yaml(&join(&[run_with("a", "params: {lr: 0.1}"), run("b")])).await.unwrap();
        store.drop_guards().await;
        // Event 1 made to hold event 2's document and links: a valid body, not the hashed one.
        store.exec("UPDATE events SET body = (SELECT body FROM events WHERE seq = 2) WHERE seq = 1").await;
        let problems = store.verify().await.unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("event 1: its content does not match its hash")), "{problems:#?}");
    }

    async fn verify_detects_a_deleted_event(store) {
        store.apply_yaml(&join(&[run("a"), run("b"), run("c")])).await.unwrap();
        store.drop_guards().await;
        store.exec("DELETE FROM events WHERE seq = 2").await;
        let problems = store.verify().await.unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("jumps from 1 to 3")), "{problems:#?}");
    }

    async fn verify_detects_reordered_events(store) {
        store.apply_yaml(&run("a")).await.unwrap();
        store.apply_yaml(&run("b")).await.unwrap();
        store.drop_guards().await;
        store.exec("UPDATE events SET seq = -1 WHERE seq = 1; UPDATE events SET seq = 1 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = -1").await;
        let problems = store.verify().await.unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("an event before it was deleted, inserted or reordered")), "{problems:#?}");
    }

    async fn verify_detects_a_truncated_log(store) {
        store.apply_yaml(&run("a")).await.unwrap();
        store.apply_yaml(&run("b")).await.unwrap();
        store.drop_guards().await;
        store.exec("DELETE FROM events WHERE seq = 2").await;
        let problems = store.verify().await.unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("the recorded head is event 2 but the log ends at event 1")), "{problems:#?}");
    }

    async fn where_filters_with_and_or_not_and_units(store) {
        store.apply_yaml(&scored_runs()).await.unwrap();
        let cases: &[(&str, &[&str])] = &[
            ("metrics.accuracy > 0.9", &["a", "c"]),
            // The latest step counts: c's accuracy is 0.91, not 0.99.
            ("metrics.accuracy > 0.95", &[]),
            ("accuracy >= 0.85 and accuracy < 0.92", &["b", "c"]),
            (r#"metrics.accuracy > 0.9 and (labels.team = "risk" or params.lr < 0.1)"#, &["a", "c"]),
            (r#"labels.team = "ops" or params.opt = "sgd""#, &["b", "c", "d"]),
            // A run without the metric matches neither the comparison nor its negation.
            ("not (metrics.accuracy > 0.9)", &["b"]),
            ("metrics.accuracy != 0.85", &["a", "c"]),
            ("0.1 < params.lr", &["b", "d"]),
            ("metrics.latency_ms < 50ms and metrics.latency_ms > 0.039s", &["a"]),
            (r#"spec.status = "Finished" and not (params.opt = "adam")"#, &["b"]),
            (r#"name = "C" or name = "E""#, &["c", "e"]),
            (r#"labels.team = "risk' OR 1=1; DROP TABLE events; --""#, &[]),
            ("params.lr = -0.5 or params.lr = 0.5", &["d"]),
        ];
        for (filter, expected) in cases {
            assert_eq!(found(&store, filter, None, None, 0).await, *expected, "{filter}");
            // A page in creation order walks the objects and probes the indexes instead.
            let newest_first: Vec<&str> = expected.iter().rev().copied().collect();
            assert_eq!(found(&store, filter, Some("created desc"), Some(10), 0).await, newest_first, "{filter}");
        }
        assert_eq!(events(&store).await, 5, "queries write nothing");
    }

    async fn where_orders_and_pages(store) {
        store.apply_yaml(&scored_runs()).await.unwrap();
        let all = "params.lr > 0 or spec.status = \"Running\"";
        assert_eq!(found(&store, all, Some("metrics.accuracy desc"), None, 0).await, ["a", "c", "b", "d", "e"]);
        assert_eq!(found(&store, all, Some("metrics.accuracy"), None, 0).await, ["b", "c", "a", "d", "e"]);
        assert_eq!(found(&store, all, Some("params.lr desc"), None, 0).await, ["d", "b", "c", "a", "e"]);
        assert_eq!(found(&store, all, Some("labels.team"), None, 0).await, ["c", "d", "a", "b", "e"]);
        assert_eq!(found(&store, all, Some("created desc"), Some(2), 1).await, ["d", "c"]);
        assert_eq!(found(&store, all, Some("name desc"), Some(2), 4).await, ["a"]);
        assert_eq!(found(&store, all, None, Some(10), 5).await, Vec::<String>::new());
    }

    async fn pages_in_creation_order_past_the_newest_objects(store) {
        let runs: Vec<String> = (0..1_200).map(|i| run_with(&format!("r{i:04}"), &format!("params: {{i: {i}}}"))).collect();
        store.apply_yaml(&join(&runs)).await.unwrap();
        let names = |range: &[u32]| range.iter().map(|i| format!("r{i:04}")).collect::<Vec<_>>();
        // Dense: the page is among the newest objects.
        assert_eq!(found(&store, "params.i >= 0", Some("created desc"), Some(3), 2).await, names(&[1197, 1196, 1195]));
        // Sparse: only the oldest runs match, past the newest objects walked first.
        assert_eq!(found(&store, "params.i < 5", Some("created desc"), Some(3), 0).await, names(&[4, 3, 2]));
        assert_eq!(found(&store, "params.i < 5", Some("created desc"), Some(10), 3).await, names(&[1, 0]));
        assert_eq!(found(&store, "params.i >= 1195", Some("created"), Some(2), 1).await, names(&[1196, 1197]));
        assert_eq!(found(&store, "params.i < 2 or params.i > 1197", Some("created desc"), Some(4), 0).await, names(&[1199, 1198, 1, 0]));
    }

    async fn lists_carry_the_columns_asked_for(store) {
        store.apply_yaml(&scored_runs()).await.unwrap();
        let columns = ["metrics.accuracy", "params.opt", "spec.status", "metrics.nope"].map(String::from).to_vec();
        let query = ListQuery {
            filter: Some(parse_filter("params.lr > 0").unwrap()),
            order: Some(parse_order("metrics.accuracy desc").unwrap()),
            limit: Some(3),
            columns,
            ..ListQuery::new(Kind::Run)
        };
        let listed = store.list(&query).await.unwrap();
        let rows: Vec<(&str, String)> = listed.iter().map(|o| (o.name.as_str(), serde_json::to_string(&o.fields).unwrap())).collect();
        assert_eq!(rows, [
            ("a", r#"{"metrics.accuracy":0.95,"params.opt":"adam","spec.status":"Finished"}"#.to_owned()),
            // c's latest step: 0.91; c has no `opt`.
            ("c", r#"{"metrics.accuracy":0.91,"spec.status":"Finished"}"#.to_owned()),
            ("b", r#"{"metrics.accuracy":0.85,"params.opt":"sgd","spec.status":"Finished"}"#.to_owned()),
        ]);
        // A dropped field is no column value; without columns, no fields.
        store.apply_yaml(&run_with("a", "params: {lr: 0.01}")).await.unwrap();
        let listed = store.list(&ListQuery { columns: vec!["params.opt".into()], ..ListQuery::new(Kind::Run) }).await.unwrap();
        let opts: Vec<(&str, Option<&serde_json::Value>)> = listed.iter().map(|o| (o.name.as_str(), o.fields.get("params.opt"))).collect();
        assert_eq!(opts, [("a", None), ("b", Some(&serde_json::json!("sgd"))), ("c", None), ("d", None), ("e", None)]);
        assert!(store.list(&ListQuery::new(Kind::Run)).await.unwrap().iter().all(|o| o.fields.is_empty()));
        let too_many = ListQuery { columns: (0..65).map(|i| format!("params.p{i}")).collect(), ..ListQuery::new(Kind::Run) };
        assert_kind(store.list(&too_many).await, ErrorKind::InvalidArgument);
    }

    async fn field_keys_name_what_active_objects_hold(store) {
        store.apply_yaml(&scored_runs()).await.unwrap();
        store.apply_yaml(&run_with("x", "params: {only_x: 1}")).await.unwrap();
        let keys = store.field_keys(Kind::Run).await.unwrap();
        assert!(keys.iter().any(|k| k == "params.only_x"), "{keys:?}");
        let expected = ["metrics.accuracy", "metrics.latency_ms", "params.lr", "params.only_x", "params.opt", "spec.endTime", "spec.startTime", "spec.status"];
        assert_eq!(keys, expected);
        // Archived objects' keys, and other kinds' keys, are not listed.
        store.set_status(&named(Kind::Run, "x"), Status::Archived, "tester").await.unwrap();
        assert!(!store.field_keys(Kind::Run).await.unwrap().iter().any(|k| k == "params.only_x"));
        assert!(store.field_keys(Kind::Dataset).await.unwrap().is_empty());
    }

    async fn pages_by_a_field_past_its_highest_values(store) {
        // Values tie in pairs; one run has a text value, one none (they sort last).
        let mut runs: Vec<String> = (0..1_200).map(|i| run_with(&format!("r{i:04}"), &format!("params: {{i: {}, g: {}}}", i / 2, i % 3))).collect();
        runs.push(run_with("text", "params: {i: x, g: 0}"));
        runs.push(run_with("none", "params: {g: 0}"));
        store.apply_yaml(&join(&runs)).await.unwrap();
        let numbered = |keep: &dyn Fn(usize) -> bool, descending: bool| {
            let mut rows: Vec<(usize, String)> = (0..1_200).filter(|i| keep(*i)).map(|i| (i / 2, format!("r{i:04}"))).collect();
            rows.sort_by(|a, b| if descending { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) }.then(a.1.cmp(&b.1)));
            rows.into_iter().map(|(_, name)| name).collect::<Vec<_>>()
        };
        let g0 = numbered(&|i| i % 3 == 0, true);
        // Dense: the page is among the highest values.
        assert_eq!(found(&store, "params.g = 0", Some("params.i desc"), Some(3), 1).await, g0[1..4]);
        // Sparse: only the lowest values match, past the highest ones walked first.
        assert_eq!(found(&store, "params.i < 3", Some("params.i desc"), Some(4), 0).await, numbered(&|i| i < 6, true)[..4]);
        // Past the numbers: the text value, then the run without one.
        let mut ascending = numbered(&|i| i % 3 == 0, false);
        ascending.extend(["text".to_owned(), "none".to_owned()]);
        assert_eq!(found(&store, "params.g = 0", Some("params.i"), Some(10), 395).await, ascending[395..]);
        assert_eq!(found(&store, "params.g = 0", Some("params.i"), Some(5), 0).await, ascending[..5]);
        // Unfiltered: the highest values, and past the numbers the rest.
        let unfiltered = |limit: u32, offset: u32| ListQuery { order: Some(parse_order("params.i desc").unwrap()), limit: Some(limit), offset, ..ListQuery::new(Kind::Run) };
        let names = |listed: Vec<mlspec_store::ObjectSummary>| listed.into_iter().map(|o| o.name).collect::<Vec<_>>();
        assert_eq!(names(store.list(&unfiltered(3, 0)).await.unwrap()), ["r1198", "r1199", "r1196"]);
        assert_eq!(names(store.list(&unfiltered(5, 1_199)).await.unwrap()), ["r0001", "text", "none"]);
    }

    async fn metric_series_append_and_read_back(store) {
        store.apply_yaml(&run("train")).await.unwrap();
        let train = named(Kind::Run, "train");
        // 2,500 points in uneven appends: chunks fill, seal and stay open across appends.
        let loss = series_points("val/loss", 0..2_500, |s| 1.0 / (1.0 + s as f64));
        for part in [&loss[..1], &loss[1..1_000], &loss[1_000..1_030], &loss[1_030..]] {
            store.append_metrics(&train, part).await.unwrap();
        }
        let report = store.append_metrics(&train, &series_points("acc", 0..3, |s| s as f64 / 4.0)).await.unwrap();
        assert_eq!((report.appended, report.created.as_slice()), (3, ["acc".to_owned()].as_slice()));
        let keys = store.metric_keys(&train).await.unwrap();
        let summary: Vec<(&str, u64, u64, u64, f64, f64)> = keys.iter().map(|k| (k.key.as_str(), k.points, k.min_step, k.max_step, k.min, k.last)).collect();
        assert_eq!(summary, [("acc", 3, 0, 2, 0.0, 0.5), ("val/loss", 2_500, 0, 2_499, 1.0 / 2_500.0, 1.0 / 2_500.0)]);
        // Few enough points: all of them, exactly, in logged order.
        let all = store.metric_series(&train, "val/loss", &SeriesQuery { max_points: 4_000, ..SeriesQuery::default() }).await.unwrap();
        assert!(!all.downsampled && all.total_points == 2_500);
        assert_eq!(all.x, (0..2_500).map(|s| s as f64).collect::<Vec<_>>());
        assert_eq!(all.y, loss.iter().map(|p| p.value).collect::<Vec<_>>());
        // A range on the step axis, then on the time axis.
        let range = SeriesQuery { range: Some((1_020.0, 1_030.0)), ..SeriesQuery::default() };
        assert_eq!(store.metric_series(&train, "val/loss", &range).await.unwrap().x, (1_020..=1_030).map(|s| s as f64).collect::<Vec<_>>());
        let t0 = 1_700_000_000_000_000.0;
        let timed = SeriesQuery { axis: Axis::Time, range: Some((t0 + 5_000.0, t0 + 7_000.0)), ..SeriesQuery::default() };
        assert_eq!(store.metric_series(&train, "val/loss", &timed).await.unwrap().y, loss[5..=7].iter().map(|p| p.value).collect::<Vec<_>>());
        // Downsampled: at most max_points, the first and last value kept.
        let small = store.metric_series(&train, "val/loss", &SeriesQuery { max_points: 40, ..SeriesQuery::default() }).await.unwrap();
        assert!(small.downsampled && small.x.len() <= 40 && small.x.len() >= 20, "{}", small.x.len());
        assert_eq!((small.y[0], *small.y.last().unwrap()), (1.0, 1.0 / 2_500.0));
        assert_intact(&store).await;
    }

    async fn a_million_point_series_is_drawn_from_its_envelopes(store) {
        store.apply_yaml(&run("long")).await.unwrap();
        let long = named(Kind::Run, "long");
        // A spike at step 123,457 must survive downsampling to 2,000 points.
        let points = series_points("loss", 0..200_000, |s| if s == 123_457 { 50.0 } else { (s as f64 * 0.001).sin() });
        append_all(&store, &long, &points).await;
        let curve = store.metric_series(&long, "loss", &SeriesQuery::default()).await.unwrap();
        assert!(curve.downsampled && curve.x.len() <= 2_000 && curve.total_points == 200_000);
        assert!(curve.y.contains(&50.0));
        assert!(curve.x.windows(2).all(|w| w[0] <= w[1]));
        // Zoomed in: exact points.
        let zoom = SeriesQuery { range: Some((123_400.0, 123_500.0)), ..SeriesQuery::default() };
        let near = store.metric_series(&long, "loss", &zoom).await.unwrap();
        assert!(!near.downsampled && near.x.len() == 101 && near.y[57] == 50.0);
        assert_intact(&store).await;
    }

    async fn metric_series_keep_duplicate_steps_and_refuse_what_is_not_a_number(store) {
        store.apply_yaml(&join(&[run("r"), dataset("d", &[("1", "Active")])])).await.unwrap();
        let r = named(Kind::Run, "r");
        let twice = [series_points("m", 5..6, |_| 1.0), series_points("m", 5..6, |_| 2.0)].concat();
        store.append_metrics(&r, &twice).await.unwrap();
        let read = store.metric_series(&r, "m", &SeriesQuery::default()).await.unwrap();
        assert_eq!((read.x, read.y), (vec![5.0, 5.0], vec![1.0, 2.0]));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut points = series_points("m", 6..8, |_| 0.5);
            points[1].value = bad;
            let error = assert_kind(store.append_metrics(&r, &points).await, ErrorKind::InvalidArgument);
            assert!(error.message.contains("point 2 (metric `m`)") && error.message.contains("not a finite number"), "{error}");
        }
        assert_eq!(store.metric_keys(&r).await.unwrap()[0].points, 2, "nothing of a refused append is kept");
        let too_many = series_points("m", 0..10_001, |_| 0.0);
        assert_kind(store.append_metrics(&r, &too_many).await, ErrorKind::InvalidArgument);
        assert_kind(store.append_metrics(&named(Kind::Dataset, "d"), &twice).await, ErrorKind::InvalidArgument);
        assert_kind(store.metric_series(&r, "nope", &SeriesQuery::default()).await, ErrorKind::NotFound);
        for max_points in [0, 3, 8_193] {
            assert_kind(store.metric_series(&r, "m", &SeriesQuery { max_points, ..SeriesQuery::default() }).await, ErrorKind::InvalidArgument);
        }
        assert_kind(store.metric_series(&r, "m", &SeriesQuery { range: Some((2.0, 1.0)), ..SeriesQuery::default() }).await, ErrorKind::InvalidArgument);
        store.set_status(&r, Status::Archived, "tester").await.unwrap();
        let id = store.get(&Selector::KindText { kind: Kind::Run, text: "r".into() }).await;
        assert!(id.is_err(), "archived runs are found by id only");
        let runs = store.list(&ListQuery { statuses: vec![Status::Archived], ..ListQuery::new(Kind::Run) }).await.unwrap();
        let by_id = Selector::Id(ObjectId::new(runs[0].id.as_str()).unwrap());
        assert_kind(store.append_metrics(&by_id, &twice).await, ErrorKind::FailedPrecondition);
        assert_eq!(store.metric_keys(&by_id).await.unwrap()[0].points, 2, "an archived run's series stay readable");
    }

    async fn runs_without_series_are_read_from_their_documents(store) {
        let metrics = "metrics: [{key: acc, value: 0.5, step: 1}, {key: acc, value: 0.7, step: 2}, {key: loss, value: 3, step: 1}, {key: cm, value: [1, 2]}]";
        store.apply_yaml(&run_with("old", metrics)).await.unwrap();
        let old = named(Kind::Run, "old");
        let keys = store.metric_keys(&old).await.unwrap();
        let summary: Vec<(&str, u64, bool)> = keys.iter().map(|k| (k.key.as_str(), k.points, k.from_document)).collect();
        assert_eq!(summary, [("acc", 2, true), ("loss", 1, true)], "array metrics are not series");
        let acc = store.metric_series(&old, "acc", &SeriesQuery::default()).await.unwrap();
        assert!(acc.from_document && !acc.downsampled);
        assert_eq!((acc.x, acc.y), (vec![1.0, 2.0], vec![0.5, 0.7]));
        // Once a writer appends a key, the series answers for it; the others still come from the document.
        store.append_metrics(&old, &series_points("acc", 1..4, |s| s as f64)).await.unwrap();
        let keys = store.metric_keys(&old).await.unwrap();
        let summary: Vec<(&str, u64, bool)> = keys.iter().map(|k| (k.key.as_str(), k.points, k.from_document)).collect();
        assert_eq!(summary, [("acc", 3, false), ("loss", 1, true)]);
    }

    async fn verify_detects_edited_metric_chunks(store) {
        store.apply_yaml(&run("t")).await.unwrap();
        let t = named(Kind::Run, "t");
        append_all(&store, &t, &series_points("loss", 0..3_000, |s| s as f64)).await;
        assert_intact(&store).await;
        let mut conn = store.raw().await;
        for sql in ["UPDATE metric_chunks SET points = 5 WHERE chunk_no = 0", "DELETE FROM metric_chunks", "DELETE FROM metric_series"] {
            assert!(sqlx::query(sql).execute(&mut conn).await.is_err(), "{sql} must be refused");
        }
        drop(conn);
        if store.is_sqlite() {
            store.exec("DROP TRIGGER metric_chunks_sealed").await;
        } else {
            store.exec("DROP TRIGGER metric_chunks_sealed ON metric_chunks").await;
        }
        // Chunk 1 made to hold chunk 0's body: a valid body, not the chained one.
        store.exec("UPDATE metric_chunks SET body = (SELECT body FROM metric_chunks WHERE chunk_no = 0), envelope = (SELECT envelope FROM metric_chunks WHERE chunk_no = 0), min_step = 0, max_step = 1023 WHERE chunk_no = 1").await;
        store.exec("UPDATE metric_series SET max_value = 1e9").await;
        let problems = store.verify().await.unwrap().problems;
        for expected in ["chunk 1: its points do not match its hash", "its summary (3000 points) disagrees with its chunks"] {
            assert!(problems.iter().any(|p| p.contains(expected) && p.contains("metric `loss` of run")), "{expected}: {problems:#?}");
        }
    }

    async fn where_sees_updates_and_dropped_fields(store) {
        store.apply_yaml(&scored_runs()).await.unwrap();
        store.apply_yaml(&run_with("a", "metrics: [{key: accuracy, value: 0.5}]")).await.unwrap();
        assert_eq!(found(&store, "metrics.accuracy < 0.6", None, None, 0).await, ["a"]);
        assert_eq!(found(&store, "metrics.latency_ms > 0", None, None, 0).await, Vec::<String>::new());
        assert_eq!(found(&store, "params.lr < 0.02", None, None, 0).await, Vec::<String>::new());
        assert_intact(&store).await;
        store.exec("UPDATE fields SET num = 0.1 WHERE key_id IN (SELECT id FROM field_keys WHERE key = 'metrics.accuracy')").await;
        let problems = store.verify().await.unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("field metrics.accuracy = Num(0.1)")), "{problems:#?}");
    }

    async fn verify_detects_edited_derived_tables(store) {
        let labelled = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: b, labels: {team: risk}}\nspec: {status: Running}\n";
        store.apply_yaml(&join(&[run("a"), labelled.to_owned(), artifact("m", "Run/a")])).await.unwrap();
        assert_intact(&store).await;
        store.drop_guards().await;
        store.exec("UPDATE objects SET status = 'Archived' WHERE name = 'a'").await;
        store.exec("UPDATE labels SET value = 'ops'").await;
        store.exec("UPDATE objects SET updated_us = 1 WHERE name = 'm'").await;
        store.exec("UPDATE edges SET removed_seq = 99").await;
        store.exec("DELETE FROM objects WHERE name = 'b'").await;
        let problems = store.verify().await.unwrap().problems;
        let expect = ["disagrees with its last event", "label team=", "times disagree with its events' times", "is missing: it was removed directly", "have no objects row"];
        for expected in expect {
            assert!(problems.iter().any(|p| p.contains(expected)), "{expected}: {problems:#?}");
        }
    }

    async fn a_step_name_finds_its_newest_run(store) {
        let step_run = |name: &str, step: &str| {
            format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: {name}, labels: {{mlspec.org/step: {step}}}}}\nspec: {{status: Running}}\n")
        };
        store.apply_yaml(&step_run("train-0000000a", "train")).await.unwrap();
        store.apply_yaml(&step_run("train-0000000b", "train")).await.unwrap();
        store.apply_yaml(&step_run("eval-0000000c", "eval")).await.unwrap();
        let newest = store.get(&named(Kind::Run, "train")).await.unwrap();
        assert_eq!(newest.summary.name, "train-0000000b");
        store.set_status(&named(Kind::Run, "train-0000000b"), Status::Archived, "tester").await.unwrap();
        assert_eq!(store.get(&named(Kind::Run, "train")).await.unwrap().summary.name, "train-0000000a");
        // A Run named like the step wins over the step's runs; other kinds are not affected.
        store.apply_yaml(&run("train")).await.unwrap();
        assert_eq!(store.get(&named(Kind::Run, "train")).await.unwrap().summary.name, "train");
        assert_kind(store.get(&named(Kind::Run, "predict")).await, ErrorKind::NotFound);
        assert_kind(store.get(&named(Kind::Dataset, "eval")).await, ErrorKind::NotFound);
    }

    async fn a_statement_past_the_statement_timeout_fails_in_time(store) {
        store.apply_yaml(&run("before")).await.unwrap();
        let timeouts = mlspec_store::Timeouts {
            connect: std::time::Duration::from_secs(10),
            statement: std::time::Duration::from_millis(300),
        };
        let timed = mlspec_store::SqlStore::open_with(&store.location, timeouts).await.unwrap();
        // Another connection holds the write lock for longer than the timeout.
        let mut holder = store.raw().await;
        let lock = if store.is_sqlite() { "BEGIN EXCLUSIVE" } else { "BEGIN; LOCK TABLE chain_head IN ACCESS EXCLUSIVE MODE" };
        sqlx::raw_sql(lock).execute(&mut holder).await.unwrap();
        let started = std::time::Instant::now();
        let error = mlspec_store::Store::apply(&timed, &docs(&run("blocked")), "t").await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
        assert!(waited >= std::time::Duration::from_millis(250) && waited < std::time::Duration::from_secs(5), "{waited:?}");
        assert!(error.to_string().contains("MLSPEC_STORE_STATEMENT_TIMEOUT"), "{error}");
        sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
        drop(holder);
        // Nothing of the refused apply was kept, and the store works on.
        assert_eq!(events(&store).await, 1);
        mlspec_store::Store::apply(&timed, &docs(&run("after")), "t").await.unwrap();
        assert_intact(&store).await;
    }
}

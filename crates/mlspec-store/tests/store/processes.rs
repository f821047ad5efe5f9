//! Several processes on one store, and processes killed mid-batch. The children are this test
//! binary itself, re-run with `--ignored --exact processes::child` and instructions in the
//! environment.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlspec_spec::Kind;
use mlspec_store::{ListQuery, Location, SqlStore, Store};

use crate::support::*;

const WRITERS: usize = 8;
const WRITES_EACH: usize = 500;
const BATCH: usize = 1_000;

fn spawn_child(location: &Location, role: &str, id: usize) -> Child {
    let url = match location {
        Location::Sqlite(path) => format!("sqlite:{}", path.display()),
        Location::Postgres(url) | Location::Http(url) => url.clone(),
    };
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "processes::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MLSPEC_CHILD_STORE", url)
        .env("MLSPEC_CHILD_ROLE", role)
        .env("MLSPEC_CHILD_ID", id.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The child's work: `writer` applies WRITES_EACH single-document batches; `batcher` applies
/// batches of BATCH documents until it is killed.
#[tokio::test]
#[ignore = "run by the process tests as a child"]
async fn child() {
    let (Ok(url), Ok(role), Ok(id)) = (
        std::env::var("MLSPEC_CHILD_STORE"),
        std::env::var("MLSPEC_CHILD_ROLE"),
        std::env::var("MLSPEC_CHILD_ID"),
    ) else {
        return;
    };
    let store = SqlStore::open(&Location::parse(&url).unwrap()).await.unwrap();
    match role.as_str() {
        "writer" => {
            for i in 0..WRITES_EACH {
                store
                    .apply(&docs(&run(&format!("w{id}-{i}"))), &format!("writer-{id}"))
                    .await
                    .unwrap();
            }
        }
        _ => {
            for round in 0.. {
                let yaml: Vec<String> = (0..BATCH).map(|i| run(&format!("b{round}-{i}"))).collect();
                store.apply(&docs(&join(&yaml)), "batcher").await.unwrap();
            }
        }
    }
}

async fn runs(store: &dyn Store) -> usize {
    store.list(&ListQuery::new(Kind::Run)).await.unwrap().len()
}

async fn concurrent_writers_lose_nothing(fixture: Fixture) {
    let children: Vec<Child> = (0..WRITERS)
        .map(|i| spawn_child(&fixture.location, "writer", i))
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer failed");
    }
    assert_eq!(runs(&*fixture).await, WRITERS * WRITES_EACH);
    let report = fixture.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.events, (WRITERS * WRITES_EACH) as u64);
}

#[tokio::test]
async fn eight_sqlite_writers_lose_nothing() {
    concurrent_writers_lose_nothing(Fixture::sqlite().await).await;
}

#[tokio::test]
async fn eight_postgres_writers_lose_nothing() {
    concurrent_writers_lose_nothing(Fixture::postgres().await).await;
}

/// Kills a batching child at several moments while it is committing batch after batch; each
/// time the store holds whole batches only and verifies clean.
async fn killed_mid_batch_leaves_whole_batches(fixture: Fixture) {
    let mut count = 0;
    for offset_ms in [0, 35, 110] {
        let mut child = spawn_child(&fixture.location, "batcher", 0);
        let deadline = Instant::now() + Duration::from_secs(120);
        while runs(&*fixture).await == count {
            assert!(Instant::now() < deadline, "the child committed nothing in two minutes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(offset_ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        count = runs(&*fixture).await;
        assert_eq!(count % BATCH, 0, "{count} runs after a kill: a partial batch");
        let report = fixture.verify().await.unwrap();
        assert!(report.problems.is_empty(), "{:#?}", report.problems);
    }
}

#[tokio::test]
async fn sqlite_killed_mid_batch_is_consistent() {
    killed_mid_batch_leaves_whole_batches(Fixture::sqlite().await).await;
}

#[tokio::test]
async fn postgres_killed_mid_batch_is_consistent() {
    killed_mid_batch_leaves_whole_batches(Fixture::postgres().await).await;
}

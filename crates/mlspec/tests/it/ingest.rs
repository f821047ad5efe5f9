//! `mlspec ingest`: files, globs, SQLite, PostgreSQL and a command's output become Parquet
//! shards that pyarrow (an independent reader) reads back row for row, with a manifest, a
//! profile, an Ingestion document and a Dataset version; failures leave nothing complete.

use std::path::Path;

use super::store::{mlspec, mlspec_with};

/// The Python with pyarrow that scripts/interop-setup installs.
fn reference_python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON")
        .expect("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which installs pyarrow")
}

/// The rows pyarrow reads from a snapshot directory, as JSON lines of sorted-key objects, and
/// its Arrow schema as text.
fn read_back(dir: &Path, snapshot: &str) -> (Vec<serde_json::Value>, String) {
    let script = r#"
import json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
print(json.dumps({"schema": str(table.schema), "rows": table.to_pylist()}, default=str, sort_keys=True))
"#;
    let out = std::process::Command::new(reference_python())
        .current_dir(dir)
        .args(["-c", script, snapshot])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        value["rows"].as_array().unwrap().clone(),
        value["schema"].as_str().unwrap().to_owned(),
    )
}

fn document(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap()
}

fn init(dir: &Path) {
    assert_eq!(mlspec(dir, &["init"]).code, 0);
}

#[test]
fn a_glob_of_csv_files_becomes_shards_a_manifest_a_profile_and_a_dataset_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    std::fs::write(dir.join("a.csv"), "id,name,score\n1,ann,0.5\n2,bob,\n3,,1.5\n").unwrap();
    std::fs::write(dir.join("b.csv"), "id,name,score\n4,dan,2.5\n5,eve,3\n").unwrap();
    let out = mlspec(
        dir,
        &[
            "ingest",
            "*.csv",
            "--out",
            "snap",
            "--shard-rows",
            "2",
            "--dataset",
            "people",
            "-q",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ingestion = document(&out.stdout);
    let snapshot = &ingestion["spec"]["snapshot"];
    assert_eq!(snapshot["rows"], 5);
    let shards = snapshot["shards"].as_array().unwrap();
    assert_eq!(
        shards.iter().map(|s| s["rows"].as_u64().unwrap()).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    assert_eq!(ingestion["spec"]["dataset"], "Dataset/people@1");
    assert_eq!(ingestion["spec"]["source"]["connector"], "csv");

    // Every shard's digest and size are its file's; the manifest says the same.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("snap.manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["manifest"], snapshot["digest"]);
    for (shard, listed) in shards.iter().zip(manifest["shards"].as_array().unwrap()) {
        let file = dir.join("snap").join(listed["path"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(shard["bytes"].as_u64().unwrap(), bytes.len() as u64);
        use sha2::Digest as _;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        assert_eq!(shard["digest"].as_str().unwrap(), format!("sha256:{sha}"));
        assert_eq!(listed["rows"], shard["rows"]);
    }

    // pyarrow reads the rows back in order, nulls included.
    let (rows, schema) = read_back(dir, "snap");
    assert!(
        schema.contains("id: int64") && schema.contains("name: string") && schema.contains("score: double"),
        "{schema}"
    );
    let names: Vec<serde_json::Value> = rows.iter().map(|r| r["name"].clone()).collect();
    assert_eq!(
        names,
        [
            serde_json::json!("ann"),
            "bob".into(),
            serde_json::Value::Null,
            "dan".into(),
            "eve".into()
        ]
    );
    assert_eq!(rows[1]["score"], serde_json::Value::Null);

    // The profile of the whole and the Dataset version are in the store.
    let profile = document(&mlspec(dir, &["get", "DataProfile/people-ingestion-profile", "-o", "yaml"]).stdout);
    assert_eq!(profile["spec"]["rows"], 5);
    assert_eq!(profile["spec"]["digest"], snapshot["digest"]);
    let dataset = document(&mlspec(dir, &["get", "Dataset/people", "-o", "yaml"]).stdout);
    assert_eq!(dataset["spec"]["versions"][0]["digest"], snapshot["digest"]);
    assert_eq!(dataset["spec"]["versions"][0]["rows"], 5);

    // Re-ingesting the unchanged source gives the same snapshot, and the same Dataset version.
    let again = mlspec(
        dir,
        &[
            "ingest",
            "*.csv",
            "--out",
            "snap2",
            "--shard-rows",
            "2",
            "--dataset",
            "people",
            "-q",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let again = document(&again.stdout);
    assert_eq!(again["spec"]["snapshot"]["digest"], snapshot["digest"]);
    assert_eq!(again["spec"]["dataset"], "Dataset/people@1");
    assert_eq!(mlspec(dir, &["store", "verify"]).code, 0);
}

#[test]
fn shards_by_a_column_and_by_size_and_a_signed_manifest_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut csv = String::from("city,value\n");
    for i in 0..3000 {
        let city = ["oslo", "rome", "lima"][i % 3];
        csv.push_str(&format!("{city},{}\n", i * 7 % 1000));
    }
    csv.push_str(",1\n");
    std::fs::write(dir.join("c.csv"), csv).unwrap();
    let out = mlspec(
        dir,
        &[
            "ingest",
            "c.csv",
            "--out",
            "by",
            "--shard-by",
            "city",
            "-q",
            "--no-record",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<u64> = document(&out.stdout)["spec"]["snapshot"]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(
        rows,
        [1000, 1000, 1000, 1],
        "oslo, rome, lima in the order they appear, then the nulls"
    );
    let (first, _) = read_back(dir, "by/shard-00001.parquet");
    assert!(first.iter().all(|r| r["city"] == "rome"));

    assert_eq!(mlspec(dir, &["keygen", "--out", "k"]).code, 0);
    let sized = mlspec(
        dir,
        &[
            "ingest",
            "c.csv",
            "--out",
            "sized",
            "--shard-bytes",
            "4k",
            "--sign",
            "k/private.pem",
            "-q",
            "--no-record",
        ],
    );
    assert_eq!(sized.code, 0, "{}", sized.stderr);
    let ingestion = document(&sized.stdout);
    assert_eq!(ingestion["spec"]["snapshot"]["signed"], true);
    assert!(ingestion["spec"]["snapshot"]["shards"].as_array().unwrap().len() > 1);
    let verified = mlspec(
        dir,
        &[
            "data",
            "verify",
            "sized",
            "--envelope",
            "sized.dsse.json",
            "--pubkey",
            "k/public.pem",
        ],
    );
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    std::fs::write(dir.join("sized/shard-00000.parquet"), b"tampered").unwrap();
    assert_eq!(
        mlspec(
            dir,
            &[
                "data",
                "verify",
                "sized",
                "--envelope",
                "sized.dsse.json",
                "--pubkey",
                "k/public.pem"
            ]
        )
        .code,
        1
    );
}

#[test]
fn a_sqlite_query_streams_its_rows_and_a_bad_query_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let script = r#"
import sqlite3
c = sqlite3.connect("src.db")
c.execute("create table t (id integer, name text, score real, raw blob, misc)")
c.executemany("insert into t values (?, ?, ?, ?, ?)",
              [(i, f"n{i}" if i % 3 else None, i * 0.5 if i % 4 else None, b"x", "odd" if i % 2 == 0 else i) for i in range(20000)])
c.commit()
"#;
    let made = std::process::Command::new(reference_python())
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = mlspec(
        dir,
        &[
            "ingest",
            "sqlite:src.db",
            "--table",
            "t",
            "--out",
            "sq",
            "--shard-rows",
            "7000",
            "-q",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ingestion = document(&out.stdout);
    assert_eq!(ingestion["spec"]["snapshot"]["rows"], 20000);
    assert_eq!(ingestion["spec"]["source"]["connector"], "sql");
    assert_eq!(ingestion["spec"]["source"]["data"]["table"], "t");
    let (rows, schema) = read_back(dir, "sq");
    assert!(
        schema.contains("id: int64")
            && schema.contains("score: double")
            && schema.contains("raw: binary")
            && schema.contains("misc: string"),
        "{schema}"
    );
    assert_eq!(rows.len(), 20000);
    assert_eq!(rows[3]["name"], serde_json::Value::Null);
    assert_eq!(rows[4]["score"], serde_json::Value::Null);
    assert_eq!(rows[5]["score"], 2.5);
    assert_eq!(rows[7]["misc"], "7");

    let before = mlspec(dir, &["list", "ingestions"]).stdout;
    let bad = mlspec(
        dir,
        &[
            "ingest",
            "sqlite:src.db",
            "--query",
            "select nope from t",
            "--out",
            "bad",
            "-q",
        ],
    );
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("no such column: nope"), "{}", bad.stderr);
    assert!(!dir.join("bad").exists() && !dir.join("bad.partial").exists() && !dir.join("bad.manifest.json").exists());
    assert_eq!(mlspec(dir, &["list", "ingestions"]).stdout, before, "nothing recorded");
    let misfit = mlspec(
        dir,
        &[
            "ingest",
            "sqlite:src.db",
            "--query",
            "select case when id = 9000 then 'x' else id end as id from t",
            "--out",
            "mis",
            "-q",
        ],
    );
    assert_eq!(misfit.code, 2, "{}", misfit.stderr);
    assert!(
        misfit.stderr.contains("row 9001") && misfit.stderr.contains("id"),
        "{}",
        misfit.stderr
    );
    assert!(!dir.join("mis").exists());
}

#[test]
fn postgres_types_arrive_intact_and_the_password_is_written_nowhere() {
    let Ok(admin) = std::env::var("MLSPEC_TEST_POSTGRES") else {
        eprintln!("skipped: MLSPEC_TEST_POSTGRES is not set");
        return;
    };
    let table = format!("ingest_{}", std::process::id());
    let setup = format!(
        "create table {table} (id int8, small int2, name text, score float8, ok bool, d date, ts timestamp, tz timestamptz, amount numeric(10,2));
         insert into {table} select i, (i % 100)::int2, case when i % 5 = 0 then null when i % 7 = 0 then '' else 'n' || i end,
           i * 0.25, i % 2 = 0, date '2024-01-01' + i, timestamp '2024-01-01 10:00:00' + i * interval '1 second',
           timestamptz '2024-01-01 10:00:00+02' + i * interval '1 minute', i / 4.0 from generate_series(1, 30000) i;"
    );
    let made = std::process::Command::new("psql")
        .args([admin.as_str(), "-qc", &setup])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // The same server, reached with a password in the URL (the test server trusts everyone).
    let with_password = admin.replacen("postgres://postgres@", "postgres://postgres:hunter2@", 1);
    assert_ne!(
        with_password, admin,
        "the test URL has the form postgres://postgres@HOST/DB"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let out = mlspec_with(
        dir,
        &[],
        &[
            "ingest",
            &with_password,
            "--table",
            &table,
            "--out",
            "pg",
            "-q",
            "--dataset",
            "pgdata",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"));
    let manifest = std::fs::read_to_string(dir.join("pg.manifest.json")).unwrap();
    assert!(!manifest.contains("hunter2"));
    let datastore = mlspec(dir, &["list", "datastores", "--format", "json"]).stdout;
    assert!(
        datastore.contains("postgres-") && !datastore.contains("hunter2"),
        "{datastore}"
    );
    let everything = mlspec(dir, &["store", "verify"]);
    assert_eq!(everything.code, 0);
    let (rows, schema) = read_back(dir, "pg");
    for column in [
        "id: int64",
        "small: int16",
        "name: string",
        "score: double",
        "ok: bool",
        "d: date32[day]",
        "ts: timestamp[us]",
        "tz: timestamp[us, tz=+00:00]",
        "amount: double",
    ] {
        assert!(schema.contains(column), "{column} in {schema}");
    }
    assert_eq!(rows.len(), 30000);
    assert_eq!(rows.iter().filter(|r| r["name"].is_null()).count(), 6000);
    assert_eq!(
        rows.iter().filter(|r| r["name"] == "").count(),
        30000 / 7 - 30000 / 35,
        "empty strings stay empty strings"
    );
    let first = &rows[0];
    assert_eq!(
        (first["id"].clone(), first["ok"].clone(), first["amount"].clone()),
        (1.into(), false.into(), 0.25.into())
    );
    assert_eq!(first["d"], "2024-01-02");
    assert_eq!(first["ts"], "2024-01-01 10:00:01");
    assert_eq!(first["tz"], "2024-01-01 08:01:00+00:00");

    let bad = mlspec(
        dir,
        &["ingest", &with_password, "--query", "select 1/0", "--out", "bad", "-q"],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("division by zero") && !bad.stderr.contains("hunter2"),
        "{}",
        bad.stderr
    );
    assert!(!dir.join("bad").exists());
    // The server ends the connection half-way through the rows: no snapshot, nothing recorded.
    let dropping = "select i, case when i = 60000 then pg_terminate_backend(pg_backend_pid()) end as t from generate_series(1, 120000) i";
    let dropped = mlspec(
        dir,
        &[
            "ingest",
            &admin,
            "--query",
            dropping,
            "--out",
            "dropped",
            "--shard-rows",
            "10000",
            "-q",
            "--dataset",
            "dropped",
        ],
    );
    assert_eq!(dropped.code, 2, "{}", dropped.stderr);
    assert!(!dir.join("dropped").exists() && !dir.join("dropped.partial").exists());
    assert_eq!(mlspec(dir, &["get", "Dataset/dropped"]).code, 2);
    let _ = std::process::Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("drop table {table}")])
        .output();
}

#[test]
fn a_generator_command_is_ingested_with_its_seed_and_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let generator = "import os\nprint('x,y')\nfor i in range(int(os.environ['MLSPEC_PARAM_ROWS'])):\n    print(f\"{i},{int(os.environ['MLSPEC_SEED']) * i}\")\n";
    std::fs::write(dir.join("gen.py"), generator).unwrap();
    let python = reference_python();
    let args = [
        "ingest",
        "--from-command",
        "--seed",
        "3",
        "--param",
        "rows=50",
        "--out",
        "syn",
        "-q",
        "--no-record",
        "--",
        &python,
        "gen.py",
    ];
    let out = mlspec(dir, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ingestion = document(&out.stdout);
    assert_eq!(ingestion["spec"]["snapshot"]["rows"], 50);
    assert_eq!(ingestion["spec"]["synthetic"]["seed"], 3);
    assert_eq!(ingestion["spec"]["synthetic"]["parameters"]["rows"], "50");
    assert!(
        ingestion["spec"]["synthetic"]["generator"]
            .as_str()
            .unwrap()
            .ends_with("gen.py")
    );
    let (rows, _) = read_back(dir, "syn");
    assert_eq!(rows[49]["y"], 147);
    std::fs::write(dir.join("labels.csv"), "x,label\n0,spam\n").unwrap();
    let labelled = mlspec(
        dir,
        &[
            "ingest",
            "syn/shard-00000.parquet",
            "--out",
            "labelled",
            "--labels",
            "labels.csv",
            "--labeller",
            "acme-annotators",
            "-q",
            "--no-record",
        ],
    );
    assert_eq!(labelled.code, 0, "{}", labelled.stderr);
    let labelled = document(&labelled.stdout);
    assert_eq!(labelled["spec"]["labelling"]["tool"], "acme-annotators");
    assert_eq!(labelled["spec"]["source"]["connector"], "parquet");
    use sha2::Digest as _;
    let digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(dir.join("labels.csv")).unwrap()))
    );
    assert_eq!(labelled["spec"]["source"]["options"]["labelsDigest"], digest);
    let failing = mlspec(
        dir,
        &[
            "ingest",
            "--from-command",
            "--out",
            "f",
            "-q",
            "--no-record",
            "--",
            "false",
        ],
    );
    assert_eq!(failing.code, 2);
    assert!(!dir.join("f").exists());
    let taken = mlspec(dir, &args);
    assert_eq!(taken.code, 2);
    assert!(taken.stderr.contains("already exists"), "{}", taken.stderr);
}

/// The ODBC driver library Debian's package installs (`psqlodbcw.so`, `libsqlite3odbc.so`).
fn odbc_driver(file: &str) -> String {
    let found = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("odbc").join(file))
        .find(|path| path.is_file());
    found
        .unwrap_or_else(|| panic!("no ODBC driver {file}: run the suite with scripts/test, which installs odbc-postgresql and libsqliteodbc"))
        .display()
        .to_string()
}

#[test]
fn odbc_sources_read_through_debians_drivers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let script = "import sqlite3\nc = sqlite3.connect('src.db')\nc.execute('create table t (id integer, name text, score real)')\nc.executemany('insert into t values (?, ?, ?)', [(i, f'n{i}' if i % 3 else None, i / 4) for i in range(5000)])\nc.commit()\n";
    let made = std::process::Command::new(reference_python())
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let sqlite = format!(
        "odbc:Driver={};Database={}",
        odbc_driver("libsqlite3odbc.so"),
        dir.join("src.db").display()
    );
    let out = mlspec(
        dir,
        &[
            "ingest",
            &sqlite,
            "--query",
            "select id, name, score from t order by id",
            "--out",
            "via-odbc",
            "-q",
            "--no-record",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ingestion = document(&out.stdout);
    assert_eq!(ingestion["spec"]["source"]["options"]["connector"], "odbc");
    let (rows, _) = read_back(dir, "via-odbc");
    assert_eq!(rows.len(), 5000);
    assert_eq!(
        (rows[7]["id"].clone(), rows[7]["name"].clone(), rows[7]["score"].clone()),
        (7.into(), "n7".into(), 1.75.into())
    );
    assert!(rows[3]["name"].is_null());
    let bad = mlspec(
        dir,
        &[
            "ingest",
            &sqlite,
            "--query",
            "select nope from t",
            "--out",
            "bad",
            "-q",
            "--no-record",
        ],
    );
    assert_eq!(bad.code, 2);
    assert!(!dir.join("bad").exists());

    let Ok(admin) = std::env::var("MLSPEC_TEST_POSTGRES") else {
        return;
    };
    // postgres://USER@HOST:PORT/DB as an ODBC connection string, with a password the test server ignores.
    let rest = admin.strip_prefix("postgres://").unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let (host_port, database) = rest.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    let postgres = format!(
        "odbc:Driver={};Server={host};Port={port};Database={database};UID={user};PWD=hunter2",
        odbc_driver("psqlodbcw.so")
    );
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let query = "select i as id, 'n' || i as name, (i * 0.5)::float8 as half, i * 0.5 as exact, i % 2 = 0 as even from generate_series(1, 3000) i";
    let out = mlspec(dir, &["ingest", &postgres, "--query", query, "--out", "pg-odbc", "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"));
    let datastores = mlspec(dir, &["list", "datastores", "--format", "json"]).stdout;
    assert!(
        !datastores.contains("hunter2") && !datastores.contains(&format!("UID={user}")),
        "{datastores}"
    );
    let (rows, _) = read_back(dir, "pg-odbc");
    assert_eq!(rows.len(), 3000);
    assert_eq!(rows[9]["id"], 10);
    assert_eq!(rows[9]["name"], "n10");
    assert_eq!(rows[9]["half"], 5.0);
    assert_eq!(rows[9]["exact"], "5.0", "numeric stays a decimal through ODBC");
    assert_eq!(
        rows[9]["even"], "1",
        "psqlODBC sends booleans as text unless BoolsAsChar=0"
    );
}

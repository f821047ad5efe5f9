//! The trust chain's benchmark: chained log lines appended per second on one core (with each
//! fsync policy), lines verified per second, and SHA-256 throughput hashing a model directory.
//!
//! `cargo bench -p mlspec-attest --bench trust` (MLSPEC_BENCH_LINES, default 2,000,000;
//! MLSPEC_BENCH_MODEL_MB, default 1024; files go to a temporary directory).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mlspec_attest::digest::Manifest;
use mlspec_attest::keys::{Algorithm, SigningKey};
use mlspec_attest::log::{Binding, Fsync, Layout, LogOptions, LogWriter, Request, UnsignedTail, verify};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn binding() -> Binding {
    Binding {
        model: "churn@1.0.0".into(),
        package: format!("sha256:{}", "a".repeat(64)),
        pipeline: format!("sha256:{}", "b".repeat(64)),
        data: format!("sha256:{}", "c".repeat(64)),
    }
}

fn request(i: u64) -> Request {
    Request {
        client: "10.1.2.3".into(),
        user: Some("svc-frontend".into()),
        time: chrono::DateTime::from_timestamp(1_796_000_000 + (i / 1000) as i64, 0),
        method: "POST".into(),
        path: "/v2/models/churn/infer".into(),
        protocol: None,
        status: 200,
        bytes: 512 + i % 100,
        referer: None,
        user_agent: Some("python-requests/2.32".into()),
        request_id: format!("req-{i}"),
        latency_ms: 12.5,
        input_digest: None,
        output_digest: None,
        extra: Default::default(),
    }
}

/// Appends `lines` lines; lines per second.
fn append(path: &std::path::Path, lines: u64, fsync: Fsync, key: &SigningKey) -> f64 {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(mlspec_attest::log::checkpoints_path(path));
    let options = LogOptions {
        layout: Layout::Combined,
        fsync,
        checkpoint_every: 100_000,
        ..LogOptions::default()
    };
    let requests: Vec<Request> = (0..lines.min(100_000)).map(request).collect();
    let started = Instant::now();
    let (mut writer, _) = LogWriter::open(path, binding(), key.clone(), options).unwrap();
    for i in 0..lines {
        writer.append(&requests[(i % requests.len() as u64) as usize]).unwrap();
    }
    writer.close().unwrap();
    lines as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
    let lines = env("MLSPEC_BENCH_LINES", 2_000_000);

    println!("append, one core, buffered (Combined lines of ~330 bytes, a checkpoint every 100,000):");
    for (name, fsync, n) in [
        (
            "fsync never (OS buffers; at checkpoints and close)",
            Fsync::Never,
            lines,
        ),
        ("fsync every 1,000 lines", Fsync::EveryLines(1000), lines / 4),
        ("fsync every 10 ms", Fsync::Every(Duration::from_millis(10)), lines / 4),
        ("fsync every line", Fsync::EveryLine, 5_000),
    ] {
        let rate = append(&log, n, fsync, &key);
        println!("  {name:<52} {:>12.0} lines/s  ({n} lines)", rate);
    }
    append(&log, lines, Fsync::Never, &key);
    let size = std::fs::metadata(&log).unwrap().len();
    let started = Instant::now();
    let report = verify(&log, &key.public(), Layout::Combined, UnsignedTail::Refuse).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(report.findings.is_empty());
    println!(
        "verify: {:.0} lines/s ({} lines, {} checkpoints, {:.0} MB/s)",
        report.lines as f64 / elapsed,
        report.lines,
        report.checkpoints,
        size as f64 / elapsed / 1e6
    );

    let megabytes = env("MLSPEC_BENCH_MODEL_MB", 1024);
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    let block: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for part in 0..4 {
        let mut data = Vec::with_capacity((megabytes as usize / 4) << 20);
        for _ in 0..megabytes / 4 {
            data.extend_from_slice(&block);
        }
        std::fs::write(model.join(format!("shard-{part}.bin")), data).unwrap();
    }
    let started = Instant::now();
    let manifest = Manifest::of(&model).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "hash a model directory: {:.0} MB/s ({} MB in {} files, {:.2} s; page cache warm)",
        manifest.bytes() as f64 / elapsed / 1e6,
        manifest.bytes() >> 20,
        manifest.entries.len(),
        elapsed
    );
}

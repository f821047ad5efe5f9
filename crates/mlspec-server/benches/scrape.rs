//! `/metrics` under 50 concurrent scrapers, with the server and the scrapers in one process on
//! separate threads: the scrapers read only the Content-Length and the body's bytes, so the load
//! generator costs little next to the server (wrk on this 2-core machine saturates its own core
//! parsing the pages first; see docs/benchmarks.md).
//!
//! ```sh
//! cargo bench -p mlspec-server --bench scrape
//! ```
//! `BENCH_SECONDS` (default 10) per measurement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlspec_server::{StepInfo, StepState, parse_metrics, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCRAPERS: usize = 50;

fn state() -> Arc<StepState> {
    let state = Arc::new(StepState::new(StepInfo {
        name: "bench".into(),
        run_id: "run".into(),
        module: None,
        params: BTreeMap::new(),
        command: vec![],
        host: "host".into(),
        env: BTreeMap::new(),
    }));
    let body: Vec<String> = (0..1000)
        .map(|i| format!("{{\"key\":\"metric_{i}\",\"value\":{}}}", f64::from(i) / 7.0))
        .collect();
    state
        .report(parse_metrics(format!("[{}]", body.join(",")).as_bytes()).unwrap())
        .unwrap();
    state.started(std::process::id());
    state
}

/// One keep-alive scrape: request, headers, Content-Length bytes of body.
async fn scrape(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> usize {
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await
        .unwrap();
    buffer.clear();
    let mut chunk = [0u8; 65536];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            break (end + 4, length);
        }
    };
    let mut have = buffer.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        have += n;
    }
    length
}

/// Runs the scrapers for `seconds`, each scraping every `period` (back to back when zero).
async fn measure(addr: std::net::SocketAddr, period: Duration, seconds: u64) -> (Vec<Duration>, usize) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..SCRAPERS {
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buffer = Vec::with_capacity(128 * 1024);
            let mut latencies = Vec::new();
            let mut bytes = 0;
            // Spread the scrapers over the period.
            tokio::time::sleep(period * u32::try_from(i).unwrap() / u32::try_from(SCRAPERS).unwrap()).await;
            let mut next = Instant::now();
            while Instant::now() < deadline {
                let started = Instant::now();
                bytes = scrape(&mut stream, &mut buffer).await;
                latencies.push(started.elapsed());
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
            }
            (latencies, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut bytes = 0;
    for task in tasks {
        let (latencies, size) = task.await.unwrap();
        all.extend(latencies);
        bytes = size;
    }
    all.sort();
    (all, bytes)
}

fn report(label: &str, latencies: &[Duration], seconds: u64, bytes: usize) {
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{label}: {:.0} scrapes/s of {} KB; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len() as f64 / seconds as f64,
        bytes / 1024,
        at(0.5),
        at(0.99),
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let app = router(state());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for (label, period) in [
            ("50 scrapers, each every 100 ms", Duration::from_millis(100)),
            ("50 scrapers, each every 10 ms", Duration::from_millis(10)),
            ("50 scrapers, each every 2 ms", Duration::from_millis(2)),
            ("50 scrapers, back to back (saturation)", Duration::ZERO),
        ] {
            let (latencies, bytes) = measure(addr, period, seconds).await;
            report(label, &latencies, seconds, bytes);
        }
    });
}

//! The serving gateway's latency and throughput benchmark (issue 19), side by side in one run
//! against the same upstream: `direct` (the load generator straight to a stub model server),
//! `nginx` (Debian's, as a plain reverse proxy in front of that stub) and `mlspec` (`mlspec serve`
//! with its log and monitoring on, started from the `--mlspec-cmd` template). Run it through
//! `scripts/bench-gateway`, which installs nginx and finds the mlspec binary; `--help` lists the
//! options.
//!
//! # Method
//!
//! **The stub upstream** is a hyper HTTP/1.1 server in this process that answers the Open
//! Inference Protocol v2 (`POST /v2/models/m/infer` with a fixed answer after reading the whole
//! request, `GET /v2/health/{ready,live}`), optionally after `--service-us`.
//!
//! **Open loop, latency from the due time.** Request *i* is due at `t0 + i / rate`, whatever
//! happened to the requests before it. A dispatcher thread releases each request at its due time
//! to whichever of the K keep-alive connections is free; when none is (the server under test
//! stalls), the request waits, and the wait counts. A closed-loop generator (send, wait for the
//! answer, send the next) slows down with the server instead: during a stall it sends nothing,
//! so a 100 ms stall shows as one slow sample rather than as the 500 requests that a 5,000 req/s
//! client would have seen delayed. That is *coordinated omission*; measuring every latency from
//! the request's due time, not from when it was actually sent, is what removes it (as wrk2 does).
//! The dispatcher sleeps with the operating system's timer (tokio's ticks in whole milliseconds,
//! coarser than the 200 µs between requests at 5,000 req/s) and wakes some tens of µs late; that
//! lateness is in every arm's latencies, the direct arm's too, so it cancels out of the latency
//! a proxy adds.
//!
//! **Max throughput** is asked separately: C connections in a closed loop, each sending its next
//! request as soon as the previous answer is in, for D seconds.
//!
//! **Pinning.** When `taskset` exists and there are two CPUs or more, this process (generator and
//! stub upstream on one event loop) runs on CPU 0 and the proxy under test on CPU 1, the same CPU
//! for nginx and mlspec: the proxy does not compete with the load for a core, and both proxies get
//! exactly one (nginx runs one worker process). The direct arm is the generator and the stub
//! alone: the floor that the proxies add to. A proxy's max throughput can hit the limit of CPU 0
//! (generator and stub) before its own, so the report also gives the proxy's CPU time per 10,000
//! requests at the fixed rate: user + system time of its process and its children, from
//! /proc/PID/stat.
//!
//! **Rotation.** Each of the `--rounds` rounds runs every arm once, the order rotated by one each
//! round (no arm always first on a cold machine, or last); each proxy is a fresh process per
//! round, warmed up at the rate for `--warmup` s before the measured `--seconds`. The report gives
//! the median over the rounds of each statistic. The latency a proxy adds (its p99 minus direct's)
//! and its throughput against nginx's are computed within a round, then the median taken.
//!
//! **Monitoring windows.** The gateway closes its drift windows on whole seconds of the wall
//! clock (when configured with 1 s windows). Each arm's latencies are also split into requests due
//! within 50 ms after a whole second and the rest: equal p99s show that closing a window does not
//! hold requests up.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
/// What every request body of the generator is wrapped in.
type Body = Full<Bytes>;

const USAGE: &str = "\
gateway bench: direct, nginx and `mlspec serve` side by side against one stub model server

  --rate N              open-loop requests per second (default 5000)
  --seconds S           measured open-loop seconds per arm and round (default 15)
  --warmup S            open-loop warm-up seconds before each measurement (default 2)
  --connections K       keep-alive connections of the open-loop generator (default 64)
  --max-connections C   connections of the closed-loop max-throughput run (default 64)
  --max-seconds D       seconds of the max-throughput run (default 5)
  --rounds R            rounds, arm order rotated each round; medians reported (default 3)
  --service-us U        the stub's service time per inference in µs (default 0; tokio's timer
                        rounds it up to whole milliseconds)
  --nginx PATH          the nginx binary (default nginx; the arm is skipped when it is missing)
  --mlspec-cmd CMD      the mlspec arm's command line, run with sh; {upstream} (http://IP:PORT),
                        {listen} (IP:PORT) and {dir} (a fresh directory per run) are filled in;
                        the arm is skipped without it
  --json FILE           also write the results as JSON to FILE
  --scratch DIR         where the proxies' configuration and logs go, a fresh directory per arm
                        and round (default: the system's temporary directory; /dev/shm takes the
                        disk out of the logging)
  --no-pin              do not pin the generator to CPU 0 and the proxy to CPU 1";

/// The path of the inference endpoint on the stub (the model is named `m`).
const INFER_PATH: &str = "/v2/models/m/infer";
/// The stub's answer to every inference.
const INFER_ANSWER: &str =
    r#"{"model_name":"m","id":"bench","outputs":[{"name":"predict","shape":[1],"datatype":"INT64","data":[1]}]}"#;
/// How late an answer may be before the request counts as an error (and its connection is
/// dropped).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a proxy may take to answer its first readiness probe.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a proxy may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests due this soon after a whole second of the wall clock are "at a window edge".
const WINDOW_EDGE: Duration = Duration::from_millis(50);
/// Latencies are recorded in µs, from 1 µs to a minute, to 3 significant digits.
const MAX_LATENCY_MICROS: u64 = 60_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match Options::parse(args).and_then(|options| run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gateway bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> BenchResult<()> {
    let pinning = Pinning::apply(options.pin);
    // One event loop for the generator and the stub: pinned, they share one CPU anyway.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(bench(options, &pinning))
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    rate: f64,
    seconds: f64,
    warmup: f64,
    connections: usize,
    max_connections: usize,
    max_seconds: f64,
    rounds: usize,
    service: Duration,
    nginx: String,
    mlspec_cmd: Option<String>,
    json: Option<PathBuf>,
    scratch: PathBuf,
    pin: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate: 5000.0,
            seconds: 15.0,
            warmup: 2.0,
            connections: 64,
            max_connections: 64,
            max_seconds: 5.0,
            rounds: 3,
            service: Duration::ZERO,
            nginx: "nginx".into(),
            mlspec_cmd: None,
            json: None,
            scratch: std::env::temp_dir(),
            pin: true,
        }
    }
}

impl Options {
    fn parse(args: Vec<String>) -> BenchResult<Self> {
        let mut options = Self::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                // `cargo bench` passes --bench to a bench without the libtest harness.
                "--bench" => continue,
                "--no-pin" => {
                    options.pin = false;
                    continue;
                }
                _ => {}
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
            options.set(&flag, value)?;
        }
        options.check()?;
        Ok(options)
    }

    fn set(&mut self, flag: &str, value: String) -> BenchResult<()> {
        match flag {
            "--rate" => self.rate = number(flag, &value)?,
            "--seconds" => self.seconds = number(flag, &value)?,
            "--warmup" => self.warmup = number(flag, &value)?,
            "--connections" => self.connections = number(flag, &value)?,
            "--max-connections" => self.max_connections = number(flag, &value)?,
            "--max-seconds" => self.max_seconds = number(flag, &value)?,
            "--rounds" => self.rounds = number(flag, &value)?,
            "--service-us" => self.service = Duration::from_micros(number(flag, &value)?),
            "--nginx" => self.nginx = value,
            "--mlspec-cmd" => self.mlspec_cmd = Some(value),
            "--json" => self.json = Some(value.into()),
            "--scratch" => self.scratch = value.into(),
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}").into()),
        }
        Ok(())
    }

    fn check(&self) -> BenchResult<()> {
        let positive = [
            ("--rate", self.rate),
            ("--seconds", self.seconds),
            ("--max-seconds", self.max_seconds),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, value)| !value.is_finite() || *value <= 0.0) {
            return Err(format!("{flag} must be a number greater than 0").into());
        }
        if !self.warmup.is_finite() || self.warmup < 0.0 {
            return Err("--warmup must be 0 or more".into());
        }
        if self.connections == 0 || self.max_connections == 0 || self.rounds == 0 {
            return Err("--connections, --max-connections and --rounds must be at least 1".into());
        }
        Ok(())
    }
}

fn number<T: FromStr>(flag: &str, value: &str) -> BenchResult<T> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number").into())
}

// ---------------------------------------------------------------------------------------------
// The machine: pinning, load average, CPU time

/// Where the load and the proxy under test run.
struct Pinning {
    /// The CPUs this process could use before it was pinned.
    cpus: usize,
    /// The CPU list given to `taskset -c` for the proxy, when pinned.
    proxy_cpu: Option<&'static str>,
    description: String,
}

impl Pinning {
    /// Pins this process (all its threads so far, and so every thread it starts) to CPU 0 when
    /// asked to and possible.
    fn apply(wanted: bool) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let unpinned = |description: String| Self {
            cpus,
            proxy_cpu: None,
            description,
        };
        if !wanted {
            return unpinned("not pinned (--no-pin)".into());
        }
        if cpus < 2 {
            return unpinned(format!("not pinned: {cpus} CPU available"));
        }
        let pid = std::process::id().to_string();
        match Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &pid])
            .stdout(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => Self {
                cpus,
                proxy_cpu: Some("1"),
                description: "generator and stub upstream on CPU 0, the proxy under test on \
                              CPU 1 (taskset)"
                    .into(),
            },
            Ok(status) => unpinned(format!("not pinned: taskset exited with {status}")),
            Err(error) => unpinned(format!("not pinned: taskset: {error}")),
        }
    }

    /// A command that runs `program` on the proxy's CPU (`taskset` execs it: same PID).
    fn proxy_command(&self, program: &str) -> Command {
        match self.proxy_cpu {
            Some(cpu) => {
                let mut command = Command::new("taskset");
                command.args(["-c", cpu, program]);
                command
            }
            None => Command::new(program),
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// The kernel's clock ticks per second, the unit of CPU times in /proc/PID/stat.
fn clock_ticks_per_second() -> BenchResult<f64> {
    let output = Command::new("getconf").arg("CLK_TCK").output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("`getconf CLK_TCK` printed {text:?}, not a number").into())
}

/// One line of /proc/PID/stat: the parent's PID and the user + system CPU ticks.
fn process_stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    let fields: Vec<&str> = text.get(text.rfind(')')? + 1..)?.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, user + system))
}

/// Process `root` and its living descendants (nginx's workers), each with its user + system
/// CPU ticks.
fn process_tree(root: u32) -> BenchResult<Vec<(u32, u64)>> {
    let mut stats = BTreeMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let name = entry?.file_name();
        let pid = name.to_str().and_then(|name| name.parse::<u32>().ok());
        if let Some((pid, stat)) = pid.and_then(|pid| Some((pid, process_stat(pid)?))) {
            stats.insert(pid, stat);
        }
    }
    let (mut tree, mut unvisited) = (Vec::new(), vec![root]);
    while let Some(pid) = unvisited.pop() {
        if let Some(&(_, ticks)) = stats.get(&pid) {
            tree.push((pid, ticks));
        }
        let children = stats.iter().filter(|(_, (parent, _))| *parent == pid);
        unvisited.extend(children.map(|(child, _)| *child));
    }
    Ok(tree)
}

/// User + system CPU seconds of process `root` and its living descendants.
fn process_tree_cpu_seconds(root: u32, ticks_per_second: f64) -> BenchResult<f64> {
    let ticks: u64 = process_tree(root)?.iter().map(|&(_, ticks)| ticks).sum();
    Ok(ticks as f64 / ticks_per_second)
}

/// Sends signal `name` (TERM, KILL) to `pid` with kill(1).
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

// ---------------------------------------------------------------------------------------------
// The stub upstream

/// Starts the stub model server on a free loopback port; it serves until the process ends.
async fn start_stub_upstream(service: Duration) -> BenchResult<Target> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let target = Target::new(listener.local_addr()?);
    tokio::spawn(accept_forever(listener, service));
    Ok(target)
}

async fn accept_forever(listener: TcpListener, service: Duration) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: let some connections close first.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let answer = hyper::service::service_fn(move |request| answer(request, service));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), answer)
                .await;
        });
    }
}

async fn answer(request: Request<Incoming>, service: Duration) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    if request.method() == Method::POST && path == INFER_PATH {
        // Read the whole request, as a real model server would.
        let _ = request.into_body().collect().await;
        if !service.is_zero() {
            tokio::time::sleep(service).await;
        }
        return Ok(json_response(INFER_ANSWER));
    }
    let health = matches!(path, "/v2/health/ready" | "/v2/health/live");
    let mut response = Response::new(Body::default());
    if !(health && request.method() == Method::GET) {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(response)
}

fn json_response(text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

// ---------------------------------------------------------------------------------------------
// Requests and connections

/// A server to send load to: its address and the Host header that names it.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    authority: Arc<str>,
}

impl Target {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            authority: addr.to_string().into(),
        }
    }
}

/// Inference request `i`: an OIP v2 body with 4 numeric features that vary with `i`.
fn infer_request(target: &Target, i: u64) -> BenchResult<Request<Body>> {
    let id = format!("r{i}");
    let body = json!({
        "id": id,
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": features(i)}],
    });
    Ok(Request::post(INFER_PATH)
        .header(HOST, &*target.authority)
        .header(CONTENT_TYPE, "application/json")
        .header("x-request-id", id)
        .body(Full::new(Bytes::from(body.to_string())))?)
}

/// Deterministic features: a sawtooth, a small integer, a falling ramp and a scrambled fraction.
fn features(i: u64) -> [f64; 4] {
    let phase = (i % 1000) as f64 / 1000.0;
    [
        phase * 10.0,
        (i % 7) as f64,
        1.0 - phase,
        (i.wrapping_mul(31) % 97) as f64 / 97.0,
    ]
}

fn readiness_request(target: &Target) -> BenchResult<Request<Body>> {
    Ok(Request::get("/v2/health/ready")
        .header(HOST, &*target.authority)
        .body(Body::default())?)
}

/// One keep-alive HTTP/1.1 connection of the generator, reopened after it fails or the server
/// closes it.
struct Connection {
    target: Target,
    sender: Option<SendRequest<Body>>,
}

impl Connection {
    /// Connects now, so that connecting is not part of the first request's latency (a failure
    /// here is retried by the first request, and counted there).
    async fn open(target: &Target) -> Self {
        let sender = connect(target.addr).await.ok();
        Self {
            target: target.clone(),
            sender,
        }
    }

    /// Sends `request` and reads the whole answer: true for a 2xx answer within the timeout.
    async fn succeeds(&mut self, request: BenchResult<Request<Body>>) -> bool {
        let Ok(request) = request else { return false };
        matches!(
            tokio::time::timeout(REQUEST_TIMEOUT, self.round_trip(request)).await,
            Ok(Ok(status)) if status.is_success()
        )
    }

    /// The connection is kept only when the whole answer came back.
    async fn round_trip(&mut self, request: Request<Body>) -> BenchResult<StatusCode> {
        let mut sender = self.ready_sender().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        self.sender = Some(sender);
        Ok(status)
    }

    /// The open connection if it can take a request now, else a new one.
    async fn ready_sender(&mut self) -> BenchResult<SendRequest<Body>> {
        if let Some(mut sender) = self.sender.take()
            && sender.ready().await.is_ok()
        {
            return Ok(sender);
        }
        connect(self.target.addr).await
    }
}

async fn connect(addr: SocketAddr) -> BenchResult<SendRequest<Body>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn open_connections(target: &Target, count: usize) -> Vec<Connection> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(Connection::open(target).await);
    }
    connections
}

fn latency_histogram() -> BenchResult<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)?)
}

// ---------------------------------------------------------------------------------------------
// The open loop

/// When each request of an open-loop phase is due, and where that falls in the wall clock's
/// second.
struct Schedule {
    start: Instant,
    /// Nanoseconds from the last whole second of the wall clock to `start`.
    start_into_second: u128,
    rate: f64,
    count: u64,
}

impl Schedule {
    fn new(rate: f64, seconds: f64) -> Self {
        // A little ahead, so that every worker is waiting for its first request.
        let lead = Duration::from_millis(20);
        let start = Instant::now() + lead;
        let wall = SystemTime::now() + lead;
        let start_into_second = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u128::from(since.subsec_nanos()));
        Self {
            start,
            start_into_second,
            rate,
            count: (rate * seconds).round() as u64,
        }
    }

    fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    fn due(&self, i: u64) -> Instant {
        self.start + self.offset(i)
    }

    fn near_window_edge(&self, i: u64) -> bool {
        let into_second = (self.start_into_second + self.offset(i).as_nanos()) % 1_000_000_000;
        into_second < WINDOW_EDGE.as_nanos()
    }
}

/// Releases request numbers at their due times (a thread: tokio's timer is too coarse).
fn dispatch(schedule: &Schedule, due_requests: &mpsc::UnboundedSender<u64>) {
    for i in 0..schedule.count {
        let wait = schedule.due(i).saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        if due_requests.send(i).is_err() {
            return;
        }
    }
}

/// What the workers saw in one phase, merged at its end.
struct Tally {
    /// Latencies (µs from the due time) of the successful requests due near a window edge…
    edge: Histogram<u64>,
    /// …and of the others.
    rest: Histogram<u64>,
    successes: u64,
    failures: u64,
    last_answer: Option<Instant>,
}

impl Tally {
    fn new() -> BenchResult<Self> {
        Ok(Self {
            edge: latency_histogram()?,
            rest: latency_histogram()?,
            successes: 0,
            failures: 0,
            last_answer: None,
        })
    }

    fn record(&mut self, schedule: &Schedule, i: u64, succeeded: bool) {
        let now = Instant::now();
        self.last_answer = self.last_answer.max(Some(now));
        if !succeeded {
            self.failures += 1;
            return;
        }
        self.successes += 1;
        let latency = now.saturating_duration_since(schedule.due(i)).as_micros();
        let micros = u64::try_from(latency).unwrap_or(u64::MAX);
        let histogram = if schedule.near_window_edge(i) {
            &mut self.edge
        } else {
            &mut self.rest
        };
        histogram.saturating_record(micros);
    }

    fn merge(&mut self, other: &Self) -> BenchResult<()> {
        self.edge.add(&other.edge)?;
        self.rest.add(&other.rest)?;
        self.successes += other.successes;
        self.failures += other.failures;
        self.last_answer = self.last_answer.max(other.last_answer);
        Ok(())
    }
}

async fn open_loop_worker(
    mut connection: Connection,
    schedule: Arc<Schedule>,
    due_requests: Arc<Mutex<mpsc::UnboundedReceiver<u64>>>,
) -> BenchResult<Tally> {
    let mut tally = Tally::new()?;
    loop {
        let next = due_requests.lock().await.recv().await;
        let Some(i) = next else { return Ok(tally) };
        let request = infer_request(&connection.target, i);
        let succeeded = connection.succeeds(request).await;
        tally.record(&schedule, i, succeeded);
    }
}

/// `rate` requests a second for `seconds` over `connections` connections.
async fn open_loop(target: &Target, rate: f64, seconds: f64, connections: usize) -> BenchResult<Statistics> {
    let connections = open_connections(target, connections).await;
    let schedule = Arc::new(Schedule::new(rate, seconds));
    let (sender, receiver) = mpsc::unbounded_channel();
    let receiver = Arc::new(Mutex::new(receiver));
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| tokio::spawn(open_loop_worker(connection, schedule.clone(), receiver.clone())))
        .collect();
    let dispatcher_schedule = schedule.clone();
    let dispatcher = std::thread::spawn(move || dispatch(&dispatcher_schedule, &sender));
    let mut total = Tally::new()?;
    for worker in workers {
        total.merge(&worker.await??)?;
    }
    dispatcher.join().map_err(|_| "the dispatcher thread panicked")?;
    open_loop_statistics(&total, schedule.start)
}

/// An open-loop phase's statistics; latencies in ms.
fn open_loop_statistics(tally: &Tally, schedule_start: Instant) -> BenchResult<Statistics> {
    let mut all = tally.edge.clone();
    all.add(&tally.rest)?;
    let elapsed = tally
        .last_answer
        .map_or(0.0, |last| last.saturating_duration_since(schedule_start).as_secs_f64());
    let ms = |micros: u64| micros as f64 / 1000.0;
    let p99 = |histogram: &Histogram<u64>| ms(histogram.value_at_quantile(0.99));
    Ok(Statistics::from([
        ("requests", tally.successes as f64),
        ("errors", tally.failures as f64),
        (
            "achieved_rps",
            if elapsed > 0.0 {
                tally.successes as f64 / elapsed
            } else {
                0.0
            },
        ),
        ("p50_ms", ms(all.value_at_quantile(0.50))),
        ("p90_ms", ms(all.value_at_quantile(0.90))),
        ("p99_ms", p99(&all)),
        ("p99.9_ms", ms(all.value_at_quantile(0.999))),
        ("max_ms", ms(all.max())),
        ("window_edge_p99_ms", p99(&tally.edge)),
        ("window_rest_p99_ms", p99(&tally.rest)),
    ]))
}

// ---------------------------------------------------------------------------------------------
// The closed loop (max throughput)

async fn closed_loop_worker(mut connection: Connection, deadline: Instant, numbers: Arc<AtomicU64>) -> (u64, u64) {
    let (mut successes, mut failures) = (0, 0);
    while Instant::now() < deadline {
        let i = numbers.fetch_add(1, Ordering::Relaxed);
        let request = infer_request(&connection.target, i);
        if connection.succeeds(request).await {
            successes += 1;
        } else {
            failures += 1;
        }
    }
    (successes, failures)
}

/// Requests a second with `connections` connections sending back to back for `seconds`.
async fn closed_loop(target: &Target, seconds: f64, connections: usize) -> BenchResult<Statistics> {
    let connections = open_connections(target, connections).await;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let numbers = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| tokio::spawn(closed_loop_worker(connection, deadline, numbers.clone())))
        .collect();
    let (mut successes, mut failures) = (0, 0);
    for worker in workers {
        let (worker_successes, worker_failures) = worker.await?;
        successes += worker_successes;
        failures += worker_failures;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Statistics::from([
        ("max_rps", successes as f64 / elapsed),
        ("max_errors", failures as f64),
    ]))
}

// ---------------------------------------------------------------------------------------------
// Arms: what the load goes to

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Arm {
    Direct,
    Nginx,
    Mlspec,
}

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Nginx => "nginx",
            Self::Mlspec => "mlspec",
        }
    }
}

/// A proxy under test, running; killed by its PID when dropped (on errors too).
struct ProxyProcess {
    child: Child,
    output: PathBuf,
}

impl ProxyProcess {
    /// Starts `command` with its standard output and error going to `dir`/output.log.
    fn spawn(mut command: Command, dir: &Path) -> BenchResult<Self> {
        let output = dir.join("output.log");
        let log = std::fs::File::create(&output)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|error| format!("cannot start {command:?}: {error}"))?;
        Ok(Self { child, output })
    }

    fn output_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until the proxy answers `GET /v2/health/ready` (forwarded to the stub) with 200.
    async fn wait_until_ready(&mut self, target: &Target, name: &str) -> BenchResult<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let tail = self.output_tail();
                return Err(format!("{name} exited ({status}) before it was ready; its output:\n{tail}").into());
            }
            if Connection::open(target).await.succeeds(readiness_request(target)).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                let tail = self.output_tail();
                let waited = READY_TIMEOUT.as_secs();
                return Err(format!(
                    "{name} did not answer GET /v2/health/ready with 200 within {waited} s; its output:\n{tail}"
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ProxyProcess {
    /// SIGTERM first, so that nginx stops its workers (a SIGKILLed master leaves them running)
    /// and mlspec closes its log; SIGKILL to the whole process tree if it is still up after
    /// [`STOP_TIMEOUT`].
    fn drop(&mut self) {
        let pid = self.child.id();
        signal(pid, "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for (descendant, _) in process_tree(pid).unwrap_or_default() {
            signal(descendant, "KILL");
        }
        let _ = self.child.wait();
    }
}

/// A directory for this run's files, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn create(parent: &Path) -> BenchResult<Self> {
        let path = parent.join(format!("mlspec-bench-gateway-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(Self(path))
    }

    fn arm_dir(&self, arm: Arm, round: usize) -> BenchResult<PathBuf> {
        let dir = self.0.join(format!("{}-{round}", arm.name()));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything an arm's run needs.
struct Bench<'a> {
    options: &'a Options,
    pinning: &'a Pinning,
    upstream: Target,
    scratch: Scratch,
    ticks_per_second: f64,
}

/// What one arm's run sends its load to, and the proxy process in between (none when direct).
struct UnderTest {
    target: Target,
    proxy: Option<ProxyProcess>,
}

impl UnderTest {
    fn cpu_seconds(&self, ticks_per_second: f64) -> BenchResult<Option<f64>> {
        self.proxy
            .as_ref()
            .map(|proxy| process_tree_cpu_seconds(proxy.child.id(), ticks_per_second))
            .transpose()
    }
}

impl Bench<'_> {
    async fn bring_up(&self, arm: Arm, round: usize) -> BenchResult<UnderTest> {
        let command = match arm {
            Arm::Direct => {
                return Ok(UnderTest {
                    target: self.upstream.clone(),
                    proxy: None,
                });
            }
            Arm::Nginx => Self::nginx_command,
            Arm::Mlspec => Self::mlspec_command,
        };
        let dir = self.scratch.arm_dir(arm, round)?;
        let target = Target::new(free_loopback_port()?);
        let mut proxy = ProxyProcess::spawn(command(self, target.addr, &dir)?, &dir)?;
        proxy.wait_until_ready(&target, arm.name()).await?;
        Ok(UnderTest {
            target,
            proxy: Some(proxy),
        })
    }

    /// nginx in the foreground, its configuration, pid file, temporary files and logs in `dir`.
    fn nginx_command(&self, listen: SocketAddr, dir: &Path) -> BenchResult<Command> {
        let config = dir.join("nginx.conf");
        std::fs::write(&config, nginx_config(self.upstream.addr, listen, dir))?;
        let mut command = self.pinning.proxy_command(&self.options.nginx);
        command.arg("-p").arg(dir).arg("-c").arg(&config);
        command.args(["-e", "stderr", "-g", "daemon off;"]);
        Ok(command)
    }

    /// The `--mlspec-cmd` template filled in, run by `sh -c 'exec …'` (so the PID is mlspec's).
    fn mlspec_command(&self, listen: SocketAddr, dir: &Path) -> BenchResult<Command> {
        let template = self.options.mlspec_cmd.as_deref().ok_or("no --mlspec-cmd")?;
        let line = template
            .replace("{upstream}", &format!("http://{}", self.upstream.addr))
            .replace("{listen}", &listen.to_string())
            .replace("{dir}", &dir.display().to_string());
        let mut command = self.pinning.proxy_command("sh");
        command.arg("-c").arg(format!("exec {line}"));
        Ok(command)
    }

    /// One arm, one round: warm-up, the measured open loop (with the proxy's CPU time), the
    /// max-throughput closed loop.
    async fn measure(&self, arm: Arm, round: usize) -> BenchResult<Statistics> {
        let options = self.options;
        let under = self.bring_up(arm, round).await?;
        let (rate, connections) = (options.rate, options.connections);
        if options.warmup > 0.0 {
            open_loop(&under.target, rate, options.warmup, connections).await?;
        }
        let cpu_before = under.cpu_seconds(self.ticks_per_second)?;
        let mut statistics = open_loop(&under.target, rate, options.seconds, connections).await?;
        let cpu_after = under.cpu_seconds(self.ticks_per_second)?;
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            let requests: f64 = ["requests", "errors"]
                .iter()
                .filter_map(|key| statistics.get(key))
                .sum();
            statistics.insert("cpu_s_per_10k", (after - before) / requests.max(1.0) * 10_000.0);
        }
        statistics.extend(closed_loop(&under.target, options.max_seconds, options.max_connections).await?);
        Ok(statistics)
    }
}

fn nginx_config(upstream: SocketAddr, listen: SocketAddr, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"# A plain reverse proxy: one worker, keep-alive both ways, a combined access log.
worker_processes 1;
user www-data;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log {dir}/access.log combined;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # nginx closes a keep-alive connection after 1,000 requests by default; hyper does not.
    keepalive_requests 10000000;
    upstream up {{
        server {upstream};
        keepalive 64;
        keepalive_requests 10000000;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#
    )
}

/// A loopback port free right now (the proxy binds it a moment later).
fn free_loopback_port() -> BenchResult<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// nginx's version line, or None when it cannot be run.
fn nginx_version(nginx: &str) -> Option<String> {
    let output = Command::new(nginx).arg("-v").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stderr).trim().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Rounds, medians, report

/// Named statistics of one arm in one round (latencies in ms).
type Statistics = BTreeMap<&'static str, f64>;

/// The arms to run, with a line for each one skipped.
fn arms(options: &Options) -> (Vec<Arm>, Vec<String>, Option<String>) {
    let mut arms = vec![Arm::Direct];
    let mut skipped = Vec::new();
    let nginx = nginx_version(&options.nginx);
    if nginx.is_some() {
        arms.push(Arm::Nginx);
    } else {
        skipped.push(format!(
            "nginx skipped: `{} -v` did not run (scripts/bench-gateway installs Debian's nginx-light)",
            options.nginx
        ));
    }
    if options.mlspec_cmd.is_some() {
        arms.push(Arm::Mlspec);
    } else {
        skipped.push(
            "mlspec skipped: no --mlspec-cmd (scripts/bench-gateway passes one when `mlspec serve --help` works)"
                .into(),
        );
    }
    (arms, skipped, nginx)
}

async fn bench(options: &Options, pinning: &Pinning) -> BenchResult<()> {
    let (arms, skipped, nginx) = arms(options);
    for line in &skipped {
        eprintln!("{line}");
    }
    let load_before = load_average();
    let bench = Bench {
        options,
        pinning,
        upstream: start_stub_upstream(options.service).await?,
        scratch: Scratch::create(&options.scratch)?,
        ticks_per_second: clock_ticks_per_second()?,
    };
    let mut rounds: BTreeMap<Arm, Vec<Statistics>> = BTreeMap::new();
    for round in 0..options.rounds {
        for &arm in arms.iter().cycle().skip(round % arms.len()).take(arms.len()) {
            eprintln!("round {}/{}: {} …", round + 1, options.rounds, arm.name());
            let mut statistics = bench.measure(arm, round).await?;
            statistics.insert("load_average_1m", one_minute_load());
            rounds.entry(arm).or_default().push(statistics);
        }
    }
    add_round_comparisons(&mut rounds);
    let machine = json!({
        "nproc": pinning.cpus,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "pinning": pinning.description,
        "nginx": nginx,
    });
    print!("{}", markdown(options, &rounds, &machine));
    if let Some(path) = &options.json {
        let report = json_report(options, &rounds, machine);
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(())
}

fn one_minute_load() -> f64 {
    load_average()
        .split_whitespace()
        .next()
        .and_then(|first| first.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Adds, to each round of each arm, its p99 minus direct's and its max throughput over nginx's
/// in the same round.
fn add_round_comparisons(rounds: &mut BTreeMap<Arm, Vec<Statistics>>) {
    let of = |rounds: &BTreeMap<Arm, Vec<Statistics>>, arm, key| -> Vec<Option<f64>> {
        rounds
            .get(&arm)
            .map_or_else(Vec::new, |runs| runs.iter().map(|run| run.get(key).copied()).collect())
    };
    let direct_p99 = of(rounds, Arm::Direct, "p99_ms");
    let nginx_rps = of(rounds, Arm::Nginx, "max_rps");
    for (&arm, runs) in rounds.iter_mut() {
        for (round, run) in runs.iter_mut().enumerate() {
            if arm != Arm::Direct
                && let (Some(Some(direct)), Some(&p99)) = (direct_p99.get(round), run.get("p99_ms"))
            {
                run.insert("added_p99_ms", p99 - direct);
            }
            if let (Some(Some(nginx)), Some(&rps)) = (nginx_rps.get(round), run.get("max_rps")) {
                run.insert("max_rps_vs_nginx", rps / nginx);
            }
        }
    }
}

/// The median of `key` over the rounds that have it.
fn median(runs: &[Statistics], key: &str) -> Option<f64> {
    let mut values: Vec<f64> = runs.iter().filter_map(|run| run.get(key).copied()).collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

fn medians(runs: &[Statistics]) -> Statistics {
    let keys: std::collections::BTreeSet<&'static str> = runs.iter().flat_map(|run| run.keys().copied()).collect();
    keys.into_iter()
        .filter_map(|key| Some((key, median(runs, key)?)))
        .collect()
}

fn cell(value: Option<f64>, decimals: usize, suffix: &str) -> String {
    value.map_or_else(|| "—".into(), |value| format!("{value:.decimals$}{suffix}"))
}

fn markdown(options: &Options, rounds: &BTreeMap<Arm, Vec<Statistics>>, machine: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nOpen loop: {} req/s for {} s after {} s of warm-up, {} connections; max throughput: {} \
         connections for {} s; median of {} rounds; the proxies' logs under {}. nproc {}, load average {} before, \
         {} after; {}.\n",
        options.rate,
        options.seconds,
        options.warmup,
        options.connections,
        options.max_connections,
        options.max_seconds,
        options.rounds,
        options.scratch.display(),
        machine["nproc"],
        machine["load_average_before"].as_str().unwrap_or("?"),
        machine["load_average_after"].as_str().unwrap_or("?"),
        machine["pinning"].as_str().unwrap_or("?"),
    );
    out.push_str("| arm | p50 ms | p99 ms | p99.9 ms | added p99 vs direct | max req/s | × nginx's max | CPU-s / 10k req | achieved req/s | errors, all rounds |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (arm, runs) in rounds {
        let m = medians(runs);
        let errors: f64 = runs
            .iter()
            .map(|run| run.get("errors").unwrap_or(&0.0) + run.get("max_errors").unwrap_or(&0.0))
            .sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
            arm.name(),
            cell(m.get("p50_ms").copied(), 3, ""),
            cell(m.get("p99_ms").copied(), 3, ""),
            cell(m.get("p99.9_ms").copied(), 3, ""),
            cell(m.get("added_p99_ms").copied(), 3, " ms"),
            cell(m.get("max_rps").copied(), 0, ""),
            cell(m.get("max_rps_vs_nginx").copied(), 2, "×"),
            cell(m.get("cpu_s_per_10k").copied(), 3, ""),
            cell(m.get("achieved_rps").copied(), 0, ""),
        );
    }
    out.push_str(
        "\nMonitoring windows: p99 (ms) of the requests due within 50 ms after a whole second vs the rest\n\n",
    );
    out.push_str("| arm | window edge p99 | rest p99 |\n|---|---:|---:|\n");
    for (arm, runs) in rounds {
        let m = medians(runs);
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            arm.name(),
            cell(m.get("window_edge_p99_ms").copied(), 3, ""),
            cell(m.get("window_rest_p99_ms").copied(), 3, ""),
        );
    }
    if let Some(runs) = rounds.get(&Arm::Mlspec) {
        out.push_str(&verdict(&medians(runs)));
    }
    out
}

/// Issue 19's targets for the mlspec arm.
fn verdict(mlspec: &Statistics) -> String {
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let added = mlspec.get("added_p99_ms").copied();
    let ratio = mlspec.get("max_rps_vs_nginx").copied();
    format!(
        "\nmlspec: added p99 {} (target ≤ 1 ms: {}); max throughput {} nginx's (target within 1.5×, ≥ 0.67×: {})\n",
        cell(added, 3, " ms"),
        met(added.is_some_and(|added| added <= 1.0)),
        cell(ratio, 2, "×"),
        met(ratio.is_some_and(|ratio| ratio >= 1.0 / 1.5)),
    )
}

fn json_report(options: &Options, rounds: &BTreeMap<Arm, Vec<Statistics>>, machine: Value) -> Value {
    let arms: serde_json::Map<String, Value> = rounds
        .iter()
        .map(|(arm, runs)| (arm.name().to_owned(), json!({"median": medians(runs), "rounds": runs})))
        .collect();
    json!({
        "settings": {
            "rate": options.rate,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "connections": options.connections,
            "max_connections": options.max_connections,
            "max_seconds": options.max_seconds,
            "rounds": options.rounds,
            "service_us": options.service.as_micros(),
            "mlspec_cmd": options.mlspec_cmd,
            "scratch": options.scratch,
        },
        "machine": machine,
        "arms": arms,
    })
}

//! The pipeline runner's benchmark (issue 16): `mlspec pipeline run` over no-op steps, cold (an
//! empty store, every step runs), fully cached (the same pipeline again, every step answered
//! from the store) and cached once more, in two shapes of 100 steps — a chain, and a fan-out of width 10 (10
//! parallel chains of 10) — and on a 1,000-step DAG (100 parallel chains of 10) to see how the
//! runner's overhead grows with the pipeline.
//!
//! A step's command is `touch OUT` at the head of a chain and `cp IN OUT` after it: the runner
//! still starts `mlspec step run` for it, which records its Run and output Artifact, and checks
//! and digests the output. The runner's own overhead per step is the wall time less what the
//! same commands take run one after another by a shell script, divided by the steps (a cached
//! run runs no command: its whole wall time is overhead). Every run gets a fresh project
//! (`mlspec init`), and its WorkflowRecord (`--out`) must show every step Finished (cold) or
//! Cached (re-runs), or the benchmark exits non-zero: a failure must not look like speed.
//!
//! ```sh
//! scripts/bench-pipeline                    # side by side with `dvc repro`, one table
//! cargo bench -p mlspec --bench pipeline    # mlspec alone
//! ```
//!
//! `MLSPEC_BIN` names the binary (default: the release build Cargo made for this bench),
//! `BENCH_RUNS` the rounds (cold, cached, again) per 100-step case (default 3, median),
//! `BENCH_LARGE_RUNS` those of the 1,000-step DAG (default 3), `BENCH_JOBS` the runner's `--jobs` (default: its
//! own, the number of cores), and `BENCH_JSON` a file for the results (read by
//! `benches/dvc_repro.py --table`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use serde_json::{Value, json};

/// Parallel chains of equal length: a chain is one, a fan-out of width W is W.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    chains: usize,
    length: usize,
}

impl Shape {
    fn steps(self) -> usize {
        self.chains * self.length
    }
}

const CHAIN: Shape = Shape {
    name: "chain",
    chains: 1,
    length: 100,
};
const FAN_OUT: Shape = Shape {
    name: "fan-out",
    chains: 10,
    length: 10,
};
const LARGE: Shape = Shape {
    name: "dag-1000",
    chains: 100,
    length: 10,
};

/// The two modules: the head of a chain writes its output, every later step copies its input.
/// `i` makes each step's cache key its own, as a stage's name does in DVC.
const MODULES: [(&str, &str); 2] = [
    (
        "head.yaml",
        "apiVersion: mlspec/v1\nkind: Module\nmetadata: {name: head}\nspec:\n  version: \"1\"\n  \
         parameters: [{name: i, type: integer}]\n  outputs: [{name: out, type: artifact}]\n  \
         implementation: {command: [touch, \"{outputs.out}\"]}\n",
    ),
    (
        "link.yaml",
        "apiVersion: mlspec/v1\nkind: Module\nmetadata: {name: link}\nspec:\n  version: \"1\"\n  \
         parameters: [{name: i, type: integer}]\n  inputs: [{name: in, type: artifact}]\n  \
         outputs: [{name: out, type: artifact}]\n  \
         implementation: {command: [cp, \"{inputs.in}\", \"{outputs.out}\"]}\n",
    ),
];

/// One `pipeline run`: its wall time, and the CPU time of the runner, its steps and their
/// commands together (seconds).
#[derive(Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

/// The runs of a case, in the order they happen in one project.
#[derive(Clone, Copy)]
enum Phase {
    /// An empty store: every step runs.
    Cold,
    /// Right after the cold run: every step is answered from the store.
    Cached,
    /// Once more, the store now holding two runs of every step.
    Again,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Cold, Phase::Cached, Phase::Again];

    fn name(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Cached => "cached",
            Phase::Again => "again",
        }
    }

    /// How every step of the run must have ended.
    fn expected(self) -> &'static str {
        match self {
            Phase::Cold => "Finished",
            Phase::Cached | Phase::Again => "Cached",
        }
    }
}

/// What one case measured: every run of each phase, and what the commands alone take.
struct Measured {
    steps: usize,
    commands: f64,
    runs: [Vec<Timing>; 3],
}

impl Measured {
    fn runs(&self, phase: Phase) -> &[Timing] {
        &self.runs[phase as usize]
    }

    /// Median wall seconds.
    fn wall_s(&self, phase: Phase) -> f64 {
        median(&walls(self.runs(phase)))
    }

    /// CPU milliseconds per step of the whole process tree (median run).
    fn cpu_ms(&self, phase: Phase) -> f64 {
        median(&self.runs(phase).iter().map(|t| t.cpu).collect::<Vec<_>>()) / self.steps as f64 * 1e3
    }

    /// Milliseconds per step beyond what the commands take (a cached run runs none).
    fn overhead_ms(&self, phase: Phase) -> f64 {
        let commands = match phase {
            Phase::Cold => self.commands,
            Phase::Cached | Phase::Again => 0.0,
        };
        (self.wall_s(phase) - commands) / self.steps as f64 * 1e3
    }

    fn json(&self) -> Value {
        let mut case = json!({"steps": self.steps, "commands_s": self.commands});
        for phase in Phase::ALL {
            let name = phase.name();
            case[format!("{name}_s")] = json!(self.wall_s(phase));
            case[format!("{name}_runs_s")] = json!(walls(self.runs(phase)));
            case[format!("{name}_overhead_ms")] = json!(self.overhead_ms(phase));
            case[format!("{name}_cpu_ms_per_step")] = json!(self.cpu_ms(phase));
        }
        case
    }
}

fn walls(timings: &[Timing]) -> Vec<f64> {
    timings.iter().map(|t| t.wall).collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn step_name(chain: usize, position: usize) -> String {
    format!("c{chain:02}s{position:02}")
}

/// The Pipeline document of `shape`.
fn pipeline_yaml(shape: Shape) -> String {
    let mut text = format!(
        "apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {{name: bench-{}}}\nspec:\n  steps:\n",
        shape.name
    );
    for chain in 0..shape.chains {
        for position in 0..shape.length {
            let i = chain * shape.length + position;
            let name = step_name(chain, position);
            // Writing to a String cannot fail.
            let _ = if position == 0 {
                writeln!(
                    text,
                    "    - {{name: {name}, module: Module/head@1, params: {{i: {i}}}}}"
                )
            } else {
                let previous = step_name(chain, position - 1);
                writeln!(
                    text,
                    "    - {{name: {name}, module: Module/link@1, params: {{i: {i}}}, \
                     inputs: {{in: steps.{previous}.outputs.out}}}}"
                )
            };
        }
    }
    text
}

/// The same commands as a shell script, one after another.
fn commands_script(shape: Shape) -> String {
    let mut script = String::from("set -e\n");
    for chain in 0..shape.chains {
        for position in 0..shape.length {
            let out = step_name(chain, position);
            let _ = if position == 0 {
                writeln!(script, "touch {out}")
            } else {
                writeln!(script, "cp {} {out}", step_name(chain, position - 1))
            };
        }
    }
    script
}

/// Seconds the commands alone take (median of three).
fn commands_alone(shape: Shape) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..3 {
        let work = tempfile::tempdir()?;
        let script = work.path().join("commands.sh");
        std::fs::write(&script, commands_script(shape))?;
        let start = Instant::now();
        let status = Command::new("sh").arg(&script).current_dir(work.path()).status()?;
        times.push(start.elapsed().as_secs_f64());
        if !status.success() {
            bail!("the commands alone failed ({status}) in {}", work.path().display());
        }
    }
    Ok(median(&times))
}

/// Runs `mlspec ARGS` in `dir`; the output when it succeeded.
fn mlspec(bin: &Path, dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    let output = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_remove("MLSPEC_STORE")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if !output.status.success() {
        bail!(
            "`mlspec {}` in {} failed ({}):\n{}",
            args.join(" "),
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// A fresh project with the modules and the pipeline of `shape`.
fn project(bin: &Path, shape: Shape) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("mlspec-bench-pipeline-").tempdir()?;
    mlspec(bin, dir.path(), &["init"])?;
    std::fs::create_dir(dir.path().join("modules"))?;
    for (file, text) in MODULES {
        std::fs::write(dir.path().join("modules").join(file), text)?;
    }
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_yaml(shape))?;
    Ok(dir)
}

/// CPU seconds (user and system) of every child process waited for so far, and theirs.
fn children_cpu() -> Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage failed")?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(seconds(usage.user_time()) + seconds(usage.system_time()))
}

/// One `pipeline run`, timed; fails unless every step of the record has `expected` status.
fn timed_run(bin: &Path, dir: &Path, jobs: Option<&str>, record: &str, expected: &str, steps: usize) -> Result<Timing> {
    let mut args = vec!["pipeline", "run", "pipeline.yaml", "-f", "modules", "--out", record];
    if let Some(jobs) = jobs {
        args.extend(["--jobs", jobs]);
    }
    let cpu = children_cpu()?;
    let start = Instant::now();
    mlspec(bin, dir, &args)?;
    let timing = Timing {
        wall: start.elapsed().as_secs_f64(),
        cpu: children_cpu()? - cpu,
    };
    let text = std::fs::read_to_string(dir.join(record)).with_context(|| format!("no record {record}"))?;
    let document: Value = serde_json::from_str(&text).with_context(|| format!("{record} is not JSON"))?;
    let statuses: Vec<&str> = document["spec"]["steps"]
        .as_array()
        .map(|steps| steps.iter().filter_map(|s| s["status"].as_str()).collect())
        .unwrap_or_default();
    let matching = statuses.iter().filter(|&&s| s == expected).count();
    if statuses.len() != steps || matching != steps {
        bail!(
            "{record} in {}: {matching} of {} recorded steps are {expected}; expected all {steps}",
            dir.display(),
            statuses.len()
        );
    }
    Ok(timing)
}

/// `runs` rounds of `shape` (cold, cached, again), each in a fresh project.
fn measure(bin: &Path, shape: Shape, runs: usize, jobs: Option<&str>) -> Result<Measured> {
    let steps = shape.steps();
    let mut measured = Measured {
        steps,
        commands: commands_alone(shape)?,
        runs: Default::default(),
    };
    for _ in 0..runs {
        let dir = project(bin, shape)?;
        for phase in Phase::ALL {
            let record = format!("{}.json", phase.name());
            let timing = timed_run(bin, dir.path(), jobs, &record, phase.expected(), steps)?;
            measured.runs[phase as usize].push(timing);
        }
    }
    let phases: Vec<String> = Phase::ALL
        .iter()
        .map(|&phase| {
            let runs: Vec<String> = measured.runs(phase).iter().map(|t| format!("{:.3}", t.wall)).collect();
            format!(
                "{} {:.3} s ({:.2} ms/step overhead, {:.2} ms/step CPU; runs {})",
                phase.name(),
                measured.wall_s(phase),
                measured.overhead_ms(phase),
                measured.cpu_ms(phase),
                runs.join(", ")
            )
        })
        .collect();
    println!(
        "mlspec pipeline run, {} ({steps} steps; the commands alone {:.0} ms): {}",
        shape.name,
        measured.commands * 1e3,
        phases.join("; ")
    );
    Ok(measured)
}

/// The binary: `MLSPEC_BIN`, else the one Cargo built with this bench.
fn binary() -> PathBuf {
    std::env::var_os("MLSPEC_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mlspec")), PathBuf::from)
}

fn env_count(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("{name}={text} is not a positive count")),
        Err(_) => Ok(default),
    }
}

/// How the runner's cost per step changes from `small` to `large`: the same per step would be
/// linear growth of the whole.
fn report_scaling(small: &Measured, large: &Measured) {
    for phase in [Phase::Cold, Phase::Cached] {
        let line =
            |what: &str, small: f64, large: f64| format!("{what} {small:.2} → {large:.2} ms ({:.2}×)", large / small);
        println!(
            "scaling, {} → {} steps (width 10 → 100, depth 10), {}, per step: {}, {}",
            small.steps,
            large.steps,
            phase.name(),
            line("overhead", small.overhead_ms(phase), large.overhead_ms(phase)),
            line("CPU", small.cpu_ms(phase), large.cpu_ms(phase)),
        );
    }
}

fn bench() -> Result<()> {
    let bin = binary();
    let runs = env_count("BENCH_RUNS", 3)?;
    let large_runs = env_count("BENCH_LARGE_RUNS", 3)?;
    let jobs = std::env::var("BENCH_JOBS").ok();
    let jobs = jobs.as_deref();
    println!(
        "{} ({}), --jobs {}",
        bin.display(),
        String::from_utf8_lossy(&mlspec(&bin, Path::new("."), &["--version"])?.stdout).trim(),
        jobs.unwrap_or("default (the number of cores)")
    );
    let chain = measure(&bin, CHAIN, runs, jobs)?;
    let fan_out = measure(&bin, FAN_OUT, runs, jobs)?;
    let large = measure(&bin, LARGE, large_runs, jobs)?;
    report_scaling(&fan_out, &large);
    if let Ok(path) = std::env::var("BENCH_JSON") {
        let results = json!({
            "jobs": jobs,
            "chain": chain.json(),
            "fan-out": fan_out.json(),
            "dag-1000": large.json(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {path}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pipeline bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! `mlspec monitor LOG --policy FILE`: a recorded inference log monitored offline with the same
//! signals, windows and reports as the live gateway; `mlspec monitor feedback ADDR|LOG --labels
//! FILE`: delayed labels joined to logged requests by request id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_gateway::monitor::WindowReport;
use mlspec_gateway::protocol::{Protocol, Scalar};
use mlspec_gateway::replay::{Replay, replay};
use mlspec_spec::Document;
use mlspec_spec::kinds::{Comparison, MonitoringPolicySpec, Signal, SignalType, Threshold};
use mlspec_spec::newtypes::{DurationText, Key, Name, ShortText};

use crate::documents::document_text;
use crate::monitoring::{Policy, load, read_labels};
use crate::store::{LazyStore, StoreChoice, block_on, record};
use mlspec_spec::validate::Encoding;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    replay: ReplayArgs,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Join delayed labels to logged requests by request id: sent to a running gateway
    /// (ADDR), whose live performance signals use them; or joined to a recorded log (LOG, with
    /// its --capture), each window's performance reported.
    Feedback(FeedbackArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The inference log `mlspec serve` (or `log append`) wrote.
    #[arg(required = true)]
    log: Option<PathBuf>,
    /// The MonitoringPolicy whose signals are evaluated.
    #[arg(long, value_name = "FILE", required = true)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct Common {
    /// The training DataProfile drift is measured against (default: the policy's `baseline`,
    /// from the store).
    #[arg(long, value_name = "PROFILE")]
    baseline: Option<PathBuf>,
    /// The bodies the gateway kept (`serve --capture`): needed for drift, prediction drift and
    /// performance (a body is used only when its digest is the log line's).
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// Delayed labels by request id (CSV/Parquet with `rid` and `label` columns, JSON or JSON
    /// Lines), for performance signals.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// How features and predictions are read from the captured bodies: oip, tfserving, mlflow
    /// or json (default: by each request's path).
    #[arg(long, value_name = "PROTOCOL", value_parser = crate::monitoring::protocol)]
    protocol: Option<Protocol>,
    /// Also write the reports here (YAML documents).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Do not record the reports in the store.
    #[arg(long)]
    no_record: bool,
}

#[derive(clap::Args)]
struct FeedbackArgs {
    /// A running gateway (HOST:PORT) or a recorded log file.
    target: String,
    /// The labels.
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,
    /// For a log: the policy (default: accuracy, precision, recall and F1 for categorical
    /// labels, MAE and RMSE for numeric ones, per --window).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// For a log without --policy: the window performance is reported over.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    window: String,
    /// For a log: the bodies the gateway kept (`serve --capture`).
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// For a log: also write the reports here (YAML documents).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// For a log: do not record the reports in the store.
    #[arg(long)]
    no_record: bool,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(Command::Feedback(feedback)) => feedback_run(feedback, choice),
        None => {
            let (Some(log), Some(policy)) = (args.replay.log, args.replay.policy) else {
                bail!("give the LOG and its --policy");
            };
            block_on(offline(&log, Source::Policy(policy), &args.replay.common, choice))
        }
    }
}

/// Where the signals come from: a policy file, or (feedback without one) performance only.
enum Source {
    Policy(PathBuf),
    Performance(Box<MonitoringPolicySpec>),
}

async fn offline(log: &Path, source: Source, common: &Common, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    let mut policy = match source {
        Source::Policy(path) => load(&path, common.baseline.as_deref(), common.protocol, &mut store).await?,
        Source::Performance(spec) => {
            let policy = Policy::compile(Name::new("feedback")?, *spec, None, "the feedback policy")?;
            match common.protocol {
                Some(protocol) => Policy {
                    watch: policy.watch.with_protocol(protocol),
                    ..policy
                },
                None => policy,
            }
        }
    };
    let capture = match capture_path(log, common.capture.as_deref()) {
        Some(path) => {
            let path = &path;
            let (records, problems) = mlspec_gateway::capture::read(path)?;
            for problem in problems.iter().take(5) {
                errln!("warning: {problem}");
            }
            Some(records)
        }
        None => None,
    };
    let labels: HashMap<String, Scalar> = match &common.labels {
        Some(path) => read_labels(path)?,
        None => HashMap::new(),
    };
    let replayed = replay(log, capture.as_ref(), &labels, &mut policy.watch)?;
    say_what_was_read(log, &replayed, common);
    let documents = documents(&policy.name, log, &replayed);
    print_reports(&replayed.reports);
    if let Some(out) = &common.out {
        let texts: Vec<String> = documents
            .iter()
            .map(|d| document_text(d, Encoding::Yaml))
            .collect::<Result<_, _>>()?;
        crate::files::write_whole(out, texts.join("---\n").as_bytes(), None)?;
    }
    if !common.no_record && !documents.is_empty() {
        record(&mut store, documents).await?;
    }
    let breached = replayed.reports.iter().any(|r| !r.breached.is_empty());
    Ok(if breached { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The capture file: the one given, else `LOG.capture.jsonl` when it exists.
fn capture_path(log: &Path, given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(path) => Some(path.to_owned()),
        None => Some(mlspec_gateway::capture::default_path(log)).filter(|p| p.is_file()),
    }
}

fn say_what_was_read(log: &Path, replayed: &Replay, common: &Common) {
    errln!(
        "{}: {} lines, {} requests replayed{}",
        log.display(),
        replayed.lines,
        replayed.requests,
        match capture_path(log, common.capture.as_deref()) {
            Some(_) => format!(", {} with their captured bodies", replayed.captured),
            None => " (no --capture: drift, prediction drift and performance cannot be computed)".into(),
        }
    );
    if replayed.mismatched > 0 {
        errln!(
            "warning: {} captured bodies are not the ones the log's digests name; they were not used",
            replayed.mismatched
        );
    }
    if replayed.unreadable_count > 0 {
        errln!("warning: {} lines could not be read:", replayed.unreadable_count);
        for line in &replayed.unreadable {
            errln!("  {line}");
        }
    }
    if common.labels.is_some() {
        let (count, examples) = &replayed.labels_unmatched;
        errln!(
            "labels: {} joined to a request, {count} matched no request{}",
            replayed.labels_matched,
            match examples.is_empty() {
                true => String::new(),
                false => format!(
                    " (e.g. {})",
                    examples.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                ),
            }
        );
    }
}

/// The reports as documents, named `POLICY-ROUTE-END`, their source the log's lines.
fn documents(policy: &Name, log: &Path, replayed: &Replay) -> Vec<Document> {
    let source = format!(
        "{}:1-{}",
        log.file_name()
            .map_or_else(|| log.display().to_string(), |n| n.to_string_lossy().into_owned()),
        replayed.lines
    );
    replayed
        .reports
        .iter()
        .filter_map(|window| {
            let mut report = window.report.clone();
            report.source = ShortText::new(source.as_str()).ok();
            mlspec_gateway::watcher::report_document(policy, &window.route, report)
        })
        .collect()
}

fn print_reports(reports: &[WindowReport]) {
    let mut rows = Vec::new();
    for window in reports {
        let end = window.report.window_end.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
        for signal in &window.report.signals {
            rows.push(vec![
                end.clone(),
                window.route.clone(),
                signal.name.to_string(),
                format!("{:.4}", signal.value),
                format!(
                    "{} {}",
                    serde_json::to_value(signal.threshold.op)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    signal.threshold.value
                ),
                signal.samples.map_or_else(String::new, |n| n.to_string()),
                if signal.breached {
                    "BREACHED".into()
                } else {
                    "ok".into()
                },
            ]);
        }
        for skipped in &window.report.skipped {
            rows.push(vec![
                end.clone(),
                window.route.clone(),
                skipped.name.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("skipped: {}", skipped.reason),
            ]);
        }
    }
    outln!(
        "{}",
        crate::table::render(
            &[
                "WINDOW END",
                "ROUTE",
                "SIGNAL",
                "VALUE",
                "BREACHED IF",
                "SAMPLES",
                "RESULT"
            ],
            &rows
        )
        .trim_end()
    );
}

fn feedback_run(args: FeedbackArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let labels = read_labels(&args.labels)?;
    if !Path::new(&args.target).exists() && args.target.contains(':') {
        return send(&args.target, &labels);
    }
    let common = Common {
        baseline: None,
        protocol: None,
        capture: args.capture.clone(),
        labels: Some(args.labels.clone()),
        out: args.out.clone(),
        no_record: args.no_record,
    };
    if capture_path(Path::new(&args.target), args.capture.as_deref()).is_none() {
        bail!(
            "{}: the predictions are in the capture file the gateway kept (`serve --capture`); give it with --capture FILE",
            args.target
        );
    }
    let source = match args.policy {
        Some(policy) => Source::Policy(policy),
        None => Source::Performance(Box::new(performance_policy(&labels, &args.window)?)),
    };
    block_on(offline(Path::new(&args.target), source, &common, choice))
}

/// Sends the labels to a running gateway.
fn send(addr: &str, labels: &HashMap<String, Scalar>) -> anyhow::Result<ExitCode> {
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    let body = serde_json::json!({
        "labels": labels.iter().map(|(rid, label)| serde_json::json!({ "rid": rid, "label": label_json(label) })).collect::<Vec<_>>()
    });
    let response = mlspec_server::probe::post(
        addr,
        "/_mlspec/feedback",
        body.to_string().as_bytes(),
        Duration::from_secs(60),
    )
    .with_context(|| format!("cannot reach the gateway at {addr}: is `mlspec serve` running there?"))?;
    let answer: serde_json::Value = serde_json::from_str(&response.body).with_context(|| {
        format!(
            "{addr} answered {} with something other than JSON: is it a gateway?",
            response.status
        )
    })?;
    if response.status != 200 {
        bail!(
            "{addr} refused the labels: {} (HTTP {})",
            answer["error"].as_str().unwrap_or("no reason given"),
            response.status
        );
    }
    let matched = answer["matched"].as_u64().unwrap_or(0);
    let unmatched = labels.len() as u64 - matched;
    outln!("{matched} labels joined to a request, {unmatched} matched no request the gateway keeps");
    let examples: Vec<&str> = answer["unmatchedExamples"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .take(5)
        .collect();
    if !examples.is_empty() {
        outln!("  e.g. {}", examples.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn label_json(label: &Scalar) -> serde_json::Value {
    match label {
        Scalar::Number(n) => serde_json::json!(n),
        Scalar::Text(t) => serde_json::json!(t),
        Scalar::Bool(b) => serde_json::json!(b),
        Scalar::Missing => serde_json::Value::Null,
    }
}

/// A policy that only reports performance: classification metrics for categorical (or
/// whole-number) labels, regression metrics otherwise; never breached.
fn performance_policy(labels: &HashMap<String, Scalar>, window: &str) -> anyhow::Result<MonitoringPolicySpec> {
    let numeric = labels
        .values()
        .any(|l| matches!(l, Scalar::Number(n) if n.fract() != 0.0));
    let never = |op: Comparison| Threshold {
        op,
        value: if op == Comparison::Gt { f64::MAX } else { f64::MIN },
    };
    let metrics: &[(&str, Comparison)] = match numeric {
        true => &[("mae", Comparison::Gt), ("rmse", Comparison::Gt)],
        false => &[
            ("accuracy", Comparison::Lt),
            ("precision", Comparison::Lt),
            ("recall", Comparison::Lt),
            ("f1", Comparison::Lt),
        ],
    };
    let window = DurationText::new(window).map_err(|e| anyhow::anyhow!("--window: {e}"))?;
    let signals = metrics
        .iter()
        .map(|(metric, op)| {
            Ok(Signal {
                name: Name::new(*metric)?,
                signal_type: SignalType::Performance,
                metric: Some(Key::new(*metric)?),
                feature: None,
                threshold: never(*op),
                window: window.clone(),
                interval: None,
                min_requests: None,
                route: None,
            })
        })
        .collect::<anyhow::Result<Vec<Signal>>>()?;
    Ok(MonitoringPolicySpec {
        target: "ModelPackage/served".parse()?,
        baseline: None,
        signals,
        rollback: None,
        columns: Vec::new(),
    })
}

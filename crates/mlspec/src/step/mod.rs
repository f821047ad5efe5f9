//! `mlspec step`: any command as a well-behaved, recorded MLSpec step.
//!
//! While the command runs, the step serves the standard endpoints (mlspec-server) and collects
//! the metrics the command reports (HTTP posts to `$MLSPEC_STEP_URL/api/v1/metrics`, or JSON
//! lines appended to `$MLSPEC_METRICS_FILE`). When it ends, a Run is recorded — in the store
//! when one is in use, else (or when the store cannot be reached) in the spool for
//! `mlspec step flush`.

pub mod logs;
pub mod record;
pub mod spool;

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mlspec_server::{Phase, StepInfo, StepState};
use mlspec_spec::kinds::{ResourceUsage, RunStatus};
use mlspec_spec::values::{ParamValue, Params};
use mlspec_spec::{ObjectId, Ref};
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt as _;
use tokio::signal::unix::{SignalKind, signal};

use self::logs::Captured;
use self::record::{Ending, RunFacts};
use crate::store::{StoreChoice, actor};

/// What to run and how to record it.
pub struct Plan {
    pub name: String,
    pub module: Option<Ref>,
    pub params: Params,
    pub inputs: Vec<Ref>,
    pub outputs: Vec<PathBuf>,
    pub listen: String,
    pub addr_file: Option<PathBuf>,
    pub log_limit: u64,
    pub command: Vec<String>,
}

/// Environment variables `/varz` shows (secrets redacted).
const ENV_ALLOW: &[&str] = &[
    "HOSTNAME",
    "USER",
    "LANG",
    "TZ",
    "PATH",
    "PWD",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "KUBERNETES_SERVICE_HOST",
    "POD_NAME",
    "POD_NAMESPACE",
    "NODE_NAME",
    "ARGO_WORKFLOW_NAME",
    "ARGO_NODE_ID",
    "KFP_POD_NAME",
    "AIRFLOW_CTX_DAG_ID",
    "AIRFLOW_CTX_TASK_ID",
];
/// Prefixes of allow-listed variables.
const ENV_ALLOW_PREFIXES: &[&str] = &["MLSPEC_", "SLURM_", "ARGO_", "AIRFLOW_CTX_"];
/// The allow-listed environment, secrets redacted (`mlspec_spec::redact`): the value of a
/// secret-looking name entirely, a password or signature inside any other value.
pub fn visible_env(vars: impl Iterator<Item = (String, String)>) -> std::collections::BTreeMap<String, String> {
    vars.filter(|(name, _)| {
        ENV_ALLOW.contains(&name.as_str()) || ENV_ALLOW_PREFIXES.iter().any(|p| name.starts_with(p))
    })
    .map(|(name, value)| {
        let value = mlspec_spec::redact::redact_env(&name, &value);
        (name, value)
    })
    .collect()
}

/// Runs the step; the exit code is the command's (128 + N when signal N ended it), 2 when it
/// could not be started.
pub async fn run(plan: Plan, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    // The store, when one is in use and reachable now; the Run is spooled otherwise.
    let store = choice.open().await;
    if let Ok(store) = &store {
        check_references(&plan, store.as_ref()).await?;
    }
    let run_id = ObjectId::generate();
    let state = Arc::new(StepState::new(step_info(&plan, &run_id)));
    let listener = tokio::net::TcpListener::bind(&plan.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is the address in use? choose another with --listen",
            plan.listen
        )
    })?;
    let addr = listener.local_addr()?;
    errln!(
        "mlspec step: {} serving http://{addr}/ok /varz /metrics (run {run_id})",
        plan.name
    );
    if let Some(file) = &plan.addr_file {
        write_atomically(file, &addr.to_string())?;
    }
    // No Nagle delay: a response's last segment goes out at once.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(axum::serve(listener, mlspec_server::router(state.clone())).into_future());
    let log_dir = spool::state_dir().join("logs").join(run_id.as_str());
    std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
    let metrics_file = log_dir.join("metrics.jsonl");
    std::fs::write(&metrics_file, b"").with_context(|| format!("cannot create {}", metrics_file.display()))?;

    let started = chrono::Utc::now();
    let mut cursor = Cursor::default();
    let url = format!("http://{addr}");
    let (ending, logs, ran) = supervise(&plan, &state, &url, &run_id, &log_dir, (&metrics_file, &mut cursor)).await;
    let ending = Ending {
        started,
        ended: chrono::Utc::now(),
        ..ending
    };
    read_metrics_file(&metrics_file, &state, &mut cursor).await;
    server.abort();

    let facts = RunFacts {
        run_id: &run_id,
        step: &plan.name,
        module: plan.module.as_ref(),
        params: &plan.params,
        inputs: &plan.inputs,
        outputs: &plan.outputs,
        command: &plan.command,
        metrics: state.history(),
        logs: &logs,
    };
    let (documents, warnings) = record::documents(facts, &ending)?;
    for warning in warnings {
        errln!("warning: {warning}");
    }
    save(&documents, &run_id, store).await?;
    Ok(if ran { exit_code(&ending) } else { ExitCode::from(2) })
}

/// Refuses unknown --module and --input references before anything runs.
async fn check_references(plan: &Plan, store: &dyn mlspec_store::Store) -> anyhow::Result<()> {
    for reference in plan.module.iter().chain(&plan.inputs) {
        store
            .get(&reference.into())
            .await
            .with_context(|| format!("--input/--module {reference}: nothing was run"))?;
    }
    Ok(())
}

fn step_info(plan: &Plan, run_id: &ObjectId) -> StepInfo {
    let params = plan
        .params
        .0
        .iter()
        .map(|(k, v)| {
            let value = match v {
                ParamValue::Number(n) => serde_json::json!(n),
                ParamValue::String(s) => serde_json::json!(s),
            };
            (k.as_str().to_owned(), value)
        })
        .collect();
    StepInfo {
        name: plan.name.clone(),
        run_id: run_id.as_str().to_owned(),
        module: plan.module.as_ref().map(ToString::to_string),
        params,
        command: plan.command.clone(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        env: visible_env(std::env::vars()),
    }
}

/// Starts the command, passes its output through, forwards signals and waits for it; false
/// when it could not be started.
async fn supervise(
    plan: &Plan,
    state: &Arc<StepState>,
    url: &str,
    run_id: &ObjectId,
    log_dir: &Path,
    (metrics_file, cursor): (&Path, &mut Cursor),
) -> (Ending, Vec<Captured>, bool) {
    let now = chrono::Utc::now();
    let failed = |code: i32| Ending {
        status: RunStatus::Failed,
        exit_code: Some(code),
        signal: None,
        started: now,
        ended: now,
        resources: None,
    };
    let mut child = match tokio::process::Command::new(&plan.command[0])
        .args(&plan.command[1..])
        .env("MLSPEC_STEP_URL", url)
        .env("MLSPEC_METRICS_FILE", metrics_file)
        .env("MLSPEC_RUN_ID", run_id.as_str())
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            // A shell's codes: 127 not found, 126 found but not runnable.
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let reason = format!("cannot run `{}`: {error}", plan.command[0]);
            errln!("error: {reason}");
            state.exited(None, Phase::Failed { reason });
            return (failed(code), Vec::new(), false);
        }
    };
    state.started(child.id().unwrap_or_default());
    let stdout = child.stdout.take().map(|out| {
        let path = log_dir.join("stdout.log");
        let cap = plan.log_limit;
        tokio::spawn(async move { logs::capture("stdout", out, tokio::io::stdout(), &path, cap).await })
    });
    let stderr = child.stderr.take().map(|err| {
        let path = log_dir.join("stderr.log");
        let cap = plan.log_limit;
        tokio::spawn(async move { logs::capture("stderr", err, tokio::io::stderr(), &path, cap).await })
    });
    let (status, forwarded) = wait_forwarding_signals(&mut child, state, metrics_file, cursor).await;
    let mut captured = Vec::new();
    for task in [stdout, stderr].into_iter().flatten() {
        // A grandchild may hold the pipe open after the command exits: do not wait for ever.
        if let Ok(Ok(Ok(log))) = tokio::time::timeout(Duration::from_secs(2), task).await {
            captured.push(log);
        }
    }
    let ending = classify(status, forwarded, state);
    (
        Ending {
            resources: child_resources(),
            ..ending
        },
        captured,
        true,
    )
}

async fn wait_forwarding_signals(
    child: &mut tokio::process::Child,
    state: &Arc<StepState>,
    metrics_file: &Path,
    cursor: &mut Cursor,
) -> (std::io::Result<std::process::ExitStatus>, Option<Signal>) {
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return (child.wait().await, None);
    };
    let mut forwarded = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let signal = tokio::select! {
            status = child.wait() => return (status, forwarded),
            _ = interrupt.recv() => Signal::SIGINT,
            _ = terminate.recv() => Signal::SIGTERM,
            _ = tick.tick() => {
                read_metrics_file(metrics_file, state, cursor).await;
                continue;
            }
        };
        forwarded = Some(signal);
        state.set_phase(Phase::ShuttingDown {
            reason: format!("received {signal}"),
        });
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }
}

fn classify(status: std::io::Result<std::process::ExitStatus>, forwarded: Option<Signal>, state: &StepState) -> Ending {
    let now = chrono::Utc::now();
    let mut ending = Ending {
        status: RunStatus::Finished,
        exit_code: None,
        signal: None,
        started: now,
        ended: now,
        resources: None,
    };
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            state.exited(
                None,
                Phase::Failed {
                    reason: format!("lost the command: {error}"),
                },
            );
            return Ending {
                status: RunStatus::Failed,
                exit_code: Some(1),
                ..ending
            };
        }
    };
    let signal = forwarded.or_else(|| status.signal().and_then(|n| Signal::try_from(n).ok()));
    match (signal, status.code()) {
        (Some(signal), code) => {
            ending.status = RunStatus::Killed;
            ending.signal = Some(signal.as_str().to_owned());
            state.exited(
                code,
                Phase::Failed {
                    reason: format!("killed by {signal}"),
                },
            );
        }
        (None, Some(0)) => state.exited(Some(0), Phase::Finished),
        (None, code) => {
            let code = code.unwrap_or(1);
            ending.status = RunStatus::Failed;
            ending.exit_code = Some(code);
            state.exited(
                Some(code),
                Phase::Failed {
                    reason: format!("the command exited with code {code}"),
                },
            );
        }
    }
    ending
}

/// CPU time and peak memory of the command (and anything it waited for), from the kernel's
/// accounting of this process's reaped children — the step's only child.
fn child_resources() -> Option<ResourceUsage> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).ok()?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(ResourceUsage {
        cpu_seconds: Some(seconds(usage.user_time()) + seconds(usage.system_time())),
        peak_memory_bytes: u64::try_from(usage.max_rss()).ok().map(|kib| kib * 1024),
    })
}

/// How far the metrics file has been read: bytes and lines.
#[derive(Default)]
struct Cursor {
    offset: u64,
    line: usize,
}

/// Reads the complete lines appended to the metrics file since `cursor`.
async fn read_metrics_file(path: &Path, state: &StepState, cursor: &mut Cursor) {
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return;
    };
    let mut text = Vec::new();
    if tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(cursor.offset))
        .await
        .is_err()
        || file.read_to_end(&mut text).await.is_err()
    {
        return;
    }
    let Some(end) = text.iter().rposition(|b| *b == b'\n') else {
        return;
    };
    cursor.offset += end as u64 + 1;
    for line in text[..end].split(|b| *b == b'\n') {
        cursor.line += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match mlspec_server::parse_metrics(line) {
            Ok(metrics) => state.report(metrics),
            Err(reason) => errln!("warning: {}: line {}: {reason}", path.display(), cursor.line),
        }
    }
}

/// Records the documents in the store, or spools them when there is none or it fails.
async fn save(
    documents: &[mlspec_spec::Document],
    run_id: &ObjectId,
    store: Result<Box<dyn mlspec_store::Store>, mlspec_store::StoreError>,
) -> anyhow::Result<()> {
    let result = match &store {
        Ok(store) => store
            .apply(documents, &actor())
            .await
            .map(|_| store.location().to_string()),
        Err(error) => Err(error.clone()),
    };
    match result {
        Ok(location) => errln!("mlspec step: recorded Run {run_id} in {location}"),
        Err(error) => {
            let path = spool::write(run_id.as_str(), documents)?;
            errln!(
                "mlspec step: the Run was not stored ({error}); it waits in {}: send it with `mlspec step flush`",
                path.display()
            );
        }
    }
    Ok(())
}

fn exit_code(ending: &Ending) -> ExitCode {
    let code = match (ending.status, ending.exit_code, ending.signal.as_deref()) {
        (RunStatus::Finished, ..) => 0,
        (_, _, Some(signal)) => 128 + signal.parse::<Signal>().map_or(0, |s| s as i32),
        (_, Some(code), None) => code,
        _ => 1,
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}

//! `mlspec step`: any command as a well-behaved, recorded MLSpec step.
//!
//! While the command runs, the step serves the standard endpoints (mlspec-server) and collects
//! the metrics the command reports (HTTP posts to `$MLSPEC_STEP_URL/api/v1/metrics`, or JSON
//! lines appended to `$MLSPEC_METRICS_FILE`). When it ends, a Run is recorded — in the store
//! when one is in use, else (or when the store cannot be reached) in the spool for
//! `mlspec step flush`.

pub mod logs;
mod metrics_file;
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
use mlspec_spec::values::Params;
use mlspec_spec::{Kind, ObjectId, Ref};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use self::logs::Captured;
use self::metrics_file::Tail;
use self::record::{Ending, RunFacts};
use crate::store::{StoreChoice, actor};

/// What to run and how to record it.
pub struct Plan {
    pub name: String,
    pub module: Option<Ref>,
    pub params: Params,
    pub inputs: Vec<Ref>,
    pub outputs: Vec<PathBuf>,
    pub run_id: Option<ObjectId>,
    pub parent: Option<Ref>,
    pub cache_key: Option<mlspec_spec::newtypes::Digest>,
    /// Where to write the documents instead of the store.
    pub record_to: Option<PathBuf>,
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
const ENV_ALLOW_PREFIXES: &[&str] = &[crate::env::PREFIX, "SLURM_", "ARGO_", "AIRFLOW_CTX_"];
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
    // The store, when one is in use and answers in time; the Run is spooled otherwise. It is
    // opened beside the command unless references must be checked before it runs.
    let mut opening = Opening {
        handle: plan.record_to.is_none().then(|| {
            let choice = choice.clone();
            tokio::spawn(async move { choice.open().await })
        }),
        opened: None,
    };
    let has_references = plan.record_to.is_none() && (plan.module.is_some() || !plan.inputs.is_empty());
    if has_references && let Ok(store) = opening.wait().await {
        check_references(&plan, store.as_ref()).await?;
    }
    let limits = mlspec_server::ServeLimits::from_env().map_err(anyhow::Error::msg)?;
    let run_id = plan.run_id.clone().unwrap_or_else(ObjectId::generate);
    let state = Arc::new(StepState::new(step_info(&plan, &run_id)));
    let listener = tokio::net::TcpListener::bind(&plan.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is the address in use? choose another with --listen",
            plan.listen
        )
    })?;
    let addr = listener.local_addr()?;
    errln!(
        "mlspec step: {} serving http://{addr}/ok /varz /metrics (Run {}, id {run_id})",
        plan.name,
        record::run_name(&plan.name, &run_id)?
    );
    // Listening for SIGINT/SIGTERM from before anyone can know the step's address, so that
    // none sent after it is lost.
    let mut signals = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
    if let Some(file) = &plan.addr_file {
        crate::files::write_whole(file, addr.to_string().as_bytes(), Some(&crate::files::ADDRESS))?;
    }
    let server = tokio::spawn(mlspec_server::serve::serve(
        listener,
        mlspec_server::router(state.clone()),
        limits,
    ));
    let log_dir = spool::state_dir().join("logs").join(run_id.as_str());
    std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
    let metrics_file = log_dir.join("metrics.jsonl");
    std::fs::write(&metrics_file, b"").with_context(|| format!("cannot create {}", metrics_file.display()))?;

    let started = chrono::Utc::now();
    let mut tail = Tail::new(&metrics_file);
    let url = format!("http://{addr}");
    let (ending, logs, ran) = supervise(
        &plan,
        (&state, &mut signals),
        &url,
        &run_id,
        &log_dir,
        (&metrics_file, &mut tail),
    )
    .await;
    let ending = Ending {
        started,
        ended: chrono::Utc::now(),
        ..ending
    };
    tail.read(&state, true).await;
    server.abort();

    let facts = RunFacts {
        run_id: &run_id,
        step: &plan.name,
        module: plan.module.as_ref(),
        parent: plan.parent.as_ref(),
        cache_key: plan.cache_key.as_ref(),
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
    match &plan.record_to {
        // For the runner that started this step, which reads it as soon as the step exits: not
        // synced to disk (after a crash the step is simply run again).
        Some(file) => std::fs::write(file, serde_json::to_vec(&documents)?)
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => {
            opening.wait().await;
            save(&documents, &run_id, opening.opened.unwrap_or_else(|| Err(not_opened()))).await?;
        }
    }
    Ok(if ran { exit_code(&ending) } else { ExitCode::from(2) })
}

type Opened = Result<Box<dyn mlspec_store::Store>, mlspec_store::StoreError>;

/// The store, being opened beside the command.
struct Opening {
    handle: Option<tokio::task::JoinHandle<Opened>>,
    opened: Option<Opened>,
}

impl Opening {
    async fn wait(&mut self) -> &Opened {
        if let Some(handle) = self.handle.take() {
            self.opened = Some(handle.await.unwrap_or_else(|_| Err(not_opened())));
        }
        self.opened.get_or_insert_with(|| Err(not_opened()))
    }
}

fn not_opened() -> mlspec_store::StoreError {
    mlspec_store::StoreError::new(mlspec_store::ErrorKind::Internal, "opening the store failed")
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
        .map(|(k, v)| (k.as_str().to_owned(), serde_json::json!(v)))
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

/// SIGINT and SIGTERM, as listened for.
type Signals = (
    std::io::Result<tokio::signal::unix::Signal>,
    std::io::Result<tokio::signal::unix::Signal>,
);

/// Starts the command, passes its output through, forwards signals and waits for it; false
/// when it could not be started.
async fn supervise(
    plan: &Plan,
    (state, signals): (&Arc<StepState>, &mut Signals),
    url: &str,
    run_id: &ObjectId,
    log_dir: &Path,
    (metrics_file, tail): (&Path, &mut Tail),
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
        .env(crate::env::STEP_URL, url)
        .env(crate::env::METRICS_FILE, metrics_file)
        .env(crate::env::RUN_ID, run_id.as_str())
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
    let (status, forwarded) = wait_forwarding_signals(&mut child, state, signals, tail).await;
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
    signals: &mut Signals,
    tail: &mut Tail,
) -> (std::io::Result<std::process::ExitStatus>, Option<Signal>) {
    let (Ok(interrupt), Ok(terminate)) = signals else {
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
                tail.read(state, false).await;
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

/// Records the documents in the store, or spools them when there is none or it fails.
async fn save(
    documents: &[mlspec_spec::Document],
    run_id: &ObjectId,
    store: Result<Box<dyn mlspec_store::Store>, mlspec_store::StoreError>,
) -> anyhow::Result<()> {
    let result = match &store {
        Ok(store) => apply_in_time(store.as_ref(), documents).await,
        Err(error) => Err(error.clone()),
    };
    match result {
        Ok(location) => {
            let name = documents
                .iter()
                .find(|d| d.kind() == Kind::Run)
                .map_or("", |d| d.metadata.name.as_str());
            errln!("mlspec step: recorded Run {name} (id {run_id}) in {location}");
        }
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

/// Applies the documents, giving up when the store does not answer within the timeouts.
async fn apply_in_time(
    store: &dyn mlspec_store::Store,
    documents: &[mlspec_spec::Document],
) -> Result<String, mlspec_store::StoreError> {
    let limit = mlspec_store::Timeouts::from_env()?.operation();
    match tokio::time::timeout(limit, store.apply(documents, &actor())).await {
        Ok(applied) => applied.map(|_| store.location().to_string()),
        Err(_) => Err(mlspec_store::StoreError::new(
            mlspec_store::ErrorKind::Unavailable,
            format!(
                "the store at {} did not answer within {} s",
                store.location(),
                limit.as_secs_f64()
            ),
        )),
    }
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

//! `mlspec step`: any command as a well-behaved, recorded MLSpec step.
//!
//! While the command runs, the step serves the standard endpoints (mlspec-server) and collects
//! the metrics the command reports (HTTP posts to `$MLSPEC_STEP_URL/api/v1/metrics`, or JSON
//! lines appended to `$MLSPEC_METRICS_FILE`). When it ends, a Run is recorded — in the store
//! when one is in use, else (or when the store cannot be reached) in the spool for
//! `mlspec step flush`.

mod child;
pub mod logs;
mod metrics_file;
pub mod record;
pub mod spool;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mlspec_server::{Phase, StepInfo, StepState};
use mlspec_spec::kinds::RunStatus;
use mlspec_spec::values::Params;
use mlspec_spec::{Kind, ObjectId, Ref};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

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

/// The most bytes of each of a command's stdout and stderr kept in its log files, unless told.
pub const DEFAULT_LOG_LIMIT: u64 = 64 * 1024 * 1024;

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
    // Listening for SIGINT/SIGTERM from before anyone can know the step's address, so that
    // none sent after it is lost.
    let signals = os_signals();
    let setting = Setting {
        dir: std::env::current_dir().context("cannot read the current directory")?,
        env: BTreeMap::new(),
        state_dir: spool::state_dir(),
        pass_through: true,
    };
    let serving = Serving::bind(&plan, &setting).await?;
    errln!(
        "mlspec step: {} serving http://{}/ok /varz /metrics (Run {}, id {})",
        plan.name,
        serving.addr,
        record::run_name(&plan.name, &serving.run_id)?,
        serving.run_id
    );
    if let Some(file) = &plan.addr_file {
        crate::files::write_whole(file, serving.addr.to_string().as_bytes(), Some(&crate::files::ADDRESS))?;
    }
    let run_id = serving.run_id.clone();
    let executed = serving.execute(&plan, &setting, signals).await?;
    for warning in &executed.warnings {
        errln!("warning: {warning}");
    }
    match &plan.record_to {
        // For the runner that started this step, which reads it as soon as the step exits: not
        // synced to disk (after a crash the step is simply run again).
        Some(file) => std::fs::write(file, serde_json::to_vec(&executed.documents)?)
            .with_context(|| format!("cannot write {}", file.display()))?,
        None => {
            opening.wait().await;
            let opened = opening.opened.unwrap_or_else(|| Err(not_opened()));
            save(&executed.documents, &run_id, opened).await?;
        }
    }
    Ok(if executed.ran {
        exit_code(&executed.ending)
    } else {
        ExitCode::from(2)
    })
}

/// PATH with the running mlspec's directory first: the commands of a pipeline's steps or a
/// search's trials that call `mlspec` call the same one. None when PATH is not UTF-8 (it is
/// then left as it is).
pub fn path_with_this_mlspec() -> anyhow::Result<Option<String>> {
    let exe = std::env::current_exe().context("cannot find the mlspec executable")?;
    let mut dirs: Vec<PathBuf> = exe.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    Ok(std::env::join_paths(dirs).ok().and_then(|path| path.into_string().ok()))
}

/// Where a step's command runs, and where its output goes besides the log files.
pub struct Setting {
    /// The command's working directory; output paths are recorded relative to it.
    pub dir: PathBuf,
    /// Variables set for the command besides this process's own.
    pub env: BTreeMap<String, String>,
    /// The state directory: logs and the metrics file go to `logs/<run id>/` in it.
    pub state_dir: PathBuf,
    /// Pass the command's stdin, stdout and stderr through (a step run by hand); otherwise
    /// stdin is empty and only the log files and the end of stderr are kept (a pipeline's step).
    pub pass_through: bool,
}

/// A step's endpoints, listening before its command starts.
pub struct Serving {
    pub run_id: ObjectId,
    pub addr: std::net::SocketAddr,
    state: Arc<StepState>,
    listener: tokio::net::TcpListener,
}

/// A step that ran (or could not start): its documents and how it ended.
pub struct Executed {
    /// The Run and an Artifact per output file written.
    pub documents: Vec<mlspec_spec::Document>,
    /// Outputs that could not be recorded, parameters recorded redacted.
    pub warnings: Vec<String>,
    /// False when the command could not be started.
    pub ran: bool,
    pub ending: Ending,
    /// The end of the command's stderr, when not passed through (for a failure's message).
    pub stderr_tail: String,
}

impl Serving {
    /// Binds the step's address (`plan.listen`).
    pub async fn bind(plan: &Plan, setting: &Setting) -> anyhow::Result<Serving> {
        let run_id = plan.run_id.clone().unwrap_or_else(ObjectId::generate);
        let state = Arc::new(StepState::new(step_info(plan, &run_id, &setting.env)));
        let listener = tokio::net::TcpListener::bind(&plan.listen).await.with_context(|| {
            format!(
                "cannot listen on {}: is the address in use? choose another with --listen",
                plan.listen
            )
        })?;
        Ok(Serving {
            run_id,
            addr: listener.local_addr()?,
            state,
            listener,
        })
    }

    /// What the command has reported so far, while it runs.
    pub fn state(&self) -> Arc<StepState> {
        self.state.clone()
    }

    /// Serves the endpoints while the command runs, passing on each signal `signals` delivers;
    /// then makes the step's documents.
    pub async fn execute(
        self,
        plan: &Plan,
        setting: &Setting,
        signals: watch::Receiver<Option<Signal>>,
    ) -> anyhow::Result<Executed> {
        let limits = mlspec_server::ServeLimits::from_env().map_err(anyhow::Error::msg)?;
        let Serving {
            run_id,
            addr,
            state,
            listener,
        } = self;
        let server = tokio::spawn(mlspec_server::serve::serve(
            listener,
            mlspec_server::router(state.clone()),
            limits,
        ));
        let log_dir = setting.state_dir.join("logs").join(run_id.as_str());
        std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
        let metrics_file = log_dir.join("metrics.jsonl");
        std::fs::write(&metrics_file, b"").with_context(|| format!("cannot create {}", metrics_file.display()))?;

        let started = chrono::Utc::now();
        let mut tail = Tail::new(&metrics_file);
        let watch = Watch {
            state: &state,
            signals,
            tail: &mut tail,
        };
        let command = Command {
            plan,
            setting,
            url: format!("http://{addr}"),
            run_id: &run_id,
            log_dir: &log_dir,
            metrics_file: &metrics_file,
        };
        let supervised = supervise(command, watch).await;
        let ending = Ending {
            started,
            ended: chrono::Utc::now(),
            ..supervised.ending
        };
        tail.read(&state, true).await;
        server.abort();

        let facts = RunFacts {
            run_id: &run_id,
            step: &plan.name,
            dir: &setting.dir,
            module: plan.module.as_ref(),
            parent: plan.parent.as_ref(),
            cache_key: plan.cache_key.as_ref(),
            params: &plan.params,
            inputs: &plan.inputs,
            outputs: &plan.outputs,
            command: &plan.command,
            metrics: state.history(),
            logs: &supervised.logs,
        };
        let (documents, warnings) = record::documents(facts, &ending)?;
        Ok(Executed {
            documents,
            warnings,
            ran: supervised.ran,
            ending,
            stderr_tail: supervised.stderr_tail,
        })
    }
}

/// SIGINT and SIGTERM sent to this process, as they come.
pub fn os_signals() -> watch::Receiver<Option<Signal>> {
    let (sender, receiver) = watch::channel(None);
    if let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    Some(()) = interrupt.recv() => Signal::SIGINT,
                    Some(()) = terminate.recv() => Signal::SIGTERM,
                    else => break,
                };
                if sender.send(Some(received)).is_err() {
                    break;
                }
            }
        });
    }
    receiver
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

/// What `/varz` shows: the environment is the command's (this process's, with the step's own
/// variables over it).
fn step_info(plan: &Plan, run_id: &ObjectId, env: &BTreeMap<String, String>) -> StepInfo {
    let params = plan
        .params
        .0
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), serde_json::json!(v)))
        .collect();
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    StepInfo {
        name: plan.name.clone(),
        run_id: run_id.as_str().to_owned(),
        module: plan.module.as_ref().map(ToString::to_string),
        params,
        command: plan.command.clone(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        env: visible_env(vars.into_iter()),
    }
}

/// The command to start, and where it reports.
struct Command<'a> {
    plan: &'a Plan,
    setting: &'a Setting,
    url: String,
    run_id: &'a ObjectId,
    log_dir: &'a Path,
    metrics_file: &'a Path,
}

impl Command<'_> {
    fn build(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.plan.command[0]);
        command
            .args(&self.plan.command[1..])
            .current_dir(&self.setting.dir)
            .envs(&self.setting.env)
            .env(crate::env::STEP_URL, &self.url)
            .env(crate::env::METRICS_FILE, self.metrics_file)
            .env(crate::env::RUN_ID, self.run_id.as_str())
            .stdin(if self.setting.pass_through {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// What the command is watched with while it runs: the step's state, the signals to pass on,
/// and the metrics file.
struct Watch<'a> {
    state: &'a Arc<StepState>,
    signals: watch::Receiver<Option<Signal>>,
    tail: &'a mut Tail,
}

/// How supervising the command went.
struct Supervised {
    ending: Ending,
    logs: Vec<Captured>,
    stderr_tail: String,
    /// False when it could not be started.
    ran: bool,
}

/// Starts the command, captures its output, passes signals on and waits for it.
async fn supervise(command: Command<'_>, mut watch: Watch<'_>) -> Supervised {
    let (mut child, pipes) = match child::Child::spawn(&mut command.build()) {
        Ok(started) => started,
        Err(error) => {
            // A shell's codes: 127 not found, 126 found but not runnable.
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let reason = format!("cannot run `{}`: {error}", command.plan.command[0]);
            if command.setting.pass_through {
                errln!("error: {reason}");
            }
            watch.state.exited(None, Phase::Failed { reason: reason.clone() });
            let now = chrono::Utc::now();
            return Supervised {
                ending: Ending {
                    status: RunStatus::Failed,
                    exit_code: Some(code),
                    signal: None,
                    started: now,
                    ended: now,
                    resources: None,
                },
                logs: Vec::new(),
                stderr_tail: reason,
                ran: false,
            };
        }
    };
    watch.state.started(child.id());
    let stderr_tail = logs::TailBuffer::default();
    let capturing = Capturing::start(&command, pipes, &stderr_tail);
    let (exit, forwarded) = wait_forwarding_signals(&mut child, &mut watch).await;
    let logs = capturing.finish().await;
    let resources = exit.as_ref().ok().map(|e| e.resources.clone());
    let ending = classify(exit.map(|e| e.status), forwarded, watch.state);
    Supervised {
        ending: Ending { resources, ..ending },
        logs,
        stderr_tail: stderr_tail.text(),
        ran: true,
    }
}

/// The tasks copying the command's stdout and stderr to the log files (and on).
struct Capturing {
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<Captured>>>,
}

impl Capturing {
    fn start(command: &Command<'_>, pipes: child::Pipes, stderr_tail: &logs::TailBuffer) -> Capturing {
        let cap = command.plan.log_limit;
        let pass_through = command.setting.pass_through;
        let mut tasks = Vec::new();
        if let Some(out) = pipes.stdout.and_then(|p| tokio::process::ChildStdout::from_std(p).ok()) {
            let path = command.log_dir.join("stdout.log");
            tasks.push(tokio::spawn(async move {
                if pass_through {
                    logs::capture("stdout", out, tokio::io::stdout(), &path, cap).await
                } else {
                    logs::capture("stdout", out, tokio::io::sink(), &path, cap).await
                }
            }));
        }
        if let Some(err) = pipes.stderr.and_then(|p| tokio::process::ChildStderr::from_std(p).ok()) {
            let path = command.log_dir.join("stderr.log");
            let tail = stderr_tail.clone();
            tasks.push(tokio::spawn(async move {
                if pass_through {
                    logs::capture("stderr", err, tokio::io::stderr(), &path, cap).await
                } else {
                    logs::capture("stderr", err, tail, &path, cap).await
                }
            }));
        }
        Capturing { tasks }
    }

    /// What was captured, once the streams end — or 2 s after the command did: a grandchild may
    /// hold a pipe open after the command exits.
    async fn finish(self) -> Vec<Captured> {
        let mut captured = Vec::new();
        for task in self.tasks {
            if let Ok(Ok(Ok(log))) = tokio::time::timeout(Duration::from_secs(2), task).await {
                captured.push(log);
            }
        }
        captured
    }
}

async fn wait_forwarding_signals(
    child: &mut child::Child,
    watch: &mut Watch<'_>,
) -> (std::io::Result<child::Exit>, Option<Signal>) {
    let mut forwarded = None;
    let mut listening = true;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let signal = tokio::select! {
            exit = child.wait() => return (exit, forwarded),
            changed = watch.signals.changed(), if listening => match (changed, *watch.signals.borrow_and_update()) {
                (Ok(()), Some(signal)) => signal,
                (Ok(()), None) => continue,
                (Err(_), _) => {
                    listening = false;
                    continue;
                }
            },
            _ = tick.tick() => {
                watch.tail.read(watch.state, false).await;
                continue;
            }
        };
        forwarded = Some(signal);
        watch.state.set_phase(Phase::ShuttingDown {
            reason: format!("received {signal}"),
        });
        child.signal(signal);
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

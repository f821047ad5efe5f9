//! `mlspec step run|status|flush`: run a command as a recorded step, probe a running step, send
//! spooled runs to the store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mlspec_spec::newtypes::{Digest, Key};
use mlspec_spec::values::ParamValue;
use mlspec_spec::{ObjectId, Ref};

use crate::step::{self, Plan, record, spool};
use crate::store::{StoreChoice, actor, block_on};

/// Run commands as MLSpec steps: serve /ok, /varz and /metrics while they run, record a Run.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StepCommand,
}

#[derive(clap::Subcommand)]
enum StepCommand {
    Run(Box<RunArgs>),
    Status(StatusArgs),
    Flush(FlushArgs),
}

/// Run COMMAND as a step. While it runs, http://ADDR serves /ok, /varz and /metrics, and the
/// command can report metrics by POSTing JSON to $MLSPEC_STEP_URL/api/v1/metrics or appending
/// JSON lines to $MLSPEC_METRICS_FILE. When it ends, a Run is recorded (status, times, CPU and
/// memory, params, inputs, outputs with digests, metrics, logs). Exits with the command's code
/// (128+N for signal N), or 2 when it cannot be started.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The step's name (default: the command's file name).
    #[arg(long)]
    name: Option<String>,
    /// The Module it runs, e.g. Module/train@1.
    #[arg(long, value_name = "REF")]
    module: Option<Ref>,
    /// A parameter (repeatable): numbers are recorded as numbers.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = record::parse_param)]
    params: Vec<(Key, ParamValue)>,
    /// What it reads (repeatable): a reference to a stored object.
    #[arg(long = "input", value_name = "REF")]
    inputs: Vec<Ref>,
    /// A file it writes (repeatable): recorded as an Artifact with its digest.
    #[arg(long = "output", value_name = "PATH")]
    outputs: Vec<PathBuf>,
    /// The id to record the Run under (default: a new one), for a runner that names the run
    /// before it starts (e.g. in OpenLineage events).
    #[arg(long, value_name = "ID")]
    run_id: Option<ObjectId>,
    /// The run it is part of (a pipeline's Run), recorded as the Run's `parent`.
    #[arg(long, value_name = "REF")]
    parent: Option<Ref>,
    /// The step's cache key, recorded as the Run's `cacheKey` (set by `mlspec pipeline run`).
    #[arg(long, value_name = "DIGEST")]
    cache_key: Option<Digest>,
    /// Write the Run and its Artifacts to FILE (a JSON array of documents) instead of the store,
    /// for a runner that records them itself; the store is then not opened at all.
    #[arg(long, value_name = "FILE")]
    record_to: Option<PathBuf>,
    /// Where to serve the endpoints.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: String,
    /// Also write the bound address to this file.
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
    /// The most bytes of each of stdout and stderr kept in the log files (the rest still
    /// reaches the terminal, and the Run records the full size).
    #[arg(long, default_value_t = step::DEFAULT_LOG_LIMIT, value_name = "BYTES")]
    log_limit: u64,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Ask a running step how it is: exit 0 healthy, 1 unhealthy, 2 unreachable.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The step's address, HOST:PORT (or http://HOST:PORT).
    addr: String,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// Send the runs waiting in the spool to the store.
#[derive(clap::Args)]
pub struct FlushArgs {}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        StepCommand::Run(args) => run_step(*args, choice),
        StepCommand::Status(args) => status(&args),
        StepCommand::Flush(_) => flush(choice),
    }
}

fn run_step(args: RunArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let name = args.name.clone().unwrap_or_else(|| {
        let program = std::path::Path::new(&args.command[0]);
        program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let plan = Plan {
        name: record::name_part(&name),
        module: args.module,
        params: record::params(args.params)?,
        inputs: args.inputs,
        outputs: args.outputs,
        run_id: args.run_id,
        parent: args.parent,
        cache_key: args.cache_key,
        record_to: args.record_to,
        listen: args.listen,
        addr_file: args.addr_file,
        log_limit: args.log_limit,
        command: args.command,
    };
    // Two workers: the endpoints stay responsive while output is being captured.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(step::run(plan, choice))
}

fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let addr = args.addr.trim_start_matches("http://").trim_end_matches('/');
    let timeout = Duration::from_secs(args.timeout.max(1));
    let (ok, varz) = match (
        mlspec_server::probe::get(addr, "/ok", timeout),
        mlspec_server::probe::get(addr, "/varz", timeout),
    ) {
        (Ok(ok), Ok(varz)) => (ok, varz),
        (Err(error), _) | (_, Err(error)) => {
            errln!("error: cannot reach a step at {addr}: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let varz: serde_json::Value = serde_json::from_str(&varz.body).unwrap_or_default();
    let state = varz["state"]["state"].as_str().unwrap_or("unknown");
    outln!(
        "{} ({}): {state}, up {:.1} s, run {}",
        varz["name"].as_str().unwrap_or("?"),
        addr,
        varz["uptimeSeconds"].as_f64().unwrap_or_default(),
        varz["runId"].as_str().unwrap_or("?")
    );
    if ok.status == 200 {
        Ok(ExitCode::SUCCESS)
    } else {
        outln!("unhealthy: {}", ok.body.trim());
        Ok(ExitCode::from(1))
    }
}

fn flush(choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let dir = spool::spool_dir();
    let pending = spool::pending(&dir)?;
    if pending.is_empty() {
        outln!("no spooled runs in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    block_on(async {
        let store = choice.open().await?;
        for path in &pending {
            let documents = spool::read(path)?;
            store.apply(&documents, &actor()).await?;
            std::fs::remove_file(path)?;
            outln!("sent {}", path.display());
        }
        outln!("{} spooled run(s) sent to {}", pending.len(), store.location());
        Ok(ExitCode::SUCCESS)
    })
}

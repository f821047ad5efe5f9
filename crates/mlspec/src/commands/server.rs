//! `mlspec server`: serve the store over HTTP — its REST API (`/api/v1/…`) and the standard
//! probes — until SIGINT or SIGTERM, then finish the requests in progress and exit. And
//! `mlspec server token create|list|revoke`, which manage the tokens it checks: the token
//! file keeps each token's SHA-256, never the token, and a running server rereads it when it
//! changes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_server::auth::{Auth, DEFAULT_FILE_NAME, Scope, TokenFile, read_file, tokens::created_text};
use mlspec_server::server::{DEFAULT_REQUEST_TIMEOUT, ServerConfig, server_info};
use mlspec_server::{ServeLimits, StepState};
use mlspec_store::Location;
use nix::fcntl::{Flock, FlockArg};

use crate::files::{Owned, write_whole};
use crate::store::StoreChoice;

/// Serve the store (--store, else the project's) over HTTP: the REST API at /api/v1 (its
/// OpenAPI document at /api/v1/openapi.json) and /ok /healthz /readyz /varz /metrics. Other
/// machines then use it with `--store http://HOST:PORT` (and MLSPEC_TOKEN when it has tokens).
/// See docs/server.md.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<ServerCommand>,
    #[command(flatten)]
    serve: ServeArgs,
    /// The token file: when it exists the server wants a token on every request but the
    /// probes. Default: server-tokens.json beside the served SQLite store (the project's
    /// .mlspec/), else in the state directory.
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The address to listen on; loopback only unless the server has tokens.
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "ADDR")]
    listen: SocketAddr,
    /// The longest one API request may take before it is stopped and answered 503.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_REQUEST_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    request_timeout: f64,
    /// Reads (get, list, search, history, lineage; MLflow's gets and searches) need no token;
    /// writes still do.
    #[arg(long)]
    allow_anonymous_read: bool,
    /// Where the MLflow artifact routes keep artifacts (default: `artifacts/` in the project's
    /// state directory, `.mlspec/`).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum ServerCommand {
    /// Manage the server's API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Make a token and print it (on stdout, this once: only its hash is kept).
    Create {
        /// Who uses it: recorded as the actor of every change made with it.
        #[arg(long)]
        name: String,
        /// read: get, list, search, history, lineage; write: also apply and lifecycle
        /// actions; admin: also store verify.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["read", "write", "admin"]))]
        scope: String,
    },
    /// List the tokens: name, scope, when made (never a token or its hash).
    List,
    /// Forget a token: a running server refuses it from its next request.
    Revoke {
        /// The token's name.
        name: String,
    },
}

fn seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.001..=86_400.0).contains(s))
        .ok_or_else(|| format!("`{text}` is not a number of seconds between 0.001 and 86400"))
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let explicit = args.token_file.is_some();
    let token_file = args.token_file.unwrap_or_else(|| default_token_file(choice));
    if let Some(ServerCommand::Token(command)) = args.command {
        return manage_tokens(command, &token_file);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args.serve, choice, &token_file, explicit))
}

/// `server-tokens.json` beside the served SQLite store (in a project, its `.mlspec/`), else
/// in the state directory.
fn default_token_file(choice: &StoreChoice) -> PathBuf {
    match choice.location() {
        Ok(Location::Sqlite(db)) => db.with_file_name(DEFAULT_FILE_NAME),
        _ => crate::step::spool::state_dir().join(DEFAULT_FILE_NAME),
    }
}

/// A token file, as `mlspec server token` writes it.
const TOKENS: Owned = Owned {
    what: "an mlspec server token file",
    looks_like: |start| start.contains(mlspec_server::auth::tokens::FILE_FORMAT),
};

fn manage_tokens(command: TokenCommand, file: &Path) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { name, scope } => create(file, &name, &scope)?,
        TokenCommand::List => list(file)?,
        TokenCommand::Revoke { name } => {
            let _lock = lock_directory(file)?;
            let mut tokens = existing(file)?;
            tokens.revoke(&name).map_err(anyhow::Error::msg)?;
            save(file, &tokens)?;
            errln!(
                "Revoked token `{name}` in {}; a running server refuses it from its next request",
                file.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn create(file: &Path, name: &str, scope: &str) -> anyhow::Result<()> {
    let scope: Scope = scope.parse().map_err(anyhow::Error::msg)?;
    let _lock = lock_directory(file)?;
    let mut tokens = if file.exists() {
        existing(file)?
    } else {
        TokenFile::default()
    };
    let token = tokens
        .create(name, scope, chrono::Utc::now())
        .map_err(anyhow::Error::msg)?;
    save(file, &tokens)?;
    outln!("{token}");
    errln!(
        "Created token `{name}` (scope {scope}) in {}. It is shown only now, above: keep it in a secret store.\n\
         Use it as MLSPEC_TOKEN (mlspec --store http://…), MLFLOW_TRACKING_TOKEN (MLflow) or `Authorization: Bearer …`.",
        file.display()
    );
    Ok(())
}

fn list(file: &Path) -> anyhow::Result<()> {
    let tokens = existing(file)?;
    let rows: Vec<Vec<String>> = tokens
        .records()
        .iter()
        .map(|r| vec![r.name.clone(), r.scope.to_string(), created_text(r)])
        .collect();
    if rows.is_empty() {
        errln!("{} holds no token", file.display());
    } else {
        out!("{}", crate::table::render(&["NAME", "SCOPE", "CREATED"], &rows));
    }
    Ok(())
}

/// The token file, which must exist.
fn existing(file: &Path) -> anyhow::Result<TokenFile> {
    if !file.exists() {
        bail!(
            "there is no token file at {}: `mlspec server token create --name NAME --scope SCOPE` makes one (or name another with --token-file)",
            file.display()
        );
    }
    read_file(file).map_err(anyhow::Error::msg)
}

/// Makes the token file's directory and locks it (flock, exclusive) until the lock is dropped,
/// so that two commands changing the file at once cannot lose one's change.
fn lock_directory(file: &Path) -> anyhow::Result<Flock<std::fs::File>> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let handle = std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    Flock::lock(handle, FlockArg::LockExclusive)
        .map_err(|(_, errno)| anyhow::anyhow!("cannot lock {}: {errno}", dir.display()))
}

/// Writes the token file whole: a temporary file (created readable by its owner only, 0600)
/// renamed over it.
fn save(file: &Path, tokens: &TokenFile) -> anyhow::Result<()> {
    write_whole(file, &tokens.to_bytes(), Some(&TOKENS))
}

/// The token check: the file named with --token-file (which must exist), else the default
/// file when it exists, else none.
fn open_auth(file: &Path, explicit: bool, allow_anonymous_read: bool) -> anyhow::Result<Option<Arc<Auth>>> {
    if !explicit && !file.exists() {
        if allow_anonymous_read {
            bail!(
                "--allow-anonymous-read needs tokens: without a token file ({} does not exist) everyone may read and write already",
                file.display()
            );
        }
        return Ok(None);
    }
    let auth = Auth::open(file.to_owned(), allow_anonymous_read).map_err(|reason| {
        anyhow::anyhow!(
            "{reason}\n  hint: `mlspec server token create --token-file {} --name NAME --scope write` makes one",
            file.display()
        )
    })?;
    Ok(Some(Arc::new(auth)))
}

/// What the server says about who may use it, at startup.
fn describe_auth(auth: Option<&Arc<Auth>>, default_file: &Path) -> String {
    let Some(auth) = auth else {
        return format!(
            "mlspec server: no tokens ({} does not exist): whoever reaches this address may read and write the store, so it listens on loopback only; `mlspec server token create` makes one",
            default_file.display()
        );
    };
    let count = auth.tokens().map(|t| t.records().len()).unwrap_or_default();
    let reads = if auth.allows_anonymous_read() {
        "reads are open to anyone (--allow-anonymous-read), writes need a token"
    } else {
        "every request needs a token"
    };
    format!(
        "mlspec server: tokens on ({count} in {}): {reads}; /ok /healthz /readyz /metrics stay open",
        auth.file().display()
    )
}

async fn serve(args: ServeArgs, choice: &StoreChoice, token_file: &Path, explicit: bool) -> anyhow::Result<ExitCode> {
    let location = choice.location()?;
    let auth = open_auth(token_file, explicit, args.allow_anonymous_read)?;
    let store: Arc<dyn mlspec_store::Store> = Arc::from(mlspec_store::open(&location).await?);
    let artifacts = args
        .artifacts
        .unwrap_or_else(|| crate::step::spool::state_dir().join("artifacts"));
    let config = ServerConfig {
        store: store.clone(),
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        limits: ServeLimits::from_env().map_err(anyhow::Error::msg)?,
        extra: mlspec_mlflow::router(store, artifacts.clone()),
        artifacts,
        auth: auth.clone(),
    };
    config.check(&args.listen).map_err(anyhow::Error::msg)?;
    let (listener, signalled) = crate::listen::listen_until_signalled(args.listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(StepState::new(server_info(
        &addr,
        &location.redacted(),
        std::env::args().collect(),
    )));
    errln!("{}", describe_auth(auth.as_ref(), token_file));
    errln!("mlspec server: serving http://{addr}/api/v1 (the store at {location}); stop with Ctrl-C");
    let shutdown = async { format!("{} received", signalled.await) };
    mlspec_server::server::run(listener, config, state, shutdown).await;
    errln!("mlspec server: stopped");
    Ok(ExitCode::SUCCESS)
}

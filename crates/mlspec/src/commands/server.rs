//! `mlspec server`: serve the store over HTTP — its REST API (`/api/v1/…`), the MLflow
//! tracking API, the web UI (`/`) and the standard probes — until SIGINT or SIGTERM, then finish the requests in progress and exit. And
//! `mlspec server token create|list|revoke`, which manage the tokens it checks: the token
//! file keeps each token's SHA-256, never the token, and a running server rereads it when it
//! changes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_server::auth::{Scope, TokenFile, read_file, tokens::created_text};
use mlspec_server::server::DEFAULT_REQUEST_TIMEOUT;
use nix::fcntl::{Flock, FlockArg};

use crate::files::{Owned, write_whole};
use crate::store::StoreChoice;
use crate::store_server;

/// Serve the store (--store, else the project's) over HTTP: the REST API at /api/v1 (its
/// OpenAPI document at /api/v1/openapi.json), the MLflow tracking API, the web UI at / and
/// /ok /healthz /readyz /varz /metrics. Other
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
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_REQUEST_TIMEOUT.as_secs_f64(), value_parser = store_server::seconds)]
    request_timeout: f64,
    /// Reads (get, list, search, history, lineage; MLflow's gets and searches) need no token;
    /// writes still do.
    #[arg(long)]
    allow_anonymous_read: bool,
    /// Where the MLflow artifact routes keep artifacts (default: `artifacts/` in the project's
    /// state directory, `.mlspec/`).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    #[command(flatten)]
    trust: store_server::TrustArgs,
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

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let explicit = args.token_file.is_some();
    let token_file = args
        .token_file
        .unwrap_or_else(|| store_server::default_token_file(choice));
    if let Some(ServerCommand::Token(command)) = args.command {
        return manage_tokens(command, &token_file);
    }
    let serve = args.serve;
    let options = store_server::Options {
        listen: serve.listen,
        request_timeout: Duration::from_secs_f64(serve.request_timeout),
        allow_anonymous_read: serve.allow_anonymous_read,
        artifacts: serve.artifacts,
        token_file,
        explicit_token_file: explicit,
        open_browser: false,
        trust: serve.trust.trust()?,
    };
    store_server::run(options, choice)
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

//! Running the store's server — the REST API, the MLflow routes, the web UI and the probes
//! over one store — until SIGINT or SIGTERM: what `mlspec server` and `mlspec ui` share. The
//! token file decides who may use it (see `mlspec_server::auth`); without one the server
//! listens on loopback only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_server::auth::{Auth, DEFAULT_FILE_NAME};
use mlspec_server::server::{ServerConfig, server_info};
use mlspec_server::{ServeLimits, StepState};
use mlspec_store::Location;

use crate::store::StoreChoice;

/// How to serve.
pub struct Options {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The longest one request may take.
    pub request_timeout: Duration,
    /// Reads need no token (needs a token file).
    pub allow_anonymous_read: bool,
    /// Where the MLflow artifact routes keep artifacts (default: the state directory's).
    pub artifacts: Option<PathBuf>,
    /// The token file.
    pub token_file: PathBuf,
    /// Whether the token file was named (then it must exist).
    pub explicit_token_file: bool,
    /// Open the web UI in the user's browser once listening.
    pub open_browser: bool,
    /// What the UI's package and audit pages may read to verify signatures.
    pub trust: mlspec_ui::Trust,
}

/// What the UI's trust pages may read: options of `mlspec server` and `mlspec ui`. A page
/// never takes a path from a request, only a name within these directories.
#[derive(clap::Args)]
pub struct TrustArgs {
    /// The inference logs the UI's audit page may open: the files directly in DIR, chosen by
    /// name from a list.
    #[arg(long, value_name = "DIR")]
    audit_logs: Option<PathBuf>,
    /// The signed model package directories the UI verifies: DIR/NAME holds the package NAME.
    #[arg(long, value_name = "DIR")]
    packages: Option<PathBuf>,
    /// A public key trusted to have signed packages and log checkpoints (repeatable).
    #[arg(long = "pubkey", value_name = "KEY")]
    pubkeys: Vec<PathBuf>,
}

impl TrustArgs {
    /// The settings, each directory checked to be one and each key read (an expired one
    /// refused).
    pub fn trust(self) -> anyhow::Result<mlspec_ui::Trust> {
        for (option, dir) in [("--audit-logs", &self.audit_logs), ("--packages", &self.packages)] {
            if let Some(dir) = dir
                && !dir.is_dir()
            {
                bail!(
                    "{option} {}: not a directory (name an existing directory)",
                    dir.display()
                );
            }
        }
        let keys = self
            .pubkeys
            .iter()
            .map(|path| crate::trust::trusted_key(path))
            .collect::<anyhow::Result<_>>()?;
        Ok(mlspec_ui::Trust {
            audit_logs: self.audit_logs,
            packages: self.packages,
            keys,
        })
    }
}

/// Serves until signalled.
pub fn run(options: Options, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(options, choice))
}

/// A `--request-timeout`: seconds between 0.001 and 86400.
pub fn seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.001..=86_400.0).contains(s))
        .ok_or_else(|| format!("`{text}` is not a number of seconds between 0.001 and 86400"))
}

/// `server-tokens.json` beside the served SQLite store (in a project, its `.mlspec/`), else
/// in the state directory.
pub fn default_token_file(choice: &StoreChoice) -> PathBuf {
    match choice.location() {
        Ok(Location::Sqlite(db)) => db.with_file_name(DEFAULT_FILE_NAME),
        _ => crate::step::spool::state_dir().join(DEFAULT_FILE_NAME),
    }
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

async fn serve(options: Options, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let location = choice.location()?;
    let auth = open_auth(
        &options.token_file,
        options.explicit_token_file,
        options.allow_anonymous_read,
    )?;
    let store: Arc<dyn mlspec_store::Store> = Arc::from(mlspec_store::open(&location).await?);
    let artifacts = options
        .artifacts
        .unwrap_or_else(|| crate::step::spool::state_dir().join("artifacts"));
    let config = ServerConfig {
        store: store.clone(),
        request_timeout: options.request_timeout,
        limits: ServeLimits::from_env().map_err(anyhow::Error::msg)?,
        extra: mlspec_mlflow::router(store.clone(), artifacts.clone()),
        ui: mlspec_ui::router(mlspec_ui::UiConfig {
            store,
            request_timeout: options.request_timeout,
            trust: options.trust,
        }),
        artifacts,
        auth: auth.clone(),
    };
    config.check(&options.listen).map_err(anyhow::Error::msg)?;
    let (listener, signalled) = crate::listen::listen_until_signalled(options.listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(StepState::new(server_info(
        &addr,
        &location.redacted(),
        std::env::args().collect(),
    )));
    errln!("{}", describe_auth(auth.as_ref(), &options.token_file));
    errln!(
        "mlspec server: serving http://{addr}/api/v1 and the web UI at http://{addr}/ (the store at {location}); stop with Ctrl-C"
    );
    if options.open_browser {
        open_browser(&format!("http://{addr}/"));
    }
    let shutdown = async { format!("{} received", signalled.await) };
    mlspec_server::server::run(listener, config, state, shutdown).await;
    errln!("mlspec server: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Opens `url` in the desktop's browser (`xdg-open`; `open` on macOS), without waiting; when
/// there is none, says so — the address is printed already.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        errln!("mlspec: cannot open a browser ({opener}: {e}); open {url} yourself");
    }
}

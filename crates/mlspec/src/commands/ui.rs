//! `mlspec ui`: the web UI over the project's store (or --store), on loopback, with nothing
//! to start by hand — the same server as `mlspec server`, on a free port unless told
//! otherwise; `--open` opens it in the browser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use mlspec_server::server::DEFAULT_REQUEST_TIMEOUT;

use crate::store::StoreChoice;
use crate::store_server;

/// Open the web UI on the project's store (--store, else the one found from the working
/// directory): runs, comparisons and metric curves, lineage, data profiles, verdicts and the
/// audit chain. Serves on loopback until Ctrl-C; the address is printed. See docs/ui.md.
#[derive(clap::Args)]
pub struct Args {
    /// Open the UI in the desktop's browser.
    #[arg(long)]
    open: bool,
    /// The address to listen on (default: loopback, a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: SocketAddr,
    /// The token file, as for `mlspec server` (default: server-tokens.json beside the store,
    /// used when it exists: then the browser asks for a token).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    trust: store_server::TrustArgs,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let explicit = args.token_file.is_some();
    let options = store_server::Options {
        listen: args.listen,
        request_timeout: DEFAULT_REQUEST_TIMEOUT,
        allow_anonymous_read: false,
        artifacts: None,
        token_file: args
            .token_file
            .unwrap_or_else(|| store_server::default_token_file(choice)),
        explicit_token_file: explicit,
        open_browser: args.open,
        trust: args.trust.trust()?,
    };
    store_server::run(options, choice)
}

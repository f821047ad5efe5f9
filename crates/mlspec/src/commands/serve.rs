//! `mlspec serve PACKAGE --upstream URL`: the serving gateway in front of a model server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_attest::keys::SigningKey;
use mlspec_attest::log::{Fsync, LogOptions, UnsignedTail};
use mlspec_attest::package::{binding, package_dir, read_package, verify_signed_package};
use mlspec_gateway::rollout::Rollout;
use mlspec_gateway::route::CanaryMode;
use mlspec_gateway::upstream::{Address, HealthCheck};
use mlspec_gateway::watcher::{Monitoring, RollbackPlan};
use mlspec_gateway::{Config, Package, Settings};
use mlspec_server::serve::ServeLimits;
use mlspec_spec::Document;
use mlspec_spec::kinds::RolloutStrategy;
use mlspec_spec::newtypes::{Name, ShortText};

use crate::args::fsync;
use crate::store::{LazyStore, StoreChoice, actor};
use crate::trust::trusted_key;

#[derive(clap::Args)]
pub struct Args {
    /// The signed model package directory (or its mlspec-package.yaml) the upstream serves.
    package: PathBuf,
    /// The model server: http://HOST:PORT[/PREFIX].
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Where the gateway listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The inference log it appends to.
    #[arg(long, value_name = "FILE", default_value = "serve.log")]
    log: PathBuf,
    /// Also keep every request's and answer's body (JSON Lines, checked against the log's
    /// digests) here — by default, with the flag alone, in LOG.capture.jsonl, where `mlspec
    /// monitor LOG` finds it — so that drift and performance can be computed again offline.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    capture: Option<Option<PathBuf>>,
    /// The private key that signs the log's checkpoints.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The public key the packages' signatures are verified with (default: the --key's).
    #[arg(long, value_name = "KEY")]
    pubkey: Option<PathBuf>,
    /// Serve a package whose signature does not verify or whose signed verdict was not met
    /// (said at start, and on /varz).
    #[arg(long)]
    allow_unverified: bool,
    /// A second package and its server, rolled out beside the first: PACKAGE=URL.
    #[arg(long, value_name = "PACKAGE=URL")]
    canary: Option<String>,
    /// The share of requests the canary answers, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 10.0, requires = "canary")]
    canary_percent: f64,
    /// Mirror every request to the canary and drop its answers, instead of splitting traffic.
    #[arg(long, requires = "canary")]
    shadow: bool,
    /// The canary's rollout plan: a Rollout document whose steps' trafficPercent and duration
    /// are followed (without it, the canary holds --canary-percent until `mlspec rollout
    /// promote|abort`).
    #[arg(long, value_name = "FILE", requires = "canary")]
    rollout: Option<PathBuf>,
    /// Where the rollout happens, as its record says (default: the plan's, else `production`).
    #[arg(long, value_name = "NAME")]
    environment: Option<String>,
    /// The MonitoringPolicy whose signals are evaluated live over its windows (each window a
    /// MonitoringReport in the store; /varz and /metrics show the latest).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The training DataProfile drift is measured against (default: the policy's `baseline`,
    /// from the store).
    #[arg(long, value_name = "PROFILE", requires = "policy")]
    baseline: Option<PathBuf>,
    /// The policy's rollback target and its model server: PACKAGE=URL (verified when the
    /// trigger fires; traffic moves only if it verifies).
    #[arg(long, value_name = "PACKAGE=URL", requires = "policy")]
    rollback_to: Option<String>,
    /// How the monitor reads features and predictions from the bodies: oip, tfserving, mlflow
    /// or json (default: by each request's path, plain JSON when the path names none).
    #[arg(long, value_name = "PROTOCOL", value_parser = crate::monitoring::protocol, requires = "policy")]
    protocol: Option<mlspec_gateway::protocol::Protocol>,
    /// The largest request body forwarded, in bytes (larger: 413).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_body: usize,
    /// Seconds the upstream may take to start its answer (slower: 504).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    upstream_timeout: f64,
    /// The upstream's health check: GET this path (default: /v2/health/ready for the Open
    /// Inference Protocol); `tcp` to only connect.
    #[arg(long, value_name = "PATH", default_value = "/v2/health/ready")]
    health_path: String,
    /// Seconds between health checks.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    health_interval: f64,
    /// When log lines reach the disk: `never`, `line`, N lines or Tms.
    #[arg(long, default_value = "10ms", value_parser = fsync)]
    fsync: Fsync,
    /// Sign a checkpoint every N lines.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    checkpoint_every: u64,
    /// Also sign one when lines are this many seconds old without one.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    checkpoint_interval: f64,
    /// Sign over lines of the existing log no checkpoint covers (a gateway killed before
    /// signing them — check them first).
    #[arg(long)]
    allow_unsigned_tail: bool,
    /// Seconds requests in progress may take to finish after SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    grace: f64,
    /// Write the address listened on to this file once listening (for scripts and tests).
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, choice.clone()))
}

async fn serve(args: Args, choice: StoreChoice) -> anyhow::Result<ExitCode> {
    let key = SigningKey::read(&args.key)?;
    let public = match &args.pubkey {
        Some(path) => trusted_key(path)?,
        None => key.public(),
    };
    let primary = trusted_package(&args.package, &args.upstream, &public, args.allow_unverified)?;
    let canary = match &args.canary {
        Some(text) => {
            let (dir, url) = text
                .split_once('=')
                .with_context(|| format!("--canary `{text}` is not PACKAGE=URL"))?;
            Some((
                trusted_package(Path::new(dir), url, &public, args.allow_unverified)?,
                basis_points(args.canary_percent)?,
                if args.shadow {
                    CanaryMode::Shadow
                } else {
                    CanaryMode::Split
                },
            ))
        }
        None => None,
    };
    let monitoring = match &args.policy {
        Some(path) => {
            let served = [Some(&primary), canary.as_ref().map(|(package, _, _)| package)];
            Some(monitoring(&args, path, &served, &public, &choice).await?)
        }
        None => None,
    };
    let (sink, recorder) = recorder(choice);
    let rollout = match &canary {
        Some((package, basis_points, mode)) => Some(rollout_plan(&args, &primary, package, *basis_points, *mode)?),
        None => None,
    };
    let config = Config {
        primary,
        canary,
        rollout,
        sink: Some(sink),
        monitoring,
        log: args.log.clone(),
        capture: args.capture.as_ref().map(|path| match path {
            Some(path) => path.clone(),
            None => mlspec_gateway::capture::default_path(&args.log),
        }),
        key,
        log_options: LogOptions {
            fsync: args.fsync,
            checkpoint_every: args.checkpoint_every,
            checkpoint_interval: Some(seconds(args.checkpoint_interval, "--checkpoint-interval")?),
            unsigned_tail: match args.allow_unsigned_tail {
                true => UnsignedTail::Allow,
                false => UnsignedTail::Refuse,
            },
            ..LogOptions::default()
        },
        settings: Settings {
            max_body: args.max_body,
            body_timeout: ServeLimits::from_env().map_err(anyhow::Error::msg)?.header_timeout,
            upstream_timeout: seconds(args.upstream_timeout, "--upstream-timeout")?,
            health: match args.health_path.as_str() {
                "tcp" => HealthCheck::Connect,
                path if path.starts_with('/') => HealthCheck::Get(path.to_owned()),
                other => bail!("--health-path `{other}` is neither a path starting with / nor `tcp`"),
            },
            health_interval: seconds(args.health_interval, "--health-interval")?,
            limits: ServeLimits::from_env().map_err(anyhow::Error::msg)?,
            grace: seconds(args.grace, "--grace")?,
        },
    };
    let (listener, signalled) = crate::listen::listen_until_signalled(args.listen).await?;
    let addr = listener.local_addr()?;
    if let Some(file) = &args.addr_file {
        crate::files::write_whole(file, addr.to_string().as_bytes(), Some(&crate::files::ADDRESS))?;
    }
    errln!(
        "mlspec serve: {} via http://{addr} → {} (log {}); stop with Ctrl-C",
        config.primary.reference,
        config.primary.upstream,
        args.log.display()
    );
    let shutdown = async {
        let signal = signalled.await;
        errln!("mlspec serve: {signal} received: finishing the requests in progress");
    };
    let stopped = mlspec_gateway::run(listener, config, shutdown).await?;
    // Every document the gateway made is recorded before the command ends.
    if tokio::time::timeout(Duration::from_secs(30), recorder).await.is_err() {
        errln!("warning: the store took over 30 s to take the last documents; some were not recorded");
    }
    errln!(
        "mlspec serve: stopped; {} has {} lines, all signed",
        args.log.display(),
        stopped.lines
    );
    Ok(ExitCode::SUCCESS)
}

/// The rollout of the canary: the plan of --rollout, or one step held at --canary-percent.
fn rollout_plan(
    args: &Args,
    primary: &Package,
    canary: &Package,
    basis_points: u32,
    mode: CanaryMode,
) -> anyhow::Result<Rollout> {
    let mut rollout = match &args.rollout {
        Some(path) => {
            let (document, _) = crate::documents::read_one(&path.display().to_string())?;
            Rollout::planned(document, &canary.reference, &primary.reference)?
        }
        None => {
            let name = format!("{}-rollout", canary.reference.trim_start_matches("ModelPackage/"));
            let strategy = match mode {
                CanaryMode::Split => RolloutStrategy::Canary,
                CanaryMode::Shadow => RolloutStrategy::Shadow,
            };
            let percent = f64::from(basis_points) / 100.0;
            Rollout::held(
                Name::new(name.as_str())?,
                &canary.reference,
                &primary.reference,
                percent,
                strategy,
            )?
        }
    };
    let spec = rollout.spec_mut();
    if let Some(environment) = &args.environment {
        spec.environment = ShortText::new(environment.as_str())?;
    }
    spec.endpoint = Some(ShortText::new(format!("http://{}", args.listen))?);
    spec.canary_endpoint = Some(ShortText::new(canary.upstream.to_string())?);
    Ok(rollout)
}

/// The task recording the gateway's documents in the store, in order; it ends when the
/// gateway drops its sender. A document the store refuses or cannot take is said, not fatal:
/// serving goes on.
fn recorder(choice: StoreChoice) -> (tokio::sync::mpsc::Sender<Document>, tokio::task::JoinHandle<()>) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Document>(4096);
    let task = tokio::spawn(async move {
        let mut store = LazyStore::new(&choice);
        let mut said_no_store = false;
        while let Some(document) = receiver.recv().await {
            let what = format!("{}/{}", document.kind(), document.metadata.name);
            match store.for_recording().await {
                Ok(Some(store)) => {
                    if let Err(e) = store.apply(std::slice::from_ref(&document), &actor()).await {
                        errln!("warning: {what} was not recorded: {e}");
                    }
                }
                Ok(None) if !said_no_store => {
                    errln!(
                        "note: no store here, so rollouts and monitoring reports are not recorded (`mlspec init` makes one)"
                    );
                    said_no_store = true;
                }
                Ok(None) => {}
                Err(e) => errln!("warning: {what} was not recorded: {e:#}"),
            }
        }
    });
    (sender, task)
}

/// The policy to watch, and its rollback made ready.
async fn monitoring(
    args: &Args,
    path: &Path,
    served: &[Option<&Package>],
    public: &mlspec_attest::keys::PublicKey,
    choice: &StoreChoice,
) -> anyhow::Result<Monitoring> {
    let mut store = LazyStore::new(choice);
    let policy = crate::monitoring::load(path, args.baseline.as_deref(), args.protocol, &mut store).await?;
    let target = policy.spec.target.to_string();
    if !served.iter().flatten().any(|package| package.reference == target) {
        errln!(
            "warning: {} watches {target}, which the gateway does not serve",
            path.display()
        );
    }
    let rollback = match &policy.spec.rollback {
        None if args.rollback_to.is_some() => bail!("--rollback-to is given but {} has no `rollback`", path.display()),
        None => None,
        Some(rollback) => Some(rollback_plan(
            args,
            path,
            &rollback.target.to_string(),
            rollback.automatic,
            public,
        )?),
    };
    Ok(Monitoring {
        policy: policy.name,
        watch: policy.watch,
        rollback,
    })
}

/// How the policy's rollback target is reached: the package of `--rollback-to`, or the served
/// one (primary or canary) that is the target. With neither, the gateway still starts — a
/// trigger then records a refused alert saying why.
fn rollback_plan(
    args: &Args,
    policy: &Path,
    target: &str,
    automatic: bool,
    public: &mlspec_attest::keys::PublicKey,
) -> anyhow::Result<RollbackPlan> {
    let mut candidates = vec![(args.package.clone(), args.upstream.clone())];
    for text in args.canary.iter().chain(&args.rollback_to) {
        let (dir, url) = text
            .split_once('=')
            .with_context(|| format!("`{text}` is not PACKAGE=URL"))?;
        candidates.push((PathBuf::from(dir), url.to_owned()));
    }
    let mut found = None;
    for (dir, url) in candidates {
        let (document, _) = read_package(&package_dir(&dir))?;
        if format!("ModelPackage/{}", document.metadata.name) == target {
            Address::parse(&url)?;
            found = Some((dir, url));
        }
    }
    if let (Some(rollback_to), None) = (&args.rollback_to, &found) {
        bail!(
            "--rollback-to {rollback_to} is not {target}, the package {} rolls back to",
            policy.display()
        );
    }
    let public = public.clone();
    let prepare: mlspec_gateway::watcher::Prepare = match found {
        Some((dir, url)) => Box::new(move || trusted_package(&dir, &url, &public, false).map_err(|e| format!("{e:#}"))),
        None => {
            errln!(
                "warning: {} rolls back to {target}, which is not served here: give its server with --rollback-to PACKAGE=URL, or a trigger is only an alert",
                policy.display()
            );
            let target = target.to_owned();
            Box::new(move || {
                Err(format!(
                    "no server for {target} was given (start the gateway with --rollback-to PACKAGE=URL)"
                ))
            })
        }
    };
    Ok(RollbackPlan {
        target: target.to_owned(),
        automatic,
        prepare,
    })
}

/// A package to serve, its signature verified (refused, unless `allow_unverified`, when it
/// does not verify or its signed verdict was not met).
fn trusted_package(
    arg: &Path,
    upstream: &str,
    public: &mlspec_attest::keys::PublicKey,
    allow_unverified: bool,
) -> anyhow::Result<Package> {
    let dir = package_dir(arg);
    let (document, _) = read_package(&dir)?;
    let verified = verify_signed_package(&dir, public, true)?;
    if !verified.problems.is_empty() {
        let problems = verified.problems.join("\n  ");
        if !allow_unverified {
            bail!(
                "refusing to serve {}: it does not verify:\n  {problems}\n(serve it anyway with --allow-unverified)",
                dir.display()
            );
        }
        errln!(
            "warning: serving {} although it does not verify:\n  {problems}",
            dir.display()
        );
    }
    Ok(Package {
        reference: format!("ModelPackage/{}", document.metadata.name),
        binding: binding(&dir)?,
        upstream: Address::parse(upstream)?,
    })
}

fn basis_points(percent: f64) -> anyhow::Result<u32> {
    if !(0.0..=100.0).contains(&percent) {
        bail!("--canary-percent {percent} is not between 0 and 100");
    }
    Ok((percent * 100.0).round() as u32)
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    if !(0.001..=86_400.0).contains(&value) {
        bail!("{flag} {value} is not a number of seconds between 0.001 and 86400");
    }
    Ok(Duration::from_secs_f64(value))
}

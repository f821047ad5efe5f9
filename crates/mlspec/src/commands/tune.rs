//! `mlspec tune`: a hyperparameter search, each trial a recorded step, the search a Training
//! document (crate::tune).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use mlspec_spec::{Name, Ref};

use crate::store::{StoreChoice, block_on};
use crate::tune::sampler::SamplerKind;
use crate::tune::space::Space;
use crate::tune::trial::Objective;
use crate::tune::{self, Request};

/// Search hyperparameters: run COMMAND as --trials trials (each a step whose Run is a child of
/// the search's Run), with parameters from the --space drawn by --sampler, given to the command
/// as MLSPEC_PARAM_<KEY> (all of them as JSON in MLSPEC_PARAMS) and in `{params.KEY}` arguments.
/// Each trial reports the --objective metric the usual ways (POST to
/// $MLSPEC_STEP_URL/api/v1/metrics, or JSON lines appended to $MLSPEC_METRICS_FILE). The
/// Training document records the space, every trial and the best; the same command run again
/// continues an interrupted search. Exit 0 when a trial completed, 1 when none did, 2 on bad
/// input, 128+N when signal N interrupted it.
#[derive(clap::Args)]
pub struct Args {
    /// The search space: a YAML mapping of each parameter to `{choices: [...]}` or
    /// `{min: A, max: B}` (with `log: true` and `step: S` optional).
    #[arg(long, value_name = "SPACE.yaml")]
    space: PathBuf,
    /// Trials to run in all (default with --sampler grid: every point of the grid).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    trials: Option<u64>,
    /// Trials to run at once.
    #[arg(long, default_value_t = 1, value_name = "J", value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: u64,
    /// How trials' parameters are chosen.
    #[arg(long, value_enum, default_value_t = SamplerKind::Tpe)]
    sampler: SamplerKind,
    /// The seed of the sampler's random draws (default: a random one, recorded).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// What to optimise: `maximize metrics.KEY` or `minimize metrics.KEY`.
    #[arg(long, value_name = "DIRECTION METRIC", value_parser = Objective::parse)]
    objective: Objective,
    /// Stop trials early by a rule on the objective's intermediate values (reported with a
    /// `step`): `median` stops one that is worse than the median of completed trials at the
    /// same step.
    #[arg(long, value_enum, value_name = "RULE")]
    prune: Option<PruneRule>,
    /// Seconds a trial may run; a trial still running then is stopped (SIGTERM, SIGKILL 5 s
    /// later) and recorded as failed.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    trial_timeout: Option<Duration>,
    /// The Training document's name (default: `tune-` and the space file's name).
    #[arg(long)]
    name: Option<Name>,
    /// Data the trials train on (repeatable): a stored Dataset, e.g. `Dataset/customers-train@1`.
    #[arg(long = "dataset", value_name = "REF")]
    datasets: Vec<Ref>,
    /// The model the search is for: a stored Artifact.
    #[arg(long, value_name = "REF")]
    model: Option<Ref>,
    /// Start a new search even when one of this name can be continued.
    #[arg(long)]
    fresh: bool,
    /// The command and its arguments; `{params.KEY}` stands for a parameter's value.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PruneRule {
    Median,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 1e9 => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!("`{text}` is not a number of seconds above 0")),
    }
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let space = Space::read(&args.space)?;
    let name = match args.name {
        Some(name) => name,
        None => default_name(&args.space)?,
    };
    let request = Request {
        name,
        space,
        trials: args.trials,
        jobs: usize::try_from(args.jobs)?,
        sampler: args.sampler,
        seed: args.seed,
        objective: args.objective,
        prune: args.prune.is_some(),
        trial_timeout: args.trial_timeout,
        datasets: args.datasets,
        model: args.model,
        fresh: args.fresh,
        command: args.command,
        dir: std::env::current_dir().context("cannot read the current directory")?,
        store_url: choice.url.clone(),
    };
    block_on(async move {
        let store = choice.open().await?;
        let signals = crate::step::os_signals();
        let name = request.name.clone();
        let objective = request.objective.clone();
        let outcome = tune::search(request, store.as_ref(), signals).await?;
        Ok(report(&name, &objective, &outcome))
    })
}

/// `tune-<space file stem>`.
fn default_name(space: &std::path::Path) -> anyhow::Result<Name> {
    let stem = space.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
    Ok(Name::new(format!("tune-{}", crate::step::record::name_part(&stem)))?)
}

/// Prints the result; the exit code.
fn report(name: &Name, objective: &Objective, outcome: &tune::Outcome) -> ExitCode {
    use mlspec_spec::kinds::TrialStatus;
    let trials = &outcome.training.trials;
    let count = |status| trials.iter().filter(|t| t.status == status).count();
    let completed = count(TrialStatus::Completed);
    outln!(
        "Training/{name}: {} trials ({completed} completed, {} pruned, {} failed{})",
        trials.len(),
        count(TrialStatus::Pruned),
        count(TrialStatus::Failed),
        if outcome.resumed > 0 {
            format!("; {} recorded before this run", outcome.resumed)
        } else {
            String::new()
        }
    );
    match tune::record::best_trial(trials, objective) {
        Some(best) => outln!("best: {}", tune::trial_line(best, objective)),
        None => errln!("no trial completed: see each trial's reason above, and its log in .mlspec/logs/<run id>/"),
    }
    if let Some(signal) = outcome.interrupted {
        errln!("interrupted by {signal}: run the same command again to continue the search");
        return ExitCode::from(128 + signal as u8);
    }
    if completed == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

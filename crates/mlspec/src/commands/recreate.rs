//! `mlspec recreate RECORD`: run a workflow again from its metadata file and compare every
//! output's digest with the recorded one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use mlspec_spec::Kind;

use crate::pipeline::recreate::{Recreation, recreate};
use crate::pipeline::run::Options;
use crate::store::{LazyStore, StoreChoice};
use crate::violation::Violation;

/// Recreate a workflow from its WorkflowRecord (a file or a stored reference): refuse, naming
/// each, inputs whose content no longer has the recorded digest and modules whose definition
/// changed; run every step again, ignoring the cache; print `same` or `differs` per step and
/// output. Exits 0 when every output is identical, 1 when one differs or it was refused.
#[derive(clap::Args)]
pub struct Args {
    /// The WorkflowRecord: a file, or a stored reference.
    record: String,
    /// Compare without keeping the new outputs: the check's runs are recorded (the steps' own
    /// commands record what they make), but never answer a cache lookup.
    #[arg(long)]
    check: bool,
    /// Steps run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Where step directories go (default: .mlspec/pipelines/ of the project; with --check, a
    /// temporary directory).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
}

/// The variables the record passed to its steps, with their recorded values; one recorded
/// masked (a secret) is taken from this environment, and refused when it is not set here.
fn recorded_environment(
    spec: &mlspec_spec::kinds::WorkflowRecordSpec,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut env = std::collections::BTreeMap::new();
    for (name, value) in spec.environment.variables.iter() {
        let value = if value == mlspec_spec::redact::MASK {
            std::env::var(name.as_str()).map_err(|_| {
                Violation::Refused(format!(
                    "the record's variable {name} was recorded masked (a secret); set it in the environment to recreate"
                ))
            })?
        } else {
            value.clone()
        };
        env.insert(name.to_string(), value);
    }
    Ok(env)
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let state = crate::step::spool::state_dir();
    std::fs::create_dir_all(&state).with_context(|| format!("cannot create {}", state.display()))?;
    // Inside the project's state directory: where the steps' paths look like a run's.
    let scratch = tempfile::Builder::new().prefix("recreate-check-").tempdir_in(&state)?;
    let workdir = match (&args.workdir, args.check) {
        (Some(dir), _) => crate::pipeline::workdir(Some(dir.clone()))?,
        (None, true) => scratch.path().to_path_buf(),
        (None, false) => crate::pipeline::workdir(None)?,
    };
    let recreation = crate::pipeline::runtime()?.block_on(async {
        let mut lazy = LazyStore::new(choice);
        let record = crate::documents::load_document(&args.record, &[Kind::WorkflowRecord], &mut lazy).await?;
        let mlspec_spec::Spec::WorkflowRecord(spec) = &record.spec else {
            anyhow::bail!("{} is not a WorkflowRecord", args.record);
        };
        let options = Options {
            jobs: args.jobs.unwrap_or_else(crate::pipeline::cores).max(1),
            use_cache: false,
            fail_fast: false,
            workdir,
            env: recorded_environment(spec)?,
            keep_outputs: !args.check,
            known_artifacts: Default::default(),
            openlineage: None,
            store: crate::pipeline::store_for_steps(choice),
        };
        recreate(&record, &options, lazy.get().await?).await
    })?;
    let (finished, comparisons) = match recreation {
        Recreation::Refused(reasons) => {
            return Err(Violation::Refused(format!(
                "{} cannot be recreated as recorded:\n  {}",
                args.record,
                reasons.join("\n  ")
            ))
            .into());
        }
        Recreation::Ran(finished, comparisons) => (finished, comparisons),
    };
    for comparison in &comparisons {
        match &comparison.now {
            Some(now) if comparison.same() => outln!("{}/{}: same {now}", comparison.step, comparison.output),
            Some(now) => outln!(
                "{}/{}: differs (recorded {}, now {now})",
                comparison.step,
                comparison.output,
                comparison.recorded
            ),
            None => outln!(
                "{}/{}: differs (recorded {}, not written this time)",
                comparison.step,
                comparison.output,
                comparison.recorded
            ),
        }
    }
    let differing = comparisons.iter().filter(|c| !c.same()).count();
    let kept = if args.check {
        "checked; nothing kept".to_owned()
    } else {
        format!("recorded as WorkflowRecord/{}", finished.record.metadata.name)
    };
    outln!(
        "{} of {} output(s) the same ({kept})",
        comparisons.len() - differing,
        comparisons.len()
    );
    Ok(if differing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

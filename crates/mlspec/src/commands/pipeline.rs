//! `mlspec pipeline run|compile`: run a Pipeline of Modules on this machine, with a
//! content-addressed cache and a WorkflowRecord; or compile it for Argo Workflows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mlspec_spec::kinds::RunStatus;
use mlspec_spec::newtypes::Key;
use mlspec_spec::validate::Encoding;

use crate::pipeline::run::Options;
use crate::pipeline::{self, RunRequest};
use crate::store::StoreChoice;

/// Run pipelines of modules, or compile them for a cluster.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PipelineCommand,
}

#[derive(clap::Subcommand)]
enum PipelineCommand {
    Run(Box<RunArgs>),
}

/// Run PIPELINE: its steps in dependency order, in parallel up to --jobs, each through the step
/// runtime (its own /ok /varz /metrics and Run), reusing the outputs of an earlier run whose
/// cache key — module, command, parameters, environment allow-list and input contents — is the
/// same. When a step fails, independent steps go on and its dependents are skipped. Writes a
/// WorkflowRecord (to the store, and to --out). Exits 0 when every step finished or was cached,
/// 1 when one failed or was skipped, 128+N when signal N stopped it, 2 on an error.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The Pipeline: a file, or a stored reference (Pipeline/NAME).
    pipeline: String,
    /// A file or directory of Module documents (repeatable); modules not found there come from
    /// the store.
    #[arg(short = 'f', long = "file", value_name = "FILE|DIR")]
    files: Vec<String>,
    /// A pipeline parameter (repeatable), overriding its default.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    params: Vec<(Key, String)>,
    /// A pipeline input (repeatable): a file or directory, or a stored Artifact.
    #[arg(long = "input", value_name = "NAME=PATH|REF", value_parser = key_value)]
    inputs: Vec<(Key, String)>,
    /// Steps run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Run every step, reusing nothing.
    #[arg(long)]
    no_cache: bool,
    /// Stop every running step at the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Also write the WorkflowRecord to this file (YAML, or JSON for a .json name).
    #[arg(long, value_name = "RECORD")]
    out: Option<PathBuf>,
    /// Where step directories go (default: .mlspec/pipelines/ of the project).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Send OpenLineage RunEvents for the pipeline and each step to a server (http(s)://HOST:PORT,
    /// posted to /api/v1/lineage unless the URL has a path) or append them to a file (NDJSON).
    #[arg(long, value_name = "URL|FILE")]
    openlineage: Option<String>,
    /// An environment variable passed to steps that enters the cache key and the record
    /// (repeatable; secrets are recorded masked).
    #[arg(long = "env", value_name = "NAME")]
    env: Vec<String>,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        PipelineCommand::Run(args) => run_pipeline(*args, choice),
    }
}

fn run_pipeline(args: RunArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let request = RunRequest {
        pipeline: args.pipeline,
        files: args.files,
        params: unique("--param", args.params)?,
        inputs: unique("--input", args.inputs)?,
        options: Options {
            jobs: args.jobs.unwrap_or_else(pipeline::cores).max(1),
            use_cache: !args.no_cache,
            fail_fast: args.fail_fast,
            workdir: pipeline::workdir(args.workdir)?,
            env: args.env,
            record: true,
            openlineage: args.openlineage,
        },
    };
    let finished = pipeline::runtime()?.block_on(async {
        let store = choice.open().await?;
        pipeline::run_pipeline(&request, store.as_ref()).await
    })?;
    if let Some(path) = &args.out {
        let encoding = if path.extension().is_some_and(|e| e == "json") {
            Encoding::JsonPretty
        } else {
            Encoding::Yaml
        };
        let text = crate::documents::document_text(&finished.record, encoding)?;
        crate::files::write_whole(path, text.as_bytes(), Some(&crate::files::DOCUMENT))?;
    }
    let outcome = &finished.outcome;
    let count = |wanted: mlspec_spec::kinds::StepStatus| outcome.steps.iter().filter(|s| s.status == wanted).count();
    use mlspec_spec::kinds::StepStatus as S;
    errln!(
        "pipeline {}: {:?} — {} finished, {} cached, {} failed, {} killed, {} skipped; record {}",
        finished.record.metadata.name,
        outcome.status,
        count(S::Finished),
        count(S::Cached),
        count(S::Failed),
        count(S::Killed),
        count(S::Skipped),
        args.out
            .as_ref()
            .map_or_else(|| "in the store".to_owned(), |p| p.display().to_string())
    );
    Ok(match (outcome.status, outcome.signal) {
        (RunStatus::Finished, _) => ExitCode::SUCCESS,
        (_, Some(signal)) => ExitCode::from(128 + signal as u8),
        _ => ExitCode::from(1),
    })
}

/// Parses `KEY=VALUE`.
fn key_value(text: &str) -> Result<(Key, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    let key = Key::new(key).map_err(|e| format!("`{key}`: {e}"))?;
    Ok((key, value.to_owned()))
}

/// The pairs as a map; a name given twice is an error.
fn unique(flag: &str, pairs: Vec<(Key, String)>) -> anyhow::Result<BTreeMap<Key, String>> {
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        if map.insert(key.clone(), value).is_some() {
            anyhow::bail!("{flag} {key} is given twice");
        }
    }
    Ok(map)
}

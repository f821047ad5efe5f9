//! `mlspec pipeline run|compile`: run a Pipeline of Modules on this machine, with a
//! content-addressed cache and a WorkflowRecord; or compile it for Argo Workflows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use mlspec_spec::kinds::RunStatus;
use mlspec_spec::newtypes::Key;
use mlspec_spec::validate::Encoding;

use mlspec_pipeline::argo::{ArgoOptions, PodStore};

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
    Compile(CompileArgs),
}

/// What a pipeline can be compiled for.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Target {
    /// An Argo Workflows manifest.
    Argo,
}

/// Compile PIPELINE for a cluster: an Argo Workflow (or WorkflowTemplate) with one DAG task per
/// step, each container running its command through `mlspec step run` (so every pod serves
/// /ok /varz /metrics and records its Run to --store). The pipeline is checked as for a local
/// run; what has no faithful Argo form is refused, naming the step. See docs/argo.md.
#[derive(clap::Args)]
pub struct CompileArgs {
    /// The Pipeline: a file, or a stored reference (Pipeline/NAME).
    pipeline: String,
    /// What to compile for.
    #[arg(long, value_enum)]
    target: Target,
    /// A file or directory of Module documents (repeatable); modules not found there come from
    /// the store.
    #[arg(short = 'f', long = "file", value_name = "FILE|DIR")]
    files: Vec<String>,
    /// The image for modules that name none; it must hold their command and `mlspec`.
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// Write a WorkflowTemplate instead of a Workflow.
    #[arg(long)]
    template: bool,
    /// A pipeline parameter's default in the workflow (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
    params: Vec<(Key, String)>,
    /// A pipeline input's key in the cluster's artifact repository (repeatable).
    #[arg(long = "input", value_name = "NAME=KEY", value_parser = key_value)]
    inputs: Vec<(Key, String)>,
    /// Write the manifest here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
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
    /// (repeatable): NAME takes its value from this environment, NAME=VALUE sets it. Secrets
    /// are recorded masked. SOURCE_DATE_EPOCH=SECONDS makes mlspec's own steps write that time
    /// into their documents, so that they write the same bytes each run.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        PipelineCommand::Run(args) => run_pipeline(*args, choice),
        PipelineCommand::Compile(args) => compile(args, choice),
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
            env: environment(&args.env)?,
            keep_outputs: true,
            known_artifacts: Default::default(),
            openlineage: args.openlineage,
            store: pipeline::store_for_steps(choice),
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

fn compile(args: CompileArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let Target::Argo = args.target;
    let options = ArgoOptions {
        image: args.image,
        store: choice.url.as_deref().map(str::parse::<PodStore>).transpose()?,
        inputs: unique("--input", args.inputs)?.into_iter().collect(),
        template: args.template,
    };
    let params = unique("--param", args.params)?;
    let plan = pipeline::runtime()?.block_on(async {
        let mut lazy = crate::store::LazyStore::new(choice);
        let from_file = std::path::Path::new(&args.pipeline).exists();
        let store = if from_file { None } else { Some(lazy.get().await?) };
        let definitions = pipeline::load::definitions(&args.pipeline, &args.files, store).await?;
        let store = match store {
            None if !pipeline::load::answered_by_files(&definitions) => Some(lazy.get().await?),
            store => store,
        };
        let modules = pipeline::load::resolve_modules(&definitions.pipeline, &definitions.modules, store).await?;
        let request = mlspec_pipeline::Request {
            params,
            inputs: declared_inputs(&definitions.pipeline),
        };
        pipeline::load::plan(&definitions, &modules, &request)
    })?;
    let workflow = mlspec_pipeline::argo::compile(&plan, &options)?;
    let text = serde_saphyr::to_string(&workflow)?;
    match &args.out {
        Some(path) => crate::files::write_whole(path, text.as_bytes(), None)?,
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Every input the pipeline declares: compiled, each becomes an artifact argument.
fn declared_inputs(pipeline: &mlspec_spec::Document) -> std::collections::BTreeSet<Key> {
    match &pipeline.spec {
        mlspec_spec::Spec::Pipeline(spec) => spec.inputs.iter().map(|p| p.name.clone()).collect(),
        _ => Default::default(),
    }
}

/// `--env NAME[=VALUE]` as a map; a NAME not set here is an error.
fn environment(given: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for item in given {
        let (name, value) = match item.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = std::env::var(item).map_err(|_| {
                    anyhow::anyhow!("--env {item}: the variable is not set here; write --env {item}=VALUE")
                })?;
                (item.clone(), value)
            }
        };
        if env.insert(name.clone(), value).is_some() {
            anyhow::bail!("--env {name} is given twice");
        }
    }
    Ok(env)
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

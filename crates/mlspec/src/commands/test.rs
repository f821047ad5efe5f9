//! `mlspec test`: the final test on holdback data — a separate step from evaluation, that
//! refuses to run when the holdback data is not held back.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mlspec_data::leakage::{HashedRows, LeakageOptions, compare, hash_file, row_columns};
use mlspec_spec::expr::query::parse_filter;
use mlspec_spec::kinds::{Outcome, SplitRole, TestReportSpec};
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Ref, Spec, Status};
use mlspec_store::{ListQuery, Selector, Store};

use crate::args::OutputArgs;
use crate::documents::{derived_name, document_name, load_document, write_document};
use crate::evaluation::{EvalArgs, summary};
use crate::store::{LazyStore, StoreChoice, block_on, record};
use crate::verdict::verdict_on;
use crate::violation::Violation;

/// Test a model on holdback data: the same metrics as `mlspec eval`, recorded as a TestReport —
/// the separate final step. It refuses (exit 1, with the reason) when the holdback data is the
/// evaluation's data, when it is not the holdback part of a Split recorded without leakage
/// (or, with --against, shares rows or keys with those files), or when the Objectives' holdback
/// read budget is spent. Every test counts as a read of the holdback rows (identified by their
/// row-hash digest) in the store, which the test stage therefore needs. Exit 0; 1 when refused
/// or when a `block` criterion is not met; 2 on bad input.
#[derive(clap::Args)]
pub struct Args {
    /// The predictions on the holdback rows (CSV, Parquet, JSON Lines).
    predictions: PathBuf,
    /// The holdback data: a file, or a stored Dataset (version) whose `local` path is the file
    /// (its rows identify the holdback set).
    #[arg(long, value_name = "FILE|DATASET")]
    holdback: String,
    /// The Evaluation this test follows (a file or a stored reference; default: the Evaluation
    /// recorded last).
    #[arg(long, value_name = "FILE|REF")]
    evaluation: Option<String>,
    /// The Objectives: criteria and the holdback read budget.
    #[arg(long, value_name = "FILE|REF")]
    objectives: Option<String>,
    /// The Dataset the holdback file is (default: `Dataset/<stem>-data`).
    #[arg(long, value_name = "REF")]
    dataset: Option<Ref>,
    /// Training or evaluation data files to check the holdback rows against directly.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    against: Vec<PathBuf>,
    /// Key columns: a key in the holdback and in another part is leakage.
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    key: Vec<String>,
    /// Columns left out when rows are compared (e.g. a row id).
    #[arg(long, value_name = "COL[,COL]", value_delimiter = ',')]
    ignore: Vec<String>,
    #[command(flatten)]
    eval: EvalArgs,
    /// The TestReport's name, followed by `-read-N` (default: from the predictions file's name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    block_on(run_test(args, choice))
}

/// The Evaluation recorded last, as a reference.
async fn latest_evaluation(lazy: &mut LazyStore<'_>) -> anyhow::Result<String> {
    let Some(store) = lazy.for_recording().await? else {
        bail!("name the Evaluation this test follows with --evaluation (there is no store to find it in)");
    };
    let evaluations = store.list(&ListQuery::new(Kind::Evaluation)).await?;
    let latest = evaluations
        .iter()
        .max_by_key(|e| e.updated_seq)
        .context("the store holds no Evaluation; run `mlspec eval` first, or pass --evaluation")?;
    Ok(format!("Evaluation/{}", latest.name))
}

/// The holdback file: `--holdback` itself, or the `local` path of the Dataset version it names
/// (which then is the TestReport's dataset, unless `--dataset` says otherwise).
async fn holdback_file(args: &mut Args, lazy: &mut LazyStore<'_>) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(&args.holdback);
    if path.exists() {
        return Ok(path);
    }
    let Ok(reference) = args.holdback.parse::<Ref>() else {
        bail!("--holdback {}: no such file, nor a Dataset reference", args.holdback);
    };
    let stored = lazy.get().await?.get(&mlspec_store::Selector::from(&reference)).await?;
    let Spec::Dataset(dataset) = &stored.document.spec else {
        bail!("--holdback {reference} is not a Dataset");
    };
    let version = stored
        .version
        .as_ref()
        .map(|v| v.version.clone())
        .or_else(|| dataset.current.clone())
        .or_else(|| dataset.versions.last().map(|v| v.version.clone()));
    let file = dataset
        .versions
        .iter()
        .find(|v| Some(&v.version) == version.as_ref())
        .and_then(|v| v.definition.path.as_ref())
        .with_context(|| format!("{reference} names no file (its version has no `path`)"))?;
    args.dataset.get_or_insert(reference.clone());
    Ok(PathBuf::from(file.as_str()))
}

/// Archiving a report does not give its read back.
const ALL_STATUSES: [Status; 3] = [Status::Active, Status::Deprecated, Status::Archived];

async fn run_test(mut args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut lazy = LazyStore::new(choice);
    let evaluation_arg = match &args.evaluation {
        Some(arg) => arg.clone(),
        None => latest_evaluation(&mut lazy).await?,
    };
    let evaluation = load_document(&evaluation_arg, &[Kind::Evaluation], &mut lazy).await?;
    let Spec::Evaluation(evaluated) = &evaluation.spec else {
        bail!("{evaluation_arg} is not an Evaluation");
    };
    let holdback = holdback_file(&mut args, &mut lazy).await?;
    let budget = match &args.objectives {
        Some(arg) => match load_document(arg, &[Kind::Objectives], &mut lazy).await?.spec {
            Spec::Objectives(spec) => spec.holdback_read_budget,
            _ => None,
        },
        None => None,
    };
    let Some(store) = lazy.for_recording().await? else {
        bail!(
            "the test stage counts every read of the holdback data in a store, and there is none here (`mlspec init` makes one)"
        );
    };
    let read = args.eval.read_options();
    let options = LeakageOptions {
        keys: args.key.clone(),
        ignore: args.ignore.clone(),
        near: None,
    };
    let rows = hash_file(&holdback, &read, &options)?;
    let columns = row_columns(&holdback, &read, &args.ignore)?;
    let digest = compare(vec![rows.clone()], columns.clone(), args.key.clone())
        .inputs
        .first()
        .map(|proof| proof.rows_digest.clone())
        .context("the holdback data has no digest")?;
    let dataset = match &args.dataset {
        Some(dataset) => dataset.clone(),
        None => Ref::named(Kind::Dataset, derived_name(&holdback, "data")?),
    };
    let guard = Guard {
        store,
        digest: digest.as_str(),
        columns: &columns,
        args: &args,
    };
    let reads = guard.check(&dataset, &evaluated.dataset, rows, budget).await?;

    let outcome = args.eval.run(&args.predictions)?;
    let parts = outcome.spec_parts()?;
    // Each read is its own TestReport, so that the reads can be counted.
    let stem = document_name(args.name.as_deref(), &args.predictions, "test")?;
    let name = mlspec_spec::Name::new(format!("{stem}-read-{reads}"))?;
    let mut document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec: Spec::TestReport(TestReportSpec {
            model: evaluated.model.clone(),
            dataset,
            evaluation: Ref::named(Kind::Evaluation, evaluation.metadata.name.clone()),
            evaluation_dataset: Some(evaluated.dataset.clone()),
            training_datasets: Vec::new(),
            metrics: parts.metrics,
            undefined: parts.undefined,
            slices: parts.slices,
            holdback_digest: Some(digest),
            holdback_reads: reads,
            holdback_read_budget: budget,
            verdict: None,
        }),
    };
    let verdict = match &args.objectives {
        Some(objectives) => Some(verdict_on(objectives, &document, None, &mut lazy).await?),
        None => None,
    };
    let failed = verdict.as_ref().is_some_and(|v| v.result == Outcome::Failed);
    if let Spec::TestReport(spec) = &mut document.spec {
        spec.verdict = verdict.clone();
    }
    write_document(&document, &args.output)?;
    err!("{}", summary(&outcome, verdict.as_ref()));
    errln!(
        "holdback reads: {reads}{}",
        budget.map(|b| format!(" of {b}")).unwrap_or_default()
    );
    record(&mut lazy, vec![document]).await?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The checks that come before any label is read.
struct Guard<'a> {
    store: &'a dyn Store,
    digest: &'a str,
    columns: &'a [String],
    args: &'a Args,
}

impl Guard<'_> {
    /// This read's number (earlier reads + 1); a refusal when the test may not run.
    async fn check(
        &self,
        dataset: &Ref,
        evaluation_dataset: &Ref,
        holdback: HashedRows,
        budget: Option<u32>,
    ) -> anyhow::Result<u32> {
        if dataset == evaluation_dataset {
            return Err(Violation::Refused(format!(
                "the holdback data {dataset} is the data the evaluation was made on; test on data the model was never judged on"
            )).into());
        }
        let vouched = self.recorded_split().await?;
        self.against(holdback)?;
        if vouched.is_none() && self.args.against.is_empty() {
            return Err(Violation::Refused(
                "nothing shows that these rows were held back: they are not the holdback part of a Split recorded in the store (`mlspec data split … --dataset`), and no --against files were given to check them against".into(),
            ).into());
        }
        let earlier = self.earlier_reads().await?;
        if let Some(budget) = budget
            && earlier >= budget
        {
            return Err(Violation::Refused(format!(
                "the holdback read budget is spent: the holdback rows ({}) have been read {earlier} times, and the Objectives allow {budget}",
                self.digest
            )).into());
        }
        Ok(earlier + 1)
    }

    /// The Split that vouches for the rows (its holdback part, recorded without leakage), or
    /// the refusal when a recorded Split shows them to be another part or leaked.
    async fn recorded_split(&self) -> anyhow::Result<Option<String>> {
        let splits = self
            .store
            .list(&ListQuery {
                statuses: ALL_STATUSES.to_vec(),
                ..ListQuery::new(Kind::Split)
            })
            .await?;
        let mut vouched = None;
        for summary in splits {
            let stored = self
                .store
                .get(&Selector::KindText {
                    kind: Kind::Split,
                    text: summary.id.clone(),
                })
                .await?;
            let Spec::Split(split) = &stored.document.spec else {
                continue;
            };
            let Some(leakage) = &split.leakage else { continue };
            let same_columns = leakage
                .row_columns
                .iter()
                .map(|k| k.as_str())
                .eq(self.columns.iter().map(String::as_str));
            if !same_columns {
                continue;
            }
            let Some((role, _)) = leakage.row_hash_digests.iter().find(|(_, d)| d.as_str() == self.digest) else {
                continue;
            };
            let name = format!("Split/{}", stored.document.metadata.name);
            let holdback = split
                .splits
                .iter()
                .any(|p| p.role == SplitRole::Holdback && mlspec_data::split::role_name(p.role) == role.as_str());
            if !holdback {
                return Err(Violation::Refused(format!(
                    "these rows are the `{role}` part of {name}, not its holdback part: the model was trained, tuned or evaluated on them"
                )).into());
            }
            if leakage.shared_rows > 0 || leakage.shared_keys > 0 {
                return Err(Violation::Refused(format!(
                    "{name} recorded {} rows and {} keys shared between its parts: its holdback part overlaps the data the model saw",
                    leakage.shared_rows, leakage.shared_keys
                )).into());
            }
            vouched = Some(name);
        }
        Ok(vouched)
    }

    /// The leakage check against the --against files.
    fn against(&self, holdback: HashedRows) -> anyhow::Result<()> {
        if self.args.against.is_empty() {
            return Ok(());
        }
        let read = self.args.eval.read_options();
        let options = LeakageOptions {
            keys: self.args.key.clone(),
            ignore: self.args.ignore.clone(),
            near: None,
        };
        let mut inputs = vec![holdback];
        for file in &self.args.against {
            inputs.push(hash_file(file, &read, &options)?);
        }
        let report = compare(inputs, self.columns.to_vec(), self.args.key.clone());
        for (pair, file) in report
            .pairs
            .iter()
            .take(self.args.against.len())
            .zip(&self.args.against)
        {
            if pair.leaks() {
                let keys = pair.keys.as_ref();
                let example = pair
                    .rows
                    .examples
                    .first()
                    .or(keys.and_then(|k| k.examples.first()))
                    .map(|(ours, theirs)| format!(" (e.g. holdback row {ours} is its row {theirs})"))
                    .unwrap_or_default();
                return Err(Violation::Refused(format!(
                    "the holdback data shares {} rows and {} keys with {}{example}",
                    pair.rows.distinct,
                    keys.map_or(0, |k| k.distinct),
                    file.display(),
                ))
                .into());
            }
        }
        Ok(())
    }

    /// TestReports recorded on these holdback rows, whatever their status.
    async fn earlier_reads(&self) -> anyhow::Result<u32> {
        let filter = parse_filter(&format!("spec.holdbackDigest = \"{}\"", self.digest))
            .map_err(|_| anyhow::anyhow!("cannot query the holdback reads"))?;
        let earlier = self
            .store
            .list(&ListQuery {
                statuses: ALL_STATUSES.to_vec(),
                filter: Some(filter),
                ..ListQuery::new(Kind::TestReport)
            })
            .await?;
        Ok(u32::try_from(earlier.len()).unwrap_or(u32::MAX))
    }
}

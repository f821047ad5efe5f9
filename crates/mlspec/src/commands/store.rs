//! `mlspec store verify|info` and `mlspec db upgrade`: the store itself.

use std::process::ExitCode;

use mlspec_store::{SCHEMA_VERSION, SqlStore};

use crate::output::{Format, TEXT_OR_JSON, formats};
use crate::store::{StoreChoice, block_on};

/// Inspect or check the store.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(clap::Subcommand)]
enum StoreCommand {
    /// Recompute the event log's hash chain and check every table against it. Exit 0 when
    /// intact, 1 when anything was edited, deleted, inserted or reordered outside mlspec.
    Verify {
        /// Also require this head hash (recorded earlier, elsewhere), to catch a rewrite of the
        /// whole log.
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
        /// How to print the report.
        #[arg(long, value_parser = formats(TEXT_OR_JSON), default_value = "text")]
        format: Format,
    },
    /// Show the store's backend, id, schema version and size.
    Info,
}

/// Manage the store's database schema.
#[derive(clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(clap::Subcommand)]
enum DbCommand {
    /// Upgrade an older store's schema to this mlspec's version (in one transaction).
    Upgrade,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        StoreCommand::Verify { expect_head, format } => verify(choice, expect_head, format),
        StoreCommand::Info => {
            let info = block_on(async { Ok(choice.open().await?.info().await?) })?;
            crate::output::json(&info)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify(choice: &StoreChoice, expect_head: Option<String>, format: Format) -> anyhow::Result<ExitCode> {
    let mut report = block_on(async { Ok(choice.open().await?.verify().await?) })?;
    if let Some(expected) = expect_head
        && !expected.eq_ignore_ascii_case(&report.head_hash)
    {
        report.problems.push(format!(
            "the head hash is {} but {expected} was expected: the log was rewritten or the wrong store was checked",
            report.head_hash
        ));
    }
    match format {
        Format::Json => crate::output::json(&report)?,
        _ => {
            for problem in &report.problems {
                outln!("problem: {problem}");
            }
            let verdict = if report.problems.is_empty() {
                "intact"
            } else {
                "TAMPERED"
            };
            outln!(
                "{verdict}: {} events, {} objects, {} problem(s); head event {} {}",
                report.events,
                report.objects,
                report.problems.len(),
                report.head_seq,
                report.head_hash
            );
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn upgrade(_args: DbArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let location = choice.location()?;
    block_on(async {
        let (store, from) = SqlStore::upgrade(&location).await?;
        store.close().await;
        if from == SCHEMA_VERSION {
            outln!("The store at {location} is at schema version {SCHEMA_VERSION}; nothing to do");
        } else {
            outln!("Upgraded the store at {location} from schema version {from} to {SCHEMA_VERSION}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

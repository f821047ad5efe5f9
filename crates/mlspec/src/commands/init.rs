//! `mlspec init`: create the project's store.

use std::process::ExitCode;

use mlspec_store::{Location, SqlStore};

use crate::store::{StoreChoice, block_on};

/// Create a metadata store: `.mlspec/store.db` (SQLite) in the current directory, or the store
/// that --store / MLSPEC_STORE names (e.g. a PostgreSQL database). Running it again changes
/// nothing.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let location = match &choice.url {
        Some(url) => Location::parse(url)?,
        None => Location::in_project(&std::env::current_dir()?),
    };
    block_on(async {
        let (store, created) = SqlStore::init(&location).await?;
        store.close().await;
        if created {
            outln!("Initialized an empty mlspec store at {location}");
        } else {
            outln!("The mlspec store at {location} already exists; nothing changed");
        }
        Ok(ExitCode::SUCCESS)
    })
}

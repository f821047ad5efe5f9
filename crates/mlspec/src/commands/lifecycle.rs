//! `mlspec deprecate|archive|reactivate|rename|promote`: change an object's lifecycle.

use std::process::ExitCode;

use mlspec_spec::{Kind, Name, Status, Version};
use mlspec_store::{Change, Selector};

use crate::store::{ObjectArg, StoreChoice, actor, block_on, selector};

/// Deprecate an object (still usable, with a warning), or one version (`Dataset NAME@VERSION`,
/// `Module NAME@VERSION`).
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    object: ObjectArg,
}

/// Rename an object; the new name must be free, ignoring case, among the kind's non-archived
/// objects.
#[derive(clap::Args)]
pub struct RenameArgs {
    /// `KIND NAME|ID` or a reference, then the new name.
    #[arg(value_name = "KIND NAME|ID | REF> <NEW_NAME", num_args = 2..=3, required = true)]
    args: Vec<String>,
}

/// Make an Artifact a new version of a Dataset (created if it does not exist), pointing at the
/// artifact's location and digest, with lineage back to it and its run.
#[derive(clap::Args)]
pub struct PromoteArgs {
    /// The artifact: its id, its name (when unique), or `Artifact/NAME`.
    artifact: String,
    /// The dataset to add a version to.
    #[arg(long)]
    dataset: String,
    /// The new version's name (default: one more than the largest integer version).
    #[arg(long, value_name = "VERSION")]
    dataset_version: Option<String>,
}

pub fn set_status(args: StatusArgs, status: Status, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let selector = args.object.selector()?;
    let change = block_on(async { Ok(choice.open().await?.set_status(&selector, status, &actor()).await?) })?;
    print_change(&change);
    Ok(ExitCode::SUCCESS)
}

pub fn rename(args: RenameArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let Some((new_name, target)) = args.args.split_last() else {
        anyhow::bail!("name the object and its new name");
    };
    let selector = selector(target)?;
    let new_name = Name::new(new_name.as_str())?;
    let change = block_on(async { Ok(choice.open().await?.rename(&selector, &new_name, &actor()).await?) })?;
    print_change(&change);
    Ok(ExitCode::SUCCESS)
}

pub fn promote(args: PromoteArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let artifact = if args.artifact.contains('/') {
        selector(std::slice::from_ref(&args.artifact))?
    } else {
        Selector::KindText {
            kind: Kind::Artifact,
            text: args.artifact.clone(),
        }
    };
    let dataset = Name::new(args.dataset.as_str())?;
    let version = args.dataset_version.as_deref().map(Version::new).transpose()?;
    let change = block_on(async {
        Ok(choice
            .open()
            .await?
            .promote(&artifact, &dataset, version.as_ref(), &actor())
            .await?)
    })?;
    print_change(&change);
    Ok(ExitCode::SUCCESS)
}

fn print_change(change: &Change) {
    if change.changed {
        outln!("{}", change.description);
    } else {
        outln!("{} (already so; nothing changed)", change.description);
    }
    for warning in &change.warnings {
        errln!("warning: {warning}");
    }
}

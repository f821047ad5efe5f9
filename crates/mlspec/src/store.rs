//! What every store command shares: finding and opening the store, who is acting, reading an
//! object argument, recording a command's result, and running the async store from a
//! synchronous command.

use std::future::Future;

use anyhow::Context as _;
use mlspec_spec::{Document, Kind, Ref, RefTarget};
use mlspec_store::{Location, Selector, Store, StoreError};

/// The store the user named with `--store` / `MLSPEC_STORE`, if any.
#[derive(Clone, Debug, Default)]
pub struct StoreChoice {
    pub url: Option<String>,
}

impl StoreChoice {
    /// The store's location: the URL given, else `.mlspec/store.db` found by walking up from the
    /// working directory.
    pub fn location(&self) -> Result<Location, StoreError> {
        match &self.url {
            Some(url) => Location::parse(url),
            None => {
                let cwd = std::env::current_dir()
                    .map_err(|e| StoreError::invalid(format!("cannot read the working directory: {e}")))?;
                Location::discover(&cwd)
            }
        }
    }

    /// Opens the existing store.
    pub async fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        mlspec_store::open(&self.location()?).await
    }
}

/// The store, opened when first needed.
pub struct LazyStore<'a> {
    choice: &'a StoreChoice,
    store: Option<Box<dyn Store>>,
}

impl<'a> LazyStore<'a> {
    /// Nothing opened yet.
    pub fn new(choice: &'a StoreChoice) -> LazyStore<'a> {
        LazyStore { choice, store: None }
    }

    pub async fn get(&mut self) -> anyhow::Result<&dyn Store> {
        if self.store.is_none() {
            self.store = Some(self.choice.open().await?);
        }
        self.store.as_deref().context("the store is not open")
    }

    /// The store to record in, if one is in use: the one named by --store, or one found upwards.
    pub async fn for_recording(&mut self) -> anyhow::Result<Option<&dyn Store>> {
        if self.store.is_none() && self.choice.url.is_none() && self.choice.location().is_err() {
            return Ok(None);
        }
        self.get().await.map(Some)
    }
}

/// Applies the documents to the store when one is in use, and says so.
pub async fn record(store: &mut LazyStore<'_>, documents: Vec<Document>) -> anyhow::Result<()> {
    let Some(store) = store.for_recording().await? else {
        errln!("note: no store here, so the result was not recorded (`mlspec init` makes one)");
        return Ok(());
    };
    let report = store
        .apply(&documents, &actor())
        .await
        .context("the result could not be recorded")?;
    for warning in &report.warnings {
        errln!("warning: {warning}");
    }
    for applied in &report.results {
        errln!("recorded {}/{} ({})", applied.kind, applied.name, applied.id);
    }
    Ok(())
}

/// Runs a store command's future to completion on a single-threaded runtime.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// The user named by `--user` (or `MLSPEC_USER`), set once by `main`.
static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records who acts for this process (`--user` / `MLSPEC_USER`).
pub fn set_user(user: Option<String>) {
    if let Some(user) = user.filter(|u| !u.trim().is_empty()) {
        let _ = USER.set(user);
    }
}

/// Who is acting, as recorded in `createdBy` and every event: `--user` / `MLSPEC_USER`, else
/// `MLSPEC_ACTOR` (its older name), else the operating system's user (the account of the
/// process's uid, so it holds in containers and CI where `USER` is unset), else `uid N`.
pub fn actor() -> String {
    if let Some(user) = USER.get() {
        return user.clone();
    }
    if let Some(user) = std::env::var(crate::env::ACTOR).ok().filter(|v| !v.trim().is_empty()) {
        return user;
    }
    let uid = nix::unistd::Uid::current();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(account)) => account.name,
        _ => ["USER", "LOGNAME"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| format!("uid {uid}")),
    }
}

/// An object named on the command line: `KIND NAME|ID`, `Kind/name[@version]`, or an id.
#[derive(clap::Args, Clone, Debug)]
pub struct ObjectArg {
    /// `KIND NAME|ID` (e.g. `Run train-42`, `Dataset customers@3`), or one reference
    /// (`Kind/name[@version]` or an id).
    #[arg(value_name = "KIND NAME|ID | REF", num_args = 1..=2, required = true)]
    pub target: Vec<String>,
}

impl ObjectArg {
    pub fn selector(&self) -> Result<Selector, StoreError> {
        selector(&self.target)
    }
}

/// A kind as people type it on a command line: `Run`, `run`, `runs`, `data-profile`,
/// `datasets`.
pub fn parse_kind(text: &str) -> Result<Kind, StoreError> {
    Kind::lookup(text)
        .or_else(|error| {
            let singular = text
                .strip_suffix("es")
                .filter(|s| s.ends_with('s'))
                .or_else(|| text.strip_suffix('s'));
            singular.and_then(|s| Kind::lookup(s).ok()).ok_or(error)
        })
        .map_err(|e| StoreError::invalid(e.to_string()))
}

pub fn selector(target: &[String]) -> Result<Selector, StoreError> {
    match target {
        [kind, text] => {
            let kind = parse_kind(kind)?;
            Ok(Selector::KindText {
                kind,
                text: text.clone(),
            })
        }
        [reference] => {
            let parsed: Ref = reference.parse().map_err(|e: mlspec_spec::reference::InvalidRef| {
                StoreError::invalid(e.to_string()).with_hint("write KIND NAME, Kind/name[@version], or an id")
            })?;
            if let RefTarget::Id(_) = parsed.target
                && reference.contains('/')
            {
                return Err(StoreError::invalid(format!("`{reference}` is not a reference")));
            }
            Ok(Selector::from(&parsed))
        }
        _ => Err(StoreError::invalid("name one object: KIND NAME|ID, or a reference")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_as_typed() {
        for (text, kind) in [
            ("Run", Kind::Run),
            ("runs", Kind::Run),
            ("datasets", Kind::Dataset),
            ("data-profiles", Kind::DataProfile),
            ("Objectives", Kind::Objectives),
        ] {
            assert_eq!(parse_kind(text).unwrap(), kind, "{text}");
        }
        assert!(parse_kind("wombats").is_err());
    }
}

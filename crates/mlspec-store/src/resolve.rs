//! Finding objects by id or name, the way references and command lines name them: names are
//! matched case-insensitively among non-archived objects; a Module's version is part of its
//! identity; a Dataset's version is a version inside it. During a batch, the objects the batch
//! is creating or changing take precedence over what the database holds.

use std::collections::HashMap;

use mlspec_spec::{Document, Kind, Ref, RefTarget, Spec, Status};
use sqlx::AnyConnection;

use crate::current::{Current, fetch_current, name_key};
use crate::error::{ErrorKind, Result, StoreError};
use crate::model::{Selector, VersionInfo};

/// Keys fetched per query when prefetching.
const CHUNK: usize = 500;

/// An object that a name or id may refer to.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub scope: String,
    pub status: Status,
    /// Creation order, the object's `created_seq` (also its key in `edges`): later objects
    /// compare greater.
    pub order: i64,
    /// The document's JSON, stored or about to be.
    pub document: String,
}

impl Candidate {
    fn from_current(current: &Current) -> Candidate {
        Candidate {
            id: current.id.clone(),
            kind: current.kind,
            name: current.name.clone(),
            scope: current.scope.clone(),
            status: current.status,
            order: current.created_seq,
            document: current.document.clone(),
        }
    }

    pub fn parse_document(&self) -> Result<Document> {
        serde_json::from_str(&self.document).map_err(|e| {
            StoreError::data_loss(format!("the stored document of {} cannot be read: {e}", self.id))
                .with_hint("run `mlspec store verify`")
        })
    }

    /// `Kind/name` (with `@version` for a Module), for messages.
    pub fn display(&self) -> String {
        crate::current::display(self.kind, &self.name, &self.scope)
    }
}

/// What a reference resolved to.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub object: Candidate,
    /// The Dataset version it selected.
    pub version: Option<VersionInfo>,
}

/// Resolves names and ids, caching what it read and overlaying a batch's pending objects.
#[derive(Default)]
pub(crate) struct Resolver {
    live: HashMap<(Kind, String), Vec<Candidate>>,
    ids: HashMap<String, Option<Candidate>>,
    pending: Vec<Candidate>,
    pending_ids: HashMap<String, usize>,
    pending_names: HashMap<(Kind, String), Vec<usize>>,
}

impl Resolver {
    /// Makes `candidate` visible to later lookups, replacing the stored object with its id.
    pub fn add_pending(&mut self, candidate: Candidate) {
        let key = (candidate.kind, name_key(&candidate.name));
        let index = match self.pending_ids.get(&candidate.id) {
            Some(&i) => {
                let old = (self.pending[i].kind, name_key(&self.pending[i].name));
                if let Some(indices) = self.pending_names.get_mut(&old) {
                    indices.retain(|&j| j != i);
                }
                self.pending[i] = candidate;
                i
            }
            None => {
                self.pending_ids.insert(candidate.id.clone(), self.pending.len());
                self.pending.push(candidate);
                self.pending.len() - 1
            }
        };
        self.pending_names.entry(key).or_default().push(index);
    }

    /// Reads the non-archived objects with these `(kind, name_key)`s in a few queries.
    pub async fn prefetch(&mut self, conn: &mut AnyConnection, keys: &[(Kind, String)]) -> Result<()> {
        let mut by_kind: HashMap<Kind, Vec<&str>> = HashMap::new();
        for (kind, key) in keys {
            if !self.live.contains_key(&(*kind, key.clone())) {
                by_kind.entry(*kind).or_default().push(key);
            }
        }
        for (kind, mut names) in by_kind {
            names.sort_unstable();
            names.dedup();
            for chunk in names.chunks(CHUNK) {
                let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
                let filter = format!(
                    "o.kind = $1 AND o.status <> 'Archived' AND o.name_key IN ({})",
                    placeholders.join(", ")
                );
                let mut params = vec![kind.as_str()];
                params.extend(chunk.iter().copied());
                for key in chunk {
                    self.live.insert((kind, (*key).to_owned()), Vec::new());
                }
                for current in fetch_current(conn, &filter, &params).await? {
                    let key = (kind, name_key(&current.name));
                    self.live
                        .entry(key)
                        .or_default()
                        .push(Candidate::from_current(&current));
                }
            }
        }
        Ok(())
    }

    /// Reads the objects with these ids, whatever their status, in a few queries; an id found
    /// nowhere is remembered as absent.
    pub async fn prefetch_ids(&mut self, conn: &mut AnyConnection, ids: &[&str]) -> Result<()> {
        let mut wanted: Vec<&str> = ids.iter().copied().filter(|id| !self.ids.contains_key(*id)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        for chunk in wanted.chunks(CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let filter = format!("o.id IN ({})", placeholders.join(", "));
            for id in chunk {
                self.ids.insert((*id).to_owned(), None);
            }
            for current in fetch_current(conn, &filter, chunk).await? {
                self.ids
                    .insert(current.id.clone(), Some(Candidate::from_current(&current)));
            }
        }
        Ok(())
    }

    /// The non-archived objects named `name` (any scope), pending ones included.
    async fn live(&mut self, conn: &mut AnyConnection, kind: Kind, name: &str) -> Result<Vec<Candidate>> {
        let key = name_key(name);
        if !self.live.contains_key(&(kind, key.clone())) {
            self.prefetch(conn, &[(kind, key.clone())]).await?;
        }
        let stored = self
            .live
            .get(&(kind, key.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut found: Vec<Candidate> = stored
            .iter()
            .filter(|c| !self.pending_ids.contains_key(&c.id))
            .cloned()
            .collect();
        let pending = self
            .pending_names
            .get(&(kind, key))
            .map(Vec::as_slice)
            .unwrap_or_default();
        found.extend(
            pending
                .iter()
                .filter_map(|&i| self.pending.get(i))
                .filter(|c| c.status != Status::Archived)
                .cloned(),
        );
        Ok(found)
    }

    /// The object with this id, whatever its status.
    pub async fn by_id(&mut self, conn: &mut AnyConnection, id: &str) -> Result<Option<Candidate>> {
        if let Some(&i) = self.pending_ids.get(id) {
            return Ok(self.pending.get(i).cloned());
        }
        if let Some(cached) = self.ids.get(id) {
            return Ok(cached.clone());
        }
        let found = fetch_current(conn, "o.id = $1", &[id]).await?;
        let candidate = found.first().map(Candidate::from_current);
        self.ids.insert(id.to_owned(), candidate.clone());
        Ok(candidate)
    }

    /// The object of `kind` with this exact identity (name key and scope), if it is live.
    pub async fn live_identity(
        &mut self,
        conn: &mut AnyConnection,
        kind: Kind,
        name: &str,
        scope: &str,
    ) -> Result<Option<Candidate>> {
        let key = name_key(name);
        if kind == Kind::Artifact && !self.live.contains_key(&(kind, key.clone())) {
            return self.live_in_scope(conn, kind, &key, scope).await;
        }
        Ok(self
            .live(conn, kind, name)
            .await?
            .into_iter()
            .find(|c| c.scope == scope))
    }

    /// The live object with this exact identity, read by the identity's index (not every
    /// object of that name in every scope), pending ones first.
    async fn live_in_scope(
        &mut self,
        conn: &mut AnyConnection,
        kind: Kind,
        key: &str,
        scope: &str,
    ) -> Result<Option<Candidate>> {
        let pending = self
            .pending_names
            .get(&(kind, key.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|&i| self.pending.get(i))
            .find(|c| c.scope == scope && c.status != Status::Archived)
            .cloned();
        if pending.is_some() {
            return Ok(pending);
        }
        let filter = "o.kind = $1 AND o.status <> 'Archived' AND o.name_key = $2 AND o.scope = $3";
        let stored = fetch_current(conn, filter, &[kind.as_str(), key, scope]).await?;
        Ok(stored
            .iter()
            .map(Candidate::from_current)
            .find(|c| !self.pending_ids.contains_key(&c.id)))
    }

    /// Resolves a reference inside a document.
    pub async fn resolve_ref(&mut self, conn: &mut AnyConnection, reference: &Ref) -> Result<Resolved> {
        self.resolve(conn, &Selector::from(reference)).await
    }

    /// Resolves a selector.
    pub async fn resolve(&mut self, conn: &mut AnyConnection, selector: &Selector) -> Result<Resolved> {
        match selector {
            Selector::Id(id) => match self.by_id(conn, id.as_str()).await? {
                Some(object) => Ok(Resolved { object, version: None }),
                None => Err(StoreError::not_found(format!("no object has the id `{id}`"))),
            },
            Selector::KindText { kind, text } => {
                if let Some(object) = self.by_id(conn, text).await?.filter(|c| c.kind == *kind) {
                    return Ok(Resolved { object, version: None });
                }
                let reference: Ref =
                    format!("{kind}/{text}")
                        .parse()
                        .map_err(|e: mlspec_spec::reference::InvalidRef| {
                            StoreError::invalid(format!(
                                "`{text}` is neither the id of a {kind} nor a name: {}",
                                e.reason
                            ))
                        })?;
                match &reference.target {
                    RefTarget::Named { kind, name, version } => {
                        self.by_name(conn, *kind, name.as_str(), version.as_ref().map(|v| v.as_str()))
                            .await
                    }
                    RefTarget::Id(_) => Err(StoreError::invalid(format!("`{text}` is not a name"))),
                }
            }
            Selector::Name { kind, name, version } => {
                self.by_name(conn, *kind, name.as_str(), version.as_ref().map(|v| v.as_str()))
                    .await
            }
        }
    }

    async fn by_name(
        &mut self,
        conn: &mut AnyConnection,
        kind: Kind,
        name: &str,
        version: Option<&str>,
    ) -> Result<Resolved> {
        let mut candidates = self.live(conn, kind, name).await?;
        if kind == Kind::Module
            && let Some(version) = version
        {
            candidates.retain(|c| c.scope == version);
        }
        let wanted = match version {
            Some(v) => format!("{kind}/{name}@{v}"),
            None => format!("{kind}/{name}"),
        };
        if candidates.is_empty() {
            if kind == Kind::Run
                && version.is_none()
                && let Some(object) = newest_run_of_step(conn, name).await?
            {
                return Ok(Resolved { object, version: None });
            }
            return Err(self.missing(conn, kind, name, version, &wanted).await);
        }
        candidates.sort_by_key(|c| c.order);
        if kind == Kind::Artifact && candidates.len() > 1 {
            let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
            return Err(StoreError::new(
                ErrorKind::Conflict,
                format!(
                    "{} artifacts are named `{name}` (one per producing run): {}",
                    candidates.len(),
                    ids.join(", ")
                ),
            )
            .with_hint("refer to the artifact by its id"));
        }
        // The newest version of a Module; the only candidate otherwise.
        let Some(object) = candidates.pop() else {
            return Err(StoreError::not_found(format!("{wanted} is not in the store")));
        };
        let version = match (kind, version) {
            (Kind::Module, _) | (_, None) => None,
            (_, Some(version)) => Some(select_version(&object, version, &wanted)?),
        };
        Ok(Resolved { object, version })
    }

    /// The error for a name with no live object: archived, or not there at all.
    async fn missing(
        &mut self,
        conn: &mut AnyConnection,
        kind: Kind,
        name: &str,
        version: Option<&str>,
        wanted: &str,
    ) -> StoreError {
        let key = name_key(name);
        let archived = fetch_current(
            conn,
            "o.kind = $1 AND o.name_key = $2 AND o.status = 'Archived'",
            &[kind.as_str(), &key],
        )
        .await
        .unwrap_or_default();
        let archived = archived
            .iter()
            .find(|c| kind != Kind::Module || version.is_none_or(|v| c.scope == v));
        match archived {
            Some(object) => StoreError::precondition(format!(
                "{wanted} is archived (id {}); using an archived object is an error",
                object.id
            ))
            .with_hint(format!(
                "reactivate it with `mlspec reactivate {kind} {}`, or refer to another",
                object.id
            )),
            None => StoreError::not_found(format!("{wanted} is not in the store")).with_hint(format!(
                "apply it first (or in the same batch); `mlspec list {kind}` shows what there is"
            )),
        }
    }
}

/// The label `mlspec step run` puts on every Run it records: the step's name.
pub const STEP_LABEL: &str = "mlspec.org/step";

/// The newest non-archived Run recorded for the step `step` (its `mlspec.org/step` label), so
/// that `Run/train` names the latest run of `mlspec step run --name train` when no Run is named
/// `train` itself.
async fn newest_run_of_step(conn: &mut AnyConnection, step: &str) -> Result<Option<Candidate>> {
    let newest = fetch_current(
        conn,
        "o.kind = 'Run' AND o.status <> 'Archived' AND o.created_seq IN \
         (SELECT object_key FROM labels WHERE key = $1 AND value = $2) \
         ORDER BY o.created_seq DESC LIMIT 1",
        &[STEP_LABEL, step],
    )
    .await?;
    Ok(newest.first().map(Candidate::from_current))
}

/// The version `version` of a Dataset (a version inside its document) or of a versioned
/// document such as a ModelPackage (which must be the current one).
fn select_version(object: &Candidate, version: &str, wanted: &str) -> Result<VersionInfo> {
    let document = object.parse_document()?;
    match &document.spec {
        Spec::Dataset(dataset) => {
            let found = dataset.versions.iter().find(|v| v.version.as_str() == version);
            match found {
                Some(v) => Ok(VersionInfo {
                    version: v.version.clone(),
                    status: v.status,
                }),
                None => {
                    let known: Vec<&str> = dataset.versions.iter().map(|v| v.version.as_str()).collect();
                    Err(
                        StoreError::not_found(format!("{wanted}: the dataset has no version `{version}`"))
                            .with_hint(format!("its versions are: {}", known.join(", "))),
                    )
                }
            }
        }
        Spec::ModelPackage(package) if package.version.as_str() == version => Ok(VersionInfo {
            version: package.version.clone(),
            status: object.status,
        }),
        Spec::ModelPackage(package) => Err(StoreError::not_found(format!(
            "{wanted}: the package's version is `{}`",
            package.version
        ))),
        _ => Err(StoreError::invalid(format!(
            "{wanted}: a {} has no versions; only Datasets, Modules and ModelPackages do",
            object.kind
        ))),
    }
}

//! What every handler shares: the store, the artifact root, and the locks that make MLflow's
//! small writes safe under concurrency.
//!
//! # Why locks
//!
//! MLflow logs a metric, a param or a tag as one small call; in MLSpec they all live in the
//! Run's document, so each call is a read-modify-write of that document. The store serialises
//! writes, but `apply` is last-writer-wins: two clients that read version 5 of a run and each
//! add a point would both write version 6, and one point would be lost. So every change to a
//! run (or logged model) runs under a lock for its id, held from the read to the write: the
//! second writer reads what the first wrote. The locks are striped (a fixed table indexed by a
//! hash of the id) so memory stays bounded however many runs there are; two runs that share a
//! stripe only wait for each other. Creating an experiment, a dataset or a registered model
//! decides its document name from what exists, so creations take one catalog lock.
//!
//! This holds for one server process per store. Several server processes writing the same
//! PostgreSQL store would need the store's own compare-and-set, which it does not offer yet.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mlspec_spec::{Document, Kind};
use mlspec_store::{ListQuery, Selector, Store, StoredObject};
use tokio::sync::{Mutex, MutexGuard};

use crate::artifacts::ArtifactRoot;
use crate::error::{MlflowError, Result};
use crate::naming::object_id;

/// Who the store records as the author of a change made through the MLflow API when the
/// request names no one (no token, no `X-MLSpec-Actor` header).
pub const ACTOR: &str = "mlflow-api";

tokio::task_local! {
    /// Who acts for the request being answered.
    static REQUEST_ACTOR: String;
}

/// The author of the changes the request being answered makes: the name the server's token
/// check put in `X-MLSpec-Actor` (or that a client sent, on a server without tokens), else
/// [`ACTOR`].
pub fn actor() -> String {
    REQUEST_ACTOR
        .try_with(Clone::clone)
        .unwrap_or_else(|_| ACTOR.to_owned())
}

/// Answers `request` with its actor known to [`actor`]; a malformed header is a 400.
pub async fn with_actor(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let named = request
        .headers()
        .get(mlspec_store::wire::ACTOR_HEADER)
        .map(|value| mlspec_store::wire::decode_actor(value.as_bytes()));
    let actor = match named {
        None => ACTOR.to_owned(),
        Some(Ok(actor)) => actor,
        Some(Err(reason)) => return MlflowError::invalid(reason).into_response(),
    };
    REQUEST_ACTOR.scope(actor, next.run(request)).await
}

/// Lock stripes for per-object read-modify-write.
const STRIPES: usize = 64;

/// How many documents a listing reads at once (bounding the memory of one read).
const OBJECTS_PER_READ: usize = 1_000;

/// The state behind the MLflow routes.
pub struct MlflowState {
    /// The metadata store.
    pub store: Arc<dyn Store>,
    /// Where artifact files live.
    pub artifacts: ArtifactRoot,
    stripes: Vec<Mutex<()>>,
    catalog: Mutex<()>,
    /// Set once the Default experiment is known to exist.
    pub default_experiment: Made,
    /// Set once the Datastore of the artifact root is known to exist.
    pub datastore: Made,
}

/// A flag for something made once (checked without a lock, set after it is stored).
#[derive(Default)]
pub struct Made(AtomicBool);

impl Made {
    /// Whether it is known to exist.
    pub fn is_made(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Records that it exists.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl MlflowState {
    /// The state over `store`, with artifact files under `artifacts` (created when missing).
    pub fn new(store: Arc<dyn Store>, artifacts: PathBuf) -> MlflowState {
        MlflowState {
            store,
            artifacts: ArtifactRoot::new(artifacts),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            catalog: Mutex::new(()),
            default_experiment: Made::default(),
            datastore: Made::default(),
        }
    }

    /// Holds the write lock of the object with `id` (see the module docs).
    pub async fn lock(&self, id: &str) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        let stripe = (hasher.finish() % STRIPES as u64) as usize;
        self.stripes[stripe].lock().await
    }

    /// Holds the lock under which new objects are named.
    pub async fn lock_catalog(&self) -> MutexGuard<'_, ()> {
        self.catalog.lock().await
    }

    /// The object of `kind` with `id`, or a 404 naming `what`.
    pub async fn object(&self, kind: Kind, id: &str, what: &str) -> Result<StoredObject> {
        let selector = Selector::Id(object_id(id, what)?);
        match self.store.get(&selector).await {
            Ok(found) if found.summary.kind == kind => Ok(found),
            Ok(_) => Err(MlflowError::not_found(format!("{what} with id={id} not found"))),
            Err(e) if e.kind == mlspec_store::ErrorKind::NotFound => {
                Err(MlflowError::not_found(format!("{what} with id={id} not found")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The objects of `kind` with these ids, in order, read together.
    pub async fn objects(&self, kind: Kind, ids: &[String], what: &str) -> Result<Vec<StoredObject>> {
        let ids = ids.iter().map(|id| object_id(id, what)).collect::<Result<Vec<_>>>()?;
        let mut objects = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(OBJECTS_PER_READ) {
            match self.store.get_many(chunk).await {
                Ok(found) => objects.extend(found),
                // One is gone or never was: find which, to name it.
                Err(e) if e.kind == mlspec_store::ErrorKind::NotFound => {
                    for id in chunk {
                        self.object(kind, id.as_str(), what).await?;
                    }
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        match objects.iter().find(|o| o.summary.kind != kind) {
            Some(other) => Err(MlflowError::not_found(format!(
                "{what} with id={} not found",
                other.summary.id
            ))),
            None => Ok(objects),
        }
    }

    /// Every object `query` lists.
    pub async fn listed(&self, query: &ListQuery, what: &str) -> Result<Vec<StoredObject>> {
        let ids: Vec<String> = self.store.list(query).await?.into_iter().map(|s| s.id).collect();
        self.objects(query.kind, &ids, what).await
    }

    /// The live object of `kind` named `name`, if any.
    pub async fn named(&self, kind: Kind, name: &mlspec_spec::Name) -> Result<Option<StoredObject>> {
        let selector = Selector::Name {
            kind,
            name: name.clone(),
            version: None,
        };
        match self.store.get(&selector).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.kind == mlspec_store::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the documents in one transaction; the store checks each against its kind's
    /// rules (a broken one is a 400 naming the rule).
    pub async fn save(&self, documents: &[Document]) -> Result<()> {
        self.store.apply(documents, &actor()).await?;
        Ok(())
    }
}

//! Applying documents: create or update objects idempotently, in one transaction per batch.
//!
//! A document is matched to a stored object by `metadata.id` when it has one, else by its
//! identity — kind and case-insensitive name, plus the version for a Module and the producing
//! run for an Artifact. The same content again writes no event. Every reference in the document
//! must resolve (to a stored object or one in the same batch) and becomes a lineage edge; using
//! an archived object or version is an error, a deprecated one a warning. The store never changes
//! an object's status on apply: that is what deprecate, archive and reactivate are for.

use std::collections::{BTreeSet, HashMap};

use mlspec_spec::{Document, Kind, ObjectId, RefTarget, Spec, Status};
use sqlx::AnyConnection;

use crate::current::{name_key, status_str};
use crate::error::{ErrorKind, Result, StoreError};
use crate::fields::fields_of;
use crate::links::references;
use crate::model::{Applied, ApplyAction, ApplyReport};
use crate::resolve::{Candidate, Resolver};
use crate::write::{Link, NewState, Previous, Writer, encode};

/// What the batch decided for one document before anything is written.
struct Plan {
    index: usize,
    document: Document,
    scope: String,
    existing: Option<Candidate>,
    json: String,
}

/// Applies `documents` in the caller's transaction.
pub(crate) async fn apply(conn: &mut AnyConnection, documents: &[Document], actor: &str) -> Result<ApplyReport> {
    let mut writer = Writer::begin(conn, actor).await?;
    let mut resolver = Resolver::default();
    // Artifacts are left out: their names repeat across runs (every run may write a `model`),
    // and each is looked up with its run by the identity's index (`live_identity`).
    let keys: Vec<(Kind, String)> = documents
        .iter()
        .filter(|d| d.kind() != Kind::Artifact)
        .map(|d| (d.kind(), name_key(d.metadata.name.as_str())))
        .collect();
    resolver.prefetch(conn, &keys).await?;
    // The ids the batch names — its documents' own and those its references point at — in a
    // few queries instead of one each.
    let ids: Vec<&str> = documents
        .iter()
        .flat_map(|d| {
            let referenced = references(d).into_iter().filter_map(|r| match &r.target.target {
                RefTarget::Id(id) => Some(id.as_str()),
                RefTarget::Named { .. } => None,
            });
            d.metadata
                .id
                .as_ref()
                .map(ObjectId::as_str)
                .into_iter()
                .chain(referenced)
        })
        .collect();
    resolver.prefetch_ids(conn, &ids).await?;

    // Artifacts last: their identity includes the producing run, which may be in this batch.
    let mut order: Vec<usize> = (0..documents.len()).collect();
    order.sort_by_key(|&i| documents[i].kind() == Kind::Artifact);
    let mut slots: Vec<Option<Document>> = documents.iter().cloned().map(Some).collect();
    let mut plans = Vec::with_capacity(slots.len());
    let mut seen: HashMap<(Kind, String, String), usize> = HashMap::new();
    for index in order {
        let Some(document) = slots[index].take() else { continue };
        let plan = plan(conn, &mut resolver, &mut writer, index, document).await?;
        let identity = (
            plan.document.kind(),
            name_key(plan.document.metadata.name.as_str()),
            plan.scope.clone(),
        );
        if let Some(first) = seen.insert(identity, index) {
            return Err(StoreError::invalid(format!(
                "documents {} and {} of the batch are both {}/{}",
                first + 1,
                index + 1,
                plan.document.kind(),
                plan.document.metadata.name
            ))
            .with_hint("apply one document per object"));
        }
        plans.push(plan);
    }

    let mut report = ApplyReport::default();
    let mut results: Vec<(usize, Applied)> = Vec::with_capacity(plans.len());
    for plan in &plans {
        let applied = record(conn, &mut resolver, &mut writer, plan, &mut report.warnings).await?;
        results.push((plan.index, applied));
    }
    writer.finish(conn).await?;
    results.sort_by_key(|(i, _)| *i);
    report.results = results.into_iter().map(|(_, a)| a).collect();
    Ok(report)
}

/// Finds the stored object a document updates (if any), normalizes the document and makes it
/// visible to the rest of the batch.
async fn plan(
    conn: &mut AnyConnection,
    resolver: &mut Resolver,
    writer: &mut Writer,
    index: usize,
    mut document: Document,
) -> Result<Plan> {
    let kind = document.kind();
    let scope = scope_of(conn, resolver, &document).await?;
    let name = document.metadata.name.as_str().to_owned();
    let existing = match &document.metadata.id {
        Some(id) => resolver.by_id(conn, id.as_str()).await?,
        None => resolver.live_identity(conn, kind, &name, &scope).await?,
    };
    match &existing {
        Some(existing) => check_update(existing, &document, conn, resolver, &scope).await?,
        None => check_name_free(&document, conn, resolver, &scope).await?,
    }
    normalize(&mut document, existing.as_ref(), writer)?;
    let json = encode(&document)?;
    let id = id_of(&document);
    resolver.add_pending(Candidate {
        id,
        kind,
        name,
        scope: scope.clone(),
        status: document.metadata.status,
        order: i64::MAX / 2 + index as i64,
        document: json.clone(),
    });
    Ok(Plan {
        index,
        document,
        scope,
        existing,
        json,
    })
}

/// What besides kind and name makes an object unique: a Module's version, an Artifact's run.
async fn scope_of(conn: &mut AnyConnection, resolver: &mut Resolver, document: &Document) -> Result<String> {
    match &document.spec {
        Spec::Module(module) => Ok(module.version.as_str().to_owned()),
        Spec::Artifact(artifact) => {
            let run = resolver
                .resolve_ref(conn, &artifact.run)
                .await
                .map_err(|e| at(document, "/spec/run", e))?;
            Ok(run.object.id)
        }
        _ => Ok(String::new()),
    }
}

async fn check_update(
    existing: &Candidate,
    document: &Document,
    conn: &mut AnyConnection,
    resolver: &mut Resolver,
    scope: &str,
) -> Result<()> {
    let wanted = format!("{}/{}", document.kind(), document.metadata.name);
    if existing.kind != document.kind() {
        return Err(StoreError::new(
            ErrorKind::Conflict,
            format!("{wanted}: the id `{}` belongs to {}", existing.id, existing.display()),
        ));
    }
    if existing.status == Status::Archived {
        return Err(StoreError::precondition(format!(
            "{} (id {}) is archived and cannot change",
            existing.display(),
            existing.id
        ))
        .with_hint(format!(
            "reactivate it first: `mlspec reactivate {} {}`",
            existing.kind, existing.id
        )));
    }
    if existing.name != document.metadata.name.as_str() {
        let by_id = document.metadata.id.is_some();
        let taken = resolver
            .live_identity(conn, document.kind(), document.metadata.name.as_str(), scope)
            .await?;
        if !by_id || taken.is_some_and(|other| other.id != existing.id) {
            return Err(StoreError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{wanted}: {} already exists (names are unique per kind, ignoring case)",
                    existing.display()
                ),
            )
            .with_hint("spell the name as stored to update it, or choose another name"));
        }
    }
    if document.metadata.status != Status::Active && document.metadata.status != existing.status {
        return Err(StoreError::invalid(format!(
            "{wanted}: apply does not change an object's status ({} → {})",
            status_str(existing.status),
            status_str(document.metadata.status)
        ))
        .with_hint("use `mlspec deprecate`, `mlspec archive` or `mlspec reactivate`"));
    }
    Ok(())
}

/// A new object (one that brings an id the store does not know yet) must not take a live name.
async fn check_name_free(
    document: &Document,
    conn: &mut AnyConnection,
    resolver: &mut Resolver,
    scope: &str,
) -> Result<()> {
    let name = document.metadata.name.as_str();
    match resolver.live_identity(conn, document.kind(), name, scope).await? {
        Some(other) => Err(StoreError::new(
            ErrorKind::AlreadyExists,
            format!(
                "{}/{name}: {} (id {}) already exists (names are unique per kind, ignoring case)",
                document.kind(),
                other.display(),
                other.id
            ),
        )
        .with_hint("drop metadata.id to update the existing object, or choose another name")),
        None => Ok(()),
    }
}

/// Sets what the store owns: the id, the status, and when and by whom it was created.
fn normalize(document: &mut Document, existing: Option<&Candidate>, writer: &Writer) -> Result<()> {
    match existing {
        Some(existing) => {
            let stored = existing.parse_document()?;
            document.metadata.id = stored.metadata.id;
            document.metadata.status = existing.status;
            document.metadata.created_at = document.metadata.created_at.take().or(stored.metadata.created_at);
            document.metadata.created_by = document.metadata.created_by.take().or(stored.metadata.created_by);
        }
        None => {
            if document.metadata.id.is_none() {
                document.metadata.id = Some(ObjectId::generate());
            }
            if document.metadata.created_at.is_none() {
                document.metadata.created_at = crate::current::timestamp(writer.at_us());
            }
            if document.metadata.created_by.is_none() {
                document.metadata.created_by = writer.actor_text();
            }
        }
    }
    Ok(())
}

/// Records the plan's event unless the stored document is identical.
async fn record(
    conn: &mut AnyConnection,
    resolver: &mut Resolver,
    writer: &mut Writer,
    plan: &Plan,
    warnings: &mut Vec<String>,
) -> Result<Applied> {
    let document = &plan.document;
    let id = id_of(document);
    let mut applied = Applied {
        id: id.clone(),
        kind: document.kind(),
        name: document.metadata.name.as_str().to_owned(),
        action: ApplyAction::Unchanged,
        seq: None,
    };
    if plan
        .existing
        .as_ref()
        .is_some_and(|existing| existing.document == plan.json)
    {
        return Ok(applied);
    }
    let links = resolve_links(conn, resolver, document, &id, warnings).await?;
    let previous = match &plan.existing {
        Some(existing) => Some(previous_state(conn, &existing.id).await?),
        None => None,
    };
    applied.action = if previous.is_some() {
        ApplyAction::Updated
    } else {
        ApplyAction::Created
    };
    let seq = writer.record(NewState {
        object_id: id,
        kind: document.kind(),
        name: applied.name.clone(),
        scope: plan.scope.clone(),
        status: document.metadata.status,
        document: plan.json.clone(),
        labels: labels_of(document),
        fields: fields_of(document),
        links,
        action: if previous.is_some() { "update" } else { "create" },
        previous,
    })?;
    applied.seq = Some(seq);
    Ok(applied)
}

/// Resolves every reference of `document` to an edge, checking the status of what it uses.
pub(crate) async fn resolve_links(
    conn: &mut AnyConnection,
    resolver: &mut Resolver,
    document: &Document,
    id: &str,
    warnings: &mut Vec<String>,
) -> Result<BTreeSet<Link>> {
    let mut links = BTreeSet::new();
    let this = format!("{}/{}", document.kind(), document.metadata.name);
    for reference in references(document) {
        let resolved = resolver
            .resolve_ref(conn, reference.target)
            .await
            .map_err(|e| at(document, &reference.path, e))?;
        let target = &resolved.object;
        let what = match &resolved.version {
            Some(v) => format!("{}@{}", target.display(), v.version),
            None => target.display(),
        };
        let status = resolved.version.as_ref().map_or(target.status, |v| v.status);
        match status {
            Status::Archived => {
                return Err(StoreError::precondition(format!(
                    "{this} {}: {what} is archived; using an archived object or version is an error",
                    reference.path
                ))
                .with_hint("refer to an active version, or reactivate it"));
            }
            Status::Deprecated => warnings.push(format!("{this} {}: {what} is deprecated", reference.path)),
            Status::Active => {}
        }
        let (source, sink) = if reference.outgoing {
            (id.to_owned(), target.id.clone())
        } else {
            (target.id.clone(), id.to_owned())
        };
        if source != sink {
            links.insert((reference.relation.as_str().to_owned(), source, sink));
        }
    }
    Ok(links)
}

/// The labels and links an object had at its latest event.
pub(crate) async fn previous_state(conn: &mut AnyConnection, id: &str) -> Result<Previous> {
    let found = crate::current::fetch_current(conn, "o.id = $1", &[id]).await?;
    let Some(current) = found.into_iter().next() else {
        return Err(StoreError::not_found(format!("no object has the id `{id}`")));
    };
    let document = current.parse_document()?;
    Ok(Previous {
        head_seq: current.head_seq,
        created_seq: current.created_seq,
        labels: labels_of(&document),
        fields: fields_of(&document),
        links: parse_links(&current.links)?,
    })
}

pub(crate) fn parse_links(json: &str) -> Result<BTreeSet<Link>> {
    serde_json::from_str::<Vec<Link>>(json)
        .map(|v| v.into_iter().collect())
        .map_err(|e| {
            StoreError::data_loss(format!("stored links cannot be read: {e}")).with_hint("run `mlspec store verify`")
        })
}

/// The document's id (set by [`normalize`]).
fn id_of(document: &Document) -> String {
    document
        .metadata
        .id
        .as_ref()
        .map(|i| i.as_str().to_owned())
        .unwrap_or_default()
}

pub(crate) fn labels_of(document: &Document) -> Vec<(String, String)> {
    document
        .metadata
        .labels
        .0
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
        .collect()
}

/// Prefixes an error with the document and field it came from.
fn at(document: &Document, path: &str, mut error: StoreError) -> StoreError {
    error.message = format!(
        "{}/{} {path}: {}",
        document.kind(),
        document.metadata.name,
        error.message
    );
    error
}

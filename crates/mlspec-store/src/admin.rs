//! Changing an object's lifecycle: deprecate, archive, reactivate, rename, and promoting an
//! Artifact to a Dataset version. Each change is one event; asking for the state an object is
//! already in writes nothing.

use mlspec_spec::kinds::{DatasetSpec, DatasetVersion};
use mlspec_spec::newtypes::Text;
use mlspec_spec::{ApiVersion, Document, Metadata, Name, Ref, RefTarget, Spec, Status, Version};
use sqlx::AnyConnection;

use crate::apply::{labels_of, previous_state};
use crate::current::{Current, fetch_current, name_key, status_str};
use crate::error::{ErrorKind, Result, StoreError};
use crate::fields::fields_of;
use crate::model::{Change, Selector};
use crate::read::current_by_id;
use crate::resolve::Resolver;
use crate::write::{NewState, Writer};

/// Sets the status of an object, or of one version of a Dataset.
pub(crate) async fn set_status(
    conn: &mut AnyConnection,
    selector: &Selector,
    status: Status,
    actor: &str,
) -> Result<Change> {
    let mut writer = Writer::begin(conn, actor).await?;
    let (current, version) = select_for_status(conn, selector, status).await?;
    let mut document = current.parse_document()?;
    let action = action_name(status);
    let description;
    let mut warnings = Vec::new();
    if let Some(version) = version {
        let Spec::Dataset(dataset) = &mut document.spec else {
            return Err(StoreError::invalid(format!(
                "{} has no versions to change",
                current.display()
            )));
        };
        let Some(entry) = dataset.versions.iter_mut().find(|v| v.version == version) else {
            return Err(StoreError::not_found(format!(
                "{} has no version `{version}`",
                current.display()
            )));
        };
        description = format!(
            "{}@{version}: {} → {}",
            current.display(),
            status_str(entry.status),
            status_str(status)
        );
        if entry.status == status {
            return Ok(unchanged(&current, description));
        }
        entry.status = status;
        if status == Status::Archived && dataset.current.as_ref() == Some(&version) {
            warnings.push(format!(
                "{} version {version} was the current version; set `current` anew",
                current.display()
            ));
        }
    } else {
        description = format!(
            "{}: {} → {}",
            current.display(),
            status_str(current.status),
            status_str(status)
        );
        if current.status == status {
            return Ok(unchanged(&current, description));
        }
        if current.status == Status::Archived {
            ensure_name_free(conn, &current, &current.name).await?;
        }
        document.metadata.status = status;
    }
    record_change(conn, &mut writer, &current, &document, action).await?;
    writer.finish(conn).await?;
    changed(conn, &current.id, description, warnings).await
}

/// Renames an object; the new name must be free among the kind's non-archived objects.
pub(crate) async fn rename(
    conn: &mut AnyConnection,
    selector: &Selector,
    new_name: &Name,
    actor: &str,
) -> Result<Change> {
    let mut writer = Writer::begin(conn, actor).await?;
    let resolved = Resolver::default().resolve(conn, selector).await?;
    let current = current_by_id(conn, &resolved.object.id).await?;
    if current.status == Status::Archived {
        return Err(StoreError::precondition(format!(
            "{} (id {}) is archived and cannot be renamed",
            current.display(),
            current.id
        ))
        .with_hint(format!(
            "reactivate it first: `mlspec reactivate {} {}`",
            current.kind, current.id
        )));
    }
    let description = format!("{} → {new_name}", current.display());
    if current.name == new_name.as_str() {
        return Ok(unchanged(&current, description));
    }
    ensure_name_free(conn, &current, new_name.as_str()).await?;
    let mut document = current.parse_document()?;
    document.metadata.name = new_name.clone();
    record_change(conn, &mut writer, &current, &document, "rename").await?;
    writer.finish(conn).await?;
    changed(conn, &current.id, description, Vec::new()).await
}

/// Creates a new version of Dataset `dataset` (creating the Dataset if needed) from an
/// Artifact's location and digest, with lineage back to the artifact and its run.
pub(crate) async fn promote(
    conn: &mut AnyConnection,
    artifact: &Selector,
    dataset: &Name,
    version: Option<&Version>,
    actor: &str,
) -> Result<Change> {
    crate::write::lock_head(conn).await?;
    let resolved = Resolver::default().resolve(conn, artifact).await?;
    let source = current_by_id(conn, &resolved.object.id).await?;
    let document = source.parse_document()?;
    let Spec::Artifact(spec) = &document.spec else {
        return Err(StoreError::invalid(format!(
            "{} is not an Artifact; only artifacts can be promoted",
            source.display()
        )));
    };
    let existing = fetch_current(
        conn,
        "o.kind = 'Dataset' AND o.status <> 'Archived' AND o.name_key = $1",
        &[&name_key(dataset.as_str())],
    )
    .await?
    .into_iter()
    .next();
    let mut target = match &existing {
        Some(current) => current.parse_document()?,
        None => Document {
            api_version: ApiVersion::V1,
            metadata: Metadata::named(dataset.clone()),
            spec: Spec::Dataset(DatasetSpec {
                versions: Vec::new(),
                current: None,
            }),
        },
    };
    let Spec::Dataset(versions) = &mut target.spec else {
        return Err(StoreError::new(
            ErrorKind::Internal,
            "a Dataset document holds another kind",
        ));
    };
    let version = match version {
        Some(v) => v.clone(),
        None => next_version(&versions.versions)?,
    };
    if versions.versions.iter().any(|v| v.version == version) {
        return Err(StoreError::new(
            ErrorKind::AlreadyExists,
            format!("Dataset/{dataset} already has a version `{version}`"),
        )
        .with_hint("pass --version with a new version"));
    }
    let notes = format!("promoted from {} (id {})", source.display(), source.id);
    versions.versions.push(DatasetVersion {
        version: version.clone(),
        status: Status::Active,
        definition: spec.path.clone(),
        digest: Some(spec.digest.clone()),
        rows: None,
        bytes: Some(spec.size),
        profile: None,
        schema: None,
        produced_by: Some(Ref {
            target: RefTarget::Id(
                mlspec_spec::ObjectId::new(source.id.as_str()).map_err(|e| StoreError::data_loss(e.to_string()))?,
            ),
            digest: None,
        }),
        checkpoints: Vec::new(),
        views: Vec::new(),
        created_at: None,
        created_by: None,
        notes: Text::new(notes.as_str()).ok(),
    });
    let report = crate::apply::apply(conn, &[target], actor).await?;
    let id = report.results.first().map(|a| a.id.clone()).unwrap_or_default();
    let object = current_by_id(conn, &id).await?;
    Ok(Change {
        object: object.summary(),
        changed: true,
        description: format!("{} → Dataset/{dataset}@{version}", source.display()),
        warnings: report.warnings,
    })
}

/// The next integer version after the largest integer one.
fn next_version(versions: &[DatasetVersion]) -> Result<Version> {
    let next = versions
        .iter()
        .filter_map(|v| v.version.as_str().parse::<u64>().ok())
        .max()
        .map_or(1, |n| n + 1);
    Version::new(next.to_string()).map_err(|e| StoreError::new(ErrorKind::Internal, e.to_string()))
}

/// Resolves the object (or Dataset version) whose status is to change. Reactivating may name an
/// archived object by name when exactly one archived object has that name.
async fn select_for_status(
    conn: &mut AnyConnection,
    selector: &Selector,
    status: Status,
) -> Result<(Current, Option<Version>)> {
    let resolved = match Resolver::default().resolve(conn, selector).await {
        Ok(resolved) => resolved,
        Err(error) if error.kind == ErrorKind::FailedPrecondition && status == Status::Active => {
            let current = only_archived(conn, selector).await?.ok_or(error)?;
            return Ok((current, None));
        }
        Err(error) => return Err(error),
    };
    let current = current_by_id(conn, &resolved.object.id).await?;
    Ok((current, resolved.version.map(|v| v.version)))
}

async fn only_archived(conn: &mut AnyConnection, selector: &Selector) -> Result<Option<Current>> {
    let (kind, name) = match selector {
        Selector::Name {
            kind,
            name,
            version: None,
        } => (*kind, name.as_str().to_owned()),
        Selector::KindText { kind, text } => (*kind, text.clone()),
        _ => return Ok(None),
    };
    let mut found = fetch_current(
        conn,
        "o.kind = $1 AND o.name_key = $2 AND o.status = 'Archived'",
        &[kind.as_str(), &name_key(&name)],
    )
    .await?;
    if found.len() > 1 {
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        return Err(StoreError::new(
            ErrorKind::Conflict,
            format!(
                "{} archived {kind} objects are named `{name}`: {}",
                found.len(),
                ids.join(", ")
            ),
        )
        .with_hint("reactivate one by its id"));
    }
    Ok(found.pop())
}

async fn ensure_name_free(conn: &mut AnyConnection, current: &Current, name: &str) -> Result<()> {
    let taken = fetch_current(
        conn,
        "o.kind = $1 AND o.name_key = $2 AND o.scope = $3 AND o.status <> 'Archived' AND o.id <> $4",
        &[current.kind.as_str(), &name_key(name), &current.scope, &current.id],
    )
    .await?;
    match taken.first() {
        Some(other) => Err(StoreError::new(
            ErrorKind::AlreadyExists,
            format!(
                "{}/{name} is taken by {} (id {}); names are unique per kind, ignoring case",
                current.kind,
                other.display(),
                other.id
            ),
        )
        .with_hint("rename or archive the other object first")),
        None => Ok(()),
    }
}

async fn record_change(
    conn: &mut AnyConnection,
    writer: &mut Writer,
    current: &Current,
    document: &Document,
    action: &'static str,
) -> Result<()> {
    let json = crate::write::encode(document)?;
    let previous = previous_state(conn, &current.id).await?;
    let links = previous.links.clone();
    writer.record(NewState {
        object_id: current.id.clone(),
        kind: current.kind,
        name: document.metadata.name.as_str().to_owned(),
        scope: current.scope.clone(),
        status: document.metadata.status,
        document: json,
        labels: labels_of(document),
        fields: fields_of(document),
        links,
        action,
        previous: Some(previous),
    })?;
    Ok(())
}

fn action_name(status: Status) -> &'static str {
    match status {
        Status::Active => "reactivate",
        Status::Deprecated => "deprecate",
        Status::Archived => "archive",
    }
}

fn unchanged(current: &Current, description: String) -> Change {
    Change {
        object: current.summary(),
        changed: false,
        description,
        warnings: Vec::new(),
    }
}

async fn changed(conn: &mut AnyConnection, id: &str, description: String, warnings: Vec<String>) -> Result<Change> {
    let current = current_by_id(conn, id).await?;
    Ok(Change {
        object: current.summary(),
        changed: true,
        description,
        warnings,
    })
}

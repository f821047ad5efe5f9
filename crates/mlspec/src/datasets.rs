//! Data on disk and in the store, as the commands that make datasets share it: a file's content
//! digest, a path in the `local` datastore, a new Dataset version (or the existing one with the
//! same digest), and a directory of shards signed as `mlspec data sign` signs it.

use std::path::{Path, PathBuf};

use anyhow::bail;
use mlspec_attest::digest::Manifest;
use mlspec_attest::dsse::{Envelope, IN_TOTO};
use mlspec_attest::keys::SigningKey;
use mlspec_attest::predicate::{Shard, ShardManifest};
use mlspec_attest::statement::{Statement, Subject};
use mlspec_spec::kinds::{DatasetSpec, DatasetVersion};
use mlspec_spec::newtypes::{Digest, RelativePath};
use mlspec_spec::values::DataPath;
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Ref, Spec};

/// `sha256:` and the hex SHA-256 of the file's bytes (as stored, compressed or not), streamed by
/// the trust chain's one digest implementation (a file that changes while read is refused).
pub fn content_digest(path: &Path) -> anyhow::Result<Digest> {
    Ok(mlspec_attest::digest::file(path)?.prefixed()?)
}

/// A Dataset version to record.
pub struct NewVersion {
    pub definition: DataPath,
    pub digest: Option<Digest>,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub profile: Option<Ref>,
}

/// The Dataset version data is: an existing version of `name` with the same digest, or a new
/// version (the first of a new Dataset, or the next of an existing one) with the document to
/// apply.
pub async fn dataset_version(
    store: &dyn mlspec_store::Store,
    name: mlspec_spec::Name,
    new: NewVersion,
) -> anyhow::Result<(Option<Document>, Ref)> {
    let digest = new.digest;
    let selector = mlspec_store::Selector::Name {
        kind: Kind::Dataset,
        name: name.clone(),
        version: None,
    };
    let mut spec = match store.get(&selector).await {
        Ok(stored) => match stored.document.spec {
            Spec::Dataset(spec) => spec,
            _ => bail!("Dataset/{name} is not a Dataset"),
        },
        Err(e) if e.kind == mlspec_store::ErrorKind::NotFound => DatasetSpec {
            versions: Vec::new(),
            current: None,
        },
        Err(e) => return Err(e.into()),
    };
    let versioned = |version: &mlspec_spec::Version| {
        let mut reference = Ref::named(Kind::Dataset, name.clone());
        if let mlspec_spec::RefTarget::Named { version: v, .. } = &mut reference.target {
            *v = Some(version.clone());
        }
        reference
    };
    if let Some(same) = spec.versions.iter().find(|v| v.digest.is_some() && v.digest == digest) {
        return Ok((None, versioned(&same.version)));
    }
    let next = spec
        .versions
        .iter()
        .filter_map(|v| v.version.as_str().parse::<u64>().ok())
        .max()
        .map_or(1, |n| n + 1);
    let version = mlspec_spec::Version::new(next.to_string())?;
    spec.versions.push(DatasetVersion {
        version: version.clone(),
        status: mlspec_spec::Status::Active,
        definition: new.definition,
        digest,
        rows: new.rows,
        bytes: new.bytes,
        profile: new.profile,
        schema: None,
        produced_by: None,
        checkpoints: Vec::new(),
        views: Vec::new(),
        created_at: None,
        created_by: None,
        notes: None,
    });
    spec.current = Some(version.clone());
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name.clone()),
        spec: Spec::Dataset(spec),
    };
    Ok((Some(document), versioned(&version)))
}

/// A path in the `local` datastore (the working directory).
pub fn local_data(path: &Path) -> anyhow::Result<DataPath> {
    Ok(DataPath {
        datastore: mlspec_spec::Name::new("local")?,
        path: Some(local_path(path)?),
        table: None,
        query: None,
    })
}

/// A path for the `local` datastore (the working directory): as written, without `.`
/// segments, or the file name when the path is absolute or climbs out.
fn local_path(path: &Path) -> anyhow::Result<RelativePath> {
    use std::path::Component;
    let segments: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match RelativePath::new(segments.join("/")) {
        Ok(relative) => Ok(relative),
        Err(_) => Ok(RelativePath::new(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )?),
    }
}

/// Signs the shards (`manifest`'s entries, at `paths`) and writes the envelope to `out`: the
/// one format `data sign` and `ingest --sign` write and `data verify` reads.
pub fn write_envelope(manifest: &Manifest, paths: &[PathBuf], key: &SigningKey, out: &Path) -> anyhow::Result<()> {
    if manifest.entries.is_empty() {
        bail!("there is no shard to sign");
    }
    let subjects: Vec<Subject> = manifest
        .entries
        .iter()
        .map(|e| Subject::sha256(&e.path, &e.digest.sha256))
        .collect();
    let predicate = shard_manifest(manifest, paths);
    let statement = Statement::new(subjects, predicate);
    let envelope = Envelope::sign(IN_TOTO, &serde_json::to_vec(&statement)?, &[key]);
    let text = serde_json::to_string_pretty(&envelope)? + "\n";
    crate::files::write_whole(out, text.as_bytes(), Some(&crate::files::ENVELOPE))?;
    errln!(
        "{}: {} shards, {} bytes, manifest {}, signed by {}",
        out.display(),
        manifest.entries.len(),
        manifest.bytes(),
        manifest.digest(),
        key.public().key_id()
    );
    Ok(())
}

/// The shards' ids, paths, sizes, SHA-256 and (for Parquet) row counts, with the manifest's
/// digest and total bytes.
pub fn shard_manifest(manifest: &Manifest, paths: &[PathBuf]) -> ShardManifest {
    ShardManifest {
        shards: (0u64..)
            .zip(manifest.entries.iter().zip(paths))
            .map(|(id, (e, path))| Shard {
                id,
                path: e.path.clone(),
                size: e.digest.size,
                sha256: e.digest.sha256.clone(),
                rows: mlspec_data::parquet_rows(path),
            })
            .collect(),
        manifest: manifest.digest(),
        bytes: manifest.bytes(),
    }
}

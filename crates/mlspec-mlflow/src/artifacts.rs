//! MLflow's proxied artifact store, `/api/2.0/mlflow-artifacts/artifacts/…`, on a local
//! directory.
//!
//! The client writes a run's files under `<experiment>/<run>/artifacts/<path>` and a logged
//! model's under `<experiment>/models/<model id>/artifacts/<path>`, one PUT per file; it lists
//! a directory with `GET …/artifacts?path=DIR` and reads a file with `GET …/artifacts/PATH`.
//!
//! - **Confined**: a path is relative, made of plain segments (no `..`, `.`, empty segment,
//!   backslash or NUL), and no existing component under the root may be a symbolic link — so
//!   nothing can be read or written outside the root, even through a link planted in it.
//! - **Streamed**: an upload goes chunk by chunk to a temporary file beside its target, hashed
//!   (SHA-256) as it goes, then renamed into place; a download is read in 64 KiB chunks. Neither
//!   is held in memory whole.
//! - **Recorded**: a file uploaded under a stored run also becomes an MLSpec Artifact document
//!   of that run (its path, digest, size and media type), so lineage shows what a run wrote. Its
//!   path is in the Datastore `mlflow-artifacts`, a document made with the first artifact, whose
//!   `uri` is the artifact root (`file:///…`), so MLSpec's tools can find the files.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use mlspec_spec::kinds::{ArtifactSpec, ArtifactType, DatastoreSpec, DatastoreType};
use mlspec_spec::newtypes::{Digest, MediaType, RelativePath, ShortText};
use mlspec_spec::values::DataPath;
use mlspec_spec::{Document, Kind, Metadata, Name, Ref, Spec};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::AppState;
use crate::error::{MlflowError, Result};
use crate::naming::{candidate_names, object_id};
use crate::state::MlflowState;
use crate::wire::Query;

/// The datastore name Artifact documents give for files under the artifact root.
pub const DATASTORE: &str = "mlflow-artifacts";
/// The directory under the root that holds the server's own files (the registry), out of the
/// artifact API's reach.
pub const INTERNAL_DIR: &str = ".mlspec";
/// The prefix of an upload's temporary file.
const UPLOAD_PREFIX: &str = ".upload-";
const CHUNK: usize = 64 * 1024;

/// The directory artifact files live in.
pub struct ArtifactRoot {
    root: PathBuf,
}

/// A file written: its digest and size.
pub struct Written {
    /// `sha256:…` of the content.
    pub digest: Digest,
    /// Bytes.
    pub size: u64,
}

impl ArtifactRoot {
    /// The root at `root`.
    pub fn new(root: PathBuf) -> ArtifactRoot {
        let root = std::path::absolute(&root).unwrap_or(root);
        ArtifactRoot { root }
    }

    /// The root as a `file://` URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    /// The file or directory `relative` names under the root, checked (see the module docs);
    /// the server's own files and unfinished uploads are out of reach.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf> {
        let first = relative.split('/').next().unwrap_or("");
        let last = relative.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if first == INTERNAL_DIR || last.starts_with(UPLOAD_PREFIX) {
            return Err(MlflowError::invalid(format!(
                "artifact path `{}` names a file reserved for the server",
                crate::limits::shorten(relative)
            )));
        }
        self.resolve_any(relative)
    }

    /// A file of the server's own under [`INTERNAL_DIR`].
    pub fn internal(&self, relative: &str) -> Result<PathBuf> {
        self.resolve_any(&format!("{INTERNAL_DIR}/{relative}"))
    }

    fn resolve_any(&self, relative: &str) -> Result<PathBuf> {
        if relative.starts_with('/') {
            return Err(MlflowError::invalid(format!(
                "artifact path `{}` is absolute; artifact paths are relative to the artifact root",
                crate::limits::shorten(relative)
            )));
        }
        let relative = relative.trim_end_matches('/');
        let mut path = self.root.clone();
        if relative.is_empty() {
            return Ok(path);
        }
        for segment in relative.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." || segment.contains(['\\', '\0']) {
                return Err(MlflowError::invalid(format!(
                    "artifact path `{}`: segments must be plain names (no `..`, `.`, empty segment or backslash)",
                    crate::limits::shorten(relative)
                )));
            }
            path.push(segment);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(MlflowError::invalid(format!(
                    "artifact path `{}` passes through a symbolic link, which is not followed",
                    crate::limits::shorten(relative)
                )));
            }
        }
        Ok(path)
    }

    /// Streams `body` into the file `relative` names, replacing it when the whole body arrived.
    pub async fn write(&self, relative: &str, body: Body) -> Result<Written> {
        let target = self.resolve(relative)?;
        if target == self.root {
            return Err(MlflowError::invalid("an artifact upload names a file, not the root"));
        }
        let parent = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| io_error("cannot create the directory for", relative, &e))?;
        self.resolve(relative)?;
        if tokio::fs::metadata(&target).await.is_ok_and(|m| m.is_dir()) {
            return Err(MlflowError::invalid(format!(
                "artifact path `{relative}` is a directory"
            )));
        }
        let temporary = parent.join(format!("{UPLOAD_PREFIX}{}", uuid::Uuid::now_v7().simple()));
        let written = stream_to(&temporary, body).await;
        match written {
            Ok(written) => {
                tokio::fs::rename(&temporary, &target)
                    .await
                    .map_err(|e| io_error("cannot store", relative, &e))?;
                Ok(written)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&temporary).await;
                Err(error)
            }
        }
    }

    /// Every regular file under the directory `dir`, with its path relative to it, in path
    /// order (symbolic links and unfinished uploads left out).
    pub fn files_under(&self, dir: PathBuf) -> Vec<(String, PathBuf)> {
        let mut found = Vec::new();
        let mut pending = vec![(String::new(), dir)];
        while let Some((prefix, dir)) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else { continue };
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(UPLOAD_PREFIX) || kind.is_symlink() {
                    continue;
                }
                let path = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                if kind.is_dir() {
                    pending.push((path, entry.path()));
                } else {
                    found.push((path, entry.path()));
                }
            }
        }
        found.sort();
        found
    }
}

async fn stream_to(path: &Path, body: Body) -> Result<Written> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io_error("cannot create", &path.display().to_string(), &e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| MlflowError::invalid(format!("the upload was interrupted: {e}")))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("cannot write", &path.display().to_string(), &e))?;
    }
    file.sync_all()
        .await
        .map_err(|e| io_error("cannot flush", &path.display().to_string(), &e))?;
    Ok(Written {
        digest: Digest::sha256_finish(hasher),
        size,
    })
}

/// The SHA-256 digest and size of a file, read in chunks.
pub async fn digest_file(path: &Path) -> Result<Written> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error("cannot open", &path.display().to_string(), &e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .await
            .map_err(|e| io_error("cannot read", &path.display().to_string(), &e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok(Written {
        digest: Digest::sha256_finish(hasher),
        size,
    })
}

fn io_error(what: &str, path: &str, error: &std::io::Error) -> MlflowError {
    let message = format!("{what} artifact `{}`: {error}", crate::limits::shorten(path));
    match error.kind() {
        std::io::ErrorKind::NotFound => MlflowError::not_found(message),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::PermissionDenied => MlflowError {
            kind: crate::error::ErrorKind::TemporarilyUnavailable,
            message,
        },
        _ => MlflowError::internal(message),
    }
}

pub(crate) async fn upload(
    State(state): AppState,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>> {
    let written = state.artifacts.write(&path, body).await?;
    let media_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    record_run_file(&state, &path, &written, media_type).await?;
    Ok(Json(json!({})))
}

/// Records a file uploaded under `<experiment>/<run>/artifacts/` as an Artifact of that run.
async fn record_run_file(state: &MlflowState, path: &str, written: &Written, media_type: &str) -> Result<()> {
    let mut segments = path.trim_matches('/').splitn(4, '/');
    let (Some(_experiment), Some(run_id), Some("artifacts"), Some(relative)) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Ok(());
    };
    if state.object(Kind::Run, run_id, "Run").await.is_err() {
        return Ok(());
    }
    let Some(name) = candidate_names(relative).into_iter().next() else {
        return Ok(());
    };
    let document = artifact_document(name, run_id, path, written, media_type, artifact_type(relative))?;
    ensure_datastore(state).await?;
    state.save(&[document]).await
}

/// Makes the Datastore document of the artifact root unless it exists.
pub async fn ensure_datastore(state: &MlflowState) -> Result<()> {
    if state.datastore.is_made() {
        return Ok(());
    }
    let _catalog = state.lock_catalog().await;
    let name = Name::new(DATASTORE).map_err(|e| MlflowError::internal(e.to_string()))?;
    if state.named(Kind::Datastore, &name).await?.is_none() {
        let uri = ShortText::new(state.artifacts.url()).map_err(|e| MlflowError::internal(e.to_string()))?;
        let document = Document {
            api_version: Default::default(),
            metadata: Metadata::named(name),
            spec: Spec::Datastore(DatastoreSpec {
                store_type: DatastoreType::Filesystem,
                uri,
                connection: Default::default(),
                read_only: false,
            }),
        };
        state.save(&[document]).await?;
    }
    state.datastore.mark();
    Ok(())
}

/// An Artifact document for a file under the artifact root, produced by `run_id`.
pub fn artifact_document(
    name: Name,
    run_id: &str,
    path: &str,
    written: &Written,
    media_type: &str,
    artifact_type: ArtifactType,
) -> Result<Document> {
    let media_type = media_type
        .split(';')
        .next()
        .and_then(|m| MediaType::new(m.trim().to_ascii_lowercase()).ok())
        .or_else(|| MediaType::new("application/octet-stream").ok())
        .ok_or_else(|| MlflowError::internal("the default media type is invalid"))?;
    let path = RelativePath::new(path.trim_matches('/')).map_err(|e| MlflowError::invalid(e.to_string()))?;
    Ok(Document {
        api_version: Default::default(),
        metadata: Metadata::named(name),
        spec: Spec::Artifact(ArtifactSpec {
            run: Ref::from(object_id(run_id, "Run")?),
            artifact_type,
            path: DataPath {
                datastore: Name::new(DATASTORE).map_err(|e| MlflowError::internal(e.to_string()))?,
                path: Some(path),
                table: None,
                query: None,
            },
            digest: written.digest.clone(),
            size: written.size,
            media_type,
        }),
    })
}

fn artifact_type(path: &str) -> ArtifactType {
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e).to_ascii_lowercase();
    match extension.as_str() {
        "png" | "jpg" | "jpeg" | "svg" | "gif" => ArtifactType::Image,
        "csv" | "parquet" | "json" | "jsonl" | "npy" => ArtifactType::Data,
        "log" => ArtifactType::Log,
        "py" | "ipynb" => ArtifactType::Code,
        "html" | "txt" | "md" => ArtifactType::Report,
        _ => ArtifactType::Other,
    }
}

pub(crate) async fn download(State(state): AppState, UrlPath(path): UrlPath<String>) -> Result<Response> {
    let file_path = state.artifacts.resolve(&path)?;
    let metadata = tokio::fs::metadata(&file_path).await;
    if !metadata.as_ref().is_ok_and(std::fs::Metadata::is_file) {
        return Err(MlflowError::not_found(format!(
            "artifact `{}` does not exist",
            crate::limits::shorten(&path)
        )));
    }
    let file = tokio::fs::File::open(&file_path)
        .await
        .map_err(|e| io_error("cannot open", &path, &e))?;
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buffer)), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    });
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    path: Option<String>,
}

pub(crate) async fn list(State(state): AppState, Query(q): Query<ListQuery>) -> Result<Json<Value>> {
    let relative = q.path.unwrap_or_default();
    let dir = state.artifacts.resolve(&relative)?;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Json(json!({})));
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        if name.starts_with(UPLOAD_PREFIX) || (relative.is_empty() && name == INTERNAL_DIR) || kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            files.push(json!({"path": name, "is_dir": true}));
        } else {
            let size = entry.metadata().map_or(0, |m| m.len());
            files.push(json!({"path": name, "is_dir": false, "file_size": size}));
        }
    }
    if files.is_empty() {
        return Ok(Json(json!({})));
    }
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(Json(json!({"files": files})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(dir.path().to_path_buf());
        assert_eq!(
            root.resolve("1/r/artifacts/a.txt").unwrap(),
            dir.path().join("1/r/artifacts/a.txt")
        );
        for bad in ["..", "../x", "a/../../x", "a//b", "a/./b", "a\\..\\b", "a\0b"] {
            assert!(root.resolve(bad).is_err(), "{bad:?}");
        }
        assert!(root.resolve("/etc/passwd").is_err());
        assert!(root.resolve(".mlspec/registry/x.json").is_err());
        assert!(root.resolve("1/r/.upload-123").is_err());
        assert!(root.internal("registry/x.json").unwrap().starts_with(dir.path()));
        assert_eq!(root.resolve("").unwrap(), dir.path());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let root = ArtifactRoot::new(dir.path().to_path_buf());
        assert!(root.resolve("link/secret").is_err());
        assert!(root.resolve("link").is_err());
    }

    #[tokio::test]
    async fn uploads_stream_to_disk_with_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let root = ArtifactRoot::new(dir.path().to_path_buf());
        let written = root.write("1/r/artifacts/a.txt", Body::from("hello")).await.unwrap();
        assert_eq!(written.size, 5);
        assert_eq!(written.digest, Digest::sha256_of("hello"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("1/r/artifacts/a.txt")).unwrap(),
            "hello"
        );
        let files = root.files_under(root.resolve("1/r").unwrap());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "artifacts/a.txt");
        assert!(root.write("", Body::from("x")).await.is_err());
    }
}

//! The files a pipeline reads and writes: their content digests (a file's SHA-256, or a
//! directory's manifest digest), where a step's directory and outputs live, and how a path is
//! written in a document (`local`: relative to the project; `file`: the filesystem root).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mlspec_spec::newtypes::{Digest, RelativePath};
use mlspec_spec::values::DataPath;
use mlspec_spec::{Name, ObjectId};

/// The most entries a directory input or output may hold (each is hashed).
const MAX_DIRECTORY_ENTRIES: usize = 1_000_000;

/// The content digest of a regular file (the trust chain's digest, refused when the file changes
/// while it is read) or of a directory: SHA-256 over one line `<sha256 hex> <size> <path>` per
/// file, paths relative and in byte order. A symbolic link, anywhere, is refused: what it points
/// at is not content the pipeline controls.
pub fn content_digest(path: &Path) -> anyhow::Result<Digest> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.file_type().is_symlink() {
        bail!("{} is a symbolic link; give the file itself", path.display());
    }
    if meta.is_dir() {
        return directory_digest(path);
    }
    Ok(mlspec_attest::digest::file(path)?.prefixed()?)
}

fn directory_digest(root: &Path) -> anyhow::Result<Digest> {
    let mut files = Vec::new();
    collect_files(root, root, &mut files)?;
    files.sort();
    let mut manifest = String::new();
    for relative in files {
        let digest = mlspec_attest::digest::file(&root.join(&relative))?;
        manifest.push_str(&format!("{} {} {}\n", digest.sha256, digest.size, relative));
    }
    Ok(Digest::sha256_of(manifest))
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_symlink() {
            bail!(
                "{} is a symbolic link; a directory's content must be its own files",
                path.display()
            );
        } else if kind.is_dir() {
            collect_files(root, &path, files)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            files.push(relative.to_string_lossy().into_owned());
            if files.len() > MAX_DIRECTORY_ENTRIES {
                bail!("{} holds more than {MAX_DIRECTORY_ENTRIES} files", root.display());
            }
        } else {
            bail!("{} is not a regular file or directory", path.display());
        }
    }
    Ok(())
}

/// The project directory: the one whose `.mlspec/` holds the store, else the working directory.
pub fn project_root() -> anyhow::Result<PathBuf> {
    let state = crate::step::spool::state_dir();
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    Ok(match state.parent() {
        Some(root) if state.file_name().is_some_and(|n| n == ".mlspec") => root.to_path_buf(),
        _ => cwd,
    })
}

/// Where a pipeline run's step directories go by default: `.mlspec/pipelines/` of the project.
pub fn default_workdir() -> PathBuf {
    crate::step::spool::state_dir().join("pipelines")
}

/// A step's own directory in a pipeline run: its working directory, with its outputs under
/// `outputs/`.
pub fn step_dir(workdir: &Path, pipeline_run: &ObjectId, step: &Name) -> PathBuf {
    workdir.join(pipeline_run.as_str()).join(step.as_str())
}

/// How `path` (absolute) is written in a document: `local` and the path relative to the project
/// root when it lies inside it, else `file` and the path from the filesystem root.
pub fn data_path(path: &Path, root: &Path) -> anyhow::Result<DataPath> {
    let (datastore, relative) = match path.strip_prefix(root) {
        Ok(inside) => ("local", inside.to_string_lossy().into_owned()),
        Err(_) => ("file", path.to_string_lossy().trim_start_matches('/').to_owned()),
    };
    Ok(DataPath {
        datastore: Name::new(datastore)?,
        path: Some(RelativePath::new(relative)?),
        table: None,
        query: None,
    })
}

/// The absolute path a document's `local` or `file` path names; other datastores are not files
/// this machine can read.
pub fn resolve(path: &DataPath, root: &Path) -> anyhow::Result<PathBuf> {
    let Some(relative) = &path.path else {
        bail!("the data path in datastore `{}` names no file", path.datastore);
    };
    match path.datastore.as_str() {
        "local" => Ok(root.join(relative.as_str())),
        "file" => Ok(Path::new("/").join(relative.as_str())),
        other => {
            bail!("datastore `{other}` is not a local file system; only `local` and `file` paths can be read here")
        }
    }
}

/// An absolute form of `path`, against the working directory.
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_digest_covers_names_and_contents_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), b"1").unwrap();
        std::fs::write(dir.path().join("sub/b"), b"2").unwrap();
        let first = content_digest(dir.path()).unwrap();
        assert_eq!(first, content_digest(dir.path()).unwrap());
        std::fs::write(dir.path().join("sub/b"), b"3").unwrap();
        let edited = content_digest(dir.path()).unwrap();
        assert_ne!(first, edited);
        std::fs::rename(dir.path().join("sub/b"), dir.path().join("sub/c")).unwrap();
        assert_ne!(edited, content_digest(dir.path()).unwrap());
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let error = content_digest(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is a symbolic link"), "{error}");
    }

    #[test]
    fn paths_inside_the_project_are_local_and_others_file() {
        let root = Path::new("/home/me/project");
        let inside = data_path(Path::new("/home/me/project/data/x.csv"), root).unwrap();
        assert_eq!(
            (inside.datastore.as_str(), inside.path.as_ref().unwrap().as_str()),
            ("local", "data/x.csv")
        );
        assert_eq!(
            resolve(&inside, root).unwrap(),
            Path::new("/home/me/project/data/x.csv")
        );
        let outside = data_path(Path::new("/tmp/x.csv"), root).unwrap();
        assert_eq!(outside.datastore.as_str(), "file");
        assert_eq!(resolve(&outside, root).unwrap(), Path::new("/tmp/x.csv"));
    }
}

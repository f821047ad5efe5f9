//! Streaming SHA-256 of files and directories.
//!
//! A file's digest is the SHA-256 of its bytes, read in 1 MiB blocks; a file whose size or
//! modification time changes while it is read is reported, not digested. A directory's
//! digest is defined over its **manifest**: every regular file below it, by its path relative
//! to the directory (`/`-separated, UTF-8), sorted bytewise, one line each —
//! `<sha256 hex>  <size>  <path>\n` — and the directory digest is `sha256:` and the SHA-256 of
//! those lines. Symbolic links are refused (never followed): a package holds regular files only.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mlspec_spec::newtypes::Digest;
use sha2::{Digest as _, Sha256};

use crate::error::{AttestError, ErrorKind};

/// One file's digest and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

impl FileDigest {
    /// `sha256:<hex>`; refused when the hex is not a SHA-256's (a digest read from a statement
    /// may be anything).
    pub fn prefixed(&self) -> Result<Digest, AttestError> {
        Digest::sha256_hex(&self.sha256).map_err(|e| AttestError::new(ErrorKind::Malformed, "digest", e.to_string()))
    }
}

/// The SHA-256 of a file, streamed; refused when the file changes while it is read.
pub fn file(path: &Path) -> Result<FileDigest, AttestError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot read: {e}"));
    let stamp = |file: &File| -> Result<(u64, Option<SystemTime>), AttestError> {
        let meta = file.metadata().map_err(io)?;
        Ok((meta.len(), meta.modified().ok()))
    };
    let kind = std::fs::metadata(path).map_err(io)?;
    if !kind.is_file() {
        // A FIFO would block, a device never end.
        return Err(
            AttestError::new(ErrorKind::Io, &name, "is not a regular file").with_hint("hash regular files only")
        );
    }
    let mut handle = File::open(path).map_err(io)?;
    let before = stamp(&handle)?;
    let mut hasher = Sha256::new();
    // Up to 1 MiB, and no more than the file needs: most outputs are small.
    let wanted = usize::try_from(before.0).unwrap_or(usize::MAX).saturating_add(1);
    let mut buffer = vec![0u8; wanted.clamp(8 << 10, 1 << 20)];
    let mut size = 0u64;
    loop {
        let n = handle.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(buffer.get(..n).unwrap_or_default());
    }
    if stamp(&handle)? != before || size != before.0 {
        return Err(
            AttestError::new(ErrorKind::Changed, &name, "the file changed while it was hashed")
                .with_hint("hash files that are no longer being written"),
        );
    }
    Ok(FileDigest {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// One file of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated.
    pub path: String,
    /// Its digest and size.
    pub digest: FileDigest,
}

/// Every regular file below a directory, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The files.
    pub entries: Vec<Entry>,
}

/// How a directory differs from a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// The file's bytes differ.
    Modified(String),
    /// The manifest lists it; the directory does not have it.
    Missing(String),
    /// The directory has it; the manifest does not list it.
    Extra(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Modified(p) => write!(f, "modified: {p}"),
            Difference::Missing(p) => write!(f, "missing: {p}"),
            Difference::Extra(p) => write!(f, "extra: {p}"),
        }
    }
}

impl Manifest {
    /// The manifest of the directory at `root` (or of a single file: one entry, its name).
    pub fn of(root: &Path) -> Result<Manifest, AttestError> {
        let meta = std::fs::symlink_metadata(root)
            .map_err(|e| AttestError::new(ErrorKind::Io, root.display().to_string(), format!("cannot read: {e}")))?;
        let mut entries = Vec::new();
        if meta.is_file() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            entries.push(Entry {
                path: name,
                digest: file(root)?,
            });
        } else {
            walk(root, root, &mut entries)?;
        }
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(Manifest { entries })
    }

    /// The manifest's lines: `<sha256>  <size>  <path>\n`, sorted by path.
    pub fn lines(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{}  {}  {}\n", e.digest.sha256, e.digest.size, e.path))
            .collect()
    }

    /// `sha256:` of the manifest's lines: the directory's digest.
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(self.lines())
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.digest.size).sum()
    }

    /// A manifest of (path, hex SHA-256) pairs whose sizes are not known (as signed statements
    /// list them); compare it with [`Manifest::without_sizes`].
    pub fn of_digests<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Manifest {
        Manifest {
            entries: pairs
                .into_iter()
                .map(|(path, sha256)| Entry {
                    path: path.to_owned(),
                    digest: FileDigest {
                        sha256: sha256.to_owned(),
                        size: 0,
                    },
                })
                .collect(),
        }
    }

    /// The same manifest with sizes forgotten, to compare with one made by
    /// [`Manifest::of_digests`].
    pub fn without_sizes(mut self) -> Manifest {
        for entry in &mut self.entries {
            entry.digest.size = 0;
        }
        self
    }

    /// How `actual` differs from this manifest: modified, missing and extra files, by path.
    pub fn differences(&self, actual: &Manifest) -> Vec<Difference> {
        let mut found = Vec::new();
        for expected in &self.entries {
            match actual.entries.iter().find(|a| a.path == expected.path) {
                None => found.push(Difference::Missing(expected.path.clone())),
                Some(a) if a.digest != expected.digest => found.push(Difference::Modified(expected.path.clone())),
                Some(_) => {}
            }
        }
        for a in &actual.entries {
            if !self.entries.iter().any(|e| e.path == a.path) {
                found.push(Difference::Extra(a.path.clone()));
            }
        }
        found
    }
}

fn walk(root: &Path, dir: &Path, entries: &mut Vec<Entry>) -> Result<(), AttestError> {
    let name = |p: &Path| p.display().to_string();
    let listing =
        std::fs::read_dir(dir).map_err(|e| AttestError::new(ErrorKind::Io, name(dir), format!("cannot list: {e}")))?;
    let mut paths: Vec<PathBuf> = listing
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| AttestError::new(ErrorKind::Io, name(dir), format!("cannot list: {e}")))?;
    paths.sort();
    for path in paths {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| AttestError::new(ErrorKind::Io, name(&path), format!("cannot read: {e}")))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(AttestError::new(
                ErrorKind::Unsupported,
                name(&path),
                format!("is a symbolic link (to {target}); it is not followed"),
            )
            .with_hint("replace the link with the file it points to, or remove it"));
        }
        if meta.is_dir() {
            walk(root, &path, entries)?;
        } else if meta.is_file() {
            let relative = path
                .strip_prefix(root)
                .map_err(|_| AttestError::new(ErrorKind::Unsupported, name(&path), "is outside the directory"))?;
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            entries.push(Entry {
                path: parts.join("/"),
                digest: file(&path)?,
            });
        } else {
            return Err(AttestError::new(
                ErrorKind::Unsupported,
                name(&path),
                "is neither a regular file nor a directory",
            ));
        }
    }
    Ok(())
}

//! The spool: Run records that could not reach the store wait here, one JSON file per run,
//! until `mlspec step flush` sends them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mlspec_spec::Document;

/// Where mlspec keeps step logs and the spool: the project's `.mlspec/` when there is one,
/// else `$MLSPEC_HOME`, else `~/.local/state/mlspec`.
pub fn state_dir() -> PathBuf {
    std::env::current_dir().map_or_else(|_| home_state_dir(), |cwd| state_dir_for(&cwd))
}

/// The state directory of the project `dir` is in, or the user's.
pub fn state_dir_for(dir: &Path) -> PathBuf {
    if let Ok(mlspec_store::Location::Sqlite(db)) = mlspec_store::Location::discover(dir)
        && let Some(dir) = db.parent()
    {
        return dir.to_path_buf();
    }
    home_state_dir()
}

/// `$MLSPEC_HOME`, else `~/.local/state/mlspec`.
fn home_state_dir() -> PathBuf {
    if let Some(home) = std::env::var_os(crate::env::HOME) {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".local/state/mlspec")
}

/// The spool directory.
pub fn spool_dir() -> PathBuf {
    state_dir().join("spool")
}

/// Writes a run's documents to the spool (atomically: a partial file is never left behind).
/// Each must be recordable first: the spool never holds what `flush` could not record.
pub fn write(run_id: &str, documents: &[Document]) -> anyhow::Result<PathBuf> {
    for document in documents {
        crate::documents::document_text(document, mlspec_spec::validate::Encoding::Json)?;
    }
    let dir = spool_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{run_id}.json"));
    crate::files::write_whole(&path, &serde_json::to_vec_pretty(documents)?, None)?;
    Ok(path)
}

/// The spooled runs, oldest first.
pub fn pending(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    files.sort();
    Ok(files)
}

/// The most bytes of one spooled run read back: its documents (each at most the 64 MiB a
/// document may have; a Run's metrics at most 32 MiB of JSON), pretty-printed.
const MAX_SPOOLED_BYTES: u64 = 512 << 20;

/// Reads one spooled run.
pub fn read(path: &Path) -> anyhow::Result<Vec<Document>> {
    let text = crate::inputs::read_text(path, MAX_SPOOLED_BYTES)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a spooled run", path.display()))
}

//! Reading inputs: files, directories (recursively) and `-` for standard input, each bounded by
//! the size limit so that no input can take unbounded memory.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One input to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// The name shown in messages.
    pub fn display_name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_owned(),
            Source::File(path) => path.display().to_string(),
        }
    }
}

/// What reading an input gave.
pub enum Content {
    /// The bytes.
    Bytes(Vec<u8>),
    /// The input is larger than the limit; nothing was kept.
    TooLarge(u64),
}

const DOCUMENT_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Expands the given paths: directories to the YAML and JSON files below them (sorted), `-` to
/// standard input. A path that does not exist is an error.
pub fn expand(paths: &[String]) -> Result<Vec<Source>, String> {
    let mut sources = Vec::new();
    for path in paths {
        if path == "-" {
            sources.push(Source::Stdin);
            continue;
        }
        let path = PathBuf::from(path);
        let metadata = fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if metadata.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
            files.sort();
            sources.extend(files.into_iter().map(Source::File));
        } else {
            sources.push(Source::File(path));
        }
    }
    Ok(sources)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| DOCUMENT_EXTENSIONS.contains(&e))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads an input, keeping at most `limit` bytes.
pub fn read(source: &Source, limit: u64) -> Result<Content, String> {
    let reader: Box<dyn Read> = match source {
        Source::Stdin => Box::new(std::io::stdin().lock()),
        Source::File(path) => {
            let file = fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if let Ok(metadata) = file.metadata()
                && metadata.len() > limit
            {
                return Ok(Content::TooLarge(metadata.len()));
            }
            Box::new(file)
        }
    };
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", source.display_name()))?;
    if bytes.len() as u64 > limit {
        return Ok(Content::TooLarge(bytes.len() as u64));
    }
    Ok(Content::Bytes(bytes))
}

//! Reading inputs: files, directories (recursively) and `-` for standard input, each bounded by
//! the size limit so that no input can take unbounded memory. Only regular files are read: a
//! FIFO, socket or device named on the command line is an error, and one found while walking a
//! directory is skipped with a warning — reading one could block for ever or never end.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
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
            // Symbolic links are followed to see what they name.
            match fs::metadata(&path).map(|m| not_regular(&m.file_type())) {
                Ok(None) => files.push(path),
                Ok(Some(what)) => errln!("warning: skipped {}: it is {what}, not a regular file", path.display()),
                Err(e) => errln!("warning: skipped {}: {e}", path.display()),
            }
        }
    }
    Ok(())
}

/// Reads an input, keeping at most `limit` bytes.
pub fn read(source: &Source, limit: u64) -> Result<Content, String> {
    let reader: Box<dyn Read> = match source {
        Source::Stdin => Box::new(std::io::stdin().lock()),
        Source::File(path) => {
            let file = open_regular(path)?;
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

/// What a file that is not a regular file is, for messages; `None` for a regular file.
pub fn not_regular(file_type: &fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_char_device() || file_type.is_block_device() {
        Some("a device")
    } else {
        Some("not a file")
    }
}

/// Opens `path` for reading when it is a regular file; anything else is an error naming what it
/// is. Opening never blocks (a FIFO without a writer would block `open` itself).
pub fn open_regular(path: &Path) -> Result<fs::File, String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits() | nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match not_regular(&metadata.file_type()) {
        None => Ok(file),
        Some(what) => Err(format!(
            "cannot read {}: it is {what}, not a regular file (to read a pipe, give `-` and redirect it to standard input)",
            path.display()
        )),
    }
}

/// The text of the regular file at `path`, refused past `limit` bytes (without reading more).
pub fn read_text(path: &Path, limit: u64) -> anyhow::Result<String> {
    let file = open_regular(path).map_err(anyhow::Error::msg)?;
    let mut text = String::new();
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > limit {
        anyhow::bail!("{} is over {limit} bytes, the most mlspec reads of it", path.display());
    }
    Ok(text)
}

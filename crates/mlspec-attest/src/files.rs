//! Reading the small text files of the trust chain (keys, package documents, attestations)
//! whole, bounded: a FIFO, device or directory is refused before it is opened (opening a FIFO
//! would wait for a writer), and a file over its limit before it is read.

use std::io::Read as _;
use std::path::Path;

use crate::error::{AttestError, ErrorKind};

/// The text of the regular file at `path`, at most `limit` bytes; `what` names such a file in
/// the error ("a key file"), `hint` says what to give instead.
pub(crate) fn read_text(path: &Path, limit: u64, what: &str, hint: &str) -> Result<String, AttestError> {
    let name = path.display().to_string();
    let cannot =
        |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot read: {e}")).with_hint(hint);
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(AttestError::new(ErrorKind::Io, &name, "is not a regular file").with_hint(hint));
    }
    let too_large = |size: u64| {
        AttestError::new(
            ErrorKind::LimitExceeded,
            &name,
            format!("is {size} bytes; {what} is at most {limit}"),
        )
        .with_hint(hint)
    };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => {
                AttestError::new(ErrorKind::Malformed, &name, "is not UTF-8 text").with_hint(hint)
            }
            _ => cannot(e),
        })?;
    match text.len() as u64 > limit {
        true => Err(too_large(text.len() as u64)),
        false => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_the_limit_is_read_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_text(&path, 5, "a test file", "give another").unwrap(), "hello");
        let over = read_text(&path, 4, "a test file", "give another").unwrap_err();
        assert_eq!(over.kind, ErrorKind::LimitExceeded);
        assert!(
            over.to_string()
                .contains("is 5 bytes; a test file is at most 4 (give another)"),
            "{over}"
        );
        let directory = read_text(dir.path(), 5, "a test file", "give another").unwrap_err();
        assert_eq!(directory.kind, ErrorKind::Io);
        assert!(directory.to_string().contains("is not a regular file"), "{directory}");
        std::fs::write(&path, b"\xff\xfe").unwrap();
        let binary = read_text(&path, 5, "a test file", "give another").unwrap_err();
        assert_eq!(binary.kind, ErrorKind::Malformed);
        assert!(binary.to_string().contains("is not UTF-8 text"), "{binary}");
        let missing = read_text(&dir.path().join("none"), 5, "a test file", "give another").unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }
}

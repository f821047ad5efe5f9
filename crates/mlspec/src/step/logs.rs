//! Capturing a child's output: every chunk goes on to the terminal as it comes and into a log
//! file up to a cap; nothing is held in memory beyond one buffer.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What capturing one stream kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Which stream: `stdout` or `stderr`.
    pub stream: &'static str,
    /// The log file.
    pub path: PathBuf,
    /// Bytes the child wrote.
    pub bytes: u64,
    /// Bytes kept in the file (at most the cap).
    pub kept: u64,
}

impl Captured {
    /// True when the cap cut the log.
    pub fn truncated(&self) -> bool {
        self.kept < self.bytes
    }
}

const BUFFER: usize = 64 * 1024;

/// Copies `from` to `terminal` and to the file `path` (at most `cap` bytes of it) until the end
/// of the stream. A terminal that goes away stops the passing-through, not the capture.
pub async fn capture(
    stream: &'static str,
    mut from: impl AsyncRead + Unpin,
    mut terminal: impl AsyncWrite + Unpin,
    path: &Path,
    cap: u64,
) -> std::io::Result<Captured> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut buffer = vec![0u8; BUFFER];
    let (mut bytes, mut kept) = (0u64, 0u64);
    let mut terminal_open = true;
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buffer[..n];
        bytes += n as u64;
        if terminal_open {
            terminal_open = terminal.write_all(chunk).await.is_ok() && terminal.flush().await.is_ok();
        }
        let room = usize::try_from(cap.saturating_sub(kept)).unwrap_or(usize::MAX).min(n);
        if room > 0 {
            file.write_all(&chunk[..room]).await?;
            kept += room as u64;
        }
    }
    file.flush().await?;
    Ok(Captured {
        stream,
        path: path.to_path_buf(),
        bytes,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_through_and_caps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let input: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut terminal = Vec::new();
        let captured = capture("stdout", input.as_slice(), &mut terminal, &path, 100_000)
            .await
            .unwrap();
        assert_eq!(terminal, input, "the terminal sees everything");
        assert_eq!(std::fs::read(&path).unwrap(), input[..100_000]);
        assert_eq!(
            (captured.bytes, captured.kept, captured.truncated()),
            (200_000, 100_000, true)
        );
    }
}

//! Capturing a child's output: every chunk goes on to the terminal as it comes and into a log
//! file up to a cap (the file is made with the first byte kept: a silent stream has none);
//! nothing is held in memory beyond one buffer.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

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
    /// Bytes kept in the file (at most the cap; with none kept there is no file).
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
    // Created with the first byte kept: a stream the command never wrote to leaves no file.
    let mut file: Option<tokio::fs::File> = None;
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
            let file = match &mut file {
                Some(file) => file,
                None => file.insert(tokio::fs::File::create(path).await?),
            };
            file.write_all(&chunk[..room]).await?;
            kept += room as u64;
        }
    }
    if let Some(file) = &mut file {
        file.flush().await?;
    }
    Ok(Captured {
        stream,
        path: path.to_path_buf(),
        bytes,
        kept,
    })
}

/// The most bytes of a stream a [`TailBuffer`] keeps.
pub const TAIL_BYTES: usize = 2048;

/// A writer that keeps only the last [`TAIL_BYTES`] written to it: the end of a step's stderr,
/// for the message that says why it failed. Clones share the buffer.
#[derive(Clone, Default)]
pub struct TailBuffer(Arc<Mutex<Vec<u8>>>);

impl TailBuffer {
    /// The kept bytes as text.
    pub fn text(&self) -> String {
        let kept = self.0.lock().map(|kept| kept.clone()).unwrap_or_default();
        String::from_utf8_lossy(&kept).into_owned()
    }

    fn keep(&self, bytes: &[u8]) {
        if let Ok(mut kept) = self.0.lock() {
            let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
            kept.extend_from_slice(bytes);
            let excess = kept.len().saturating_sub(TAIL_BYTES);
            kept.drain(..excess);
        }
    }
}

impl AsyncWrite for TailBuffer {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        self.keep(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tail_buffer_keeps_the_last_bytes_written() {
        let mut tail = TailBuffer::default();
        let first = vec![b'a'; TAIL_BYTES];
        tail.write_all(&first).await.unwrap();
        tail.write_all(b"the end").await.unwrap();
        let text = tail.text();
        assert_eq!(text.len(), TAIL_BYTES);
        assert!(text.ends_with("aaathe end"), "{text}");
        tail.write_all(&vec![b'z'; 3 * TAIL_BYTES]).await.unwrap();
        assert_eq!(tail.text(), "z".repeat(TAIL_BYTES));
    }

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
        let silent = capture("stderr", &b""[..], Vec::new(), &dir.path().join("err.log"), 100)
            .await
            .unwrap();
        assert_eq!((silent.bytes, silent.kept), (0, 0));
        assert!(!dir.path().join("err.log").exists(), "a silent stream leaves no file");
    }
}

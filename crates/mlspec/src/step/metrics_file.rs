//! Tailing `$MLSPEC_METRICS_FILE`: JSON lines the command appends, read as they come in bounded
//! memory. A line longer than [`MAX_POST_BYTES`](mlspec_server::MAX_POST_BYTES) is skipped
//! without being held (a warning names its line number); a line that is not a metric, or that
//! the run's metric limits refuse, is skipped with a warning too.

use std::path::{Path, PathBuf};

use mlspec_server::{MAX_POST_BYTES, StepState};
use tokio::io::AsyncReadExt as _;

use crate::inputs;

/// The most bytes read from the file per call: a command writing faster than that is read on.
const MAX_READ_PER_CALL: u64 = 64 << 20;

/// How far the file has been read.
pub struct Tail {
    path: PathBuf,
    offset: u64,
    /// Lines completed so far.
    line: usize,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
    /// The current line is over the limit: its bytes are dropped until its end.
    skipping: bool,
}

impl Tail {
    /// Nothing read yet.
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            offset: 0,
            line: 0,
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// Reads what was appended since the last call and reports its complete lines to `state`;
    /// `last` also takes a final line without a newline.
    pub async fn read(&mut self, state: &StepState, last: bool) {
        let file = match inputs::open_regular(&self.path) {
            Ok(file) => file,
            Err(reason) if last => {
                errln!("warning: metrics file: {reason}; its metrics were not read");
                return;
            }
            Err(_) => return,
        };
        let mut file = tokio::fs::File::from_std(file);
        if tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(self.offset))
            .await
            .is_err()
        {
            return;
        }
        let mut file = file.take(MAX_READ_PER_CALL);
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let n = match file.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            self.take(&chunk[..n], state);
        }
        if last && (!self.partial.is_empty() || self.skipping) {
            self.end_line(state);
        }
    }

    fn take(&mut self, mut bytes: &[u8], state: &StepState) {
        while !bytes.is_empty() {
            let end = bytes.iter().position(|b| *b == b'\n');
            let (piece, rest) = match end {
                Some(i) => (&bytes[..i], &bytes[i + 1..]),
                None => (bytes, &[][..]),
            };
            if !self.skipping {
                if self.partial.len() + piece.len() > MAX_POST_BYTES {
                    self.skipping = true;
                    self.partial = Vec::new();
                } else {
                    self.partial.extend_from_slice(piece);
                }
            }
            if end.is_some() {
                self.end_line(state);
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self, state: &StepState) {
        self.line += 1;
        let line = std::mem::take(&mut self.partial);
        let path = self.path.display();
        if std::mem::take(&mut self.skipping) {
            errln!(
                "warning: {path}: line {}: longer than {MAX_POST_BYTES} bytes, the most one line may hold; skipped",
                self.line
            );
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match mlspec_server::parse_metrics(&line).map(|metrics| state.report(metrics)) {
            Ok(Ok(_)) => {}
            Ok(Err((recorded, refused))) => errln!(
                "warning: {path}: line {}: {}; {recorded} metric(s) of the line were recorded",
                self.line,
                refused.0
            ),
            Err(reason) => errln!("warning: {path}: line {}: {reason}", self.line),
        }
    }
}

//! Verification: the chain of every line, then the signed checkpoints — which alone prove lines,
//! since anyone who can write the file can recompute an unkeyed chain.

use std::fs::File;
use std::io::{BufRead, BufReader, Read as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CHECKPOINT_TYPE, Layout, checkpoints_path, next_chain, split_chain};
use crate::dsse::Envelope;
use crate::error::{AttestError, ErrorKind};
use crate::keys::PublicKey;

/// Bytes read per block of verification work; also the longest line verification reads.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// The longest checkpoint (one DSSE envelope per line of the sidecar) that is read.
pub const MAX_CHECKPOINT_BYTES: u64 = 64 << 10;

/// Findings listed one by one of each sort; the rest are counted.
const LISTED: usize = 1000;

/// What a checkpoint signs: the chain head of a log, and which log it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log's file name when it was signed.
    pub log: String,
    /// The chain value of the log's first line (hex): the log's identity, `None` while it has
    /// no line.
    pub first: Option<String>,
    /// The number of lines covered.
    pub line: u64,
    /// The chain value of that line (hex; zeros at line 0).
    pub chain: String,
    /// When it was signed (RFC 3339).
    pub time: String,
}

/// What sort of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A line without a chain value: not written by an mlspec log writer (of this layout).
    Unchained,
    /// A line whose chain does not hold: modified, or a neighbour deleted or inserted.
    Broken,
    /// A line that chains from another line.
    Moved,
    /// A last line without a newline.
    Partial,
    /// A line too long to be a log line; verification stopped there.
    TooLong,
    /// A checkpoint that does not hold (unreadable, unsigned, foreign, or not matching).
    Checkpoint,
    /// Lines that no signed checkpoint covers.
    UnsignedTail,
}

/// A finding of verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The line (1-based), when one is concerned.
    pub line: Option<u64>,
    /// What sort of problem.
    pub problem: Problem,
    /// What is wrong.
    pub message: String,
}

/// Whether lines after the last signed checkpoint are a failure or only said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnsignedTail {
    /// A finding: the log does not verify.
    #[default]
    Refuse,
    /// A note naming how many lines are unsigned.
    Allow,
}

/// What verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogReport {
    /// Complete lines read.
    pub lines: u64,
    /// Lines whose chain holds.
    pub verified: u64,
    /// Signed checkpoints of this log that hold.
    pub checkpoints: u64,
    /// Lines covered by a signed checkpoint that holds, with every line up to it intact (0
    /// without a key).
    pub covered: u64,
    /// Problems (none: verified).
    pub findings: Vec<Finding>,
    /// Notes that are not failures.
    pub notes: Vec<String>,
    /// Bytes of complete lines.
    pub(super) complete_bytes: u64,
    /// Bytes of a partial last line.
    pub(super) partial_bytes: u64,
    /// The recorded chain of the first and the last line.
    pub(super) first: Option<[u8; 32]>,
    pub(super) head: [u8; 32],
    /// Bytes of complete checkpoints in the sidecar, and of a partial last one.
    pub(super) sidecar_complete: u64,
    pub(super) sidecar_partial: u64,
}

impl LogReport {
    fn find(&mut self, line: Option<u64>, problem: Problem, message: impl Into<String>) {
        self.findings.push(Finding {
            line,
            problem,
            message: message.into(),
        });
    }

    /// The first line whose chain is broken (or that has none).
    fn first_broken(&self) -> Option<u64> {
        self.findings
            .iter()
            .filter(|f| {
                matches!(
                    f.problem,
                    Problem::Unchained | Problem::Broken | Problem::Moved | Problem::TooLong
                )
            })
            .filter_map(|f| f.line)
            .min()
    }
}

/// A line whose chain does not hold, kept to say what happened to it.
struct Suspect {
    number: u64,
    content: Vec<u8>,
    recorded: [u8; 32],
}

/// What one block of complete lines showed.
#[derive(Default)]
struct BlockResult {
    chains: Vec<[u8; 32]>,
    verified: u64,
    unchained: Vec<u64>,
    suspects: Vec<Suspect>,
}

/// Checks a block of complete lines, the first numbered `first`, the line before it having
/// recorded `previous`. Each line's check needs only its predecessor's *recorded* chain, so
/// blocks are checked in parallel.
fn check_block(block: &[u8], first: u64, mut previous: [u8; 32], layout: Layout) -> BlockResult {
    let mut result = BlockResult::default();
    let lines = block.strip_suffix(b"\n").unwrap_or(block);
    for (i, line) in lines.split(|b| *b == b'\n').enumerate() {
        let number = first + i as u64;
        match split_chain(line, layout) {
            None => {
                result.unchained.push(number);
                result.chains.push(previous);
            }
            Some((content, recorded)) => {
                if next_chain(&previous, content) == recorded {
                    result.verified += 1;
                } else {
                    result.suspects.push(Suspect {
                        number,
                        content: content.to_vec(),
                        recorded,
                    });
                }
                result.chains.push(recorded);
                previous = recorded;
            }
        }
    }
    result
}

/// The recorded chain of the last line of a block of complete lines (`previous` if it has
/// none).
fn last_chain(block: &[u8], previous: [u8; 32], layout: Layout) -> [u8; 32] {
    block
        .strip_suffix(b"\n")
        .and_then(|b| b.rsplit(|c| *c == b'\n').next())
        .and_then(|line| split_chain(line, layout))
        .map_or(previous, |(_, chain)| chain)
}

/// Verifies the log at `path` and its checkpoints signed by `key`: only lines a signed
/// checkpoint of this log covers are proven; `tail` says whether lines after the last one fail.
pub fn verify(path: &Path, key: &PublicKey, layout: Layout, tail: UnsignedTail) -> Result<LogReport, AttestError> {
    verify_chain(path, Some(key), layout, tail)
}

/// The recorded chains of every complete line, and how the reading ended.
struct Read {
    chains: Vec<[u8; 32]>,
    partial: u64,
    complete: u64,
    too_long: bool,
    blocks: Vec<BlockResult>,
}

/// Reads the log in blocks that the machine's cores check in parallel.
fn read_blocks(path: &Path, layout: Layout) -> Result<Read, AttestError> {
    let name = path.display().to_string();
    let cannot = |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot read: {e}"));
    let mut file = File::open(path).map_err(cannot)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>, u64, [u8; 32])>(threads);
    let receive = std::sync::Mutex::new(receive);
    let (done_send, done_receive) = std::sync::mpsc::channel::<(usize, BlockResult)>();
    let mut read = Read {
        chains: Vec::new(),
        partial: 0,
        complete: 0,
        too_long: false,
        blocks: Vec::new(),
    };
    let mut results = std::thread::scope(|scope| -> Result<Vec<(usize, BlockResult)>, AttestError> {
        for _ in 0..threads {
            let (receive, done) = (&receive, done_send.clone());
            scope.spawn(move || {
                loop {
                    let job = receive.lock().ok().and_then(|r| r.recv().ok());
                    let Some((index, block, first, previous)) = job else {
                        break;
                    };
                    let _ = done.send((index, check_block(&block, first, previous, layout)));
                }
            });
        }
        drop(done_send);
        let sent = send_blocks(&mut file, size, layout, &send, &mut read).map_err(cannot);
        drop(send);
        sent?;
        Ok(done_receive.iter().collect())
    })?;
    results.sort_by_key(|(i, _)| *i);
    read.blocks = results.into_iter().map(|(_, block)| block).collect();
    Ok(read)
}

/// Cuts the file into blocks of complete lines for the checkers; what is left is partial.
fn send_blocks(
    file: &mut File,
    size: u64,
    layout: Layout,
    send: &std::sync::mpsc::SyncSender<(usize, Vec<u8>, u64, [u8; 32])>,
    read: &mut Read,
) -> std::io::Result<()> {
    let mut offset = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut previous = [0u8; 32];
    let mut first = 1u64;
    let mut index = 0usize;
    loop {
        let mut block = std::mem::take(&mut carry);
        if block.len() > MAX_LINE_BYTES {
            read.too_long = true;
            return Ok(());
        }
        let start = block.len();
        // A block at most, and no more than the file has left (small logs stay small).
        let left = usize::try_from(size.saturating_sub(offset)).unwrap_or(MAX_LINE_BYTES);
        block.resize(start + MAX_LINE_BYTES.min(left.max(1 << 16)), 0);
        let n = file.read(&mut block[start..])?;
        block.truncate(start + n);
        offset += n as u64;
        if n == 0 {
            read.partial = block.len() as u64;
            return Ok(());
        }
        let Some(end) = block.iter().rposition(|b| *b == b'\n') else {
            carry = block;
            continue;
        };
        carry = block.split_off(end + 1);
        read.complete += block.len() as u64;
        let lines = block.iter().filter(|b| **b == b'\n').count() as u64;
        let next_previous = last_chain(&block, previous, layout);
        if send.send((index, block, first, previous)).is_err() {
            return Ok(());
        }
        previous = next_previous;
        first += lines;
        index += 1;
    }
}

/// Verifies the log's chain, and its checkpoints when a key is given (without one, a note says
/// that nothing is proven: an unkeyed chain can be recomputed).
pub fn verify_chain(
    path: &Path,
    key: Option<&PublicKey>,
    layout: Layout,
    tail: UnsignedTail,
) -> Result<LogReport, AttestError> {
    let mut read = read_blocks(path, layout)?;
    let mut report = LogReport {
        complete_bytes: read.complete,
        partial_bytes: read.partial,
        ..LogReport::default()
    };
    let mut suspects = Vec::new();
    for block in std::mem::take(&mut read.blocks) {
        read.chains.extend(block.chains);
        report.verified += block.verified;
        for number in block.unchained {
            report.find(
                Some(number),
                Problem::Unchained,
                "has no chain value (not written by an mlspec log writer, or damaged)",
            );
        }
        suspects.extend(block.suspects);
    }
    let chains = read.chains;
    report.lines = chains.len() as u64;
    report.first = chains.first().copied();
    report.head = chains.last().copied().unwrap_or_default();
    for suspect in suspects.iter().take(LISTED) {
        let (problem, message) = what_happened(suspect, &chains);
        report.find(Some(suspect.number), problem, message);
    }
    if suspects.len() > LISTED {
        report.find(
            None,
            Problem::Broken,
            format!("and {} more lines whose chain does not hold", suspects.len() - LISTED),
        );
    }
    if read.too_long {
        report.find(
            Some(report.lines + 1),
            Problem::TooLong,
            format!(
                "is longer than {} MiB: not a log line (verification stopped there)",
                MAX_LINE_BYTES >> 20
            ),
        );
    } else if read.partial > 0 {
        report.find(
            Some(report.lines + 1),
            Problem::Partial,
            "partial: the line has no end (a writer stopped while writing it); the lines before it are not affected",
        );
    }
    match key {
        Some(key) => {
            check_points(path, key, &chains, &mut report)?;
            check_tail(path, tail, &mut report);
        }
        None => report.notes.push(
            "no key given: the chain was checked, but anyone who can write the file can recompute it; only signed checkpoints prove lines"
                .into(),
        ),
    }
    report.findings.sort_by_key(|f| f.line.unwrap_or(u64::MAX));
    Ok(report)
}

/// Why a line's chain does not hold: it chains from another line (moved), or it was modified
/// or a neighbour deleted or inserted.
fn what_happened(suspect: &Suspect, chains: &[[u8; 32]]) -> (Problem, String) {
    let index = suspect.number as usize - 1;
    let follows = std::iter::once((0, [0u8; 32]))
        .chain(chains.iter().enumerate().map(|(k, c)| (k + 1, *c)))
        .find(|(k, c)| *k != index && next_chain(c, &suspect.content) == suspect.recorded)
        .map(|(k, _)| k);
    match follows {
        Some(0) => (Problem::Moved, "moved: it was the first line".into()),
        Some(k) => (Problem::Moved, format!("moved: it was written after line {k}")),
        None => (
            Problem::Broken,
            "does not match its chain value: it was modified, or the line before it was deleted or inserted".into(),
        ),
    }
}

/// How reading one line ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// There was no more input.
    End,
    /// A line and its newline.
    Complete,
    /// A last line without a newline.
    Partial,
    /// A line over the limit, skipped to its end (`line` is empty).
    TooLong,
}

/// Reads one line into `line` (without its newline), holding at most `limit` bytes of it; a
/// longer line is skipped to its end.
pub fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, limit: u64) -> std::io::Result<Line> {
    line.clear();
    let n = reader.by_ref().take(limit + 1).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(Line::End);
    }
    if line.pop_if(|b| *b == b'\n').is_some() {
        return Ok(Line::Complete);
    }
    if (line.len() as u64) <= limit {
        return Ok(Line::Partial);
    }
    loop {
        let skipped = reader.by_ref().take(1 << 16).read_until(b'\n', line)?;
        let ended = line.last() == Some(&b'\n');
        line.clear();
        if skipped == 0 || ended {
            return Ok(Line::TooLong);
        }
    }
}

/// Checks the signed checkpoints against the chain values read; `report.covered` becomes the
/// last line that a checkpoint of this log proves, with every line up to it intact.
fn check_points(path: &Path, key: &PublicKey, chains: &[[u8; 32]], report: &mut LogReport) -> Result<(), AttestError> {
    let sidecar = checkpoints_path(path);
    let shown = sidecar.display().to_string();
    let file = match File::open(&sidecar) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(AttestError::new(ErrorKind::Io, &shown, format!("cannot read: {e}"))),
    };
    let log_name = log_name(path);
    let first_broken = report.first_broken().unwrap_or(u64::MAX);
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let (mut number, mut problems) = (0u64, 0usize);
    loop {
        number += 1;
        let at = format!("{shown}:{number}");
        let ended = read_line(&mut reader, &mut line, MAX_CHECKPOINT_BYTES)
            .map_err(|e| AttestError::new(ErrorKind::Io, &shown, format!("cannot read: {e}")))?;
        let problem = match ended {
            Line::End => break,
            Line::Partial => {
                report.sidecar_partial = line.len() as u64;
                report.notes.push(format!(
                    "{at}: a partial checkpoint (a writer stopped while writing it) is ignored"
                ));
                break;
            }
            Line::TooLong => Some(format!(
                "is longer than {} KiB: not a checkpoint",
                MAX_CHECKPOINT_BYTES >> 10
            )),
            Line::Complete => {
                report.sidecar_complete += line.len() as u64 + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match checkpoint(&line, &at, key) {
                    Err(problem) => Some(problem),
                    Ok(signed) => match holds(&signed, &log_name, chains) {
                        Err(problem) => Some(problem),
                        Ok(()) => {
                            report.checkpoints += 1;
                            if signed.line < first_broken {
                                report.covered = report.covered.max(signed.line);
                            }
                            None
                        }
                    },
                }
            }
        };
        if let Some(problem) = problem {
            problems += 1;
            if problems <= LISTED {
                report.find(None, Problem::Checkpoint, format!("{at}: {problem}"));
            }
        }
    }
    if problems > LISTED {
        report.find(
            None,
            Problem::Checkpoint,
            format!("{shown}: and {} more checkpoints that do not hold", problems - LISTED),
        );
    }
    Ok(())
}

/// The log's file name, as checkpoints name it.
pub(super) fn log_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A checkpoint whose signature verifies with `key`.
fn checkpoint(line: &[u8], at: &str, key: &PublicKey) -> Result<Checkpoint, String> {
    let not_one = || "is not a checkpoint envelope".to_owned();
    let text = std::str::from_utf8(line).map_err(|_| not_one())?;
    let envelope = Envelope::parse(text, at).map_err(|_| not_one())?;
    if envelope.payload_type != CHECKPOINT_TYPE {
        return Err(format!("is a `{}` envelope, not a checkpoint", envelope.payload_type));
    }
    let signed = envelope
        .verify(std::slice::from_ref(key))
        .is_ok_and(|v| !v.verified.is_empty());
    if !signed {
        return Err(format!(
            "the checkpoint's signature does not verify with key {}",
            key.key_id()
        ));
    }
    let payload = envelope.payload_bytes().map_err(|_| not_one())?;
    serde_json::from_slice(&payload).map_err(|_| {
        "the signed checkpoint does not name its log, first line, line and chain (written by an older mlspec?)".into()
    })
}

/// Whether a signed checkpoint is this log's and matches its lines.
fn holds(signed: &Checkpoint, log_name: &str, chains: &[[u8; 32]]) -> Result<(), String> {
    if signed.log != log_name {
        return Err(format!(
            "signed for the log `{}`, not `{log_name}`: the checkpoints are another log's (rename the log back if it was renamed)",
            signed.log
        ));
    }
    let Some(at) = signed.line.checked_sub(1) else {
        return Ok(());
    };
    if let Some(first) = chains.first()
        && signed.first.as_deref() != Some(hex::encode(first).as_str())
    {
        return Err("signed for another log (its first line differs from this log's): the checkpoints are another log's, or line 1 was replaced".into());
    }
    match usize::try_from(at).ok().and_then(|at| chains.get(at)) {
        None => Err(format!(
            "truncated: the checkpoint signed at {} covers line {}; the log has {} complete lines",
            signed.time,
            signed.line,
            chains.len()
        )),
        Some(chain) if hex::encode(chain) != signed.chain => {
            Err(format!("line {} differs from the signed checkpoint", signed.line))
        }
        Some(_) => Ok(()),
    }
}

/// Says how many lines no signed checkpoint covers: a finding, or with [`UnsignedTail::Allow`]
/// a note.
fn check_tail(path: &Path, tail: UnsignedTail, report: &mut LogReport) {
    let unsigned = report.lines - report.covered;
    if unsigned == 0 {
        return;
    }
    let sidecar = checkpoints_path(path);
    let what = if !sidecar.exists() {
        format!(
            "there is no checkpoints file {}: none of the {} lines is signed",
            sidecar.display(),
            report.lines
        )
    } else if report.covered == 0 {
        format!(
            "no signed checkpoint of this log holds: none of the {} lines is signed",
            report.lines
        )
    } else {
        format!(
            "lines {}–{} ({unsigned}) come after the last signed checkpoint that holds (line {})",
            report.covered + 1,
            report.lines,
            report.covered
        )
    };
    let message = format!("{what}; anyone who can write the file could have written them");
    match tail {
        UnsignedTail::Refuse => report.find(Some(report.covered + 1), Problem::UnsignedTail, message),
        UnsignedTail::Allow => report.notes.push(format!("{unsigned} lines are NOT signed: {message}")),
    }
}

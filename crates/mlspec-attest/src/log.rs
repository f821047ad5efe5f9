//! Hash-chained inference logs: one line per request that any Combined-format tool reads, and
//! that binds the answer to the signed package, pipeline and training data.
//!
//! **Line format** (NCSA Combined, then extension fields after the user agent):
//!
//! ```text
//! 10.0.0.7 - alice [30/Nov/2026:12:00:00 +0000] "POST /v2/models/churn/infer HTTP/1.1" 200 512 "-" "curl/8.5" rid=r-1 model=churn@1.0.0 package=sha256:… pipeline=sha256:… data=sha256:… latency_ms=12.500 chain=<64 hex>
//! ```
//!
//! Quoted fields escape `"`, `\` and control bytes as Apache does (`\"`, `\\`, `\xhh`);
//! extension values are percent-encoded outside `A-Z a-z 0-9 . _ ~ : @ / + -`. The **chain**
//! value of a line is SHA-256(previous line's chain ‖ this line up to the space before
//! `chain=`), hex; the first line chains from 32 zero bytes. A JSON Lines variant carries the
//! same fields as the spec's logging proto (`applicationInfo`, `requestInfo`, `modelInfo`) and
//! ends each object with `"chain"`, computed over the object up to that member.
//!
//! **Checkpoints**: every N lines, and when the writer closes, the chain head (line number and
//! chain value) is signed as a DSSE envelope and appended to the sidecar `LOGFILE.checkpoints`,
//! so that cutting lines off the end — which leaves a valid chain — is detected too.
//!
//! **Verification** recomputes the chain: a line whose chain does not match but whose successor
//! chains from it was **modified**; a line that does not follow its predecessor is where lines
//! were **deleted, inserted or reordered**; a last line without a newline is **partial** (a
//! writer stopped mid-line; the lines before it stay verified); a checkpoint beyond the end of
//! the file means the log was **truncated**.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::dsse::Envelope;
use crate::error::AttestError;
use crate::keys::{PublicKey, SigningKey};

/// The payload type of a checkpoint.
pub const CHECKPOINT_TYPE: &str = "application/vnd.mlspec.log-checkpoint+json";

/// One request, as a serving stack reports it (`mlspec log append` reads these as JSON Lines).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The client's address.
    pub client: String,
    /// The authenticated user, if any.
    #[serde(default)]
    pub user: Option<String>,
    /// When the request arrived (default: when it is logged).
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// HTTP method.
    pub method: String,
    /// Path (and query).
    pub path: String,
    /// Protocol (default `HTTP/1.1`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Response status.
    pub status: u16,
    /// Response bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Referer header.
    #[serde(default)]
    pub referer: Option<String>,
    /// User-Agent header.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The request's id.
    pub request_id: String,
    /// Time to answer, milliseconds.
    pub latency_ms: f64,
    /// Digest of the request body (`sha256:…`), optional.
    #[serde(default)]
    pub input_digest: Option<String>,
    /// Digest of the response body, optional.
    #[serde(default)]
    pub output_digest: Option<String>,
}

/// What every line is bound to: the model and the digests of what made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// `name@version`.
    pub model: String,
    /// The signed package's digest (its manifest's).
    pub package: String,
    /// The pipeline's digest.
    pub pipeline: String,
    /// The training data's digest.
    pub data: String,
}

/// A binding's extension fields, rendered once for every line.
struct RenderedBinding {
    binding: Binding,
    rendered: String,
}

impl RenderedBinding {
    fn new(binding: Binding) -> RenderedBinding {
        let mut rendered = String::new();
        push_extension(&mut rendered, "model", &binding.model);
        push_extension(&mut rendered, "package", &binding.package);
        push_extension(&mut rendered, "pipeline", &binding.pipeline);
        push_extension(&mut rendered, "data", &binding.data);
        RenderedBinding { binding, rendered }
    }
}

/// The line layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// NCSA Combined with extension fields.
    Combined,
    /// JSON Lines with the logging proto's fields.
    JsonLines,
}

/// When appended lines reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// When the OS writes its buffers (and at close).
    Never,
    /// After every line.
    EveryLine,
    /// After every N lines.
    EveryLines(u64),
    /// At most this long after a line.
    Every(Duration),
}

/// How a log is written.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// The layout.
    pub layout: Layout,
    /// The fsync policy.
    pub fsync: Fsync,
    /// Sign a checkpoint every this many lines (and at close); 0: only at close.
    pub checkpoint_every: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            layout: Layout::Combined,
            fsync: Fsync::Never,
            checkpoint_every: 100_000,
        }
    }
}

/// Appends chained lines to a log.
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    chain: [u8; 32],
    lines: u64,
    binding: RenderedBinding,
    key: SigningKey,
    options: LogOptions,
    unsynced: u64,
    last_sync: Instant,
    line: String,
    times: TimeCache,
}

/// The sidecar holding a log's signed checkpoints.
pub fn checkpoints_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

impl LogWriter {
    /// Opens (or creates) the log at `path` to append to. An existing log's chain is picked up
    /// from its last complete line; a partial last line (a writer stopped mid-line) is cut off,
    /// and its length returned so that the caller can say so.
    pub fn open(
        path: &Path,
        binding: Binding,
        key: SigningKey,
        options: LogOptions,
    ) -> Result<(LogWriter, u64), AttestError> {
        let name = path.display().to_string();
        let io = |e: std::io::Error| AttestError::new(&name, format!("cannot write: {e}"));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let tail = scan(&mut file).map_err(io)?;
        let cut = tail.length - tail.complete;
        if cut > 0 {
            file.set_len(tail.complete).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        let lines = tail.lines;
        let chain = match tail.last_line.is_empty() {
            true => [0u8; 32],
            false => {
                let (_, recorded) = split_chain(&tail.last_line, options.layout).ok_or_else(|| {
                    AttestError::new(
                        &name,
                        format!("line {lines} has no chain value; is this an mlspec log?"),
                    )
                })?;
                recorded
            }
        };
        Ok((
            LogWriter {
                path: path.to_owned(),
                out: BufWriter::with_capacity(1 << 16, file),
                chain,
                lines,
                binding: RenderedBinding::new(binding),
                key,
                options,
                unsynced: 0,
                last_sync: Instant::now(),
                line: String::with_capacity(512),
                times: TimeCache::default(),
            },
            cut,
        ))
    }

    /// Appends one request; its line number (1-based).
    pub fn append(&mut self, request: &Request) -> Result<u64, AttestError> {
        self.line.clear();
        match self.options.layout {
            Layout::Combined => combined(&mut self.line, request, &self.binding, &mut self.times),
            Layout::JsonLines => json_line(&mut self.line, request, &self.binding.binding)?,
        }
        let chain = next_chain(&self.chain, self.line.as_bytes());
        let mut hex_buffer = [0u8; 64];
        let hex = hex::encode_to_slice(chain, &mut hex_buffer)
            .ok()
            .and_then(|()| std::str::from_utf8(&hex_buffer).ok())
            .unwrap_or_default();
        match self.options.layout {
            Layout::Combined => {
                self.line.push_str(" chain=");
                self.line.push_str(hex);
            }
            Layout::JsonLines => {
                self.line.push_str(",\"chain\":\"");
                self.line.push_str(hex);
                self.line.push_str("\"}");
            }
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes()).map_err(|e| self.error(e))?;
        self.chain = chain;
        self.lines += 1;
        self.unsynced += 1;
        self.sync_if_due()?;
        if self.options.checkpoint_every > 0 && self.lines.is_multiple_of(self.options.checkpoint_every) {
            self.checkpoint()?;
        }
        Ok(self.lines)
    }

    fn error(&self, e: std::io::Error) -> AttestError {
        AttestError::new(self.path.display().to_string(), format!("cannot write: {e}"))
    }

    fn sync_if_due(&mut self) -> Result<(), AttestError> {
        let due = match self.options.fsync {
            Fsync::Never => false,
            Fsync::EveryLine => true,
            Fsync::EveryLines(n) => self.unsynced >= n,
            Fsync::Every(interval) => self.last_sync.elapsed() >= interval,
        };
        if due {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), AttestError> {
        self.out.flush().map_err(|e| self.error(e))?;
        self.out.get_ref().sync_data().map_err(|e| self.error(e))?;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Signs the chain head into the sidecar, after the lines it covers are written out — and,
    /// unless the policy is [`Fsync::Never`], on disk (the sidecar too), so that a crash
    /// cannot leave a checkpoint ahead of the lines.
    pub fn checkpoint(&mut self) -> Result<(), AttestError> {
        let durable = self.options.fsync != Fsync::Never;
        if durable {
            self.sync()?;
        } else {
            self.out.flush().map_err(|e| self.error(e))?;
        }
        let payload = serde_json::json!({
            "log": self.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "line": self.lines,
            "chain": hex::encode(self.chain),
            "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let envelope = Envelope::sign(CHECKPOINT_TYPE, payload.to_string().as_bytes(), &[&self.key]);
        let sidecar = checkpoints_path(&self.path);
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&sidecar)
            .map_err(|e| AttestError::new(sidecar.display().to_string(), format!("cannot write: {e}")))?;
        let text = serde_json::to_string(&envelope).map_err(|e| AttestError::new("checkpoint", e.to_string()))? + "\n";
        file.write_all(text.as_bytes())
            .and_then(|()| if durable { file.sync_data() } else { Ok(()) })
            .map_err(|e| AttestError::new(sidecar.display().to_string(), format!("cannot write: {e}")))
    }

    /// Lines in the log.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Writes everything out, signs a final checkpoint and syncs the log to disk.
    pub fn close(mut self) -> Result<u64, AttestError> {
        self.sync()?;
        self.checkpoint()?;
        Ok(self.lines)
    }
}

/// What appending needs of an existing log: its complete lines, the last of them, and where
/// the complete lines end (a partial line may follow).
struct Tail {
    lines: u64,
    last_line: Vec<u8>,
    complete: u64,
    length: u64,
}

/// Streams through the file once, keeping only the last complete line in memory.
fn scan(file: &mut File) -> std::io::Result<Tail> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, &*file);
    let mut tail = Tail {
        lines: 0,
        last_line: Vec::new(),
        complete: 0,
        length: 0,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut line)?;
        if n == 0 {
            return Ok(tail);
        }
        tail.length += n as u64;
        if line.last() == Some(&b'\n') {
            tail.lines += 1;
            tail.complete = tail.length;
            line.pop();
            std::mem::swap(&mut tail.last_line, &mut line);
        }
    }
}

fn next_chain(previous: &[u8; 32], line: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(line);
    hasher.finalize().into()
}

/// A line's content (what its chain covers) and its recorded chain value.
fn split_chain(line: &[u8], layout: Layout) -> Option<(&[u8], [u8; 32])> {
    let (marker, tail): (&[u8], usize) = match layout {
        Layout::Combined => (b" chain=", 0),
        Layout::JsonLines => (b",\"chain\":\"", 2),
    };
    let hex_len = 64;
    let start = line.len().checked_sub(marker.len() + hex_len + tail)?;
    if line.get(start..start + marker.len())? != marker {
        return None;
    }
    let hex = line.get(start + marker.len()..start + marker.len() + hex_len)?;
    let mut chain = [0u8; 32];
    hex::decode_to_slice(hex, &mut chain).ok()?;
    Some((line.get(..start)?, chain))
}

/// A quoted field (`-` when absent), escaped as Apache does.
fn push_quoted(out: &mut String, text: Option<&str>) {
    out.push('"');
    match text {
        None => out.push('-'),
        Some(text) => push_escaped(out, text),
    }
    out.push('"');
}

/// Apache's escaping inside quotes: `"`, `\` and bytes outside printable ASCII.
fn push_escaped(out: &mut String, text: &str) {
    if text
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(text);
        return;
    }
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => push_hex_escape(out, "\\x", byte),
        }
    }
}

/// A bare field (host, user): `-` when absent or empty, spaces and quotes escaped away.
fn push_bare(out: &mut String, text: Option<&str>) {
    match text.filter(|t| !t.is_empty()) {
        None => out.push('-'),
        Some(text) => push_encoded(out, text),
    }
}

fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"._~:@/+-".contains(&byte)
}

/// Percent-encodes bytes outside `A-Z a-z 0-9 . _ ~ : @ / + -`.
fn push_encoded(out: &mut String, text: &str) {
    if text.bytes().all(is_plain) {
        out.push_str(text);
        return;
    }
    for byte in text.bytes() {
        if is_plain(byte) {
            out.push(byte as char);
        } else {
            push_hex_escape(out, "%", byte);
        }
    }
}

/// `prefix` and the byte as two hex digits.
fn push_hex_escape(out: &mut String, prefix: &str, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push_str(prefix);
    out.push(DIGITS[usize::from(byte >> 4)] as char);
    out.push(DIGITS[usize::from(byte & 15)] as char);
}

fn push_extension(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    push_encoded(out, value);
}

/// The last second formatted as Combined's `[dd/Mon/yyyy:HH:MM:SS +0000]` (requests come in
/// order, so most lines reuse it).
#[derive(Default)]
struct TimeCache {
    second: i64,
    text: String,
}

impl TimeCache {
    fn format(&mut self, time: DateTime<Utc>) -> &str {
        if self.text.is_empty() || time.timestamp() != self.second {
            self.second = time.timestamp();
            self.text = time.format("[%d/%b/%Y:%H:%M:%S +0000]").to_string();
        }
        &self.text
    }
}

/// The Combined line of a request, without its chain.
fn combined(out: &mut String, request: &Request, binding: &RenderedBinding, times: &mut TimeCache) {
    use std::fmt::Write as _;
    push_bare(out, Some(&request.client));
    out.push_str(" - ");
    push_bare(out, request.user.as_deref());
    out.push(' ');
    out.push_str(times.format(request.time.unwrap_or_else(Utc::now)));
    out.push(' ');
    // The request line, one quoted field.
    out.push('"');
    push_escaped(out, &request.method);
    out.push(' ');
    push_escaped(out, &request.path);
    out.push(' ');
    push_escaped(out, request.protocol.as_deref().unwrap_or("HTTP/1.1"));
    out.push('"');
    let _ = write!(out, " {} {} ", request.status, request.bytes);
    push_quoted(out, request.referer.as_deref());
    out.push(' ');
    push_quoted(out, request.user_agent.as_deref());
    push_extension(out, "rid", &request.request_id);
    out.push_str(&binding.rendered);
    let _ = write!(out, " latency_ms={:.3}", request.latency_ms);
    if let Some(digest) = &request.input_digest {
        push_extension(out, "in", digest);
    }
    if let Some(digest) = &request.output_digest {
        push_extension(out, "out", digest);
    }
}

/// The JSON Lines object of a request (logging proto fields), open at the end for `chain`.
fn json_line(out: &mut String, request: &Request, binding: &Binding) -> Result<(), AttestError> {
    let time = request.time.unwrap_or_else(Utc::now);
    let value = serde_json::json!({
        "applicationInfo": {"model": binding.model, "package": binding.package},
        "requestInfo": {
            "requestId": request.request_id,
            "client": request.client,
            "user": request.user,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "method": request.method,
            "path": request.path,
            "status": request.status,
            "bytes": request.bytes,
            "latencyMs": request.latency_ms,
            "inputDigest": request.input_digest,
            "outputDigest": request.output_digest,
        },
        "modelInfo": {"name": binding.model, "pipelineDigest": binding.pipeline, "trainingDataDigest": binding.data},
    });
    let text = serde_json::to_string(&value).map_err(|e| AttestError::new("log", e.to_string()))?;
    out.push_str(text.strip_suffix('}').unwrap_or(&text));
    Ok(())
}

/// A finding of verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The line (1-based), when one is concerned.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogReport {
    /// Complete lines read.
    pub lines: u64,
    /// Lines whose chain holds.
    pub verified: u64,
    /// Signed checkpoints that hold.
    pub checkpoints: u64,
    /// Problems (none: verified).
    pub findings: Vec<Finding>,
    /// Notes that are not failures (e.g. no checkpoint sidecar).
    pub notes: Vec<String>,
}

/// Bytes read per block of verification work.
const BLOCK: usize = 8 << 20;

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

/// Verifies the log at `path` (and its checkpoints, signed by `key`), reading it in blocks that
/// the machine's cores check in parallel.
pub fn verify(path: &Path, key: &PublicKey, layout: Layout) -> Result<LogReport, AttestError> {
    verify_chain(path, Some(key), layout)
}

/// Verifies the log's chain, and its checkpoints when a key is given (without one, a note says
/// that truncation was not checked).
pub fn verify_chain(path: &Path, key: Option<&PublicKey>, layout: Layout) -> Result<LogReport, AttestError> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| AttestError::new(&name, format!("cannot read: {e}")))?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut offset = 0u64;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut results: Vec<(usize, BlockResult)> = Vec::new();
    let mut partial = Vec::new();
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>, u64, [u8; 32])>(threads);
    let receive = std::sync::Mutex::new(receive);
    let (done_send, done_receive) = std::sync::mpsc::channel::<(usize, BlockResult)>();
    std::thread::scope(|scope| -> Result<(), AttestError> {
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
        let mut carry: Vec<u8> = Vec::new();
        let mut previous = [0u8; 32];
        let mut first = 1u64;
        let mut index = 0usize;
        loop {
            let mut block = std::mem::take(&mut carry);
            let start = block.len();
            // A block at most, and no more than the file has left (small logs stay small).
            let left = usize::try_from(size.saturating_sub(offset)).unwrap_or(BLOCK);
            block.resize(start + BLOCK.min(left.max(1 << 16)), 0);
            let n = file
                .read(&mut block[start..])
                .map_err(|e| AttestError::new(&name, format!("cannot read: {e}")))?;
            block.truncate(start + n);
            offset += n as u64;
            if n == 0 {
                partial = block;
                break;
            }
            let Some(end) = block.iter().rposition(|b| *b == b'\n') else {
                carry = block;
                continue;
            };
            carry = block.split_off(end + 1);
            let lines = block.iter().filter(|b| **b == b'\n').count() as u64;
            let next_previous = last_chain(&block, previous, layout);
            if send.send((index, block, first, previous)).is_err() {
                break;
            }
            previous = next_previous;
            first += lines;
            index += 1;
        }
        drop(send);
        results = done_receive.iter().collect();
        Ok(())
    })?;
    results.sort_by_key(|(i, _)| *i);
    let mut report = LogReport::default();
    let mut chains: Vec<[u8; 32]> = Vec::new();
    let mut suspects = Vec::new();
    for (_, block) in results {
        chains.extend(block.chains);
        report.verified += block.verified;
        report
            .findings
            .extend(block.unchained.into_iter().map(|number| Finding {
                line: Some(number),
                message: "has no chain value (not written by an mlspec log writer, or damaged)".into(),
            }));
        suspects.extend(block.suspects);
    }
    report.lines = chains.len() as u64;
    for suspect in suspects.iter().take(1000) {
        report.findings.push(Finding {
            line: Some(suspect.number),
            message: what_happened(suspect, &chains),
        });
    }
    if suspects.len() > 1000 {
        report.findings.push(Finding {
            line: None,
            message: format!("and {} more lines whose chain does not hold", suspects.len() - 1000),
        });
    }
    if !partial.is_empty() {
        report.findings.push(Finding {
            line: Some(report.lines + 1),
            message:
                "partial: the line has no end (a writer stopped while writing it); the lines before it are not affected"
                    .into(),
        });
    }
    report.findings.sort_by_key(|f| f.line.unwrap_or(u64::MAX));
    match key {
        Some(key) => check_points(path, key, &chains, &mut report)?,
        None => report
            .notes
            .push("no key given: the signed checkpoints (truncation) were not checked".into()),
    }
    Ok(report)
}

/// Why a line's chain does not hold: it chains from another line (moved), or it was modified
/// or a neighbour deleted or inserted.
fn what_happened(suspect: &Suspect, chains: &[[u8; 32]]) -> String {
    let index = suspect.number as usize - 1;
    let follows = std::iter::once((0, [0u8; 32]))
        .chain(chains.iter().enumerate().map(|(k, c)| (k + 1, *c)))
        .find(|(k, c)| *k != index && next_chain(c, &suspect.content) == suspect.recorded)
        .map(|(k, _)| k);
    match follows {
        Some(0) => "moved: it was the first line".into(),
        Some(k) => format!("moved: it was written after line {k}"),
        None => "does not match its chain value: it was modified, or the line before it was deleted or inserted".into(),
    }
}

/// Checks the signed checkpoints against the chain values read.
fn check_points(path: &Path, key: &PublicKey, chains: &[[u8; 32]], report: &mut LogReport) -> Result<(), AttestError> {
    let sidecar = checkpoints_path(path);
    let Ok(text) = std::fs::read_to_string(&sidecar) else {
        report.notes.push(format!(
            "no checkpoints ({}): truncation cannot be detected",
            sidecar.display()
        ));
        return Ok(());
    };
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = format!("{}:{}", sidecar.display(), i + 1);
        let fail = |report: &mut LogReport, message: String| {
            report.findings.push(Finding {
                line: None,
                message: format!("{at}: {message}"),
            });
        };
        let Ok(envelope) = Envelope::parse(line, &at) else {
            fail(report, "is not a checkpoint envelope".into());
            continue;
        };
        if envelope.payload_type != CHECKPOINT_TYPE || envelope.verify(std::slice::from_ref(key))?.verified.is_empty() {
            fail(
                report,
                "the checkpoint's signature does not verify with this key".into(),
            );
            continue;
        }
        let payload: serde_json::Value = serde_json::from_slice(&envelope.payload_bytes()?).unwrap_or_default();
        let (Some(at_line), Some(chain)) = (payload["line"].as_u64(), payload["chain"].as_str()) else {
            fail(report, "the checkpoint names no line and chain".into());
            continue;
        };
        if at_line == 0 {
            report.checkpoints += 1;
            continue;
        }
        match chains.get(at_line as usize - 1) {
            None => fail(
                report,
                format!(
                    "truncated: the checkpoint signed at {} covers line {at_line}; the log has {} complete lines",
                    payload["time"].as_str().unwrap_or("?"),
                    chains.len()
                ),
            ),
            Some(c) if hex::encode(c) != chain => {
                fail(report, format!("line {at_line} differs from the signed checkpoint"));
            }
            Some(_) => report.checkpoints += 1,
        }
    }
    Ok(())
}

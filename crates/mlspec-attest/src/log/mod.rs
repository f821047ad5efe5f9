//! Hash-chained inference logs: one line per request that any Combined-format tool reads, and
//! that binds the answer to the signed package, pipeline and training data.
//!
//! **Line format** (NCSA Combined, then extension fields after the user agent):
//!
//! ```text
//! 10.0.0.7 - alice [30/Nov/2026:12:00:00 +0000] "POST /v2/models/churn/infer HTTP/1.1" 200 512 "-" "curl/8.5" rid=r-1 model=churn@1.0.0 package=sha256:… pipeline=sha256:… data=sha256:… latency_ms=12.500 chain=<64 hex>
//! ```
//!
//! What a request carries is encoded so that it cannot change the line's shape ([`line`]). The
//! **chain** value of a line is SHA-256(previous line's chain ‖ this line up to the space
//! before `chain=`), hex; the first line chains from 32 zero bytes. A JSON Lines variant
//! carries the same fields as the spec's logging proto (`applicationInfo`, `requestInfo`,
//! `modelInfo`) and ends each object with `"chain"`, computed over the object up to that member.
//!
//! **Checkpoints**: every N lines, and whenever a writer closes, the chain head is signed as a
//! DSSE envelope ([`Checkpoint`]: the log's file name, its first line's chain, the line number
//! and its chain) appended to the sidecar `LOGFILE.checkpoints`. The chain is unkeyed — anyone
//! who can write the file can recompute it — so only lines covered by a signed checkpoint of
//! this log are proven; the name and first line bind a checkpoint to one log.
//!
//! **Verification** ([`verify`]) recomputes the chain: a line whose chain does not match but
//! whose successor chains from it was **modified**; a line that does not follow its predecessor
//! is where lines were **deleted, inserted or reordered**; a last line without a newline is
//! **partial**; a checkpoint beyond the end of the file means the log was **truncated**; lines
//! after the last checkpoint that holds are **unsigned**.
//!
//! **Writing** ([`LogWriter`]) takes the log's lock first, then refuses — changing nothing — a
//! file that is not an mlspec log of the layout, a foreign checkpoints file, a log that does
//! not verify, and (unless allowed) unsigned lines it would otherwise sign over.

mod line;
mod lock;
mod verify;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use line::{Entry, parse};
pub use lock::lock_path;
pub use verify::{
    Checkpoint, Finding, Line, LogReport, MAX_CHECKPOINT_BYTES, MAX_LINE_BYTES, Problem, UnsignedTail, read_line,
    verify, verify_chain,
};

use crate::dsse::Envelope;
use crate::error::{AttestError, ErrorKind};
use crate::keys::SigningKey;

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
    /// More extension fields, written after the others in key order: what a gateway adds
    /// (`route=canary`, `upstream=refused`, `event=rollback`). Keys are lower-case words
    /// (`a-z 0-9 _`) other than the fields every line has.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The extension fields every line has, which [`Request::extra`] cannot name.
pub const RESERVED_FIELDS: [&str; 9] = [
    "rid",
    "model",
    "package",
    "pipeline",
    "data",
    "latency_ms",
    "in",
    "out",
    "chain",
];

impl Request {
    /// The protocol, `HTTP/1.1` by default.
    pub fn protocol(&self) -> &str {
        self.protocol.as_deref().unwrap_or("HTTP/1.1")
    }

    /// Why the request cannot be logged: an empty method, path or id, a status outside
    /// 100–599, a negative latency. (Everything else is encoded, not refused.)
    pub fn check(&self) -> Result<(), String> {
        let empty = [
            ("method", &self.method),
            ("path", &self.path),
            ("request_id", &self.request_id),
        ]
        .into_iter()
        .find(|(_, value)| value.is_empty());
        if let Some((field, _)) = empty {
            return Err(format!("`{field}` is empty"));
        }
        if !(100..=599).contains(&self.status) {
            return Err(format!("`status` {} is not an HTTP status (100–599)", self.status));
        }
        if self.latency_ms.is_nan() || self.latency_ms < 0.0 {
            return Err(format!("`latency_ms` {} is negative", self.latency_ms));
        }
        self.extra.keys().try_for_each(|key| check_extra_key(key))
    }
}

/// Why `key` cannot be an extra extension field.
fn check_extra_key(key: &str) -> Result<(), String> {
    let word = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !word {
        return Err(format!("extra field `{key}` is not a lower-case word (a-z, 0-9, _)"));
    }
    if RESERVED_FIELDS.contains(&key) {
        return Err(format!("extra field `{key}` is one every line has"));
    }
    Ok(())
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

/// Which of a writer's bindings a line is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BindingId(usize);

impl BindingId {
    /// The binding the writer was opened with.
    pub const FIRST: BindingId = BindingId(0);
}

/// A binding's extension fields, rendered once for every line.
struct RenderedBinding {
    binding: Binding,
    rendered: String,
}

impl RenderedBinding {
    fn new(binding: Binding) -> RenderedBinding {
        let mut rendered = String::new();
        line::push_extension(&mut rendered, "model", &binding.model);
        line::push_extension(&mut rendered, "package", &binding.package);
        line::push_extension(&mut rendered, "pipeline", &binding.pipeline);
        line::push_extension(&mut rendered, "data", &binding.data);
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

impl Layout {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Combined => "combined",
            Layout::JsonLines => "jsonl",
        }
    }

    /// The layout of a line, as its first byte says.
    pub fn of(line: &[u8]) -> Layout {
        match line.first() {
            Some(b'{') => Layout::JsonLines,
            _ => Layout::Combined,
        }
    }
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
    /// Also sign one at a [`LogWriter::tick`] when new lines are this old without one (a
    /// server's quiet hours still end up signed); None: by count only.
    pub checkpoint_interval: Option<Duration>,
    /// Whether lines of an existing log that no checkpoint covers (a writer stopped before
    /// signing them, or someone else appended them) may be signed over.
    pub unsigned_tail: UnsignedTail,
    /// How long to wait for another writer's lock.
    pub lock_wait: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            layout: Layout::Combined,
            fsync: Fsync::Never,
            checkpoint_every: 100_000,
            checkpoint_interval: None,
            unsigned_tail: UnsignedTail::Refuse,
            lock_wait: Duration::from_secs(30),
        }
    }
}

/// What opening an existing log found and repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reopened {
    /// Bytes of a partial last line cut off (a writer stopped mid-line).
    pub cut: u64,
    /// Bytes of a partial last checkpoint cut off.
    pub cut_checkpoint: u64,
    /// Lines no checkpoint covered, now to be signed (only with [`UnsignedTail::Allow`]).
    pub unsigned: u64,
}

/// Appends chained lines to a log.
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    first: Option<[u8; 32]>,
    chain: [u8; 32],
    lines: u64,
    bindings: Vec<RenderedBinding>,
    key: SigningKey,
    options: LogOptions,
    unsynced: u64,
    last_sync: Instant,
    /// The line count at the last checkpoint, and when it was signed.
    checkpointed: (u64, Instant),
    line: String,
    times: line::TimeCache,
    _lock: lock::LogLock,
}

/// The sidecar holding a log's signed checkpoints.
pub fn checkpoints_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

impl LogWriter {
    /// Opens (or creates) the log at `path` to append to, holding its lock until the writer is
    /// closed or dropped. An existing log must be an mlspec log of the layout that verifies
    /// with the key; otherwise nothing is changed and the error says why. Its chain is picked
    /// up from its last complete line; a partial last line (and a partial last checkpoint) is
    /// cut off, and said in [`Reopened`].
    pub fn open(
        path: &Path,
        binding: Binding,
        key: SigningKey,
        options: LogOptions,
    ) -> Result<(LogWriter, Reopened), AttestError> {
        let name = path.display().to_string();
        let io = |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot write: {e}"));
        let lock = lock::lock(path, options.lock_wait)?;
        let report = match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(
                    AttestError::new(ErrorKind::Io, &name, "is not a regular file").with_hint("append to a log file")
                );
            }
            Ok(_) => verify_chain(path, Some(&key.public()), options.layout, options.unsigned_tail)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let sidecar = checkpoints_path(path);
                if sidecar.exists() {
                    return Err(AttestError::new(
                        ErrorKind::AlreadyExists,
                        sidecar.display().to_string(),
                        format!(
                            "exists but {name} does not: its checkpoints are another log's, or the log was removed"
                        ),
                    )
                    .with_hint("nothing was changed; move the checkpoints away, or append to another file"));
                }
                LogReport::default()
            }
            Err(e) => return Err(io(e)),
        };
        refuse_unless_ours(path, &report, options.layout)?;
        let reopened = Reopened {
            cut: report.partial_bytes,
            cut_checkpoint: report.sidecar_partial,
            unsigned: report.lines - report.covered,
        };
        if reopened.cut_checkpoint > 0 {
            let sidecar = checkpoints_path(path);
            OpenOptions::new()
                .write(true)
                .open(&sidecar)
                .and_then(|f| f.set_len(report.sidecar_complete))
                .map_err(|e| {
                    AttestError::new(
                        ErrorKind::Io,
                        sidecar.display().to_string(),
                        format!("cannot write: {e}"),
                    )
                })?;
        }
        let file = OpenOptions::new().append(true).create(true).open(path).map_err(io)?;
        if reopened.cut > 0 {
            file.set_len(report.complete_bytes).map_err(io)?;
        }
        Ok((
            LogWriter {
                path: path.to_owned(),
                out: BufWriter::with_capacity(1 << 16, file),
                first: report.first,
                chain: report.head,
                lines: report.lines,
                bindings: vec![RenderedBinding::new(binding)],
                key,
                options,
                unsynced: 0,
                last_sync: Instant::now(),
                checkpointed: (report.lines, Instant::now()),
                line: String::with_capacity(512),
                times: line::TimeCache::default(),
                _lock: lock,
            },
            reopened,
        ))
    }

    /// Another binding lines can be appended under ([`append_as`](Self::append_as)): a gateway
    /// serving two packages (a canary, a rollback target) binds each line to the one that
    /// answered. The binding `open` was given is [`BindingId::FIRST`].
    pub fn add_binding(&mut self, binding: Binding) -> BindingId {
        if let Some(i) = self.bindings.iter().position(|b| b.binding == binding) {
            return BindingId(i);
        }
        self.bindings.push(RenderedBinding::new(binding));
        BindingId(self.bindings.len() - 1)
    }

    /// Appends one request under the binding `open` was given; its line number (1-based).
    pub fn append(&mut self, request: &Request) -> Result<u64, AttestError> {
        self.append_as(request, BindingId::FIRST)
    }

    /// Appends one request under a binding from [`add_binding`](Self::add_binding) (an unknown
    /// id is refused); its line number (1-based).
    pub fn append_as(&mut self, request: &Request, binding: BindingId) -> Result<u64, AttestError> {
        let at = || format!("request {}", self.lines + 1);
        request
            .check()
            .map_err(|e| AttestError::new(ErrorKind::InvalidArgument, at(), e))?;
        let Some(binding) = self.bindings.get(binding.0) else {
            return Err(AttestError::new(ErrorKind::InvalidArgument, at(), "no such binding"));
        };
        self.line.clear();
        match self.options.layout {
            Layout::Combined => line::combined(&mut self.line, request, &binding.rendered, &mut self.times),
            Layout::JsonLines => line::json_line(&mut self.line, request, &binding.binding)
                .map_err(|e| AttestError::new(ErrorKind::Internal, "log", e.to_string()))?,
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
        self.first.get_or_insert(chain);
        self.lines += 1;
        self.unsynced += 1;
        self.sync_if_due()?;
        if self.options.checkpoint_every > 0 && self.lines.is_multiple_of(self.options.checkpoint_every) {
            self.checkpoint()?;
        }
        Ok(self.lines)
    }

    fn error(&self, e: std::io::Error) -> AttestError {
        AttestError::new(
            ErrorKind::Io,
            self.path.display().to_string(),
            format!("cannot write: {e}"),
        )
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

    /// For a writer's idle moments (a server calls it on a timer): the lines an
    /// [`Fsync::Every`] policy owes to the disk are synced — [`append`](Self::append) only
    /// checks when a line comes, so without this the tail of a quiet log would wait for the next
    /// request — and a checkpoint is signed when `checkpoint_interval` has passed since the last
    /// one and lines came since.
    pub fn tick(&mut self) -> Result<(), AttestError> {
        if self.unsynced > 0 {
            self.sync_if_due()?;
        }
        let stale = self
            .options
            .checkpoint_interval
            .is_some_and(|interval| self.checkpointed.1.elapsed() >= interval);
        if stale && self.lines > self.checkpointed.0 {
            self.checkpoint()?;
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
        let payload = Checkpoint {
            log: verify::log_name(&self.path),
            first: self.first.map(hex::encode),
            line: self.lines,
            chain: hex::encode(self.chain),
            time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let payload = serde_json::to_vec(&payload)
            .map_err(|e| AttestError::new(ErrorKind::Internal, "checkpoint", e.to_string()))?;
        let envelope = Envelope::sign(CHECKPOINT_TYPE, &payload, &[&self.key]);
        let sidecar = checkpoints_path(&self.path);
        let cannot = |e: std::io::Error| {
            AttestError::new(
                ErrorKind::Io,
                sidecar.display().to_string(),
                format!("cannot write: {e}"),
            )
        };
        let text = serde_json::to_string(&envelope)
            .map_err(|e| AttestError::new(ErrorKind::Internal, "checkpoint", e.to_string()))?
            + "\n";
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&sidecar)
            .map_err(cannot)?;
        file.write_all(text.as_bytes())
            .and_then(|()| if durable { file.sync_data() } else { Ok(()) })
            .map_err(cannot)?;
        self.checkpointed = (self.lines, Instant::now());
        Ok(())
    }

    /// Hands the buffered lines to the OS without waiting for the disk: after it, a killed
    /// process loses nothing it appended (a crashed machine still may, until the next sync).
    pub fn flush(&mut self) -> Result<(), AttestError> {
        self.out.flush().map_err(|e| self.error(e))
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

/// Refuses, before anything is changed, a file that is not an mlspec log of `layout` (or
/// whose checkpoints are not its own) and a log that does not verify — appending would sign
/// over whatever was done to it.
fn refuse_unless_ours(path: &Path, report: &LogReport, layout: Layout) -> Result<(), AttestError> {
    let name = path.display().to_string();
    let nothing_changed = "nothing was changed; append to another file";
    if report.lines == 0 && report.partial_bytes > 0 {
        return Err(AttestError::new(
            ErrorKind::Malformed,
            &name,
            format!(
                "is not an mlspec log: {} bytes and no complete line",
                report.partial_bytes
            ),
        )
        .with_hint(format!(
            "{nothing_changed} (if a writer stopped while writing the first line, remove the file)"
        )));
    }
    // What makes the file not this log's, or not verified, before lines merely unsigned.
    let worst = report
        .findings
        .iter()
        .filter(|f| f.problem != Problem::Partial)
        .min_by_key(|f| f.problem == Problem::UnsignedTail);
    let Some(finding) = worst else {
        return Ok(());
    };
    let at = finding.line.map(|l| format!("line {l} ")).unwrap_or_default();
    match finding.problem {
        Problem::Unchained | Problem::TooLong => {
            let other = match layout {
                Layout::Combined => Layout::JsonLines,
                Layout::JsonLines => Layout::Combined,
            };
            let is_other = verify_chain(path, None, other, UnsignedTail::Allow)
                .is_ok_and(|r| r.lines > 0 && r.findings.iter().all(|f| f.problem == Problem::Partial));
            let what = match is_other {
                true => format!("is a {} log, not {}", other.name(), layout.name()),
                false => format!("is not an mlspec {} log ({at}{})", layout.name(), finding.message),
            };
            Err(AttestError::new(ErrorKind::Malformed, &name, what).with_hint(nothing_changed))
        }
        Problem::UnsignedTail => Err(AttestError::new(ErrorKind::Unverified, &name, finding.message.clone())
            .with_hint("nothing was changed; check those lines, then append with --allow-unsigned-tail to sign them")),
        _ => Err(AttestError::new(
            ErrorKind::Unverified,
            &name,
            format!(
                "does not verify ({at}{}); appending would sign over it",
                finding.message
            ),
        )
        .with_hint("nothing was changed; run `mlspec log verify` on it and append to a new log")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    fn request(i: u64) -> Request {
        Request {
            client: "10.1.2.3".into(),
            user: None,
            time: chrono::DateTime::from_timestamp(1_796_000_000, 0),
            method: "POST".into(),
            path: "/v2/models/churn/infer".into(),
            protocol: None,
            status: 200,
            bytes: 512,
            referer: None,
            user_agent: None,
            request_id: format!("req-{i}"),
            latency_ms: 1.5,
            input_digest: None,
            output_digest: None,
            extra: BTreeMap::new(),
        }
    }

    fn writer(path: &Path, options: LogOptions) -> (LogWriter, crate::keys::PublicKey) {
        let binding = Binding {
            model: "churn@1.0.0".into(),
            package: format!("sha256:{}", "a".repeat(64)),
            pipeline: format!("sha256:{}", "b".repeat(64)),
            data: format!("sha256:{}", "c".repeat(64)),
        };
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let public = key.public();
        (LogWriter::open(path, binding, key, options).unwrap().0, public)
    }

    fn checkpoints(path: &Path) -> usize {
        std::fs::read_to_string(checkpoints_path(path)).map_or(0, |t| t.lines().count())
    }

    #[test]
    fn extra_fields_are_lower_case_words_other_than_the_fields_every_line_has() {
        for (key, refused) in [
            ("route", false),
            ("event_2", false),
            ("chain", true),
            ("rid", true),
            ("Route", true),
            ("a b", true),
            ("", true),
        ] {
            let request = Request {
                extra: BTreeMap::from([(key.to_owned(), "x".to_owned())]),
                ..request(1)
            };
            assert_eq!(request.check().is_err(), refused, "{key}");
        }
    }

    #[test]
    fn each_line_carries_the_binding_it_was_appended_under_and_the_log_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.log");
        let (mut log, public) = writer(&path, LogOptions::default());
        let canary = Binding {
            model: "churn@2.0.0".into(),
            package: format!("sha256:{}", "d".repeat(64)),
            pipeline: format!("sha256:{}", "e".repeat(64)),
            data: format!("sha256:{}", "f".repeat(64)),
        };
        let id = log.add_binding(canary.clone());
        assert_eq!(log.add_binding(canary), id, "the same binding is added once");
        log.append(&request(1)).unwrap();
        log.append_as(&request(2), id).unwrap();
        log.append_as(&request(3), BindingId::FIRST).unwrap();
        assert!(log.append_as(&request(4), BindingId(7)).is_err());
        assert_eq!(log.close().unwrap(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        let models: Vec<String> = text
            .lines()
            .map(|l| parse(l, Layout::Combined).unwrap().field("model").unwrap().to_owned())
            .collect();
        assert_eq!(models, ["churn@1.0.0", "churn@2.0.0", "churn@1.0.0"]);
        let report = verify::verify(&path, &public, Layout::Combined, UnsignedTail::Refuse).unwrap();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
    }

    #[test]
    fn a_tick_syncs_the_tail_a_quiet_log_owes_and_signs_it_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.log");
        let options = LogOptions {
            fsync: Fsync::Every(Duration::from_millis(300)),
            checkpoint_interval: Some(Duration::from_millis(700)),
            ..LogOptions::default()
        };
        let (mut log, public) = writer(&path, options);
        log.append(&request(1)).unwrap();
        log.append(&request(2)).unwrap();
        // Not due yet: the lines wait in the buffer.
        log.tick().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::thread::sleep(Duration::from_millis(350));
        log.tick().unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count(), 2);
        assert_eq!(checkpoints(&path), 0);
        std::thread::sleep(Duration::from_millis(400));
        log.tick().unwrap();
        assert_eq!(checkpoints(&path), 1);
        // Nothing new since: no further checkpoint, however long it stays quiet.
        std::thread::sleep(Duration::from_millis(800));
        log.tick().unwrap();
        assert_eq!(checkpoints(&path), 1);
        log.append(&request(3)).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        log.tick().unwrap();
        assert_eq!(checkpoints(&path), 2);
        assert_eq!(log.close().unwrap(), 3);
        let report = verify::verify(&path, &public, Layout::Combined, UnsignedTail::Refuse).unwrap();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!((report.lines, report.covered, report.checkpoints), (3, 3, 3));
    }
}

//! One writer per log: an exclusive lock on the sidecar `LOGFILE.lock`, which names its holder
//! (process id, host, command, since when) so that a second writer can say who it waits for.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::error::{AttestError, ErrorKind};

/// How often a waiting writer tries the lock again.
const RETRY: Duration = Duration::from_millis(20);

/// How a lock file's holder line starts.
const HOLDER_PREFIX: &str = "mlspec log writer: pid ";

/// The most of a lock file read to name its holder.
const HOLDER_BYTES: u64 = 4096;

/// The sidecar whose lock a log's writer holds.
pub fn lock_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// A held lock; released when dropped (or when the process ends, however it ends).
pub(super) struct LogLock {
    _file: File,
}

/// Takes the log's lock, waiting at most `wait` for another writer to finish.
pub(super) fn lock(log: &Path, wait: Duration) -> Result<LogLock, AttestError> {
    let path = lock_path(log);
    let name = path.display().to_string();
    let io = |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot lock: {e}"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::Error(e)) => return Err(io(e)),
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => std::thread::sleep(RETRY),
            Err(TryLockError::WouldBlock) => {
                return Err(AttestError::new(
                    ErrorKind::Busy,
                    log.display().to_string(),
                    format!(
                        "another writer holds the log ({}); waited {} s",
                        holder(&mut file),
                        wait.as_secs()
                    ),
                )
                .with_hint(format!(
                    "let it finish, or wait longer with --lock-wait; the lock is {name}"
                )));
            }
        }
    }
    let mut held = String::new();
    let _ = (&mut file).take(HOLDER_BYTES).read_to_string(&mut held);
    if !held.is_empty() && !held.starts_with(HOLDER_PREFIX) {
        return Err(AttestError::new(
            ErrorKind::Malformed,
            &name,
            "is not an mlspec lock file (it names no process)",
        )
        .with_hint("nothing was changed; move it away: the log's writer needs this name for its lock"));
    }
    let me = format!(
        "{HOLDER_PREFIX}{} on {}, `{}`, since {}\n",
        std::process::id(),
        whoami::hostname().unwrap_or_else(|_| "an unknown host".into()),
        command(),
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(me.as_bytes()))
        .map_err(io)?;
    Ok(LogLock { _file: file })
}

/// The command that holds the lock: the program's name and its first three arguments.
fn command() -> String {
    let mut args = std::env::args();
    let program = args.next().map(PathBuf::from);
    let name = program
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::iter::once(name).chain(args.take(3)).collect::<Vec<_>>().join(" ")
}

/// Who holds the lock, as its holder wrote it.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(HOLDER_BYTES).read_to_string(&mut text);
    match text.trim() {
        "" => "a process that has not yet said who it is".into(),
        said => said.to_owned(),
    }
}

//! Trust pages: a model package's page (its files, digests and signatures verified on the
//! server, and its verdict) and the audit page (from one logged request to what made its
//! answer). Both check signatures on the server, with what the server was started with — never
//! with anything a request names:
//!
//! - `--audit-logs DIR`: the inference logs the audit page may open — the files directly in
//!   DIR, chosen by file name from the list the page shows ([`log_file`]);
//! - `--packages DIR`: the signed package directories, `DIR/NAME` for the package NAME, whose
//!   package document must name NAME ([`package_dir`]);
//! - `--pubkey KEY` (repeatable): the keys trusted to have signed packages and log checkpoints.
//!
//! A page takes a name from the request, never a path: a name with `/`, `\`, or that is `.` or
//! `..` is refused before the disk is touched, and a name whose file (after symbolic links) is
//! not directly in the allowed directory is not found — so a read token cannot read any other
//! file of the server. Without these options the pages still show what the store holds and say
//! plainly what was not verified and which option would verify it.
//!
//! Verifying reads and hashes files, so it runs on a blocking thread ([`Checks::run`]), one
//! check at a time: however many pages are asked for, the server hashes one package or reads
//! one log at once, and a page that waits too long is the server's timeout page.

mod audit;
mod mark;
pub(crate) mod package;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlspec_attest::keys::PublicKey;
use tokio::sync::Semaphore;

use crate::UiError;

pub use audit::MAX_PASTE;
pub(crate) use audit::page as audit_page;

/// What the trust pages may read, as the server was started.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// The inference logs the audit page may open (`--audit-logs`): files directly in it.
    pub audit_logs: Option<PathBuf>,
    /// The signed package directories (`--packages`): `DIR/NAME` holds the package NAME.
    pub packages: Option<PathBuf>,
    /// The keys trusted to have signed packages and log checkpoints (`--pubkey`).
    pub keys: Vec<PublicKey>,
}

/// The trust settings, and the one permit that file checks take turns with.
#[derive(Clone)]
pub(crate) struct Checks {
    trust: Arc<Trust>,
    permit: Arc<Semaphore>,
}

impl Checks {
    pub fn new(trust: Trust) -> Checks {
        Checks {
            trust: Arc::new(trust),
            permit: Arc::new(Semaphore::new(1)),
        }
    }

    /// The settings.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Runs `check` on a blocking thread once no other check runs. The permit goes with the
    /// thread: a page given up at the timeout still lets its check finish before the next.
    pub async fn run<T: Send + 'static>(&self, check: impl FnOnce(&Trust) -> T + Send + 'static) -> Result<T, UiError> {
        let permit = self.permit.clone().acquire_owned().await.map_err(|_| busy())?;
        let trust = self.trust.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            check(&trust)
        })
        .await
        .map_err(|_| busy())
    }
}

fn busy() -> UiError {
    UiError {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        message: "the check stopped before it finished".into(),
        hint: Some("reload the page".into()),
    }
}

/// The longest list of logs the audit page shows.
pub(crate) const MAX_LOGS: usize = 1000;

/// Files beside a log that are not logs: its checkpoints, its lock, its captured bodies.
const SIDECARS: &[&str] = &[".checkpoints", ".lock", ".capture.jsonl"];

/// Whether `name` is one file name — not a path, not `.` or `..`, not hidden.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// The entry `name` of `dir` when it is, after symbolic links, directly in `dir` and of the
/// kind `wanted` asks for; `None` otherwise. Only metadata is read.
fn entry_in(dir: &Path, name: &str, wanted: fn(&std::fs::Metadata) -> bool) -> Option<PathBuf> {
    if !plain_name(name) {
        return None;
    }
    let dir = dir.canonicalize().ok()?;
    let path = dir.join(name).canonicalize().ok()?;
    let inside = path.parent() == Some(dir.as_path());
    (inside && std::fs::metadata(&path).is_ok_and(|m| wanted(&m))).then_some(path)
}

/// Whether `name` can be an inference log: a plain name that is not a log's sidecar.
fn log_name(name: &str) -> bool {
    plain_name(name) && !SIDECARS.iter().any(|s| name.ends_with(s))
}

/// The logs of `dir` the audit page offers, sorted; and whether more were left out.
pub(crate) fn log_names(dir: &Path) -> (Vec<String>, bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (Vec::new(), false);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| log_name(name) && entry_in(dir, name, std::fs::Metadata::is_file).is_some())
        .collect();
    names.sort();
    let more = names.len() > MAX_LOGS;
    names.truncate(MAX_LOGS);
    (names, more)
}

/// The log named `name` in the audit logs: a 400 page for a name that is not one file's name
/// (`../x`, `/etc/passwd`), a 404 page when `dir` has no such regular file.
pub(crate) fn log_file(dir: Option<&Path>, name: &str) -> Result<PathBuf, UiError> {
    let Some(dir) = dir else {
        return Err(UiError::not_found("this server opens no logs").with_hint(NO_LOGS));
    };
    if !log_name(name) {
        return Err(UiError::bad_request(format!(
            "`{name}` is not the name of a log: choose one from the list"
        )));
    }
    entry_in(dir, name, std::fs::Metadata::is_file).ok_or_else(|| {
        UiError::not_found(format!("there is no log named `{name}`")).with_hint("choose one from the list")
    })
}

/// What to do when the server opens no logs.
pub(crate) const NO_LOGS: &str = "start the server with `--audit-logs DIR` to audit the logs in DIR";

/// The signed package directory of the package `name`: `DIR/NAME`, when it is a directory
/// directly in `dir`. (Its package document is checked to name `name` when it is read.)
pub(crate) fn package_dir(dir: &Path, name: &str) -> Option<PathBuf> {
    entry_in(dir, name, std::fs::Metadata::is_dir)
}

/// `text` with the server's directory `root` left out of the paths it names: pages show names
/// relative to the allowed directories, not where the server keeps them.
pub(crate) fn relative(text: &str, root: &Path) -> String {
    let root = root.display().to_string();
    let canonical = Path::new(&root)
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| root.clone());
    text.replace(&format!("{canonical}/"), "")
        .replace(&format!("{root}/"), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_entries_directly_in_the_directory_are_found() {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("serve.log"), "x").unwrap();
        std::fs::write(dir.join("serve.log.checkpoints"), "x").unwrap();
        std::fs::write(outer.path().join("secret"), "x").unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), dir.join("out.log")).unwrap();
        std::os::unix::fs::symlink(dir.join("serve.log"), dir.join("in.log")).unwrap();
        assert_eq!(
            log_names(&dir),
            (vec!["in.log".to_owned(), "serve.log".to_owned()], false)
        );
        for refused in ["../secret", "/etc/passwd", "..", ".", "", "sub", "out.log", "a\\b"] {
            assert!(log_file(Some(&dir), refused).is_err(), "{refused}");
        }
        assert!(log_file(Some(&dir), "in.log").is_ok());
        assert!(package_dir(&dir, "sub").is_some());
        assert!(package_dir(&dir, "serve.log").is_none());
        assert_eq!(
            relative(&format!("{}/serve.log:3: bad", dir.display()), &dir),
            "serve.log:3: bad"
        );
    }
}

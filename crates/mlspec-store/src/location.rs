//! Where a store lives: a SQLite file (the default, `.mlspec/store.db` in a project), a
//! PostgreSQL database, or `mlspec server` (an http(s) URL), named by a URL, `MLSPEC_STORE`, or found by walking up from the working
//! directory the way git finds `.git`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// The directory `mlspec init` creates in a project.
pub const STORE_DIR: &str = ".mlspec";
/// The SQLite database file inside [`STORE_DIR`].
pub const STORE_FILE: &str = "store.db";

/// A store's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://…` or `postgresql://…`).
    Postgres(String),
    /// The URL of an `mlspec server` (`http://HOST:PORT` or `https://…`).
    Http(String),
}

impl Location {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, `postgres://…`, `postgresql://…`, `http://…`,
    /// `https://…`, or a plain file path (a SQLite database).
    pub fn parse(text: &str) -> Result<Location> {
        let text = text.trim();
        let usage =
            "write sqlite:PATH, a file path, postgres://USER@HOST:PORT/DATABASE or http://HOST:PORT (an mlspec server)";
        if text.is_empty() {
            return Err(StoreError::invalid("the store URL is empty").with_hint(usage));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return check_postgres_url(text).map(|()| Location::Postgres(text.to_owned()));
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return check_http_url(text).map(|()| Location::Http(text.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::invalid(format!("`{text}` names no database file"))
                    .with_hint("a store must persist; give a file path, e.g. sqlite:.mlspec/store.db"));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(StoreError::invalid(format!(
                "unsupported store URL scheme `{scheme}` in `{}`",
                redact_password(text)
            ))
            .with_hint(usage));
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }

    /// The default location inside a project directory.
    pub fn in_project(dir: &Path) -> Location {
        Location::Sqlite(dir.join(STORE_DIR).join(STORE_FILE))
    }

    /// Finds the project store by walking up from `start`: the first directory holding
    /// `.mlspec/store.db`.
    pub fn discover(start: &Path) -> Result<Location> {
        start
            .ancestors()
            .map(|dir| dir.join(STORE_DIR).join(STORE_FILE))
            .find(|candidate| candidate.is_file())
            .map(Location::Sqlite)
            .ok_or_else(|| {
                StoreError::not_found(format!(
                    "no mlspec store in {} or any parent directory",
                    start.display()
                ))
                .with_hint("run `mlspec init` in the project's root, or pass --store URL (or set MLSPEC_STORE)")
            })
    }

    /// The location with any password removed, for messages.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) | Location::Http(url) => redact_password(url),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn check_postgres_url(url: &str) -> Result<()> {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let bad = |why: &str| {
        StoreError::invalid(format!("malformed PostgreSQL URL `{}`: {why}", redact_password(url)))
            .with_hint("write postgres://USER@HOST[:PORT]/DATABASE (the password from PGPASSWORD or ~/.pgpass)")
    };
    if host_port.is_empty() && !rest.contains("host=") {
        return Err(bad("no host"));
    }
    if let Some((_, port)) = host_port.rsplit_once(':')
        && !host_port.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(bad(&format!("`{port}` is not a port number")));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(bad("it contains whitespace"));
    }
    Ok(())
}

fn check_http_url(url: &str) -> Result<()> {
    let bad = |why: String| {
        StoreError::invalid(format!("malformed server URL `{}`: {why}", redact_password(url)))
            .with_hint("write http://HOST:PORT (or https://…), where `mlspec server` listens")
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a query or fragment has no meaning here".to_owned()));
    }
    Ok(())
}

/// The URL with its secrets (the user info's password, `password=` parameters) replaced by
/// `***`.
fn redact_password(url: &str) -> String {
    mlspec_spec::redact::redact(url).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("sqlite:a/b.db").unwrap(),
            Location::Sqlite("a/b.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/x.db").unwrap(),
            Location::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(Location::parse("x.db").unwrap(), Location::Sqlite("x.db".into()));
        assert!(matches!(
            Location::parse("postgres://u@h:5432/db").unwrap(),
            Location::Postgres(_)
        ));
        assert_eq!(
            Location::parse("http://127.0.0.1:5000").unwrap(),
            Location::Http("http://127.0.0.1:5000".into())
        );
        assert!(matches!(
            Location::parse("https://mlspec.example/team").unwrap(),
            Location::Http(_)
        ));
    }

    #[test]
    fn refuses_malformed_urls() {
        for bad in [
            "",
            "mysql://h/db",
            "postgres://u@h:port/db",
            "postgres:///db",
            "sqlite::memory:",
            "http://",
            "http://h:notaport",
            "http://h:5000/?x=1",
        ] {
            let error = Location::parse(bad).unwrap_err();
            assert_eq!(error.kind, crate::ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn hides_passwords() {
        let location = Location::parse("postgres://me:secret@h:1/db").unwrap();
        assert_eq!(location.to_string(), "postgres://me:***@h:1/db");
        let location = Location::parse("postgres://me@h/db?sslmode=require&password=secret").unwrap();
        assert_eq!(location.to_string(), "postgres://me@h/db?sslmode=require&password=***");
        let location = Location::parse("http://me:secret@h:1").unwrap();
        assert_eq!(location.to_string(), "http://me:***@h:1");
    }
}

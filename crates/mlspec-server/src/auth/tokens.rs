//! API tokens and the file that holds them. A token is 256 random bits, written
//! `mlspec_` + 64 hex digits (the prefix lets secret scanners and people recognise one). The
//! file keeps only each token's SHA-256, its name (who acts, recorded in every change it
//! makes), its scope and when it was made: whoever reads the file cannot use what they read.
//!
//! A fast hash is the right one here. Password hashing (Argon2, bcrypt) is slow on purpose
//! because passwords are guessable: it makes each guess of a stolen hash's password costly.
//! A token is not guessable — finding one from its SHA-256 means searching 2^256 values, which
//! no hashing cost changes — so the server hashes the token presented on each request at
//! once, and compares the hash with each stored one in constant time.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "mlspec_";

/// What the token file's `format` member says.
pub const FILE_FORMAT: &str = "mlspec-server-tokens/v1";

/// The longest token name.
pub const MAX_NAME_CHARS: usize = 64;

/// What a token may do; each scope allows what the ones below it do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Get, list, search, history, lineage, the store's info (and MLflow's gets and searches).
    Read,
    /// Also apply documents and lifecycle actions (and every other MLflow call).
    Write,
    /// Also `store verify` and whatever administers the server.
    Admin,
}

impl Scope {
    /// The scope's name, as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Scope, String> {
        match text.to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            _ => Err(format!("`{text}` is not a scope; write read, write or admin")),
        }
    }
}

/// One token as the file keeps it: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Who uses it; the actor of every change made with it.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// The SHA-256 of the token, in hex.
    pub sha256: String,
}

/// The token file: `{"format": "mlspec-server-tokens/v1", "tokens": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenFile {
    tokens: Vec<TokenRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: String,
    tokens: Vec<TokenRecord>,
}

/// The SHA-256 of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new token from the system's random source.
pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("the system's random source failed: {e}"))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Whether `name` may name a token: 1 to 64 letters, digits, `.`, `_` or `-`, starting with
/// a letter or digit (it is recorded as the actor of changes, and typed on command lines).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && name.len() <= MAX_NAME_CHARS {
        Ok(())
    } else {
        Err(format!(
            "`{}` cannot name a token: use 1 to {MAX_NAME_CHARS} letters, digits, `.`, `_` or `-`, starting with a letter or digit",
            name.chars().take(MAX_NAME_CHARS + 1).collect::<String>()
        ))
    }
}

impl TokenFile {
    /// Reads a token file's bytes, checking every record (names valid and unique, hashes 64
    /// hex digits).
    pub fn parse(bytes: &[u8]) -> Result<TokenFile, String> {
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| format!("it is not a token file: {e}"))?;
        if stored.format != FILE_FORMAT {
            return Err(format!(
                "its format is `{}`; this mlspec reads `{FILE_FORMAT}`",
                stored.format.chars().take(80).collect::<String>()
            ));
        }
        let mut file = TokenFile::default();
        for record in stored.tokens {
            check_name(&record.name)?;
            let hex_ok = record.sha256.len() == 64 && record.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex_ok {
                return Err(format!("token `{}`: `sha256` is not 64 hex digits", record.name));
            }
            if file.named(&record.name).is_some() {
                return Err(format!("two tokens are named `{}`", record.name));
            }
            file.tokens.push(record);
        }
        Ok(file)
    }

    /// The file's bytes (pretty JSON, ending in a newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let stored = Stored {
            format: FILE_FORMAT.to_owned(),
            tokens: self.tokens.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&stored).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Every token's record, in the order made.
    pub fn records(&self) -> &[TokenRecord] {
        &self.tokens
    }

    /// The record named `name` (names compare exactly).
    pub fn named(&self, name: &str) -> Option<&TokenRecord> {
        self.tokens.iter().find(|r| r.name == name)
    }

    /// Makes a token named `name` with `scope`, keeps its hash, and returns the token: the
    /// only time it exists outside its holder's hands.
    pub fn create(&mut self, name: &str, scope: Scope, now: DateTime<Utc>) -> Result<String, String> {
        check_name(name)?;
        if self.named(name).is_some() {
            return Err(format!(
                "a token named `{name}` exists; revoke it first (`mlspec server token revoke {name}`) or choose another name"
            ));
        }
        let token = generate()?;
        self.tokens.push(TokenRecord {
            name: name.to_owned(),
            scope,
            created: now,
            sha256: hex::encode(hash(&token)),
        });
        Ok(token)
    }

    /// Forgets the token named `name`: it stops working as soon as the server sees the file.
    pub fn revoke(&mut self, name: &str) -> Result<TokenRecord, String> {
        let Some(at) = self.tokens.iter().position(|r| r.name == name) else {
            let names: Vec<&str> = self.tokens.iter().map(|r| r.name.as_str()).collect();
            return Err(if names.is_empty() {
                format!("no token is named `{name}`: the file holds none")
            } else {
                format!("no token is named `{name}`; the tokens are {}", names.join(", "))
            });
        };
        Ok(self.tokens.remove(at))
    }

    /// The record of the token presented, if it is one of the file's. Every stored hash is
    /// compared, in constant time, whatever matches.
    pub fn find(&self, presented: &str) -> Option<&TokenRecord> {
        let presented = hash(presented);
        let mut found = None;
        for record in &self.tokens {
            let mut stored = [0u8; 32];
            let decoded = hex::decode_to_slice(&record.sha256, &mut stored).is_ok();
            if decoded && bool::from(stored.ct_eq(&presented)) {
                found = Some(record);
            }
        }
        found
    }
}

/// When a record was made, as `token list` shows it.
pub fn created_text(record: &TokenRecord) -> String {
    record.created.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_order_read_write_admin() {
        assert!(Scope::Admin.allows(Scope::Write) && Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write) && !Scope::Write.allows(Scope::Admin));
        assert_eq!("WRITE".parse::<Scope>(), Ok(Scope::Write));
        assert!("root".parse::<Scope>().unwrap_err().contains("read, write or admin"));
    }

    #[test]
    fn a_created_token_is_found_by_its_hash_and_never_stored() {
        let mut file = TokenFile::default();
        let token = file.create("ci", Scope::Write, Utc::now()).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        let bytes = file.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains(&token) && !text.contains(&token[TOKEN_PREFIX.len()..]));
        let back = TokenFile::parse(&bytes).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.find(&token).map(|r| r.name.as_str()), Some("ci"));
        assert_eq!(back.find(&format!("{token}x")), None);
        assert_eq!(back.find(""), None);
        let other = file.create("other", Scope::Read, Utc::now()).unwrap();
        assert_ne!(other, token);
        assert_eq!(file.find(&other).map(|r| r.scope), Some(Scope::Read));
    }

    #[test]
    fn names_are_checked_and_unique() {
        let mut file = TokenFile::default();
        file.create("ci", Scope::Read, Utc::now()).unwrap();
        assert!(
            file.create("ci", Scope::Admin, Utc::now())
                .unwrap_err()
                .contains("exists")
        );
        for bad in ["", "-x", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(file.create(bad, Scope::Read, Utc::now()).is_err(), "{bad:?}");
        }
        assert!(file.create("ok.name_1-2", Scope::Read, Utc::now()).is_ok());
    }

    #[test]
    fn revoking_forgets_the_token() {
        let mut file = TokenFile::default();
        let token = file.create("ci", Scope::Write, Utc::now()).unwrap();
        assert_eq!(file.revoke("ci").unwrap().name, "ci");
        assert_eq!(file.find(&token), None);
        assert!(file.revoke("ci").unwrap_err().contains("holds none"));
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let hash = "ab".repeat(32);
        for (text, says) in [
            ("{}", "not a token file"),
            (r#"{"format": "other", "tokens": []}"#, "format"),
            (
                &*format!(
                    r#"{{"format": "{FILE_FORMAT}", "tokens": [{{"name": "a", "scope": "read", "created": "2026-01-01T00:00:00Z", "sha256": "zz"}}]}}"#
                ),
                "64 hex",
            ),
            (
                &*format!(
                    r#"{{"format": "{FILE_FORMAT}", "tokens": [{{"name": "a", "scope": "read", "created": "2026-01-01T00:00:00Z", "sha256": "{hash}"}}, {{"name": "a", "scope": "admin", "created": "2026-01-01T00:00:00Z", "sha256": "{hash}"}}]}}"#
                ),
                "two tokens",
            ),
        ] {
            let error = TokenFile::parse(text.as_bytes()).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}

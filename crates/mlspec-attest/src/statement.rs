//! in-toto Statement v1: what was made (the subjects, by name and digest) and a typed claim
//! about it (the predicate: SLSA Provenance v1, mlspec's verdict, a dataset's shard manifest —
//! see [`crate::predicate`]).
//!
//! A statement is written with its predicate's type ([`Statement::new`] takes the type URI from
//! the [`Predicate`]) and read with any predicate (`Statement<serde_json::Value>`, the default),
//! whose type is then checked before it is read as one ([`Statement::predicate_as`]).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{AttestError, ErrorKind};

/// The Statement's `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// A predicate: its JSON shape, and the type URI a statement names it by.
pub trait Predicate: Serialize + DeserializeOwned {
    /// The `predicateType` of statements that carry it.
    const TYPE: &'static str;
}

/// One subject: a name and its digests (`sha256` → hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The name (a path in a package).
    pub name: String,
    /// Algorithm → lowercase hex.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with its SHA-256 (hex).
    pub fn sha256(name: &str, hex: &str) -> Subject {
        Subject {
            name: name.to_owned(),
            digest: [("sha256".to_owned(), hex.to_owned())].into_iter().collect(),
        }
    }
}

/// An in-toto Statement v1 with a predicate of type `P` (any JSON when read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement<P = serde_json::Value> {
    /// Always [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    pub predicate_type: String,
    /// The claim.
    pub predicate: P,
}

impl<P> Statement<P> {
    /// The subjects as a manifest (name, SHA-256; sizes unknown).
    pub fn manifest(&self) -> crate::digest::Manifest {
        crate::digest::Manifest::of_digests(
            self.subject
                .iter()
                .map(|s| (s.name.as_str(), s.digest.get("sha256").map_or("", String::as_str))),
        )
    }
}

impl<P: Predicate> Statement<P> {
    /// A statement about these subjects.
    pub fn new(subject: Vec<Subject>, predicate: P) -> Statement<P> {
        Statement {
            statement_type: STATEMENT_V1.to_owned(),
            subject,
            predicate_type: P::TYPE.to_owned(),
            predicate,
        }
    }
}

impl Statement {
    /// The predicate read as a `Q`: refused when the statement names another predicate type,
    /// or when the predicate does not have `Q`'s shape (fields `Q` does not know are ignored).
    pub fn predicate_as<Q: Predicate>(&self) -> Result<Q, AttestError> {
        if self.predicate_type != Q::TYPE {
            return Err(AttestError::new(
                ErrorKind::Malformed,
                "statement",
                format!("the predicate is {}, not {}", self.predicate_type, Q::TYPE),
            ));
        }
        Q::deserialize(&self.predicate).map_err(|e| {
            AttestError::new(
                ErrorKind::Malformed,
                "statement",
                format!("the predicate is not a {}: {e}", Q::TYPE),
            )
        })
    }
}

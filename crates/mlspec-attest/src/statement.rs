//! in-toto Statement v1: what was made (the subjects, by name and digest) and a typed claim
//! about it (the predicate: SLSA Provenance v1, or mlspec's verdict).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The Statement's `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// SLSA Provenance v1's predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// One subject: a name and its digests (`sha256` → hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The name (a path in a package).
    pub name: String,
    /// Algorithm → lowercase hex.
    pub digest: BTreeMap<String, String>,
}

/// An in-toto Statement v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// Always [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    pub predicate_type: String,
    /// The claim.
    pub predicate: serde_json::Value,
}

impl Statement {
    /// The subjects as a manifest (name, SHA-256; sizes unknown).
    pub fn manifest(&self) -> crate::digest::Manifest {
        crate::digest::Manifest::of_digests(
            self.subject
                .iter()
                .map(|s| (s.name.as_str(), s.digest.get("sha256").map_or("", String::as_str))),
        )
    }

    /// A statement about these subjects.
    pub fn new(subject: Vec<Subject>, predicate_type: &str, predicate: serde_json::Value) -> Statement {
        Statement {
            statement_type: STATEMENT_V1.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }
}

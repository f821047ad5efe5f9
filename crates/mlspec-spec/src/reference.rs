//! References between documents: by system id, or by `Kind/name[@version]`, optionally pinned
//! to content by `#digest`.
//!
//! ```text
//! ref    = target [ "#" digest ]
//! target = id | kind "/" name [ "@" version ]
//! ```
//!
//! Examples: `0193c7a2-7b7e-7d4e-8f00-0000000000aa`, `Dataset/penguins-raw@3`,
//! `ModelPackage/churn@1.2.0#sha256:…`.

use std::fmt;
use std::str::FromStr;

use crate::kind::Kind;
use crate::newtypes::{Digest, Name, ObjectId, Version};

/// What a reference points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefTarget {
    /// An object's system id.
    Id(ObjectId),
    /// An object's kind and name, optionally one version of it.
    Named {
        /// The kind of the referenced object.
        kind: Kind,
        /// Its name.
        name: Name,
        /// One version of it (Dataset, Module, ModelPackage); the current one when absent.
        version: Option<Version>,
    },
}

/// A reference to another document, optionally pinned to its content digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "compact_str::CompactString", into = "String")]
pub struct Ref {
    /// What is referenced.
    pub target: RefTarget,
    /// The content digest the referenced object must have.
    pub digest: Option<Digest>,
}

/// Why a reference could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "`{text}` is not a valid reference: {reason}; write an id, or Kind/name[@version], optionally followed by #sha256:<hex>"
)]
pub struct InvalidRef {
    /// The text that was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Ref {
    /// A reference to `kind/name`.
    pub fn named(kind: Kind, name: Name) -> Self {
        Ref {
            target: RefTarget::Named {
                kind,
                name,
                version: None,
            },
            digest: None,
        }
    }

    /// The referenced kind, when the reference names one.
    pub fn kind(&self) -> Option<Kind> {
        match &self.target {
            RefTarget::Named { kind, .. } => Some(*kind),
            RefTarget::Id(_) => None,
        }
    }
}

impl From<ObjectId> for Ref {
    /// A reference to the object with this id.
    fn from(id: ObjectId) -> Ref {
        Ref {
            target: RefTarget::Id(id),
            digest: None,
        }
    }
}

impl FromStr for Ref {
    type Err = InvalidRef;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| InvalidRef {
            text: text.to_owned(),
            reason,
        };
        let (target, digest) = match text.split_once('#') {
            Some((target, digest)) => (target, Some(Digest::new(digest).map_err(|e| fail(e.to_string()))?)),
            None => (text, None),
        };
        let target = match target.split_once('/') {
            None => RefTarget::Id(ObjectId::new(target).map_err(|e| fail(e.to_string()))?),
            Some((kind, rest)) => {
                let kind = Kind::from_str(kind).map_err(|e| fail(e.to_string()))?;
                let (name, version) = match rest.split_once('@') {
                    Some((name, version)) => (name, Some(Version::new(version).map_err(|e| fail(e.to_string()))?)),
                    None => (rest, None),
                };
                let name = Name::new(name).map_err(|e| fail(e.to_string()))?;
                RefTarget::Named { kind, name, version }
            }
        };
        Ok(Ref { target, digest })
    }
}

impl TryFrom<compact_str::CompactString> for Ref {
    type Error = InvalidRef;
    fn try_from(text: compact_str::CompactString) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Ref> for String {
    fn from(r: Ref) -> String {
        r.to_string()
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            RefTarget::Id(id) => write!(f, "{id}")?,
            RefTarget::Named { kind, name, version } => {
                write!(f, "{kind}/{name}")?;
                if let Some(version) = version {
                    write!(f, "@{version}")?;
                }
            }
        }
        if let Some(digest) = &self.digest {
            write!(f, "#{digest}")?;
        }
        Ok(())
    }
}

impl schemars::JsonSchema for Ref {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ref".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let pattern = format!(
            "^([A-Za-z0-9][A-Za-z0-9._-]{{0,39}}|({})/[A-Za-z0-9][A-Za-z0-9_-]{{0,254}}(@[A-Za-z0-9][A-Za-z0-9._+-]{{0,63}})?)(#(sha256:[0-9a-f]{{64}}|sha512:[0-9a-f]{{128}}|blake3:[0-9a-f]{{64}}))?$",
            kinds.join("|")
        );
        schemars::json_schema!({
            "type": "string",
            "description": "A reference to another document: an id, or Kind/name[@version], optionally pinned by #<digest>.",
            "pattern": pattern,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let sha = format!("sha256:{}", "0f".repeat(32));
        for text in [
            "0193c7a2-7b7e-7d4e-8f00-0000000000aa".to_owned(),
            "Dataset/penguins-raw".to_owned(),
            "Dataset/penguins-raw@3".to_owned(),
            format!("ModelPackage/churn@1.2.0#{sha}"),
            format!("some-id#{sha}"),
        ] {
            let parsed: Ref = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_references() {
        for text in [
            "Datasets/x",
            "Dataset/",
            "Dataset/a b",
            "Dataset/x@",
            "x#md5:00",
            "",
            "Dataset/x#sha256:00",
        ] {
            assert!(text.parse::<Ref>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn schema_pattern_agrees() {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<Ref>();
        let validator = jsonschema::validator_for(schema.as_value()).unwrap();
        let sha = format!("sha256:{}", "0f".repeat(32));
        for text in [
            "Dataset/x@1",
            "abc",
            "Datasets/x",
            "Dataset/x@",
            &format!("Run/r1#{sha}"),
            "x#sha256:00",
        ] {
            assert_eq!(
                text.parse::<Ref>().is_ok(),
                validator.is_valid(&serde_json::json!(text)),
                "{text}"
            );
        }
    }
}

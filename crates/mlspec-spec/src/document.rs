//! The document envelope shared by every kind:
//!
//! ```yaml
//! apiVersion: mlspec/v1
//! kind: Dataset
//! metadata: {name: penguins-raw}
//! spec: {…}
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::kind::every_kind;
pub use crate::kind::{Kind, UnknownKind};
use crate::kinds::*;
use crate::newtypes::{Description, LabelKey, LabelValue, Name, ObjectId, ShortText};
use crate::rules::{Findings, Rules};
use crate::values::{Timestamp, UniqueMap};

/// The versions of the document format this build reads.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["mlspec/v1"];

/// The document format version. Only `mlspec/v1` exists; older MLSpec formats are converted with
/// `mlspec migrate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiVersion {
    /// `mlspec/v1`.
    #[default]
    V1,
}

impl ApiVersion {
    /// The version as written in documents.
    pub fn as_str(self) -> &'static str {
        "mlspec/v1"
    }
}

impl Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "mlspec/v1" => Ok(ApiVersion::V1),
            other => Err(de::Error::custom(unsupported_api_version(other))),
        }
    }
}

/// The message for an `apiVersion` this build does not read.
pub fn unsupported_api_version(found: &str) -> String {
    format!(
        "unsupported apiVersion `{found}`; supported: {}",
        SUPPORTED_API_VERSIONS.join(", ")
    )
}

impl JsonSchema for ApiVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ApiVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"const": "mlspec/v1", "description": "The document format version."})
    }
}

/// The lifecycle status of an object. Archived objects free their name and stay readable by id;
/// nothing is ever hard-deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Status {
    /// In use.
    #[default]
    Active,
    /// Still usable, with a warning; new work should not depend on it.
    Deprecated,
    /// Retired: using it is an error; its name may be reused.
    Archived,
}

/// The labels of an object: at most 64 entries.
pub type Labels = UniqueMap<LabelKey, LabelValue>;

/// The most labels one object may carry.
pub const MAX_LABELS: usize = 64;

/// What every object has, whatever its kind (the spec's common object rules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// The system id; generated (a UUIDv7) when the document is stored without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// The name, unique case-insensitively among the non-archived objects of the kind.
    pub name: Name,
    /// The lifecycle status (default Active).
    #[serde(default, skip_serializing_if = "is_active")]
    pub status: Status,
    /// What the object is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// Key/value labels for selection and grouping (at most 64).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub labels: Labels,
    /// When the object was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<ShortText>,
}

fn is_active(status: &Status) -> bool {
    *status == Status::Active
}

impl Metadata {
    /// Metadata with just a name.
    pub fn named(name: Name) -> Self {
        Metadata {
            id: None,
            name,
            status: Status::Active,
            description: None,
            labels: Labels::default(),
            created_at: None,
            created_by: None,
        }
    }
}

impl Rules for Metadata {
    fn check(&self, findings: &mut Findings) {
        if self.labels.len() > MAX_LABELS {
            findings.error(
                "/metadata/labels",
                format!("{} labels; at most {MAX_LABELS} are allowed", self.labels.len()),
            );
        }
    }
}

/// Makes, from the list of kinds, the `Spec` enum that holds a kind's typed body, and the
/// per-kind dispatch for parsing, checking and schema generation.
macro_rules! kind_specs {
    ($( $kind:ident($spec:ty) $slug:literal stage $stage:literal: $summary:literal; )*) => {
        impl Kind {
            /// The JSON Schema of this kind's `spec`.
            pub(crate) fn spec_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $(Kind::$kind => generator.subschema_for::<$spec>(),)* }
            }

            fn deserialize_spec<'de, D: Deserializer<'de>>(self, d: D) -> Result<Spec, D::Error> {
                match self { $(Kind::$kind => <$spec>::deserialize(d).map(Spec::$kind),)* }
            }
        }

        /// The typed body of a document; the variant is the document's kind.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant)]
        pub enum Spec { $(#[doc = $summary] $kind($spec),)* }

        impl Spec {
            /// The kind of this spec.
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$kind(_) => Kind::$kind,)* }
            }
        }

        impl Rules for Spec {
            fn check(&self, findings: &mut Findings) {
                match self { $(Spec::$kind(spec) => spec.check(findings),)* }
            }
        }
    };
}

every_kind!(kind_specs);

/// A complete MLSpec document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The format version.
    pub api_version: ApiVersion,
    /// The object's identity and status.
    pub metadata: Metadata,
    /// The kind-specific body; its variant is the document's kind.
    pub spec: Spec,
}

impl Document {
    /// The document's kind.
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// Runs every semantic rule of the document; paths are JSON Pointers into it. The rules on
    /// every value come first; when a number is not finite, the kind's rules (which compute
    /// with numbers) are not run.
    pub fn check(&self) -> Findings {
        let mut findings = Findings::default();
        if crate::values_check::check_values(self, &mut findings) {
            return findings;
        }
        self.metadata.check(&mut findings);
        self.spec.check(&mut findings);
        findings
    }
}

impl Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut doc = s.serialize_struct("Document", 4)?;
        doc.serialize_field("apiVersion", &self.api_version)?;
        doc.serialize_field("kind", &self.kind())?;
        doc.serialize_field("metadata", &self.metadata)?;
        doc.serialize_field("spec", &self.spec)?;
        doc.end()
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Field {
    ApiVersion,
    Kind,
    Metadata,
    Spec,
}

const FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

struct SpecSeed(Kind);

impl<'de> DeserializeSeed<'de> for SpecSeed {
    type Value = Spec;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Spec, D::Error> {
        self.0.deserialize_spec(d)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("Document", FIELDS, DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MLSpec document: a map with apiVersion, kind, metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut api_version = None;
        let mut kind: Option<Kind> = None;
        let mut metadata = None;
        let mut spec = None;
        // A spec that precedes its kind is buffered and typed once the kind is known.
        let mut early_spec: Option<serde_json::Value> = None;
        while let Some(field) = map.next_key::<Field>()? {
            let duplicate = match field {
                Field::ApiVersion => api_version.replace(map.next_value::<ApiVersion>()?).is_some(),
                Field::Kind => kind.replace(map.next_value::<Kind>()?).is_some(),
                Field::Metadata => metadata.replace(map.next_value::<Metadata>()?).is_some(),
                Field::Spec => match kind {
                    Some(kind) => spec.replace(map.next_value_seed(SpecSeed(kind))?).is_some(),
                    None => early_spec.replace(map.next_value()?).is_some(),
                },
            };
            if duplicate {
                return Err(de::Error::custom("duplicate field in document"));
            }
        }
        let api_version = api_version.ok_or_else(|| de::Error::missing_field("apiVersion"))?;
        let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let metadata = metadata.ok_or_else(|| de::Error::missing_field("metadata"))?;
        let spec = match (spec, early_spec) {
            (Some(spec), _) => spec,
            (None, Some(value)) => kind.deserialize_spec(value).map_err(de::Error::custom)?,
            (None, None) => return Err(de::Error::missing_field("spec")),
        };
        Ok(Document {
            api_version,
            metadata,
            spec,
        })
    }
}

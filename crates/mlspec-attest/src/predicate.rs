//! The predicates mlspec signs and reads, as types: SLSA Provenance v1 ([`Provenance`]), mlspec's
//! verdict on a package's objectives ([`Verdict`]) and a dataset's shard manifest
//! ([`ShardManifest`]).
//!
//! Reading is lenient where the formats are open: a field a type does not know is ignored (a
//! newer writer's, or another tool's), and optional fields may be absent. Writing keeps the
//! field order of the JSON (`serde_json` preserves it), so a statement signed before these types
//! existed serialises to the same bytes. Fields mlspec never writes (SLSA's
//! `internalParameters`, `byproducts`, a builder's `version`, …) are left out when empty; the
//! verdict writes its absent test report and expressions as `null`, as it always has.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mlspec_spec::kinds::Outcome;
use mlspec_spec::newtypes::Digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::statement::Predicate;

/// SLSA Provenance v1's predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// The predicate type of mlspec's verdict.
pub const VERDICT_V1: &str = "https://mlspec.dev/verdict/v1";

/// The predicate type of a signed shard manifest.
pub const DATASET_MANIFEST_V1: &str = "https://mlspec.dev/dataset-manifest/v1";

/// SLSA Provenance v1 (<https://slsa.dev/provenance/v1>): how the subjects were built, from
/// what, by whom. `P` is the build type's external parameters (any JSON when read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance<P = serde_json::Value> {
    /// The inputs to the build.
    pub build_definition: BuildDefinition<P>,
    /// How this particular build ran.
    pub run_details: RunDetails,
}

impl<P: Serialize + DeserializeOwned> Predicate for Provenance<P> {
    const TYPE: &'static str = SLSA_PROVENANCE_V1;
}

/// What the build was asked to do, and what it resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition<P> {
    /// The URI of the build type, which defines the parameters.
    pub build_type: String,
    /// The parameters an outside party controls.
    pub external_parameters: P,
    /// The parameters the build platform controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<serde_json::Value>,
    /// The artifacts the build used.
    #[serde(default)]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// An in-toto ResourceDescriptor: an artifact by URI, name and digests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// Where the resource is identified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm → lowercase hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// A name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it can be downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Its content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Anything else about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ResourceDescriptor {
    /// A resource by URI, pinned by `digest` when it has one.
    pub fn pinned(uri: String, digest: Option<&Digest>) -> ResourceDescriptor {
        ResourceDescriptor {
            uri: Some(uri),
            digest: digest
                .map(|d| (d.algorithm().to_owned(), d.hex().to_owned()))
                .into_iter()
                .collect(),
            ..ResourceDescriptor::default()
        }
    }
}

/// The build that ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// What ran it.
    pub builder: Builder,
    /// When, and which invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    /// Other artifacts the build made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// The build platform.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// Its URI.
    pub id: String,
    /// Component → version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// What it ran with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// When the build ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// The invocation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<DateTime<Utc>>,
}

/// mlspec's verdict: whether a package's model met its objectives, criterion by criterion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The Objectives reference.
    pub objectives: String,
    /// Passed or failed.
    pub result: Outcome,
    /// The TestReport reference (`null` when none).
    pub test_report: Option<String>,
    /// Each criterion.
    #[serde(default)]
    pub criteria: Vec<Criterion>,
}

impl Predicate for Verdict {
    const TYPE: &'static str = VERDICT_V1;
}

/// One criterion of a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Its name.
    pub name: String,
    /// Whether it was met.
    pub met: bool,
    /// Its expression (`null` when none).
    pub expression: Option<String>,
}

/// A dataset's shards, each with its id, size, digest and (when the format records it) rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// The shards, by path.
    pub shards: Vec<Shard>,
    /// The directory digest of the shards' manifest.
    pub manifest: Digest,
    /// Their total size.
    pub bytes: u64,
}

impl Predicate for ShardManifest {
    const TYPE: &'static str = DATASET_MANIFEST_V1;
}

/// One shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Its position in the manifest, from 0.
    pub id: u64,
    /// Its path (relative to the signed directory, or its file name).
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Rows, for a format whose footer says (Parquet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use chrono::SubsecRound as _;
    use serde_json::json;

    use super::*;
    use crate::statement::Statement;

    fn text(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// The bytes mlspec signed before the predicates were types (built with `json!`) are the
    /// bytes the types write.
    #[test]
    fn provenance_writes_the_bytes_it_always_wrote() {
        let finished = DateTime::from_timestamp(1_800_000_000, 123_456_789)
            .unwrap()
            .trunc_subsecs(0);
        let pinned = Digest::sha256_of(b"training");
        let typed = Provenance {
            build_definition: BuildDefinition {
                build_type: "https://mlspec.dev/ModelPackage/v1".to_owned(),
                external_parameters: json!({"name": "churn", "manifest": Digest::sha256_of(b"")}),
                internal_parameters: None,
                resolved_dependencies: vec![
                    ResourceDescriptor::pinned("mlspec:Run/train#x".to_owned(), Some(&pinned)),
                    ResourceDescriptor::pinned("mlspec:Dataset/d@1".to_owned(), None),
                ],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "https://mlspec.dev/mlspec@0.1.0".to_owned(),
                    version: BTreeMap::new(),
                    builder_dependencies: Vec::new(),
                },
                metadata: Some(BuildMetadata {
                    finished_on: Some(finished),
                    ..BuildMetadata::default()
                }),
                byproducts: Vec::new(),
            },
        };
        let by_hand = json!({
            "buildDefinition": {
                "buildType": "https://mlspec.dev/ModelPackage/v1",
                "externalParameters": {"name": "churn", "manifest": Digest::sha256_of(b"").to_string()},
                "resolvedDependencies": [
                    {"uri": "mlspec:Run/train#x", "digest": {"sha256": pinned.hex()}},
                    {"uri": "mlspec:Dataset/d@1"},
                ],
            },
            "runDetails": {
                "builder": {"id": "https://mlspec.dev/mlspec@0.1.0"},
                "metadata": {"finishedOn": finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)},
            },
        });
        assert_eq!(text(&typed), text(&by_hand));
        assert_eq!(
            serde_json::from_value::<Provenance>(by_hand).unwrap().run_details,
            typed.run_details
        );
    }

    #[test]
    fn verdict_and_shard_manifest_write_the_bytes_they_always_wrote() {
        let verdict = Verdict {
            objectives: "Objectives/churn".to_owned(),
            result: Outcome::Passed,
            test_report: None,
            criteria: vec![Criterion {
                name: "auc".to_owned(),
                met: true,
                expression: None,
            }],
        };
        let by_hand = json!({
            "objectives": "Objectives/churn",
            "result": "passed",
            "testReport": null,
            "criteria": [{"name": "auc", "met": true, "expression": null}],
        });
        assert_eq!(text(&verdict), text(&by_hand));
        let shard = |id: u64, rows| Shard {
            id,
            path: format!("part-{id}.parquet"),
            size: 10,
            sha256: "ab".repeat(32),
            rows,
        };
        let shards = ShardManifest {
            shards: vec![shard(0, Some(3)), shard(1, None)],
            manifest: Digest::sha256_of(b"lines"),
            bytes: 20,
        };
        let by_hand = json!({
            "shards": [
                {"id": 0, "path": "part-0.parquet", "size": 10, "sha256": "ab".repeat(32), "rows": 3},
                {"id": 1, "path": "part-1.parquet", "size": 10, "sha256": "ab".repeat(32)},
            ],
            "manifest": Digest::sha256_of(b"lines").to_string(),
            "bytes": 20,
        });
        assert_eq!(text(&shards), text(&by_hand));
    }

    /// Another writer's provenance (securesystemslib's, in the repository's known-answer test):
    /// no dependencies, no metadata; and fields no type knows are ignored.
    #[test]
    fn provenance_and_verdicts_written_by_others_read() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/intoto/kat/envelope.json");
        let envelope: crate::dsse::Envelope = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(&envelope.payload)
            .unwrap();
        let statement: Statement = serde_json::from_slice(&payload).unwrap();
        let provenance: Provenance = statement.predicate_as().unwrap();
        assert_eq!(
            provenance.build_definition.build_type,
            "https://mlspec.example/train/v1"
        );
        assert!(provenance.build_definition.resolved_dependencies.is_empty());
        assert_eq!(provenance.run_details.metadata, None);
        assert!(statement.predicate_as::<Verdict>().is_err(), "another predicate type");

        let newer = json!({
            "objectives": "Objectives/x", "result": "failed", "testReport": "TestReport/t",
            "criteria": [{"name": "auc", "met": false, "expression": "auc > 0.8", "weight": 2}],
            "signedBy": "someone",
        });
        let statement = Statement {
            statement_type: crate::statement::STATEMENT_V1.to_owned(),
            subject: Vec::new(),
            predicate_type: VERDICT_V1.to_owned(),
            predicate: newer,
        };
        let verdict: Verdict = statement.predicate_as().unwrap();
        assert_eq!(verdict.result, Outcome::Failed);
        assert_eq!(verdict.criteria[0].expression.as_deref(), Some("auc > 0.8"));
    }
}

//! The values the store hands out and takes in.

use std::collections::BTreeMap;

use mlspec_spec::expr::query::{Filter, OrderBy};
use mlspec_spec::newtypes::Key;
use mlspec_spec::{Document, Kind, Name, ObjectId, Ref, RefTarget, Status, Version};
use serde::{Deserialize, Serialize};

/// Which object a command means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// By system id, whatever its status.
    Id(ObjectId),
    /// By kind and name (Active and Deprecated objects only), optionally one version: of a
    /// Dataset (a version inside it) or of a Module (each module version is its own object).
    Name {
        /// The kind.
        kind: Kind,
        /// The name, compared case-insensitively.
        name: Name,
        /// The version, for Datasets and Modules.
        version: Option<Version>,
    },
    /// A command line's `KIND NAME|ID`: the object of that kind with that id if there is one,
    /// else by name (`name@version` selects a version).
    KindText {
        /// The kind.
        kind: Kind,
        /// An id, a name, or `name@version`.
        text: String,
    },
}

impl From<&Ref> for Selector {
    fn from(reference: &Ref) -> Self {
        match &reference.target {
            RefTarget::Id(id) => Selector::Id(id.clone()),
            RefTarget::Named { kind, name, version } => Selector::Name {
                kind: *kind,
                name: name.clone(),
                version: version.clone(),
            },
        }
    }
}

/// One object as stored now.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// The summary (id, kind, name, status, times).
    #[serde(flatten)]
    pub summary: ObjectSummary,
    /// The version selected, when the selector named one (Datasets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionInfo>,
    /// The current document, with `metadata.id` and `metadata.status` set by the store.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub document: Document,
}

/// A selected version of a Dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    /// The version.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub version: Version,
    /// Its own status.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Active"))]
    pub status: Status,
}

/// What lists show of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ObjectSummary {
    /// The system id.
    pub id: String,
    /// The kind.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Run"))]
    pub kind: Kind,
    /// The name.
    pub name: String,
    /// What the name is unique within besides the kind: a Module's version, an Artifact's run id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The lifecycle status.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Active"))]
    pub status: Status,
    /// The event that created it.
    pub created_seq: i64,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// Its latest event.
    pub updated_seq: i64,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// The current values of the fields the query's [`ListQuery::columns`] asked for, by key
    /// (`metrics.accuracy`: a number, `params.solver`: a number or text); a field the object
    /// does not have is absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// What `list` selects.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// The kind.
    pub kind: Kind,
    /// The statuses to show; empty means Active only.
    pub statuses: Vec<Status>,
    /// Labels every listed object must carry (`key`, `value`).
    pub labels: Vec<(String, String)>,
    /// A filter in the expression language (`metrics.accuracy > 0.9 and labels.team = "risk"`),
    /// parsed by [`mlspec_spec::expr::query::parse_filter`].
    pub filter: Option<Filter>,
    /// The sort order; by name when absent (and after the key, as the tie-breaker).
    pub order: Option<OrderBy>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Skip this many first (paging).
    pub offset: u32,
    /// Field keys (`metrics.accuracy`, `params.lr`, `spec.status`, as [`Store::field_keys`]
    /// lists them) whose current values each listed object carries in
    /// [`ObjectSummary::fields`]; at most [`MAX_COLUMNS`].
    ///
    /// [`Store::field_keys`]: crate::Store::field_keys
    pub columns: Vec<String>,
}

/// The most [`ListQuery::columns`] one listing takes.
pub const MAX_COLUMNS: usize = 64;

/// The most keys [`Store::field_keys`](crate::Store::field_keys) returns.
pub const MAX_FIELD_KEYS: usize = 1000;

impl ListQuery {
    /// The Active objects of `kind`, in name order.
    pub fn new(kind: Kind) -> ListQuery {
        ListQuery {
            kind,
            statuses: Vec::new(),
            labels: Vec::new(),
            filter: None,
            order: None,
            limit: None,
            offset: 0,
            columns: Vec::new(),
        }
    }
}

/// What applying one document did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApplyAction {
    /// A new object.
    Created,
    /// A new version of the object's document.
    Updated,
    /// The same content was already stored; no event was written.
    Unchanged,
}

/// The outcome for one applied document, in input order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The object's id.
    pub id: String,
    /// Its kind.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Run"))]
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// What happened.
    pub action: ApplyAction,
    /// The event written, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// The outcome of a batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplyReport {
    /// One entry per document, in input order.
    pub results: Vec<Applied>,
    /// Things the caller should know, e.g. a deprecated version was used.
    pub warnings: Vec<String>,
}

/// The outcome of a status change, rename or promotion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The object after the change.
    pub object: ObjectSummary,
    /// False when the object already was in the requested state (no event written).
    pub changed: bool,
    /// What changed, for people.
    pub description: String,
    /// Things the caller should know.
    pub warnings: Vec<String>,
}

/// One entry of an object's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Its position in the store's event log.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What: create, update, deprecate, archive, reactivate, rename, promote.
    pub action: String,
    /// The object.
    pub object_id: String,
    /// The object's name after the event.
    pub name: String,
    /// The object's status after the event.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Active"))]
    pub status: Status,
    /// The fields that changed (JSON Pointer, previous value, new value); empty for a create.
    pub changes: Vec<FieldChange>,
    /// The document after the event.
    pub document: serde_json::Value,
    /// The event's hash in the chain.
    pub hash: String,
}

/// One changed field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// A JSON Pointer into the document.
    pub path: String,
    /// The value before (absent when added).
    pub previous: Option<serde_json::Value>,
    /// The value after (absent when removed).
    pub new: Option<serde_json::Value>,
}

/// Which way lineage is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Direction {
    /// What the object came from.
    Upstream,
    /// What came from the object.
    Downstream,
    /// Both.
    Both,
}

/// A lineage subgraph around one object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageGraph {
    /// The object asked about.
    pub root: String,
    /// Every object reached, root first, then by distance.
    pub nodes: Vec<LineageNode>,
    /// Every edge between them.
    pub edges: Vec<LineageEdge>,
    /// True when the depth limit stopped the walk while edges remained.
    pub truncated: bool,
}

/// An object in a lineage graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageNode {
    /// Its id.
    pub id: String,
    /// Its kind.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Run"))]
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// A Module's version, an Artifact's run id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Its status.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Active"))]
    pub status: Status,
    /// Its distance from the root, in edges.
    pub depth: u32,
}

/// An edge: `source` flowed into `target`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineageEdge {
    /// Where it comes from.
    pub source: String,
    /// Where it goes.
    pub target: String,
    /// How: input, output, parent, uses, derived.
    pub relation: String,
}

/// One point of a metric series, as [`Store::append_metrics`](crate::Store::append_metrics)
/// takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeriesPoint {
    /// The metric's key, e.g. `val/loss`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "val/loss"))]
    pub key: Key,
    /// The value: a finite number.
    pub value: f64,
    /// The training step (0 when the writer has none).
    #[serde(default)]
    pub step: u64,
    /// When it was recorded, in microseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_us: Option<i64>,
}

/// What [`Store::append_metrics`](crate::Store::append_metrics) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppendReport {
    /// Points appended.
    pub appended: u64,
    /// The keys whose series this append began, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
}

/// One metric series of a run, summarized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SeriesSummary {
    /// The metric's key.
    pub key: String,
    /// Points recorded.
    pub points: u64,
    /// The lowest step.
    pub min_step: u64,
    /// The highest step.
    pub max_step: u64,
    /// The earliest time (microseconds since the Unix epoch), when points have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_us: Option<i64>,
    /// The latest time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_us: Option<i64>,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The last value logged.
    pub last: f64,
    /// True when the points are the run document's own (a run whose writer kept no series).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_document: bool,
}

/// The x axis of a series read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// The training step.
    #[default]
    Step,
    /// The time recorded, in microseconds since the Unix epoch (points without one are left out).
    Time,
}

/// What [`Store::metric_series`](crate::Store::metric_series) reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesQuery {
    /// The x axis.
    pub axis: Axis,
    /// Only points with `from <= x <= to` on the axis; the whole series when absent.
    pub range: Option<(f64, f64)>,
    /// At most this many points come back (4 to [`MAX_SERIES_POINTS`]): past it, the series is
    /// downsampled to the first, smallest, largest and last value of `max_points / 4` buckets.
    pub max_points: u32,
}

impl Default for SeriesQuery {
    fn default() -> Self {
        SeriesQuery {
            axis: Axis::Step,
            range: None,
            max_points: 2000,
        }
    }
}

/// The most points one series read returns.
pub const MAX_SERIES_POINTS: u32 = 8192;

/// The most points one [`Store::append_metrics`](crate::Store::append_metrics) takes.
pub const MAX_APPEND_POINTS: usize = 10_000;

/// A metric's curve: its points, or a downsampled envelope of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// The metric's key.
    pub key: String,
    /// The axis of `x`.
    pub axis: Axis,
    /// Points in the series (in the whole series, not only the range).
    pub total_points: u64,
    /// False: `x`/`y` are the points themselves, in logged order. True: per bucket, the first,
    /// smallest, largest and last value, in x order.
    pub downsampled: bool,
    /// True when the points are the run document's own (a run whose writer kept no series).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_document: bool,
    /// The x of each point: a step, or microseconds since the Unix epoch.
    pub x: Vec<f64>,
    /// The value of each point.
    pub y: Vec<f64>,
}

/// What `store verify` found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// Objects checked.
    pub objects: u64,
    /// The last event's sequence number.
    pub head_seq: i64,
    /// The last event's hash: record it elsewhere to detect a rewrite of the whole log.
    pub head_hash: String,
    /// Everything wrong; empty when the store is intact.
    pub problems: Vec<String>,
}

/// A store's identity and size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoreInfo {
    /// sqlite or postgres.
    pub backend: String,
    /// The store's id, made by `init`.
    pub store_id: String,
    /// The schema version of the database.
    pub schema_version: i64,
    /// Events in the log.
    pub events: i64,
    /// Objects.
    pub objects: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> ObjectSummary {
        ObjectSummary {
            id: "01a2".into(),
            kind: Kind::Artifact,
            name: "model".into(),
            scope: "run-1".into(),
            status: Status::Deprecated,
            created_seq: 1,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_seq: 2,
            updated_at: "2026-01-02T00:00:00Z".into(),
            fields: BTreeMap::new(),
        }
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    }

    #[test]
    fn what_the_store_hands_out_reads_back_the_same() {
        round_trip(summary());
        round_trip(ObjectSummary {
            scope: String::new(),
            ..summary()
        });
        round_trip(ObjectSummary {
            fields: BTreeMap::from([
                ("metrics.accuracy".to_owned(), serde_json::json!(0.9)),
                ("params.solver".to_owned(), serde_json::json!("adam")),
            ]),
            ..summary()
        });
        round_trip(ApplyReport {
            results: vec![Applied {
                id: "i".into(),
                kind: Kind::Run,
                name: "r".into(),
                action: ApplyAction::Unchanged,
                seq: None,
            }],
            warnings: vec!["w".into()],
        });
        round_trip(Change {
            object: summary(),
            changed: true,
            description: "d".into(),
            warnings: Vec::new(),
        });
        round_trip(Event {
            seq: 3,
            at: "t".into(),
            actor: "Zoë".into(),
            action: "update".into(),
            object_id: "i".into(),
            name: "r".into(),
            status: Status::Active,
            changes: vec![FieldChange {
                path: "/spec/params/lr".into(),
                previous: None,
                new: Some(serde_json::json!(0.2)),
            }],
            document: serde_json::json!({"kind": "Run"}),
            hash: "h".into(),
        });
        round_trip(LineageGraph {
            root: "a".into(),
            nodes: vec![LineageNode {
                id: "a".into(),
                kind: Kind::Module,
                name: "m".into(),
                scope: "1".into(),
                status: Status::Archived,
                depth: 0,
            }],
            edges: vec![LineageEdge {
                source: "a".into(),
                target: "b".into(),
                relation: "uses".into(),
            }],
            truncated: true,
        });
        round_trip(VerifyReport {
            events: 1,
            objects: 1,
            head_seq: 1,
            head_hash: "h".into(),
            problems: vec!["p".into()],
        });
        round_trip(StoreInfo {
            backend: "sqlite".into(),
            store_id: "s".into(),
            schema_version: 3,
            events: 1,
            objects: 1,
        });
        round_trip(Direction::Downstream);
    }

    #[test]
    fn a_stored_object_reads_back_with_its_document() {
        let yaml = "apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {name: d}\nspec:\n  versions:\n    - {version: '1', status: Active, definition: {datastore: lake, path: d/1}}\n";
        let document = mlspec_spec::validate_text(yaml, mlspec_spec::Format::Yaml, &Default::default())
            .documents
            .remove(0);
        let object = StoredObject {
            summary: ObjectSummary {
                kind: Kind::Dataset,
                ..summary()
            },
            version: Some(VersionInfo {
                version: Version::new("1").unwrap(),
                status: Status::Active,
            }),
            document,
        };
        let json = serde_json::to_string(&object).unwrap();
        let back: StoredObject = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (&back.summary, &back.version, &back.document),
            (&object.summary, &object.version, &object.document)
        );
    }
}

//! Kinds of the data stages: Datastore, Dataset, Artifact, Ingestion, DataProfile,
//! Transformation, DataSchema, ValidationReport and Split.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::document::Status;
use crate::kind::Kind;
use crate::newtypes::{Digest, Key, MediaType, Name, SecretRef, ShortText, Text, Version};
use crate::reference::Ref;
use crate::rules::{Findings, Rules, approx_eq};
use crate::values::{DataPath, Params, Tags, Timestamp, UniqueMap};

/// The kind of storage behind a Datastore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DatastoreType {
    /// A local or network file system.
    Filesystem,
    /// Amazon S3 or an S3-compatible object store.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage / ADLS.
    AzureBlob,
    /// Files served over HTTP(S).
    Http,
    /// A PostgreSQL database.
    Postgres,
    /// A MySQL database.
    Mysql,
    /// An SQLite database file.
    Sqlite,
    /// Google BigQuery.
    Bigquery,
    /// Snowflake.
    Snowflake,
    /// A container registry (for images).
    ContainerRegistry,
    /// Anything else; say what in `connection`.
    Other,
}

/// A connection setting: plain text, or a reference to a secret held elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ConnectionValue {
    /// A reference to a secret: `{secretRef: env:NAME}`.
    Secret(SecretReference),
    /// A plain, non-secret setting (an endpoint, a region).
    Plain(String),
}

/// `{secretRef: …}`: where the secret is, never the secret itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretReference {
    /// Where the secret is held.
    pub secret_ref: SecretRef,
}

/// A place that holds data.
///
/// Rules: credentials are never inline (a rule of every kind, see the overview): a connection
/// setting whose name looks like a credential (`password`, `secret`, `token`, `accessKey`,
/// `apiKey`, `privateKey`, `credential`, `sas`…) must be a `{secretRef: …}`, and the `uri` must
/// not carry a password (`scheme://user:pw@host`) or a signed-URL signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatastoreSpec {
    /// The kind of storage.
    #[serde(rename = "type")]
    pub store_type: DatastoreType,
    /// Where it is: a URL or path, e.g. `s3://bucket/prefix` or `file:///data`.
    pub uri: ShortText,
    /// Connection settings; credentials only as `{secretRef: …}`.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub connection: UniqueMap<Key, ConnectionValue>,
    /// Whether mlspec may write to it.
    #[serde(default)]
    pub read_only: bool,
}

impl Rules for DatastoreSpec {}

/// A named checkpoint of a dataset version (a point to return to).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Checkpoint {
    /// The checkpoint's name, unique within the version.
    pub name: Name,
    /// The content digest at the checkpoint.
    pub digest: Digest,
    /// When it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Why it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

/// A named view of a dataset version: a subset of columns and/or rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct View {
    /// The view's name, unique within the version.
    pub name: Name,
    /// The columns in the view (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Key>,
    /// A row filter, e.g. `country = 'NL'`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Text>,
}

/// One version of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatasetVersion {
    /// The version, unique within the dataset.
    pub version: Version,
    /// This version's own status: using an Archived version is an error, a Deprecated one a
    /// warning.
    #[serde(default)]
    pub status: Status,
    /// Where the version's data is: a DataPath (a path, a table or a query).
    pub definition: DataPath,
    /// The content digest of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Number of rows, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The DataProfile of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Ref>,
    /// The DataSchema this version conforms to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Ref>,
    /// The run or artifact this version was produced by (e.g. a promoted Artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_by: Option<Ref>,
    /// Named checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<Checkpoint>,
    /// Named views.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<View>,
    /// When the version was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<ShortText>,
    /// Release notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Text>,
}

/// A named, versioned dataset.
///
/// Rules: at least one version; versions are unique; `current` names one of them and that
/// version is not Archived; checkpoint and view names are unique within a version; `profile`
/// refers to a DataProfile and `schema` to a DataSchema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatasetSpec {
    /// The versions, oldest first.
    pub versions: Vec<DatasetVersion>,
    /// The version used when a reference gives none (default: the last Active one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Version>,
}

impl Rules for DatasetSpec {
    fn check(&self, f: &mut Findings) {
        if self.versions.is_empty() {
            f.error("/spec/versions", "a dataset needs at least one version");
        }
        f.unique("/spec/versions", "version", &self.versions, |v| &v.version);
        for (i, v) in self.versions.iter().enumerate() {
            let at = format!("/spec/versions/{i}");
            f.unique(&format!("{at}/checkpoints"), "name", &v.checkpoints, |c| {
                c.name.as_str().to_ascii_lowercase()
            });
            f.unique(&format!("{at}/views"), "name", &v.views, |c| {
                c.name.as_str().to_ascii_lowercase()
            });
            if let Some(r) = &v.profile {
                f.ref_kind(format!("{at}/profile"), r, &[Kind::DataProfile]);
            }
            if let Some(r) = &v.schema {
                f.ref_kind(format!("{at}/schema"), r, &[Kind::DataSchema]);
            }
            check_data_path(f, &format!("{at}/definition"), &v.definition);
        }
        if let Some(current) = &self.current {
            match self.versions.iter().find(|v| &v.version == current) {
                None => {
                    f.error(
                        "/spec/current",
                        format!("version `{current}` is not among the versions"),
                    );
                }
                Some(v) if v.status == Status::Archived => {
                    f.error(
                        "/spec/current",
                        format!("version `{current}` is Archived and cannot be current"),
                    )
                    .hint("reactivate it, or name another version");
                }
                Some(_) => {}
            }
        }
    }
}

/// Reports a DataPath that does not give exactly one of path, table and query.
pub fn check_data_path(f: &mut Findings, at: &str, p: &DataPath) {
    let given = [p.path.is_some(), p.table.is_some(), p.query.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given != 1 {
        f.error(
            at,
            format!("a data path gives exactly one of `path`, `table` and `query`; this one gives {given}"),
        );
    }
}

/// What an artifact holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ArtifactType {
    /// A trained model.
    Model,
    /// A data file or table.
    Data,
    /// A metrics or report file.
    Report,
    /// A log.
    Log,
    /// An image or plot.
    Image,
    /// Source code or a notebook.
    Code,
    /// Anything else.
    Other,
}

/// Data produced by a run.
///
/// Rules: the name (`metadata.name`) is unique among the artifacts of its producing run (checked
/// across the documents validated together, and by the store); `run` refers to a Run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArtifactSpec {
    /// The run that produced it.
    pub run: Ref,
    /// What it holds.
    #[serde(rename = "type")]
    pub artifact_type: ArtifactType,
    /// Where it is.
    pub path: DataPath,
    /// Its content digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type, e.g. `application/octet-stream`.
    pub media_type: MediaType,
}

impl Rules for ArtifactSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/run", &self.run, &[Kind::Run]);
        check_data_path(f, "/spec/path", &self.path);
    }
}

/// The connector that read a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Connector {
    /// Comma- (or otherwise) separated values.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// JSON Lines.
    Jsonl,
    /// An SQL query against a database datastore.
    Sql,
    /// Another connector, named in `options`.
    Other,
}

/// The source an ingestion read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestionSource {
    /// How it was read.
    pub connector: Connector,
    /// What was read: a path, a table or a query in a Datastore.
    pub data: DataPath,
    /// Connector options (delimiter, header, compression, …).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub options: Params,
}

/// One shard of a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Shard {
    /// The shard's id, unique within the snapshot.
    pub id: Key,
    /// Where the shard is.
    pub path: DataPath,
    /// Its content digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its row count, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// The content-addressed result of an ingestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Snapshot {
    /// The digest of the whole snapshot (over its shard manifest).
    pub digest: Digest,
    /// Total rows.
    pub rows: u64,
    /// Total bytes.
    pub bytes: u64,
    /// The shards; rows and bytes add up to the totals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<Shard>,
    /// Whether the shard manifest is signed (see `mlspec data sign`).
    #[serde(default)]
    pub signed: bool,
}

/// How the data was labelled, when people or a tool added labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Labelling {
    /// The labelling tool or vendor.
    pub tool: ShortText,
    /// The guidelines labellers followed (a URL or document reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidelines: Option<ShortText>,
    /// How many annotators labelled each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotators_per_item: Option<u32>,
    /// Inter-annotator agreement (e.g. Cohen's kappa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<f64>,
}

/// How synthetic data was generated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyntheticGeneration {
    /// The generator (a tool, a model, a script).
    pub generator: ShortText,
    /// Its parameters.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub parameters: Params,
    /// The random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The fraction of rows that are synthetic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
}

/// How data was brought in.
///
/// Rules: `finishedAt` is not before `startedAt`; shard ids are unique and shard rows and bytes
/// add up to the snapshot totals; `dataset` refers to a Dataset; a synthetic fraction is in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestionSpec {
    /// What was read.
    pub source: IngestionSource,
    /// The Dataset version the snapshot became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Ref>,
    /// The snapshot taken.
    pub snapshot: Snapshot,
    /// The run that did the ingestion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Labelling metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labelling: Option<Labelling>,
    /// Synthetic-generation metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticGeneration>,
}

impl Rules for IngestionSpec {
    fn check(&self, f: &mut Findings) {
        check_data_path(f, "/spec/source/data", &self.source.data);
        f.ordered(
            "/spec/finishedAt",
            Some(&self.started_at),
            self.finished_at.as_ref(),
            "the ingestion finishes before it starts",
        );
        if let Some(r) = &self.dataset {
            f.ref_kind("/spec/dataset", r, &[Kind::Dataset]);
        }
        let shards = &self.snapshot.shards;
        f.unique("/spec/snapshot/shards", "id", shards, |s| &s.id);
        if !shards.is_empty() {
            let bytes: u64 = shards.iter().map(|s| s.bytes).sum();
            if bytes != self.snapshot.bytes {
                f.error(
                    "/spec/snapshot/bytes",
                    format!(
                        "the shards hold {bytes} bytes, the snapshot says {}",
                        self.snapshot.bytes
                    ),
                );
            }
            if shards.iter().all(|s| s.rows.is_some()) {
                let rows: u64 = shards.iter().filter_map(|s| s.rows).sum();
                if rows != self.snapshot.rows {
                    f.error(
                        "/spec/snapshot/rows",
                        format!("the shards hold {rows} rows, the snapshot says {}", self.snapshot.rows),
                    );
                }
            }
        }
        if let Some(fraction) = self.synthetic.as_ref().and_then(|s| s.fraction)
            && !(0.0..=1.0).contains(&fraction)
        {
            f.error("/spec/synthetic/fraction", "a fraction is between 0 and 1");
        }
    }
}

/// The logical type of a feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FeatureType {
    /// Whole numbers.
    Integer,
    /// Real numbers.
    Float,
    /// Text or categories.
    String,
    /// True/false.
    Boolean,
    /// Points in time.
    Timestamp,
    /// Raw bytes.
    Bytes,
}

/// A quantile of a numeric feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Quantile {
    /// The rank, in [0, 1].
    pub q: f64,
    /// The value at that rank.
    pub value: f64,
}

/// A histogram bucket `[low, high)` (the last one closed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bucket {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Values in the bucket.
    pub count: u64,
}

/// Outliers of a numeric feature by one method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Outliers {
    /// `iqr` (Tukey fences) or `zscore`.
    pub method: ShortText,
    /// The threshold (IQR multiplier or |z|).
    pub threshold: f64,
    /// How many values lie outside.
    pub count: u64,
    /// Whether `count` is an estimate from the quantile sketch (a merged profile whose tails
    /// held more values than its sketch keeps); `mlspec data profile` counts exactly.
    #[serde(default)]
    pub estimated: bool,
    /// Example row numbers (0-based).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub example_rows: Vec<u64>,
}

/// Statistics of a numeric feature, over its finite values (NaN and infinities are counted in
/// the feature's `nanCount` and `…InfinityCount`, never described here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NumericStats {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub std_dev: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Number of zeros.
    #[serde(default)]
    pub zeros: u64,
    /// Quantiles from a mergeable sketch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<Quantile>,
    /// The sketch's normalized rank error bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_error: Option<f64>,
    /// Equal-width histogram.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram: Vec<Bucket>,
    /// Outliers by method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outliers: Vec<Outliers>,
}

/// A frequent value and its count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValueCount {
    /// The value.
    pub value: String,
    /// How often it occurs.
    pub count: u64,
}

/// Statistics of a string or categorical feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StringStats {
    /// Distinct values (exact or estimated).
    pub distinct: u64,
    /// Whether `distinct` is an estimate (HyperLogLog).
    #[serde(default)]
    pub distinct_estimated: bool,
    /// The most frequent values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_values: Vec<ValueCount>,
    /// Shortest length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Longest length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Mean length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_length: Option<f64>,
}

/// A value and the row it was seen at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RowValue {
    /// The row (0-based).
    pub row: u64,
    /// The value.
    pub value: f64,
}

/// The mergeable state behind a feature's statistics: with it, profiles of parts of a dataset
/// merge into the profile of the whole (`mlspec data profile merge`). Sketches are in Apache
/// DataSketches' binary formats, base64-encoded, so other DataSketches libraries read them too.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeatureSketch {
    /// Numeric: the sum of squared deviations from the mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m2: Option<f64>,
    /// Numeric: the KLL quantile sketch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kll: Option<String>,
    /// Numeric: the smallest values with their rows, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lows: Vec<RowValue>,
    /// Numeric: the largest values with their rows, descending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub highs: Vec<RowValue>,
    /// String: the total length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_length: Option<u64>,
    /// String: every value's count, while the feature has few enough distinct values to count
    /// exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<ValueCount>>,
    /// String: the HyperLogLog distinct-count sketch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hll: Option<String>,
    /// String: the frequent-items sketch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequent: Option<String>,
}

/// Statistics of one feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeatureStats {
    /// The feature (column) name.
    pub name: Key,
    /// Its type.
    #[serde(rename = "type")]
    pub feature_type: FeatureType,
    /// Values present.
    pub count: u64,
    /// Values missing (null or empty; NaN too, for numeric features).
    pub missing: u64,
    /// NaN values among the missing ones (numeric features; absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nan_count: Option<u64>,
    /// `+Infinity` values among the present ones (numeric features; absent when none). They are
    /// counted, not described: the numeric statistics cover the finite values only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_infinity_count: Option<u64>,
    /// `-Infinity` values among the present ones (numeric features; absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_infinity_count: Option<u64>,
    /// Numeric statistics (integer and float features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStats>,
    /// String statistics (string features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<StringStats>,
    /// Number of true values (boolean features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_count: Option<u64>,
    /// Earliest value (timestamp features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest: Option<Timestamp>,
    /// Latest value (timestamp features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<Timestamp>,
    /// The coarsest unit every value is a whole multiple of (timestamp features): `day`,
    /// `hour`, `minute`, `second`, `millisecond` or `microsecond`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<ShortText>,
    /// The state to merge this profile with profiles of other parts of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<FeatureSketch>,
}

/// The profile of one slice of the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SliceProfile {
    /// The slice's name, e.g. `species=Adelie` or `island=Biscoe,sex=F`.
    pub name: ShortText,
    /// The column values that define it.
    pub filter: Tags,
    /// Rows in the slice.
    pub rows: u64,
    /// Per-feature statistics of the slice.
    pub features: Vec<FeatureStats>,
}

/// Per-feature statistics of a dataset.
///
/// Rules: feature names are unique (in the profile and in each slice); in every feature
/// `count + missing` equals the profile's (or slice's) `rows`, `nanCount` is at most `missing`
/// and the infinity counts add up to at most `count`; `min <= max`; quantile ranks lie in
/// [0, 1] and are increasing; slice names are unique.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataProfileSpec {
    /// The dataset (version) profiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Ref>,
    /// Its content digest at profiling time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Rows profiled.
    pub rows: u64,
    /// Per-feature statistics.
    pub features: Vec<FeatureStats>,
    /// Per-slice profiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceProfile>,
}

fn check_features(f: &mut Findings, at: &str, rows: u64, features: &[FeatureStats]) {
    f.unique(at, "name", features, |x| &x.name);
    for (i, feature) in features.iter().enumerate() {
        if feature.nan_count.unwrap_or(0) > feature.missing {
            f.error(
                format!("{at}/{i}/nanCount"),
                "NaN values are missing values: nanCount cannot exceed missing",
            );
        }
        let infinities = feature
            .positive_infinity_count
            .unwrap_or(0)
            .checked_add(feature.negative_infinity_count.unwrap_or(0));
        if infinities.is_none_or(|n| n > feature.count) {
            f.error(
                format!("{at}/{i}/positiveInfinityCount"),
                "infinite values are present values: the infinity counts cannot exceed count",
            );
        }
        if feature.count.checked_add(feature.missing) != Some(rows) {
            f.error(
                format!("{at}/{i}/count"),
                format!(
                    "count {} + missing {} should equal the {rows} rows profiled",
                    feature.count, feature.missing
                ),
            );
        }
        if let Some(n) = &feature.numeric {
            if n.min > n.max {
                f.error(format!("{at}/{i}/numeric/min"), "min is greater than max");
            }
            let ranks: Vec<f64> = n.quantiles.iter().map(|q| q.q).collect();
            if ranks.iter().any(|q| !(0.0..=1.0).contains(q)) || ranks.windows(2).any(|w| w[0] >= w[1]) {
                f.error(
                    format!("{at}/{i}/numeric/quantiles"),
                    "quantile ranks must lie in [0, 1] and increase",
                );
            }
        }
    }
}

impl Rules for DataProfileSpec {
    fn check(&self, f: &mut Findings) {
        if let Some(r) = &self.dataset {
            f.ref_kind("/spec/dataset", r, &[Kind::Dataset, Kind::Artifact]);
        }
        check_features(f, "/spec/features", self.rows, &self.features);
        f.unique("/spec/slices", "name", &self.slices, |s| &s.name);
        for (i, slice) in self.slices.iter().enumerate() {
            check_features(f, &format!("/spec/slices/{i}/features"), slice.rows, &slice.features);
        }
    }
}

/// How a feature is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MappingType {
    /// Each distinct value to an integer (`vocabulary`).
    Vocabulary,
    /// Numbers to bucket indices (`boundaries`).
    Bucketize,
    /// Standardize to zero mean and unit variance (`parameters.mean`, `parameters.stdDev`).
    Standardize,
    /// Rescale to [0, 1] (`parameters.min`, `parameters.max`).
    MinMax,
    /// One indicator column per value.
    OneHot,
    /// Hash into a fixed number of buckets (`parameters.buckets`).
    Hash,
    /// Fill missing values (`parameters.strategy`: `mean`, `median`, `mostFrequent` or
    /// `constant`; `parameters.value`: the value filled in).
    Impute,
    /// Limit numbers to a range (`parameters.min`, `parameters.max`, either may be absent).
    Clip,
    /// The natural logarithm of the value plus `parameters.offset` (0 when absent).
    Log,
    /// A custom function (described in `parameters`).
    Custom,
}

/// A mapping of one input feature to one output feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeatureMapping {
    /// The input feature.
    pub feature: Key,
    /// The output feature (default: the same name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Key>,
    /// The mapping.
    #[serde(rename = "type")]
    pub mapping_type: MappingType,
    /// For `vocabulary`: value → integer; integers are unique.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub vocabulary: UniqueMap<String, i64>,
    /// For `bucketize`: increasing boundaries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundaries: Vec<f64>,
    /// Parameters of the mapping.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub parameters: Params,
}

/// An outlier-removal rule and what it removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutlierRule {
    /// The feature it looks at.
    pub feature: Key,
    /// `iqr`, `zscore` or `range`.
    pub method: ShortText,
    /// IQR multiplier, |z| threshold, or unused for `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// For `range`: the lowest kept value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// For `range`: the highest kept value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Rows removed by this rule.
    pub removed: u64,
}

/// Feature mappings and outlier removal applied to data.
///
/// Rules: at least one input; an applied transformation (with `rowsOut`) names at least one
/// output (a fitted one, not applied yet, may name none); vocabulary integers are unique within a mapping;
/// bucket boundaries increase; `rowsOut` equals `rowsIn` minus the rows the outlier rules removed
/// when both counts are given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransformationSpec {
    /// The data read.
    pub inputs: Vec<Ref>,
    /// The data written (none for a fitted transformation not applied yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Ref>,
    /// The run that applied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
    /// Feature mappings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<FeatureMapping>,
    /// Outlier-removal rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outlier_rules: Vec<OutlierRule>,
    /// Rows read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_in: Option<u64>,
    /// Rows written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_out: Option<u64>,
    /// The code that applied it, e.g. a git URL at a commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ShortText>,
}

impl Rules for TransformationSpec {
    fn check(&self, f: &mut Findings) {
        if self.inputs.is_empty() {
            f.error("/spec/inputs", "a transformation reads at least one input");
        }
        if self.outputs.is_empty() && self.rows_out.is_some() {
            f.error(
                "/spec/outputs",
                "an applied transformation (with rowsOut) names what it wrote",
            );
        }
        for (i, m) in self.mappings.iter().enumerate() {
            let mut codes: Vec<i64> = m.vocabulary.values().copied().collect();
            codes.sort_unstable();
            if codes.windows(2).any(|w| w[0] == w[1]) {
                f.error(
                    format!("/spec/mappings/{i}/vocabulary"),
                    "two values map to the same integer",
                );
            }
            if m.boundaries.windows(2).any(|w| w[0] >= w[1]) {
                f.error(
                    format!("/spec/mappings/{i}/boundaries"),
                    "bucket boundaries must increase",
                );
            }
        }
        if let (Some(rows_in), Some(rows_out)) = (self.rows_in, self.rows_out) {
            let removed: u64 = self.outlier_rules.iter().map(|r| r.removed).sum();
            if rows_in.checked_sub(removed) != Some(rows_out) {
                f.error(
                    "/spec/rowsOut",
                    format!("{rows_in} rows in minus {removed} removed is not {rows_out}"),
                );
            }
        }
    }
}

/// How often a feature must be present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Presence {
    /// Whether every row must have the feature as a column.
    #[serde(default)]
    pub required: bool,
    /// The least fraction of rows with a non-missing value, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fraction: Option<f64>,
}

/// The values a feature may take: a set, and/or a numeric range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Domain {
    /// The allowed values (for low-cardinality strings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The least allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The greatest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// NaN values are anomalies (as TFDV's `disallow_nan`); otherwise a NaN is a missing value,
    /// which `presence.minFraction` bounds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disallow_nan: bool,
    /// Infinite values are anomalies (as TFDV's `disallow_inf`); without it, an infinity is
    /// compared with `min` and `max` like any number.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disallow_infinity: bool,
}

/// What a feature must look like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeatureSchema {
    /// The feature (column) name.
    pub name: Key,
    /// Its type.
    #[serde(rename = "type")]
    pub feature_type: FeatureType,
    /// Presence requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Presence>,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// The L-infinity (categorical) or Jensen–Shannon (numeric) distance above which drift
    /// between consecutive spans is an anomaly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_threshold: Option<f64>,
    /// The same, between training and serving data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew_threshold: Option<f64>,
    /// A deprecated feature is tolerated when missing and warned about when present.
    #[serde(default)]
    pub deprecated: bool,
}

/// The expected shape of data.
///
/// Rules: feature names are unique; `min <= max` in every domain; presence fractions and
/// thresholds lie in [0, 1]; `dataset` refers to a Dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataSchemaSpec {
    /// The schema's version.
    pub version: Version,
    /// The dataset it was inferred from or written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Ref>,
    /// Whether columns not listed here are anomalies.
    #[serde(default)]
    pub allow_unknown_features: bool,
    /// The features.
    pub features: Vec<FeatureSchema>,
}

impl Rules for DataSchemaSpec {
    fn check(&self, f: &mut Findings) {
        if let Some(r) = &self.dataset {
            f.ref_kind("/spec/dataset", r, &[Kind::Dataset]);
        }
        f.unique("/spec/features", "name", &self.features, |x| &x.name);
        for (i, feature) in self.features.iter().enumerate() {
            let at = format!("/spec/features/{i}");
            if let Some(d) = &feature.domain {
                f.ordered(
                    format!("{at}/domain/max"),
                    d.min.as_ref(),
                    d.max.as_ref(),
                    "the domain's max is less than its min",
                );
            }
            let fractions = [
                (
                    "presence/minFraction",
                    feature.presence.as_ref().and_then(|p| p.min_fraction),
                ),
                ("driftThreshold", feature.drift_threshold),
                ("skewThreshold", feature.skew_threshold),
            ];
            for (field, value) in fractions {
                if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    f.error(format!("{at}/{field}"), "must lie in [0, 1]");
                }
            }
        }
    }
}

/// The kinds of anomaly data validation reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AnomalyKind {
    /// A required column is absent.
    MissingColumn,
    /// A column the schema does not list.
    UnexpectedColumn,
    /// Values of the wrong type.
    TypeMismatch,
    /// More missing values than allowed.
    TooManyMissing,
    /// Values outside the domain or range.
    OutOfDomain,
    /// A category never seen before.
    NewCategory,
    /// Rows with the wrong number of values.
    ValueCountMismatch,
    /// Distribution change between spans above the threshold.
    Drift,
    /// Distribution difference between training and serving above the threshold.
    Skew,
    /// The data or schema is deprecated.
    DeprecatedData,
}

/// Error or warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IssueSeverity {
    /// Blocks the data from use.
    Error,
    /// Reported; does not block.
    Warning,
}

/// One anomaly found in data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Anomaly {
    /// The feature concerned (none for whole-dataset anomalies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<Key>,
    /// What kind of anomaly.
    pub kind: AnomalyKind,
    /// How serious.
    pub severity: IssueSeverity,
    /// What was found.
    pub description: Text,
    /// How many values or rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The measured statistic (e.g. the drift distance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The threshold it was compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Example offending values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// Passed or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// No blocking problem.
    Passed,
    /// At least one blocking problem.
    Failed,
}

/// The result of validating data against a schema.
///
/// Rules: `result` is `failed` exactly when some anomaly has severity `error`; `dataset` refers to
/// a Dataset or Artifact and `schema` to a DataSchema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValidationReportSpec {
    /// The data validated.
    pub dataset: Ref,
    /// The schema used.
    pub schema: Ref,
    /// A baseline profile used for drift/skew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Ref>,
    /// When it was checked.
    pub checked_at: Timestamp,
    /// Rows checked.
    pub rows: u64,
    /// The anomalies found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<Anomaly>,
    /// The verdict.
    pub result: Outcome,
}

impl Rules for ValidationReportSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/dataset", &self.dataset, &[Kind::Dataset, Kind::Artifact]);
        f.ref_kind("/spec/schema", &self.schema, &[Kind::DataSchema]);
        let blocking = self.anomalies.iter().any(|a| a.severity == IssueSeverity::Error);
        let expected = if blocking { Outcome::Failed } else { Outcome::Passed };
        if self.result != expected {
            f.error("/spec/result", format!("result must be `{expected:?}`").to_lowercase())
                .hint("the result is failed exactly when an anomaly has severity error");
        }
    }
}

/// How rows were assigned to splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SplitMethod {
    /// By a stable hash of key columns: the same key always lands in the same split.
    Hash,
    /// By a seeded pseudo-random draw.
    Random,
    /// By a time column: earlier rows train, later rows test.
    Time,
}

/// The role of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SplitRole {
    /// Training data.
    Train,
    /// Validation (tuning) data.
    Validation,
    /// Evaluation data.
    Test,
    /// Held back for the final test stage only.
    Holdback,
    /// A small sample for debugging.
    Debug,
}

/// One output split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SplitPart {
    /// Its role; each role appears once.
    pub role: SplitRole,
    /// The requested fraction of rows, in [0, 1].
    pub fraction: f64,
    /// Rows that landed in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Its content digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Where it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Ref>,
    /// Its DataProfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Ref>,
}

/// The leakage check across splits, with a proof that can be re-checked later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeakageCheck {
    /// The key columns compared (empty: whole rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Key>,
    /// The columns rows were compared by (all but the ignored ones), which the row-hash
    /// digests cover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_columns: Vec<Key>,
    /// Rows found in more than one split.
    pub shared_rows: u64,
    /// Keys found in more than one split.
    #[serde(default)]
    pub shared_keys: u64,
    /// Digests of the per-split row-hash sets, by role.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub row_hash_digests: UniqueMap<Key, Digest>,
}

/// How a dataset was split.
///
/// Rules: the fractions sum to 1; each role appears once; `hash` needs `keys`, `random` a `seed`,
/// `time` a `timeColumn`; when row counts are given they add up to `rows`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SplitSpec {
    /// The data split.
    pub input: Ref,
    /// How rows were assigned.
    pub method: SplitMethod,
    /// Key columns for `hash`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Key>,
    /// Seed for `random`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Time column for `time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_column: Option<Key>,
    /// Rows in the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The splits.
    pub splits: Vec<SplitPart>,
    /// The leakage check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leakage: Option<LeakageCheck>,
}

impl Rules for SplitSpec {
    fn check(&self, f: &mut Findings) {
        let sum: f64 = self.splits.iter().map(|s| s.fraction).sum();
        if !approx_eq(sum, 1.0) {
            f.error("/spec/splits", format!("split fractions sum to {sum}, not 1"))
                .hint("adjust the fractions so that they add up to exactly 1");
        }
        for (i, s) in self.splits.iter().enumerate() {
            if !(0.0..=1.0).contains(&s.fraction) {
                f.error(format!("/spec/splits/{i}/fraction"), "a fraction is between 0 and 1");
            }
        }
        f.unique("/spec/splits", "role", &self.splits, |s| s.role);
        let missing = match self.method {
            SplitMethod::Hash if self.keys.is_empty() => Some("keys"),
            SplitMethod::Random if self.seed.is_none() => Some("seed"),
            SplitMethod::Time if self.time_column.is_none() => Some("timeColumn"),
            _ => None,
        };
        if let Some(field) = missing {
            f.error(
                "/spec/method",
                format!("the {:?} method needs `{field}`", self.method).to_lowercase(),
            );
        }
        if let Some(rows) = self.rows
            && self.splits.iter().all(|s| s.rows.is_some())
        {
            let total: u64 = self.splits.iter().filter_map(|s| s.rows).sum();
            if total != rows {
                f.error("/spec/rows", format!("the splits hold {total} rows, the input {rows}"));
            }
        }
    }
}

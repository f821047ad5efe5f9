//! The transform spec: the YAML file a user writes to say what to learn per feature, read into
//! a [`Plan`] and checked — first on its own (one final encoding per feature, increasing
//! boundaries), then against the data's columns ([`Plan::resolve`]). Every error names the
//! spec file, the entry (`features[2]`) and the feature, and says what to do.

use std::collections::HashSet;
use std::path::Path;

use arrow::datatypes::{DataType, Schema};
use serde::Deserialize;

use crate::error::{DataError, ErrorKind};

/// A transform spec file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    features: Vec<serde_json::Value>,
    #[serde(default)]
    outliers: Vec<serde_json::Value>,
}

/// One `features` entry, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FeatureEntry {
    feature: String,
    #[serde(default)]
    impute: Option<Impute>,
    #[serde(default)]
    clip: Option<Bounds>,
    #[serde(default)]
    log: Option<Switch<LogEntry>>,
    #[serde(default)]
    standardize: bool,
    #[serde(default)]
    min_max: bool,
    #[serde(default)]
    bucketize: Option<BucketizeEntry>,
    #[serde(default)]
    vocabulary: Option<Switch<VocabularyOptions>>,
    #[serde(default)]
    one_hot: Option<Switch<VocabularyOptions>>,
}

/// `true`/`false`, or the options of something switched on.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Switch<T> {
    On(bool),
    With(T),
}

impl<T: Default> Switch<T> {
    fn options(self) -> Option<T> {
        match self {
            Switch::On(true) => Some(T::default()),
            Switch::On(false) => None,
            Switch::With(options) => Some(options),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogEntry {
    #[serde(default)]
    offset: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketizeEntry {
    #[serde(default)]
    boundaries: Option<Vec<f64>>,
    #[serde(default)]
    quantiles: Option<u32>,
}

/// How missing values are filled, as written: a strategy or `{constant: VALUE}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Impute {
    /// Learned from the training data.
    Learned(Strategy),
    /// A given value.
    Constant {
        /// The value.
        constant: Constant,
    },
}

/// A learned imputation.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// The mean of the present values.
    Mean,
    /// The median of the present values (exact).
    Median,
    /// The most frequent value; the smallest of equally frequent ones.
    MostFrequent,
}

/// A constant to fill in.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Constant {
    /// A number.
    Number(f64),
    /// A text.
    Text(String),
}

/// A range with optional ends.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// The lowest value.
    #[serde(default)]
    pub min: Option<f64>,
    /// The highest value.
    #[serde(default)]
    pub max: Option<f64>,
}

/// What values a vocabulary keeps, and where the others go.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VocabularyOptions {
    /// Keep only the K most frequent values (ties: the smaller value first).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Keep only values seen at least this often.
    #[serde(default = "one")]
    pub min_frequency: u64,
    /// Out-of-vocabulary buckets after the vocabulary's codes (a vocabulary only).
    #[serde(default = "one_bucket")]
    pub oov_buckets: u32,
}

fn one() -> u64 {
    1
}

fn one_bucket() -> u32 {
    1
}

impl Default for VocabularyOptions {
    fn default() -> Self {
        VocabularyOptions {
            top_k: None,
            min_frequency: 1,
            oov_buckets: 1,
        }
    }
}

/// The last step of a feature's chain: what its values become.
#[derive(Clone, Debug, PartialEq)]
pub enum Encoding {
    /// Numbers stay numbers.
    Plain,
    /// (x − mean) / standard deviation.
    Standardize,
    /// (x − min) / (max − min).
    MinMax,
    /// The index of x's bucket among given boundaries.
    Bucketize(Vec<f64>),
    /// The index of x's bucket among boundaries at the learned quantiles.
    Quantiles(u32),
    /// Each kept value to an integer.
    Vocabulary(VocabularyOptions),
    /// One 0/1 column per kept value.
    OneHot(VocabularyOptions),
}

impl Encoding {
    /// Whether values are categories (encoded by a vocabulary) rather than numbers.
    pub fn categorical(&self) -> bool {
        matches!(self, Encoding::Vocabulary(_) | Encoding::OneHot(_))
    }
}

/// One feature's chain, in the order applied: impute → clip → log → encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct FeaturePlan {
    /// Its entry in the spec's `features`.
    pub entry: usize,
    /// The column.
    pub feature: String,
    /// How missing values are filled.
    pub impute: Option<Impute>,
    /// The range numbers are clipped to.
    pub clip: Option<Bounds>,
    /// The offset added before the natural logarithm.
    pub log: Option<f64>,
    /// The last step.
    pub encoding: Encoding,
}

impl FeaturePlan {
    /// Whether the chain works on a column of this type as text (categories, a text constant,
    /// or the most frequent of a text column's values) rather than as numbers.
    pub fn textual(&self, data_type: &DataType) -> bool {
        self.encoding.categorical()
            || match &self.impute {
                Some(Impute::Constant {
                    constant: Constant::Text(_),
                }) => true,
                Some(Impute::Learned(Strategy::MostFrequent)) => !numeric(data_type),
                _ => false,
            }
    }
}

/// How an outlier rule decides.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum OutlierMethod {
    /// Beyond `threshold` × IQR outside the quartiles (Tukey's fences).
    Iqr,
    /// |x − mean| / std beyond `threshold`.
    Zscore,
    /// Outside [min, max].
    Range,
}

impl OutlierMethod {
    /// The method's name in the spec.
    pub fn name(self) -> &'static str {
        match self {
            OutlierMethod::Iqr => "iqr",
            OutlierMethod::Zscore => "zscore",
            OutlierMethod::Range => "range",
        }
    }
}

/// One `outliers` entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutlierPlan {
    /// The numeric column it looks at.
    pub feature: String,
    /// How it decides.
    pub method: OutlierMethod,
    /// The IQR multiplier (default 1.5) or |z| limit (default 3).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// For `range`: the lowest kept value.
    #[serde(default)]
    pub min: Option<f64>,
    /// For `range`: the highest kept value.
    #[serde(default)]
    pub max: Option<f64>,
}

/// A checked transform spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The file it was read from (named in errors).
    pub file: String,
    /// Per feature, in the spec's order.
    pub features: Vec<FeaturePlan>,
    /// Outlier rules, in the spec's order.
    pub outliers: Vec<OutlierPlan>,
}

impl Plan {
    /// Reads and checks the spec file at `path`.
    pub fn read(path: &Path) -> Result<Plan, DataError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot read the transform spec: {e}")))?;
        Plan::parse(&text, &file)
    }

    /// Parses and checks a spec's text; `file` is named in errors.
    pub fn parse(text: &str, file: &str) -> Result<Plan, DataError> {
        let raw: SpecFile = serde_saphyr::from_str(text).map_err(|e| {
            let at = e
                .location()
                .filter(|l| l.line() > 0)
                .map(|l| format!("line {}, column {}", l.line(), l.column()));
            let error = DataError::new(
                ErrorKind::InvalidArgument,
                file,
                format!("not a transform spec: {}", mlspec_spec::validate::yaml_message(&e)),
            )
            .with_hint("a transform spec is a YAML mapping with `features` (a list) and `outliers` (a list); see docs/transform.md");
            match at {
                Some(at) => error.at(at),
                None => error,
            }
        })?;
        if raw.features.is_empty() && raw.outliers.is_empty() {
            return Err(DataError::new(
                ErrorKind::Empty,
                file,
                "the transform spec has no features and no outliers",
            )
            .with_hint(
                "list what to learn under `features`, and rows to drop under `outliers`; see docs/transform.md",
            ));
        }
        let mut features = Vec::new();
        let mut seen = HashSet::new();
        for (entry, value) in raw.features.into_iter().enumerate() {
            let plan = feature_plan(file, entry, value)?;
            if !seen.insert(plan.feature.clone()) {
                return Err(entry_error(
                    file,
                    "features",
                    entry,
                    Some(&plan.feature),
                    "the feature is listed twice",
                )
                .with_hint("give each feature one entry with all its steps"));
            }
            features.push(plan);
        }
        let outliers = raw
            .outliers
            .into_iter()
            .enumerate()
            .map(|(entry, value)| outlier_plan(file, entry, value))
            .collect::<Result<_, _>>()?;
        Ok(Plan {
            file: file.to_owned(),
            features,
            outliers,
        })
    }

    /// Checks the plan against the data's columns: every feature exists, and has a type its
    /// steps can work on. `data` is the data file (named in errors).
    pub fn resolve(&self, schema: &Schema, data: &str) -> Result<(), DataError> {
        for plan in &self.features {
            let data_type = column_type(&self.file, "features", plan.entry, &plan.feature, schema, data)?;
            if let Some(why) = unsuitable(plan, data_type) {
                return Err(
                    entry_error(&self.file, "features", plan.entry, Some(&plan.feature), why.0).with_hint(why.1),
                );
            }
        }
        for (entry, rule) in self.outliers.iter().enumerate() {
            let data_type = column_type(&self.file, "outliers", entry, &rule.feature, schema, data)?;
            if !numeric(data_type) {
                return Err(entry_error(
                    &self.file,
                    "outliers",
                    entry,
                    Some(&rule.feature),
                    format!(
                        "an outlier rule needs a numeric column, and `{}` is {data_type} in {data}",
                        rule.feature
                    ),
                )
                .with_hint("drop the rule, or read the column as a number (--type COL=float)"));
            }
        }
        Ok(())
    }

    /// The columns the plan reads, as indexes into `schema` (after [`Plan::resolve`]).
    pub fn columns(&self, schema: &Schema) -> Vec<usize> {
        let mut columns: Vec<usize> = self
            .features
            .iter()
            .map(|f| f.feature.as_str())
            .chain(self.outliers.iter().map(|o| o.feature.as_str()))
            .filter_map(|name| schema.index_of(name).ok())
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }
}

/// Whether a column of this type holds numbers.
pub fn numeric(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating()
}

/// Whether a column of this type can be read as categories.
fn categorical(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
        )
}

/// Why the plan's steps cannot work on a column of this type, and what to do.
fn unsuitable(plan: &FeaturePlan, data_type: &DataType) -> Option<(String, &'static str)> {
    let feature = &plan.feature;
    if plan.encoding.categorical() {
        return (!categorical(data_type)).then(|| {
            (
                format!("a vocabulary or one-hot encoding needs a text, boolean or integer column, and `{feature}` is {data_type}"),
                "bucketize a float column instead, or read it as text (--type COL=string)",
            )
        });
    }
    if plan.textual(data_type) {
        return (!categorical(data_type)).then(|| {
            (
                format!("`{feature}` is {data_type}, which cannot be imputed as text"),
                "give a number as the constant, or impute a text, boolean or integer column",
            )
        });
    }
    (!numeric(data_type)).then(|| {
        (
            format!("{} needs a numeric column, and `{feature}` is {data_type}", numeric_steps(plan)),
            "use `vocabulary` or `oneHot` (with `impute: mostFrequent` or a text constant) for text, or read the column as a number (--type COL=float)",
        )
    })
}

/// The numeric steps a plan names, for messages.
fn numeric_steps(plan: &FeaturePlan) -> String {
    let mut steps = Vec::new();
    if let Some(impute) = &plan.impute {
        steps.push(match impute {
            Impute::Learned(Strategy::Mean) => "impute: mean",
            Impute::Learned(Strategy::Median) => "impute: median",
            Impute::Learned(Strategy::MostFrequent) => "impute: mostFrequent",
            Impute::Constant { .. } => "impute: constant",
        });
    }
    if plan.clip.is_some() {
        steps.push("clip");
    }
    if plan.log.is_some() {
        steps.push("log");
    }
    steps.push(match plan.encoding {
        Encoding::Standardize => "standardize",
        Encoding::MinMax => "minMax",
        Encoding::Bucketize(_) | Encoding::Quantiles(_) => "bucketize",
        _ => "",
    });
    steps.retain(|s| !s.is_empty());
    format!("`{}`", steps.join("`, `"))
}

/// The type of the column an entry names, or a located NoSuchColumn error.
fn column_type<'a>(
    file: &str,
    list: &str,
    entry: usize,
    feature: &str,
    schema: &'a Schema,
    data: &str,
) -> Result<&'a DataType, DataError> {
    match schema.field_with_name(feature) {
        Ok(field) => Ok(field.data_type()),
        Err(_) => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Err(entry_error(
                file,
                list,
                entry,
                Some(feature),
                format!("{data} has no column `{feature}`"),
            )
            .with_kind(ErrorKind::NoSuchColumn)
            .with_hint(format!(
                "name one of its columns ({}), or remove the entry",
                shortened(&names)
            )))
        }
    }
}

/// Up to 20 names, then how many more.
fn shortened(names: &[&str]) -> String {
    let mut text = names.iter().take(20).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 20 {
        text.push_str(&format!(", … {} more", names.len() - 20));
    }
    text
}

/// An InvalidArgument error about entry `entry` of `list` in the spec `file`.
fn entry_error(file: &str, list: &str, entry: usize, feature: Option<&str>, message: impl Into<String>) -> DataError {
    let error = DataError::new(ErrorKind::InvalidArgument, file, message).at(format!("{list}[{entry}]"));
    match feature {
        Some(feature) => error.with_column(feature),
        None => error,
    }
}

impl DataError {
    fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

/// The feature an entry names, if it names one (for errors about an entry that does not parse).
fn named_feature(value: &serde_json::Value) -> Option<String> {
    value.get("feature").and_then(|f| f.as_str()).map(str::to_owned)
}

fn feature_plan(file: &str, entry: usize, value: serde_json::Value) -> Result<FeaturePlan, DataError> {
    let name = named_feature(&value);
    let raw: FeatureEntry = serde_json::from_value(value).map_err(|e| {
        entry_error(file, "features", entry, name.as_deref(), format!("not a feature entry: {}", entry_message(&e)))
            .with_hint("an entry is `{feature: NAME, …}` with impute, clip, log and one of standardize, minMax, bucketize, vocabulary, oneHot; see docs/transform.md")
    })?;
    let fail = |message: String, hint: &str| {
        Err(entry_error(file, "features", entry, Some(&raw.feature), message).with_hint(hint.to_owned()))
    };
    let mut encodings = Vec::new();
    if raw.standardize {
        encodings.push(Encoding::Standardize);
    }
    if raw.min_max {
        encodings.push(Encoding::MinMax);
    }
    if let Some(bucketize) = &raw.bucketize {
        encodings.push(match (&bucketize.boundaries, bucketize.quantiles) {
            (Some(boundaries), None) => {
                if boundaries.is_empty()
                    || boundaries.iter().any(|b| !b.is_finite())
                    || boundaries.windows(2).any(|w| w[0] >= w[1])
                {
                    return fail(
                        format!("the bucket boundaries {boundaries:?} do not increase"),
                        "list at least one boundary, each greater than the one before",
                    );
                }
                Encoding::Bucketize(boundaries.clone())
            }
            (None, Some(quantiles)) if quantiles >= 2 => Encoding::Quantiles(quantiles),
            (None, Some(quantiles)) => {
                return fail(
                    format!("{quantiles} quantile buckets cannot split anything"),
                    "ask for at least 2",
                );
            }
            _ => {
                return fail(
                    "`bucketize` takes either `boundaries` or `quantiles`".into(),
                    "e.g. `bucketize: {boundaries: [0.2, 0.5]}` or `bucketize: {quantiles: 4}`",
                );
            }
        });
    }
    if let Some(options) = raw.vocabulary.and_then(Switch::options) {
        encodings.push(Encoding::Vocabulary(options));
    }
    if let Some(options) = raw.one_hot.and_then(Switch::options) {
        encodings.push(Encoding::OneHot(options));
    }
    if encodings.len() > 1 {
        return fail(
            "the entry asks for more than one encoding".into(),
            "choose one of standardize, minMax, bucketize, vocabulary and oneHot per feature",
        );
    }
    let encoding = encodings.pop().unwrap_or(Encoding::Plain);
    if let Encoding::Vocabulary(options) | Encoding::OneHot(options) = &encoding {
        if options.top_k == Some(0) || options.oov_buckets == 0 {
            return fail(
                "`topK` and `oovBuckets` must be at least 1".into(),
                "leave them out for all values and one out-of-vocabulary bucket",
            );
        }
        if raw.clip.is_some() || raw.log.is_some() {
            return fail(
                "clip and log work on numbers, and a vocabulary or one-hot encoding on categories".into(),
                "drop clip and log, or bucketize the feature instead",
            );
        }
        if matches!(raw.impute, Some(Impute::Learned(Strategy::Mean | Strategy::Median))) {
            return fail(
                "a mean or median is not a category".into(),
                "impute categories with `mostFrequent` or `{constant: VALUE}`",
            );
        }
    }
    if let Some(clip) = &raw.clip {
        let bad = clip.min.is_none() && clip.max.is_none()
            || matches!((clip.min, clip.max), (Some(min), Some(max)) if min > max)
            || [clip.min, clip.max].iter().flatten().any(|v| !v.is_finite());
        if bad {
            return fail(
                "`clip` needs a finite `min`, `max` or both, with min ≤ max".into(),
                "e.g. `clip: {min: 0, max: 100}`",
            );
        }
    }
    let log = raw.log.and_then(Switch::options).map(|l| l.offset);
    if log.is_some_and(|offset| !offset.is_finite()) {
        return fail(
            "the log offset is not a finite number".into(),
            "e.g. `log: {offset: 1}`",
        );
    }
    if matches!(&raw.impute, Some(Impute::Constant { constant: Constant::Number(v) }) if !v.is_finite()) {
        return fail(
            "the constant is not a finite number".into(),
            "give a finite number or a text",
        );
    }
    if encoding == Encoding::Plain && raw.impute.is_none() && raw.clip.is_none() && log.is_none() {
        return fail(
            "the entry asks for nothing".into(),
            "add a step (impute, clip, log, standardize, minMax, bucketize, vocabulary, oneHot), or remove the entry",
        );
    }
    Ok(FeaturePlan {
        entry,
        feature: raw.feature,
        impute: raw.impute,
        clip: raw.clip,
        log,
        encoding,
    })
}

fn outlier_plan(file: &str, entry: usize, value: serde_json::Value) -> Result<OutlierPlan, DataError> {
    let name = named_feature(&value);
    let rule: OutlierPlan = serde_json::from_value(value).map_err(|e| {
        entry_error(file, "outliers", entry, name.as_deref(), format!("not an outlier rule: {}", entry_message(&e)))
            .with_hint("a rule is `{feature: NAME, method: iqr|zscore|range, threshold: T}` or `{…, method: range, min: A, max: B}`")
    })?;
    let fail = |message: &str, hint: &str| {
        Err(entry_error(file, "outliers", entry, Some(&rule.feature), message).with_hint(hint.to_owned()))
    };
    match rule.method {
        OutlierMethod::Range => {
            if rule.threshold.is_some() {
                return fail("a range rule has no threshold", "give `min`, `max` or both");
            }
            if rule.min.is_none() && rule.max.is_none() {
                return fail(
                    "a range rule needs `min`, `max` or both",
                    "e.g. `{method: range, min: 0, max: 120}`",
                );
            }
            if [rule.min, rule.max].iter().flatten().any(|v| !v.is_finite())
                || matches!((rule.min, rule.max), (Some(min), Some(max)) if min > max)
            {
                return fail(
                    "the range's min and max must be finite, with min ≤ max",
                    "e.g. `{method: range, min: 0, max: 120}`",
                );
            }
        }
        OutlierMethod::Iqr | OutlierMethod::Zscore => {
            if rule.min.is_some() || rule.max.is_some() {
                return fail(
                    "`min` and `max` are learned for iqr and zscore rules",
                    "give only `threshold`, or use `method: range`",
                );
            }
            if rule.threshold.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
                return fail(
                    "the threshold must be a positive number",
                    "e.g. 1.5 for iqr, 3 for zscore",
                );
            }
        }
    }
    Ok(rule)
}

/// serde's message for an entry, without serde_json's position (an entry has none of its own).
fn entry_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    text.replace(
        "data did not match any variant of untagged enum Impute",
        "impute is `mean`, `median`, `mostFrequent` or `{constant: VALUE}`",
    )
    .replace(
        "data did not match any variant of untagged enum Switch",
        "expected `true`, `false` or a mapping of options",
    )
}

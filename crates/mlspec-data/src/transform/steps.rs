//! Fitted steps: what `fit` learned for one feature, as the chain `apply` runs, and its
//! record in a Transformation document — one [`FeatureMapping`] per step, in the order applied.
//! The same functions read a chain back from a document, so `apply` uses exactly the recorded
//! values.

use std::collections::{BTreeMap, HashMap};

use mlspec_spec::kinds::{FeatureMapping, MappingType};
use mlspec_spec::newtypes::Key;
use mlspec_spec::values::{ParamValue, Params, UniqueMap};

use crate::error::{DataError, ErrorKind};

/// A value filled in for a missing one.
#[derive(Clone, Debug, PartialEq)]
pub enum Fill {
    /// In a numeric chain.
    Number(f64),
    /// In a text chain.
    Text(String),
}

/// One fitted step.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Missing values become `fill` (learned by `strategy`: mean, median, mostFrequent, constant).
    Impute {
        /// How the value was chosen.
        strategy: String,
        /// The value.
        fill: Fill,
    },
    /// Numbers below `min` become `min`, above `max` become `max`.
    Clip {
        /// The lowest value.
        min: Option<f64>,
        /// The highest value.
        max: Option<f64>,
    },
    /// ln(x + offset); null where x + offset ≤ 0.
    Log {
        /// Added first.
        offset: f64,
    },
    /// (x − mean) / stdDev (divided by 1 when stdDev is 0, as scikit-learn does).
    Standardize {
        /// The training mean.
        mean: f64,
        /// The training population standard deviation.
        std_dev: f64,
    },
    /// (x − min) / (max − min) (divided by 1 when max = min).
    MinMax {
        /// The training minimum.
        min: f64,
        /// The training maximum.
        max: f64,
    },
    /// The number of boundaries ≤ x: bucket 0 below the first boundary.
    Bucketize {
        /// Increasing boundaries.
        boundaries: Vec<f64>,
        /// The number of quantile buckets they were learned for, if they were.
        quantiles: Option<u32>,
    },
    /// A value's code; values outside the vocabulary go to one of `oov_buckets` codes after
    /// the largest.
    Vocabulary {
        /// Value → code.
        codes: HashMap<String, i64>,
        /// Out-of-vocabulary buckets.
        oov_buckets: u32,
    },
    /// One 0/1 column per value, named `<feature>_<value>`; other values are all 0.
    OneHot {
        /// The values, in column order.
        values: Vec<String>,
    },
}

impl Step {
    /// Whether the step makes categories of values (and ends a text chain).
    pub fn categorical(&self) -> bool {
        matches!(self, Step::Vocabulary { .. } | Step::OneHot { .. })
    }

    /// The first out-of-vocabulary code: one past the largest code.
    pub fn first_oov(codes: &HashMap<String, i64>) -> i64 {
        codes.values().max().map_or(0, |max| max.saturating_add(1))
    }
}

/// A feature's fitted chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// The input column.
    pub feature: String,
    /// The output column (one-hot: the prefix of the output columns); the feature's name when
    /// absent.
    pub output: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Chain {
    /// Whether the chain reads its column as text (categories or a text fill).
    pub fn textual(&self) -> bool {
        self.steps.iter().any(|s| {
            s.categorical()
                || matches!(
                    s,
                    Step::Impute {
                        fill: Fill::Text(_),
                        ..
                    }
                )
        })
    }

    /// The output column's name (or one-hot prefix).
    pub fn output_name(&self) -> &str {
        self.output.as_deref().unwrap_or(&self.feature)
    }

    /// The chain as mappings of a Transformation document.
    pub fn mappings(&self) -> Result<Vec<FeatureMapping>, DataError> {
        let feature = Key::new(self.feature.as_str()).map_err(|e| {
            DataError::new(
                ErrorKind::InvalidArgument,
                "the Transformation document",
                format!("the feature name cannot be recorded: {e}"),
            )
            .with_column(&self.feature)
            .with_hint("rename the column to letters, digits, `_`, `.`, `/`, `:`, `-` and spaces")
        })?;
        let output = self.output.as_deref().map(Key::new).transpose().map_err(|e| {
            DataError::new(ErrorKind::InvalidArgument, "the Transformation document", e.to_string())
                .with_column(&self.feature)
        })?;
        self.steps
            .iter()
            .map(|step| mapping(step, &feature, output.clone()))
            .collect()
    }
}

/// Parameters from name–value pairs.
fn params(pairs: &[(&str, Option<ParamValue>)]) -> Result<Params, DataError> {
    pairs
        .iter()
        .filter_map(|(name, value)| value.clone().map(|v| (*name, v)))
        .map(|(name, value)| {
            Key::new(name)
                .map(|key| (key, value))
                .map_err(|e| DataError::new(ErrorKind::Internal, "the Transformation document", e.to_string()))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map(UniqueMap)
}

fn number(v: f64) -> Option<ParamValue> {
    Some(ParamValue::Number(v))
}

fn text(v: &str) -> Option<ParamValue> {
    Some(ParamValue::String(v.to_owned()))
}

/// One step's mapping.
fn mapping(step: &Step, feature: &Key, output: Option<Key>) -> Result<FeatureMapping, DataError> {
    let mut vocabulary = UniqueMap::default();
    let mut boundaries = Vec::new();
    let (mapping_type, parameters) = match step {
        Step::Impute { strategy, fill } => (
            MappingType::Impute,
            params(&[
                ("strategy", text(strategy)),
                (
                    "value",
                    Some(match fill {
                        Fill::Number(v) => ParamValue::Number(*v),
                        Fill::Text(t) => ParamValue::String(t.clone()),
                    }),
                ),
            ])?,
        ),
        Step::Clip { min, max } => (
            MappingType::Clip,
            params(&[("min", min.and_then(number)), ("max", max.and_then(number))])?,
        ),
        Step::Log { offset } => (MappingType::Log, params(&[("offset", number(*offset))])?),
        Step::Standardize { mean, std_dev } => (
            MappingType::Standardize,
            params(&[("mean", number(*mean)), ("stdDev", number(*std_dev))])?,
        ),
        Step::MinMax { min, max } => (
            MappingType::MinMax,
            params(&[("min", number(*min)), ("max", number(*max))])?,
        ),
        Step::Bucketize {
            boundaries: given,
            quantiles,
        } => {
            boundaries = given.clone();
            (
                MappingType::Bucketize,
                params(&[("quantiles", quantiles.map(|q| ParamValue::Number(f64::from(q))))])?,
            )
        }
        Step::Vocabulary { codes, oov_buckets } => {
            vocabulary = UniqueMap(codes.iter().map(|(k, v)| (k.clone(), *v)).collect());
            (
                MappingType::Vocabulary,
                params(&[("oovBuckets", number(f64::from(*oov_buckets)))])?,
            )
        }
        Step::OneHot { values } => {
            vocabulary = UniqueMap(values.iter().cloned().zip(0i64..).collect());
            (MappingType::OneHot, Params::default())
        }
    };
    Ok(FeatureMapping {
        feature: feature.clone(),
        output,
        mapping_type,
        vocabulary,
        boundaries,
        parameters,
    })
}

/// The chains a Transformation's mappings describe: consecutive mappings of one feature form
/// its chain. `file` (the fitted document) is named in errors, with the mapping's place.
pub fn chains(mappings: &[FeatureMapping], file: &str) -> Result<Vec<Chain>, DataError> {
    let mut chains: Vec<Chain> = Vec::new();
    for (index, mapping) in mappings.iter().enumerate() {
        let feature = mapping.feature.as_str();
        let fail = |message: String, hint: &str| {
            DataError::new(ErrorKind::InvalidArgument, file, message)
                .at(format!("mappings[{index}]"))
                .with_column(feature)
                .with_hint(hint.to_owned())
        };
        let step = step(mapping).map_err(|why| fail(why, "write the document with `mlspec data transform fit`"))?;
        let same = chains.last().is_some_and(|c| c.feature == feature);
        if same {
            if let Some(chain) = chains.last_mut() {
                if chain.steps.last().is_some_and(Step::categorical)
                    || matches!(chain.steps.last(), Some(Step::Bucketize { .. }))
                {
                    return Err(fail(
                        "a step follows the feature's encoding".into(),
                        "a vocabulary, one-hot or bucketize mapping is the last of its feature",
                    ));
                }
                chain.steps.push(step);
            }
        } else if chains.iter().any(|c| c.feature == feature) {
            return Err(fail(
                "the feature's mappings are not together".into(),
                "list each feature's mappings one after another, in the order applied",
            ));
        } else {
            chains.push(Chain {
                feature: feature.to_owned(),
                output: mapping.output.as_ref().map(|k| k.as_str().to_owned()),
                steps: vec![step],
            });
        }
    }
    Ok(chains)
}

/// A parameter as a number.
fn number_param(mapping: &FeatureMapping, name: &str) -> Result<Option<f64>, String> {
    match mapping.parameters.iter().find(|(k, _)| k.as_str() == name) {
        None => Ok(None),
        Some((_, ParamValue::Number(v))) => Ok(Some(*v)),
        Some((_, ParamValue::String(s))) => Err(format!("parameters.{name} is `{s}`, not a number")),
    }
}

fn required(mapping: &FeatureMapping, name: &str) -> Result<f64, String> {
    number_param(mapping, name)?
        .ok_or_else(|| format!("a {} mapping needs parameters.{name}", type_name(mapping.mapping_type)))
}

/// The type's name as the spec writes it.
pub fn type_name(mapping_type: MappingType) -> &'static str {
    match mapping_type {
        MappingType::Vocabulary => "vocabulary",
        MappingType::Bucketize => "bucketize",
        MappingType::Standardize => "standardize",
        MappingType::MinMax => "minMax",
        MappingType::OneHot => "oneHot",
        MappingType::Hash => "hash",
        MappingType::Custom => "custom",
        MappingType::Impute => "impute",
        MappingType::Clip => "clip",
        MappingType::Log => "log",
    }
}

/// The step a mapping records.
fn step(mapping: &FeatureMapping) -> Result<Step, String> {
    Ok(match mapping.mapping_type {
        MappingType::Impute => {
            let strategy = match mapping.parameters.iter().find(|(k, _)| k.as_str() == "strategy") {
                Some((_, ParamValue::String(s))) => s.clone(),
                _ => "constant".to_owned(),
            };
            let fill = match mapping.parameters.iter().find(|(k, _)| k.as_str() == "value") {
                Some((_, ParamValue::Number(v))) => Fill::Number(*v),
                Some((_, ParamValue::String(s))) => Fill::Text(s.clone()),
                None => return Err("an impute mapping needs parameters.value".into()),
            };
            Step::Impute { strategy, fill }
        }
        MappingType::Clip => Step::Clip {
            min: number_param(mapping, "min")?,
            max: number_param(mapping, "max")?,
        },
        MappingType::Log => Step::Log {
            offset: number_param(mapping, "offset")?.unwrap_or(0.0),
        },
        MappingType::Standardize => Step::Standardize {
            mean: required(mapping, "mean")?,
            std_dev: required(mapping, "stdDev")?,
        },
        MappingType::MinMax => Step::MinMax {
            min: required(mapping, "min")?,
            max: required(mapping, "max")?,
        },
        MappingType::Bucketize => {
            if mapping.boundaries.iter().any(|b| !b.is_finite()) || mapping.boundaries.windows(2).any(|w| w[0] >= w[1])
            {
                return Err("the bucket boundaries do not increase".into());
            }
            Step::Bucketize {
                boundaries: mapping.boundaries.clone(),
                quantiles: number_param(mapping, "quantiles")?.map(|q| q as u32),
            }
        }
        MappingType::Vocabulary => {
            let buckets = number_param(mapping, "oovBuckets")?.unwrap_or(1.0);
            if !(buckets >= 1.0 && buckets <= f64::from(u32::MAX) && buckets.fract() == 0.0) {
                return Err(format!("parameters.oovBuckets is {buckets}, not a whole number ≥ 1"));
            }
            Step::Vocabulary {
                codes: mapping.vocabulary.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                oov_buckets: buckets as u32,
            }
        }
        MappingType::OneHot => {
            let mut values: Vec<(&String, &i64)> = mapping.vocabulary.iter().collect();
            values.sort_by_key(|(_, index)| **index);
            if values.iter().enumerate().any(|(i, (_, index))| **index != i as i64) {
                return Err("a oneHot vocabulary numbers its columns 0, 1, 2, …".into());
            }
            Step::OneHot {
                values: values.into_iter().map(|(value, _)| value.clone()).collect(),
            }
        }
        MappingType::Hash | MappingType::Custom => {
            return Err(format!(
                "a {} mapping cannot be applied by mlspec",
                type_name(mapping.mapping_type)
            ));
        }
    })
}

/// x clipped to [min, max] (missing stays missing).
pub fn clip(x: f64, min: Option<f64>, max: Option<f64>) -> f64 {
    match (min, max) {
        (Some(min), _) if x < min => min,
        (_, Some(max)) if x > max => max,
        _ => x,
    }
}

/// ln(x + offset), or NaN (missing) where x + offset ≤ 0.
pub fn log(x: f64, offset: f64) -> f64 {
    let shifted = x + offset;
    if shifted > 0.0 { shifted.ln() } else { f64::NAN }
}

/// The numeric steps before the encoding, on one value (NaN is missing).
pub fn prefix(steps: &[Step], mut x: f64) -> f64 {
    for step in steps {
        x = match step {
            Step::Impute {
                fill: Fill::Number(v), ..
            } if x.is_nan() => *v,
            Step::Clip { min, max } => clip(x, *min, *max),
            Step::Log { offset } => log(x, *offset),
            _ => x,
        };
    }
    x
}

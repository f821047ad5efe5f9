//! Value types shared by many kinds: maps that refuse duplicate keys, data paths, metrics and
//! parameters, timestamps.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::newtypes::{Key, Name, RelativePath, Text};

/// A point in time, RFC 3339 (`2026-11-30T12:00:00Z`).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A map whose keys must be unique in the source text.
///
/// YAML parsers and `serde_json` let a later duplicate key silently replace an earlier one; a
/// document that says two things about one key is ambiguous, so it is refused here, whatever the
/// input format.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct UniqueMap<K: Ord, V>(pub BTreeMap<K, V>);

impl<K: Ord, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<K: Ord, V> UniqueMap<K, V> {
    /// True when the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Ord, V> std::ops::Deref for UniqueMap<K, V> {
    type Target = BTreeMap<K, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for UniqueMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Ord + Deserialize<'de> + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UniqueVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for UniqueVisitor<K, V>
        where
            K: Ord + Deserialize<'de> + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some(key) = map.next_key::<K>()? {
                    let value = map.next_value()?;
                    if entries.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    entries.insert(key, value);
                }
                Ok(UniqueMap(entries))
            }
        }

        deserializer.deserialize_map(UniqueVisitor(PhantomData))
    }
}

impl<K: Ord + JsonSchema, V: JsonSchema> JsonSchema for UniqueMap<K, V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Map_of_{}_to_{}", K::schema_name(), V::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let keys = generator.subschema_for::<K>();
        let values = generator.subschema_for::<V>();
        schemars::json_schema!({
            "type": "object",
            "propertyNames": keys,
            "additionalProperties": values,
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// Where a piece of data lives: a Datastore plus a relative path, a table, or a query.
/// Exactly one of `path`, `table` and `query` is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataPath {
    /// The name of the Datastore that holds the data.
    pub datastore: Name,
    /// A file or prefix, relative to the datastore's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<RelativePath>,
    /// A table (optionally `schema.table`) in a database datastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Key>,
    /// A query whose result is the data, e.g. `select * from foo limit 30`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Text>,
}

/// A parameter value: a string or a number. Parameters are immutable once recorded.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    /// A number.
    Number(f64),
    /// A string.
    String(String),
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamVisitor;
        impl Visitor<'_> for ParamVisitor {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ParamValue, E> {
                Ok(ParamValue::String(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ParamValue, E> {
                Ok(ParamValue::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ParamValue, E> {
                Ok(ParamValue::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ParamValue, E> {
                finite(v).map(ParamValue::Number)
            }
        }
        deserializer.deserialize_any(ParamVisitor)
    }
}

fn finite<E: de::Error>(v: f64) -> Result<f64, E> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(E::custom(format_args!(
            "{v} is not a finite number; JSON cannot carry it"
        )))
    }
}

/// Parameters by key.
pub type Params = UniqueMap<Key, ParamValue>;

/// A metric's value: a number, an array of values, or an object of named values.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MetricValue {
    /// A single finite number.
    Scalar(f64),
    /// An ordered list of values, e.g. a per-class score or a curve.
    Array(Vec<MetricValue>),
    /// Named values, e.g. a confusion matrix by class.
    Object(BTreeMap<String, MetricValue>),
}

impl<'de> Deserialize<'de> for MetricValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetricVisitor;
        impl<'de> Visitor<'de> for MetricVisitor {
            type Value = MetricValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, an array or an object of numbers")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MetricValue, E> {
                Ok(MetricValue::Scalar(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MetricValue, E> {
                Ok(MetricValue::Scalar(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MetricValue, E> {
                finite(v).map(MetricValue::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MetricValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(MetricValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MetricValue, A::Error> {
                let UniqueMap(entries) = UniqueMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(MetricValue::Object(entries))
            }
        }
        deserializer.deserialize_any(MetricVisitor)
    }
}

/// One recorded value of a metric, optionally at a training step and time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metric {
    /// The metric's key, e.g. `accuracy` or `val/loss`.
    pub key: Key,
    /// The value.
    pub value: MetricValue,
    /// The training step the value belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// When the value was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// Free-form string tags.
pub type Tags = UniqueMap<Key, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_map_refuses_duplicates_in_json() {
        let err = serde_json::from_str::<Params>(r#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate key `a`"), "{err}");
    }

    #[test]
    fn metric_values_nest() {
        let v: MetricValue = serde_json::from_str(r#"{"cat": [1, 2.5], "dog": 3}"#).unwrap();
        let expected = MetricValue::Object(BTreeMap::from([
            (
                "cat".into(),
                MetricValue::Array(vec![MetricValue::Scalar(1.0), MetricValue::Scalar(2.5)]),
            ),
            ("dog".into(), MetricValue::Scalar(3.0)),
        ]));
        assert_eq!(v, expected);
        assert!(serde_json::from_str::<MetricValue>(r#""high""#).is_err());
    }

    #[test]
    fn params_are_strings_or_numbers() {
        let p: Params = serde_json::from_str(r#"{"lr": 0.1, "opt": "adam"}"#).unwrap();
        assert_eq!(p.len(), 2);
        assert!(serde_json::from_str::<Params>(r#"{"flag": true}"#).is_err());
    }
}

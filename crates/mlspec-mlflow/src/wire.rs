//! How MLflow's messages travel: proto3 JSON bodies for POST/PATCH, query strings for GET.
//!
//! Proto3's JSON mapping has two habits a strict decoder trips over: a `double` that is not a
//! number travels as the string `"NaN"`, `"Infinity"` or `"-Infinity"`, and an `int64` may be a
//! string (`"1700000000000"`). [`Double`] and [`Int64`] take both forms. The extractors
//! [`Body`] and [`Query`] turn every decoding failure — a wrong Content-Type, malformed JSON, a
//! field of the wrong type — into a 400 INVALID_PARAMETER_VALUE that names the problem, never
//! into axum's plain-text rejection (which the client would report as a bare `BAD_REQUEST`).

use std::fmt;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::MlflowError;

/// The largest JSON body accepted (MLflow's own log-batch limit is 1 MB of payload).
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// A JSON request body of type `T`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = MlflowError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| MlflowError::invalid(format!("cannot read the request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return parse(b"{}").map(Body);
        }
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(MlflowError::invalid(format!(
                "the request body must be JSON with Content-Type application/json, not `{content_type}`"
            )));
        }
        parse(&bytes).map(Body)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, MlflowError> {
    serde_json::from_slice(bytes).map_err(|e| MlflowError::invalid(format!("malformed JSON request: {e}")))
}

/// The query string of a GET, decoded into `T`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|e| MlflowError::invalid(format!("bad query string: {}", e.body_text())))
    }
}

/// A `double` as proto3 JSON carries it: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Double(pub f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value.is_infinite() {
            serializer.serialize_str(if value > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            serializer.serialize_f64(value)
        }
    }
}

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DoubleVisitor;
        impl Visitor<'_> for DoubleVisitor {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, or \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
                match v {
                    "NaN" | "nan" => Ok(Double(f64::NAN)),
                    "Infinity" | "inf" => Ok(Double(f64::INFINITY)),
                    "-Infinity" | "-inf" => Ok(Double(f64::NEG_INFINITY)),
                    other => other
                        .parse::<f64>()
                        .map(Double)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(DoubleVisitor)
    }
}

/// An `int64` as proto3 JSON carries it: a number or a decimal string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Int64(pub i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, or an integer as a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int64, E> {
                Ok(Int64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int64, E> {
                i64::try_from(v)
                    .map(Int64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int64, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e18 {
                    Ok(Int64(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int64, E> {
                v.trim()
                    .parse()
                    .map(Int64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(IntVisitor)
    }
}

/// A `{key, value}` pair: a tag or a param.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (MLflow sends params as strings).
    #[serde(default)]
    pub value: String,
}

/// Key/value pairs from a map, in key order.
pub fn key_values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<KeyValue> {
    pairs
        .into_iter()
        .map(|(key, value)| KeyValue {
            key: key.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

/// The run id a run-scoped request names: `run_id`, or the legacy `run_uuid`.
pub fn run_id_of(run_id: &Option<String>, run_uuid: &Option<String>) -> Result<String, MlflowError> {
    run_id
        .as_deref()
        .or(run_uuid.as_deref())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| MlflowError::invalid("the request names no run: give `run_id` (or `run_uuid`)"))
}

/// A required string field, or a 400 naming it.
pub fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, MlflowError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| MlflowError::invalid(format!("missing value for required parameter '{field}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_take_proto3_strings_and_give_them_back() {
        let values: Vec<Double> = serde_json::from_str(r#"[1.5, 2, "NaN", "Infinity", "-Infinity"]"#).unwrap();
        assert_eq!(values[0], Double(1.5));
        assert!(values[2].0.is_nan());
        assert_eq!(values[3].0, f64::INFINITY);
        let text = serde_json::to_string(&values).unwrap();
        assert_eq!(text, r#"[1.5,2.0,"NaN","Infinity","-Infinity"]"#);
        assert!(serde_json::from_str::<Double>(r#""many""#).is_err());
    }

    #[test]
    fn int64_takes_numbers_and_strings() {
        let values: Vec<Int64> = serde_json::from_str(r#"[1, "1700000000000", 3.0]"#).unwrap();
        assert_eq!(values, [Int64(1), Int64(1_700_000_000_000), Int64(3)]);
        assert!(serde_json::from_str::<Int64>("1.5").is_err());
        assert!(serde_json::from_str::<Int64>(r#""x""#).is_err());
    }

    #[test]
    fn run_id_or_run_uuid() {
        assert_eq!(run_id_of(&None, &Some("a".into())).unwrap(), "a");
        assert_eq!(run_id_of(&Some("b".into()), &Some("a".into())).unwrap(), "b");
        assert!(run_id_of(&None, &None).is_err());
    }
}

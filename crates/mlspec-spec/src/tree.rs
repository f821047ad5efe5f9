//! A YAML/JSON value tree that remembers where each node was written, so that a problem found
//! at a JSON Pointer can be reported at a line and column.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A line and column, both 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

/// A parsed value with the position of every node.
#[derive(Debug)]
pub enum Node {
    /// A scalar: null, boolean, number or string.
    Scalar(Value),
    /// A number JSON cannot carry: NaN or ±infinity (YAML `.nan`, `.inf`, `1e999`).
    NonFinite(f64),
    /// A sequence.
    Seq(Vec<Spanned<Node>>),
    /// A mapping, in source order.
    Map(Vec<(Spanned<KeyText>, Spanned<Node>)>),
}

/// A mapping key, as text (YAML allows `1: x` or `true: x`; JSON keys are strings).
#[derive(Debug)]
pub struct KeyText(pub String);

fn position<T>(spanned: &Spanned<T>) -> Option<Position> {
    let location = spanned.referenced;
    (location.line() > 0).then(|| Position {
        line: location.line(),
        column: location.column(),
    })
}

impl Node {
    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Node::Scalar(v) => v.clone(),
            Node::NonFinite(_) => Value::Null,
            Node::Seq(items) => Value::Array(items.iter().map(|i| i.value.to_json()).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.0.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Node {
    /// The JSON Pointer and value of every non-finite number, in source order.
    pub fn non_finite(&self) -> Vec<(String, f64)> {
        let mut found = Vec::new();
        self.collect_non_finite(&mut String::new(), &mut found);
        found
    }

    fn collect_non_finite(&self, pointer: &mut String, found: &mut Vec<(String, f64)>) {
        let at = pointer.len();
        match self {
            Node::NonFinite(v) => found.push((pointer.clone(), *v)),
            Node::Scalar(_) => {}
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    pointer.push_str(&format!("/{i}"));
                    item.value.collect_non_finite(pointer, found);
                    pointer.truncate(at);
                }
            }
            Node::Map(entries) => {
                for (key, item) in entries {
                    pointer.push('/');
                    pointer.push_str(&key.value.0.replace('~', "~0").replace('/', "~1"));
                    item.value.collect_non_finite(pointer, found);
                    pointer.truncate(at);
                }
            }
        }
    }
}

/// Where the node at `pointer` (a JSON Pointer) was written. With `key`, the position of the
/// last segment's key rather than its value. Falls back to the deepest node that exists.
pub fn locate(root: &Spanned<Node>, pointer: &str, key: bool) -> Option<Position> {
    let mut node = root;
    let mut found = position(root);
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match &node.value {
            Node::Map(entries) => {
                let Some((k, v)) = entries.iter().find(|(k, _)| &k.value.0 == segment) else {
                    break;
                };
                if last && key {
                    return position(k).or(found);
                }
                node = v;
            }
            Node::Seq(items) => {
                let Some(item) = segment.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                    break;
                };
                node = item;
            }
            _ => break,
        }
        found = position(node).or(found);
    }
    found
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Node::NonFinite(v), |n| Node::Scalar(Value::Number(n))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Value::String(v.to_owned())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(Spanned<KeyText>, Spanned<Node>)> = Vec::new();
        let mut seen = foldhash::HashSet::default();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            if !seen.insert(key.value.0.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key `{}`", key.value.0)));
            }
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Node::deserialize(d)? {
            Node::Scalar(Value::String(s)) => Ok(KeyText(s)),
            Node::Scalar(Value::Null) => Ok(KeyText("null".into())),
            Node::NonFinite(v) => Ok(KeyText(v.to_string())),
            Node::Scalar(other) => Ok(KeyText(other.to_string())),
            Node::Seq(_) | Node::Map(_) => Err(de::Error::custom(
                "a mapping key must be a scalar, not a sequence or mapping",
            )),
        }
    }
}

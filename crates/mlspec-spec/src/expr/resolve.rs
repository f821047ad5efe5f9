//! What a dotted name refers to: a metric (optionally of a slice), a parameter, a label — of
//! the evaluated document or of the baseline — or, in store queries, a spec field or the name.

use super::ast::SliceKey;

/// Whose value a reference reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The evaluated document.
    Current,
    /// The baseline model's results (`baseline.…`).
    Baseline,
}

/// A resolved reference.
#[derive(Clone, Debug, PartialEq)]
pub enum Reference {
    /// A metric, overall or of one slice: `accuracy`, `metrics.recall[gender="F"]`.
    Metric {
        /// Whose.
        source: Source,
        /// The metric's key.
        key: String,
        /// The slice; empty for overall.
        slice: Vec<SliceKey>,
    },
    /// A parameter: `params.lr`.
    Param {
        /// Whose.
        source: Source,
        /// The parameter's key.
        key: String,
    },
    /// A label: `labels.team`.
    Label {
        /// Whose.
        source: Source,
        /// The label's key.
        key: String,
    },
    /// A top-level scalar of the spec (store queries): `spec.status`.
    Spec {
        /// The field's name.
        key: String,
    },
    /// The object's name (store queries).
    Name,
}

/// Where a reference may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// An Objectives criterion, evaluated against one document and a baseline.
    Criterion,
    /// A `--where` filter over the store.
    Query,
}

/// The namespaces a dotted name may start with.
pub const NAMESPACES: &[&str] = &["metrics", "params", "labels", "baseline", "spec"];

/// Resolves `path` (with an optional slice selector) or says why it cannot.
pub fn resolve(path: &[String], slice: &[SliceKey], context: Context) -> Result<Reference, String> {
    let (source, rest) = match path.split_first() {
        Some((first, rest)) if first == "baseline" => {
            if context == Context::Query {
                return Err("store queries have no baseline; compare the object's own fields".into());
            }
            if rest.is_empty() {
                return Err("`baseline` needs a metric: `baseline.accuracy`".into());
            }
            (Source::Baseline, rest)
        }
        _ => (Source::Current, path),
    };
    let reference = match rest {
        [] => return Err("empty name".into()),
        [name] if name == "name" && context == Context::Query && source == Source::Current => Reference::Name,
        [key] => Reference::Metric {
            source,
            key: key.clone(),
            slice: slice.to_vec(),
        },
        [namespace, key @ ..] => {
            let key = key.join(".");
            match namespace.as_str() {
                "metrics" => Reference::Metric {
                    source,
                    key,
                    slice: slice.to_vec(),
                },
                "params" => Reference::Param { source, key },
                "labels" => Reference::Label { source, key },
                "spec" if context == Context::Query && source == Source::Current => Reference::Spec { key },
                "spec" => {
                    return Err(
                        "`spec.…` fields are for store queries; criteria read metrics, params and labels".into(),
                    );
                }
                "baseline" => return Err("`baseline` comes first: `baseline.metrics.auc`".into()),
                other => {
                    let hint = crate::suggest::closest(other, NAMESPACES.iter().copied())
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    return Err(format!(
                        "unknown namespace `{other}`; {hint}names start with metrics., params., labels. or baseline. (a metric whose key has dots: `metrics.{}`)",
                        path.join(".")
                    ));
                }
            }
        }
    };
    if !slice.is_empty() && !matches!(reference, Reference::Metric { .. }) {
        return Err("only metrics have slices".into());
    }
    Ok(reference)
}

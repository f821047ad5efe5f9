//! Semantic rules: what a document must satisfy beyond its schema (fractions that sum to 1,
//! references that resolve inside a pipeline, no inline credentials, …).
//!
//! Each kind implements [`Rules`]; a rule reports a [`Finding`] at a JSON Pointer into the
//! document, which validation maps back to a line and column.

use foldhash::HashSet;

use crate::kind::Kind;
use crate::reference::Ref;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document is invalid.
    Error,
    /// The document is valid, but probably not what was meant.
    Warning,
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// JSON Pointer to the offending value, e.g. `/spec/splits/1/fraction`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// For a problem inside a string value (an expression), the character it starts at.
    pub offset: Option<usize>,
}

/// The findings of checking one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Every finding, in the order the rules ran.
    pub items: Vec<Finding>,
}

impl Findings {
    /// Records an error at `path`.
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) -> &mut Finding {
        self.push(Severity::Error, path.into(), message.into())
    }

    /// Records a warning at `path`.
    pub fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) -> &mut Finding {
        self.push(Severity::Warning, path.into(), message.into())
    }

    fn push(&mut self, severity: Severity, path: String, message: String) -> &mut Finding {
        self.items.push(Finding {
            severity,
            path,
            message,
            hint: None,
            offset: None,
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// True when any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|f| f.severity == Severity::Error)
    }

    /// Reports every item whose `key` was already seen, as `what` at `path/INDEX/field`.
    pub fn unique<'a, T, K: std::hash::Hash + Eq>(
        &mut self,
        path: &str,
        field: &str,
        items: &'a [T],
        key: impl Fn(&'a T) -> K,
    ) {
        for i in repeats(items, key) {
            self.error(
                format!("{path}/{i}/{field}"),
                format!("duplicate {field}; each must be unique in this list"),
            );
        }
    }

    /// Reports every value of a list of plain values (names, keys) that repeats an earlier one,
    /// as a duplicate `what` at `path/INDEX`.
    pub fn unique_values<T: std::hash::Hash + Eq>(&mut self, path: &str, what: &str, items: &[T]) {
        for i in repeats(items, |item| item) {
            self.error(
                format!("{path}/{i}"),
                format!("duplicate {what}; each must be unique in this list"),
            );
        }
    }

    /// Reports a reference that names a kind other than one of `expected`.
    pub fn ref_kind(&mut self, path: impl Into<String>, reference: &Ref, expected: &[Kind]) {
        if let Some(kind) = reference.kind().filter(|k| !expected.contains(k)) {
            let names: Vec<&str> = expected.iter().map(|k| k.as_str()).collect();
            self.error(
                path,
                format!("this reference names a {kind}; expected {}", names.join(" or ")),
            );
        }
    }

    /// Reports `message` when `end` is before (less than) `start`.
    pub fn ordered<T: PartialOrd>(
        &mut self,
        path: impl Into<String>,
        start: Option<&T>,
        end: Option<&T>,
        message: &str,
    ) {
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            self.error(path, message);
        }
    }
}

/// The indexes of the items whose `key` equals an earlier item's.
fn repeats<'a, T, K: std::hash::Hash + Eq>(items: &'a [T], key: impl Fn(&'a T) -> K) -> impl Iterator<Item = usize> {
    let mut seen = HashSet::default();
    items
        .iter()
        .enumerate()
        .filter_map(move |(i, item)| (!seen.insert(key(item))).then_some(i))
}

impl Finding {
    /// Points inside the string value, at character `offset`.
    pub fn at_character(&mut self, offset: usize) -> &mut Self {
        self.offset = Some(offset);
        self
    }

    /// Adds a hint saying what to do.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The semantic rules of a type.
pub trait Rules {
    /// Adds a finding for every rule the value breaks. The default has no rules.
    fn check(&self, _findings: &mut Findings) {}
}

/// True when `a` and `b` are equal within a relative tolerance suited to fractions written by
/// people (`0.1 + 0.2` sums to `0.3`).
pub fn approx_eq(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

//! Validation: text in, typed documents or located diagnostics out.
//!
//! A document is valid when it parses, matches its kind's JSON Schema, deserializes into the
//! typed model and breaks no semantic rule. Valid documents take a fast path: one typed parse
//! (YAML through [`crate::fast_yaml`] when the input stays in its subset, else serde-saphyr; JSON
//! through serde_json) plus the rules. Anything else is parsed again into a tree that remembers
//! positions, so that *every* structural problem (from the schema validator) and every broken
//! rule is reported with its line, column, JSON Pointer and a hint.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::document::{Document, Kind, SUPPORTED_API_VERSIONS, unsupported_api_version};
use crate::fast_yaml;
use crate::rules::{Findings, Severity};
use crate::schema::{CompiledSchema, compiled};
use crate::suggest::closest;
use crate::tree::{Node, Position, locate};
use crate::values_check::{NON_FINITE_HINT, non_finite_message};

/// The syntax of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2; several documents separated by `---`.
    Yaml,
    /// JSON: one document, or an array of documents.
    Json,
}

impl Format {
    /// JSON for `.json` files; YAML for `.yaml`/`.yml`; otherwise JSON when the text starts with
    /// `{` or `[`, else YAML.
    pub fn detect(file_name: Option<&str>, text: &str) -> Format {
        let extension = file_name
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        match extension.as_deref() {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with(['{', '[']) => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Limits that bound the memory and time one input may take.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest input read, in bytes (default 64 MiB).
    pub max_bytes: u64,
    /// Deepest nesting of mappings and sequences (default 64).
    pub max_depth: usize,
    /// Most documents in one input (default 10,000).
    pub max_documents: usize,
    /// Most YAML nodes (and parser events) in one input, aliases expanded (default 1,000,000).
    pub max_nodes: usize,
    /// Most alias uses in one input (default 10,000).
    pub max_aliases: usize,
    /// Most diagnostics reported per input (default 100); the rest are only counted.
    pub max_diagnostics: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 20,
            max_depth: 64,
            max_documents: 10_000,
            max_nodes: 1_000_000,
            max_aliases: 10_000,
            max_diagnostics: 100,
        }
    }
}

impl Limits {
    fn yaml_options(&self) -> serde_saphyr::Options {
        serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_depth: self.max_depth,
                max_documents: self.max_documents,
                max_nodes: self.max_nodes,
                max_events: self.max_nodes,
                max_aliases: self.max_aliases,
                max_total_scalar_bytes: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
            },
            with_snippet: false,
            // YAML 1.2's booleans only, as typed parsing reads them: a plain `y`, `no` or `on`
            // is text (a port named `y` stays a name) on every path through validation.
            strict_booleans: true,
            // Non-finite numbers reach the tree, which reports each at its field's path.
            non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        }
    }
}

/// One problem found in an input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Which document of the input (0-based), when the problem is inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// Where in the text, when known.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// JSON Pointer to the value, when the problem is inside a document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error about the input as a whole.
    pub fn input_error(message: impl Into<String>, position: Option<Position>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            document: None,
            position,
            path: None,
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Diagnostics found but not reported, past [`Limits::max_diagnostics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Omitted {
    /// Errors not reported.
    pub errors: usize,
    /// Warnings not reported.
    pub warnings: usize,
}

impl Omitted {
    /// Counts one diagnostic not reported.
    pub fn count(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
    }

    /// How many were not reported.
    pub fn total(&self) -> usize {
        self.errors + self.warnings
    }
}

/// What validating one input found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The documents that are valid.
    pub documents: Vec<Document>,
    /// The problems reported (at most [`Limits::max_diagnostics`]), in input order.
    pub diagnostics: Vec<Diagnostic>,
    /// The problems found past the limit, only counted.
    pub omitted: Omitted,
    /// How many documents the input holds (valid or not).
    pub document_count: usize,
}

impl Outcome {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.omitted.errors > 0 || self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    fn failed(diagnostic: Diagnostic) -> Self {
        Outcome {
            diagnostics: vec![diagnostic],
            ..Outcome::default()
        }
    }
}

/// How a document is written out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Compact JSON, as the store keeps documents.
    Json,
    /// Indented JSON.
    JsonPretty,
    /// YAML.
    Yaml,
}

/// Writes a document as text that reads back as the same valid document under the default
/// limits — the one way mlspec writes documents (files and the store), so that nothing it
/// writes can later fail validation. Refused with the diagnostic `validate` would report: a
/// non-finite number (JSON would turn it into `null`), an inline credential or any other broken
/// rule, text over the size limit, or text that does not read back as the same document.
pub fn encode(document: &Document, encoding: Encoding) -> Result<String, Diagnostic> {
    let findings = document.check();
    if let Some(finding) = findings.items.into_iter().find(|f| f.severity == Severity::Error) {
        return Err(Diagnostic {
            severity: Severity::Error,
            document: None,
            position: None,
            path: Some(finding.path),
            message: finding.message,
            hint: finding.hint,
        });
    }
    let written = match encoding {
        Encoding::Json => serde_json::to_string(document).map_err(|e| e.to_string()),
        Encoding::JsonPretty => serde_json::to_string_pretty(document)
            .map(|text| text + "\n")
            .map_err(|e| e.to_string()),
        Encoding::Yaml => serde_saphyr::to_string(document).map_err(|e| e.to_string()),
    };
    let text = written.map_err(|e| Diagnostic::input_error(format!("cannot write the document: {e}"), None))?;
    let format = if encoding == Encoding::Yaml {
        Format::Yaml
    } else {
        Format::Json
    };
    // The rules held for `document` above, so the text only has to read back as it: a typed
    // parse is enough; the full validation runs only to explain a text that does not.
    let limits = Limits::default();
    let reads_back = text.len() as u64 <= limits.max_bytes
        && parse_typed(&text, format, &limits)
            .is_some_and(|read| matches!(read.as_slice(), [only] if only == document));
    if reads_back {
        return Ok(text);
    }
    let outcome = validate_text(&text, format, &limits);
    Err(outcome
        .diagnostics
        .into_iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap_or_else(|| {
            Diagnostic::input_error("the written document does not read back as the same document", None)
                .with_hint("this is a bug in the program that made the document; please report it")
        }))
}

/// Validates raw bytes: they must be UTF-8 and within the size limit.
pub fn validate_bytes(bytes: &[u8], format: Option<Format>, file_name: Option<&str>, limits: &Limits) -> Outcome {
    if bytes.len() as u64 > limits.max_bytes {
        return Outcome::failed(too_large(bytes.len() as u64, limits));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => validate_text(text, format.unwrap_or_else(|| Format::detect(file_name, text)), limits),
        Err(e) => Outcome::failed(invalid_utf8(bytes, e.valid_up_to())),
    }
}

/// The diagnostic for an input over the size limit.
pub fn too_large(size: u64, limits: &Limits) -> Diagnostic {
    Diagnostic::input_error(
        format!("the input is {size} bytes; the limit is {} bytes", limits.max_bytes),
        None,
    )
    .with_hint("MLSpec documents are metadata; keep data in datastores and refer to it with a DataPath")
}

fn invalid_utf8(bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let before = &bytes[..valid_up_to];
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() as u64 + 1;
    Diagnostic::input_error(
        format!("invalid UTF-8 at byte offset {valid_up_to}"),
        Some(Position { line, column }),
    )
    .with_hint("save the file as UTF-8")
}

/// Validates text holding one or more documents.
pub fn validate_text(text: &str, format: Format, limits: &Limits) -> Outcome {
    if text.len() as u64 > limits.max_bytes {
        return Outcome::failed(too_large(text.len() as u64, limits));
    }
    if let Some(documents) = fast_path(text, format, limits) {
        return Outcome {
            document_count: documents.len(),
            documents,
            ..Outcome::default()
        };
    }
    let trees = match parse_trees(text, format, limits) {
        Ok(trees) => trees,
        Err(diagnostic) => return Outcome::failed(diagnostic),
    };
    if trees.is_empty() {
        return Outcome::failed(
            Diagnostic::input_error("the input holds no document", None)
                .with_hint("start with `apiVersion: mlspec/v1`; `mlspec new KIND` prints a template"),
        );
    }
    let mut outcome = Outcome {
        document_count: trees.len(),
        ..Outcome::default()
    };
    for (index, tree) in trees.iter().enumerate() {
        let room = limits.max_diagnostics.saturating_sub(outcome.diagnostics.len());
        let (document, diagnostics) = check_document(tree, text, room, &mut outcome.omitted);
        outcome.documents.extend(document);
        outcome.diagnostics.extend(diagnostics.into_iter().map(|d| Diagnostic {
            document: Some(index),
            ..d
        }));
    }
    outcome
}

/// Places findings made outside validation — a document checked against others, as a pipeline
/// against its modules — at their line and column in `text`, the one document they concern.
pub fn locate_findings(text: &str, format: Format, findings: Findings, limits: &Limits) -> Vec<Diagnostic> {
    let tree = parse_trees(text, format, limits)
        .ok()
        .and_then(|mut trees| (trees.len() == 1).then(|| trees.remove(0)));
    findings
        .items
        .into_iter()
        .map(|finding| {
            let position = tree.as_ref().and_then(|tree| locate(tree, &finding.path, false));
            Diagnostic {
                severity: finding.severity,
                document: None,
                position,
                path: Some(finding.path),
                message: finding.message,
                hint: finding.hint,
            }
        })
        .collect()
}

/// Parses straight into typed documents; `Some` only when every document is valid and breaks no
/// rule.
fn fast_path(text: &str, format: Format, limits: &Limits) -> Option<Vec<Document>> {
    let documents = parse_typed(text, format, limits)?;
    let clean = !documents.is_empty() && documents.iter().all(|d| d.check().items.is_empty());
    clean.then_some(documents)
}

/// Parses straight into typed documents, without checking their rules; `None` when the text
/// does not parse into them.
fn parse_typed(text: &str, format: Format, limits: &Limits) -> Option<Vec<Document>> {
    Some(match format {
        Format::Yaml => match fast_yaml_documents(text, limits) {
            Some(documents) => documents,
            None => serde_saphyr::from_multiple_with_options(text, limits.yaml_options()).ok()?,
        },
        Format::Json if text.trim_start().starts_with('[') => serde_json::from_str(text).ok()?,
        Format::Json => vec![serde_json::from_str(text).ok()?],
    })
}

/// Typed documents through the fast reader of the block-YAML subset, when the input stays in it.
fn fast_yaml_documents(text: &str, limits: &Limits) -> Option<Vec<Document>> {
    let budget = fast_yaml::Budget {
        depth: limits.max_depth,
        nodes: limits.max_nodes,
        documents: limits.max_documents,
    };
    // Room for a typical document's tree up front; the arena grows for larger ones.
    let arena = bumpalo::Bump::with_capacity((text.len() * 4).min(1 << 20));
    let nodes = fast_yaml::parse(text, budget, &arena)?;
    nodes.iter().map(|node| Document::deserialize(node).ok()).collect()
}

/// Parses the input into one position tree per document.
fn parse_trees(text: &str, format: Format, limits: &Limits) -> Result<Vec<Spanned<Node>>, Diagnostic> {
    match format {
        Format::Yaml => {
            serde_saphyr::from_multiple_with_options(text, limits.yaml_options()).map_err(|e| yaml_error(e, "YAML"))
        }
        Format::Json => {
            // serde_json gives the precise JSON syntax errors; JSON is YAML 1.2, so the YAML
            // parser then gives the positions, and refuses what serde_json lets through:
            // duplicate keys (the last would silently win) and nesting beyond the depth limit.
            // A number beyond f64 (`1e999`) is left to the YAML parser too, which reads it as
            // infinity: it is then reported at its field's path like any non-finite number.
            match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(e) if !e.to_string().starts_with("number out of range") => return Err(json_error(e)),
                _ => {}
            }
            let tree: Spanned<Node> =
                serde_saphyr::from_str_with_options(text, limits.yaml_options()).map_err(|e| yaml_error(e, "JSON"))?;
            Ok(match tree {
                Spanned {
                    value: Node::Seq(documents),
                    ..
                } => documents,
                single => vec![single],
            })
        }
    }
}

fn yaml_error(error: serde_saphyr::Error, syntax: &str) -> Diagnostic {
    let position = error.location().filter(|l| l.line() > 0).map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    let message = yaml_message(&error);
    let message = match message.strip_prefix("budget breached: ") {
        Some(detail) => format!("the input exceeds a parser limit ({detail})"),
        None => message,
    };
    let hint = if message.contains("budget") || message.contains("depth") || message.contains("alias") {
        "the input exceeds a parser limit (nesting depth, alias expansion, node or document count); see docs/spec/overview.md#limits".to_owned()
    } else if message.contains("duplicate") {
        "a key may appear once per mapping; keep the one you mean".to_owned()
    } else {
        format!("fix the {syntax} at this position")
    };
    Diagnostic::input_error(format!("invalid {syntax}: {message}"), position).with_hint(hint)
}

/// The YAML parser's message without its own position prefix or suffix (the diagnostic has
/// the position).
pub fn yaml_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => first,
    };
    first.split(" at line ").next().unwrap_or(first).trim().to_owned()
}

fn json_error(error: serde_json::Error) -> Diagnostic {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    Diagnostic::input_error(
        format!("invalid JSON: {message}"),
        Some(Position {
            line: error.line() as u64,
            column: error.column() as u64,
        }),
    )
}

/// A problem inside one document, before it is placed.
struct Problem {
    pointer: String,
    at_key: bool,
    /// The character inside the string value the problem is at (expressions).
    offset: Option<usize>,
    severity: Severity,
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn error(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            pointer: pointer.into(),
            at_key: false,
            offset: None,
            severity: Severity::Error,
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// Validates one parsed document, returning it when valid. At most `room` problems are located
/// and reported; the others are counted in `omitted`.
fn check_document(
    tree: &Spanned<Node>,
    text: &str,
    room: usize,
    omitted: &mut Omitted,
) -> (Option<Document>, Vec<Diagnostic>) {
    let json = tree.value.to_json();
    let (mut document, mut problems) = document_problems(&json);
    let non_finite = tree.value.non_finite();
    if !non_finite.is_empty() {
        // The tree holds null in their place; report them, not what null breaks.
        document = None;
        problems.retain(|p| !non_finite.iter().any(|(pointer, _)| *pointer == p.pointer));
        let reported = non_finite.into_iter().map(|(pointer, value)| {
            Problem::error(pointer, non_finite_message(value)).hint(Some(NON_FINITE_HINT.to_owned()))
        });
        problems.splice(0..0, reported);
    }
    for problem in problems.iter().skip(room) {
        omitted.count(problem.severity);
    }
    problems.truncate(room);
    let diagnostics = problems
        .into_iter()
        .map(|p| Diagnostic {
            severity: p.severity,
            document: None,
            position: locate(tree, &p.pointer, p.at_key).map(|position| match p.offset {
                Some(offset) => inside_value(text, position, &json, &p.pointer, offset),
                None => position,
            }),
            path: Some(if p.pointer.is_empty() {
                "/".to_owned()
            } else {
                p.pointer
            }),
            message: p.message,
            hint: p.hint,
        })
        .collect();
    (document, diagnostics)
}

/// The position of character `offset` of the string at `pointer`, when the string is written on
/// its line as is (plain or quoted without escapes); else the string's own position.
fn inside_value(text: &str, position: Position, json: &Value, pointer: &str, offset: usize) -> Position {
    let Some(value) = json.pointer(pointer).and_then(Value::as_str) else {
        return position;
    };
    let line = usize::try_from(position.line)
        .ok()
        .and_then(|l| text.lines().nth(l.saturating_sub(1)));
    let start = usize::try_from(position.column).unwrap_or(1).saturating_sub(1);
    let Some(rest) = line.map(|l| l.chars().skip(start).collect::<String>()) else {
        return position;
    };
    let quote = usize::from(rest.starts_with(['"', '\'']));
    if rest.chars().skip(quote).collect::<String>().starts_with(value) {
        Position {
            line: position.line,
            column: position.column + (quote + offset) as u64,
        }
    } else {
        position
    }
}

fn document_problems(value: &Value) -> (Option<Document>, Vec<Problem>) {
    let Some(object) = value.as_object() else {
        let problem = Problem::error(
            "",
            format!("expected a document (a mapping), found {}", describe(value)),
        )
        .hint(Some(
            "a document is a mapping with apiVersion, kind, metadata and spec".into(),
        ));
        return (None, vec![problem]);
    };
    if let Some(problem) = legacy_format(object) {
        return (None, vec![problem]);
    }
    let mut problems = Vec::new();
    let api_version_ok = match object.get("apiVersion") {
        Some(Value::String(v)) if SUPPORTED_API_VERSIONS.contains(&v.as_str()) => true,
        Some(Value::String(v)) => {
            problems.push(Problem::error("/apiVersion", unsupported_api_version(v)).hint(Some(
                "set `apiVersion: mlspec/v1`; documents in the original MLSpec formats are converted by `mlspec migrate`".into(),
            )));
            false
        }
        Some(other) => {
            problems.push(Problem::error(
                "/apiVersion",
                format!("expected a string, found {}", describe(other)),
            ));
            false
        }
        None => {
            problems.push(
                Problem::error("", "missing required field `apiVersion`")
                    .hint(Some("start the document with `apiVersion: mlspec/v1`".into())),
            );
            false
        }
    };
    let kind = match object.get("kind") {
        Some(Value::String(k)) => match k.parse::<Kind>() {
            Ok(kind) => Some(kind),
            Err(e) => {
                let hint = match Kind::lookup(k) {
                    Ok(kind) => Some(format!("kinds are case-sensitive: write `{kind}`")),
                    Err(_) => Some("`mlspec kinds` lists the kinds".into()),
                };
                problems.push(Problem::error("/kind", e.to_string()).hint(hint));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::error(
                "/kind",
                format!("expected a string, found {}", describe(other)),
            ));
            None
        }
        None => {
            problems.push(
                Problem::error("", "missing required field `kind`").hint(Some("`mlspec kinds` lists the kinds".into())),
            );
            None
        }
    };
    let Some(kind) = kind else { return (None, problems) };
    let schema = match compiled(kind) {
        Ok(schema) => schema,
        Err(message) => {
            problems.push(Problem::error("", message));
            return (None, problems);
        }
    };
    let structural: Vec<Problem> = schema
        .validator
        .iter_errors(value)
        .flat_map(|e| schema_problems(schema, &e))
        .filter(|p| p.pointer != "/apiVersion")
        .collect();
    let structure_ok = structural.is_empty();
    problems.extend(structural);
    if !(structure_ok && api_version_ok) {
        return (None, problems);
    }
    match serde_path_to_error::deserialize::<_, Document>(value.clone()) {
        Err(e) => {
            problems.push(Problem::error(serde_pointer(e.path()), e.inner().to_string()));
            (None, problems)
        }
        Ok(document) => {
            let findings = document.check();
            let valid = !findings.has_errors();
            problems.extend(findings.items.into_iter().map(|f| Problem {
                pointer: f.path,
                at_key: false,
                offset: f.offset,
                severity: f.severity,
                message: f.message,
                hint: f.hint,
            }));
            (valid.then_some(document), problems)
        }
    }
}

/// Recognizes the original MLSpec formats, which `mlspec migrate` converts.
fn legacy_format(object: &serde_json::Map<String, Value>) -> Option<Problem> {
    let version = ["schema_version", "mlSpecVersion", "specVersion"]
        .iter()
        .find_map(|k| object.get(*k).map(|v| (k, v)))?;
    if object.contains_key("apiVersion") {
        return None;
    }
    let (field, value) = version;
    let shown = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    Some(
        Problem::error(
            format!("/{field}"),
            format!("this is a document in an original MLSpec format ({field} {shown}), not mlspec/v1"),
        )
        .hint(Some("convert it with `mlspec migrate FILE`".into())),
    )
}

fn serde_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", escape_pointer(key))),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    pointer
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A short description of a JSON value for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) if s.chars().count() > 60 => "a long string".into(),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a sequence".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// The schema node a validation error's keyword sits in, and that keyword's parent.
fn keyword_schema<'a>(
    schema: &'a CompiledSchema,
    error: &jsonschema::ValidationError,
) -> Option<(&'a Value, &'a Value)> {
    let uri = error.absolute_keyword_location()?;
    let fragment = uri.as_str().split_once('#')?.1.replace("%24", "$").replace("%25", "%");
    let keyword = schema.source.pointer(&fragment)?;
    let parent_pointer = fragment.rsplit_once('/').map_or("", |(parent, _)| parent);
    Some((keyword, schema.source.pointer(parent_pointer)?))
}

fn type_names(types: &Value) -> Vec<String> {
    match types {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Turns one schema validation error into located problems with helpful messages.
fn schema_problems(schema: &CompiledSchema, error: &jsonschema::ValidationError) -> Vec<Problem> {
    use jsonschema::error::ValidationErrorKind as K;
    let pointer = error.instance_path().as_str().to_owned();
    let instance = error.instance();
    let keyword = keyword_schema(schema, error);
    match error.kind() {
        K::AdditionalProperties { unexpected } => {
            let allowed: Vec<String> = keyword
                .and_then(|(_, parent)| parent.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|name| {
                    let hint = match closest(name, allowed.iter().map(String::as_str)) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None if allowed.is_empty() => "remove it".into(),
                        None => format!("allowed fields here: {}", allowed.join(", ")),
                    };
                    Problem {
                        pointer: format!("{pointer}/{}", escape_pointer(name)),
                        at_key: true,
                        offset: None,
                        ..Problem::error("", format!("unknown field `{name}`")).hint(Some(hint))
                    }
                })
                .collect()
        }
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Problem::error(pointer, format!("missing required field `{name}`"))]
        }
        K::Type { .. } => {
            let expected = keyword.map(|(types, _)| type_names(types)).unwrap_or_default();
            vec![Problem::error(
                pointer,
                format!("expected {}, found {}", expected.join(" or "), describe(instance)),
            )]
        }
        K::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let found = instance.as_str().map_or_else(|| instance.to_string(), str::to_owned);
            let hint = closest(&found, options.iter().map(String::as_str)).map(|b| format!("did you mean `{b}`?"));
            vec![Problem::error(pointer, format!("`{found}` is not one of: {}", options.join(", "))).hint(hint)]
        }
        K::Pattern { .. } | K::MaxLength { .. } | K::MinLength { .. } => {
            vec![Problem::error(
                pointer,
                rule_message(instance, keyword.map(|(_, parent)| parent), error),
            )]
        }
        K::AnyOf { context } | K::OneOfNotValid { context } => alternatives(schema, error, context),
        _ => vec![Problem::error(pointer, error.to_string())],
    }
}

/// "`x` is not a valid Name: <rule>", using the validated type's published rule.
fn rule_message(instance: &Value, parent: Option<&Value>, error: &jsonschema::ValidationError) -> String {
    let rule = parent.and_then(|p| p.get("description")).and_then(Value::as_str);
    let title = parent.and_then(|p| p.get("title")).and_then(Value::as_str);
    let shown = instance.as_str().map_or_else(|| instance.to_string(), str::to_owned);
    let shown = if shown.chars().count() > 60 {
        format!("{}…", shown.chars().take(60).collect::<String>())
    } else {
        shown
    };
    match (title, rule) {
        (Some(title), Some(rule)) => format!("`{shown}` is not a valid {title}: {rule}"),
        (None, Some(rule)) => format!("`{shown}` is not valid here: {rule}"),
        _ => error.to_string(),
    }
}

/// For a value that matches none of several alternatives (`anyOf`/`oneOf`): the problems of
/// the alternative it came closest to — one whose type it has — or else the types expected.
fn alternatives(
    schema: &CompiledSchema,
    error: &jsonschema::ValidationError,
    context: &[Vec<jsonschema::ValidationError<'static>>],
) -> Vec<Problem> {
    use jsonschema::error::ValidationErrorKind as K;
    let here = error.instance_path().as_str();
    // A documented enum is published as `oneOf` of constants: report it as a list of choices.
    let constants: Option<Vec<String>> = context
        .iter()
        .flatten()
        .map(|e| match e.kind() {
            K::Constant { expected_value } => Some(
                expected_value
                    .as_str()
                    .map_or_else(|| expected_value.to_string(), str::to_owned),
            ),
            _ => None,
        })
        .collect();
    if let Some(choices) = constants.filter(|c| !c.is_empty()) {
        let instance = error.instance();
        let found = instance.as_str().map_or_else(|| instance.to_string(), str::to_owned);
        let hint = closest(&found, choices.iter().map(String::as_str)).map(|b| format!("did you mean `{b}`?"));
        return vec![Problem::error(here, format!("`{found}` is not one of: {}", choices.join(", "))).hint(hint)];
    }
    let is_type_mismatch_here =
        |e: &jsonschema::ValidationError| matches!(e.kind(), K::Type { .. }) && e.instance_path().as_str() == here;
    let closest_branch = context
        .iter()
        .filter(|branch| !branch.iter().any(is_type_mismatch_here))
        .min_by_key(|branch| branch.len());
    if let Some(branch) = closest_branch {
        return branch.iter().flat_map(|e| schema_problems(schema, e)).collect();
    }
    let mut expected: Vec<String> = context
        .iter()
        .flatten()
        .filter_map(|e| keyword_schema(schema, e))
        .flat_map(|(types, _)| type_names(types))
        .collect();
    expected.dedup();
    vec![Problem::error(
        here,
        format!(
            "expected {}, found {}",
            expected.join(" or "),
            describe(error.instance())
        ),
    )]
}

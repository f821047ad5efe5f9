//! Reading a request into store terms — which object a path names, who acts, the documents a
//! body holds, what a list asks for — refusing anything malformed with a 4xx that says what is
//! wrong and where. Nothing here trusts its input: paths, headers and bodies are parsed
//! without panicking whatever their bytes, sizes are bounded before anything is read, and
//! documents go through the same validation as `mlspec apply`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use mlspec_spec::batch::check_holdback;
use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::rules::Severity;
use mlspec_spec::validate::{Diagnostic, Format, Limits, validate_bytes};
use mlspec_spec::{Document, Kind, Name, ObjectId, Status, Version};
use mlspec_store::wire::{self, ACTOR_HEADER, MAX_PAGE, SearchRequest};
use mlspec_store::{ListQuery, Selector, StoreError};
use serde::Deserialize;

use super::error::ApiError;
use crate::{BodyError, read_body};

/// Who a change is recorded as when the request does not say.
pub const ANONYMOUS: &str = "anonymous";

/// The kind a path names: its name (`Run`) or file stem (`data-profile`), any case.
pub fn kind(text: &str) -> Result<Kind, ApiError> {
    Kind::lookup(text).map_err(|e| {
        ApiError::from(StoreError::not_found(e.to_string()))
            .with_hint("write a kind as documents do, e.g. Run, Dataset, ModelPackage")
    })
}

/// The object `/ids/{id}` names.
pub fn by_id(id: &str) -> Result<Selector, ApiError> {
    ObjectId::new(id)
        .map(Selector::Id)
        .map_err(|e| ApiError::invalid(format!("`{}` is not an object id: {e}", excerpt(id))))
}

/// The object `/{kind}/{text}` names: by id or name (`name@version` for a version), or by
/// name only with `?by=name`.
pub fn by_kind(kind_text: &str, text: &str, by_name: bool) -> Result<Selector, ApiError> {
    let kind = kind(kind_text)?;
    if !by_name {
        return Ok(Selector::KindText {
            kind,
            text: text.to_owned(),
        });
    }
    let (name, version) = match text.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (text, None),
    };
    let name = Name::new(name).map_err(|e| ApiError::invalid(format!("`{}` is not a name: {e}", excerpt(name))))?;
    let version = version
        .map(Version::new)
        .transpose()
        .map_err(|e| ApiError::invalid(format!("`{}` has a bad version: {e}", excerpt(text))))?;
    Ok(Selector::Name { kind, name, version })
}

/// How a `/{kind}/{text}` path is meant.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByParam {
    /// `name`: the text is a name (`name@version`), never an id.
    pub by: Option<ByWhat>,
}

/// See [`ByParam`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ByWhat {
    /// Only a name.
    Name,
}

/// Who acts: the `X-MLSpec-Actor` header (percent-encoded UTF-8), else [`ANONYMOUS`]. On a
/// server with tokens the token check ([`crate::auth`]) has set it to the token's name.
pub fn actor(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(ACTOR_HEADER) else {
        return Ok(ANONYMOUS.to_owned());
    };
    wire::decode_actor(value.as_bytes()).map_err(ApiError::invalid)
}

/// The largest body of documents accepted, in bytes: what `mlspec validate` reads
/// ([`Limits::default`]), so that any document a store accepts can be sent.
pub const MAX_DOCUMENTS_BYTES: usize = 64 << 20;
/// The largest body of metric points, in bytes: 10,000 points with long keys.
pub const MAX_SERIES_BODY_BYTES: usize = 4 << 20;
/// The largest other request body (a query, a new name), in bytes.
pub const MAX_SMALL_BODY_BYTES: usize = 64 << 10;

/// The body, read within `max` bytes and `limit` time.
pub async fn body(headers: &HeaderMap, body: Body, max: usize, limit: Duration) -> Result<Bytes, ApiError> {
    read_body(headers, body, max, limit).await.map_err(|error| match error {
        BodyError::TooLarge => ApiError::form(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {max} bytes, the most this endpoint takes"),
            "send fewer documents per request",
        ),
        BodyError::Unreadable(reason) => ApiError::invalid(reason),
        BodyError::TooSlow(reason) => ApiError::form(StatusCode::REQUEST_TIMEOUT, reason, "send the body at once"),
    })
}

/// The format a body's Content-Type names: JSON or YAML; anything else is 415.
pub fn format(headers: &HeaderMap, accepts_yaml: bool) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let expected = if accepts_yaml {
        "application/json or application/yaml"
    } else {
        "application/json"
    };
    match essence.as_str() {
        "application/json" => Ok(Format::Json),
        e if e.starts_with("application/") && e.ends_with("+json") => Ok(Format::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" if accepts_yaml => Ok(Format::Yaml),
        _ => Err(ApiError::form(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body's Content-Type is `{}`; this endpoint takes {expected}",
                excerpt(content_type)
            ),
            format!(
                "send the header Content-Type: {}",
                expected.split(' ').next().unwrap_or_default()
            ),
        )),
    }
}

/// A JSON body as `T`.
pub fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("the body is not the JSON expected: {e}")))
}

/// The documents of a body, checked as `mlspec apply` checks files: each against the schemas
/// and rules, then the rules across them. Any error refuses the whole batch, with every
/// problem located (document index, line and column, JSON Pointer).
pub fn documents(bytes: &[u8], format: Format) -> Result<Vec<Document>, ApiError> {
    let outcome = validate_bytes(bytes, Some(format), None, &Limits::default());
    if outcome.has_errors() {
        let errors: Vec<Diagnostic> = outcome
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        return Err(ApiError::invalid_documents(
            summary(&errors, outcome.omitted.errors),
            errors,
        ));
    }
    if outcome.documents.is_empty() {
        return Err(ApiError::invalid("the body holds no document").with_hint("send one document or an array of them"));
    }
    check_together(&outcome.documents)?;
    Ok(outcome.documents)
}

/// The rule across a batch that `mlspec apply` checks and the store does not: a test
/// report's holdback data is not its evaluation's. (Unique names the store checks itself, with
/// its own kinds: AlreadyExists for a name taken ignoring case.)
fn check_together(documents: &[Document]) -> Result<(), ApiError> {
    let refs: Vec<&Document> = documents.iter().collect();
    let findings: Vec<_> = check_holdback(&refs)
        .into_iter()
        .filter(|f| f.finding.severity == Severity::Error)
        .collect();
    let Some(first) = findings.first() else { return Ok(()) };
    let message = format!(
        "documents {} and {}: {}",
        first.related.min(first.document) + 1,
        first.related.max(first.document) + 1,
        first.finding.message
    );
    let diagnostics = findings
        .into_iter()
        .map(|f| Diagnostic {
            severity: f.finding.severity,
            document: Some(f.document),
            position: None,
            path: Some(f.finding.path),
            message: f.finding.message,
            hint: f.finding.hint,
        })
        .collect();
    Err(ApiError::invalid_documents(message, diagnostics))
}

/// One line for a set of problems: the first, located, and how many more.
fn summary(errors: &[Diagnostic], omitted: usize) -> String {
    let Some(first) = errors.first() else {
        return "the documents are invalid".to_owned();
    };
    let mut at = Vec::new();
    if let Some(document) = first.document {
        at.push(format!("document {}", document + 1));
    }
    if let Some(position) = &first.position {
        at.push(format!("line {}, column {}", position.line, position.column));
    }
    if let Some(path) = &first.path {
        at.push(path.clone());
    }
    let more = errors.len() + omitted - 1;
    let more = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    if at.is_empty() {
        format!("{}{more}", first.message)
    } else {
        format!("{}: {}{more}", at.join(", "), first.message)
    }
}

/// The query string of `GET /api/v1/{kind}`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// A filter, as `mlspec list --where` takes it: `metrics.accuracy > 0.9 and labels.team = "risk"`.
    #[serde(rename = "where")]
    #[param(rename = "where")]
    pub where_text: Option<String>,
    /// The order: `name`, `created`, `updated`, `metrics.KEY`, … then `asc` or `desc`.
    pub order_by: Option<String>,
    /// At most this many (a page holds at most 1000).
    #[param(minimum = 0)]
    pub limit: Option<u32>,
    /// The `nextPageToken` of the previous page.
    pub page_token: Option<String>,
    /// Statuses to show, comma-separated (`Active,Deprecated`); Active only when absent.
    pub status: Option<String>,
    /// Labels every object must carry, comma-separated `key=value` pairs.
    pub label: Option<String>,
    /// Field keys whose current values each object carries in `fields`, comma-separated
    /// (`metrics.accuracy,params.lr`); `GET /api/v1/fields/{kind}` lists them.
    pub columns: Option<String>,
}

impl ListParams {
    /// The same query as a [`SearchRequest`].
    pub fn into_search(self, kind: Kind) -> Result<SearchRequest, ApiError> {
        Ok(SearchRequest {
            kind,
            statuses: statuses(self.status.as_deref())?,
            labels: labels(self.label.as_deref())?,
            where_text: self.where_text,
            filter: None,
            order_by: self.order_by,
            order: None,
            limit: self.limit,
            page_token: self.page_token,
            columns: comma_separated(self.columns.as_deref()).map(str::to_owned).collect(),
        })
    }
}

/// The non-empty, trimmed items of a comma-separated list.
fn comma_separated(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn statuses(text: Option<&str>) -> Result<Vec<Status>, ApiError> {
    comma_separated(text)
        .map(|word| {
            serde_json::from_value(serde_json::Value::String(word.to_owned())).map_err(|_| {
                ApiError::invalid(format!("`{}` is not a status", excerpt(word)))
                    .with_hint("write Active, Deprecated or Archived")
            })
        })
        .collect()
}

fn labels(text: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    comma_separated(text)
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| ApiError::invalid(format!("`{}` is not key=value", excerpt(pair))))
        })
        .collect()
}

/// A search as a store query, and the page it asks for: the offset, and how many to return
/// (at most [`MAX_PAGE`]).
pub fn list_query(search: SearchRequest) -> Result<(ListQuery, u32), ApiError> {
    let filter = match (search.where_text, search.filter) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give `where` or `filter`, not both")),
        (Some(text), None) => Some(parse_filter(&text).map_err(|diagnostics| filter_error(&text, &diagnostics))?),
        (None, Some(tree)) => Some(tree.try_into()?),
        (None, None) => None,
    };
    let order = match (search.order_by, search.order) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give `orderBy` or `order`, not both")),
        (Some(text), None) => Some(parse_order(&text).map_err(ApiError::invalid)?),
        (None, Some(tree)) => Some(tree.into()),
        (None, None) => None,
    };
    let offset = search
        .page_token
        .as_deref()
        .map(wire::page_offset)
        .transpose()?
        .unwrap_or(0);
    let page = search.limit.map_or(MAX_PAGE, |limit| limit.min(MAX_PAGE));
    let query = ListQuery {
        kind: search.kind,
        statuses: search.statuses,
        labels: search.labels,
        filter,
        order,
        limit: Some(page),
        offset,
        columns: search.columns,
    };
    Ok((query, page))
}

/// A filter's first problem, located by its column (its byte offset in the text, from 1).
fn filter_error(text: &str, diagnostics: &[mlspec_spec::expr::diagnostic::ExprDiagnostic]) -> ApiError {
    let Some(first) = diagnostics.first() else {
        return ApiError::invalid(format!("the filter `{}` is invalid", excerpt(text)));
    };
    let near: String = text
        .get(first.span.start..)
        .unwrap_or_default()
        .chars()
        .take(20)
        .collect();
    let near = if near.is_empty() {
        "at its end".to_owned()
    } else {
        format!("near `{near}`")
    };
    let message = format!(
        "the filter is invalid at column {} ({near}): {}",
        first.span.start + 1,
        first.message
    );
    let hint = first
        .help
        .clone()
        .unwrap_or_else(|| "write e.g. metrics.accuracy > 0.9 and labels.team = \"risk\"".to_owned());
    ApiError::invalid(message).with_hint(hint)
}

/// At most 100 characters of untrusted text, for messages.
pub fn excerpt(text: &str) -> String {
    let mut short: String = text.chars().take(100).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

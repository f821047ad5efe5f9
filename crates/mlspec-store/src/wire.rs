//! The store's REST API as data: the request and answer bodies that `mlspec server` (the
//! `mlspec-server` crate) reads and writes and that [`HttpStore`](crate::HttpStore) sends and
//! reads, kept in one place so that both ends agree by construction.
//!
//! # Paths
//!
//! An object is named in a path the way a reference names it in a document:
//!
//! | selector | path |
//! |---|---|
//! | by id ([`Selector::Id`]) | `/api/v1/ids/{id}` |
//! | kind and id-or-name ([`Selector::KindText`], what `mlspec get KIND NAME\|ID` means) | `/api/v1/{Kind}/{text}` |
//! | kind and name only ([`Selector::Name`]) | `/api/v1/{Kind}/{name}[@version]?by=name` |
//!
//! followed by nothing (the object), `/history`, `/lineage`, or an action (`/deprecate`,
//! `/archive`, `/reactivate`, `/rename`, `/promote`). A run's metric series are reached by id
//! only: `/api/v1/ids/{id}/series` (its keys; POST appends an [`AppendRequest`]) and
//! `/api/v1/ids/{id}/series/points?key=…` ([`SeriesParams`]).
//!
//! # Queries
//!
//! `GET /api/v1/{Kind}?where=…` takes a filter as text, for people. A program holding a parsed
//! [`Filter`] posts it as a tree instead ([`SearchRequest`], [`FilterTree`]): a filter's
//! numbers are already in the metric's recorded unit, so printing it back to text and parsing
//! that again would scale them twice.
//!
//! # Errors
//!
//! Every error answer is `{"error": {"kind": …, "message": …, "hint"?: …}}` ([`ErrorBody`]),
//! with the status [`ErrorKind::http_status`] gives; the kind travels in the body, so a client
//! gets back exactly the kind the server's store raised.

use mlspec_spec::expr::ast::BinOp;
use mlspec_spec::expr::query::{Field, Filter, Literal, OrderBy, OrderKey};
use mlspec_spec::{Kind, Status};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, Result, StoreError};
use crate::model::{Axis, ListQuery, ObjectSummary, Selector, SeriesPoint, SeriesQuery};

/// The prefix of every API path.
pub const API_PREFIX: &str = "/api/v1";

/// The header naming who makes a change (percent-encoded UTF-8). Until the server has tokens,
/// the client says who it is; an auth layer will set the actor from the token instead.
pub const ACTOR_HEADER: &str = "x-mlspec-actor";

/// Who acts, from an [`ACTOR_HEADER`] value: percent-encoded UTF-8, 1 to 256 printable
/// characters once trimmed; the error says what is wrong.
pub fn decode_actor(value: &[u8]) -> std::result::Result<String, String> {
    let decoded = percent_encoding::percent_decode(value)
        .decode_utf8()
        .map_err(|_| format!("the {ACTOR_HEADER} header is not percent-encoded UTF-8"))?;
    let actor = decoded.trim();
    if actor.is_empty() || actor.chars().count() > 256 || actor.chars().any(char::is_control) {
        return Err(format!(
            "the {ACTOR_HEADER} header must name who acts in 1 to 256 printable characters"
        ));
    }
    Ok(actor.to_owned())
}

/// The most objects one page of a list holds; a larger `limit` is answered in pages.
pub const MAX_PAGE: u32 = 1000;

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error, with the kind the store raised.
    pub error: StoreError,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ListPage {
    /// The objects, in the query's order.
    pub items: Vec<ObjectSummary>,
    /// Pass as `page_token` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The database's plan for a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// One line per step.
    pub plan: Vec<String>,
}

/// The field keys a kind's objects have: `GET /api/v1/fields/{kind}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldKeys {
    /// `metrics.KEY`, `params.KEY`, `spec.FIELD`, in order.
    pub keys: Vec<String>,
}

/// Points to append to a run's metric series: `POST /api/v1/ids/{id}/series`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    /// The points, at most [`MAX_APPEND_POINTS`](crate::MAX_APPEND_POINTS).
    pub points: Vec<SeriesPoint>,
}

/// The query string of `GET /api/v1/ids/{id}/series/points`: which metric, on which axis,
/// within which range, in how many points at most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SeriesParams {
    /// The metric's key (keys may hold `/`, so it is a parameter, not a path segment).
    pub key: String,
    /// `step` (the default) or `time` (microseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<Axis>,
    /// The range's start on the axis; with `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
    /// The range's end on the axis; with `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
    /// At most this many points (4 to 8192; 2000 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<u32>,
}

impl SeriesParams {
    /// The parameters of a read of `key`.
    pub fn from_query(key: &str, query: &SeriesQuery) -> SeriesParams {
        SeriesParams {
            key: key.to_owned(),
            axis: Some(query.axis),
            from: query.range.map(|r| r.0),
            to: query.range.map(|r| r.1),
            max_points: Some(query.max_points),
        }
    }

    /// The read they ask for; `from` without `to` (or the reverse) is invalid.
    pub fn query(&self) -> Result<SeriesQuery> {
        let range = match (self.from, self.to) {
            (Some(from), Some(to)) => Some((from, to)),
            (None, None) => None,
            _ => {
                return Err(StoreError::invalid("give both `from` and `to`, or neither")
                    .with_hint("a range is from=X&to=Y on the axis"));
            }
        };
        let defaults = SeriesQuery::default();
        Ok(SeriesQuery {
            axis: self.axis.unwrap_or(defaults.axis),
            range,
            max_points: self.max_points.unwrap_or(defaults.max_points),
        })
    }
}

/// A new name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenameRequest {
    /// The name; it must be free among the kind's non-archived objects.
    pub name: String,
}

/// Where to promote an Artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromoteRequest {
    /// The Dataset (created if needed).
    pub dataset: String,
    /// The new version; the next one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A list query as a program sends it: `POST /api/v1/search` (and `/api/v1/explain`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchRequest {
    /// The kind.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "Run"))]
    pub kind: Kind,
    /// The statuses to show; Active only when empty.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub statuses: Vec<Status>,
    /// Labels every object must carry, as `[key, value]` pairs.
    #[serde(default)]
    pub labels: Vec<(String, String)>,
    /// A filter as text (`metrics.accuracy > 0.9`), as `--where` takes it.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_text: Option<String>,
    /// A parsed filter; not together with `where`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<FilterTree>,
    /// The order as text (`metrics.accuracy desc`), as `--order-by` takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// A parsed order; not together with `orderBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub order: Option<OrderTree>,
    /// At most this many (one page holds at most [`MAX_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Where the previous page ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Field keys whose current values each listed object carries in its `fields`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

impl SearchRequest {
    /// The request for `query` starting at `offset`.
    pub fn from_query(query: &ListQuery, offset: u32, limit: Option<u32>) -> SearchRequest {
        SearchRequest {
            kind: query.kind,
            statuses: query.statuses.clone(),
            labels: query.labels.clone(),
            where_text: None,
            filter: query.filter.as_ref().map(FilterTree::from),
            order_by: None,
            order: query.order.as_ref().map(OrderTree::from),
            limit,
            page_token: (offset > 0).then(|| page_token(offset)),
            columns: query.columns.clone(),
        }
    }
}

/// A [`Filter`] as JSON: `{"all": […]}`, `{"any": […]}` or
/// `{"compare": {"field": {"metric": "accuracy"}, "op": ">", "value": 0.9}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FilterTree {
    /// Every part holds.
    All(Vec<FilterTree>),
    /// Some part holds.
    Any(Vec<FilterTree>),
    /// A field compared with a value.
    Compare {
        /// The field.
        field: FieldName,
        /// `=`, `!=`, `<`, `<=`, `>` or `>=`.
        op: String,
        /// A number, text or boolean.
        value: LiteralValue,
    },
}

/// A field of a [`FilterTree`] or [`OrderTree`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldName {
    /// `metrics.KEY`.
    Metric(String),
    /// `params.KEY`.
    Param(String),
    /// `labels.KEY`.
    Label(String),
    /// `spec.KEY`.
    Spec(String),
    /// The name.
    Name,
}

/// A literal of a [`FilterTree`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LiteralValue {
    /// True or false.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
}

/// An [`OrderBy`] as JSON: `{"key": {"field": {"metric": "accuracy"}}, "descending": true}`,
/// or the key `"created"` / `"updated"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTree {
    /// What to sort by.
    pub key: OrderKeyName,
    /// Largest first.
    #[serde(default)]
    pub descending: bool,
}

/// The key of an [`OrderTree`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderKeyName {
    /// A field.
    Field(FieldName),
    /// Creation time.
    Created,
    /// Time of the latest change.
    Updated,
}

/// The comparison operators a filter may hold, for reading them back from their symbols.
const COMPARISONS: [BinOp; 6] = [BinOp::Eq, BinOp::Ne, BinOp::Lt, BinOp::Le, BinOp::Gt, BinOp::Ge];

impl From<&Filter> for FilterTree {
    fn from(filter: &Filter) -> Self {
        match filter {
            Filter::All(parts) => FilterTree::All(parts.iter().map(FilterTree::from).collect()),
            Filter::Any(parts) => FilterTree::Any(parts.iter().map(FilterTree::from).collect()),
            Filter::Compare { field, op, value } => FilterTree::Compare {
                field: FieldName::from(field),
                op: op.symbol().to_owned(),
                value: match value {
                    Literal::Num(n) => LiteralValue::Num(*n),
                    Literal::Text(t) => LiteralValue::Text(t.clone()),
                    Literal::Bool(b) => LiteralValue::Bool(*b),
                },
            },
        }
    }
}

impl TryFrom<FilterTree> for Filter {
    type Error = StoreError;

    fn try_from(tree: FilterTree) -> Result<Filter> {
        let parts = |parts: Vec<FilterTree>| parts.into_iter().map(Filter::try_from).collect::<Result<Vec<_>>>();
        Ok(match tree {
            FilterTree::All(inner) => Filter::All(parts(inner)?),
            FilterTree::Any(inner) => Filter::Any(parts(inner)?),
            FilterTree::Compare { field, op, value } => Filter::Compare {
                field: field.into(),
                op: COMPARISONS
                    .into_iter()
                    .find(|known| known.symbol() == op)
                    .ok_or_else(|| {
                        StoreError::invalid(format!("`{op}` is not a comparison"))
                            .with_hint("use one of =, !=, <, <=, >, >=")
                    })?,
                value: match value {
                    LiteralValue::Num(n) => Literal::Num(n),
                    LiteralValue::Text(t) => Literal::Text(t),
                    LiteralValue::Bool(b) => Literal::Bool(b),
                },
            },
        })
    }
}

impl From<&Field> for FieldName {
    fn from(field: &Field) -> Self {
        match field {
            Field::Metric(key) => FieldName::Metric(key.clone()),
            Field::Param(key) => FieldName::Param(key.clone()),
            Field::Label(key) => FieldName::Label(key.clone()),
            Field::Spec(key) => FieldName::Spec(key.clone()),
            Field::Name => FieldName::Name,
        }
    }
}

impl From<FieldName> for Field {
    fn from(field: FieldName) -> Self {
        match field {
            FieldName::Metric(key) => Field::Metric(key),
            FieldName::Param(key) => Field::Param(key),
            FieldName::Label(key) => Field::Label(key),
            FieldName::Spec(key) => Field::Spec(key),
            FieldName::Name => Field::Name,
        }
    }
}

impl From<&OrderBy> for OrderTree {
    fn from(order: &OrderBy) -> Self {
        OrderTree {
            key: match &order.key {
                OrderKey::Field(field) => OrderKeyName::Field(field.into()),
                OrderKey::Created => OrderKeyName::Created,
                OrderKey::Updated => OrderKeyName::Updated,
            },
            descending: order.descending,
        }
    }
}

impl From<OrderTree> for OrderBy {
    fn from(order: OrderTree) -> Self {
        OrderBy {
            key: match order.key {
                OrderKeyName::Field(field) => OrderKey::Field(field.into()),
                OrderKeyName::Created => OrderKey::Created,
                OrderKeyName::Updated => OrderKey::Updated,
            },
            descending: order.descending,
        }
    }
}

/// The token of the page that starts `offset` objects into a list.
pub fn page_token(offset: u32) -> String {
    format!("o{offset}")
}

/// The offset a page token stands for.
pub fn page_offset(token: &str) -> Result<u32> {
    token
        .strip_prefix('o')
        .and_then(|digits| digits.parse::<u32>().ok())
        .ok_or_else(|| {
            StoreError::invalid(format!(
                "`{}` is not a page token",
                token.chars().take(40).collect::<String>()
            ))
            .with_hint("pass the nextPageToken of the previous page unchanged")
        })
}

/// The path segments after [`API_PREFIX`] that name a selected object, and whether the name
/// is meant as a name only (`?by=name`).
pub fn selector_segments(selector: &Selector) -> (Vec<String>, bool) {
    match selector {
        Selector::Id(id) => (vec!["ids".to_owned(), id.as_str().to_owned()], false),
        Selector::KindText { kind, text } => (vec![kind.as_str().to_owned(), text.clone()], false),
        Selector::Name { kind, name, version } => {
            let text = match version {
                Some(version) => format!("{name}@{version}"),
                None => name.to_string(),
            };
            (vec![kind.as_str().to_owned(), text], true)
        }
    }
}

/// An error from an answer's status and body: the body's own error when it is one of the
/// API's, else the status read as a kind.
pub fn error_from_answer(status: u16, body: &[u8], url: &str) -> StoreError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => error,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.chars().take(200).collect();
            StoreError::new(
                ErrorKind::from_http_status(status),
                format!("the server at {url} answered HTTP {status}: {}", excerpt.trim()),
            )
            .with_hint("is that an mlspec server? `mlspec server` answers with JSON errors")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlspec_spec::expr::query::{parse_filter, parse_order};

    #[test]
    fn filters_travel_unchanged() {
        for text in [
            "metrics.latency_ms < 40ms and labels.team = \"risk\"",
            "not (params.lr >= 0.1) or name != \"x\" or spec.status = \"Finished\"",
            "metrics.accuracy > 0.9 and (params.opt = \"adam\" or params.warm = true)",
        ] {
            let filter = parse_filter(text).unwrap();
            let json = serde_json::to_string(&FilterTree::from(&filter)).unwrap();
            let back = Filter::try_from(serde_json::from_str::<FilterTree>(&json).unwrap()).unwrap();
            assert_eq!(back, filter, "{text}: {json}");
        }
    }

    #[test]
    fn orders_travel_unchanged() {
        for text in ["metrics.accuracy desc", "name", "created", "updated asc", "labels.team"] {
            let order = parse_order(text).unwrap();
            let json = serde_json::to_string(&OrderTree::from(&order)).unwrap();
            assert_eq!(
                OrderBy::from(serde_json::from_str::<OrderTree>(&json).unwrap()),
                order,
                "{json}"
            );
        }
    }

    #[test]
    fn an_unknown_operator_is_invalid() {
        let tree: FilterTree =
            serde_json::from_str(r#"{"compare": {"field": "name", "op": "+", "value": "a"}}"#).unwrap();
        assert_eq!(Filter::try_from(tree).unwrap_err().kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn page_tokens_round_trip_and_refuse_junk() {
        assert_eq!(page_offset(&page_token(1234)).unwrap(), 1234);
        for junk in ["", "o", "ox", "12", "o-1", "o99999999999"] {
            assert_eq!(
                page_offset(junk).unwrap_err().kind,
                ErrorKind::InvalidArgument,
                "{junk}"
            );
        }
    }

    #[test]
    fn error_kinds_travel_by_body_and_fall_back_to_the_status() {
        let error = StoreError::new(ErrorKind::FailedPrecondition, "archived").with_hint("reactivate it");
        let body = serde_json::to_vec(&ErrorBody { error: error.clone() }).unwrap();
        assert_eq!(error_from_answer(409, &body, "http://h"), error);
        assert_eq!(
            error_from_answer(502, b"<html>bad gateway", "http://h").kind,
            ErrorKind::Unavailable
        );
        assert_eq!(error_from_answer(404, b"", "http://h").kind, ErrorKind::NotFound);
    }
}

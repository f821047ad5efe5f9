//! The mlspec REST API, `/api/v1/…`: the [`Store`] trait over HTTP, so that many machines,
//! pods and people share one store through `mlspec server`. Each route is one store method —
//! one transaction — and answers JSON; [`mlspec_store::HttpStore`] is its client, and
//! [`mlspec_store::wire`] holds the bodies both ends share.
//!
//! | route | store method |
//! |---|---|
//! | `POST /api/v1/apply` (JSON document or array, or YAML documents) | [`Store::apply`] |
//! | `GET /api/v1/{kind}?where&order_by&limit&page_token&status&label&columns` | [`Store::list`], paged |
//! | `GET /api/v1/fields/{kind}` | [`Store::field_keys`] |
//! | `POST /api/v1/search`, `POST /api/v1/explain` (a [`SearchRequest`]) | [`Store::list`], [`Store::explain_list`] |
//! | `GET /api/v1/ids/{id}`, `GET /api/v1/{kind}/{name}` (`name@version`; `?by=name`) | [`Store::get`] |
//! | `…/history` | [`Store::history`] |
//! | `…/lineage?direction&depth&format` (json, dot, mermaid) | [`Store::lineage`] |
//! | `POST …/deprecate`, `…/archive`, `…/reactivate` | [`Store::set_status`] |
//! | `POST /api/v1/ids/{id}/series` (`{"points": […]}`, at most 10,000) | [`Store::append_metrics`] |
//! | `GET /api/v1/ids/{id}/series` | [`Store::metric_keys`] |
//! | `GET /api/v1/ids/{id}/series/points?key&axis&from&to&max_points` | [`Store::metric_series`] |
//! | `POST …/rename` `{"name"}`, `POST …/promote` `{"dataset", "version"?}` | [`Store::rename`], [`Store::promote`] |
//! | `GET /api/v1/store`, `GET /api/v1/store/verify` | [`Store::info`], [`Store::verify`] |
//! | `GET /api/v1/openapi.json` | this API's OpenAPI 3.1 document, generated from the code ([`ApiDoc`]) |
//!
//! Errors are [`error::ApiError`]s; requests are read by [`request`]. Who acts comes from the
//! `X-MLSpec-Actor` header ([`request::actor`]); on a server with tokens the token check
//! ([`crate::auth`]) sets that header to the token's name, whatever the client sent.

pub mod error;
pub mod request;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use mlspec_spec::{Name, Status, Version};
use mlspec_store::wire::{
    AppendRequest, FieldKeys, ListPage, Plan, PromoteRequest, RenameRequest, SearchRequest, SeriesParams, page_token,
};
use mlspec_store::{
    AppendReport, ApplyReport, Change, Direction, Event, LineageGraph, Selector, Series, SeriesSummary, Store,
    StoreInfo, StoredObject, VerifyReport,
};
use serde::Deserialize;
use utoipa::OpenApi;

use crate::BodyTimeout;
use error::{ApiError, ErrorAnswer};
use request::{ByParam, ByWhat, ListParams, MAX_DOCUMENTS_BYTES, MAX_SERIES_BODY_BYTES, MAX_SMALL_BODY_BYTES};

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The store served.
    pub store: Arc<dyn Store>,
}

/// The API's routes over `store`; a request that takes longer than `timeout` is stopped and
/// answered 503.
pub fn router(store: Arc<dyn Store>, timeout: Duration) -> Router {
    Router::new()
        .nest(
            "/api/v1",
            Router::new()
                .route("/openapi.json", get(openapi))
                .route("/store", get(info))
                .route("/store/verify", get(verify))
                .route("/apply", post(apply))
                .route("/search", post(search))
                .route("/explain", post(explain))
                .route("/fields/{kind}", get(field_keys))
                .route("/ids/{id}", get(get_by_id))
                .route("/ids/{id}/history", get(history_by_id))
                .route("/ids/{id}/lineage", get(lineage_by_id))
                .route("/ids/{id}/series", get(series_keys).post(append_series))
                .route("/ids/{id}/series/points", get(series_points))
                .route("/ids/{id}/{action}", post(act_by_id))
                .route("/{kind}", get(list))
                .route("/{kind}/{name}", get(get_by_name))
                .route("/{kind}/{name}/history", get(history_by_name))
                .route("/{kind}/{name}/lineage", get(lineage_by_name))
                .route("/{kind}/{name}/{action}", post(act_by_name))
                // Nested, so that this fallback answers under /api/v1 only: the web UI owns
                // the server's fallback (its 404 page), and axum merges routers with one at most.
                .fallback(unknown_route)
                .method_not_allowed_fallback(wrong_method),
        )
        .layer(axum::middleware::from_fn_with_state(timeout, within))
        .with_state(ApiState { store })
}

/// Answers 503 for a request not done within the timeout; its work is dropped (a store
/// transaction not yet committed rolls back).
async fn within(
    State(timeout): State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::from(
            mlspec_store::StoreError::new(
                mlspec_store::ErrorKind::Unavailable,
                format!("the request took longer than {} s and was stopped", timeout.as_secs_f64()),
            )
            .with_hint("retry (applying the same documents again is safe: unchanged content writes nothing); the server's --request-timeout sets the limit"),
        )
        .into_response(),
    }
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mlspec",
        description = "The mlspec metadata store over HTTP: apply, get, list, lifecycle, history, lineage, metric series, verify."
    ),
    paths(
        info,
        verify,
        apply,
        search,
        explain,
        field_keys,
        list,
        get_by_id,
        history_by_id,
        lineage_by_id,
        append_series,
        series_keys,
        series_points,
        act_by_id,
        get_by_name,
        history_by_name,
        lineage_by_name,
        act_by_name,
    ),
    components(schemas(ErrorAnswer, Direction, GraphFormat, ByWhat, Action)),
    modifiers(&Tokens)
)]
pub struct ApiDoc;

/// Adds to the document what a server with tokens asks for ([`crate::auth`]): a bearer token
/// or basic auth with the token as password (or neither, on a server without tokens), and the
/// 401 and 403 answers of every operation.
struct Tokens;

impl utoipa::Modify for Tokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
        use utoipa::openapi::{Ref, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemes = [
            (
                "bearer",
                HttpAuthScheme::Bearer,
                "A token of `mlspec server token create`",
            ),
            (
                "basic",
                HttpAuthScheme::Basic,
                "Any user name, a token as the password (MLflow's MLFLOW_TRACKING_USERNAME/PASSWORD)",
            ),
        ];
        for (name, scheme, description) in schemes {
            let mut http = Http::new(scheme);
            http.description = Some(description.to_owned());
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
        openapi.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("basic", Vec::<String>::new()),
            SecurityRequirement::default(),
        ]);
        let refusal = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::Content::new(Some(Ref::from_schema_name("ErrorAnswer"))),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.insert(
                    "401".to_owned(),
                    refusal("No token, or one the server does not know (a server with tokens)").into(),
                );
                responses.insert(
                    "403".to_owned(),
                    refusal("The token's scope does not allow the request").into(),
                );
            }
        }
    }
}

/// Result of a handler.
type Answer<T> = Result<Json<T>, ApiError>;

async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::from(mlspec_store::StoreError::new(
            mlspec_store::ErrorKind::Internal,
            format!("cannot write the OpenAPI document: {e}"),
        ))
        .into_response(),
    }
}

async fn unknown_route() -> ApiError {
    ApiError::from(mlspec_store::StoreError::not_found("no such route"))
        .with_hint("GET /api/v1/openapi.json lists the API's routes")
}

async fn wrong_method() -> ApiError {
    ApiError::form(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take that method",
        "GET /api/v1/openapi.json lists each route's methods",
    )
}

/// How long a request's body may take to arrive (the server's header timeout).
fn body_time(timeout: Option<Extension<BodyTimeout>>) -> Duration {
    timeout.map(|Extension(t)| t).unwrap_or_default().0
}

fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    extracted
        .map(|Path(value)| value)
        .map_err(|e| ApiError::invalid(format!("bad path: {}", e.body_text())))
}

fn query<T>(extracted: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    extracted
        .map(|Query(value)| value)
        .map_err(|e| ApiError::invalid(format!("bad query string: {}", e.body_text())))
}

/// The store's identity and size.
#[utoipa::path(get, path = "/api/v1/store", tag = "store",
    responses((status = 200, description = "Done", body = StoreInfo), (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn info(State(state): State<ApiState>) -> Answer<StoreInfo> {
    Ok(Json(state.store.info().await?))
}

/// Recomputes the hash chain and checks every derived table against it.
#[utoipa::path(get, path = "/api/v1/store/verify", tag = "store",
    responses((status = 200, description = "Done", body = VerifyReport), (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn verify(State(state): State<ApiState>) -> Answer<VerifyReport> {
    Ok(Json(state.store.verify().await?))
}

/// Validates documents as `mlspec apply` does, then creates or updates them in one
/// transaction: all or nothing.
#[utoipa::path(post, path = "/api/v1/apply", tag = "objects",
    params(("x-mlspec-actor" = Option<String>, Header, description = "Who acts (percent-encoded UTF-8); `anonymous` when absent. A server with tokens records the token's name instead")),
    request_body(description = "One document or an array of them (JSON), or YAML documents separated by `---`",
        content((Object = "application/json"), (String = "application/yaml"))),
    responses(
        (status = 200, description = "Done", body = ApplyReport),
        (status = 400, description = "An invalid document (located) or reference", body = ErrorAnswer),
        (status = 409, description = "A name is taken, or an object's state forbids the change", body = ErrorAnswer),
        (status = 413, description = "The body is over 64 MiB", body = ErrorAnswer),
        (status = 415, description = "Not JSON or YAML", body = ErrorAnswer),
        (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn apply(
    State(state): State<ApiState>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Answer<ApplyReport> {
    let format = request::format(&headers, true)?;
    let actor = request::actor(&headers)?;
    let bytes = request::body(&headers, body, MAX_DOCUMENTS_BYTES, body_time(timeout)).await?;
    let documents = request::documents(&bytes, format)?;
    Ok(Json(state.store.apply(&documents, &actor).await?))
}

/// Lists objects of a kind: Active only unless `status` says, filtered, ordered, in pages.
#[utoipa::path(get, path = "/api/v1/{kind}", tag = "objects",
    params(("kind" = String, Path, description = "A kind: Run, Dataset, …"), ListParams),
    responses(
        (status = 200, description = "Done", body = ListPage),
        (status = 400, description = "A bad filter (with its column), order, status or page token", body = ErrorAnswer),
        (status = 404, description = "No such kind", body = ErrorAnswer),
        (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn list(
    State(state): State<ApiState>,
    kind: Result<Path<String>, PathRejection>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Answer<ListPage> {
    let kind = request::kind(&path(kind)?)?;
    let search = query(params)?.into_search(kind)?;
    page(&state, search).await
}

/// The field keys (`metrics.KEY`, `params.KEY`, `spec.FIELD`) Active objects of a kind hold a
/// value for: the columns a list can show (`columns`), in order, at most 1000.
#[utoipa::path(get, path = "/api/v1/fields/{kind}", tag = "objects",
    params(("kind" = String, Path, description = "A kind: Run, Dataset, …")),
    responses(
        (status = 200, description = "Done", body = FieldKeys),
        (status = 404, description = "No such kind", body = ErrorAnswer),
        (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn field_keys(State(state): State<ApiState>, kind: Result<Path<String>, PathRejection>) -> Answer<FieldKeys> {
    let kind = request::kind(&path(kind)?)?;
    Ok(Json(FieldKeys {
        keys: state.store.field_keys(kind).await?,
    }))
}

/// Lists objects with a query given as JSON (a filter as text or as a tree).
#[utoipa::path(post, path = "/api/v1/search", tag = "objects",
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Done", body = ListPage),
        (status = 400, description = "A bad query", body = ErrorAnswer),
        (status = 413, description = "The body is over 64 KiB", body = ErrorAnswer),
        (status = 415, description = "Not JSON", body = ErrorAnswer),
        (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn search(
    State(state): State<ApiState>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Answer<ListPage> {
    let search = small_json(&headers, body, timeout).await?;
    page(&state, search).await
}

/// The database's plan for a search, one line per step.
#[utoipa::path(post, path = "/api/v1/explain", tag = "objects",
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Done", body = Plan),
        (status = 400, description = "A bad query", body = ErrorAnswer),
        (status = 413, description = "The body is over 64 KiB", body = ErrorAnswer),
        (status = 415, description = "Not JSON", body = ErrorAnswer),
        (status = 503, description = "The store is unavailable", body = ErrorAnswer)))]
async fn explain(
    State(state): State<ApiState>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Answer<Plan> {
    let search: SearchRequest = small_json(&headers, body, timeout).await?;
    let limit = search.limit;
    let (mut query, _) = request::list_query(search)?;
    // The plan of the query as asked, not of one page of it.
    query.limit = limit;
    Ok(Json(Plan {
        plan: state.store.explain_list(&query).await?,
    }))
}

async fn small_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    timeout: Option<Extension<BodyTimeout>>,
) -> Result<T, ApiError> {
    request::format(headers, false)?;
    let bytes = request::body(headers, body, MAX_SMALL_BODY_BYTES, body_time(timeout)).await?;
    request::json(&bytes)
}

/// One page: asks the store for one more than the page holds, to know whether another follows.
async fn page(state: &ApiState, search: SearchRequest) -> Answer<ListPage> {
    let (mut query, page) = request::list_query(search)?;
    if page == 0 {
        return Ok(Json(ListPage {
            items: Vec::new(),
            next_page_token: None,
        }));
    }
    query.limit = Some(page + 1);
    let mut items = state.store.list(&query).await?;
    let next_page_token = (items.len() > page as usize).then(|| page_token(query.offset.saturating_add(page)));
    items.truncate(page as usize);
    Ok(Json(ListPage { items, next_page_token }))
}

/// The object with an id, whatever its status.
#[utoipa::path(get, path = "/api/v1/ids/{id}", tag = "objects",
    params(("id" = String, Path, description = "The object's system id")),
    responses((status = 200, description = "Done", body = StoredObject), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn get_by_id(State(state): State<ApiState>, id: Result<Path<String>, PathRejection>) -> Answer<StoredObject> {
    let selector = request::by_id(&path(id)?)?;
    Ok(Json(state.store.get(&selector).await?))
}

/// The object of a kind with an id or name (`name@version` selects a Dataset or Module version).
#[utoipa::path(get, path = "/api/v1/{kind}/{name}", tag = "objects",
    params(("kind" = String, Path, description = "A kind: Run, Dataset, …"), ("name" = String, Path, description = "An id, a name, or name@version"), ByParam),
    responses((status = 200, description = "Done", body = StoredObject), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer), (status = 409, description = "A conflict with the store's state", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn get_by_name(
    State(state): State<ApiState>,
    names: Result<Path<(String, String)>, PathRejection>,
    by: Result<Query<ByParam>, QueryRejection>,
) -> Answer<StoredObject> {
    let selector = by_name(names, by)?;
    Ok(Json(state.store.get(&selector).await?))
}

fn by_name(
    names: Result<Path<(String, String)>, PathRejection>,
    by: Result<Query<ByParam>, QueryRejection>,
) -> Result<Selector, ApiError> {
    let (kind, name) = path(names)?;
    request::by_kind(&kind, &name, query(by)?.by == Some(ByWhat::Name))
}

/// Every event of the object, oldest first.
#[utoipa::path(get, path = "/api/v1/ids/{id}/history", tag = "objects",
    params(("id" = String, Path, description = "The object's system id")),
    responses((status = 200, description = "Done", body = Vec<Event>), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn history_by_id(State(state): State<ApiState>, id: Result<Path<String>, PathRejection>) -> Answer<Vec<Event>> {
    let selector = request::by_id(&path(id)?)?;
    Ok(Json(state.store.history(&selector).await?))
}

/// Every event of the object, oldest first.
#[utoipa::path(get, path = "/api/v1/{kind}/{name}/history", tag = "objects",
    params(("kind" = String, Path, description = "A kind"), ("name" = String, Path, description = "An id, a name, or name@version"), ByParam),
    responses((status = 200, description = "Done", body = Vec<Event>), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer), (status = 409, description = "A conflict with the store's state", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn history_by_name(
    State(state): State<ApiState>,
    names: Result<Path<(String, String)>, PathRejection>,
    by: Result<Query<ByParam>, QueryRejection>,
) -> Answer<Vec<Event>> {
    let selector = by_name(names, by)?;
    Ok(Json(state.store.history(&selector).await?))
}

/// How to walk and draw a lineage graph.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineageParams {
    /// `upstream`, `downstream` or `both` (the default).
    pub direction: Option<Direction>,
    /// At most this many edges from the object (default 10, at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub depth: Option<u32>,
    /// `json` (the default), `dot` (Graphviz) or `mermaid`.
    pub format: Option<GraphFormat>,
    /// `name`: the path's text is a name, never an id (for `/{kind}/{name}` only).
    pub by: Option<ByWhat>,
}

/// A drawing of a lineage graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GraphFormat {
    /// The graph as JSON.
    Json,
    /// Graphviz.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// The deepest lineage walk asked for.
const MAX_DEPTH: u32 = 1000;

async fn lineage(state: &ApiState, selector: &Selector, params: &LineageParams) -> Result<Response, ApiError> {
    let depth = params.depth.unwrap_or(10);
    if depth > MAX_DEPTH {
        return Err(ApiError::invalid(format!("depth {depth} is over {MAX_DEPTH}")));
    }
    let direction = params.direction.unwrap_or(Direction::Both);
    let graph = state.store.lineage(selector, direction, depth).await?;
    Ok(match params.format.unwrap_or(GraphFormat::Json) {
        GraphFormat::Json => Json(graph).into_response(),
        GraphFormat::Dot => ([(header::CONTENT_TYPE, "text/vnd.graphviz")], graph.to_dot()).into_response(),
        GraphFormat::Mermaid => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            graph.to_mermaid(),
        )
            .into_response(),
    })
}

/// The lineage subgraph around the object.
#[utoipa::path(get, path = "/api/v1/ids/{id}/lineage", tag = "objects",
    params(("id" = String, Path, description = "The object's system id"), LineageParams),
    responses((status = 200, description = "The graph: JSON, Graphviz (format=dot) or Mermaid (format=mermaid)",
            content((LineageGraph = "application/json"), (String = "text/vnd.graphviz"), (String = "text/plain"))),
        (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn lineage_by_id(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<LineageParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let selector = request::by_id(&path(id)?)?;
    lineage(&state, &selector, &query(params)?).await
}

/// The lineage subgraph around the object.
#[utoipa::path(get, path = "/api/v1/{kind}/{name}/lineage", tag = "objects",
    params(("kind" = String, Path, description = "A kind"), ("name" = String, Path, description = "An id, a name, or name@version"), LineageParams),
    responses((status = 200, description = "The graph: JSON, Graphviz (format=dot) or Mermaid (format=mermaid)",
            content((LineageGraph = "application/json"), (String = "text/vnd.graphviz"), (String = "text/plain"))),
        (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer), (status = 409, description = "A conflict with the store's state", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn lineage_by_name(
    State(state): State<ApiState>,
    names: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<LineageParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (kind, name) = path(names)?;
    let params = query(params)?;
    let selector = request::by_kind(&kind, &name, params.by == Some(ByWhat::Name))?;
    lineage(&state, &selector, &params).await
}

/// Appends points to the run's metric series (one series per key), in one transaction.
#[utoipa::path(post, path = "/api/v1/ids/{id}/series", tag = "series",
    params(("id" = String, Path, description = "The Run's system id")),
    request_body = AppendRequest,
    responses(
        (status = 200, description = "Done", body = AppendReport),
        (status = 400, description = "Over 10,000 points, a value that is not a finite number, or not a Run", body = ErrorAnswer),
        (status = 404, description = "No such object", body = ErrorAnswer),
        (status = 409, description = "The run is archived", body = ErrorAnswer),
        (status = 413, description = "The body is over 4 MiB", body = ErrorAnswer),
        (status = 415, description = "Not JSON", body = ErrorAnswer),
        (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn append_series(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Answer<AppendReport> {
    let selector = request::by_id(&path(id)?)?;
    request::format(&headers, false)?;
    let bytes = request::body(&headers, body, MAX_SERIES_BODY_BYTES, body_time(timeout)).await?;
    let AppendRequest { points } = request::json(&bytes)?;
    Ok(Json(state.store.append_metrics(&selector, &points).await?))
}

/// The run's metric keys with their summaries: its series, and its document's scalar metrics
/// that have none.
#[utoipa::path(get, path = "/api/v1/ids/{id}/series", tag = "series",
    params(("id" = String, Path, description = "The Run's system id")),
    responses((status = 200, description = "Done", body = Vec<SeriesSummary>), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn series_keys(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Answer<Vec<SeriesSummary>> {
    let selector = request::by_id(&path(id)?)?;
    Ok(Json(state.store.metric_keys(&selector).await?))
}

/// One metric's curve: its points, or their min/max envelope in `max_points / 4` buckets.
#[utoipa::path(get, path = "/api/v1/ids/{id}/series/points", tag = "series",
    params(("id" = String, Path, description = "The Run's system id"), SeriesParams),
    responses((status = 200, description = "Done", body = Series), (status = 400, description = "A bad axis, range or max_points", body = ErrorAnswer), (status = 404, description = "No such object or metric", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn series_points(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<SeriesParams>, QueryRejection>,
) -> Answer<Series> {
    let selector = request::by_id(&path(id)?)?;
    let params = query(params)?;
    let series_query = params.query()?;
    Ok(Json(
        state.store.metric_series(&selector, &params.key, &series_query).await?,
    ))
}

/// A lifecycle action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Still usable, with a warning.
    Deprecate,
    /// Retired: its name is free again; it stays readable by id.
    Archive,
    /// Active again.
    Reactivate,
    /// A new name (body `{"name": …}`).
    Rename,
    /// An Artifact becomes a Dataset version (body `{"dataset": …, "version"?: …}`).
    Promote,
}

async fn act(
    state: &ApiState,
    selector: &Selector,
    action: Action,
    headers: &HeaderMap,
    body: Body,
    timeout: Option<Extension<BodyTimeout>>,
) -> Answer<Change> {
    let actor = request::actor(headers)?;
    let store = &state.store;
    let change = match action {
        Action::Deprecate => store.set_status(selector, Status::Deprecated, &actor).await?,
        Action::Archive => store.set_status(selector, Status::Archived, &actor).await?,
        Action::Reactivate => store.set_status(selector, Status::Active, &actor).await?,
        Action::Rename => {
            let RenameRequest { name } = small_json(headers, body, timeout).await?;
            let name = Name::new(name).map_err(|e| ApiError::invalid(e.to_string()))?;
            store.rename(selector, &name, &actor).await?
        }
        Action::Promote => {
            let PromoteRequest { dataset, version } = small_json(headers, body, timeout).await?;
            let dataset = Name::new(dataset).map_err(|e| ApiError::invalid(e.to_string()))?;
            let version = version
                .map(Version::new)
                .transpose()
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            store.promote(selector, &dataset, version.as_ref(), &actor).await?
        }
    };
    Ok(Json(change))
}

fn action(text: &str) -> Result<Action, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        ApiError::from(mlspec_store::StoreError::not_found(format!(
            "`{}` is not an action",
            request::excerpt(text)
        )))
        .with_hint("POST …/deprecate, …/archive, …/reactivate, …/rename or …/promote")
    })
}

/// Deprecates, archives, reactivates, renames or promotes the object.
#[utoipa::path(post, path = "/api/v1/ids/{id}/{action}", tag = "lifecycle",
    params(("id" = String, Path, description = "The object's system id"), ("action" = Action, Path),
        ("x-mlspec-actor" = Option<String>, Header, description = "Who acts (percent-encoded UTF-8); a server with tokens records the token's name instead")),
    request_body(content = Option<Object>, description = "rename: {\"name\"}; promote: {\"dataset\", \"version\"?}; none for the others", content_type = "application/json"),
    responses((status = 200, description = "Done", body = Change), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer),
        (status = 409, description = "A conflict with the store's state", body = ErrorAnswer), (status = 413, description = "The body is too large", body = ErrorAnswer), (status = 415, description = "The wrong content type", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn act_by_id(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Answer<Change> {
    let (id, verb) = path(params)?;
    let selector = request::by_id(&id)?;
    act(&state, &selector, action(&verb)?, &headers, body, timeout).await
}

/// Deprecates, archives, reactivates, renames or promotes the object.
#[utoipa::path(post, path = "/api/v1/{kind}/{name}/{action}", tag = "lifecycle",
    params(("kind" = String, Path, description = "A kind"), ("name" = String, Path, description = "An id, a name, or name@version"),
        ("action" = Action, Path), ByParam,
        ("x-mlspec-actor" = Option<String>, Header, description = "Who acts (percent-encoded UTF-8); a server with tokens records the token's name instead")),
    request_body(content = Option<Object>, description = "rename: {\"name\"}; promote: {\"dataset\", \"version\"?}; none for the others", content_type = "application/json"),
    responses((status = 200, description = "Done", body = Change), (status = 400, description = "Bad input: what is wrong and where", body = ErrorAnswer), (status = 404, description = "No such object, kind or route", body = ErrorAnswer),
        (status = 409, description = "A conflict with the store's state", body = ErrorAnswer), (status = 413, description = "The body is too large", body = ErrorAnswer), (status = 415, description = "The wrong content type", body = ErrorAnswer), (status = 503, description = "The store is unavailable (retry)", body = ErrorAnswer)))]
async fn act_by_name(
    State(state): State<ApiState>,
    params: Result<Path<(String, String, String)>, PathRejection>,
    by: Result<Query<ByParam>, QueryRejection>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Answer<Change> {
    let (kind, name, verb) = path(params)?;
    let selector = request::by_kind(&kind, &name, query(by)?.by == Some(ByWhat::Name))?;
    act(&state, &selector, action(&verb)?, &headers, body, timeout).await
}

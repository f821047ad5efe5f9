//! The third backend: a store behind `mlspec server`, reached over its REST API
//! (`--store http://HOST:PORT`). [`HttpStore`] implements [`Store`] by sending each method as
//! one request ([`crate::wire`] has the bodies and paths), so every command that takes
//! `--store` works against a server as it does against SQLite — the server's store does the
//! work, in one transaction per request, and its errors come back with the same
//! [`ErrorKind`].
//!
//! A request that gets no answer within the store's timeouts ([`Timeouts`]:
//! `MLSPEC_STORE_CONNECT_TIMEOUT` to connect, that plus `MLSPEC_STORE_STATEMENT_TIMEOUT` for
//! the answer) fails as [`ErrorKind::Unavailable`], naming the server.
//!
//! A server with tokens wants one: [`TOKEN_VAR`] (`MLSPEC_TOKEN`) holds it, and every request
//! carries it as `Authorization: Bearer …`, marked sensitive so that it is never printed —
//! not in an error, not in a debug dump. The server's 401 and 403 come back as
//! [`ErrorKind::Unauthenticated`] and [`ErrorKind::PermissionDenied`].

use async_trait::async_trait;
use mlspec_spec::{Document, Kind, Name, Status, Version};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Store;
use crate::error::{ErrorKind, Result, StoreError};
use crate::location::Location;
use crate::model::*;
use crate::sql::Timeouts;
use crate::wire::{
    self, API_PREFIX, AppendRequest, FieldKeys, ListPage, Plan, PromoteRequest, RenameRequest, SearchRequest,
    SeriesParams,
};

/// The environment variable holding the token sent to a server with tokens (`mlspec server
/// token create` prints one).
pub const TOKEN_VAR: &str = "MLSPEC_TOKEN";

/// How long an idle connection to the server is kept for reuse.
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(4);

/// A store served by `mlspec server`.
pub struct HttpStore {
    location: Location,
    base: Url,
    client: reqwest::Client,
}

impl HttpStore {
    /// Connects to the server at `location` (an [`Location::Http`]) with the environment's
    /// timeouts and token ([`TOKEN_VAR`]), and checks that it answers as an mlspec store.
    pub async fn open(location: &Location) -> Result<HttpStore> {
        let token = std::env::var(TOKEN_VAR).ok();
        HttpStore::open_with(location, Timeouts::from_env()?, token.as_deref()).await
    }

    /// [`HttpStore::open`] with the given timeouts and token (none, or an empty one: no
    /// `Authorization` header).
    pub async fn open_with(location: &Location, timeouts: Timeouts, token: Option<&str>) -> Result<HttpStore> {
        let Location::Http(url) = location else {
            return Err(StoreError::invalid(format!("{location} is not an http(s) URL")));
        };
        let base = Url::parse(url).map_err(|e| StoreError::invalid(format!("bad server URL {location}: {e}")))?;
        // reqwest is built without a default TLS provider (one provider, ring, for the whole
        // program); installing it again is harmless.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            // Below the server's idle timeout (5 s by default), so that a pooled connection is
            // not reused just as the server closes it.
            .pool_idle_timeout(POOL_IDLE)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.operation())
            .default_headers(authorization(token)?)
            .build()
            .map_err(|e| StoreError::new(ErrorKind::Internal, format!("cannot make an HTTP client: {e}")))?;
        let store = HttpStore {
            location: location.clone(),
            base,
            client,
        };
        store.info().await?;
        Ok(store)
    }

    /// The URL of `segments` under [`API_PREFIX`], each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| StoreError::invalid(format!("{} cannot be a base URL", self.location)))?
            .pop_if_empty()
            .extend(API_PREFIX.trim_start_matches('/').split('/'))
            .extend(segments);
        Ok(url)
    }

    /// The URL of a selected object, then `tail` (`history`, an action, …).
    fn object_url(&self, selector: &Selector, tail: Option<&str>) -> Result<Url> {
        let (mut segments, by_name) = wire::selector_segments(selector);
        segments.extend(tail.map(str::to_owned));
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut url = self.url(&segments)?;
        if by_name {
            url.query_pairs_mut().append_pair("by", "name");
        }
        Ok(url)
    }

    /// Sends one request and reads its JSON answer, or the error it carries.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        actor: Option<&str>,
    ) -> Result<T> {
        let mut request = self.client.request(method, url.clone());
        if let Some(json) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        if let Some(actor) = actor {
            let encoded = percent_encoding::utf8_percent_encode(actor, percent_encoding::NON_ALPHANUMERIC).to_string();
            request = request.header(wire::ACTOR_HEADER, encoded);
        }
        let response = request.send().await.map_err(|e| self.no_answer(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.no_answer(&e))?;
        if !status.is_success() {
            return Err(wire::error_from_answer(
                status.as_u16(),
                &bytes,
                &self.location.redacted(),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            StoreError::new(
                ErrorKind::Internal,
                format!(
                    "the server at {} answered {url} with JSON this client cannot read: {e}",
                    self.location
                ),
            )
            .with_hint("are the server and this mlspec the same version? `mlspec --version` on both")
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.call(Method::GET, url, None, None).await
    }

    async fn post_json<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        url: Url,
        body: &B,
        actor: Option<&str>,
    ) -> Result<T> {
        let json = serde_json::to_vec(body)
            .map_err(|e| StoreError::new(ErrorKind::Internal, format!("cannot encode the request: {e}")))?;
        self.call(Method::POST, url, Some(json), actor).await
    }

    /// A POST without a body (a status change).
    async fn post_empty<T: DeserializeOwned>(&self, url: Url, actor: &str) -> Result<T> {
        self.call(Method::POST, url, None, Some(actor)).await
    }

    fn no_answer(&self, error: &reqwest::Error) -> StoreError {
        let why = if error.is_timeout() {
            "in time".to_owned()
        } else if error.is_connect() {
            "(could not connect)".to_owned()
        } else {
            format!("({})", causes(error))
        };
        StoreError::new(
            ErrorKind::Unavailable,
            format!("the server at {} did not answer {why}", self.location),
        )
        .with_hint(format!(
            "check that `mlspec server` runs there and is reachable; allow longer with {}=SECONDS",
            crate::STATEMENT_TIMEOUT_VAR
        ))
    }

    /// The URL of a run's series route (`series`, `series/points`): series are reached by id, so
    /// a run named otherwise is looked up first.
    async fn series_url(&self, run: &Selector, tail: &[&str]) -> Result<Url> {
        let id = match run {
            Selector::Id(id) => id.as_str().to_owned(),
            other => self.get(other).await?.summary.id,
        };
        let mut segments = vec!["ids", id.as_str()];
        segments.extend_from_slice(tail);
        self.url(&segments)
    }

    /// One page of a list, from `offset`.
    async fn page(&self, query: &ListQuery, offset: u32, limit: Option<u32>) -> Result<ListPage> {
        let request = SearchRequest::from_query(query, offset, limit);
        self.post_json(self.url(&["search"])?, &request, None).await
    }
}

/// The headers that carry `token`, marked sensitive; none for no token. A token is trimmed
/// (a file read with `$(cat …)` may end in a newline) and never quoted in an error.
fn authorization(token: Option<&str>) -> Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(headers);
    };
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        StoreError::invalid(format!(
            "{TOKEN_VAR} holds characters an HTTP header cannot carry (its value is not shown)"
        ))
        .with_hint(format!(
            "set {TOKEN_VAR} to the token `mlspec server token create` printed, nothing else"
        ))
    })?;
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(headers)
}

/// An error and its causes, `a: b: c` (reqwest's own message says little without them).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl Store for HttpStore {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn info(&self) -> Result<StoreInfo> {
        self.get_json(self.url(&["store"])?).await
    }

    async fn apply(&self, documents: &[Document], actor: &str) -> Result<ApplyReport> {
        // Each document as the store would keep it, refused here as the store would refuse it
        // (a non-finite number, say, which JSON cannot carry).
        let encoded = documents
            .iter()
            .map(crate::write::encode)
            .collect::<Result<Vec<String>>>()?;
        let body = format!("[{}]", encoded.join(","));
        self.call(
            Method::POST,
            self.url(&["apply"])?,
            Some(body.into_bytes()),
            Some(actor),
        )
        .await
    }

    async fn get(&self, selector: &Selector) -> Result<StoredObject> {
        self.get_json(self.object_url(selector, None)?).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<ObjectSummary>> {
        let mut items = Vec::new();
        let mut offset = query.offset;
        loop {
            let remaining = query.limit.map(|limit| limit.saturating_sub(items.len() as u32));
            if remaining == Some(0) {
                break;
            }
            let page = self.page(query, offset, remaining).await?;
            let fetched = page.items.len() as u32;
            items.extend(page.items);
            match page.next_page_token {
                Some(token) if fetched > 0 => offset = wire::page_offset(&token)?,
                _ => break,
            }
        }
        Ok(items)
    }

    async fn field_keys(&self, kind: Kind) -> Result<Vec<String>> {
        let answer: FieldKeys = self.get_json(self.url(&["fields", kind.as_str()])?).await?;
        Ok(answer.keys)
    }

    async fn explain_list(&self, query: &ListQuery) -> Result<Vec<String>> {
        let request = SearchRequest::from_query(query, query.offset, query.limit);
        let plan: Plan = self.post_json(self.url(&["explain"])?, &request, None).await?;
        Ok(plan.plan)
    }

    async fn set_status(&self, selector: &Selector, status: Status, actor: &str) -> Result<Change> {
        let action = match status {
            Status::Active => "reactivate",
            Status::Deprecated => "deprecate",
            Status::Archived => "archive",
        };
        self.post_empty(self.object_url(selector, Some(action))?, actor).await
    }

    async fn rename(&self, selector: &Selector, new_name: &Name, actor: &str) -> Result<Change> {
        let request = RenameRequest {
            name: new_name.to_string(),
        };
        self.post_json(self.object_url(selector, Some("rename"))?, &request, Some(actor))
            .await
    }

    async fn promote(
        &self,
        artifact: &Selector,
        dataset: &Name,
        version: Option<&Version>,
        actor: &str,
    ) -> Result<Change> {
        let request = PromoteRequest {
            dataset: dataset.to_string(),
            version: version.map(ToString::to_string),
        };
        self.post_json(self.object_url(artifact, Some("promote"))?, &request, Some(actor))
            .await
    }

    async fn history(&self, selector: &Selector) -> Result<Vec<Event>> {
        self.get_json(self.object_url(selector, Some("history"))?).await
    }

    async fn lineage(&self, selector: &Selector, direction: Direction, depth: u32) -> Result<LineageGraph> {
        let mut url = self.object_url(selector, Some("lineage"))?;
        let direction = match direction {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::Both => "both",
        };
        url.query_pairs_mut()
            .append_pair("direction", direction)
            .append_pair("depth", &depth.to_string());
        self.get_json(url).await
    }

    async fn append_metrics(&self, run: &Selector, points: &[SeriesPoint]) -> Result<AppendReport> {
        // Refused here as the store would refuse them (JSON cannot carry NaN, say).
        crate::series::check_points(points)?;
        let request = AppendRequest {
            points: points.to_vec(),
        };
        let url = self.series_url(run, &["series"]).await?;
        self.post_json(url, &request, None).await
    }

    async fn metric_keys(&self, run: &Selector) -> Result<Vec<SeriesSummary>> {
        self.get_json(self.series_url(run, &["series"]).await?).await
    }

    async fn metric_series(&self, run: &Selector, key: &str, query: &SeriesQuery) -> Result<Series> {
        let mut url = self.series_url(run, &["series", "points"]).await?;
        let params = serde_json::to_value(SeriesParams::from_query(key, query))
            .map_err(|e| StoreError::new(ErrorKind::Internal, format!("cannot encode the query: {e}")))?;
        if let serde_json::Value::Object(params) = params {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in params {
                let text = match value {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                pairs.append_pair(&name, &text);
            }
        }
        self.get_json(url).await
    }

    async fn verify(&self) -> Result<VerifyReport> {
        self.get_json(self.url(&["store", "verify"])?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_becomes_a_sensitive_bearer_header_and_is_never_quoted() {
        assert!(authorization(None).unwrap().is_empty());
        assert!(authorization(Some(" \n")).unwrap().is_empty());
        let headers = authorization(Some("mlspec_abc\n")).unwrap();
        let value = &headers[reqwest::header::AUTHORIZATION];
        assert_eq!(value, "Bearer mlspec_abc");
        assert!(value.is_sensitive() && !format!("{value:?}").contains("abc"));
        let error = authorization(Some("mlspec_a\u{7}secret")).unwrap_err();
        assert!(
            error.message.contains(TOKEN_VAR) && !error.to_string().contains("secret"),
            "{error}"
        );
    }

    #[test]
    fn the_token_variable_is_one_that_recorded_environments_redact() {
        assert!(mlspec_spec::redact::is_secret_variable(TOKEN_VAR));
    }
}

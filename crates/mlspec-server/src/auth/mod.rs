//! Who may use the server: bearer tokens with scopes. Each token has a name and a scope —
//! `read` (get, list, search, history, lineage), `write` (also apply and lifecycle actions),
//! `admin` (also `store verify`) — and is kept in the token file only as its SHA-256
//! ([`tokens`]). A request presents one as `Authorization: Bearer TOKEN`, or as HTTP basic
//! auth with the token as the password (any user name): the MLflow client sends the first
//! for `MLFLOW_TRACKING_TOKEN` and the second for `MLFLOW_TRACKING_USERNAME`/`PASSWORD`.
//!
//! [`protect`] puts a router behind the check, with a [`Policy`] that says which scope each
//! request needs (none for the probes) and in which error shape a refusal is written (the
//! mlspec API's, or MLflow's for the MLflow routes). A request without a token is refused
//! with 401 and `WWW-Authenticate: Bearer` — unless it is a read and the server allows
//! anonymous reads; an unknown token with 401; a token whose scope is too small with 403.
//! A token is never written anywhere: not in an answer, not in a log line.
//!
//! Who acts is the token's name: the layer removes an `X-MLSpec-Actor` header the client sent
//! and sets the token's name in its place, so the routes behind it record changes as the
//! token that made them, whoever claims otherwise.
//!
//! The server rereads the token file when it changes (checked on each request that needs a
//! token, by its modification time, size and inode: one `stat`), so a revoked token stops
//! working at the next request, without a restart.

pub mod tokens;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use mlspec_store::wire::ACTOR_HEADER;
use mlspec_store::{ErrorKind, StoreError};

use crate::api::error::ApiError;
pub use tokens::{Scope, TokenFile, TokenRecord};

/// The token file's name in a state directory (the project's `.mlspec/`).
pub const DEFAULT_FILE_NAME: &str = "server-tokens.json";

/// How to tell a client what to send, in every 401.
const HOW_TO_SEND: &str = "send `Authorization: Bearer TOKEN` (mlspec: set MLSPEC_TOKEN; MLflow: MLFLOW_TRACKING_TOKEN); `mlspec server token create` makes one";

/// The token check of a server: its token file, reread when it changes, and whether reads
/// need a token.
pub struct Auth {
    file: PathBuf,
    allow_anonymous_read: bool,
    loaded: Mutex<Loaded>,
}

/// The tokens as last read, and the file's identity then.
struct Loaded {
    stamp: Option<Stamp>,
    tokens: Result<Arc<TokenFile>, String>,
}

/// What changes when the file is rewritten (atomically, by rename: a new inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(file: &Path) -> std::io::Result<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(file)?;
    Ok(Stamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode: metadata.ino(),
    })
}

/// Reads and parses a token file; the error names the file and says why.
pub fn read_file(file: &Path) -> Result<TokenFile, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
    TokenFile::parse(&bytes).map_err(|reason| format!("the token file {} is damaged: {reason}", file.display()))
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, and the request needs some (401).
    NoToken,
    /// Credentials that are malformed or not one of the server's tokens (401).
    BadToken(String),
    /// A token whose scope does not allow the request (403).
    Insufficient {
        /// The token's name.
        name: String,
        /// Its scope.
        has: Scope,
        /// What the request needs.
        needs: Scope,
    },
    /// The token file cannot be read, so no token can be checked (503).
    NoTokenFile(String),
}

impl Refusal {
    /// The refusal as a store error (kind, message, hint); never quotes a token.
    pub fn error(&self) -> StoreError {
        match self {
            Refusal::NoToken => {
                StoreError::new(ErrorKind::Unauthenticated, "this server needs a token").with_hint(HOW_TO_SEND)
            }
            Refusal::BadToken(why) => StoreError::new(ErrorKind::Unauthenticated, why.clone()).with_hint(HOW_TO_SEND),
            Refusal::Insufficient { name, has, needs } => StoreError::new(
                ErrorKind::PermissionDenied,
                format!("token `{name}` has scope {has}; this request needs {needs}"),
            )
            .with_hint(format!(
                "use a token with scope {needs} (`mlspec server token create --scope {needs}`)"
            )),
            Refusal::NoTokenFile(why) => {
                StoreError::new(ErrorKind::Unavailable, format!("the server cannot check tokens: {why}"))
                    .with_hint("the server's operator must repair the token file; retry later")
            }
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750) of a 401 or 403. Pages ask for HTTP Basic
    /// credentials instead (RFC 7617), the one scheme a browser prompts for: the token is the
    /// password, and the browser then sends it with every page, asset and fetch.
    fn challenge(&self, shape: Shape) -> Option<String> {
        if shape == Shape::Html {
            return matches!(self, Refusal::NoToken | Refusal::BadToken(_))
                .then(|| "Basic realm=\"mlspec\", charset=\"UTF-8\"".to_owned());
        }
        match self {
            Refusal::NoToken => Some("Bearer realm=\"mlspec\"".to_owned()),
            Refusal::BadToken(_) => Some("Bearer realm=\"mlspec\", error=\"invalid_token\"".to_owned()),
            Refusal::Insufficient { needs, .. } => Some(format!(
                "Bearer realm=\"mlspec\", error=\"insufficient_scope\", scope=\"{needs}\""
            )),
            Refusal::NoTokenFile(_) => None,
        }
    }

    /// The answer, in the error shape of the routes refused.
    pub fn into_response(self, shape: Shape) -> Response {
        let error = self.error();
        let mut response = match shape {
            Shape::Mlspec => ApiError::from(error).into_response(),
            Shape::Mlflow => mlflow_error(error),
            Shape::Html => html_error(error),
        };
        if let Some(challenge) = self.challenge(shape).and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// An error in MLflow's shape, `{"error_code", "message"}`, with MLflow's codes.
fn mlflow_error(error: StoreError) -> Response {
    let (status, code) = match error.kind {
        ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ErrorKind::PermissionDenied => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
    };
    let message = match &error.hint {
        Some(hint) => format!("{} ({hint})", error.message),
        None => error.message,
    };
    (
        status,
        axum::Json(serde_json::json!({"error_code": code, "message": message})),
    )
        .into_response()
}

/// A refusal as a small page for a browser: what is wrong and what to do, nothing else (the
/// pages themselves are behind the check).
fn html_error(error: StoreError) -> Response {
    let status = StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let hint = match error.kind {
        ErrorKind::Unauthenticated => {
            "Sign in with any user name and a token as the password: `mlspec server token create --name NAME --scope read` makes one.".to_owned()
        }
        _ => error.hint.unwrap_or_default(),
    };
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlspec: {}</title></head><body><main><h1>{}</h1><p>{}</p></main></body></html>",
        status.as_u16(),
        escape(&error.message),
        escape(&hint)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The token a request presents: `Authorization: Bearer TOKEN`, or `Basic` with the token as
/// the password; `None` without an Authorization header. Whatever the header's bytes, this
/// never panics and never quotes them.
pub fn presented_token(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let bad = |why: &str| Refusal::BadToken(why.to_owned());
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad("the request has more than one Authorization header; send one"));
    }
    let text = value
        .to_str()
        .map_err(|_| bad("the Authorization header is not ASCII"))?
        .trim();
    let (scheme, credentials) = text.split_once(' ').unwrap_or((text, ""));
    let credentials = credentials.trim();
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        basic_password(credentials)
            .ok_or_else(|| bad("the Authorization header's Basic credentials are not base64 of `user:password`"))?
    } else {
        return Err(bad(
            "the Authorization header is neither `Bearer TOKEN` nor `Basic …` (the token as the password)",
        ));
    };
    if token.is_empty() {
        return Err(bad("the Authorization header holds no token"));
    }
    Ok(Some(token))
}

/// The password of basic credentials (`base64(user:password)`); the user name is ignored.
fn basic_password(credentials: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}

impl Auth {
    /// The check over the token file `file`, read now: a missing or damaged file is an error
    /// (a server told to check tokens does not start without them).
    pub fn open(file: PathBuf, allow_anonymous_read: bool) -> Result<Auth, String> {
        let stamp = stamp(&file).map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
        let tokens = read_file(&file)?;
        Ok(Auth {
            file,
            allow_anonymous_read,
            loaded: Mutex::new(Loaded {
                stamp: Some(stamp),
                tokens: Ok(Arc::new(tokens)),
            }),
        })
    }

    /// The token file checked.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether reads need no token.
    pub fn allows_anonymous_read(&self) -> bool {
        self.allow_anonymous_read
    }

    /// The tokens, reread first if the file changed. A file removed holds no token (every
    /// token is refused); a damaged one is an error until it is repaired.
    pub fn tokens(&self) -> Result<Arc<TokenFile>, Refusal> {
        let now = match stamp(&self.file) {
            Ok(stamp) => Some(stamp),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                let why = format!("cannot read the token file {}: {e}", self.file.display());
                return Err(Refusal::NoTokenFile(why));
            }
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.stamp != now {
            loaded.tokens = match now {
                None => Ok(Arc::new(TokenFile::default())),
                Some(_) => read_file(&self.file).map(Arc::new),
            };
            loaded.stamp = now;
            log_reload(&self.file, now.is_some(), &loaded.tokens);
        }
        loaded.tokens.clone().map_err(Refusal::NoTokenFile)
    }

    /// Whether a request with `headers` may do what `needed` allows: the name of its token,
    /// `None` for an anonymous read (when allowed), or why not. Credentials presented are
    /// always checked, even for a read that would pass without them.
    pub fn check(&self, headers: &HeaderMap, needed: Scope) -> Result<Option<String>, Refusal> {
        let Some(token) = presented_token(headers)? else {
            return if needed == Scope::Read && self.allow_anonymous_read {
                Ok(None)
            } else {
                Err(Refusal::NoToken)
            };
        };
        let tokens = self.tokens()?;
        let record = tokens.find(&token).ok_or_else(|| {
            Refusal::BadToken(
                "the token is not one of this server's (revoked, mistyped, or another server's)".to_owned(),
            )
        })?;
        if !record.scope.allows(needed) {
            return Err(Refusal::Insufficient {
                name: record.name.clone(),
                has: record.scope,
                needs: needed,
            });
        }
        Ok(Some(record.name.clone()))
    }
}

/// Says on stderr that the token file was reread (how many tokens, never which), removed, or
/// found damaged.
fn log_reload(file: &Path, exists: bool, tokens: &Result<Arc<TokenFile>, String>) {
    let line = match tokens {
        Ok(_) if !exists => format!(
            "mlspec server: the token file {} was removed: every token is refused",
            file.display()
        ),
        Ok(tokens) => format!(
            "mlspec server: reread the token file {}: {} token(s)",
            file.display(),
            tokens.records().len()
        ),
        Err(why) => format!("mlspec server: {why}; requests that need a token are refused (503) until it is repaired"),
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// In which shape a refusal is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The mlspec API's, `{"error": {"kind", "message", "hint"}}`.
    Mlspec,
    /// MLflow's, `{"error_code", "message"}`.
    Mlflow,
    /// A page, for a browser (with a Basic challenge, which browsers prompt for).
    Html,
}

/// Which scope each request to a router needs, and how a refusal is written.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The scope a request (method, path) needs; `None`: no token at all.
    pub scope_of: fn(&Method, &str) -> Option<Scope>,
    /// The refusal's shape.
    pub shape: Shape,
}

impl Policy {
    /// The mlspec REST API ([`crate::api`]): see [`api_scope`].
    pub const API: Policy = Policy {
        scope_of: api_scope,
        shape: Shape::Mlspec,
    };

    /// The probes ([`crate::probes`]): see [`probe_scope`].
    pub const PROBES: Policy = Policy {
        scope_of: probe_scope,
        shape: Shape::Mlspec,
    };

    /// The web UI's pages and assets: every one is a read, whatever the path (an unknown one
    /// too: the 404 page is behind the check as well).
    pub const UI: Policy = Policy {
        scope_of: |_, _| Some(Scope::Read),
        shape: Shape::Html,
    };

    /// MLflow's tracking, registry and artifact routes: see [`mlflow_scope`].
    pub const MLFLOW: Policy = Policy {
        scope_of: mlflow_scope,
        shape: Shape::Mlflow,
    };
}

fn is_read_method(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// The mlspec API: its OpenAPI document is open (it describes, it holds nothing); `store
/// verify` is admin; gets and searches (`POST /search`, `/explain`) are reads; the rest
/// (apply, lifecycle actions) writes.
pub fn api_scope(method: &Method, path: &str) -> Option<Scope> {
    Some(match path {
        "/api/v1/openapi.json" => return None,
        "/api/v1/store/verify" => Scope::Admin,
        "/api/v1/search" | "/api/v1/explain" => Scope::Read,
        _ if is_read_method(method) => Scope::Read,
        _ => Scope::Write,
    })
}

/// The probes: `/ok`, `/readyz`, `/healthz` and `/metrics` are open (orchestrators and
/// scrapers call them without credentials, and they hold no metadata); `/varz` (the server's
/// command line, host and store location, secrets redacted) is a read.
pub fn probe_scope(_method: &Method, path: &str) -> Option<Scope> {
    (path == "/varz").then_some(Scope::Read)
}

/// MLflow's routes: GETs and searches (`…/search`, POST in MLflow) are reads; everything else
/// writes.
pub fn mlflow_scope(method: &Method, path: &str) -> Option<Scope> {
    let search = path.trim_end_matches('/').rsplit('/').next() == Some("search");
    Some(if is_read_method(method) || search {
        Scope::Read
    } else {
        Scope::Write
    })
}

/// `router` behind the token check of `auth` under `policy`; unchanged without `auth` (a
/// server without tokens).
pub fn protect(router: Router, auth: Option<&Arc<Auth>>, policy: Policy) -> Router {
    match auth {
        None => router,
        Some(auth) => router.layer(axum::middleware::from_fn_with_state((auth.clone(), policy), guard)),
    }
}

/// The layer's work: refuse, or pass the request on with its token's name as the actor.
async fn guard(State((auth, policy)): State<(Arc<Auth>, Policy)>, mut request: Request, next: Next) -> Response {
    let Some(needed) = (policy.scope_of)(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    match auth.check(request.headers(), needed) {
        Ok(name) => {
            // The routes behind need neither the token nor a claimed actor.
            let headers = request.headers_mut();
            headers.remove(header::AUTHORIZATION);
            headers.remove(ACTOR_HEADER);
            if let Some(value) = name.and_then(|n| HeaderValue::from_str(&n).ok()) {
                headers.insert(ACTOR_HEADER, value);
            }
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(policy.shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use http_body_util::BodyExt as _;
    use proptest::prelude::*;
    use tower::ServiceExt as _;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    #[test]
    fn bearer_and_basic_present_the_same_token() {
        assert_eq!(presented_token(&HeaderMap::new()), Ok(None));
        for value in [
            "Bearer tok",
            "bearer  tok ",
            "BEARER tok",
            &basic("ci:tok"),
            &basic("anyone:tok"),
        ] {
            assert_eq!(presented_token(&headers(value)), Ok(Some("tok".to_owned())), "{value}");
        }
        assert_eq!(presented_token(&headers(&basic(":a:b"))), Ok(Some("a:b".to_owned())));
    }

    #[test]
    fn malformed_credentials_are_refused_without_quoting_them() {
        for value in [
            "Bearer",
            "Bearer  ",
            "mlspec_secret",
            "Digest mlspec_secret",
            "Basic !!!",
            &basic("no-colon"),
            &basic("user:"),
        ] {
            let refusal = presented_token(&headers(value)).unwrap_err();
            assert!(matches!(refusal, Refusal::BadToken(_)), "{value}: {refusal:?}");
            let error = refusal.error();
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        let mut two = headers("Bearer a");
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert!(presented_token(&two).is_err());
    }

    proptest! {
        #[test]
        fn any_authorization_header_is_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                let _ = presented_token(&headers);
            }
        }

        #[test]
        fn any_bearer_text_is_checked_without_panicking(text in "\\PC{0,100}") {
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {text}")) {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                let auth = auth_with(&[], false).0;
                prop_assert!(auth.check(&headers, Scope::Read).is_err());
            }
        }
    }

    /// An [`Auth`] over a new file holding tokens of these names and scopes, the tokens, and
    /// the directory that holds the file.
    fn auth_with(tokens: &[(&str, Scope)], anonymous_read: bool) -> (Auth, Vec<String>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut file = TokenFile::default();
        let made = tokens
            .iter()
            .map(|(name, scope)| file.create(name, *scope, chrono::Utc::now()).unwrap())
            .collect();
        let path = dir.path().join(DEFAULT_FILE_NAME);
        std::fs::write(&path, file.to_bytes()).unwrap();
        (Auth::open(path, anonymous_read).unwrap(), made, dir)
    }

    #[test]
    fn scopes_decide_and_the_token_names_the_actor() {
        let (auth, tokens, _dir) = auth_with(&[("reader", Scope::Read), ("ci", Scope::Write)], false);
        let read = headers(&format!("Bearer {}", tokens[0]));
        let write = headers(&basic(&format!("someone:{}", tokens[1])));
        assert_eq!(auth.check(&read, Scope::Read), Ok(Some("reader".to_owned())));
        assert!(matches!(
            auth.check(&read, Scope::Write),
            Err(Refusal::Insufficient { .. })
        ));
        assert_eq!(auth.check(&write, Scope::Write), Ok(Some("ci".to_owned())));
        assert!(matches!(
            auth.check(&write, Scope::Admin),
            Err(Refusal::Insufficient { .. })
        ));
        assert_eq!(auth.check(&HeaderMap::new(), Scope::Read), Err(Refusal::NoToken));
        assert!(matches!(
            auth.check(&headers("Bearer mlspec_00"), Scope::Read),
            Err(Refusal::BadToken(_))
        ));

        let (open, _, _dir) = auth_with(&[], true);
        assert_eq!(open.check(&HeaderMap::new(), Scope::Read), Ok(None));
        assert_eq!(open.check(&HeaderMap::new(), Scope::Write), Err(Refusal::NoToken));
        assert!(open.check(&headers("Bearer wrong"), Scope::Read).is_err());
    }

    #[test]
    fn the_file_is_reread_when_it_changes() {
        let (auth, tokens, _dir) = auth_with(&[("ci", Scope::Write)], false);
        let ci = headers(&format!("Bearer {}", tokens[0]));
        assert!(auth.check(&ci, Scope::Write).is_ok());
        let mut file = read_file(auth.file()).unwrap();
        file.revoke("ci").unwrap();
        let replacement = auth.file().with_extension("new");
        std::fs::write(&replacement, file.to_bytes()).unwrap();
        std::fs::rename(&replacement, auth.file()).unwrap();
        assert!(matches!(auth.check(&ci, Scope::Write), Err(Refusal::BadToken(_))));

        std::fs::write(auth.file(), b"{ damaged").unwrap();
        assert!(matches!(auth.check(&ci, Scope::Read), Err(Refusal::NoTokenFile(_))));
        std::fs::remove_file(auth.file()).unwrap();
        assert!(matches!(auth.check(&ci, Scope::Read), Err(Refusal::BadToken(_))));
        assert!(
            Auth::open(auth.file().to_owned(), false)
                .err()
                .unwrap()
                .contains("cannot read")
        );
    }

    #[test]
    fn policies_classify_requests() {
        let (get_, post_) = (Method::GET, Method::POST);
        assert_eq!(api_scope(&get_, "/api/v1/Run"), Some(Scope::Read));
        assert_eq!(api_scope(&post_, "/api/v1/search"), Some(Scope::Read));
        assert_eq!(api_scope(&post_, "/api/v1/apply"), Some(Scope::Write));
        assert_eq!(api_scope(&post_, "/api/v1/Run/x/deprecate"), Some(Scope::Write));
        assert_eq!(api_scope(&get_, "/api/v1/store/verify"), Some(Scope::Admin));
        assert_eq!(api_scope(&get_, "/api/v1/openapi.json"), None);
        assert_eq!(probe_scope(&get_, "/varz"), Some(Scope::Read));
        for open in ["/ok", "/readyz", "/healthz", "/metrics"] {
            assert_eq!(probe_scope(&get_, open), None);
        }
        assert_eq!(mlflow_scope(&post_, "/api/2.0/mlflow/runs/search"), Some(Scope::Read));
        assert_eq!(
            mlflow_scope(&get_, "/api/2.0/mlflow/registered-models/search"),
            Some(Scope::Read)
        );
        assert_eq!(
            mlflow_scope(&post_, "/api/2.0/mlflow/runs/log-batch"),
            Some(Scope::Write)
        );
        assert_eq!(
            mlflow_scope(&Method::PUT, "/api/2.0/mlflow-artifacts/artifacts/a/b"),
            Some(Scope::Write)
        );
    }

    /// A router that answers with the actor it was given, behind `auth`.
    fn echo(auth: &Arc<Auth>, policy: Policy) -> Router {
        async fn actor(headers: HeaderMap) -> String {
            let authorization = headers.contains_key(header::AUTHORIZATION);
            let actor = headers.get(ACTOR_HEADER).map(|v| v.to_str().unwrap_or("?").to_owned());
            format!("{actor:?} {authorization}")
        }
        let router = Router::new()
            .route("/api/v1/apply", post(actor))
            .route("/api/v1/Run", get(actor))
            .route("/api/2.0/mlflow/runs/create", post(actor));
        protect(router, Some(auth), policy)
    }

    async fn send(
        router: Router,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn the_layer_answers_401_403_or_passes_the_token_name_on() {
        let (auth, tokens, _dir) = auth_with(&[("reader", Scope::Read), ("ci", Scope::Write)], false);
        let auth = Arc::new(auth);
        let api = || echo(&auth, Policy::API);
        let (reader, ci) = (format!("Bearer {}", tokens[0]), format!("Bearer {}", tokens[1]));

        let (status, headers, body) = send(api(), Method::POST, "/api/v1/apply", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"mlspec\"");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["kind"], "Unauthenticated");

        let (status, headers, body) = send(api(), Method::POST, "/api/v1/apply", &[("authorization", &reader)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        assert!(!body.contains(&tokens[0]));

        let (status, _, body) = send(
            api(),
            Method::POST,
            "/api/v1/apply",
            &[("authorization", &ci), ("x-mlspec-actor", "eve")],
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "Some(\"ci\") false"));
        let (status, _, body) = send(api(), Method::GET, "/api/v1/Run", &[("authorization", &reader)]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "Some(\"reader\") false"));

        let mlflow = echo(&auth, Policy::MLFLOW);
        let (status, _, body) = send(
            mlflow,
            Method::POST,
            "/api/2.0/mlflow/runs/create",
            &[("authorization", &reader)],
        )
        .await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, &json["error_code"]),
            (StatusCode::FORBIDDEN, &serde_json::json!("PERMISSION_DENIED"))
        );
    }
}

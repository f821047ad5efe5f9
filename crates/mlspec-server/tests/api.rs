//! The store's REST API against hostile input: arbitrary bodies, paths, query strings and
//! headers never panic the server and never get a 5xx — a deterministic refusal is a 4xx with
//! a JSON error — and a graceful shutdown answers the request in progress.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use mlspec_store::{Location, SqlStore, Store};
use proptest::prelude::*;
use tower::ServiceExt as _;

/// A router over a fresh SQLite store holding one Run, and the directory that keeps it.
async fn api() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqlStore::init(&Location::in_project(dir.path())).await.unwrap();
    let run = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: r}\nspec: {status: Running}\n";
    let documents = mlspec_spec::validate_text(run, mlspec_spec::Format::Yaml, &Default::default()).documents;
    store.apply(&documents, "t").await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    (mlspec_server::api::router(store, Duration::from_secs(30)), dir)
}

/// Sends a request; the status and the body as JSON (every answer but a drawing is JSON).
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {bytes:?}"));
    (status, json)
}

/// Asserts a refusal is a 4xx carrying a JSON error, or a success.
fn assert_deterministic(status: StatusCode, body: &serde_json::Value, what: &str) {
    assert!(!status.is_server_error(), "{what}: {status} {body}");
    if !status.is_success() {
        assert!(
            body["error"]["kind"].is_string() && body["error"]["message"].is_string(),
            "{what}: {body}"
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_body_to_apply_is_answered_without_a_server_error(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            "[\\[{\"a-z:, \\]}0-9.eE+-]{0,256}".prop_map(String::into_bytes),
            "(apiVersion|kind|metadata|spec|name|status|Run|: |\n|  |-|\\{|\\}|\\[|\\]|,|x|1e999|&a|\\*a|!!str){0,64}".prop_map(String::into_bytes),
        ],
        yaml in any::<bool>(),
    ) {
        runtime().block_on(async {
            let (router, _dir) = api().await;
            let content_type = if yaml { "application/yaml" } else { "application/json" };
            let request = Request::post("/api/v1/apply").header("content-type", content_type).body(Body::from(body.clone())).unwrap();
            let (status, answer) = send(&router, request).await;
            assert_deterministic(status, &answer, &format!("{:?}", String::from_utf8_lossy(&body)));
        });
    }

    #[test]
    fn any_path_and_query_is_answered_without_a_server_error(
        segments in proptest::collection::vec("[^/?#]{0,24}", 1..5),
        query in "[a-z_=&%0-9A-F<>\" .]{0,64}",
        post in any::<bool>(),
    ) {
        runtime().block_on(async {
            let (router, _dir) = api().await;
            let encoded: Vec<String> = segments
                .iter()
                .map(|s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string())
                .collect();
            let uri = format!("/api/v1/{}?{query}", encoded.join("/"));
            let Ok(request) = Request::builder().method(if post { "POST" } else { "GET" }).uri(&uri).body(Body::empty()) else {
                return;
            };
            let response = router.clone().oneshot(request).await.unwrap();
            assert!(!response.status().is_server_error(), "{uri}: {}", response.status());
        });
    }

    #[test]
    fn any_search_body_and_actor_is_answered_without_a_server_error(
        body in "\\{(\"(kind|where|filter|order|orderBy|limit|pageToken|statuses|labels)\": ?(\"[a-zA-Z0-9 .>=<\\\\]{0,20}\"|-?[0-9]{1,12}|null|\\[\\]|\\{\\}|true),? ?){0,6}\\}",
        actor in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        runtime().block_on(async {
            let (router, _dir) = api().await;
            let request = Request::post("/api/v1/search").header("content-type", "application/json").body(Body::from(body.clone())).unwrap();
            let (status, answer) = send(&router, request).await;
            assert_deterministic(status, &answer, &body);
            let mut request = Request::post("/api/v1/Run/r/deprecate").body(Body::empty()).unwrap();
            if let Ok(value) = axum::http::HeaderValue::from_bytes(&actor) {
                request.headers_mut().insert("x-mlspec-actor", value);
            }
            let (status, answer) = send(&router, request).await;
            assert_deterministic(status, &answer, &format!("actor {actor:?}"));
        });
    }
}

#[tokio::test]
async fn hostile_shapes_get_the_right_refusals() {
    let (router, _dir) = api().await;
    let cases: Vec<(Request<Body>, StatusCode)> = vec![
        // Nesting far deeper than any parser should recurse.
        (Request::post("/api/v1/apply").header("content-type", "application/json").body(Body::from("[".repeat(200_000))).unwrap(), StatusCode::BAD_REQUEST),
        (Request::post("/api/v1/search").header("content-type", "application/json").body(Body::from("[".repeat(50_000))).unwrap(), StatusCode::BAD_REQUEST),
        // YAML alias bombs.
        (Request::post("/api/v1/apply").header("content-type", "application/yaml").body(Body::from("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n")).unwrap(), StatusCode::BAD_REQUEST),
        // Bodies over the limit, declared or not.
        (Request::post("/api/v1/apply").header("content-type", "application/json").header("content-length", "18446744073709551615").body(Body::empty()).unwrap(), StatusCode::PAYLOAD_TOO_LARGE),
        (Request::post("/api/v1/search").header("content-type", "application/json").body(Body::from(vec![b' '; 1 << 20])).unwrap(), StatusCode::PAYLOAD_TOO_LARGE),
        // Content types.
        (Request::post("/api/v1/apply").body(Body::from("{}")).unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (Request::post("/api/v1/search").header("content-type", "application/yaml").body(Body::from("kind: Run")).unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        // Invalid UTF-8 in a path, an empty document list, bad tokens and limits.
        (Request::get("/api/v1/Run/%FF%FE").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
        (Request::post("/api/v1/apply").header("content-type", "application/json").body(Body::from("[]")).unwrap(), StatusCode::BAD_REQUEST),
        (Request::get("/api/v1/Run?page_token=zzz").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
        (Request::get("/api/v1/Run?limit=-1").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
        (Request::get("/api/v1/Run/r/lineage?depth=100000").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
        (Request::get("/api/v1/Run?status=Gone").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
        (Request::post("/api/v1/Run/r/explode").body(Body::empty()).unwrap(), StatusCode::NOT_FOUND),
        (Request::post("/api/v1/Run/r/rename").header("content-type", "application/json").body(Body::from("{\"name\": \"a/b\"}")).unwrap(), StatusCode::BAD_REQUEST),
        (Request::get("/api/v1/ids/x/lineage/deeper/still").body(Body::empty()).unwrap(), StatusCode::NOT_FOUND),
    ];
    for (request, expected) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (status, answer) = send(&router, request).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert_deterministic(status, &answer, &what);
    }
}

#[tokio::test]
async fn shutdown_answers_the_request_in_progress() {
    let router = Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mlspec_server::serve::serve_until(
        listener,
        router,
        Default::default(),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(10),
    ));
    let client = tokio::task::spawn_blocking(move || {
        mlspec_server::probe::get(&addr.to_string(), "/slow", Duration::from_secs(5))
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.send(()).unwrap();
    let answer = client.await.unwrap().unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "done"));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

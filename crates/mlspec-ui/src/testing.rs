//! What the crate's tests share: documents from YAML, profiles made by `mlspec-data` from CSV
//! text (with the sketches drift reads), a router over a SQLite store in a temporary directory,
//! and pages fetched from it as text.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use mlspec_data::profile::{OutlierRules, ProfileOptions, profile};
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::DataProfileSpec;
use mlspec_spec::{ApiVersion, Document, Metadata, Name, Spec};
use mlspec_store::{Location, SqlStore, Store};
use tower::ServiceExt as _;

use crate::UiConfig;

/// The documents of a valid YAML text.
pub fn documents(yaml: &str) -> Vec<Document> {
    let validated = mlspec_spec::validate_text(yaml, mlspec_spec::Format::Yaml, &Default::default());
    assert!(!validated.documents.is_empty(), "{yaml}: {:?}", validated.diagnostics);
    validated.documents
}

/// The one document of a valid YAML text.
pub fn document(yaml: &str) -> Document {
    documents(yaml).remove(0)
}

/// A store in a temporary directory, the UI over it, and the directory (which must outlive both).
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub router: Router,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = SqlStore::init(&Location::in_project(dir.path())).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let router = crate::router(UiConfig {
            store: store.clone(),
            request_timeout: Duration::from_secs(30),
            trust: Default::default(),
        });
        Fixture { store, router, dir }
    }

    /// Stores the documents; their ids, in order.
    pub async fn apply(&self, documents: &[Document]) -> Vec<String> {
        let report = self.store.apply(documents, "test").await.unwrap();
        report.results.into_iter().map(|applied| applied.id).collect()
    }

    /// The profile `mlspec data profile` makes of `csv`, sliced by each of `slices`.
    pub fn profile(&self, file: &str, csv: &str, slices: &[&str]) -> DataProfileSpec {
        let path = self.dir.path().join(file);
        std::fs::write(&path, csv).unwrap();
        let options = ProfileOptions {
            threads: 1,
            slices: slices.iter().map(|s| vec![(*s).to_owned()]).collect(),
            ..ProfileOptions::default()
        };
        let batches = open(&path, &ReadOptions::default()).unwrap();
        profile(batches, &options, |_| {})
            .unwrap()
            .spec(OutlierRules::default())
    }

    /// The page at `uri`: its status and its text.
    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }
}

/// A DataProfile document named `name`.
pub fn profile_document(name: &str, spec: DataProfileSpec) -> Document {
    Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new(name).unwrap()),
        spec: Spec::DataProfile(spec),
    }
}

/// A Dataset named `name` with one version, for profiles to refer to.
pub fn dataset(name: &str) -> Document {
    document(&format!(
        "apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {{name: {name}}}\nspec:\n  versions:\n    - {{version: '1', definition: {{datastore: lake, path: data.csv}}}}\n"
    ))
}

/// Whether the text holds `<script>` other than the page's own script tags (which load files).
pub fn has_injected_script(text: &str) -> bool {
    text.matches("<script").count() != text.matches("<script src=").count()
}

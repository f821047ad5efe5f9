//! # The web UI
//!
//! Server-rendered HTML pages over one store, served by `mlspec server` at `/` (and by
//! `mlspec ui`, which starts that server on loopback for the project's store). Each page is a
//! handler that reads the store and returns HTML built with [maud]'s `html!`, which escapes
//! every interpolated value: user text (names, descriptions, labels, parameter values, log
//! fields) can never become markup. The pages work without JavaScript — filters, sorting and
//! paging are plain GET forms and links, so every view has an address to share — and the few
//! things that need a script are in one small file of ours ([`assets`]: metric charts drawn
//! with the vendored uPlot, the theme switch, lineage pan and zoom, a running pipeline's
//! refresh). A running pipeline's page (`live`) reads each step's state from the store, or
//! from the step's own endpoints, which the pipeline's Run names while it runs.
//!
//! What makes it stay fast at the sizes that freeze other tools' UIs:
//! - lists are paged in the store (`limit + 1` rows, never a count), with the chosen columns
//!   read from the store's field index for the page's rows only ([`runs`]);
//! - metric curves are downsampled on the server to a few points per pixel (first, min, max
//!   and last of each bucket), from the store's metric series (`charts`);
//! - lineage graphs are laid out here, in Rust, and sent as SVG ([`layout`]).
//! - a data profile's histograms are a few SVG bars drawn here (`bars`), its slices each on a
//!   page of their own; drift between two profiles is `mlspec data drift`'s own computation
//!   (`mlspec_data::drift::compare`) over the profiles' sketches (`drift`).
//!
//! Safety: every page and asset is behind the server's token check (a browser gets a Basic
//! challenge; the token is the password); the answers carry a Content-Security-Policy that
//! allows no inline script ([`guard`]); a server without tokens (loopback only) refuses `Host`
//! headers other than loopback names, so a web page cannot read the store through a rebound
//! DNS name (`mlspec_server::server`). Every route is a GET that reads; the UI changes nothing.
//! The package and audit pages (`trust`) verify signatures on the server, reading only the
//! directories and keys the server was started with ([`Trust`]): a request names a log or a
//! package by name, never by path.

mod align;
pub mod assets;
mod bars;
mod charts;
mod data;
mod drift;
mod error;
mod format;
pub mod guard;
mod home;
pub mod layout;
mod lineage;
mod live;
mod monitoring;
mod objects;
mod page;
mod pipelines;
pub mod runs;
#[cfg(test)]
mod testing;
mod trust;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mlspec_store::Store;

pub use error::UiError;
pub use trust::{MAX_PASTE, Trust};

/// What the UI serves, and how.
#[derive(Clone)]
pub struct UiConfig {
    /// The store shown.
    pub store: Arc<dyn Store>,
    /// The longest one page may take before it is answered 503.
    pub request_timeout: Duration,
    /// What the trust pages may read: the audit logs, the signed packages, the trusted keys.
    pub trust: Trust,
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Ui {
    pub store: Arc<dyn Store>,
    pub checks: trust::Checks,
}

/// Every page's route, as documented in docs/ui.md (a test checks that each is there).
pub const ROUTES: &[&str] = &[
    "/",
    "/ui/runs",
    "/ui/runs/compare",
    "/ui/series",
    "/ui/kinds/{kind}",
    "/ui/objects/{id}",
    "/ui/objects/{id}/raw",
    "/ui/objects/{id}/history",
    "/ui/objects/{id}/slices/{slice}",
    "/ui/profiles/compare",
    "/ui/lineage/{id}",
    "/ui/pipelines/{id}/state",
    "/ui/audit",
    "/ui/assets/{name}",
];

/// The UI's routes over the store; it owns the server's fallback (an HTML 404 page).
pub fn router(config: UiConfig) -> Router {
    let state = Ui {
        store: config.store.clone(),
        checks: trust::Checks::new(config.trust),
    };
    Router::new()
        .route("/", get(home::page))
        .route("/ui/runs", get(runs::page))
        .route("/ui/runs/compare", get(charts::compare))
        .route("/ui/series", get(charts::series))
        .route("/ui/kinds/{kind}", get(runs::kind_page))
        .route("/ui/objects/{id}", get(objects::page))
        .route("/ui/objects/{id}/raw", get(objects::raw))
        .route("/ui/objects/{id}/history", get(objects::history))
        .route("/ui/objects/{id}/slices/{slice}", get(data::slice_page))
        .route("/ui/profiles/compare", get(drift::page))
        .route("/ui/lineage/{id}", get(lineage::page))
        .route("/ui/pipelines/{id}/state", get(live::state))
        .route("/ui/audit", get(trust::audit_page))
        .route("/ui/assets/{name}", get(assets::serve))
        .fallback(error::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            config.request_timeout,
            guard::within,
        ))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

#[cfg(test)]
mod tests {
    /// docs/ui.md lists every page: a route added without its line there fails here.
    #[test]
    fn every_route_is_documented() {
        let docs = include_str!("../../../docs/ui.md");
        for route in super::ROUTES {
            assert!(docs.contains(&format!("`{route}")), "docs/ui.md does not list {route}");
        }
    }
}

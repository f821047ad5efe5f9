//! The UI's static files, built into the binary (the UI works with no network and nothing
//! beside the binary): our stylesheet and script, and uPlot, vendored unchanged from npm by
//! `scripts/vendor-js` with its license (assets/vendor/…/VENDORED.md records the version, the
//! npm integrity and each file's SHA-256; a test checks the files against it).
//!
//! Each file is served at `/ui/assets/NAME?v=HASH` — HASH the first bytes of its SHA-256 — so
//! browsers may cache it for a year: a new build with a changed file has a new address.

use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::UiError;

/// One embedded file.
pub struct Asset {
    /// Its name in `/ui/assets/NAME`.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// Every file the pages use.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/ui.css"),
    },
    Asset {
        name: "ui.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/ui.js"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot-1.6.32/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/uplot-1.6.32/uPlot.min.css"),
    },
];

/// Each asset's version: the first 12 hex digits of its SHA-256.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| hex::encode(Sha256::digest(a.bytes))[..12].to_owned())
        .collect()
});

/// The address of the asset `name`, with its version.
pub fn url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/ui/assets/{name}?v={}", VERSIONS[i]),
        None => format!("/ui/assets/{name}"),
    }
}

#[derive(Deserialize)]
pub(crate) struct Version {
    v: Option<String>,
}

/// `GET /ui/assets/{name}`: the file, cached for a year when asked for by its current version.
pub(crate) async fn serve(Path(name): Path<String>, Query(version): Query<Version>) -> Result<Response, UiError> {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return Err(UiError::not_found(format!("there is no asset named `{name}`")));
    };
    let asset = &ASSETS[i];
    let cache = match version.v.as_deref() == Some(VERSIONS[i].as_str()) {
        true => "public, max-age=31536000, immutable",
        false => "no-cache",
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored files are the ones `scripts/vendor-js` took from npm: a file edited by
    /// hand fails here.
    #[test]
    fn vendored_files_match_their_record() {
        let record = include_str!("../assets/vendor/uplot-1.6.32/VENDORED.md");
        for asset in ASSETS.iter().filter(|a| a.name.starts_with("uPlot")) {
            let digest = hex::encode(Sha256::digest(asset.bytes));
            let line = format!("{digest}  {}", asset.name);
            assert!(
                record.contains(&line),
                "{} is not the vendored file ({digest})",
                asset.name
            );
        }
    }

    #[test]
    fn every_asset_address_carries_its_version() {
        for asset in ASSETS {
            let address = url(asset.name);
            assert!(
                address.starts_with(&format!("/ui/assets/{}?v=", asset.name)),
                "{address}"
            );
            assert_eq!(address.len(), "/ui/assets/?v=".len() + asset.name.len() + 12);
        }
    }
}

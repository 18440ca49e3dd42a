//! The frontend's static files, compiled into the binary and served under a hash of their
//! content (`/static/<hash>/<file>`): a new build changes the address of a changed file, so the
//! browser may keep each one for a year. The compression layer of the frontend's routes
//! answers gzip to browsers that accept it.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};

use super::UiError;

/// One static file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("static/app.js"),
    },
    Asset {
        name: "sandbox.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("static/sandbox.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("static/icon.svg"),
    },
];

/// The hash naming the current version of every file (one for all: any change renames all).
fn version() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut hasher = Sha1::new();
        for asset in ASSETS {
            hasher.update(asset.name.as_bytes());
            hasher.update(asset.body);
        }
        let digest = hasher.finalize();
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    })
}

/// `asset(name)` in a template: the address of a static file.
pub(super) fn url(name: String) -> Result<String, minijinja::Error> {
    if ASSETS.iter().any(|a| a.name == name) {
        Ok(format!("/static/{}/{name}", version()))
    } else {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("no static file `{name}`"),
        ))
    }
}

/// `GET /static/{hash}/{file}`: the file, cacheable for a year; a hash of another build is a
/// 404 (the page that asks for it is out of date).
pub(super) async fn serve(Path((hash, file)): Path<(String, String)>) -> Response {
    let asset = ASSETS.iter().find(|a| a.name == file);
    match asset {
        Some(asset) if hash == version() => {
            let mut response = asset.body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        _ => UiError::not_found(format!("no static file `{hash}/{file}`")).into_response(),
    }
}

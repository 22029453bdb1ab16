//! The console's files, built into the binary and served under names that change with their
//! content, so a browser may keep them for good and still never runs a stale one. htmx and its
//! SSE extension are vendored from npm (versions in `assets/vendor/README.md`).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    content: &'static str,
}

const STYLESHEET: Asset = Asset {
    stem: "idsync",
    extension: "css",
    content_type: "text/css; charset=utf-8",
    content: include_str!("../assets/idsync.css"),
};
const SCRIPT: Asset = Asset {
    stem: "console",
    extension: "js",
    content_type: "text/javascript; charset=utf-8",
    content: include_str!("../assets/console.js"),
};
const HTMX: Asset = Asset {
    stem: "htmx",
    extension: "js",
    content_type: "text/javascript; charset=utf-8",
    content: include_str!("../assets/vendor/htmx.min.js"),
};
const HTMX_SSE: Asset = Asset {
    stem: "htmx-ext-sse",
    extension: "js",
    content_type: "text/javascript; charset=utf-8",
    content: include_str!("../assets/vendor/htmx-ext-sse.js"),
};
const ICON: &str = include_str!("../assets/icon.svg");

/// `<stem>-<first 16 hex digits of the content's SHA-256>.<extension>`.
fn hashed(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.content.as_bytes());
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{}-{short}.{}", asset.stem, asset.extension)
}

static NAMES: LazyLock<Vec<(String, &'static Asset)>> = LazyLock::new(|| {
    [&STYLESHEET, &SCRIPT, &HTMX, &HTMX_SSE].into_iter().map(|a| (format!("/ui/assets/{}", hashed(a)), a)).collect()
});

fn path_of(asset: &Asset) -> &'static str {
    NAMES.iter().find(|(_, a)| a.stem == asset.stem).map_or("", |(path, _)| path.as_str())
}

pub fn stylesheet() -> &'static str {
    path_of(&STYLESHEET)
}

/// The scripts every page loads, in order: htmx, its SSE extension, then the console's own.
pub fn scripts() -> [&'static str; 3] {
    [path_of(&HTMX), path_of(&HTMX_SSE), path_of(&SCRIPT)]
}

const FOREVER: &str = "public, max-age=31536000, immutable";

pub async fn file(Path(name): Path<String>) -> Response {
    let wanted = format!("/ui/assets/{name}");
    match NAMES.iter().find(|(path, _)| *path == wanted) {
        Some((_, asset)) => {
            ([(header::CONTENT_TYPE, asset.content_type), (header::CACHE_CONTROL, FOREVER)], asset.content)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file: the page that named it is older than this server; reload it")
            .into_response(),
    }
}

/// At `/favicon.ico`, where browsers look for it whatever a page names; its name does not change
/// with it, so it is kept a day only.
pub async fn icon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], ICON)
}

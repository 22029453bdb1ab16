//! The console's files, built into the binary and served under names that change with their
//! content, so a browser may keep them for good and still never runs a stale one.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("../assets/idsync.css");
const SCRIPT: &str = include_str!("../assets/console.js");
const ICON: &str = include_str!("../assets/icon.svg");

/// `/ui/assets/<stem>-<first 16 hex digits of the content's SHA-256>.<extension>`.
fn hashed(stem: &str, extension: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("/ui/assets/{stem}-{short}.{extension}")
}

pub static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| hashed("idsync", "css", STYLESHEET));
pub static SCRIPT_PATH: LazyLock<String> = LazyLock::new(|| hashed("console", "js", SCRIPT));

const FOREVER: &str = "public, max-age=31536000, immutable";

pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, FOREVER)], STYLESHEET)
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, FOREVER)], SCRIPT)
}

/// At `/favicon.ico`, where browsers look for it whatever a page names; its name does not change
/// with it, so it is kept a day only.
pub async fn icon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], ICON)
}

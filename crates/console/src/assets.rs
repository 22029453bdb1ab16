//! The console's files, built into the binary and served under names that change with their
//! content, so a browser may keep them for good and still never runs a stale one.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("../assets/idsync.css");

/// `/ui/assets/idsync-<first 16 hex digits of the SHA-256>.css`.
pub static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("/ui/assets/idsync-{short}.css")
});

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
}

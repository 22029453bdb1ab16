use api_types::{Restore, RestoreReport, SealedBackup};
use app::admin_tokens::Caller;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::json;

use super::problem::{ApiError, ApiJson};
use super::{ApiState, audit};

fn document(text: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], text)
}

/// Back up the configuration — sources with their settings and schedules, targets, bindings and
/// their rules, admin token names — as one versioned document, keyed by name, in a canonical
/// order. Secrets are left out (marked `omitted`); source token hashes are kept.
#[utoipa::path(get, path = "/backup", operation_id = "backup", tag = "backup",
    responses((status = 200, description = "The backup document", body = Object)))]
pub async fn export(State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    Ok(document(app::backup::export(&*s.db, &s.connector, None).await?))
}

/// The same backup with every secret in it, each sealed under a key derived from the passphrase
/// (argon2id, XChaCha20-Poly1305, bound to its place in the document).
#[utoipa::path(post, path = "/backup", operation_id = "sealed_backup", tag = "backup", request_body = SealedBackup,
    responses((status = 200, description = "The backup document, its secrets sealed", body = Object)))]
pub async fn export_sealed(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<SealedBackup>,
) -> Result<impl IntoResponse, ApiError> {
    let text = app::backup::export(&*s.db, &s.connector, Some(request.passphrase.expose())).await?;
    audit(&s, &caller, "config.backup_with_secrets", "config", None, None).await;
    Ok(document(text))
}

/// Restore a backup: first every check (format version, checksum, passphrase, references, rules),
/// then, unless `dry_run`, every change in one transaction. Restored pull sources come back
/// paused; bindings that change are reconciled through the safeguard.
#[utoipa::path(post, path = "/restore", operation_id = "restore", tag = "backup", request_body = Restore,
    responses((status = 200, description = "What changed, or would change", body = RestoreReport)))]
pub async fn restore(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<Restore>,
) -> Result<Json<RestoreReport>, ApiError> {
    let only: Option<std::collections::BTreeSet<String>> = request.only.clone().map(|o| o.into_iter().collect());
    let options = app::backup::Options {
        mode: request.mode,
        dry_run: request.dry_run,
        passphrase: request.passphrase.as_ref().map(|p| p.expose()),
        rotate_scim_tokens: request.rotate_scim_tokens,
        only: only.as_ref(),
    };
    let report = app::backup::restore(&*s.db, &s.connector, &s.auth_cache, request.document, &options).await?;
    if report.applied {
        let changed = report
            .changes
            .iter()
            .filter(|c| !matches!(c.change, api_types::Change::Unchanged | api_types::Change::OnlyHere))
            .count();
        let after =
            json!({"mode": request.mode, "objects_changed": changed, "scim_tokens_rotated": report.scim_tokens.len()});
        audit(&s, &caller, "config.restore", "config", None, Some(after)).await;
    }
    Ok(Json(report))
}

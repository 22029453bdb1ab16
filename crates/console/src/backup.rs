//! Backup and restore: download the configuration (secrets left out, or sealed with a passphrase
//! after the password again), upload a backup to see what restoring it would change object by
//! object, then choose how and apply it in one transaction.

use axum::extract::Multipart;

use super::*;

#[derive(Template)]
#[template(path = "backup.html")]
struct BackupPage {
    signed_in: Option<String>,
    recent: bool,
    notice: Option<String>,
    problem: Option<String>,
}

fn backup_view(signed: Signed, notice: Option<String>, problem: Option<String>) -> Response {
    page(&BackupPage { recent: signed.recently_authenticated, signed_in: Some(signed.administrator), notice, problem })
}

pub(super) async fn backup_page(SignedIn(signed): SignedIn) -> Response {
    backup_view(signed, None, None)
}

fn attachment(text: String) -> Response {
    let name = format!("attachment; filename=\"idsync-backup-{}.json\"", Timestamp::now().strftime("%Y%m%dT%H%M%SZ"));
    let mut response = ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    if let Ok(value) = HeaderValue::from_str(&name) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The configuration without its secrets.
pub(super) async fn download(State(s): State<ConsoleState>, SignedIn(_): SignedIn) -> Response {
    match app::backup::export(&*s.db, &s.connector, None).await {
        Ok(text) => attachment(text),
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
pub(super) struct SealedForm {
    passphrase: String,
    password: Option<String>,
}

/// The configuration with every secret in it, sealed with a passphrase: the password again.
pub(super) async fn download_sealed(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Form(form): Form<SealedForm>,
) -> Response {
    if let Err(problem) = confirm(&s, &signed, &peer, form.password.as_deref(), "nothing was downloaded").await {
        return backup_view(signed, None, Some(problem));
    }
    match app::backup::export(&*s.db, &s.connector, Some(&form.passphrase)).await {
        Ok(text) => {
            audited(&s, &signed, "config.backup_with_secrets", "config", None, None).await;
            attachment(text)
        }
        Err(e) if is_refusal(&e) => backup_view(signed, None, Some(e.to_string())),
        Err(e) => failure(&e),
    }
}

/// What a restore changes or changed, as the page lists it.
struct ChangeRow {
    object: String,
    change: &'static str,
    fields: String,
    secrets: &'static str,
    /// Whether restoring it does something here, so it can be left out.
    choosable: bool,
}

fn rows(report: &api_types::RestoreReport) -> Vec<ChangeRow> {
    report
        .changes
        .iter()
        .map(|c| ChangeRow {
            object: c.object.clone(),
            change: match c.change {
                api_types::Change::Created => "created",
                api_types::Change::Changed => "changed",
                api_types::Change::Unchanged => "unchanged",
                api_types::Change::OnlyHere => "only here: kept",
                api_types::Change::Removed => "only here: removed",
                api_types::Change::NotChosen => "left as it is: not chosen",
            },
            choosable: !c.object.starts_with("admin_token/")
                && matches!(
                    c.change,
                    api_types::Change::Created | api_types::Change::Changed | api_types::Change::Removed
                ),
            fields: c.fields.join(", "),
            secrets: match c.secrets {
                Some(api_types::SecretChange::Changed) => "changed",
                Some(api_types::SecretChange::Unchanged) => "unchanged",
                Some(api_types::SecretChange::Omitted) => "not in the backup",
                None => "",
            },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "restore.html")]
struct RestorePage {
    signed_in: Option<String>,
    recent: bool,
    applied: bool,
    changes: Vec<ChangeRow>,
    notes: Vec<String>,
    tokens: Vec<(String, String)>,
    /// The uploaded backup, carried to the form that applies it.
    document: String,
    sealed: bool,
    mode: &'static str,
    problem: Option<String>,
}

fn mode_of(text: &str) -> Result<api_types::RestoreMode, String> {
    match text {
        "merge" | "" => Ok(api_types::RestoreMode::Merge),
        "replace" => Ok(api_types::RestoreMode::Replace),
        other => Err(format!("'{other}' is not a way to restore: choose merge or replace")),
    }
}

fn mode_word(mode: api_types::RestoreMode) -> &'static str {
    match mode {
        api_types::RestoreMode::Merge => "merge",
        api_types::RestoreMode::Replace => "replace",
    }
}

/// Reads an uploaded backup and shows what restoring it would change; nothing changes yet.
pub(super) async fn upload(State(s): State<ConsoleState>, SignedIn(signed): SignedIn, mut form: Multipart) -> Response {
    let mut document = String::new();
    let mut passphrase = String::new();
    let mut mode = String::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let text = match field.text().await {
                    Ok(text) => text,
                    Err(e) => {
                        return backup_view(signed, None, Some(format!("the upload broke off ({e}); send it again")));
                    }
                };
                match name.as_str() {
                    "backup" => document = text,
                    "passphrase" => passphrase = text,
                    "mode" => mode = text,
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                return backup_view(signed, None, Some(format!("the upload could not be read ({e}); send it again")));
            }
        }
    }
    let mode = match mode_of(&mode) {
        Ok(mode) => mode,
        Err(problem) => return backup_view(signed, None, Some(problem)),
    };
    restore_view(&s, signed, document, passphrase, mode, false, None).await
}

/// Shows what restoring `document` would change or, with the objects chosen to `apply`, restores
/// those.
async fn restore_view(
    s: &ConsoleState,
    signed: Signed,
    document: String,
    passphrase: String,
    mode: api_types::RestoreMode,
    rotate: bool,
    apply: Option<&std::collections::BTreeSet<String>>,
) -> Response {
    let only = apply;
    let apply = apply.is_some();
    let parsed: serde_json::Value = match serde_json::from_str(&document) {
        Ok(parsed) => parsed,
        Err(e) if document.trim().is_empty() => {
            return backup_view(signed, None, Some(format!("choose a backup file to upload ({e})")));
        }
        Err(e) => return backup_view(signed, None, Some(format!("this file is not a backup idsync wrote: {e}"))),
    };
    let sealed = parsed["secrets"]["mode"] == "sealed";
    let given = Some(passphrase.as_str()).filter(|p| !p.is_empty());
    let options = app::backup::Options { mode, dry_run: !apply, passphrase: given, rotate_scim_tokens: rotate, only };
    let (report, problem) = match app::backup::restore(&*s.db, &s.connector, &s.auth_cache, parsed, &options).await {
        Ok(report) => (Some(report), None),
        Err(e) if is_refusal(&e) => (None, Some(format!("{e}; nothing was restored"))),
        Err(e) => return failure(&e),
    };
    if let Some(report) = report.as_ref().filter(|r| r.applied) {
        let changed = report
            .changes
            .iter()
            .filter(|c| !matches!(c.change, api_types::Change::Unchanged | api_types::Change::OnlyHere))
            .count();
        let after = serde_json::json!({"mode": mode, "objects_changed": changed, "scim_tokens_rotated": report.scim_tokens.len()});
        audited(s, &signed, "config.restore", "config", None, Some(after)).await;
    }
    page(&RestorePage {
        recent: signed.recently_authenticated,
        signed_in: Some(signed.administrator),
        applied: report.as_ref().is_some_and(|r| r.applied),
        changes: report.as_ref().map(rows).unwrap_or_default(),
        notes: report.as_ref().map(|r| r.notes.clone()).unwrap_or_default(),
        tokens: report.map(|r| r.scim_tokens.into_iter().collect()).unwrap_or_default(),
        document,
        sealed,
        mode: mode_word(mode),
        problem,
    })
}

/// Applies the backup shown (the password again) to the objects ticked, as chosen: merge or
/// replace, new SCIM tokens or the ones in the backup. The form comes as pairs, since every
/// ticked object is one `object` field.
pub(super) async fn apply(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| first(&form, name).unwrap_or_default().to_string();
    let chosen: std::collections::BTreeSet<String> = every(&form, "object").map(str::to_string).collect();
    let mode = match mode_of(&field("mode")) {
        Ok(mode) => mode,
        Err(problem) => return backup_view(signed, None, Some(problem)),
    };
    if chosen.is_empty() {
        return backup_view(
            signed,
            None,
            Some("no object was ticked, so nothing was restored; upload the backup again".into()),
        );
    }
    let password = Some(field("password")).filter(|p| !p.is_empty());
    if let Err(problem) = confirm(&s, &signed, &peer, password.as_deref(), "nothing was restored").await {
        return backup_view(signed, None, Some(format!("{problem}; upload the backup again")));
    }
    let rotate = !field("rotate").is_empty();
    restore_view(&s, signed, field("document"), field("passphrase"), mode, rotate, Some(&chosen)).await
}

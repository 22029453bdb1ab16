//! Sources: the list, adding one in its provider's words (pushing over SCIM, or read by idsync
//! through a form per provider), and changing how idsync reads one.

use super::*;

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    signed_in: Option<String>,
    sources: Vec<api_types::Source>,
    providers: &'static [providers::PushProvider],
    readable: &'static [pull_providers::PullProvider],
    chosen: String,
    name: String,
    notice: Option<String>,
    problem: Option<String>,
    /// Where the list goes on, when it does.
    next: Option<String>,
}

/// The list of sources with what an action elsewhere came to.
pub(super) async fn sources_said(s: &ConsoleState, signed: Signed, notice: Option<String>) -> Response {
    sources_view(s, signed, "entra", "", notice, None, None).await
}

async fn sources_view(
    s: &ConsoleState,
    signed: Signed,
    chosen: &str,
    name: &str,
    notice: Option<String>,
    problem: Option<String>,
    after: Option<&str>,
) -> Response {
    match app::sources::list(&*s.db, &s.root).await {
        Ok(sources) => {
            let (sources, next) = page_of(sources, after, |s| s.name.as_str());
            page(&SourcesPage {
                signed_in: Some(signed.administrator),
                sources,
                next,
                providers: providers::PUSH,
                readable: pull_providers::PULL,
                chosen: chosen.to_string(),
                name: name.to_string(),
                notice,
                problem,
            })
        }
        Err(e) => failure(&e),
    }
}

pub(super) async fn sources_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(after): Query<After>,
) -> Response {
    sources_view(&s, signed, "entra", "", None, None, after.after.as_deref()).await
}

#[derive(Deserialize)]
pub(super) struct NewSource {
    provider: String,
    name: String,
}

#[derive(Template)]
#[template(path = "source_added.html")]
struct SourceAdded {
    signed_in: Option<String>,
    provider: &'static providers::PushProvider,
    name: String,
    base_url: String,
    token: String,
}

pub(super) async fn add_source(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<NewSource>,
) -> Response {
    let Some(provider) = providers::push(&form.provider) else {
        let problem = format!("'{}' is not an identity provider the console knows", form.provider);
        return sources_view(&s, signed, "scim", &form.name, None, Some(problem), None).await;
    };
    match app::sources::create_push(&*s.db, &form.name, "scim").await {
        Ok(token) => {
            let after = serde_json::json!({"name": form.name, "kind": "scim", "token": app::audit::CHANGED});
            audited(&s, &signed, "source.add", &format!("source/{}", form.name), None, Some(after)).await;
            page(&SourceAdded {
                signed_in: Some(signed.administrator),
                provider,
                base_url: app::sources::scim_url(&s.root, &form.name),
                name: form.name,
                token,
            })
        }
        Err(e @ (app::Error::Invalid(_) | app::Error::Store(store::StoreError::Conflict(_)))) => {
            sources_view(&s, signed, provider.key, &form.name, None, Some(e.to_string()), None).await
        }
        Err(e) => failure(&e),
    }
}

/// One field of a provider's form, with what it holds now.
struct FieldView {
    key: &'static str,
    label: &'static str,
    hint: &'static str,
    required: bool,
    /// text, url, choice, lines or toggle.
    input: &'static str,
    options: &'static [&'static str],
    value: String,
}

fn field_views(provider: &pull_providers::PullProvider, given: Option<&Given>) -> Vec<FieldView> {
    provider
        .fields
        .iter()
        .map(|f| {
            let (input, options) = match f.input {
                pull_providers::Input::Text => ("text", &[][..]),
                pull_providers::Input::Url => ("url", &[][..]),
                pull_providers::Input::Choice(options) => ("choice", options),
                pull_providers::Input::Lines => ("lines", &[][..]),
                pull_providers::Input::Toggle => ("toggle", &[][..]),
            };
            let value = match given {
                Some(given) => given.get(&format!("f.{}", f.key)).cloned().unwrap_or_default(),
                None => f.default.to_string(),
            };
            FieldView { key: f.key, label: f.label, hint: f.hint, required: f.required, input, options, value }
        })
        .collect()
}

/// The labels of what signs idsync in: (id, secret, whether the secret is a key file).
fn secret_labels(secret: &pull_providers::Secret) -> (Option<&'static str>, &'static str, bool) {
    match secret {
        pull_providers::Secret::Token { label } => (None, label, false),
        pull_providers::Secret::Pair { id_label, secret_label } => (Some(id_label), secret_label, false),
        pull_providers::Secret::Key { label } => (None, label, true),
    }
}

#[derive(Template)]
#[template(path = "source_new.html")]
struct NewPullPage {
    signed_in: Option<String>,
    provider: &'static pull_providers::PullProvider,
    fields: Vec<FieldView>,
    id_label: Option<&'static str>,
    secret_label: &'static str,
    key_file: bool,
    name: String,
    client_id: String,
    schedule: String,
    timezone: String,
    notice: Option<String>,
    problem: Option<String>,
    checks: Vec<CheckRow>,
}

type Given = std::collections::HashMap<String, String>;

fn new_pull_view(
    signed: Signed,
    provider: &'static pull_providers::PullProvider,
    given: Option<&Given>,
    problem: Option<String>,
    checks: Vec<CheckRow>,
) -> Response {
    let (id_label, secret_label, key_file) = secret_labels(&provider.secret);
    let value = |k: &str| given.and_then(|g| g.get(k)).cloned().unwrap_or_default();
    page(&NewPullPage {
        signed_in: Some(signed.administrator),
        provider,
        fields: field_views(provider, given),
        id_label,
        secret_label,
        key_file,
        name: value("name"),
        client_id: value("client_id"),
        schedule: given.map_or_else(|| "every 1h".to_string(), |_| value("schedule")),
        timezone: value("timezone"),
        notice: None,
        problem,
        checks,
    })
}

pub(super) async fn new_pull_page(SignedIn(signed): SignedIn, Path(kind): Path<String>) -> Response {
    match pull_providers::pull(&kind) {
        Some(provider) => new_pull_view(signed, provider, None, None, Vec::new()),
        None => (StatusCode::NOT_FOUND, format!("idsync cannot read '{kind}'; choose a provider on the sources page"))
            .into_response(),
    }
}

/// The connector settings a provider's form gives, or what is missing.
fn connector_from(provider: &pull_providers::PullProvider, given: &Given) -> Result<serde_json::Value, String> {
    let mut connector = serde_json::Map::new();
    connector.insert("kind".into(), provider.key.into());
    for field in provider.fields {
        let raw = given.get(&format!("f.{}", field.key)).map(|v| v.trim()).unwrap_or_default();
        let value = match field.input {
            pull_providers::Input::Toggle => {
                if raw.is_empty() {
                    continue;
                }
                serde_json::Value::Bool(true)
            }
            pull_providers::Input::Lines => {
                let lines: Vec<&str> = raw.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                if lines.is_empty() && !field.required {
                    continue;
                }
                serde_json::json!(lines)
            }
            _ if raw.is_empty() && !field.required => continue,
            _ => raw.into(),
        };
        if field.required && (value == "" || value == serde_json::json!([])) {
            return Err(format!("{} is needed", field.label));
        }
        connector.insert(field.key.into(), value);
    }
    Ok(serde_json::Value::Object(connector))
}

/// The credentials a provider's form gives; None when its secret was left empty.
fn credentials_from(
    provider: &pull_providers::PullProvider,
    given: &Given,
) -> Result<Option<api_types::Credentials>, String> {
    let Some(secret) = given.get("secret").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let secret = api_types::Secret::new(secret);
    let (id_label, _, key_file) = secret_labels(&provider.secret);
    Ok(Some(match id_label {
        Some(id_label) => {
            let id = given.get("client_id").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            api_types::Credentials::Basic {
                username: id.ok_or_else(|| format!("{id_label} is needed"))?,
                password: secret,
            }
        }
        None if key_file => api_types::Credentials::Key { key: secret, client_id: None },
        None => api_types::Credentials::Bearer { token: secret },
    }))
}

/// The settings and credentials a new pull source's form gives, or what is missing.
fn pull_request(
    provider: &pull_providers::PullProvider,
    given: &Given,
) -> Result<(serde_json::Value, api_types::Credentials), String> {
    let mut settings = serde_json::json!({"connector": connector_from(provider, given)?});
    for key in ["schedule", "timezone"] {
        if let Some(v) = given.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            settings[key] = v.into();
        }
    }
    let (_, secret_label, _) = secret_labels(&provider.secret);
    let credentials = credentials_from(provider, given)?.ok_or_else(|| format!("{secret_label} is needed"))?;
    Ok((settings, credentials))
}

/// Adds a pull source after checking that idsync can sign in and read; a failed check saves
/// nothing and shows every check with what to do.
pub(super) async fn add_pull(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(kind): Path<String>,
    Form(given): Form<Given>,
) -> Response {
    let Some(provider) = pull_providers::pull(&kind) else {
        return (StatusCode::NOT_FOUND, format!("idsync cannot read '{kind}'")).into_response();
    };
    let name = given.get("name").map(|n| n.trim().to_string()).unwrap_or_default();
    let (settings, credentials) = match pull_request(provider, &given) {
        Ok(request) => request,
        Err(problem) => return new_pull_view(signed, provider, Some(&given), Some(problem), Vec::new()),
    };
    let added = async {
        let pull = app::pull::settings_from(settings.clone())?;
        app::pull::add(&*s.db, &s.pull_env, &name, &pull, app::targets::credentials(credentials)?, true).await
    };
    match added.await {
        Ok(checked) if checked.saved => {
            let after = serde_json::json!({"name": name, "pull": settings, "credentials": app::audit::CHANGED});
            audited(&s, &signed, "source.add", &format!("source/{name}"), None, Some(after)).await;
            Redirect::to(&format!("/ui/sources/{name}")).into_response()
        }
        Ok(checked) => {
            let problem = "a check failed, so nothing was saved; fix what it says and try again".to_string();
            new_pull_view(signed, provider, Some(&given), Some(problem), check_rows(app::checks(checked.checks)))
        }
        Err(e) if is_refusal(&e) || matches!(e, app::Error::Unavailable(_)) => {
            new_pull_view(signed, provider, Some(&given), Some(format!("{e}; nothing was saved")), Vec::new())
        }
        Err(e) => failure(&e),
    }
}

#[derive(Template)]
#[template(path = "source_settings.html")]
struct SettingsPage {
    signed_in: Option<String>,
    name: String,
    provider: &'static pull_providers::PullProvider,
    fields: Vec<FieldView>,
    id_label: Option<&'static str>,
    secret_label: &'static str,
    key_file: bool,
    notice: Option<String>,
    problem: Option<String>,
    checks: Vec<CheckRow>,
}

/// The form as the stored connector settings fill it.
fn given_from(connector: &serde_json::Value) -> Given {
    connector
        .as_object()
        .map(|c| {
            c.iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::Bool(true) => "yes".to_string(),
                        serde_json::Value::Bool(false) => String::new(),
                        serde_json::Value::Array(items) => {
                            items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join("\n")
                        }
                        other => shown(other),
                    };
                    (format!("f.{k}"), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn settings_view(
    s: &ConsoleState,
    signed: Signed,
    name: &str,
    given: Option<&Given>,
    said: (Option<String>, Option<String>, Vec<CheckRow>),
) -> Response {
    let stored = match app::pull::settings(&*s.db, name).await {
        Ok(stored) => stored,
        Err(e @ app::Error::Missing { .. }) => return (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        Err(e) => return failure(&e),
    };
    let connector = serde_json::to_value(&stored.connector).unwrap_or_default();
    let Some(provider) = connector["kind"].as_str().and_then(pull_providers::pull) else {
        return failure(&app::Error::Invalid(format!(
            "source {name} is read by a connector the console has no form for"
        )));
    };
    let from_store = given_from(&connector);
    let (id_label, secret_label, key_file) = secret_labels(&provider.secret);
    let (notice, problem, checks) = said;
    page(&SettingsPage {
        signed_in: Some(signed.administrator),
        name: name.to_string(),
        provider,
        fields: field_views(provider, Some(given.unwrap_or(&from_store))),
        id_label,
        secret_label,
        key_file,
        notice,
        problem,
        checks,
    })
}

pub(super) async fn settings_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    settings_view(&s, signed, &name, None, (None, None, Vec::new())).await
}

/// New settings (and, when given, credentials) for a pull source, checked before they are saved;
/// its schedule stays as it is.
pub(super) async fn save_settings(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Form(given): Form<Given>,
) -> Response {
    let changed = async {
        let mut pull = app::pull::settings(&*s.db, &name).await?;
        let kind =
            serde_json::to_value(&pull.connector).unwrap_or_default()["kind"].as_str().unwrap_or_default().to_string();
        let provider = pull_providers::pull(&kind)
            .ok_or_else(|| app::Error::Invalid(format!("source {name} has no form in the console")))?;
        let connector = connector_from(provider, &given).map_err(app::Error::Invalid)?;
        pull.connector = serde_json::from_value(connector.clone())
            .map_err(|e| app::Error::Invalid(format!("these settings are not {}'s: {e}", provider.label)))?;
        let credentials = credentials_from(provider, &given)
            .map_err(app::Error::Invalid)?
            .map(app::targets::credentials)
            .transpose()?;
        let replaced = credentials.is_some();
        let checked = app::pull::edit(&*s.db, &s.pull_env, &name, &pull, credentials, true).await?;
        Ok::<_, app::Error>((checked, connector, replaced))
    };
    match changed.await {
        Ok((checked, connector, replaced)) if checked.saved => {
            let after =
                serde_json::json!({"connector": connector, "credentials": replaced.then_some(app::audit::CHANGED)});
            audited(&s, &signed, "source.change", &format!("source/{name}"), None, Some(after)).await;
            let notice = "settings saved; the next run reads everything".to_string();
            settings_view(&s, signed, &name, None, (Some(notice), None, check_rows(app::checks(checked.checks)))).await
        }
        Ok((checked, _, _)) => {
            let problem = "a check failed, so nothing was saved; fix what it says and try again".to_string();
            settings_view(
                &s,
                signed,
                &name,
                Some(&given),
                (None, Some(problem), check_rows(app::checks(checked.checks))),
            )
            .await
        }
        Err(e) if is_refusal(&e) => {
            settings_view(&s, signed, &name, Some(&given), (None, Some(format!("{e}; nothing was saved")), Vec::new()))
                .await
        }
        Err(e) => failure(&e),
    }
}

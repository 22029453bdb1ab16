//! Sources: the list, and adding one that pushes over SCIM in its provider's words.

use super::*;

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    stylesheet: &'static str,
    signed_in: Option<String>,
    sources: Vec<api_types::Source>,
    providers: &'static [providers::PushProvider],
    chosen: String,
    name: String,
    problem: Option<String>,
}

async fn sources_view(s: &ConsoleState, signed: Signed, chosen: &str, name: &str, problem: Option<String>) -> Response {
    match app::sources::list(&*s.db, &s.root).await {
        Ok(sources) => page(&SourcesPage {
            stylesheet: &assets::STYLESHEET_PATH,
            signed_in: Some(signed.administrator),
            sources,
            providers: providers::PUSH,
            chosen: chosen.to_string(),
            name: name.to_string(),
            problem,
        }),
        Err(e) => failure(&e),
    }
}

pub(super) async fn sources_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
    sources_view(&s, signed, "entra", "", None).await
}

#[derive(Deserialize)]
pub(super) struct NewSource {
    provider: String,
    name: String,
}

#[derive(Template)]
#[template(path = "source_added.html")]
struct SourceAdded {
    stylesheet: &'static str,
    script: &'static str,
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
        return sources_view(&s, signed, "scim", &form.name, Some(problem)).await;
    };
    match app::sources::create_push(&*s.db, &form.name, "scim").await {
        Ok(token) => {
            let after = serde_json::json!({"name": form.name, "kind": "scim", "token": app::audit::CHANGED});
            audited(&s, &signed, "source.add", &format!("source/{}", form.name), None, Some(after)).await;
            page(&SourceAdded {
                stylesheet: &assets::STYLESHEET_PATH,
                script: &assets::SCRIPT_PATH,
                signed_in: Some(signed.administrator),
                provider,
                base_url: app::sources::scim_url(&s.root, &form.name),
                name: form.name,
                token,
            })
        }
        Err(e @ (app::Error::Invalid(_) | app::Error::Store(store::StoreError::Conflict(_)))) => {
            sources_view(&s, signed, provider.key, &form.name, Some(e.to_string())).await
        }
        Err(e) => failure(&e),
    }
}

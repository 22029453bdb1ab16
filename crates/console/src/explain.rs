//! Explain a user: one page for one person across every source and target.

use super::*;

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    signed_in: Option<String>,
    user: String,
    explained: Option<api_types::Explanation>,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ExplainQuery {
    #[serde(default)]
    user: String,
}

pub(super) async fn explain_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(query): Query<ExplainQuery>,
) -> Response {
    let user = query.user.trim().to_string();
    let (explained, problem) = if user.is_empty() {
        (None, None)
    } else {
        match app::explain::user(&*s.db, &s.engine.bindings(), &user).await {
            Ok(explained) => (Some(explained), None),
            Err(e) if is_refusal(&e) => (None, Some(e.to_string())),
            Err(e) => return failure(&e),
        }
    };
    page(&ExplainPage { signed_in: Some(signed.administrator), user, explained, problem })
}

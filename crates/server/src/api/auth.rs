//! Admin tokens at the door: every operation names the scope it takes, and the token of a
//! request must open it. SCIM and login-sync tokens open nothing here.

use api_types::Scope;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::OpenApiRouter;

use super::ApiState;
use super::problem::ApiError;

fn bearer(request: &Request) -> &str {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim())
}

async fn guard(State(needed): State<Scope>, mut request: Request, next: Next) -> Response {
    let Some(state) = request.extensions().get::<ApiState>().cloned() else {
        return ApiError::new("unavailable", "the admin API is mounted without its state").into_response();
    };
    let accepted = app::admin_tokens::authenticate(&*state.db, bearer(&request), jiff::Timestamp::now())
        .await
        .and_then(|caller| caller.require(needed).map(|()| caller));
    match accepted {
        Ok(caller) => {
            tracing::debug!(token = %caller.token, scope = %caller.scope, "admin token accepted");
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The operations of `routes`, each opened only by a token whose scope covers `needed`, which
/// their documentation names as the role their security requirement takes (OpenAPI 3.1 allows
/// roles for schemes other than OAuth).
pub fn scoped(needed: Scope, mut routes: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    let requirement = SecurityRequirement::new(super::TOKEN_SCHEME, [needed.as_str()]);
    for operation in super::operations_of(routes.get_openapi_mut()) {
        operation.security = Some(vec![requirement.clone()]);
    }
    routes.route_layer(axum::middleware::from_fn_with_state(needed, guard))
}

//! Signing in and out, and who a request comes from.

use super::*;

const COOKIE: &str = "__Host-idsync";

fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The administrator a page is for; without a live session, the page leads to the sign-in.
pub(super) struct SignedIn(pub(super) Signed);

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let secret = session_secret(&parts.headers).ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        match app::administrators::session(&*state.db, &state.policy, &secret, Timestamp::now()).await {
            Ok(signed) => Ok(SignedIn(signed)),
            Err(app::Error::Unauthenticated(_)) => Err(Redirect::to("/ui/login").into_response()),
            Err(e) => Err(failure(&e)),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    signed_in: Option<String>,
    name: String,
    problem: Option<String>,
}

pub(super) async fn login_page() -> Response {
    page(&LoginPage { signed_in: None, name: String::new(), problem: None })
}

#[derive(Deserialize)]
pub(super) struct Credentials {
    name: String,
    password: String,
}

/// The address a request came from (as the listener saw it), for the limit on failed sign-ins.
pub(super) struct Peer(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        Ok(Peer(peer.unwrap_or_else(|| "unknown".into())))
    }
}

pub(super) async fn login(
    State(s): State<ConsoleState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let now = Timestamp::now();
    let refused = |status: StatusCode, problem: String, name: String| {
        let mut response = page(&LoginPage { signed_in: None, name, problem: Some(problem) });
        *response.status_mut() = status;
        response
    };
    match app::administrators::login(&*s.db, &s.policy, &form.name, &form.password, &peer, now).await {
        Ok(opened) => {
            // A session the browser brought along ends: the new one is the only one this login made.
            if let Some(old) = session_secret(&headers) {
                let _ = app::administrators::logout(&*s.db, &old).await;
            }
            let max_age = opened.expires.duration_since(now).as_secs().max(0);
            let cookie =
                format!("{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}", opened.secret);
            let mut response = Redirect::to("/ui/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
        }
        Err(app::Error::Throttled(message)) => refused(StatusCode::TOO_MANY_REQUESTS, message, form.name),
        Err(app::Error::Unauthenticated(message)) => refused(StatusCode::UNAUTHORIZED, message, form.name),
        Err(e) => failure(&e),
    }
}

pub(super) async fn logout(State(s): State<ConsoleState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_secret(&headers)
        && let Err(e) = app::administrators::logout(&*s.db, &secret).await
    {
        return failure(&e);
    }
    let mut response = Redirect::to("/ui/login").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-idsync=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// A dangerous action asks for the password again, unless it was given in the last few minutes.
/// The refusal names what did not happen (`undone`: "nothing was approved").
pub(super) async fn confirm(
    s: &ConsoleState,
    signed: &Signed,
    peer: &str,
    password: Option<&str>,
    undone: &str,
) -> Result<(), String> {
    if signed.recently_authenticated {
        return Ok(());
    }
    let password = password.unwrap_or_default();
    app::administrators::reauthenticate(&*s.db, signed, password, peer, Timestamp::now()).await.map_err(|e| match e {
        app::Error::Unauthenticated(_) => format!("the password is wrong; {undone}"),
        other => format!("{other}; {undone}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; __Host-idsync=abc123; other=1"));
        assert_eq!(session_secret(&headers).as_deref(), Some("abc123"));
        headers.insert(header::COOKIE, HeaderValue::from_static("idsync=not-it"));
        assert_eq!(session_secret(&headers), None);
    }
}

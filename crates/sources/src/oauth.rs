//! The one OAuth 2.0 client-credentials token source connectors share: a token is fetched when
//! needed, reused until shortly before it expires, and dropped when the provider says it is no
//! longer good (a 401), so the next request fetches a fresh one.

use std::time::{Duration, Instant};

use rest::{Answer, Credentials, Http, RestError, Url};
use serde_json::json;
use tokio::sync::Mutex;

use crate::fetch::{Retry, get_answer};
use crate::jwt::{ClientKey, ServiceAccount};

/// How a provider wants the client to ask for a token.
#[derive(Debug, Clone)]
pub enum TokenRequest {
    /// `grant_type`, `client_id` and `client_secret` (and a `scope`, when given) in a form
    /// (Keycloak, Entra ID, most providers).
    Form { url: String, client_id: String, secret: String, scope: Option<String> },
    /// Client id and secret as HTTP Basic, `{"grant_type": "client_credentials"}` as JSON (OneLogin).
    BasicJson { url: String, client_id: String, secret: String },
    /// Client id and secret as HTTP Basic, grant and scope in a form (Oracle identity domains).
    BasicForm { url: String, client_id: String, secret: String, scope: String },
    /// A signed JWT assertion for `subject` (RFC 7523; Google's domain-wide delegation).
    JwtBearer { account: std::sync::Arc<ServiceAccount>, subject: String, scope: String },
    /// A refresh token an OAuth client was given when an administrator consented (Google's
    /// `authorized_user` credentials).
    RefreshToken { url: String, client_id: String, secret: String, refresh_token: String },
    /// Client credentials, the client authenticated by a signed assertion (`private_key_jwt`;
    /// Okta's service apps).
    PrivateKeyJwt { url: String, client: std::sync::Arc<ClientKey>, scope: String },
}

pub struct TokenSource {
    request: TokenRequest,
    timeout: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub fn new(request: TokenRequest, timeout: Duration) -> Self {
        TokenSource { request, timeout, cached: Mutex::new(None) }
    }

    /// A valid access token; counts a request when it has to fetch one.
    pub async fn token(&self, requests: &mut u64) -> Result<String, RestError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && *until > Instant::now()
        {
            return Ok(token.clone());
        }
        *requests += 1;
        let endpoint =
            |url: &str| rest::Url::parse(url).map_err(|e| RestError::Config(format!("'{url}' is not a URL: {e}")));
        let answer = match &self.request {
            TokenRequest::Form { url, client_id, secret, scope } => {
                let http = Http::new(url, Credentials::Bearer { token: String::new() }, self.timeout)?;
                let mut form = vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.as_str()),
                ];
                if let Some(scope) = scope {
                    form.push(("scope", scope));
                }
                http.post_form(endpoint(url)?, &form).await?
            }
            TokenRequest::BasicForm { url, client_id, secret, scope } => {
                let credentials = Credentials::Basic { username: client_id.clone(), password: secret.clone() };
                let http = Http::new(url, credentials, self.timeout)?;
                http.post_form_authenticated(endpoint(url)?, &[("grant_type", "client_credentials"), ("scope", scope)])
                    .await?
            }
            TokenRequest::JwtBearer { account, subject, scope } => {
                let url = &account.token_uri;
                let http = Http::new(url, Credentials::Bearer { token: String::new() }, self.timeout)?;
                let assertion = account.assertion(subject, scope)?;
                let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
                http.post_form(endpoint(url)?, &[("grant_type", grant), ("assertion", &assertion)]).await?
            }
            TokenRequest::RefreshToken { url, client_id, secret, refresh_token } => {
                let http = Http::new(url, Credentials::Bearer { token: String::new() }, self.timeout)?;
                let form = [
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.as_str()),
                    ("refresh_token", refresh_token.as_str()),
                ];
                http.post_form(endpoint(url)?, &form).await?
            }
            TokenRequest::PrivateKeyJwt { url, client, scope } => {
                let http = Http::new(url, Credentials::Bearer { token: String::new() }, self.timeout)?;
                let assertion = client.assertion(url)?;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("scope", scope.as_str()),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.as_str()),
                ];
                http.post_form(endpoint(url)?, &form).await?
            }
            TokenRequest::BasicJson { url, client_id, secret } => {
                let credentials = Credentials::Basic { username: client_id.clone(), password: secret.clone() };
                let http = Http::new(url, credentials, self.timeout)?;
                let body = json!({"grant_type": "client_credentials"});
                match http.send(rest::Method::POST, endpoint(url)?, &[], Some(&body)).await {
                    Ok(a) => a.body,
                    Err(RestError::Rejected { status: 400, message }) => {
                        return Err(RestError::Unauthorized { message });
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| RestError::Protocol("the token endpoint answered without access_token".into()))?
            .to_string();
        // Renewed a little early: a token that expires mid-request costs a retry.
        let lifetime =
            Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(60)).saturating_sub(Duration::from_secs(10));
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Forgets the token: the provider refused it.
    async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// GETs `url` through `http` with a current token, retrying as [`get_answer`] does; a 401
    /// (the token was revoked or expired early) gets one new token and one more try.
    pub async fn get(
        &self,
        http: &Http,
        url: Url,
        query: &[(&str, &str)],
        retry: Retry,
        requests: &mut u64,
    ) -> Result<Answer, RestError> {
        for renewed in [false, true] {
            let http = http.with_credentials(Credentials::Bearer { token: self.token(requests).await? });
            match get_answer(&http, url.clone(), query, retry, requests).await {
                Err(RestError::Unauthorized { .. }) if !renewed => self.invalidate().await,
                other => return other,
            }
        }
        unreachable!("the loop returns on its second pass")
    }
}

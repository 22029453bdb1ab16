//! Bearer-token authentication per source, and the per-source request rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use model::ScimError;
use sha2::{Digest, Sha256};
use store::{SourceAuth, SourceId};
use subtle::ConstantTimeEq;

use crate::ScimState;
use crate::error::{ApiError, error_response};

/// The authenticated source of a request, put in the request extensions by `authenticate`.
#[derive(Debug, Clone)]
pub struct SourceCtx {
    pub id: SourceId,
    pub name: String,
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn unauthorized() -> Response {
    let mut resp = error_response(&ScimError::new(
        401,
        None,
        "missing or invalid bearer token for this source; send 'Authorization: Bearer <token>' with the token idsync issued for this source when it was added or its token last rotated",
    ));
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"idsync\""));
    resp
}

/// Checks the bearer token against the hashes of the source named in the path. Another source's
/// token, an expired one or none at all get the same 401, so a caller learns nothing about sources.
pub async fn authenticate(
    State(state): State<ScimState>,
    Path(params): Path<HashMap<String, String>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(source) = params.get("source").cloned() else {
        return unauthorized();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(presented) = presented else {
        return unauthorized();
    };
    let auth = match state.auth_cache.get(&source) {
        Some(a) => a,
        None => match state.store.source_auth(&source).await {
            Ok(Some(a)) => state.auth_cache.put(&source, a),
            Ok(None) => return unauthorized(),
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let hash = hash_token(&presented);
    let mut ok = subtle::Choice::from(0);
    for known in &auth.token_hashes {
        ok |= known.ct_eq(&hash);
    }
    if !bool::from(ok) {
        return unauthorized();
    }
    if let Err(retry_after) = state.limiter.check(auth.id) {
        let mut resp = error_response(&ScimError::new(
            429,
            None,
            format!("source '{source}' sends more requests than allowed; retry after {retry_after} s"),
        ));
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return resp;
    }
    req.extensions_mut().insert(SourceCtx { id: auth.id, name: source.clone() });
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(Authenticated(source));
    resp
}

/// Put on a response to a request whose token opened its source, so metrics can name the source
/// without letting anyone create a series per made-up name.
#[derive(Clone)]
pub(crate) struct Authenticated(pub(crate) String);

/// Sources and their valid token hashes, remembered so that a request costs no token query.
///
/// Tokens change only through the admin API of the server that serves them, which empties the
/// cache when it commits a change ([`AuthCache::clear`]), so a rotation takes effect for every
/// request that starts after the API answered. Entries also expire after `max_age`.
pub struct AuthCache {
    max_age: Duration,
    state: Mutex<HashMap<String, (Arc<SourceAuth>, Instant)>>,
}

impl AuthCache {
    /// `max_age` zero turns caching off.
    pub fn new(max_age: Duration) -> Self {
        AuthCache { max_age, state: Mutex::new(HashMap::new()) }
    }

    fn get(&self, source: &str) -> Option<Arc<SourceAuth>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (auth, at) = state.get(source)?;
        (at.elapsed() < self.max_age).then(|| auth.clone())
    }

    /// Forgets every source's tokens, after this process changed some.
    pub fn clear(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn put(&self, source: &str, auth: SourceAuth) -> Arc<SourceAuth> {
        let auth = Arc::new(auth);
        if !self.max_age.is_zero() {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.insert(source.to_string(), (auth.clone(), Instant::now()));
        }
        auth
    }
}

struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

/// A token bucket per source: `per_second` sustained, `burst` at once. Zero turns it off.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<SourceId, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(per_second).max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Ok, or the whole seconds to wait.
    pub fn check(&self, source: SourceId) -> Result<(), u64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(source).or_insert(Bucket { tokens: self.burst, refreshed: now });
        b.tokens = (b.tokens + now.duration_since(b.refreshed).as_secs_f64() * self.per_second).min(self.burst);
        b.refreshed = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_forgets_when_cleared_and_when_entries_age() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let auth = || SourceAuth { id: SourceId(1), token_hashes: vec![[1; 32]] };
        assert!(cache.get("a").is_none());
        cache.put("a", auth());
        assert!(cache.get("a").is_some());
        cache.clear();
        assert!(cache.get("a").is_none(), "a change of tokens empties the cache");
        let expiring = AuthCache::new(Duration::ZERO);
        expiring.put("a", auth());
        assert!(expiring.get("a").is_none(), "entries expire");
    }

    #[test]
    fn bucket_allows_burst_then_refuses_with_a_wait() {
        let l = RateLimiter::new(1, 3);
        let s = SourceId(1);
        assert!(l.check(s).is_ok());
        assert!(l.check(s).is_ok());
        assert!(l.check(s).is_ok());
        assert_eq!(l.check(s), Err(1));
        assert!(l.check(SourceId(2)).is_ok(), "buckets are per source");
    }

    #[test]
    fn zero_rate_means_unlimited() {
        let l = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            assert!(l.check(SourceId(1)).is_ok());
        }
    }
}

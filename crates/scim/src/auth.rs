//! Bearer-token authentication per source, and the per-source request rate limit.

use std::collections::HashMap;
use std::path::{self, PathBuf};
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
/// Tokens change in another process (`idsync source rotate-token`), which after committing replaces
/// the epoch file in the data directory. Every lookup first checks that file's identity (one
/// `stat`); a changed file empties the cache, so a rotation takes effect for every request that
/// starts after the command returns. Entries also expire after `max_age`, in case a command died
/// between its commit and the epoch file.
pub struct AuthCache {
    epoch_file: Option<PathBuf>,
    max_age: Duration,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    epoch: Option<(u64, i64, i64)>,
    entries: HashMap<String, (Arc<SourceAuth>, Instant)>,
}

fn epoch_of(path: &path::Path) -> Option<(u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

impl AuthCache {
    /// `epoch_file: None` turns caching off.
    pub fn new(epoch_file: Option<PathBuf>, max_age: Duration) -> Self {
        AuthCache { epoch_file, max_age, state: Mutex::new(CacheState::default()) }
    }

    fn get(&self, source: &str) -> Option<Arc<SourceAuth>> {
        let path = self.epoch_file.as_ref()?;
        let epoch = epoch_of(path);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.epoch != epoch {
            state.entries.clear();
            state.epoch = epoch;
            return None;
        }
        let (auth, at) = state.entries.get(source)?;
        (at.elapsed() < self.max_age).then(|| auth.clone())
    }

    /// Forgets every source's tokens, after this process changed some.
    pub fn clear(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).entries.clear();
    }

    fn put(&self, source: &str, auth: SourceAuth) -> Arc<SourceAuth> {
        let auth = Arc::new(auth);
        if self.epoch_file.is_some() {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.entries.insert(source.to_string(), (auth.clone(), Instant::now()));
        }
        auth
    }
}

/// Tells running servers that tokens changed: replaces the epoch file (a new inode every time).
pub fn bump_auth_epoch(path: &path::Path) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{:?}\n", std::time::SystemTime::now()))?;
    std::fs::rename(&tmp, path)
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
    fn cache_forgets_everything_when_the_epoch_file_changes() {
        let dir = std::env::temp_dir().join(format!("idsync-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let epoch = dir.join("auth.epoch");
        let cache = AuthCache::new(Some(epoch.clone()), Duration::from_secs(60));
        let auth = || SourceAuth { id: SourceId(1), token_hashes: vec![[1; 32]] };
        assert!(cache.get("a").is_none());
        cache.put("a", auth());
        assert!(cache.get("a").is_some());
        bump_auth_epoch(&epoch).unwrap();
        assert!(cache.get("a").is_none(), "a new epoch empties the cache");
        cache.put("a", auth());
        assert!(cache.get("a").is_some());
        bump_auth_epoch(&epoch).unwrap();
        assert!(cache.get("a").is_none(), "every bump is seen, not only the first");
        let uncached = AuthCache::new(None, Duration::from_secs(60));
        uncached.put("a", auth());
        assert!(uncached.get("a").is_none());
        let expiring = AuthCache::new(Some(epoch), Duration::ZERO);
        expiring.get("a");
        expiring.put("a", auth());
        assert!(expiring.get("a").is_none(), "entries expire");
        std::fs::remove_dir_all(dir).unwrap();
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

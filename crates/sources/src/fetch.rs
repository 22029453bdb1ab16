//! The one retrying fetch every connector pages with: throttling and passing failures are waited
//! out (as long as the provider asks, within a bound), anything else is final.

use std::time::Duration;

use rest::{Answer, Http, Method, RestError, Url};
use serde_json::Value;

/// How often and how long a page is retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_wait: Duration,
    /// The longest wait idsync accepts, even if the provider asks for more.
    pub longest_wait: Duration,
    /// At most this many requests a second to the provider (its quota), when set.
    pub rate: Option<f64>,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 5, first_wait: Duration::from_millis(500), longest_wait: Duration::from_secs(60), rate: None }
    }
}

/// GETs `url`, retrying retryable failures; counts every request in `requests`.
pub async fn get(
    http: &Http,
    url: Url,
    query: &[(&str, &str)],
    retry: Retry,
    requests: &mut u64,
) -> Result<Value, RestError> {
    Ok(get_answer(http, url, query, retry, requests).await?.body)
}

/// [`get`] with the answer's headers (for paging by `Link`).
pub async fn get_answer(
    http: &Http,
    url: Url,
    query: &[(&str, &str)],
    retry: Retry,
    requests: &mut u64,
) -> Result<Answer, RestError> {
    retrying(retry, requests, || http.send(Method::GET, url.clone(), query, None)).await
}

/// Runs `attempt` until it succeeds, fails for good, or the attempts are spent; counts every try
/// in `requests`.
pub async fn retrying<T, F, Fut>(retry: Retry, requests: &mut u64, mut attempt_once: F) -> Result<T, RestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RestError>>,
{
    let mut wait = retry.first_wait;
    let mut attempt = 1;
    loop {
        *requests += 1;
        match attempt_once().await {
            Ok(a) => return Ok(a),
            Err(e) if e.is_retryable() && attempt < retry.attempts => {
                let asked = e.retry_after().unwrap_or(wait);
                tokio::time::sleep(asked.max(wait).min(retry.longest_wait)).await;
                wait = (wait * 2).min(retry.longest_wait);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

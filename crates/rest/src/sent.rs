//! A count of the requests a piece of work sends, readable while it goes: a run's progress shows
//! it. The work runs inside [`counting`]; every request sent within it (in the same task) adds to
//! the counter.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static SENT: Arc<AtomicU64>;
}

/// Runs `work`, counting into `counter` the requests it sends.
pub async fn counting<F: Future>(counter: Arc<AtomicU64>, work: F) -> F::Output {
    SENT.scope(counter, work).await
}

/// Adds `n` sent requests to the count of the work this runs in, if it is counted.
pub fn sent(n: u64) {
    let _ = SENT.try_with(|counter| counter.fetch_add(n, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_count_inside_and_not_outside() {
        let counter = Arc::new(AtomicU64::new(0));
        counting(counter.clone(), async {
            sent(1);
            sent(2);
        })
        .await;
        sent(5);
        assert_eq!(counter.load(Ordering::Relaxed), 3);
    }
}

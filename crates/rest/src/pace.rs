//! The one client-side rate limiter: a token bucket that keeps a client under the request rate a
//! provider allows (Google's queries per minute, OneLogin's calls per hour), so a large read
//! spends its quota evenly instead of running into throttling.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

#[derive(Debug)]
pub struct Pace {
    per_second: f64,
    /// Tokens in the bucket and when it was last filled.
    state: Mutex<(f64, Instant)>,
}

impl Pace {
    /// At most `per_second` requests a second on average, with bursts of up to one second's worth.
    pub fn new(per_second: f64) -> Self {
        let per_second = per_second.max(0.001);
        Pace { per_second, state: Mutex::new((per_second.max(1.0), Instant::now())) }
    }

    /// Waits until one more request may go.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(state.1).as_secs_f64() * self.per_second;
                state.0 = (state.0 + refill).min(self.per_second.max(1.0));
                state.1 = now;
                if state.0 >= 1.0 {
                    state.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - state.0) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_spread_at_the_rate() {
        let pace = Pace::new(20.0);
        let started = Instant::now();
        for _ in 0..30 {
            pace.acquire().await;
        }
        // 20 in the first burst, then 10 more at 20 a second.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(450) && took < Duration::from_millis(1500), "{took:?}");
    }
}

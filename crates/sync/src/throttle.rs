//! One target's request gate, shared by everything in the process that calls it (the outbox
//! worker, full reconciles, reconciles after a binding change, approvals). A 429 limits the
//! account, not one caller: once any call is told to wait, every later call to that target waits
//! until the time is up, instead of each caller learning the limit anew with requests of its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::target::{Capabilities, Lead, Operation, TargetUser};
use targets::{Check, Kind, TargetClient, TargetError};

pub(super) struct Gated {
    inner: Arc<dyn TargetClient>,
    open_at: Mutex<Option<Instant>>,
}

impl Gated {
    pub(super) fn new(inner: Arc<dyn TargetClient>) -> Self {
        Gated { inner, open_at: Mutex::new(None) }
    }

    async fn call<T>(&self, call: impl Future<Output = Result<T, TargetError>>) -> Result<T, TargetError> {
        let open_at = *self.open_at.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = open_at {
            tokio::time::sleep_until(at.into()).await;
        }
        let result = call.await;
        if let Err(TargetError::Throttled { retry_after, .. }) = &result {
            let until = Instant::now() + retry_after.unwrap_or(Duration::from_secs(1));
            let mut open_at = self.open_at.lock().unwrap_or_else(|e| e.into_inner());
            *open_at = Some(open_at.map_or(until, |at| at.max(until)));
        }
        result
    }
}

#[async_trait::async_trait]
impl TargetClient for Gated {
    fn kind(&self) -> Kind {
        self.inner.kind()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn check(&self) -> Vec<Check> {
        self.inner.check().await
    }

    async fn user(&self, name: &str, properties: &[String]) -> Result<Option<TargetUser>, TargetError> {
        self.call(self.inner.user(name, properties)).await
    }

    async fn groups(&self) -> Result<Vec<String>, TargetError> {
        self.call(self.inner.groups()).await
    }

    async fn leads(&self) -> Result<Vec<Lead>, TargetError> {
        self.call(self.inner.leads()).await
    }

    async fn apply(&self, op: &Operation) -> Result<(), TargetError> {
        self.call(self.inner.apply(op)).await
    }

    async fn delete_group(&self, group: &str) -> Result<(), TargetError> {
        self.call(self.inner.delete_group(group)).await
    }
}

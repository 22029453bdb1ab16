//! Targets' credentials at rest and the clients made from them: credentials are sealed bound to
//! their target's name, and opened only to connect.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use store::TargetRecord;
use targets::{Credentials, Kind, TargetClient, TargetConfig};

use crate::Error;
use crate::secrets::SecretBox;

fn bound_to(name: &str) -> String {
    format!("target:{name}")
}

/// Makes clients from stored targets, decrypting their credentials.
pub struct SealedConnector {
    pub secrets: SecretBox,
    pub timeout: Duration,
}

impl SealedConnector {
    /// With the data directory's secret key (or the one from the environment).
    pub fn open(data_dir: &Path, timeout: Duration) -> Result<Self, Error> {
        targets::install_crypto();
        Ok(SealedConnector { secrets: SecretBox::open(data_dir)?, timeout })
    }

    /// `credentials` sealed for the target `name`.
    pub fn seal(&self, name: &str, credentials: &Credentials) -> Result<Vec<u8>, Error> {
        let plain = serde_json::to_vec(credentials).map_err(|e| Error::Secret(format!("credentials: {e}")))?;
        self.secrets.seal(&plain, &bound_to(name))
    }

    /// A stored target's credentials.
    pub fn unseal(&self, record: &TargetRecord) -> Result<Credentials, Error> {
        let plain = self.secrets.open_sealed(&record.secret, &bound_to(&record.name))?;
        serde_json::from_slice(&plain).map_err(|_| {
            Error::Secret(format!("the stored credentials of target {} are not readable; set them again", record.name))
        })
    }

    pub fn client(&self, record: &TargetRecord) -> Result<Box<dyn TargetClient>, Error> {
        let kind = Kind::parse(&record.kind)
            .ok_or_else(|| Error::Invalid(format!("target {} has unknown kind {}", record.name, record.kind)))?;
        let config = TargetConfig {
            name: record.name.clone(),
            kind,
            url: record.url.clone(),
            credentials: self.unseal(record)?,
            timeout: self.timeout,
        };
        targets::connect(&config).map_err(|e| Error::Invalid(format!("target {}: {e}", record.name)))
    }
}

impl sync::Connector for SealedConnector {
    fn connect(&self, record: &TargetRecord) -> Result<Arc<dyn TargetClient>, String> {
        self.client(record).map(Arc::from).map_err(|e| e.to_string())
    }
}

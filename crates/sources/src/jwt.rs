//! Signed JWT assertions (RS256, with ring, which rustls already brings): the service-account
//! grant of RFC 7523 that Google uses for domain-wide delegation.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rest::RestError;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

/// A service account's key as Google's JSON key file holds it.
pub struct ServiceAccount {
    pub client_email: String,
    pub token_uri: String,
    key_id: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccount({}, …)", self.client_email)
    }
}

fn not_a_key(why: &str) -> RestError {
    RestError::Config(format!(
        "the key file is not a service-account key ({why}): in the Google Cloud console open the service account, Keys, Add key, JSON, and give that file to --key-file"
    ))
}

impl ServiceAccount {
    pub fn from_json(text: &str) -> Result<Self, RestError> {
        let file: Value = serde_json::from_str(text).map_err(|_| not_a_key("not JSON"))?;
        let field =
            |name: &str| file[name].as_str().map(str::to_string).ok_or_else(|| not_a_key(&format!("no {name}")));
        let pem = field("private_key")?;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).map_err(|_| not_a_key("private_key is not PEM"))?;
        let key =
            RsaKeyPair::from_pkcs8(&der).map_err(|e| not_a_key(&format!("private_key is not an RSA key: {e}")))?;
        Ok(ServiceAccount {
            client_email: field("client_email")?,
            token_uri: file["token_uri"].as_str().unwrap_or("https://oauth2.googleapis.com/token").to_string(),
            key_id: file["private_key_id"].as_str().unwrap_or_default().to_string(),
            key,
        })
    }

    /// A signed assertion asking for `scope` on behalf of `subject`, valid for an hour.
    pub fn assertion(&self, subject: &str, scope: &str) -> Result<String, RestError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = json!({
            "iss": self.client_email, "sub": subject, "scope": scope, "aud": self.token_uri,
            "iat": now, "exp": now + 3600,
        });
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signed = format!("{}.{}", encode(&header), encode(&claims));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature)
            .map_err(|_| RestError::Config("signing the token request failed".into()))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

//! Signed JWT assertions (RS256, with ring, which rustls already brings): the service-account
//! grant of RFC 7523 that Google uses for domain-wide delegation, and the `private_key_jwt`
//! client authentication of OAuth service apps (Okta).

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

/// An RSA private key from PEM (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
fn rsa_key(pem: &str) -> Result<RsaKeyPair, String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body.trim()).map_err(|_| "not PEM".to_string())?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("not an RSA key in PKCS#8 form: {e}"))
}

/// Claims and header, signed with RS256.
fn sign(key: &RsaKeyPair, key_id: &str, claims: &Value) -> Result<String, RestError> {
    let header = if key_id.is_empty() {
        json!({"alg": "RS256", "typ": "JWT"})
    } else {
        json!({"alg": "RS256", "typ": "JWT", "kid": key_id})
    };
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signed = format!("{}.{}", encode(&header), encode(claims));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature)
        .map_err(|_| RestError::Config("signing the token request failed".into()))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// An OAuth client that authenticates with a signed assertion (`private_key_jwt`).
pub struct ClientKey {
    pub client_id: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKey({}, …)", self.client_id)
    }
}

impl ClientKey {
    pub fn from_pem(client_id: &str, pem: &str) -> Result<Self, RestError> {
        let key = rsa_key(pem).map_err(|why| {
            RestError::Config(format!(
                "the key file is not the service app's private key ({why}): give the PEM private key (PKCS#8) whose public key the app holds"
            ))
        })?;
        Ok(ClientKey { client_id: client_id.to_string(), key })
    }

    /// A one-time assertion for the token endpoint `audience` (RFC 7523 §2.2), valid five minutes.
    pub fn assertion(&self, audience: &str) -> Result<String, RestError> {
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| RestError::Config("no randomness for the assertion".into()))?;
        let jti: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let now = now();
        let claims = json!({"iss": self.client_id, "sub": self.client_id, "aud": audience, "iat": now, "exp": now + 300, "jti": jti});
        sign(&self.key, "", &claims)
    }
}

impl ServiceAccount {
    pub fn from_json(text: &str) -> Result<Self, RestError> {
        let file: Value = serde_json::from_str(text).map_err(|_| not_a_key("not JSON"))?;
        let field =
            |name: &str| file[name].as_str().map(str::to_string).ok_or_else(|| not_a_key(&format!("no {name}")));
        let key = rsa_key(&field("private_key")?).map_err(|why| not_a_key(&format!("private_key is {why}")))?;
        Ok(ServiceAccount {
            client_email: field("client_email")?,
            token_uri: file["token_uri"].as_str().unwrap_or("https://oauth2.googleapis.com/token").to_string(),
            key_id: file["private_key_id"].as_str().unwrap_or_default().to_string(),
            key,
        })
    }

    /// A signed assertion asking for `scope` on behalf of `subject`, valid for an hour.
    pub fn assertion(&self, subject: &str, scope: &str) -> Result<String, RestError> {
        let now = now();
        let claims = json!({
            "iss": self.client_email, "sub": subject, "scope": scope, "aud": self.token_uri,
            "iat": now, "exp": now + 3600,
        });
        sign(&self.key, &self.key_id, &claims)
    }
}

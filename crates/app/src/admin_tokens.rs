//! Tokens of the admin API: named, scoped, optionally expiring, revocable. A token is
//! `idsync_admin_<id>_<secret>`: the id finds its row, and the hash of the whole token is compared
//! in constant time, so neither a lookup nor a comparison tells a guesser how close it came.

use api_types::{AdminToken, IssuedAdminToken, NewAdminToken, Scope};
use jiff::Timestamp;
use store::{AdminTokenRecord, AdminTokenStore};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::tokens::hex;

const PREFIX: &str = "idsync_admin_";
/// `last_used` is written at most this often per token, so reading the API costs no write per request.
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// Who called, once their token was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token: String,
    pub scope: Scope,
}

impl Caller {
    /// Refuses what the caller's scope does not cover, naming the scope it takes.
    pub fn require(&self, needed: Scope) -> Result<(), Error> {
        if self.scope.allows(needed) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "the admin token '{}' has scope '{}', and this takes '{needed}'; use a token with that scope",
            self.token, self.scope
        )))
    }
}

fn hash(token: &str) -> [u8; 32] {
    scim::hash_token(token)
}

fn view(record: AdminTokenRecord) -> Result<AdminToken, Error> {
    let scope = record.scope.parse().map_err(|e| {
        Error::Store(store::StoreError::Database(format!(
            "admin token '{}' has a scope idsync does not know: {e}",
            record.name
        )))
    })?;
    Ok(AdminToken {
        name: record.name,
        scope,
        created: record.created.to_string(),
        expires: record.expires.map(|t| t.to_string()),
        last_used: record.last_used.map(|t| t.to_string()),
    })
}

fn valid_name(name: &str) -> Result<(), Error> {
    let fits = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if fits {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "'{name}' cannot name an admin token: use 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// `1s` to `99999d`: a number without leading zeros and a unit, so the API's schema can say
/// exactly what is accepted.
fn expiry_seconds(text: &str) -> Result<u64, Error> {
    let (number, unit) = text.split_at(text.char_indices().last().map_or(0, |(at, _)| at));
    let plain = (1..=5).contains(&number.len())
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "s" | "m" | "h" | "d");
    if !plain {
        return Err(Error::Invalid(format!(
            "'{text}' is not an expiry: write 1 to 99999 with a unit, such as 90s, 15m, 12h or 30d, or leave it out for none"
        )));
    }
    crate::duration::parse_seconds(text)
}

/// Creates a token; its secret is in the answer and nowhere else.
pub async fn create(
    db: &dyn AdminTokenStore,
    request: &NewAdminToken,
    now: Timestamp,
) -> Result<IssuedAdminToken, Error> {
    valid_name(&request.name)?;
    let expires = match &request.expires_in {
        Some(text) => {
            let seconds = expiry_seconds(text)?;
            let span = jiff::SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX));
            let at = now
                .checked_add(span)
                .map_err(|_| Error::Invalid(format!("'{text}' reaches past the end of time; pick a shorter expiry")))?;
            Some(store::Time::from(at))
        }
        None => None,
    };
    let id = hex(&rand::random::<[u8; 8]>());
    let secret = format!("{PREFIX}{id}_{}", hex(&rand::random::<[u8; 32]>()));
    let record = AdminTokenRecord {
        id,
        name: request.name.clone(),
        scope: request.scope.as_str().to_string(),
        hash: hash(&secret),
        created: now.into(),
        expires,
        last_used: None,
    };
    db.create_admin_token(&record).await?;
    Ok(IssuedAdminToken { token: view(record)?, secret })
}

pub async fn list(db: &dyn AdminTokenStore) -> Result<Vec<AdminToken>, Error> {
    db.admin_tokens().await?.into_iter().map(view).collect()
}

pub async fn revoke(db: &dyn AdminTokenStore, name: &str) -> Result<(), Error> {
    if db.revoke_admin_token(name).await? {
        Ok(())
    } else {
        Err(Error::Missing { message: format!("there is no admin token named '{name}'"), hint: None })
    }
}

/// Accepts a token that exists, matches and has not expired. Every refusal reads the same, so a
/// caller learns nothing about which tokens exist.
pub async fn authenticate(db: &dyn AdminTokenStore, presented: &str, now: Timestamp) -> Result<Caller, Error> {
    let refused = || {
        Error::Unauthenticated(
            "missing, unknown, revoked or expired admin token; send 'Authorization: Bearer <token>' with an admin token"
                .into(),
        )
    };
    let id =
        presented.strip_prefix(PREFIX).and_then(|rest| rest.split_once('_')).map(|(id, _)| id).ok_or_else(refused)?;
    let record = db.admin_token(id).await?.ok_or_else(refused)?;
    if !bool::from(record.hash.ct_eq(&hash(presented))) {
        return Err(refused());
    }
    if record.expires.is_some_and(|expires| expires.timestamp() <= now) {
        return Err(refused());
    }
    let stale = record
        .last_used
        .is_none_or(|used| now.as_second() - used.timestamp().as_second() >= LAST_USED_RESOLUTION_SECONDS);
    if stale {
        db.admin_token_used(&record.id, now.into()).await?;
    }
    let token = view(record)?;
    Ok(Caller { token: token.name, scope: token.scope })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, scope: Scope, expires_in: Option<&str>) -> NewAdminToken {
        NewAdminToken { name: name.into(), scope, expires_in: expires_in.map(Into::into) }
    }

    #[tokio::test]
    async fn a_token_opens_until_it_expires_or_is_revoked() {
        let (_dir, db) = crate::scratch_store().await;
        let now = Timestamp::now();
        let issued = create(&db, &request("ci", Scope::Operate, Some("1h")), now).await.unwrap();
        assert!(issued.secret.starts_with(PREFIX));
        let caller = authenticate(&db, &issued.secret, now).await.unwrap();
        assert_eq!(caller, Caller { token: "ci".into(), scope: Scope::Operate });
        assert!(caller.require(Scope::Read).is_ok());
        assert_eq!(caller.require(Scope::Admin).unwrap_err().code(), "forbidden");
        assert!(list(&db).await.unwrap()[0].last_used.is_some(), "use is recorded");

        let later = now.checked_add(jiff::SignedDuration::from_secs(3601)).unwrap();
        assert_eq!(authenticate(&db, &issued.secret, later).await.unwrap_err().code(), "unauthenticated");

        let mut wrong = issued.secret.clone();
        wrong.pop();
        wrong.push('x');
        for bad in [wrong.as_str(), "", "idsync_0123", "idsync_admin_nope_x"] {
            assert_eq!(authenticate(&db, bad, now).await.unwrap_err().code(), "unauthenticated", "{bad}");
        }

        revoke(&db, "ci").await.unwrap();
        assert_eq!(authenticate(&db, &issued.secret, now).await.unwrap_err().code(), "unauthenticated");
        assert_eq!(revoke(&db, "ci").await.unwrap_err().code(), "not_found");
    }

    #[tokio::test]
    async fn names_are_unique_and_plain_and_secrets_are_not_stored() {
        let (_dir, db) = crate::scratch_store().await;
        let now = Timestamp::now();
        let issued = create(&db, &request("ops", Scope::Admin, None), now).await.unwrap();
        assert_eq!(create(&db, &request("ops", Scope::Read, None), now).await.unwrap_err().code(), "conflict");
        for bad in ["", "has space", &"x".repeat(65)] {
            assert_eq!(create(&db, &request(bad, Scope::Read, None), now).await.unwrap_err().code(), "invalid");
        }
        for bad in ["0s", "1", "01h", " 1h", "100000d", "1w", "\u{80}", "1é", ""] {
            assert_eq!(
                create(&db, &request("e", Scope::Read, Some(bad)), now).await.unwrap_err().code(),
                "invalid",
                "{bad}"
            );
        }
        assert!(create(&db, &request("longest", Scope::Read, Some("99999d")), now).await.is_ok());
        let stored = db.admin_tokens().await.unwrap();
        assert_eq!(stored.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["longest", "ops"]);
        assert!(!format!("{stored:?}").contains(&issued.secret[PREFIX.len() + 17..]));
    }
}

//! Administrators of the web console: argon2id passwords, login with a limit on failed attempts
//! per account and per address, and sessions kept in the database (so every replica knows them),
//! named there by the SHA-256 of their secret and ended when idle, at their absolute expiry, at
//! logout, or when the password changes.

use api_types::Administrator;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use store::{AdministratorRecord, ConsoleStore, SessionRecord};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::tokens::hex;

/// How long sessions last: the `[console]` table of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// A session ends after this many seconds without a request …
    pub idle_seconds: u32,
    /// … and this many after its sign-in in any case.
    pub absolute_seconds: u32,
    /// Dangerous actions ask for the password again when it was given longer ago than this.
    pub reauthenticate_after_seconds: u32,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle_seconds: 30 * 60, absolute_seconds: 12 * 3600, reauthenticate_after_seconds: 5 * 60 }
    }
}

impl SessionPolicy {
    fn idle(&self) -> SignedDuration {
        SignedDuration::from_secs(i64::from(self.idle_seconds))
    }

    fn absolute(&self) -> SignedDuration {
        SignedDuration::from_secs(i64::from(self.absolute_seconds))
    }

    fn reauthenticate_after(&self) -> SignedDuration {
        SignedDuration::from_secs(i64::from(self.reauthenticate_after_seconds))
    }
}
/// `last_seen` is written at most this often, so reading pages costs no write per request.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);

const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 1024;

/// OWASP's first choice for argon2id: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn argon2(memory_kib: u32, passes: u32, lanes: u32) -> Result<argon2::Argon2<'static>, Error> {
    let params = argon2::Params::new(memory_kib, passes, lanes, Some(32))
        .map_err(|e| Error::Invalid(format!("unusable password hash settings: {e}")))?;
    Ok(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
}

/// `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt hex>$<hash hex>`: the settings travel with
/// the hash, so a later change of them leaves existing passwords working.
fn hash_password(password: &str) -> Result<String, Error> {
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; 32];
    argon2(MEMORY_KIB, PASSES, LANES)?
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .map_err(|e| Error::Invalid(format!("the password cannot be hashed: {e}")))?;
    Ok(format!("$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}", hex(&salt), hex(&out)))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (text.len().is_multiple_of(2))
        .then(|| (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

fn verify_password(stored: &str, password: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let ["", "argon2id", "v=19", settings, salt, hash] = parts.as_slice() else { return false };
    let mut m = None;
    let mut t = None;
    let mut p = None;
    for setting in settings.split(',') {
        match setting.split_once('=') {
            Some(("m", v)) => m = v.parse().ok(),
            Some(("t", v)) => t = v.parse().ok(),
            Some(("p", v)) => p = v.parse().ok(),
            _ => return false,
        }
    }
    let (Some(m), Some(t), Some(p), Some(salt), Some(expected)) = (m, t, p, unhex(salt), unhex(hash)) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let Ok(hasher) = argon2(m, t, p) else { return false };
    hasher.hash_password_into(password.as_bytes(), &salt, &mut out).is_ok() && bool::from(out.ct_eq(&expected))
}

fn valid_name(name: &str) -> Result<(), Error> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if name.is_empty() || name.len() > 64 || !plain {
        return Err(Error::Invalid(format!(
            "'{name}' is not an administrator name: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )));
    }
    Ok(())
}

fn valid_password(name: &str, password: &str) -> Result<(), Error> {
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err(Error::Invalid(format!(
            "a password needs {MIN_PASSWORD} characters or more; this one has {length}"
        )));
    }
    if password.len() > MAX_PASSWORD {
        return Err(Error::Invalid(format!("a password may have at most {MAX_PASSWORD} bytes")));
    }
    if password.to_lowercase().contains(&name.to_lowercase()) {
        return Err(Error::Invalid("a password may not contain the administrator's name".into()));
    }
    Ok(())
}

fn view(record: AdministratorRecord) -> Administrator {
    Administrator {
        name: record.name,
        created: record.created.to_string(),
        password_changed: record.password_changed.to_string(),
        last_login: record.last_login.map(|t| t.to_string()),
    }
}

fn missing(name: &str) -> Error {
    Error::Missing { message: format!("there is no administrator named '{name}'"), hint: None }
}

pub async fn create(db: &dyn ConsoleStore, name: &str, password: &str, now: Timestamp) -> Result<Administrator, Error> {
    valid_name(name)?;
    valid_password(name, password)?;
    let record = AdministratorRecord {
        name: name.to_string(),
        password_hash: hash_password(password)?,
        created: now.into(),
        password_changed: now.into(),
        last_login: None,
    };
    db.create_administrator(&record).await?;
    Ok(view(record))
}

pub async fn list(db: &dyn ConsoleStore) -> Result<Vec<Administrator>, Error> {
    Ok(db.administrators().await?.into_iter().map(view).collect())
}

/// A new password; every session of the administrator ends with the old one.
pub async fn set_password(db: &dyn ConsoleStore, name: &str, password: &str, now: Timestamp) -> Result<(), Error> {
    let record = db.administrator(name).await?.ok_or_else(|| missing(name))?;
    valid_password(&record.name, password)?;
    db.set_administrator_password(&record.name, &hash_password(password)?, now.into()).await?;
    Ok(())
}

/// Removes an administrator and ends their sessions; the last one stays, so that the console
/// keeps someone who can sign in.
pub async fn remove(db: &dyn ConsoleStore, name: &str) -> Result<(), Error> {
    let all = db.administrators().await?;
    if !all.iter().any(|a| a.name.eq_ignore_ascii_case(name)) {
        return Err(missing(name));
    }
    if all.len() == 1 {
        return Err(Error::Invalid(format!(
            "'{name}' is the only administrator: create another first, so that someone can still sign in to the console"
        )));
    }
    db.remove_administrator(name).await?;
    Ok(())
}

/// Failed logins, per account and per address, counted in the database so that every replica
/// sees the same: after [`Throttle::ALLOWED`] failures the next attempt waits a minute, doubling
/// with each further failure up to 15 minutes; failures older than 15 minutes are forgotten, and a
/// login that succeeds forgets the account's.
pub struct Throttle;

impl Throttle {
    pub const ALLOWED: u32 = 5;
    const FORGET_AFTER: SignedDuration = SignedDuration::from_mins(15);

    fn keys(name: &str, address: &str) -> [String; 2] {
        [format!("account:{}", name.to_lowercase()), format!("address:{address}")]
    }

    /// Refuses while a key of this attempt is locked out, saying for how long.
    async fn check(db: &dyn ConsoleStore, name: &str, address: &str, now: Timestamp) -> Result<(), Error> {
        for (key, count, last) in db.sign_in_failures(&Self::keys(name, address)).await? {
            let last = last.timestamp();
            if count < Self::ALLOWED || now.duration_since(last) >= Self::FORGET_AFTER {
                continue;
            }
            let lockout =
                SignedDuration::from_secs(60 * 2_i64.pow((count - Self::ALLOWED).min(4))).min(Self::FORGET_AFTER);
            let wait = lockout - now.duration_since(last);
            if wait.is_positive() {
                let whose = if key.starts_with("account:") { "for this account" } else { "from this address" };
                return Err(Error::Throttled(format!(
                    "too many failed sign-ins {whose}; try again in {} seconds",
                    wait.as_secs().max(1)
                )));
            }
        }
        Ok(())
    }

    async fn failed(db: &dyn ConsoleStore, name: &str, address: &str, now: Timestamp) -> Result<(), Error> {
        let fresh_after = now - Self::FORGET_AFTER;
        Ok(db.record_sign_in_failure(&Self::keys(name, address), now.into(), fresh_after.into()).await?)
    }

    async fn succeeded(db: &dyn ConsoleStore, name: &str) -> Result<(), Error> {
        let [account, _] = Self::keys(name, "");
        Ok(db.clear_sign_in_failures(&account).await?)
    }
}

/// A session just opened: its secret goes into the cookie and nowhere else.
pub struct Opened {
    pub secret: String,
    pub administrator: String,
    pub expires: Timestamp,
}

/// Who a session's request comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    pub administrator: String,
    pub id_hash: [u8; 32],
    /// Whether the password was given recently enough for a dangerous action.
    pub recently_authenticated: bool,
}

fn session_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

const REFUSED: &str = "the name or the password is wrong";

/// Checks the password and the throttle; the same words for an unknown name and a wrong
/// password, and the same work (a hash is computed either way).
async fn checked(
    db: &dyn ConsoleStore,
    name: &str,
    password: &str,
    address: &str,
    now: Timestamp,
) -> Result<AdministratorRecord, Error> {
    Throttle::check(db, name, address, now).await?;
    let record = db.administrator(name).await?;
    let matches = match &record {
        Some(r) => verify_password(&r.password_hash, password),
        None => {
            let _ = hash_password(password);
            false
        }
    };
    match record {
        Some(r) if matches => {
            Throttle::succeeded(db, name).await?;
            Ok(r)
        }
        _ => {
            Throttle::failed(db, name, address, now).await?;
            Err(Error::Unauthenticated(REFUSED.into()))
        }
    }
}

/// Signs an administrator in from `address`: a new session (so a session id is never reused
/// across a login), refused as [`Error::Unauthenticated`] or, after too many failures,
/// [`Error::Throttled`].
pub async fn login(
    db: &dyn ConsoleStore,
    policy: &SessionPolicy,
    name: &str,
    password: &str,
    address: &str,
    now: Timestamp,
) -> Result<Opened, Error> {
    let record = checked(db, name, password, address, now).await?;
    let secret = hex(&rand::random::<[u8; 32]>());
    let expires =
        now.checked_add(policy.absolute()).map_err(|e| Error::Invalid(format!("the session's expiry: {e}")))?;
    db.create_session(&SessionRecord {
        id_hash: session_hash(&secret),
        administrator: record.name.clone(),
        created: now.into(),
        last_seen: now.into(),
        expires: expires.into(),
        reauthenticated: now.into(),
        address: address.to_string(),
    })
    .await?;
    db.record_login(&record.name, now.into()).await?;
    Ok(Opened { secret, administrator: record.name, expires })
}

/// The session `secret` names, while it lasts.
pub async fn session(
    db: &dyn ConsoleStore,
    policy: &SessionPolicy,
    secret: &str,
    now: Timestamp,
) -> Result<Signed, Error> {
    let ended = || Error::Unauthenticated("the session has ended; sign in again".into());
    let id_hash = session_hash(secret);
    let session = db.session(&id_hash).await?.ok_or_else(ended)?;
    let idle = now.duration_since(session.last_seen.timestamp());
    if now >= session.expires.timestamp() || idle >= policy.idle() {
        db.end_session(&id_hash).await?;
        return Err(ended());
    }
    if idle >= TOUCH_EVERY {
        db.touch_session(&id_hash, now.into(), false).await?;
    }
    Ok(Signed {
        administrator: session.administrator,
        id_hash,
        recently_authenticated: now.duration_since(session.reauthenticated.timestamp()) < policy.reauthenticate_after(),
    })
}

/// The password given again, for a dangerous action.
pub async fn reauthenticate(
    db: &dyn ConsoleStore,
    signed: &Signed,
    password: &str,
    address: &str,
    now: Timestamp,
) -> Result<(), Error> {
    checked(db, &signed.administrator, password, address, now).await?;
    db.touch_session(&signed.id_hash, now.into(), true).await?;
    Ok(())
}

/// Refuses a dangerous action unless the password was given in the last few minutes.
pub fn require_recent(signed: &Signed) -> Result<(), Error> {
    if signed.recently_authenticated {
        Ok(())
    } else {
        Err(Error::Forbidden("this asks for your password again before it goes ahead".into()))
    }
}

pub async fn logout(db: &dyn ConsoleStore, secret: &str) -> Result<(), Error> {
    db.end_session(&session_hash(secret)).await?;
    Ok(())
}

/// Forgets sessions that have ended by time.
pub async fn prune(db: &dyn ConsoleStore, policy: &SessionPolicy, now: Timestamp) -> Result<u64, Error> {
    let idle_since = now.checked_sub(policy.idle()).unwrap_or(now);
    Ok(db.prune_sessions(now.into(), idle_since.into()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, store::sqlite::SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = store::sqlite::SqliteStore::open(&dir.path().join("idsync.db"), store::sqlite::Durability::Process)
            .await
            .unwrap();
        (dir, db)
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    const PASSWORD: &str = "correct horse battery";

    #[tokio::test]
    async fn a_password_opens_a_session_that_ends_idle_expired_or_logged_out() {
        let (_d, db) = open().await;
        create(&db, "ann", PASSWORD, at(0)).await.unwrap();
        let stored = db.administrator("ANN").await.unwrap().unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!stored.password_hash.contains(PASSWORD));

        let opened = login(&db, &SessionPolicy::default(), "Ann", PASSWORD, "10.0.0.1", at(0)).await.unwrap();
        assert_eq!(opened.administrator, "ann");
        let signed = session(&db, &SessionPolicy::default(), &opened.secret, at(60)).await.unwrap();
        assert!(signed.recently_authenticated);
        assert!(
            !session(&db, &SessionPolicy::default(), &opened.secret, at(600)).await.unwrap().recently_authenticated,
            "after 5 minutes"
        );
        assert!(matches!(
            require_recent(&session(&db, &SessionPolicy::default(), &opened.secret, at(601)).await.unwrap()),
            Err(Error::Forbidden(_))
        ));
        reauthenticate(&db, &signed, PASSWORD, "10.0.0.1", at(602)).await.unwrap();
        assert!(session(&db, &SessionPolicy::default(), &opened.secret, at(603)).await.unwrap().recently_authenticated);
        // Requests keep it alive; 30 minutes without one end it.
        session(&db, &SessionPolicy::default(), &opened.secret, at(1800)).await.unwrap();
        assert!(session(&db, &SessionPolicy::default(), &opened.secret, at(1800 + 1800)).await.is_err(), "idle");
        let again = login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.0.1", at(4000)).await.unwrap();
        assert_ne!(again.secret, opened.secret, "each login gets a session of its own");
        let mut t = 4000;
        while t < 4000 + 12 * 3600 - 1200 {
            t += 1200;
            session(&db, &SessionPolicy::default(), &again.secret, at(t)).await.unwrap();
        }
        assert!(
            session(&db, &SessionPolicy::default(), &again.secret, at(4000 + 12 * 3600)).await.is_err(),
            "12 hours at most"
        );
        let third = login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.0.1", at(90_000)).await.unwrap();
        logout(&db, &third.secret).await.unwrap();
        assert!(session(&db, &SessionPolicy::default(), &third.secret, at(90_001)).await.is_err(), "logged out");
        let fourth = login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.0.1", at(90_002)).await.unwrap();
        set_password(&db, "ann", "another long password", at(90_003)).await.unwrap();
        assert!(
            session(&db, &SessionPolicy::default(), &fourth.secret, at(90_004)).await.is_err(),
            "a new password ends the sessions"
        );
        assert!(login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.0.1", at(90_005)).await.is_err());
        login(&db, &SessionPolicy::default(), "ann", "another long password", "10.0.0.1", at(90_006)).await.unwrap();
    }

    #[tokio::test]
    async fn failed_logins_are_throttled_per_account_and_per_address() {
        let (_d, db) = open().await;
        create(&db, "ann", PASSWORD, at(0)).await.unwrap();
        create(&db, "bob", PASSWORD, at(0)).await.unwrap();
        let unknown = login(&db, &SessionPolicy::default(), "nobody", PASSWORD, "10.0.0.9", at(0)).await.err().unwrap();
        let wrong =
            login(&db, &SessionPolicy::default(), "bob", "not the password", "10.0.0.9", at(0)).await.err().unwrap();
        assert_eq!(unknown.to_string(), wrong.to_string(), "no telling which names exist");
        for i in 0..Throttle::ALLOWED {
            let e = login(&db, &SessionPolicy::default(), "ann", "wrong guess!", &format!("10.0.1.{i}"), at(1))
                .await
                .err()
                .unwrap();
            assert!(matches!(e, Error::Unauthenticated(_)), "{e}");
        }
        let locked = login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.2.1", at(2)).await.err().unwrap();
        assert!(matches!(locked, Error::Throttled(_)), "the right password waits too: {locked}");
        assert!(locked.to_string().contains("for this account"), "{locked}");
        login(&db, &SessionPolicy::default(), "bob", PASSWORD, "10.0.2.1", at(2)).await.unwrap();
        login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.2.1", at(62)).await.unwrap();
        for name in ["x1", "x2", "x3", "x4", "x5"] {
            let _ = login(&db, &SessionPolicy::default(), name, "wrong guess!", "10.0.3.3", at(100)).await;
        }
        let from_address =
            login(&db, &SessionPolicy::default(), "bob", PASSWORD, "10.0.3.3", at(101)).await.err().unwrap();
        assert!(from_address.to_string().contains("from this address"), "{from_address}");
    }

    #[tokio::test]
    async fn every_process_on_the_database_counts_the_same_failures() {
        let (dir, db) = open().await;
        create(&db, "ann", PASSWORD, at(0)).await.unwrap();
        // A second server on the same database, as a replica is.
        let other = store::sqlite::SqliteStore::open(&dir.path().join("idsync.db"), store::sqlite::Durability::Process)
            .await
            .unwrap();
        for i in 0..Throttle::ALLOWED {
            let _ = login(&db, &SessionPolicy::default(), "ann", "wrong guess!", &format!("10.0.1.{i}"), at(1)).await;
        }
        let elsewhere =
            login(&other, &SessionPolicy::default(), "ann", PASSWORD, "10.0.9.9", at(2)).await.err().unwrap();
        assert!(matches!(elsewhere, Error::Throttled(_)), "the other server refuses too: {elsewhere}");
        // Fifteen quiet minutes forget them, on both.
        login(&other, &SessionPolicy::default(), "ann", PASSWORD, "10.0.9.9", at(2 + 15 * 60)).await.unwrap();
        let _ = login(&db, &SessionPolicy::default(), "ann", "wrong guess!", "10.0.1.1", at(2000)).await;
        login(&db, &SessionPolicy::default(), "ann", PASSWORD, "10.0.1.1", at(2001)).await.unwrap();
    }

    #[tokio::test]
    async fn names_passwords_and_the_last_administrator_are_guarded() {
        let (_d, db) = open().await;
        assert!(create(&db, "has space", PASSWORD, at(0)).await.is_err());
        assert!(create(&db, "ann", "short", at(0)).await.err().unwrap().to_string().contains("12 characters"));
        assert!(create(&db, "ann", "my name is ann!!", at(0)).await.is_err());
        create(&db, "ann", PASSWORD, at(0)).await.unwrap();
        assert!(matches!(create(&db, "ANN", PASSWORD, at(0)).await, Err(Error::Store(store::StoreError::Conflict(_)))));
        assert!(remove(&db, "ann").await.err().unwrap().to_string().contains("only administrator"));
        create(&db, "bob", PASSWORD, at(0)).await.unwrap();
        remove(&db, "ann").await.unwrap();
        assert_eq!(list(&db).await.unwrap().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["bob"]);
        assert!(matches!(remove(&db, "ann").await, Err(Error::Missing { .. })));
    }
}

//! Backup and restore of what an administrator configured: sources with their settings and
//! schedules, targets, bindings and their rules, admin token names. One versioned JSON document,
//! keyed by name, in a canonical order so two backups diff cleanly, with a checksum that finds
//! a truncated or edited file. Secrets are left out unless a passphrase seals them, each under a
//! key derived from it with argon2id and bound to its place in the document. A restore checks
//! everything first, shows what it changes, and applies it in one transaction or not at all.

use std::collections::{BTreeMap, BTreeSet};

use api_types::{Change, ObjectChange, RestoreMode, RestoreReport, SecretChange};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::{RestorePlan, RestoredSource, RestoredTarget, TokenHash};

use crate::Error;
use crate::secrets::SecretBox;
use crate::targets::SealedConnector;
use crate::tokens::hex;

const FORMAT: &str = "idsync-backup";
const VERSION: u32 = 1;
const MIN_PASSPHRASE: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    version: u32,
    created: String,
    idsync: String,
    secrets: Secrets,
    sources: BTreeMap<String, SourceEntry>,
    targets: BTreeMap<String, TargetEntry>,
    bindings: BTreeMap<String, BindingEntry>,
    admin_tokens: BTreeMap<String, AdminTokenEntry>,
    /// SHA-256 of the document with this field empty, as compact JSON.
    #[serde(default)]
    integrity: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Secrets {
    /// `omitted` or `sealed`.
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<Kdf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    algorithm: String,
    salt: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
enum SecretField {
    Omitted,
    Sealed { value: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    kind: String,
    /// The bearer tokens' hashes, so identity providers keep working after a restore.
    scim_tokens: Vec<TokenEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    login_token_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pull: Option<PullEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    sha256: String,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullEntry {
    settings: Value,
    credentials: SecretField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    kind: String,
    url: String,
    credentials: SecretField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingEntry {
    source: String,
    target: String,
    rules: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminTokenEntry {
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn hash32(text: &str, place: &str) -> Result<[u8; 32], Error> {
    unhex(text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Invalid(format!("{place} is not a SHA-256 hash (64 hexadecimal digits)")))
}

/// The document's checksum: SHA-256 of its compact JSON with the checksum field empty.
fn integrity(doc: &Document) -> String {
    let mut unsummed = doc.clone();
    unsummed.integrity = String::new();
    hex(&Sha256::digest(serde_json::to_vec(&unsummed).unwrap_or_default()))
}

/// The key a passphrase and salt give, with the document's own argon2id settings.
fn derive(passphrase: &str, kdf: &Kdf) -> Result<SecretBox, Error> {
    let salt = unhex(&kdf.salt).ok_or_else(|| Error::Invalid("the backup's salt is not hexadecimal".into()))?;
    if kdf.algorithm != "argon2id" {
        return Err(Error::Invalid(format!(
            "the backup's secrets are sealed with '{}', which this idsync does not know",
            kdf.algorithm
        )));
    }
    let params = argon2::Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
        .map_err(|e| Error::Invalid(format!("the backup's key settings are not usable: {e}")))?;
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
        .map_err(|e| Error::Invalid(format!("the passphrase cannot be used: {e}")))?;
    Ok(SecretBox::from_key(key))
}

/// What is configured here, with each secret in the clear (only in memory, to seal or compare).
struct Snapshot {
    doc: Document,
    /// By place in the document (`targets/jira/credentials`): the secret's JSON.
    secrets: BTreeMap<String, Vec<u8>>,
    /// Sources that hold users or groups, or manage accounts in targets.
    in_use: BTreeSet<String>,
}

fn place(kind: &str, name: &str) -> String {
    format!("{kind}/{name}/credentials")
}

async fn snapshot(db: &dyn store::Database, connector: &SealedConnector, now: &str) -> Result<Snapshot, Error> {
    let mut secrets = BTreeMap::new();
    let mut sources = BTreeMap::new();
    let mut in_use = BTreeSet::new();
    let mut pulls = db.pulls().await?;
    for source in db.list_sources().await? {
        if source.users + source.groups > 0 || !db.managed_by_source(&source.name).await?.is_empty() {
            in_use.insert(source.name.clone());
        }
        let scim_tokens = db
            .token_hashes(&source.name)
            .await?
            .into_iter()
            .map(|t| TokenEntry {
                sha256: hex(&t.hash),
                created: t.created.to_string(),
                expires: t.expires.map(|e| e.to_string()),
            })
            .collect();
        let pull = match pulls.remove(&source.name) {
            Some(settings) => {
                let config: Value = serde_json::from_str(&settings.config).map_err(|e| {
                    Error::Invalid(format!("the stored settings of source '{}' are unreadable: {e}", source.name))
                })?;
                if let Ok(credentials) = crate::pull::unsealed(&connector.secrets, &settings, &source.name) {
                    let plain = serde_json::to_vec(&credentials).unwrap_or_default();
                    secrets.insert(place("sources", &source.name), plain);
                }
                Some(PullEntry { settings: config, credentials: SecretField::Omitted })
            }
            None => None,
        };
        let login = db.login_token(&source.name).await?.map(|h| hex(&h));
        sources.insert(source.name, SourceEntry { kind: source.kind, scim_tokens, login_token_sha256: login, pull });
    }
    let mut targets = BTreeMap::new();
    for t in db.targets().await? {
        if let Ok(credentials) = connector.unseal(&t) {
            secrets.insert(place("targets", &t.name), serde_json::to_vec(&credentials).unwrap_or_default());
        }
        targets.insert(t.name, TargetEntry { kind: t.kind, url: t.url, credentials: SecretField::Omitted });
    }
    let bindings = db
        .bindings()
        .await?
        .into_iter()
        .map(|b| {
            (format!("{}/{}", b.source, b.target), BindingEntry { source: b.source, target: b.target, rules: b.rules })
        })
        .collect();
    let admin_tokens = crate::admin_tokens::list(db)
        .await?
        .into_iter()
        .map(|t| (t.name, AdminTokenEntry { scope: t.scope.as_str().into(), expires: t.expires }))
        .collect();
    let doc = Document {
        format: FORMAT.into(),
        version: VERSION,
        created: now.into(),
        idsync: env!("CARGO_PKG_VERSION").into(),
        secrets: Secrets { mode: "omitted".into(), kdf: None },
        sources,
        targets,
        bindings,
        admin_tokens,
        integrity: String::new(),
    };
    Ok(Snapshot { doc, secrets, in_use })
}

/// The backup document, pretty JSON. With a passphrase, every secret is in it, sealed.
pub async fn export(
    db: &dyn store::Database,
    connector: &SealedConnector,
    passphrase: Option<&str>,
) -> Result<String, Error> {
    let now = crate::rfc3339(jiff::Timestamp::now());
    let Snapshot { mut doc, secrets, .. } = snapshot(db, connector, &now).await?;
    if let Some(passphrase) = passphrase {
        if passphrase.chars().count() < MIN_PASSPHRASE {
            return Err(Error::Invalid(format!("a backup passphrase must have at least {MIN_PASSPHRASE} characters")));
        }
        let kdf = Kdf {
            algorithm: "argon2id".into(),
            salt: hex(&rand::random::<[u8; 16]>()),
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        let sealer = derive(passphrase, &kdf)?;
        let sealed = |at: String| -> Result<SecretField, Error> {
            Ok(match secrets.get(&at) {
                Some(plain) => SecretField::Sealed { value: hex(&sealer.seal(plain, &at)?) },
                None => SecretField::Omitted,
            })
        };
        for (name, entry) in &mut doc.targets {
            entry.credentials = sealed(place("targets", name))?;
        }
        for (name, entry) in &mut doc.sources {
            if let Some(pull) = &mut entry.pull {
                pull.credentials = sealed(place("sources", name))?;
            }
        }
        doc.secrets = Secrets { mode: "sealed".into(), kdf: Some(kdf) };
    }
    doc.integrity = integrity(&doc);
    let mut text =
        serde_json::to_string_pretty(&doc).map_err(|e| Error::Invalid(format!("the backup cannot be written: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// How to restore.
pub struct Options<'a> {
    pub mode: RestoreMode,
    pub dry_run: bool,
    pub passphrase: Option<&'a str>,
    pub rotate_scim_tokens: bool,
    /// Restore only these objects (`source/<name>`, `target/<name>`, `binding/<source>/<target>`),
    /// leaving every other as it is here; all when None.
    pub only: Option<&'a BTreeSet<String>>,
}

/// Keeps in `plan` only the objects chosen; the others are reported as not chosen. A chosen
/// binding whose source or target the restore would create needs that one chosen too.
fn keep_chosen(
    plan: &mut RestorePlan,
    changes: &mut [ObjectChange],
    scim_tokens: &mut BTreeMap<String, String>,
    only: &BTreeSet<String>,
) -> Result<(), Error> {
    let chosen = |object: String| only.contains(&object);
    for (source, target, _) in plan.bindings.iter().filter(|(s, t, _)| chosen(format!("binding/{s}/{t}"))) {
        for needed in [format!("source/{source}"), format!("target/{target}")] {
            let created = changes.iter().any(|c| c.object == needed && c.change == Change::Created);
            if created && !chosen(needed.clone()) {
                return Err(Error::Invalid(format!(
                    "binding {source}/{target} needs {needed}, which the restore would create: choose it too; nothing was changed"
                )));
            }
        }
    }
    plan.sources.retain(|s| chosen(format!("source/{}", s.name)));
    plan.targets.retain(|t| chosen(format!("target/{}", t.name)));
    plan.bindings.retain(|(s, t, _)| chosen(format!("binding/{s}/{t}")));
    plan.remove_bindings.retain(|(s, t)| chosen(format!("binding/{s}/{t}")));
    plan.remove_targets.retain(|t| chosen(format!("target/{t}")));
    plan.remove_sources.retain(|s| chosen(format!("source/{s}")));
    scim_tokens.retain(|source, _| chosen(format!("source/{source}")));
    for change in changes.iter_mut() {
        let acts = !matches!(change.change, Change::Unchanged | Change::OnlyHere);
        if acts && !change.object.starts_with("admin_token/") && !only.contains(&change.object) {
            change.change = Change::NotChosen;
        }
    }
    Ok(())
}

fn read(document: Value) -> Result<Document, Error> {
    let format = document.get("format").and_then(Value::as_str).unwrap_or_default().to_string();
    if format != FORMAT {
        return Err(Error::Invalid(
            "this is not an idsync configuration backup (its 'format' is not idsync-backup)".into(),
        ));
    }
    match document.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(Error::Invalid(format!(
                "this backup has format version {v}; this idsync reads version {VERSION}: restore it with the idsync that wrote it or a newer one"
            )));
        }
        None => return Err(Error::Invalid("this backup has no format version".into())),
    }
    let doc: Document = serde_json::from_value(document)
        .map_err(|e| Error::Invalid(format!("the backup is not complete or not as idsync writes it: {e}")))?;
    if doc.integrity.is_empty() || doc.integrity != integrity(&doc) {
        return Err(Error::Invalid(
            "the backup was changed after idsync wrote it (its checksum does not match): restore from an unchanged copy".into(),
        ));
    }
    Ok(doc)
}

/// The field names whose values differ between two entries.
fn differing(a: &impl Serialize, b: &impl Serialize) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).unwrap_or_default(), serde_json::to_value(b).unwrap_or_default());
    let keys: BTreeSet<&String> = a.as_object().into_iter().chain(b.as_object()).flat_map(|o| o.keys()).collect();
    keys.into_iter().filter(|k| a.get(k.as_str()) != b.get(k.as_str())).cloned().collect()
}

/// Checks a backup, reports what restoring it changes, and unless `dry_run` applies that in one
/// transaction. Any problem — wrong passphrase, edited file, unknown version, a binding whose
/// source or target is missing, an invalid rule — is reported and changes nothing.
pub async fn restore(
    db: &dyn store::Database,
    connector: &SealedConnector,
    cache: &scim::AuthCache,
    document: Value,
    options: &Options<'_>,
) -> Result<RestoreReport, Error> {
    let doc = read(document)?;
    let opener = match (&doc.secrets.kdf, options.passphrase) {
        (Some(kdf), Some(passphrase)) => Some(derive(passphrase, kdf)?),
        (Some(_), None) => {
            return Err(Error::Invalid(
                "this backup's secrets are sealed: give the passphrase it was made with".into(),
            ));
        }
        (None, _) => None,
    };
    let opened = |field: &SecretField, at: String| -> Result<Option<Vec<u8>>, Error> {
        match (field, &opener) {
            (SecretField::Omitted, _) => Ok(None),
            (SecretField::Sealed { value }, Some(opener)) => {
                let sealed = unhex(value)
                    .ok_or_else(|| Error::Invalid(format!("the sealed secret at {at} is not hexadecimal")))?;
                opener.open_sealed(&sealed, &at).map(Some).map_err(|_| {
                    Error::Invalid("the passphrase does not open this backup's secrets; nothing was changed".into())
                })
            }
            (SecretField::Sealed { .. }, None) => {
                Err(Error::Invalid("the backup seals secrets but names no key settings".into()))
            }
        }
    };
    let here = snapshot(db, connector, &doc.created).await?;
    let mut plan = RestorePlan::default();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut scim_tokens = BTreeMap::new();
    let replace = options.mode == RestoreMode::Replace;
    let secret_change = |backup: &Option<Vec<u8>>, here_secret: Option<&Vec<u8>>| match backup {
        None => SecretChange::Omitted,
        Some(b) if Some(b) == here_secret => SecretChange::Unchanged,
        Some(_) => SecretChange::Changed,
    };

    for (name, entry) in &doc.targets {
        model::validate_source_name(name).map_err(|e| Error::Invalid(e.replace("source name", "target name")))?;
        crate::targets::kind(&entry.kind)?;
        crate::targets::checked_url(&entry.url)?;
        let at = place("targets", name);
        let secret = opened(&entry.credentials, at.clone())?;
        let credentials = match &secret {
            Some(plain) => {
                let c: rest::Credentials = serde_json::from_slice(plain).map_err(|_| {
                    Error::Invalid(format!("the credentials of target '{name}' in the backup are not readable"))
                })?;
                Some(connector.seal(name, &c)?)
            }
            None => None,
        };
        let secrets = Some(secret_change(&secret, here.secrets.get(&at)));
        let (change, fields) = match here.doc.targets.get(name) {
            None => (Change::Created, Vec::new()),
            Some(current) => {
                let fields = differing(
                    &serde_json::json!({"kind": entry.kind, "url": entry.url}),
                    &serde_json::json!({"kind": current.kind, "url": current.url}),
                );
                let changed = !fields.is_empty() || secrets == Some(SecretChange::Changed);
                (if changed { Change::Changed } else { Change::Unchanged }, fields)
            }
        };
        if change == Change::Created && secret.is_none() {
            notes.push(format!(
                "target '{name}' comes without credentials (the backup left them out): set them before it can work"
            ));
        }
        if change != Change::Unchanged {
            plan.targets.push(RestoredTarget {
                name: name.clone(),
                kind: entry.kind.clone(),
                url: entry.url.clone(),
                secret: credentials,
            });
        }
        changes.push(ObjectChange { object: format!("target/{name}"), change, fields, secrets });
    }

    for (name, entry) in &doc.sources {
        model::validate_source_name(name).map_err(Error::Invalid)?;
        let mut tokens = Vec::new();
        for (i, t) in entry.scim_tokens.iter().enumerate() {
            tokens.push(TokenHash {
                hash: hash32(&t.sha256, &format!("sources/{name}/scim_tokens/{i}"))?,
                created: stored_time(&t.created, &format!("sources/{name}/scim_tokens/{i}/created"))?,
                expires: t
                    .expires
                    .as_deref()
                    .map(|e| stored_time(e, &format!("sources/{name}/scim_tokens/{i}/expires")))
                    .transpose()?,
            });
        }
        let login = entry
            .login_token_sha256
            .as_deref()
            .map(|h| hash32(h, &format!("sources/{name}/login_token_sha256")))
            .transpose()?;
        let mut secrets = None;
        let pull = match &entry.pull {
            Some(pull) => {
                let config: crate::pull::PullConfig = serde_json::from_value(pull.settings.clone()).map_err(|e| {
                    Error::Invalid(format!("the settings of source '{name}' in the backup are not valid: {e}"))
                })?;
                config.validate()?;
                let at = place("sources", name);
                let secret = opened(&pull.credentials, at.clone())?;
                secrets = Some(secret_change(&secret, here.secrets.get(&at)));
                let sealed = match &secret {
                    Some(plain) => {
                        let c: rest::Credentials = serde_json::from_slice(plain).map_err(|_| {
                            Error::Invalid(format!("the credentials of source '{name}' in the backup are not readable"))
                        })?;
                        Some(crate::pull::sealed(&connector.secrets, &c, name)?)
                    }
                    None => None,
                };
                Some((pull.settings.to_string(), sealed))
            }
            None => None,
        };
        let (change, fields) = match here.doc.sources.get(name) {
            None => (Change::Created, Vec::new()),
            Some(current) => {
                let fields = differing(entry, current);
                let changed = !fields.is_empty() || secrets == Some(SecretChange::Changed);
                (if changed { Change::Changed } else { Change::Unchanged }, fields)
            }
        };
        let rotated = options.rotate_scim_tokens && entry.pull.is_none();
        if rotated {
            let token = crate::tokens::new_token();
            tokens = vec![TokenHash { hash: scim::hash_token(&token), created: store::Time::now(), expires: None }];
            scim_tokens.insert(name.clone(), token);
        }
        if change != Change::Unchanged || rotated {
            if pull.is_some() {
                notes.push(format!("pull source '{name}' is paused: resume it when its first run may go ahead"));
            }
            plan.sources.push(RestoredSource {
                name: name.clone(),
                kind: entry.kind.clone(),
                tokens,
                pull_state: pull.as_ref().map(|_| "{\"paused\":true}".to_string()),
                pull,
                login_token_hash: login,
            });
        }
        changes.push(ObjectChange { object: format!("source/{name}"), change, fields, secrets });
    }

    for (key, entry) in &doc.bindings {
        if *key != format!("{}/{}", entry.source, entry.target) {
            return Err(Error::Invalid(format!(
                "binding '{key}' in the backup names {} → {}",
                entry.source, entry.target
            )));
        }
        let kept_here = |known: bool| known && !replace;
        if !doc.sources.contains_key(&entry.source) && !kept_here(here.doc.sources.contains_key(&entry.source)) {
            return Err(Error::Invalid(format!(
                "binding {key} names source '{}', which is neither in the backup nor kept here; nothing was changed",
                entry.source
            )));
        }
        if !doc.targets.contains_key(&entry.target) && !kept_here(here.doc.targets.contains_key(&entry.target)) {
            return Err(Error::Invalid(format!(
                "binding {key} names target '{}', which is neither in the backup nor kept here; nothing was changed",
                entry.target
            )));
        }
        crate::bindings::checked(&entry.source, &entry.target, &entry.rules)?;
        let change = match here.doc.bindings.get(key) {
            None => Change::Created,
            Some(current) if current.rules == entry.rules => Change::Unchanged,
            Some(_) => Change::Changed,
        };
        if change != Change::Unchanged {
            plan.bindings.push((entry.source.clone(), entry.target.clone(), entry.rules.clone()));
        }
        let fields = if change == Change::Changed { vec!["rules".to_string()] } else { Vec::new() };
        changes.push(ObjectChange { object: format!("binding/{key}"), change, fields, secrets: None });
    }

    let only_here = if replace { Change::Removed } else { Change::OnlyHere };
    for key in here.doc.bindings.keys().filter(|k| !doc.bindings.contains_key(*k)) {
        let b = &here.doc.bindings[key];
        if replace {
            plan.remove_bindings.push((b.source.clone(), b.target.clone()));
        }
        changes.push(ObjectChange {
            object: format!("binding/{key}"),
            change: only_here,
            fields: Vec::new(),
            secrets: None,
        });
    }
    for name in here.doc.targets.keys().filter(|n| !doc.targets.contains_key(*n)) {
        if replace {
            plan.remove_targets.push(name.clone());
        }
        changes.push(ObjectChange {
            object: format!("target/{name}"),
            change: only_here,
            fields: Vec::new(),
            secrets: None,
        });
    }
    for name in here.doc.sources.keys().filter(|n| !doc.sources.contains_key(*n)) {
        if replace {
            if here.in_use.contains(name) {
                return Err(Error::Invalid(format!(
                    "source '{name}' is not in the backup and holds users or manages accounts, so a replace would lose them; remove it first (deciding what becomes of its accounts) or restore with merge; nothing was changed"
                )));
            }
            plan.remove_sources.push(name.clone());
        }
        changes.push(ObjectChange {
            object: format!("source/{name}"),
            change: only_here,
            fields: Vec::new(),
            secrets: None,
        });
    }
    for (name, token) in &doc.admin_tokens {
        let change = match here.doc.admin_tokens.get(name) {
            Some(current) if current == token => Change::Unchanged,
            Some(_) => Change::Changed,
            None => {
                notes.push(format!(
                    "admin token '{name}' ({}) is not restored: a backup keeps no token secrets; create a new one",
                    token.scope
                ));
                Change::Created
            }
        };
        changes.push(ObjectChange { object: format!("admin_token/{name}"), change, fields: Vec::new(), secrets: None });
    }
    if let Some(only) = options.only {
        keep_chosen(&mut plan, &mut changes, &mut scim_tokens, only)?;
    }
    let applied = !options.dry_run;
    if applied && plan != RestorePlan::default() {
        db.restore(&plan).await?;
        cache.clear();
    }
    Ok(RestoreReport { applied, changes, scim_tokens, notes })
}

/// A time of the backup document, read for the store.
fn stored_time(text: &str, path: &str) -> Result<store::Time, Error> {
    text.parse()
        .map_err(|_| Error::Invalid(format!("{path} is '{text}', which is not an RFC 3339 time; nothing was changed")))
}

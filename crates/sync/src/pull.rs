//! A pull run's snapshot into the store: records are matched by the provider's id (kept as
//! `externalId`), and only what changed is written, so the journal — and with it the targets —
//! sees a run's real changes and nothing else. Nothing is removed when the read was incomplete.

use std::collections::{BTreeMap, BTreeSet};

use model::ResourceKind;
use model::patch::MemberChange;
use model::resource::{MemberRef, normalize};
use model::schema::{GROUP_TYPE, USER_TYPE};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sources::Snapshot;
use store::{ListQuery, Load, Source, Store, StoreError, StoredResource};

/// What a pull run changed in idsync's copy of the source (also a pull run's summary).
#[derive(Debug, Default, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PullSummary {
    pub users_read: usize,
    pub groups_read: usize,
    pub users_created: u64,
    pub users_updated: u64,
    pub users_deleted: u64,
    pub groups_created: u64,
    pub groups_updated: u64,
    pub groups_deleted: u64,
    pub unchanged: u64,
    /// Records the store refused (each explained in `problems`); they were left as they were.
    pub refused: u64,
    /// Whether this run read only what changed since the last one.
    pub incremental: bool,
    /// False when the read was incomplete: nothing was removed.
    pub complete: bool,
    pub requests: u64,
    pub problems: Vec<String>,
}

/// Every stored record of a kind that came from the provider (has an `externalId`), a page at a
/// time, each handed to `each` with its external id: callers keep only what they need of it.
pub(super) async fn each_pulled(
    db: &dyn Store,
    source: &Source,
    kind: ResourceKind,
    load: Load,
    mut each: impl FnMut(String, StoredResource),
) -> Result<(), StoreError> {
    let mut start = 1;
    loop {
        let query = ListQuery { filter: None, sort_by: None, descending: false, start_index: start, count: 1000, load };
        let page = db.list(source.id, kind, &query).await?;
        let got = page.items.len() as u64;
        for r in page.items {
            if let Some(ext) = r.data.get("externalId").and_then(Value::as_str).map(String::from) {
                each(ext, r);
            }
        }
        if got < 1000 {
            return Ok(());
        }
        start += got;
    }
}

/// Stored groups by external id, with their members.
pub(super) async fn stored_groups(
    db: &dyn Store,
    source: &Source,
) -> Result<BTreeMap<String, StoredResource>, StoreError> {
    let mut out = BTreeMap::new();
    let load = Load { members: true, groups: false, member_limit: None };
    each_pulled(db, source, ResourceKind::Group, load, |ext, r| {
        out.insert(ext, r);
    })
    .await?;
    Ok(out)
}

/// What idsync keeps of a stored user while a run compares: its id and a digest of its record,
/// so a directory of 100,000 people is not held in memory twice.
struct Kept {
    id: String,
    digest: [u8; 32],
}

/// A digest of a record that does not depend on the order of its keys.
fn digest(data: &Map<String, Value>) -> [u8; 32] {
    fn feed_map(hasher: &mut Sha256, map: &Map<String, Value>) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        hasher.update(b"{");
        for k in keys {
            hasher.update(k.as_bytes());
            hasher.update(b":");
            feed(hasher, &map[k]);
            hasher.update(b",");
        }
        hasher.update(b"}");
    }
    fn feed(hasher: &mut Sha256, value: &Value) {
        match value {
            Value::Object(map) => feed_map(hasher, map),
            Value::Array(items) => {
                hasher.update(b"[");
                for item in items {
                    feed(hasher, item);
                    hasher.update(b",");
                }
                hasher.update(b"]");
            }
            other => hasher.update(other.to_string().as_bytes()),
        }
    }
    let mut hasher = Sha256::new();
    feed_map(&mut hasher, data);
    hasher.finalize().into()
}

/// Stored users by external id, as ids and digests.
async fn stored_users(db: &dyn Store, source: &Source) -> Result<BTreeMap<String, Kept>, StoreError> {
    let mut out = BTreeMap::new();
    each_pulled(db, source, ResourceKind::User, Load::default(), |ext, r| {
        out.insert(ext, Kept { digest: digest(&r.data), id: r.id });
    })
    .await?;
    Ok(out)
}

/// A provider's record without the attributes SCIM's user schema does not know at the top level
/// (Oracle's `ocid`, for one): they are the provider's own, and the store would refuse them.
/// Extension objects (keys that are schema URNs) stay.
fn known_attributes(mut record: Map<String, Value>) -> Map<String, Value> {
    record
        .retain(|k, _| k.contains(':') || k.eq_ignore_ascii_case("schemas") || USER_TYPE.schema.attribute(k).is_some());
    record
}

/// A pulled user as the store keeps it: known attributes, the provider's id as `externalId`.
pub(super) fn user_data(user: sources::PulledUser) -> Result<Map<String, Value>, model::ScimError> {
    let mut body = known_attributes(user.record);
    body.insert("externalId".into(), json!(user.external_id));
    body.entry("schemas").or_insert_with(|| json!([USER_TYPE.schema.id]));
    Ok(normalize(Value::Object(body), &USER_TYPE)?.data)
}

/// The record idsync keeps of a pulled user (what the rules see), for `source lookup`.
pub fn stored_form(user: sources::PulledUser) -> Result<Map<String, Value>, model::ScimError> {
    user_data(user)
}

/// A pulled group's own data (its members are written apart).
/// A pulled group as stored: its name and id, and any further attributes it carries.
pub(super) fn group_data(
    external_id: &str,
    name: &str,
    attributes: &Map<String, Value>,
) -> Result<Map<String, Value>, model::ScimError> {
    let mut body = json!({"schemas": [GROUP_TYPE.schema.id], "displayName": name, "externalId": external_id});
    for (key, value) in attributes {
        body[key] = value.clone();
    }
    Ok(normalize(body, &GROUP_TYPE)?.data)
}

pub(super) fn replace_with(data: Map<String, Value>) -> store::Mutation {
    Box::new(move |current: &mut Map<String, Value>| {
        *current = data.clone();
        Ok(Vec::new())
    })
}

/// A full read's users into the store as they arrive: each is created, updated or left alone as it
/// comes, so a run never holds the whole directory; [`UserWriter::finish`] then writes the groups
/// and removes what the provider no longer has.
pub struct UserWriter {
    users: BTreeMap<String, Kept>,
    ids: BTreeMap<String, (String, ResourceKind)>,
    keep: BTreeSet<String>,
    summary: PullSummary,
}

impl UserWriter {
    pub async fn new(db: &dyn Store, source: &Source) -> Result<Self, StoreError> {
        Ok(UserWriter {
            users: stored_users(db, source).await?,
            ids: BTreeMap::new(),
            keep: BTreeSet::new(),
            summary: PullSummary::default(),
        })
    }

    pub async fn write(
        &mut self,
        db: &dyn Store,
        source: &Source,
        pulled: sources::PulledUser,
    ) -> Result<(), StoreError> {
        self.summary.users_read += 1;
        self.keep.insert(pulled.external_id.clone());
        let external_id = pulled.external_id.clone();
        let data = match user_data(pulled) {
            Ok(data) => data,
            Err(e) => {
                self.summary.refused += 1;
                self.summary.problems.push(format!("user {external_id} left as it was: {}", e.detail));
                return Ok(());
            }
        };
        match self.users.remove(&external_id) {
            Some(existing) => {
                self.ids.insert(external_id, (existing.id.clone(), ResourceKind::User));
                if existing.digest == digest(&data) {
                    self.summary.unchanged += 1;
                    return Ok(());
                }
                match db
                    .update(source.id, ResourceKind::User, &existing.id, None, replace_with(data), Load::default())
                    .await
                {
                    Ok(_) => self.summary.users_updated += 1,
                    Err(StoreError::Conflict(m) | StoreError::Rejected(model::ScimError { detail: m, .. })) => {
                        self.summary.refused += 1;
                        self.summary.problems.push(format!("user {} not updated: {m}", existing.id))
                    }
                    Err(e) => return Err(e),
                }
            }
            None => match db.create(source.id, ResourceKind::User, data, Vec::new()).await {
                Ok(created) => {
                    self.ids.insert(external_id, (created.id, ResourceKind::User));
                    self.summary.users_created += 1;
                }
                Err(StoreError::Conflict(m)) => {
                    self.summary.refused += 1;
                    self.summary.problems.push(format!("user {external_id} not created: {m}"))
                }
                Err(e) => return Err(e),
            },
        }
        Ok(())
    }

    /// The groups, memberships and removals of the read that gave the users written.
    pub async fn finish(self, db: &dyn Store, source: &Source, snapshot: Snapshot) -> Result<PullSummary, StoreError> {
        let UserWriter { users, mut ids, mut keep, summary } = self;
        let mut summary = PullSummary {
            groups_read: snapshot.groups.len(),
            complete: snapshot.complete,
            requests: snapshot.requests,
            problems: [snapshot.problems, summary.problems].concat(),
            ..summary
        };
        // Groups: their own data first, so members can name groups created in this run.
        let mut groups = stored_groups(db, source).await?;
        let mut current_members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for pulled in &snapshot.groups {
            keep.insert(pulled.external_id.clone());
            let data = match group_data(&pulled.external_id, &pulled.name, &pulled.attributes) {
                Ok(data) => data,
                Err(e) => {
                    summary.refused += 1;
                    summary.problems.push(format!("group {} left as it was: {}", pulled.external_id, e.detail));
                    continue;
                }
            };
            match groups.remove(&pulled.external_id) {
                Some(existing) => {
                    let members: BTreeSet<String> =
                        existing.members.clone().unwrap_or_default().into_iter().map(|m| m.id).collect();
                    current_members.insert(existing.id.clone(), members);
                    ids.insert(pulled.external_id.clone(), (existing.id.clone(), ResourceKind::Group));
                    if existing.data != data {
                        db.update(
                            source.id,
                            ResourceKind::Group,
                            &existing.id,
                            None,
                            replace_with(data),
                            Load::default(),
                        )
                        .await?;
                        summary.groups_updated += 1;
                    }
                }
                None => {
                    let created = db.create(source.id, ResourceKind::Group, data, Vec::new()).await?;
                    current_members.insert(created.id.clone(), BTreeSet::new());
                    ids.insert(pulled.external_id.clone(), (created.id, ResourceKind::Group));
                    summary.groups_created += 1;
                }
            }
        }
        // Memberships: only the difference is written.
        for pulled in &snapshot.groups {
            let Some((group_id, _)) = ids.get(&pulled.external_id) else { continue };
            let wanted: BTreeMap<&String, ResourceKind> =
                pulled.members.iter().filter_map(|m| ids.get(m)).map(|(id, kind)| (id, *kind)).collect();
            let have = current_members.remove(group_id).unwrap_or_default();
            let add: Vec<MemberRef> = wanted
                .iter()
                .filter(|(id, _)| !have.contains(id.as_str()))
                .map(|(id, kind)| MemberRef {
                    value: (*id).clone(),
                    kind: Some(kind.as_str().to_string()),
                    display: None,
                })
                .collect();
            let remove: Vec<String> = have.into_iter().filter(|id| !wanted.contains_key(id)).collect();
            if add.is_empty() && remove.is_empty() {
                continue;
            }
            let mut changes = Vec::new();
            if !add.is_empty() {
                changes.push(MemberChange::Add(add));
            }
            if !remove.is_empty() {
                changes.push(MemberChange::Remove(remove));
            }
            let mutation: store::Mutation = Box::new(move |_| Ok(changes.clone()));
            db.update(source.id, ResourceKind::Group, group_id, None, mutation, Load::default()).await?;
            summary.groups_updated += 1;
        }
        // What the provider no longer has — only when everything was read.
        let gone_users: Vec<Kept> = users.into_iter().filter(|(k, _)| !keep.contains(k)).map(|(_, r)| r).collect();
        let gone_groups: Vec<StoredResource> =
            groups.into_iter().filter(|(k, _)| !keep.contains(k)).map(|(_, r)| r).collect();
        if !summary.complete {
            if !gone_users.is_empty() || !gone_groups.is_empty() {
                summary.problems.push(format!(
                    "the read was incomplete, so {} users and {} groups missing from it were kept",
                    gone_users.len(),
                    gone_groups.len()
                ));
            }
            return Ok(summary);
        }
        for r in gone_users {
            db.delete(source.id, ResourceKind::User, &r.id, None).await?;
            summary.users_deleted += 1;
        }
        for r in gone_groups {
            db.delete(source.id, ResourceKind::Group, &r.id, None).await?;
            summary.groups_deleted += 1;
        }
        Ok(summary)
    }
}

pub async fn apply_snapshot(
    db: &dyn Store,
    source: &Source,
    mut snapshot: Snapshot,
) -> Result<PullSummary, StoreError> {
    let mut writer = UserWriter::new(db, source).await?;
    for pulled in std::mem::take(&mut snapshot.users) {
        writer.write(db, source, pulled).await?;
    }
    writer.finish(db, source, snapshot).await
}

/// The stored record of a kind with this external id, if any.
pub(super) async fn by_external_id(
    db: &dyn Store,
    source: &Source,
    kind: ResourceKind,
    external_id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    let rt = match kind {
        ResourceKind::User => &*USER_TYPE,
        ResourceKind::Group => &*GROUP_TYPE,
    };
    let quoted = external_id.replace('\\', "\\\\").replace('"', "\\\"");
    let filter = model::Filter::parse(&format!("externalId eq \"{quoted}\""), rt, model::FilterLimits::default())
        .map_err(StoreError::Rejected)?;
    let query = ListQuery {
        filter: Some(&filter),
        sort_by: None,
        descending: false,
        start_index: 1,
        count: 2,
        load: Load { members: false, groups: true, member_limit: None },
    };
    Ok(db.list(source.id, kind, &query).await?.items.into_iter().next())
}

/// One user and its groups into the store, for a sync at login: the user is created or updated,
/// joins the groups it is in (created when new) and leaves the pulled groups it is no longer in.
/// Other users and groups are not touched. Returns the user's id in the store.
pub async fn apply_user(
    db: &dyn Store,
    source: &Source,
    user: sources::PulledUser,
    groups: Vec<sources::PulledGroup>,
) -> Result<String, StoreError> {
    let external_id = user.external_id.clone();
    let data = user_data(user).map_err(StoreError::Rejected)?;
    let (id, current_groups) = match by_external_id(db, source, ResourceKind::User, &external_id).await? {
        Some(existing) => {
            if existing.data != data {
                db.update(source.id, ResourceKind::User, &existing.id, None, replace_with(data), Load::default())
                    .await?;
            }
            (existing.id, existing.groups.unwrap_or_default())
        }
        None => (db.create(source.id, ResourceKind::User, data, Vec::new()).await?.id, Vec::new()),
    };
    let mut wanted = BTreeSet::new();
    for g in groups {
        let group_id = match by_external_id(db, source, ResourceKind::Group, &g.external_id).await? {
            Some(existing) => existing.id,
            None => {
                let data = group_data(&g.external_id, &g.name, &g.attributes).map_err(StoreError::Rejected)?;
                db.create(source.id, ResourceKind::Group, data, Vec::new()).await?.id
            }
        };
        if !current_groups.iter().any(|c| c.id == group_id) {
            let member = MemberRef { value: id.clone(), kind: Some("User".into()), display: None };
            let mutation: store::Mutation = Box::new(move |_| Ok(vec![MemberChange::Add(vec![member.clone()])]));
            db.update(source.id, ResourceKind::Group, &group_id, None, mutation, Load::default()).await?;
        }
        wanted.insert(group_id);
    }
    for left in current_groups.into_iter().filter(|g| !wanted.contains(&g.id)) {
        let user_id = id.clone();
        let mutation: store::Mutation = Box::new(move |_| Ok(vec![MemberChange::Remove(vec![user_id.clone()])]));
        db.update(source.id, ResourceKind::Group, &left.id, None, mutation, Load::default()).await?;
    }
    Ok(id)
}

//! Source records from the store, in the shape the planner reads.

use std::collections::{BTreeSet, HashMap};

use model::ResourceKind;
use serde_json::Value;
use store::{ListQuery, Load, Source, Store, StoreError, StoredResource};

use engine::state::{Scope, SourceGroup, SourceSnapshot, SourceUser};

const WITH_GROUPS: Load = Load { members: false, groups: true, member_limit: None };
const PAGE: u64 = 1000;

fn user_from(r: StoredResource) -> SourceUser {
    SourceUser {
        groups: r.groups.unwrap_or_default().into_iter().map(|g| g.id).collect(),
        record: Value::Object(r.data),
        id: r.id,
    }
}

fn group_from(r: StoredResource) -> SourceGroup {
    SourceGroup {
        name: r.data.get("displayName").and_then(Value::as_str).unwrap_or(&r.id).to_string(),
        parents: r.groups.unwrap_or_default().into_iter().map(|g| g.id).collect(),
        id: r.id,
    }
}

/// The named users of a source, and every group their memberships lead to (ancestors included,
/// for nesting). Ids the source no longer has are left out: the planner reads that as removed.
pub async fn load_users(db: &dyn Store, source: &Source, ids: &BTreeSet<String>) -> Result<SourceSnapshot, StoreError> {
    let mut users = Vec::new();
    for id in ids {
        if let Some(r) = db.get(source.id, ResourceKind::User, id, WITH_GROUPS).await? {
            users.push(user_from(r));
        }
    }
    let mut groups: HashMap<String, SourceGroup> = HashMap::new();
    let mut queue: Vec<String> = users.iter().flat_map(|u| u.groups.iter().cloned()).collect();
    while let Some(id) = queue.pop() {
        if groups.contains_key(&id) {
            continue;
        }
        if let Some(r) = db.get(source.id, ResourceKind::Group, &id, WITH_GROUPS).await? {
            let g = group_from(r);
            queue.extend(g.parents.iter().filter(|p| !groups.contains_key(*p)).cloned());
            groups.insert(id, g);
        }
    }
    Ok(SourceSnapshot { source: source.name.clone(), users, groups, scope: Scope::Users(ids.clone()), complete: true })
}

/// Every user and group of a source.
pub async fn load_all(db: &dyn Store, source: &Source) -> Result<SourceSnapshot, StoreError> {
    let mut users = Vec::new();
    let mut groups = HashMap::new();
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let mut start = 1;
        loop {
            let query = ListQuery {
                filter: None,
                sort_by: None,
                descending: false,
                start_index: start,
                count: PAGE,
                load: WITH_GROUPS,
            };
            let page = db.list(source.id, kind, &query).await?;
            let got = page.items.len() as u64;
            for r in page.items {
                match kind {
                    ResourceKind::User => users.push(user_from(r)),
                    ResourceKind::Group => {
                        let g = group_from(r);
                        groups.insert(g.id.clone(), g);
                    }
                }
            }
            if got < PAGE {
                break;
            }
            start += got;
        }
    }
    Ok(SourceSnapshot { source: source.name.clone(), users, groups, scope: Scope::Full, complete: true })
}

/// Ids of the users in a group, directly or through nested groups.
pub async fn users_in_group(db: &dyn Store, source: &Source, group_id: &str) -> Result<Vec<String>, StoreError> {
    let mut users = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![group_id.to_string()];
    while let Some(id) = queue.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let load = Load { members: true, groups: false, member_limit: None };
        let Some(group) = db.get(source.id, ResourceKind::Group, &id, load).await? else { continue };
        for m in group.members.unwrap_or_default() {
            match m.kind {
                Some(ResourceKind::Group) => queue.push(m.id),
                _ => users.push(m.id),
            }
        }
    }
    Ok(users)
}

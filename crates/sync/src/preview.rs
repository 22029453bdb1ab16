//! A pull run's preview: what a read snapshot would make of the source — counted as a run would
//! count it — and the source as the planner would then read it, without writing anything. Records
//! keep their stored ids (so ownership links still match); new ones get provisional ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::ResourceKind;
use serde_json::Value;
use sources::Snapshot;
use store::{Load, Source, Store, StoreError, StoredResource};

use super::pull::{PullSummary, each_pulled, group_data, stored_groups, user_data};
use engine::state::{Scope, SourceGroup, SourceSnapshot, SourceUser};

async fn stored(
    db: &dyn Store,
    source: &Source,
    kind: ResourceKind,
) -> Result<BTreeMap<String, StoredResource>, StoreError> {
    let mut out = BTreeMap::new();
    each_pulled(db, source, kind, Load::default(), |ext, r| {
        out.insert(ext, r);
    })
    .await?;
    Ok(out)
}

/// Only for a complete snapshot: an incomplete one cannot say who left.
pub async fn preview_snapshot(
    db: &dyn Store,
    source: &Source,
    snapshot: &Snapshot,
) -> Result<(SourceSnapshot, PullSummary), StoreError> {
    let mut summary = PullSummary {
        users_read: snapshot.users.len(),
        groups_read: snapshot.groups.len(),
        complete: snapshot.complete,
        requests: snapshot.requests,
        problems: snapshot.problems.clone(),
        ..PullSummary::default()
    };
    let mut stored_users = stored(db, source, ResourceKind::User).await?;
    // With their members: a run writes a group again when its members change, and so counts it.
    let mut stored_groups = stored_groups(db, source).await?;
    let mut stored_members: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut users: Vec<SourceUser> = Vec::new();
    let mut user_index: HashMap<String, usize> = HashMap::new();
    for pulled in &snapshot.users {
        let data = match user_data(pulled.clone()) {
            Ok(d) => d,
            Err(e) => {
                summary.problems.push(format!("user {} would be left as it is: {}", pulled.external_id, e.detail));
                continue;
            }
        };
        let id = match stored_users.remove(&pulled.external_id) {
            Some(existing) if existing.data == data => {
                summary.unchanged += 1;
                existing.id
            }
            Some(existing) => {
                summary.users_updated += 1;
                existing.id
            }
            None => {
                summary.users_created += 1;
                format!("new:{}", pulled.external_id)
            }
        };
        user_index.insert(pulled.external_id.clone(), users.len());
        users.push(SourceUser { id, record: Value::Object(data), groups: Vec::new() });
    }
    summary.users_deleted = stored_users.len() as u64;
    let mut groups: HashMap<String, SourceGroup> = HashMap::new();
    let mut group_ids: HashMap<&str, String> = HashMap::new();
    for pulled in &snapshot.groups {
        let data = group_data(&pulled.external_id, &pulled.name, &pulled.attributes).map_err(StoreError::Rejected)?;
        let id = match stored_groups.remove(&pulled.external_id) {
            Some(existing) => {
                if existing.data != data {
                    summary.groups_updated += 1;
                }
                let members = existing.members.unwrap_or_default().into_iter().map(|m| m.id).collect();
                stored_members.insert(existing.id.clone(), members);
                existing.id
            }
            None => {
                summary.groups_created += 1;
                format!("new:{}", pulled.external_id)
            }
        };
        group_ids.insert(&pulled.external_id, id.clone());
        groups.insert(id.clone(), SourceGroup { id, name: pulled.name.clone(), parents: Vec::new() });
    }
    summary.groups_deleted = stored_groups.len() as u64;
    for pulled in &snapshot.groups {
        let Some(group_id) = group_ids.get(pulled.external_id.as_str()).cloned() else { continue };
        let wanted: BTreeSet<String> = pulled
            .members
            .iter()
            .filter_map(|m| {
                user_index.get(m).map(|&i| users[i].id.clone()).or_else(|| group_ids.get(m.as_str()).cloned())
            })
            .collect();
        if wanted != stored_members.remove(&group_id).unwrap_or_default() {
            summary.groups_updated += 1;
        }
        for member in &pulled.members {
            if let Some(&i) = user_index.get(member) {
                users[i].groups.push(group_id.clone());
            } else if let Some(child) = group_ids.get(member.as_str())
                && let Some(g) = groups.get_mut(child)
            {
                g.parents.push(group_id.clone());
            }
        }
    }
    let preview = SourceSnapshot { source: source.name.clone(), users, groups, scope: Scope::Full, complete: true };
    Ok((preview, summary))
}

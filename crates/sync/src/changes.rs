//! An incremental read into the store: only the users and groups the provider reported are
//! looked up and written (and only where they differ), deletions the provider reported are
//! applied, and, for a scoped source, stored users outside the scope leave. A run's cost follows
//! the number of changes, not the size of the directory.

use std::collections::BTreeSet;

use model::ResourceKind;
use model::patch::MemberChange;
use model::resource::MemberRef;
use serde_json::{Map, Value};
use sources::{Changes, MemberChanges};
use store::{Load, Source, Store, StoreError};

use super::pull::{PullSummary, by_external_id, each_pulled, group_data, replace_with, user_data};

/// Store id and kind of a user or group by the provider's id; None when idsync does not hold it
/// (a member outside the source's scope).
async fn resolve(db: &dyn Store, source: &Source, external_id: &str) -> Result<Option<MemberRef>, StoreError> {
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Some(r) = by_external_id(db, source, kind, external_id).await? {
            return Ok(Some(MemberRef { value: r.id, kind: Some(kind.as_str().to_string()), display: None }));
        }
    }
    Ok(None)
}

async fn delete(db: &dyn Store, source: &Source, kind: ResourceKind, external_id: &str) -> Result<bool, StoreError> {
    match by_external_id(db, source, kind, external_id).await? {
        Some(r) => {
            db.delete(source.id, kind, &r.id, None).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub async fn apply_changes(db: &dyn Store, source: &Source, changes: Changes) -> Result<PullSummary, StoreError> {
    let mut summary = PullSummary {
        users_read: changes.users.len(),
        groups_read: changes.groups.len(),
        complete: changes.complete,
        requests: changes.requests,
        problems: changes.problems,
        incremental: true,
        ..PullSummary::default()
    };
    for pulled in changes.users {
        let external_id = pulled.external_id.clone();
        let data = match user_data(pulled) {
            Ok(data) => data,
            Err(e) => {
                summary.refused += 1;
                summary.problems.push(format!("user {external_id} left as it was: {}", e.detail));
                continue;
            }
        };
        match by_external_id(db, source, ResourceKind::User, &external_id).await? {
            Some(existing) if existing.data == data => summary.unchanged += 1,
            Some(existing) => {
                db.update(source.id, ResourceKind::User, &existing.id, None, replace_with(data), Load::default())
                    .await?;
                summary.users_updated += 1;
            }
            None => match db.create(source.id, ResourceKind::User, data, Vec::new()).await {
                Ok(_) => summary.users_created += 1,
                Err(StoreError::Conflict(m)) => {
                    summary.refused += 1;
                    summary.problems.push(format!("user {external_id} not created: {m}"))
                }
                Err(e) => return Err(e),
            },
        }
    }
    for changed in changes.groups {
        let existing = by_external_id(db, source, ResourceKind::Group, &changed.external_id).await?;
        let group_id = match (existing, &changed.name) {
            (Some(existing), Some(name)) => {
                // Attributes the provider did not report stay as stored.
                let kept: Map<String, Value> = existing
                    .data
                    .iter()
                    .filter(|(k, _)| k.starts_with("urn:"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let attributes = changed.attributes.as_ref().unwrap_or(&kept);
                let data = group_data(&changed.external_id, name, attributes).map_err(StoreError::Rejected)?;
                if existing.data != data {
                    db.update(source.id, ResourceKind::Group, &existing.id, None, replace_with(data), Load::default())
                        .await?;
                    summary.groups_updated += 1;
                }
                existing.id
            }
            (Some(existing), None) => existing.id,
            (None, name) => {
                let name = name.clone().unwrap_or_else(|| changed.external_id.clone());
                let data = group_data(&changed.external_id, &name, changed.attributes.as_ref().unwrap_or(&Map::new()))
                    .map_err(StoreError::Rejected)?;
                summary.groups_created += 1;
                db.create(source.id, ResourceKind::Group, data, Vec::new()).await?.id
            }
        };
        let load = Load { members: true, groups: false, member_limit: None };
        let have: BTreeSet<String> = match &changed.members {
            MemberChanges::Same => continue,
            _ => db
                .get(source.id, ResourceKind::Group, &group_id, load)
                .await?
                .and_then(|g| g.members)
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.id)
                .collect(),
        };
        let (join, leave, whole) = match changed.members {
            MemberChanges::Same => continue,
            MemberChanges::All(list) => (list, Vec::new(), true),
            MemberChanges::Delta { added, removed } => (added, removed, false),
        };
        let mut wanted = BTreeSet::new();
        let mut add = Vec::new();
        for external_id in &join {
            if let Some(member) = resolve(db, source, external_id).await? {
                wanted.insert(member.value.clone());
                if !have.contains(&member.value) {
                    add.push(member);
                }
            }
        }
        let mut remove: Vec<String> = Vec::new();
        if whole {
            remove.extend(have.iter().filter(|id| !wanted.contains(*id)).cloned());
        } else {
            for external_id in &leave {
                if let Some(member) = resolve(db, source, external_id).await?
                    && have.contains(&member.value)
                {
                    remove.push(member.value);
                }
            }
        }
        if add.is_empty() && remove.is_empty() {
            continue;
        }
        let mut writes = Vec::new();
        if !add.is_empty() {
            writes.push(MemberChange::Add(add));
        }
        if !remove.is_empty() {
            writes.push(MemberChange::Remove(remove));
        }
        let mutation: store::Mutation = Box::new(move |_| Ok(writes.clone()));
        db.update(source.id, ResourceKind::Group, &group_id, None, mutation, Load::default()).await?;
        summary.groups_updated += 1;
    }
    // Users whose direct groups are known: joined and left to match.
    for (external_id, wanted_groups) in &changes.memberships {
        let Some(user) = by_external_id(db, source, ResourceKind::User, external_id).await? else { continue };
        let current: BTreeSet<String> = user.groups.unwrap_or_default().into_iter().map(|g| g.id).collect();
        let mut wanted = BTreeSet::new();
        for group in wanted_groups {
            if let Some(g) = by_external_id(db, source, ResourceKind::Group, group).await? {
                wanted.insert(g.id);
            }
        }
        for group_id in wanted.difference(&current) {
            let member = MemberRef { value: user.id.clone(), kind: Some("User".into()), display: None };
            let mutation: store::Mutation = Box::new(move |_| Ok(vec![MemberChange::Add(vec![member.clone()])]));
            db.update(source.id, ResourceKind::Group, group_id, None, mutation, Load::default()).await?;
            summary.groups_updated += 1;
        }
        for group_id in current.difference(&wanted) {
            let user_id = user.id.clone();
            let mutation: store::Mutation = Box::new(move |_| Ok(vec![MemberChange::Remove(vec![user_id.clone()])]));
            db.update(source.id, ResourceKind::Group, group_id, None, mutation, Load::default()).await?;
            summary.groups_updated += 1;
        }
    }
    // Deletions the provider reported are facts, not inferences from absence: applied even when
    // a later page failed.
    for external_id in &changes.removed_groups {
        if delete(db, source, ResourceKind::Group, external_id).await? {
            summary.groups_deleted += 1;
        }
    }
    for external_id in &changes.removed_users {
        if delete(db, source, ResourceKind::User, external_id).await? {
            summary.users_deleted += 1;
        }
    }
    if changes.scope.is_some() || changes.group_scope.is_some() {
        if !summary.complete {
            summary.problems.push("the read was incomplete, so nobody left the scope in this run".into());
            return Ok(summary);
        }
        for (kind, scope) in [(ResourceKind::User, changes.scope), (ResourceKind::Group, changes.group_scope)] {
            let Some(scope) = scope else { continue };
            let scope: BTreeSet<String> = scope.into_iter().collect();
            for (id, external_id) in stored_ids(db, source, kind).await? {
                if !scope.contains(&external_id) {
                    db.delete(source.id, kind, &id, None).await?;
                    match kind {
                        ResourceKind::User => summary.users_deleted += 1,
                        ResourceKind::Group => summary.groups_deleted += 1,
                    }
                }
            }
        }
    }
    Ok(summary)
}

/// Store id and external id of every user (or group) of the source.
async fn stored_ids(db: &dyn Store, source: &Source, kind: ResourceKind) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    each_pulled(db, source, kind, Load::default(), |ext, r| out.push((r.id, ext))).await?;
    Ok(out)
}

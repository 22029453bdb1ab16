//! Users, groups, memberships and the change journal.

use model::patch::MemberChange;
use model::resource::MemberRef;
use model::{ResourceKind, ScimError};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use rusqlite::types::Value as SqlValue;

use super::filter_sql::{Arg, sort_expr, translate, translate_members};
use super::reader;
use super::{SqliteStore, is_unique_violation, now};
use crate::{
    Change, ChangeKind, GroupRef, ListPage, ListQuery, Load, Member, Mutation, SourceId, StoreError, StoredResource,
};

const COLUMNS: &str = "r.pk, r.id, r.kind, r.data, r.created, r.last_modified, r.version";
/// A user's groups as one JSON column, so reading users needs no second query. CROSS JOIN keeps
/// SQLite from starting at the groups and probing each of them.
const GROUPS_COLUMN: &str = "(SELECT json_group_array(json_array(g.id, g.name)) FROM memberships m \
    CROSS JOIN resources g ON g.pk = m.group_pk WHERE m.member_id = r.id AND g.source_id = r.source_id)";

fn columns(groups: bool) -> String {
    format!("{COLUMNS}, {}", if groups { GROUPS_COLUMN } else { "NULL" })
}

/// Members are read in pages of this size so a huge group never needs one huge query.
const PAGE: i64 = 5000;

fn kind_from(s: &str) -> ResourceKind {
    if s == "Group" { ResourceKind::Group } else { ResourceKind::User }
}

/// The columns of `columns()`, as read by either driver.
struct RawRow {
    pk: i64,
    id: String,
    kind: String,
    data: String,
    created: String,
    last_modified: String,
    version: i64,
    groups: Option<String>,
}

fn raw_from_sqlx(row: &SqliteRow) -> Result<RawRow, StoreError> {
    Ok(RawRow {
        pk: row.try_get(0)?,
        id: row.try_get(1)?,
        kind: row.try_get(2)?,
        data: row.try_get(3)?,
        created: row.try_get(4)?,
        last_modified: row.try_get(5)?,
        version: row.try_get(6)?,
        groups: row.try_get(7)?,
    })
}

fn raw_from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        pk: row.get(0)?,
        id: row.get(1)?,
        kind: row.get(2)?,
        data: row.get(3)?,
        created: row.get(4)?,
        last_modified: row.get(5)?,
        version: row.get(6)?,
        groups: row.get(7)?,
    })
}

fn resource_from(raw: RawRow) -> Result<(i64, StoredResource), StoreError> {
    let data: Map<String, Value> = serde_json::from_str(&raw.data)
        .map_err(|e| StoreError::Database(format!("stored resource is not JSON: {e}")))?;
    let groups = match raw.groups {
        None => None,
        Some(json) => {
            let pairs: Vec<(String, String)> = serde_json::from_str(&json)
                .map_err(|e| StoreError::Database(format!("group list is not JSON: {e}")))?;
            Some(pairs.into_iter().map(|(id, display)| GroupRef { id, display }).collect())
        }
    };
    Ok((
        raw.pk,
        StoredResource {
            id: raw.id,
            kind: kind_from(&raw.kind),
            data,
            created: raw.created,
            last_modified: raw.last_modified,
            version: raw.version as u64,
            members: None,
            groups,
        },
    ))
}

fn row_to_resource(row: &SqliteRow) -> Result<(i64, StoredResource), StoreError> {
    resource_from(raw_from_sqlx(row)?)
}

/// The name a resource is unique and indexed by: userName for users, displayName for groups.
fn name_of(kind: ResourceKind, data: &Map<String, Value>) -> Result<String, StoreError> {
    let attr = if kind == ResourceKind::User { "userName" } else { "displayName" };
    data.get(attr)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StoreError::Rejected(ScimError::invalid_value(format!("'{attr}' is required"))))
}

fn external_id(data: &Map<String, Value>) -> Option<String> {
    data.get("externalId").and_then(Value::as_str).map(str::to_string)
}

fn taken(kind: ResourceKind, name: &str) -> StoreError {
    StoreError::Conflict(format!("a {} with userName '{name}' already exists in this source", kind.as_str()))
}

fn missing(kind: ResourceKind, id: &str) -> StoreError {
    StoreError::not_found(format!("{} '{id}' not found", kind.as_str()))
}

fn bind_args<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
            Arg::Real(f) => q.bind(*f),
        };
    }
    q
}

/// Inserts memberships. A member that names an existing resource must be of the type the client
/// says; ids that name nothing are kept as sent, as SCIM allows.
async fn add_members(
    conn: &mut SqliteConnection,
    source: SourceId,
    group_pk: i64,
    group_id: &str,
    members: &[MemberRef],
) -> Result<u64, StoreError> {
    let mut added = 0;
    for m in members {
        if m.value == group_id {
            return Err(StoreError::Rejected(ScimError::invalid_value("a group cannot be a member of itself")));
        }
        if let Some(want) = &m.kind {
            let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM resources WHERE source_id = ? AND id = ?")
                .bind(source.0)
                .bind(&m.value)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(kind) = kind.filter(|k| k != want) {
                return Err(StoreError::Rejected(ScimError::invalid_value(format!(
                    "member '{}' is a {kind}, not a {want}",
                    m.value
                ))));
            }
        }
        added += sqlx::query("INSERT OR IGNORE INTO memberships (group_pk, member_id, display) VALUES (?, ?, ?)")
            .bind(group_pk)
            .bind(&m.value)
            .bind(m.display.as_deref())
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(added)
}

async fn apply_member_changes(
    conn: &mut SqliteConnection,
    source: SourceId,
    group_pk: i64,
    group_id: &str,
    changes: &[MemberChange],
) -> Result<u64, StoreError> {
    let mut affected = 0;
    for change in changes {
        affected += match change {
            MemberChange::Add(members) => add_members(conn, source, group_pk, group_id, members).await?,
            MemberChange::RemoveAll => sqlx::query("DELETE FROM memberships WHERE group_pk = ?")
                .bind(group_pk)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            MemberChange::Remove(ids) => {
                let mut n = 0;
                for id in ids {
                    n += sqlx::query("DELETE FROM memberships WHERE group_pk = ? AND member_id = ?")
                        .bind(group_pk)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                }
                n
            }
            MemberChange::RemoveMatching(filter) => {
                let f = translate_members(filter).map_err(StoreError::Rejected)?;
                let sql = format!(
                    "DELETE FROM memberships WHERE group_pk = ? AND member_id IN \
                     (SELECT m.member_id FROM memberships m LEFT JOIN resources mr ON mr.source_id = ? AND mr.id = m.member_id \
                     WHERE m.group_pk = ? AND {})",
                    f.sql
                );
                let q =
                    bind_args(sqlx::query(AssertSqlSafe(sql)).bind(group_pk).bind(source.0).bind(group_pk), &f.args);
                q.execute(&mut *conn).await?.rows_affected()
            }
        };
    }
    Ok(affected)
}

const MEMBER_SELECT: &str = "SELECT m.member_id, mr.kind, m.display \
    FROM memberships m LEFT JOIN resources mr ON mr.source_id = ? AND mr.id = m.member_id \
    WHERE m.group_pk = ? AND m.member_id > ? ORDER BY m.member_id LIMIT ?";

fn member_from(row: &SqliteRow) -> Result<Member, StoreError> {
    let kind: Option<String> = row.try_get(1)?;
    Ok(Member { id: row.try_get(0)?, kind: kind.as_deref().map(kind_from), display: row.try_get(2)? })
}

async fn member_page(
    conn: &mut SqliteConnection,
    source: SourceId,
    group_pk: i64,
    after: &str,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    let rows =
        sqlx::query(MEMBER_SELECT).bind(source.0).bind(group_pk).bind(after).bind(limit).fetch_all(&mut *conn).await?;
    rows.iter().map(member_from).collect()
}

/// All members, read a page at a time; None when there are more than `limit`.
async fn load_members(
    conn: &mut SqliteConnection,
    source: SourceId,
    group_pk: i64,
    limit: Option<u64>,
) -> Result<Option<Vec<Member>>, StoreError> {
    if let Some(limit) = limit {
        let beyond = sqlx::query("SELECT 1 FROM memberships WHERE group_pk = ? LIMIT 1 OFFSET ?")
            .bind(group_pk)
            .bind(limit as i64)
            .fetch_optional(&mut *conn)
            .await?;
        if beyond.is_some() {
            return Ok(None);
        }
    }
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(String::new(), |m: &Member| m.id.clone());
        let page = member_page(conn, source, group_pk, &after, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        out.extend(page);
        if !full {
            return Ok(Some(out));
        }
    }
}

async fn fill(
    conn: &mut SqliteConnection,
    source: SourceId,
    items: &mut [(i64, StoredResource)],
    load: Load,
) -> Result<(), StoreError> {
    if load.members {
        for (pk, r) in items.iter_mut().filter(|(_, r)| r.kind == ResourceKind::Group) {
            r.members = load_members(conn, source, *pk, load.member_limit).await?;
        }
    }
    Ok(())
}

/// One resource with its primary key; `groups` adds the user's groups column.
async fn fetch(
    conn: &mut SqliteConnection,
    source: SourceId,
    kind: ResourceKind,
    id: &str,
    groups: bool,
) -> Result<Option<(i64, StoredResource)>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM resources r WHERE r.source_id = ? AND r.kind = ? AND r.id = ?",
        columns(groups)
    )))
    .bind(source.0)
    .bind(kind.as_str())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(row_to_resource).transpose()
}

fn check_version(found: &StoredResource, if_match: Option<u64>) -> Result<(), StoreError> {
    match if_match {
        Some(expected) if expected != found.version => Err(StoreError::VersionMismatch { current: found.version }),
        _ => Ok(()),
    }
}

/// Writes new data if the row is still at `version`; returns whether it was.
async fn write_data(
    conn: &mut SqliteConnection,
    pk: i64,
    version: u64,
    kind: ResourceKind,
    data: &Map<String, Value>,
    at: &str,
) -> Result<bool, StoreError> {
    let name = name_of(kind, data)?;
    let json = serde_json::to_string(data).map_err(|e| StoreError::Database(e.to_string()))?;
    let result = sqlx::query(
        "UPDATE resources SET data = ?, name = ?, name_folded = ?, external_id = ?, last_modified = ?, \
         version = version + 1 WHERE pk = ? AND version = ?",
    )
    .bind(json)
    .bind(&name)
    .bind(model::resource::unique_form(&name))
    .bind(external_id(data))
    .bind(at)
    .bind(pk)
    .bind(version as i64)
    .execute(conn)
    .await;
    match result {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(e) if is_unique_violation(&e) => Err(taken(kind, &name)),
        Err(e) => Err(e.into()),
    }
}

async fn insert(
    conn: &mut SqliteConnection,
    source: SourceId,
    r: &StoredResource,
    name: &str,
    json: String,
) -> Result<i64, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO resources (source_id, kind, id, name, name_folded, external_id, data, created, last_modified, version) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING pk",
    )
    .bind(source.0)
    .bind(r.kind.as_str())
    .bind(&r.id)
    .bind(name)
    .bind(model::resource::unique_form(name))
    .bind(external_id(&r.data))
    .bind(json)
    .bind(&r.created)
    .bind(&r.last_modified)
    .fetch_one(conn)
    .await;
    match inserted {
        Ok(row) => Ok(row.try_get(0)?),
        Err(e) if is_unique_violation(&e) => Err(taken(r.kind, name)),
        Err(e) => Err(e.into()),
    }
}

/// Tries without a transaction this many times before falling back to one.
const OPTIMISTIC_ATTEMPTS: usize = 3;

impl SqliteStore {
    pub(super) async fn create_impl(
        &self,
        source: SourceId,
        kind: ResourceKind,
        data: Map<String, Value>,
        members: Vec<MemberRef>,
    ) -> Result<StoredResource, StoreError> {
        let name = name_of(kind, &data)?;
        let json = serde_json::to_string(&data).map_err(|e| StoreError::Database(e.to_string()))?;
        // Time-ordered ids keep the id index appending at its end instead of touching a random page.
        let id = uuid::Uuid::now_v7().to_string();
        let at = now().to_string();
        // A lone INSERT commits on its own (its triggers write the journal in the same commit);
        // members need a transaction around it.
        let mut stored = StoredResource {
            id,
            kind,
            data,
            created: at.clone(),
            last_modified: at,
            version: 1,
            members: None,
            groups: None,
        };
        if members.is_empty() {
            insert(&mut *self.write.acquire().await?, source, &stored, &name, json).await?;
            if kind == ResourceKind::Group {
                stored.members = Some(Vec::new());
            }
            return Ok(stored);
        }
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let pk = insert(&mut tx, source, &stored, &name, json).await?;
        add_members(&mut tx, source, pk, &stored.id, &members).await?;
        stored.members = load_members(&mut tx, source, pk, None).await?;
        tx.commit().await?;
        Ok(stored)
    }
    /// One resource, read on this thread's connection (see `reader`).
    fn read_one(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        groups: bool,
    ) -> Result<Option<(i64, StoredResource)>, StoreError> {
        let sql =
            format!("SELECT {} FROM resources r WHERE r.source_id = ? AND r.kind = ? AND r.id = ?", columns(groups));
        let raw = reader::read(&self.path, |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query_map(rusqlite::params![source.0, kind.as_str(), id], raw_from_rusqlite)?;
            rows.next().transpose()
        })?;
        raw.map(resource_from).transpose()
    }

    /// Members are paged through the sqlx reader; only groups asked for with members need it.
    async fn load_members_if_asked(
        &self,
        source: SourceId,
        items: &mut [(i64, StoredResource)],
        load: Load,
    ) -> Result<(), StoreError> {
        if load.members && items.iter().any(|(_, r)| r.kind == ResourceKind::Group) {
            fill(&mut *self.read.acquire().await?, source, items, load).await?;
        }
        Ok(())
    }

    pub(super) async fn get_impl(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        let Some(found) = self.read_one(source, kind, id, load.groups)? else { return Ok(None) };
        let mut items = [found];
        self.load_members_if_asked(source, &mut items, load).await?;
        let [(_, r)] = items;
        Ok(Some(r))
    }

    /// Changes a resource. Without membership changes: read, apply, then one conditional UPDATE
    /// that commits on its own, retried when another write got there first. With membership
    /// changes, or after repeated collisions: all of it inside one write transaction.
    pub(super) async fn update_impl(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        if_match: Option<u64>,
        mutation: Mutation,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let (pk, current) = self.read_one(source, kind, id, load.groups)?.ok_or_else(|| missing(kind, id))?;
            check_version(&current, if_match)?;
            let mut data = current.data.clone();
            let member_changes = mutation(&mut data).map_err(StoreError::Rejected)?;
            if !member_changes.is_empty() {
                break;
            }
            if data == current.data {
                let mut items = [(pk, current)];
                self.load_members_if_asked(source, &mut items, load).await?;
                let [(_, r)] = items;
                return Ok(r);
            }
            let at = now().to_string();
            let mut write = self.write.acquire().await?;
            if write_data(&mut write, pk, current.version, kind, &data, &at).await? {
                drop(write);
                let mut items =
                    [(pk, StoredResource { data, last_modified: at, version: current.version + 1, ..current })];
                self.load_members_if_asked(source, &mut items, load).await?;
                let [(_, r)] = items;
                return Ok(r);
            }
        }
        let at = now().to_string();
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let (pk, current) = fetch(&mut tx, source, kind, id, false).await?.ok_or_else(|| missing(kind, id))?;
        check_version(&current, if_match)?;
        let mut data = current.data.clone();
        let member_changes = mutation(&mut data).map_err(StoreError::Rejected)?;
        let data_changed = data != current.data;
        if data_changed {
            write_data(&mut tx, pk, current.version, kind, &data, &at).await?;
        }
        let members_changed = apply_member_changes(&mut tx, source, pk, id, &member_changes).await? > 0;
        if members_changed && !data_changed {
            sqlx::query("UPDATE resources SET last_modified = ?, version = version + 1 WHERE pk = ?")
                .bind(&at)
                .bind(pk)
                .execute(&mut *tx)
                .await?;
        }
        let mut items = [fetch(&mut tx, source, kind, id, load.groups).await?.ok_or_else(|| missing(kind, id))?];
        fill(&mut tx, source, &mut items, load).await?;
        tx.commit().await?;
        let [(_, stored)] = items;
        Ok(stored)
    }

    /// One DELETE; triggers drop the memberships that name the resource, bump the groups that
    /// held it and write the journal, all in the same commit.
    pub(super) async fn delete_impl(
        &self,
        source: SourceId,
        kind: ResourceKind,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<(), StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM resources WHERE source_id = ? AND kind = ? AND id = ? AND (?4 IS NULL OR version = ?4)",
        )
        .bind(source.0)
        .bind(kind.as_str())
        .bind(id)
        .bind(if_match.map(|v| v as i64))
        .execute(&self.write)
        .await?
        .rows_affected();
        if deleted == 1 {
            return Ok(());
        }
        match self.read_one(source, kind, id, false)? {
            Some((_, found)) => Err(StoreError::VersionMismatch { current: found.version }),
            None => Err(missing(kind, id)),
        }
    }

    pub(super) async fn list_impl(
        &self,
        source: SourceId,
        kind: ResourceKind,
        query: &ListQuery<'_>,
    ) -> Result<ListPage, StoreError> {
        let (where_sql, args) = match query.filter {
            Some(f) => {
                let t = translate(f, kind).map_err(StoreError::Rejected)?;
                (format!(" AND {}", t.sql), t.args)
            }
            None => (String::new(), Vec::new()),
        };
        let base = format!("FROM resources r WHERE r.source_id = ? AND r.kind = ?{where_sql}");
        let order = match query.sort_by {
            Some(p) => {
                let dir = if query.descending { "DESC" } else { "ASC" };
                let e = sort_expr(p, kind);
                format!("({e}) IS NULL, {e} {dir}, r.pk")
            }
            None => "r.pk".into(),
        };
        let offset = query.start_index.saturating_sub(1);
        let head = || [SqlValue::Integer(source.0), SqlValue::Text(kind.as_str().into())];
        let page_sql = format!("SELECT {} {base} ORDER BY {order} LIMIT ? OFFSET ?", columns(query.load.groups));
        let count_sql = format!("SELECT COUNT(*) {base}");
        let (raws, total) = reader::read(&self.path, |c| {
            let mut raws = Vec::new();
            if query.count > 0 {
                let mut values = reader::params(head(), &args);
                values.extend([SqlValue::Integer(query.count as i64), SqlValue::Integer(offset as i64)]);
                let mut stmt = c.prepare_cached(&page_sql)?;
                for raw in stmt.query_map(rusqlite::params_from_iter(values), raw_from_rusqlite)? {
                    raws.push(raw?);
                }
            }
            // A short first page already tells the total; counting costs a second pass.
            let total: i64 = if offset == 0 && (raws.len() as u64) < query.count {
                raws.len() as i64
            } else if query.filter.is_none() {
                let mut stmt = c.prepare_cached("SELECT n FROM resource_counts WHERE source_id = ? AND kind = ?")?;
                stmt.query_map(rusqlite::params![source.0, kind.as_str()], |r| r.get(0))?
                    .next()
                    .transpose()?
                    .unwrap_or(0)
            } else {
                let mut stmt = c.prepare_cached(&count_sql)?;
                stmt.query_row(rusqlite::params_from_iter(reader::params(head(), &args)), |r| r.get(0))?
            };
            Ok((raws, total))
        })?;
        let mut items = raws.into_iter().map(resource_from).collect::<Result<Vec<_>, _>>()?;
        self.load_members_if_asked(source, &mut items, query.load).await?;
        Ok(ListPage { total: total as u64, items: items.into_iter().map(|(_, r)| r).collect() })
    }

    pub(super) async fn changes_since_impl(&self, after: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, source_id, kind, resource_id, change, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                Ok(Change {
                    seq: r.try_get(0)?,
                    source: SourceId(r.try_get(1)?),
                    kind: match kind.as_str() {
                        "User" => ChangeKind::User,
                        "Group" => ChangeKind::Group,
                        _ => ChangeKind::Member,
                    },
                    resource_id: r.try_get(3)?,
                    change: r.try_get(4)?,
                    at: r.try_get(5)?,
                })
            })
            .collect()
    }
}

//! The SCIM operations themselves, shared by the HTTP handlers and `/Bulk`.

use model::filter::Filter;
use model::patch::{self, MemberChange};
use model::resource::{Projection, normalize};
use model::schema::{LIST_RESPONSE, ResourceTypeDef};
use model::{ResourceKind, ScimError};
use serde_json::{Value, json};
use store::{ListQuery, Load, StoredResource};

use crate::ScimState;
use crate::auth::SourceCtx;
use crate::error::store_error;
use crate::render::{location, render};
use crate::request::projection;

pub struct Ctx<'a> {
    pub state: &'a ScimState,
    pub source: &'a SourceCtx,
    /// `http://host/scim/v2/<source>`, for `meta.location` and `$ref`.
    pub base: String,
}

/// A resource as it goes back to the client.
pub struct Rendered {
    pub body: Value,
    pub version: u64,
    pub location: String,
}

fn load_for(kind: ResourceKind, proj: &Projection) -> Load {
    Load {
        members: kind == ResourceKind::Group && proj.wants("members"),
        groups: kind == ResourceKind::User && proj.wants("groups"),
        member_limit: None,
    }
}

impl<'a> Ctx<'a> {
    pub fn new(state: &'a ScimState, source: &'a SourceCtx, headers: &axum::http::HeaderMap) -> Self {
        Ctx { base: crate::handlers::base_url(state, headers, &source.name), state, source }
    }

    fn rendered(&self, r: &StoredResource, proj: &Projection) -> Rendered {
        Rendered {
            body: render(r, &self.base, proj),
            version: r.version,
            location: location(&self.base, r.kind, &r.id),
        }
    }

    pub async fn create(&self, kind: ResourceKind, body: Value, proj: &Projection) -> Result<Rendered, ScimError> {
        let n = normalize(body, kind.definition())?;
        let r = self
            .state
            .store
            .create(self.source.id, kind, n.data, n.members.unwrap_or_default())
            .await
            .map_err(store_error)?;
        Ok(self.rendered(&r, proj))
    }

    pub async fn get(&self, kind: ResourceKind, id: &str, proj: &Projection) -> Result<Rendered, ScimError> {
        let r = self.state.store.get(self.source.id, kind, id, load_for(kind, proj)).await.map_err(store_error)?;
        let r = r.ok_or_else(|| ScimError::not_found(format!("{} '{id}' not found", kind.as_str())))?;
        Ok(self.rendered(&r, proj))
    }

    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<u64>,
        body: Value,
        proj: &Projection,
    ) -> Result<Rendered, ScimError> {
        let n = normalize(body, kind.definition())?;
        let data = n.data;
        // PUT replaces the whole resource, so a group sent without members ends up with none.
        let members = if kind == ResourceKind::Group {
            vec![MemberChange::RemoveAll, MemberChange::Add(n.members.unwrap_or_default())]
        } else {
            Default::default()
        };
        let mutation: store::Mutation = Box::new(move |current| {
            current.clone_from(&data);
            Ok(members.clone())
        });
        let r = self
            .state
            .store
            .update(self.source.id, kind, id, if_match, mutation, load_for(kind, proj))
            .await
            .map_err(store_error)?;
        Ok(self.rendered(&r, proj))
    }

    /// Applies a PATCH. `Err(version)` in the result means "done, but no body": the client asked
    /// for no particular attributes and the group has more members than a response should carry.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<u64>,
        body: &Value,
        proj: &Projection,
    ) -> Result<Result<Rendered, u64>, ScimError> {
        let rt: &'static ResourceTypeDef = kind.definition();
        let ops = patch::parse_request(body, rt, self.state.config.filter_limits)?;
        let mutation: store::Mutation = Box::new(move |data| patch::apply(data, &ops, rt));
        let mut load = load_for(kind, proj);
        let may_omit = kind == ResourceKind::Group && proj.is_default();
        if may_omit {
            load.member_limit = Some(self.state.config.patch_response_member_limit);
        }
        let r =
            self.state.store.update(self.source.id, kind, id, if_match, mutation, load).await.map_err(store_error)?;
        if may_omit && r.members.is_none() {
            return Ok(Err(r.version));
        }
        Ok(Ok(self.rendered(&r, proj)))
    }

    pub async fn delete(&self, kind: ResourceKind, id: &str, if_match: Option<u64>) -> Result<(), ScimError> {
        self.state.store.delete(self.source.id, kind, id, if_match).await.map_err(store_error)
    }

    fn page_bounds(&self, req: &ListRequest) -> Result<(bool, u64, u64), ScimError> {
        let descending = match req.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{other}'"
                )));
            }
        };
        let start_index = req.start_index.unwrap_or(1).max(1) as u64;
        let count =
            req.count.unwrap_or(self.state.config.default_count as i64).clamp(0, self.state.config.max_count as i64)
                as u64;
        Ok((descending, start_index, count))
    }

    /// One page of one resource type: (total, rendered resources).
    async fn page(
        &self,
        kind: ResourceKind,
        filter: Option<&Filter>,
        req: &ListRequest,
        descending: bool,
        (start_index, count): (u64, u64),
    ) -> Result<(u64, Vec<Value>), ScimError> {
        let rt = kind.definition();
        let sort_by = match req.sort_by.as_deref() {
            Some(s) => {
                let path = model::path::resolve(s, rt).map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?;
                if path.is_never_returned() {
                    return Err(ScimError::invalid_filter(format!(
                        "sortBy: '{path}' is never returned, so it cannot be sorted on"
                    )));
                }
                Some(path)
            }
            None => None,
        };
        let proj = projection(req.attributes.as_deref(), req.excluded.as_deref(), rt);
        let query = ListQuery {
            filter,
            sort_by: sort_by.as_ref(),
            descending,
            start_index,
            count,
            load: load_for(kind, &proj),
        };
        let page = self.state.store.list(self.source.id, kind, &query).await.map_err(store_error)?;
        Ok((page.total, page.items.iter().map(|r| render(r, &self.base, &proj)).collect()))
    }

    pub async fn list(&self, kind: ResourceKind, req: ListRequest) -> Result<Value, ScimError> {
        let filter = req
            .filter
            .as_deref()
            .map(|f| Filter::parse(f, kind.definition(), self.state.config.filter_limits))
            .transpose()?;
        let (descending, start_index, count) = self.page_bounds(&req)?;
        let (total, resources) = self.page(kind, filter.as_ref(), &req, descending, (start_index, count)).await?;
        Ok(list_response(total, start_index, resources))
    }

    /// `POST /.search` at the root: users, then groups, paged as one list. A filter that names an
    /// attribute only one type has selects from that type only.
    pub async fn search_all(&self, req: ListRequest) -> Result<Value, ScimError> {
        let limits = self.state.config.filter_limits;
        let kinds = [ResourceKind::User, ResourceKind::Group];
        let mut filters = Vec::new();
        let mut first_error = None;
        for kind in kinds {
            match req.filter.as_deref().map(|f| Filter::parse(f, kind.definition(), limits)).transpose() {
                Ok(f) => filters.push((kind, f)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if filters.is_empty() {
            return Err(first_error.unwrap_or_else(|| ScimError::invalid_filter("the filter fits no resource type")));
        }
        let (descending, start_index, count) = self.page_bounds(&req)?;
        let mut total = 0;
        let mut resources = Vec::new();
        for (kind, filter) in &filters {
            let local_start = start_index.saturating_sub(total).max(1);
            let want = count.saturating_sub(resources.len() as u64);
            let (t, items) = self.page(*kind, filter.as_ref(), &req, descending, (local_start, want)).await?;
            total += t;
            resources.extend(items);
        }
        Ok(list_response(total, start_index, resources))
    }
}

fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// List parameters from a query string or a `.search` body.
pub struct ListRequest {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded: Option<String>,
}

/// Reads an integer parameter; SCIM clients send `count=abc` too, which is a clear 400.
pub fn int_param(name: &str, v: Option<&str>) -> Result<Option<i64>, ScimError> {
    v.map(|s| {
        s.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer, not '{s}'")))
    })
    .transpose()
}

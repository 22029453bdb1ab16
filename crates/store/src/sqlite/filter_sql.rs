//! SCIM filters as SQLite WHERE clauses over the `resources` table (alias `r`), with the same
//! semantics as `model::eval`: multi-valued attributes match when any value does, `ne` is the
//! negation of `eq`, strings compare case-insensitively unless the attribute is caseExact.

use model::filter::{CmpOp, Filter};
use model::path::{AttrPath, Namespace};
use model::schema::AttrType;
use model::time::{format_rfc3339_millis, parse_rfc3339};
use model::{ResourceKind, ScimError};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
    Real(f64),
}

pub struct SqlFilter {
    pub sql: String,
    pub args: Vec<Arg>,
}

/// Where a compared value comes from.
enum Source {
    /// A plain SQL expression yielding one value per row.
    Scalar { expr: String, folded: Option<String> },
    /// A set of values: `EXISTS (SELECT 1 FROM {from} WHERE {leaf} …)`.
    Set { from: String, leaf: String },
}

fn json_path(segments: &[&str]) -> String {
    let mut p = String::from("$");
    for s in segments {
        p.push_str(".\"");
        p.push_str(s);
        p.push('"');
    }
    p
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ns_segments(path: &AttrPath) -> Vec<&str> {
    let mut segs = Vec::new();
    match &path.ns {
        Namespace::Core => {}
        Namespace::Extension(urn) => segs.push(*urn),
        Namespace::Unregistered(urn) => segs.push(urn.as_str()),
    }
    segs.push(path.attr.as_str());
    segs
}

fn member_leaf(sub: Option<&str>) -> String {
    match sub {
        None | Some("value") => "m.member_id".into(),
        Some("type") => "mr.kind".into(),
        Some("display") => "m.display".into(),
        Some(_) => "NULL".into(),
    }
}

fn group_leaf(sub: Option<&str>) -> String {
    match sub {
        None | Some("value") => "gr.id".into(),
        Some("display") => "gr.name".into(),
        Some("type") => "'direct'".into(),
        Some(_) => "NULL".into(),
    }
}

const MEMBERS_FROM: &str = "memberships m LEFT JOIN resources mr ON mr.source_id = r.source_id AND mr.id = m.member_id WHERE m.group_pk = r.pk";
const GROUPS_FROM: &str = "memberships m CROSS JOIN resources gr ON gr.pk = m.group_pk WHERE m.member_id = r.id AND gr.source_id = r.source_id";

fn source_of(path: &AttrPath, kind: ResourceKind) -> Source {
    let sub = path.sub.as_deref();
    if path.ns == Namespace::Core {
        let column = match (path.attr.as_str(), sub) {
            ("id", _) => Some(("r.id".to_string(), None)),
            ("externalId", _) => Some(("r.external_id".to_string(), None)),
            ("meta", Some("created")) => Some(("r.created".into(), None)),
            ("meta", Some("lastModified")) => Some(("r.last_modified".into(), None)),
            ("meta", Some("resourceType")) => Some(("r.kind".into(), None)),
            ("meta", Some("version")) => Some(("('W/\"' || r.version || '\"')".into(), None)),
            ("meta", _) => Some(("NULL".into(), None)),
            ("userName", _) if kind == ResourceKind::User => Some(("r.name".into(), Some("r.name_folded".into()))),
            ("displayName", _) if kind == ResourceKind::Group => Some(("r.name".into(), Some("r.name_folded".into()))),
            ("members", _) if kind == ResourceKind::Group => {
                return Source::Set { from: MEMBERS_FROM.into(), leaf: member_leaf(sub) };
            }
            ("groups", _) if kind == ResourceKind::User => {
                return Source::Set { from: GROUPS_FROM.into(), leaf: group_leaf(sub) };
            }
            _ => None,
        };
        if let Some((expr, folded)) = column {
            return Source::Scalar { expr, folded };
        }
    }
    let mut segs = ns_segments(path);
    if path.is_multi_valued() {
        let leaf = match sub {
            Some(s) => format!("json_extract(e.value, {})", sql_str(&json_path(&[s]))),
            None if path.def.is_some_and(|d| d.ty == AttrType::Complex) => {
                "json_extract(e.value, '$.\"value\"')".into()
            }
            None => "e.value".into(),
        };
        let from = format!("json_each(r.data, {}) e WHERE 1", sql_str(&json_path(&segs)));
        return Source::Set { from, leaf };
    }
    if let Some(s) = sub {
        segs.push(s);
    }
    Source::Scalar { expr: format!("json_extract(r.data, {})", sql_str(&json_path(&segs))), folded: None }
}

struct Builder {
    kind: ResourceKind,
    args: Vec<Arg>,
}

impl Builder {
    fn bind(&mut self, a: Arg) -> &'static str {
        self.args.push(a);
        "?"
    }

    /// `expr <op> literal` for one value; `folded` is a column already lower-cased in Rust.
    fn compare(
        &mut self,
        expr: &str,
        folded: Option<&str>,
        path: &AttrPath,
        op: CmpOp,
        value: &Value,
    ) -> Result<String, ScimError> {
        let ty = path.value_type();
        let cmp = |op: CmpOp| match op {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Co | CmpOp::Sw | CmpOp::Ew => "=",
        };
        match value {
            Value::Bool(b) => Ok(format!("{expr} {} {}", cmp(op), self.bind(Arg::Int(i64::from(*b))))),
            Value::Number(n) => {
                let arg = match n.as_i64() {
                    Some(i) => Arg::Int(i),
                    None => Arg::Real(n.as_f64().unwrap_or(0.0)),
                };
                Ok(format!("(typeof({expr}) IN ('integer','real') AND {expr} {} {})", cmp(op), self.bind(arg)))
            }
            Value::String(s) if ty == Some(AttrType::DateTime) && !op.is_substring() => {
                let t = parse_rfc3339(s)
                    .ok_or_else(|| ScimError::invalid_filter(format!("'{s}' is not an RFC 3339 timestamp")))?;
                Ok(format!("{expr} {} {}", cmp(op), self.bind(Arg::Text(format_rfc3339_millis(t)))))
            }
            Value::String(s) => {
                let (lhs, lit) = if path.case_exact() {
                    (expr.to_string(), s.clone())
                } else if let Some(f) = folded {
                    (f.to_string(), model::resource::unique_form(s))
                } else {
                    (format!("lower({expr})"), s.to_ascii_lowercase())
                };
                let typed = format!("typeof({expr}) = 'text'");
                Ok(match op {
                    CmpOp::Co => format!("({typed} AND instr({lhs}, {}) > 0)", self.bind(Arg::Text(lit))),
                    CmpOp::Sw => {
                        let n = lit.chars().count() as i64;
                        format!(
                            "({typed} AND substr({lhs}, 1, {}) = {})",
                            self.bind(Arg::Int(n)),
                            self.bind(Arg::Text(lit))
                        )
                    }
                    CmpOp::Ew if lit.is_empty() => format!("({typed})"),
                    CmpOp::Ew => {
                        let n = lit.chars().count() as i64;
                        format!(
                            "({typed} AND substr({lhs}, -{}) = {})",
                            self.bind(Arg::Int(n)),
                            self.bind(Arg::Text(lit))
                        )
                    }
                    _ => format!("({typed} AND {lhs} {} {})", cmp(op), self.bind(Arg::Text(lit))),
                })
            }
            Value::Null | Value::Array(_) | Value::Object(_) => {
                Err(ScimError::invalid_filter("cannot compare with this value"))
            }
        }
    }

    fn present(expr: &str) -> String {
        format!("({expr} IS NOT NULL AND {expr} <> '' AND {expr} <> '[]' AND {expr} <> '{{}}')")
    }

    /// Conditions may yield NULL where a value is missing; in WHERE, AND and OR NULL acts as false,
    /// so only NOT needs `IFNULL(…, 0)`. Leaving the rest bare lets SQLite use its indexes.
    fn filter(&mut self, f: &Filter) -> Result<String, ScimError> {
        Ok(match f {
            Filter::And(a, b) => format!("({} AND {})", self.filter(a)?, self.filter(b)?),
            Filter::Or(a, b) => format!("({} OR {})", self.filter(a)?, self.filter(b)?),
            Filter::Not(a) => format!("(NOT IFNULL({}, 0))", self.filter(a)?),
            Filter::Present(path) => match source_of(path, self.kind) {
                Source::Scalar { expr, .. } => Self::present(&expr),
                Source::Set { from, leaf } => {
                    format!("EXISTS (SELECT 1 FROM {from} AND {})", Self::present(&leaf))
                }
            },
            Filter::Compare { path, op, value } => {
                let any_eq = |b: &mut Builder, op: CmpOp| -> Result<String, ScimError> {
                    Ok(match source_of(path, b.kind) {
                        Source::Scalar { expr, .. } if value.is_null() => {
                            format!("({expr} IS NOT NULL)")
                        }
                        Source::Scalar { expr, folded } => b.compare(&expr, folded.as_deref(), path, op, value)?,
                        Source::Set { from, leaf } if value.is_null() => {
                            format!("EXISTS (SELECT 1 FROM {from} AND {leaf} IS NOT NULL)")
                        }
                        Source::Set { from, leaf } => {
                            format!("EXISTS (SELECT 1 FROM {from} AND {})", b.compare(&leaf, None, path, op, value)?)
                        }
                    })
                };
                match op {
                    CmpOp::Eq if value.is_null() => format!("(NOT IFNULL({}, 0))", any_eq(self, CmpOp::Eq)?),
                    CmpOp::Ne if value.is_null() => any_eq(self, CmpOp::Eq)?,
                    CmpOp::Ne => format!("(NOT IFNULL({}, 0))", any_eq(self, CmpOp::Eq)?),
                    _ => any_eq(self, *op)?,
                }
            }
            Filter::ValuePath { path, filter } => match source_of(path, self.kind) {
                Source::Set { from, .. } => {
                    let inner = self.element_filter(filter, path)?;
                    format!("EXISTS (SELECT 1 FROM {from} AND {inner})")
                }
                // A single-valued complex attribute: the inner paths already name its sub-attributes.
                Source::Scalar { .. } => self.filter(filter)?,
            },
        })
    }

    /// Inside `attr[…]`: each path is a sub-attribute of the element the EXISTS iterates over.
    fn element_filter(&mut self, f: &Filter, parent: &AttrPath) -> Result<String, ScimError> {
        let leaf = |p: &AttrPath, kind: ResourceKind| match (parent.ns == Namespace::Core, parent.attr.as_str(), kind) {
            (true, "members", ResourceKind::Group) => member_leaf(p.sub.as_deref()),
            (true, "groups", ResourceKind::User) => group_leaf(p.sub.as_deref()),
            _ => match p.sub.as_deref() {
                Some(s) => format!("json_extract(e.value, {})", sql_str(&json_path(&[s]))),
                None => "e.value".into(),
            },
        };
        Ok(match f {
            Filter::And(a, b) => {
                format!("({} AND {})", self.element_filter(a, parent)?, self.element_filter(b, parent)?)
            }
            Filter::Or(a, b) => format!("({} OR {})", self.element_filter(a, parent)?, self.element_filter(b, parent)?),
            Filter::Not(a) => format!("(NOT IFNULL({}, 0))", self.element_filter(a, parent)?),
            Filter::Present(p) => Self::present(&leaf(p, self.kind)),
            Filter::Compare { path, op, value } => {
                let expr = leaf(path, self.kind);
                let eq = |b: &mut Builder| -> Result<String, ScimError> {
                    Ok(if value.is_null() {
                        format!("({expr} IS NOT NULL)")
                    } else {
                        b.compare(&expr, None, path, CmpOp::Eq, value)?
                    })
                };
                match op {
                    CmpOp::Eq if value.is_null() => format!("(NOT IFNULL({}, 0))", eq(self)?),
                    CmpOp::Ne if value.is_null() => eq(self)?,
                    CmpOp::Ne => format!("(NOT IFNULL({}, 0))", eq(self)?),
                    _ => self.compare(&expr, None, path, *op, value)?,
                }
            }
            Filter::ValuePath { .. } => {
                return Err(ScimError::invalid_filter("value filters cannot be nested"));
            }
        })
    }
}

pub fn translate(filter: &Filter, kind: ResourceKind) -> Result<SqlFilter, ScimError> {
    let mut b = Builder { kind, args: Vec::new() };
    let sql = b.filter(filter)?;
    Ok(SqlFilter { sql, args: b.args })
}

/// A value filter on a group's members (`members[type eq "User"]`), as a condition on `mr`.
pub fn translate_members(filter: &Filter) -> Result<SqlFilter, ScimError> {
    let parent = model::path::resolve("members", &model::schema::GROUP_TYPE).map_err(ScimError::invalid_path)?;
    let mut b = Builder { kind: ResourceKind::Group, args: Vec::new() };
    let sql = b.element_filter(filter, &parent)?;
    Ok(SqlFilter { sql, args: b.args })
}

/// The ORDER BY expression for `sortBy`.
pub fn sort_expr(path: &AttrPath, kind: ResourceKind) -> String {
    match source_of(path, kind) {
        Source::Scalar { expr, folded } => match (path.case_exact(), folded) {
            (false, Some(f)) => f,
            (false, None) if path.value_type().is_none_or(|t| matches!(t, AttrType::String | AttrType::Reference)) => {
                format!("lower({expr})")
            }
            _ => expr,
        },
        Source::Set { from, leaf } => {
            let pick = if path.case_exact() { leaf } else { format!("lower({leaf})") };
            format!("(SELECT {pick} FROM {from} ORDER BY 1 LIMIT 1)")
        }
    }
}

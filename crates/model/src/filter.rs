//! The SCIM filter language of RFC 7644 §3.4.2.2: parser, canonical printer and type checks.
//! Evaluation lives in `eval`; translation to SQL lives with each store backend.

use std::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimResult};
use crate::path::{AttrPath, resolve};
use crate::schema::{AttrType, ResourceTypeDef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn parse(word: &str) -> Option<CmpOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "co" => CmpOp::Co,
            "sw" => CmpOp::Sw,
            "ew" => CmpOp::Ew,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Co => "co",
            CmpOp::Sw => "sw",
            CmpOp::Ew => "ew",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    pub fn is_ordering(self) -> bool {
        matches!(self, CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le)
    }

    pub fn is_substring(self) -> bool {
        matches!(self, CmpOp::Co | CmpOp::Sw | CmpOp::Ew)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `value` is a JSON string, number, boolean or null.
    Compare {
        path: AttrPath,
        op: CmpOp,
        value: Value,
    },
    Present(AttrPath),
    /// `emails[type eq "work"]`: the inner filter's paths are sub-attributes of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// Bounds that keep a hostile filter from costing more than a legitimate one.
#[derive(Debug, Clone, Copy)]
pub struct FilterLimits {
    pub max_length: usize,
    pub max_depth: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits { max_length: 4096, max_depth: 32 }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Literal(Value),
}

fn lex(input: &str) -> Result<Vec<(usize, Token)>, String> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((i, Token::Open));
                i += 1;
            }
            b')' => {
                out.push((i, Token::Close));
                i += 1;
            }
            b'[' => {
                out.push((i, Token::OpenBracket));
                i += 1;
            }
            b']' => {
                out.push((i, Token::CloseBracket));
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(format!("unterminated string starting at position {}", start + 1));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let raw = &input[start..i];
                let s: String = serde_json::from_str(raw).map_err(|_| format!("invalid string literal {raw}"))?;
                out.push((start, Token::Literal(Value::String(s))));
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b'[' | b']' | b'"')
                {
                    i += 1;
                }
                out.push((start, Token::Word(input[start..i].to_string())));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    rt: &'static ResourceTypeDef,
    limits: FilterLimits,
    input: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> String {
        match self.tokens.get(self.pos) {
            Some((p, _)) => format!("at position {}", p + 1),
            None => "at the end of the filter".to_string(),
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn err(&self, msg: impl fmt::Display) -> ScimError {
        ScimError::invalid_filter(format!("{msg} {} in filter '{}'", self.at(), self.input))
    }

    fn or(&mut self, depth: usize, parent: Option<&AttrPath>) -> ScimResult<Filter> {
        let mut left = self.and(depth, parent)?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and(depth, parent)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize, parent: Option<&AttrPath>) -> ScimResult<Filter> {
        let mut left = self.unary(depth, parent)?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.unary(depth, parent)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize, parent: Option<&AttrPath>) -> ScimResult<Filter> {
        if depth > self.limits.max_depth {
            return Err(self.err(format!("filter nests deeper than {} levels", self.limits.max_depth)));
        }
        if self.peek_keyword("not") && matches!(self.tokens.get(self.pos + 1), Some((_, Token::Open))) {
            self.pos += 1;
            let inner = self.unary(depth + 1, parent)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or(depth + 1, parent)?;
            if self.next() != Some(Token::Close) {
                self.pos -= 1;
                return Err(self.err("expected ')'"));
            }
            return Ok(inner);
        }
        self.atom(depth, parent)
    }

    fn atom(&mut self, depth: usize, parent: Option<&AttrPath>) -> ScimResult<Filter> {
        let name = match self.next() {
            Some(Token::Word(w)) => w,
            Some(_) => {
                self.pos -= 1;
                return Err(self.err("expected an attribute name"));
            }
            None => return Err(self.err("expected an attribute name")),
        };
        let path = match parent {
            Some(p) => p.child(&name),
            None => resolve(&name, self.rt),
        }
        .map_err(|e| {
            self.pos -= 1;
            self.err(e)
        })?;
        if path.is_never_returned() {
            self.pos -= 1;
            return Err(self.err(format!("'{path}' is never returned, so it cannot be filtered on")));
        }
        if self.peek() == Some(&Token::OpenBracket) {
            if parent.is_some() || path.sub.is_some() {
                return Err(self.err("a value filter '[...]' cannot be nested or follow a sub-attribute"));
            }
            if path.def.is_some_and(|d| d.ty != AttrType::Complex) {
                return Err(self.err(format!("'{path}' is not complex, so it cannot take a value filter")));
            }
            self.pos += 1;
            let inner = self.or(depth + 1, Some(&path))?;
            if self.next() != Some(Token::CloseBracket) {
                self.pos -= 1;
                return Err(self.err("expected ']'"));
            }
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        let op_word = match self.next() {
            Some(Token::Word(w)) => w,
            _ => {
                self.pos -= 1;
                return Err(self.err(format!("expected an operator after '{name}'")));
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CmpOp::parse(&op_word).ok_or_else(|| {
            self.pos -= 1;
            self.err(format!("unknown operator '{op_word}' (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)"))
        })?;
        let value = match self.next() {
            Some(Token::Literal(v)) => v,
            Some(Token::Word(w)) => parse_bare_literal(&w).ok_or_else(|| {
                self.pos -= 1;
                self.err(format!("'{w}' is not a value: quote strings, or use a number, true, false or null"))
            })?,
            _ => {
                self.pos -= 1;
                return Err(self.err(format!("expected a value after '{op_word}'")));
            }
        };
        check_comparison(&path, op, &value).map_err(|e| self.err(e))?;
        Ok(Filter::Compare { path, op, value })
    }
}

fn parse_bare_literal(word: &str) -> Option<Value> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ => serde_json::from_str::<serde_json::Number>(word).ok().map(Value::Number),
    }
}

fn check_comparison(path: &AttrPath, op: CmpOp, value: &Value) -> Result<(), String> {
    if path.def.is_some_and(|d| d.ty == AttrType::Complex) && path.value_def().is_none() {
        return Err(format!("'{path}' is complex: compare one of its sub-attributes"));
    }
    if value.is_null() {
        return if matches!(op, CmpOp::Eq | CmpOp::Ne) {
            Ok(())
        } else {
            Err(format!("'{}' cannot compare with null", op.as_str()))
        };
    }
    let Some(ty) = path.value_type() else {
        return Ok(());
    };
    match ty {
        AttrType::Boolean => {
            if !value.is_boolean() {
                return Err(format!("'{path}' is a boolean: compare it with true or false"));
            }
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(format!("'{path}' is a boolean and supports only eq and ne"));
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if !value.is_number() {
                return Err(format!("'{path}' is a number: compare it with a number"));
            }
            if op.is_substring() {
                return Err(format!("'{path}' is a number and does not support {}", op.as_str()));
            }
        }
        AttrType::DateTime => {
            let s =
                value.as_str().ok_or_else(|| format!("'{path}' is a dateTime: compare it with a quoted timestamp"))?;
            if !op.is_substring() && crate::time::parse_rfc3339(s).is_none() {
                return Err(format!("'{s}' is not an RFC 3339 timestamp such as \"2024-05-01T00:00:00Z\""));
            }
        }
        AttrType::Binary if op.is_ordering() => {
            return Err(format!("'{path}' is binary and cannot be ordered"));
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            if !value.is_string() {
                return Err(format!("'{path}' is a string: put the value in double quotes"));
            }
        }
        AttrType::Complex => {}
    }
    Ok(())
}

impl Filter {
    /// Parses a filter for resources of type `rt`.
    pub fn parse(input: &str, rt: &'static ResourceTypeDef, limits: FilterLimits) -> ScimResult<Filter> {
        Self::parse_inner(input, rt, limits, None)
    }

    /// Parses the filter inside a PATCH value path, whose names are sub-attributes of `parent`.
    pub fn parse_value_filter(
        input: &str,
        parent: &AttrPath,
        rt: &'static ResourceTypeDef,
        limits: FilterLimits,
    ) -> ScimResult<Filter> {
        Self::parse_inner(input, rt, limits, Some(parent))
    }

    fn parse_inner(
        input: &str,
        rt: &'static ResourceTypeDef,
        limits: FilterLimits,
        parent: Option<&AttrPath>,
    ) -> ScimResult<Filter> {
        if input.len() > limits.max_length {
            return Err(ScimError::invalid_filter(format!(
                "filter is {} bytes long; the limit is {}",
                input.len(),
                limits.max_length
            )));
        }
        if input.trim().is_empty() {
            return Err(ScimError::invalid_filter("filter is empty"));
        }
        let tokens = lex(input).map_err(|e| ScimError::invalid_filter(format!("{e} in filter '{input}'")))?;
        let mut p = Parser { tokens, pos: 0, rt, limits, input };
        let f = p.or(0, parent)?;
        if p.pos < p.tokens.len() {
            return Err(p.err("unexpected text (missing 'and'/'or'?)"));
        }
        Ok(f)
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, v: &Value) -> fmt::Result {
    f.write_str(&serde_json::to_string(v).map_err(|_| fmt::Error)?)
}

/// Prints the canonical form; parsing it again gives the same filter.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_filter(f, self, false)
    }
}

/// Inside a value path only the sub-attribute name is written (`emails[type eq "work"]`).
fn write_path(f: &mut fmt::Formatter<'_>, path: &AttrPath, inside_value_path: bool) -> fmt::Result {
    match (&path.sub, inside_value_path) {
        (Some(sub), true) => f.write_str(sub),
        _ => write!(f, "{path}"),
    }
}

fn write_filter(f: &mut fmt::Formatter<'_>, filter: &Filter, inside: bool) -> fmt::Result {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            let word = if matches!(filter, Filter::And(..)) { "and" } else { "or" };
            f.write_str("(")?;
            write_filter(f, a, inside)?;
            write!(f, " {word} ")?;
            write_filter(f, b, inside)?;
            f.write_str(")")
        }
        Filter::Not(a) => {
            f.write_str("not (")?;
            write_filter(f, a, inside)?;
            f.write_str(")")
        }
        Filter::Present(p) => {
            write_path(f, p, inside)?;
            f.write_str(" pr")
        }
        Filter::Compare { path, op, value } => {
            write_path(f, path, inside)?;
            write!(f, " {} ", op.as_str())?;
            write_value(f, value)
        }
        Filter::ValuePath { path, filter } => {
            write!(f, "{path}[")?;
            write_filter(f, filter, true)?;
            f.write_str("]")
        }
    }
}

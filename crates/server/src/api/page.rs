//! Cursor pagination: a page ends after the item whose key the cursor holds, so pages stay
//! right while items are added or removed between requests, which offsets do not.

use api_types::{Page, PageQuery};

use super::problem::ApiError;

pub fn encode(key: &str) -> String {
    app::tokens::hex(key.as_bytes())
}

fn decode(cursor: &str) -> Option<Vec<u8>> {
    if !cursor.len().is_multiple_of(2) {
        return None;
    }
    (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok()).collect()
}

fn not_a_cursor() -> ApiError {
    ApiError::invalid_field("after", "after must be the 'next' cursor of an earlier page, unchanged")
}

/// The page length asked for, checked.
pub fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(PageQuery::DEFAULT_LIMIT);
    if !(1..=PageQuery::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be between 1 and {}, not {limit}", PageQuery::MAX_LIMIT),
        ));
    }
    Ok(limit)
}

/// The id a cursor of a list keyed by number holds.
pub fn decode_id(cursor: &str) -> Result<i64, ApiError> {
    decode(cursor).and_then(|bytes| String::from_utf8(bytes).ok()).and_then(|t| t.parse().ok()).ok_or_else(not_a_cursor)
}

/// A page of `items`, read newest first with one more than `limit` asked for: the extra one
/// only says that a next page exists.
pub fn newest_first<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Page<T> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| encode(&id(last).to_string()))
    } else {
        None
    };
    Page { items, next }
}

/// The page of `items` (sorted by `key`) that `query` asks for.
pub fn of<T>(items: Vec<T>, query: &PageQuery, key: impl Fn(&T) -> String) -> Result<Page<T>, ApiError> {
    let limit = limit(query.limit)?;
    let after = match &query.after {
        Some(cursor) => Some(decode(cursor).ok_or_else(not_a_cursor)?),
        None => None,
    };
    let mut rest: Vec<T> =
        items.into_iter().filter(|item| after.as_ref().is_none_or(|a| key(item).as_bytes() > a.as_slice())).collect();
    let next = if rest.len() > limit as usize {
        rest.truncate(limit as usize);
        rest.last().map(|last| encode(&key(last)))
    } else {
        None
    };
    Ok(Page { items: rest, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(after: Option<String>, limit: u32) -> PageQuery {
        PageQuery { after, limit: Some(limit) }
    }

    #[test]
    fn pages_follow_their_cursors_to_the_end() {
        let names: Vec<String> = ["a", "b", "d", "e", "ç"].map(String::from).to_vec();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = of(names.clone(), &query(after, 2), Clone::clone).unwrap();
            seen.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, names);
    }

    #[test]
    fn bad_limits_and_cursors_name_their_parameter() {
        let items = vec!["a".to_string()];
        for (after, limit, field) in [(None, 0, "limit"), (None, 1001, "limit"), (Some("zz".into()), 5, "after")] {
            let e = of(items.clone(), &query(after, limit), Clone::clone).unwrap_err();
            assert_eq!(e.field(), Some(field));
        }
    }
}

//! Lists of the admin API read whole, page by page.

use api_types::{Page, PageQuery};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Every item of the list at `path` (which may carry a query already), and the list as the API
/// answers it: its one page verbatim, or, when it took several, the pages' items as one page.
pub async fn all<T: DeserializeOwned + Serialize>(
    api: &client::Client,
    path: &str,
) -> anyhow::Result<(Vec<T>, String)> {
    let joiner = if path.contains('?') { '&' } else { '?' };
    let first = format!("{path}{joiner}limit={}", PageQuery::MAX_LIMIT);
    let (mut page, text): (Page<T>, String) = api.exchange(Method::GET, &first, None::<&()>).await?;
    if page.next.is_none() {
        return Ok((page.items, text));
    }
    let mut items = std::mem::take(&mut page.items);
    while let Some(after) = page.next.take() {
        let next = format!("{first}&after={}", client::segment(&after));
        page = api.exchange::<Page<T>>(Method::GET, &next, None::<&()>).await?.0;
        items.append(&mut page.items);
    }
    let whole = Page { items, next: None };
    let text = serde_json::to_string(&whole)?;
    Ok((whole.items, text))
}

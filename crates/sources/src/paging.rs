//! Guards every listing against a server that pages in a circle. A pager remembers what it was
//! handed (cursors, page tokens, next links, or the first entry of each page where paging is by
//! offset) and stops with an error at the first repeat, and no listing runs past `MAX_PAGES`
//! pages, more than any directory idsync reads has. A stopped listing makes the read incomplete,
//! so nothing is removed because of it.

use std::collections::HashSet;

use rest::RestError;

/// 50,000 pages is 5 to 50 million entries at the page sizes idsync asks for.
pub const MAX_PAGES: usize = 50_000;

pub struct Pages {
    what: String,
    seen: HashSet<String>,
    pages: usize,
}

impl Pages {
    /// `what` names the listing in errors ("Keycloak groups/…/children", "OneLogin api/2/users").
    pub fn new(what: impl Into<String>) -> Self {
        Pages { what: what.into(), seen: HashSet::new(), pages: 0 }
    }

    /// Takes one more page, which the server pointed at with `marker` (its cursor, token or link,
    /// or its first entry's id); an error when the server handed the same marker before or the
    /// listing has gone on too long.
    pub fn next(&mut self, marker: &str) -> Result<(), RestError> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(RestError::Protocol(format!(
                "{} went on for more than {MAX_PAGES} pages, so the read stops there; the provider keeps answering with more",
                self.what
            )));
        }
        if !self.seen.insert(marker.to_string()) {
            let shown: String = marker.chars().take(80).collect();
            return Err(RestError::Protocol(format!(
                "{} handed back a page it had handed back before ('{shown}'); the provider pages in a circle, so the read stops there",
                self.what
            )));
        }
        Ok(())
    }
}

/// Remembers the groups of a walk through a group tree and refuses one met twice, which only a
/// cycle (or a server that repeats itself) can cause.
pub struct Walk {
    what: String,
    seen: HashSet<String>,
}

impl Walk {
    pub fn new(what: impl Into<String>) -> Self {
        Walk { what: what.into(), seen: HashSet::new() }
    }

    pub fn visit(&mut self, id: &str, name: &str) -> Result<(), RestError> {
        if self.seen.insert(id.to_string()) {
            return Ok(());
        }
        Err(RestError::Protocol(format!(
            "{}: group '{name}' ({id}) came up twice while walking the group tree; the provider's groups form a cycle, so the read stops there",
            self.what
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_marker_stops_the_listing() {
        let mut pages = Pages::new("test listing");
        assert!(pages.next("a").is_ok() && pages.next("b").is_ok());
        let err = pages.next("a").unwrap_err().to_string();
        assert!(err.contains("test listing") && err.contains("in a circle"), "{err}");
    }

    #[test]
    fn listings_are_bounded() {
        let mut pages = Pages::new("endless");
        for i in 0..MAX_PAGES {
            pages.next(&i.to_string()).unwrap();
        }
        assert!(pages.next("one more").unwrap_err().to_string().contains("more than"));
    }

    #[test]
    fn a_group_met_twice_is_a_cycle() {
        let mut walk = Walk::new("Keycloak groups");
        walk.visit("1", "eng").unwrap();
        walk.visit("2", "web").unwrap();
        assert!(walk.visit("1", "eng").unwrap_err().to_string().contains("cycle"));
    }
}

//! Offset pagination (`page`, `per_page`) and RFC 8288 `Link` headers, as GitHub and GitLab use.

use serde::Deserialize;

/// The page a request asked for, clamped to the provider's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub page: usize,
    /// Items per page, after the provider's default and maximum are applied.
    pub per_page: usize,
}

/// The raw query parameters; other parameters are ignored here.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// `page` as sent; [`Page::from_query`] falls back to the first page when it does not parse.
    pub page: Option<String>,
    /// `per_page` as sent; [`Page::from_query`] falls back to the default when it does not parse.
    pub per_page: Option<String>,
}

impl Page {
    /// Parses the query with the provider's default and maximum page size. Values that do not
    /// parse fall back to the defaults, as GitHub does.
    pub fn from_query(query: &PageQuery, default_per_page: usize, max_per_page: usize) -> Page {
        let page = query
            .page
            .as_deref()
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1);
        let per_page = query
            .per_page
            .as_deref()
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(default_per_page)
            .min(max_per_page);
        Page { page, per_page }
    }

    /// The items of this page.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = (self.page - 1)
            .saturating_mul(self.per_page)
            .min(items.len());
        let end = start.saturating_add(self.per_page).min(items.len());
        &items[start..end]
    }

    /// Number of pages for `total` items (at least 1: an empty list is one empty page).
    pub fn last_page(&self, total: usize) -> usize {
        total.div_ceil(self.per_page).max(1)
    }

    /// The `Link` header value for this page of `total` items, or `None` when everything fits on
    /// one page (GitHub omits the header then). `url` is the request's absolute URL; its `page`
    /// and `per_page` parameters are replaced, others kept.
    pub fn link_header(&self, url: &str, total: usize) -> Option<String> {
        let last = self.last_page(total);
        if last <= 1 && self.page <= 1 {
            return None;
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("page=") && !kv.starts_with("per_page="))
            .collect();
        let make = |page: usize| {
            let mut params = kept.clone();
            let per_page = format!("per_page={}", self.per_page);
            let page = format!("page={page}");
            params.push(&per_page);
            params.push(&page);
            format!("<{base}?{}>", params.join("&"))
        };
        let mut links = Vec::new();
        if self.page < last {
            links.push(format!("{}; rel=\"next\"", make(self.page + 1)));
            links.push(format!("{}; rel=\"last\"", make(last)));
        }
        if self.page > 1 {
            links.push(format!("{}; rel=\"first\"", make(1)));
            links.push(format!("{}; rel=\"prev\"", make((self.page - 1).min(last))));
        }
        Some(links.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: usize, per_page: usize) -> Page {
        Page { page, per_page }
    }

    #[test]
    fn one_full_page_has_no_link() {
        assert_eq!(page(1, 30).link_header("http://h/x", 30), None);
        assert_eq!(page(1, 30).link_header("http://h/x", 0), None);
    }

    #[test]
    fn middle_page_links_all_four_relations_and_keeps_other_parameters() {
        let link = page(2, 10)
            .link_header("http://h/x?role=admin&page=2&per_page=10", 45)
            .expect("several pages");
        assert_eq!(
            link,
            "<http://h/x?role=admin&per_page=10&page=3>; rel=\"next\", \
             <http://h/x?role=admin&per_page=10&page=5>; rel=\"last\", \
             <http://h/x?role=admin&per_page=10&page=1>; rel=\"first\", \
             <http://h/x?role=admin&per_page=10&page=1>; rel=\"prev\""
        );
    }

    #[test]
    fn per_page_is_clamped_and_defaults_apply() {
        let q = PageQuery {
            page: Some("0".into()),
            per_page: Some("1000".into()),
        };
        assert_eq!(Page::from_query(&q, 30, 100), page(1, 100));
        assert_eq!(
            Page::from_query(&PageQuery::default(), 30, 100),
            page(1, 30)
        );
    }
}

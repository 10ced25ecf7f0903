//! Following the three providers' pagination schemes, with caps a hostile server cannot defeat.

use super::client::{Fetched, Route, WorkspaceClient};
use crate::provider::ProviderError;
use crate::snapshot::ProviderKind;
use http::HeaderMap;
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::marker::PhantomData;

/// How a list is split into pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// GitHub: each page is a JSON array (or an object whose [`Route::items_field`] holds the
    /// array); the next page is the `Link` header's `rel="next"`.
    Link,
    /// GitLab: each page is a JSON array; the next page is `Link` `rel="next"` (offset and keyset
    /// pagination) or else the `x-next-page` number. `x-total` is never needed, so lists over
    /// 10,000 entries (where GitLab omits it) work.
    Gitlab,
    /// Bitbucket: each page is `{values: [...], next?: url, pagelen, page?, size?}`.
    BitbucketEnvelope,
}

impl Paging {
    /// The scheme a provider's REST API uses.
    pub fn for_provider(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Github => Paging::Link,
            ProviderKind::Gitlab => Paging::Gitlab,
            ProviderKind::Bitbucket => Paging::BitbucketEnvelope,
        }
    }
}

/// The `rel="next"` target of a `Link` header value (RFC 8288), if any.
pub fn parse_link_next(link: &str) -> Option<&str> {
    let mut rest = link;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let is_next = after[..params_end].split(';').any(|param| {
            let param = param.trim().trim_end_matches(',').trim();
            param.split_once('=').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target);
        }
        rest = &after[params_end..];
    }
}

fn link_next(headers: &HeaderMap) -> Option<String> {
    let joined = headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    parse_link_next(&joined).map(str::to_owned)
}

#[derive(Deserialize)]
struct BitbucketPage<T> {
    values: Vec<T>,
    #[serde(default)]
    next: Option<String>,
}

/// Reads a list page by page. Made by [`WorkspaceClient::pages`]; use it directly when the caller
/// may stop early (per-repository checks once no candidate is left), else call
/// [`WorkspaceClient::get_all`].
///
/// Every page is requested through the full resilient path (pacing, retries, cache). A page that
/// cannot be read or parsed fails the whole list; so does a list longer than
/// [`HttpConfig::max_pages`](super::HttpConfig::max_pages), a link back to a page already read,
/// and a link to another host (which would send the token elsewhere).
pub struct Pager<'c, T> {
    client: &'c WorkspaceClient,
    route: Route,
    paging: Paging,
    next: Option<Url>,
    pages: u32,
    seen: HashSet<String>,
    items: PhantomData<fn() -> T>,
}

impl<'c, T: DeserializeOwned> Pager<'c, T> {
    pub(crate) fn new(
        client: &'c WorkspaceClient,
        route: Route,
        paging: Paging,
        first: Url,
    ) -> Self {
        Self {
            client,
            route,
            paging,
            next: Some(first),
            pages: 0,
            seen: HashSet::new(),
            items: PhantomData,
        }
    }

    /// Pages read so far.
    pub fn pages_read(&self) -> u32 {
        self.pages
    }

    /// The next page's items, or `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ProviderError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let max_pages = self.client.config().max_pages;
        if self.pages >= max_pages {
            return Err(self.malformed(format!(
                "the list has more than {max_pages} pages; stopped there (raise max_pages if the \
                 account is really this large)"
            )));
        }
        if !self.seen.insert(url.as_str().to_owned()) {
            return Err(self.malformed(format!(
                "page {} links back to a page already read",
                self.pages
            )));
        }
        let page_number = self.pages + 1;
        let (items, next) = self
            .client
            .get_accepted(&self.route, url.clone(), |fetched| {
                if fetched.status.is_success() {
                    self.parse(fetched, &url, page_number)
                } else {
                    Err(self.client.status_error(self.route.template(), fetched))
                }
            })
            .await?;
        self.pages = page_number;
        if let Some(next) = next {
            self.next = Some(
                self.client
                    .resolve_link(self.route.template(), &url, &next)?,
            );
        }
        Ok(Some(items))
    }

    /// Every remaining item of every remaining page.
    pub async fn collect_all(mut self) -> Result<Vec<T>, ProviderError> {
        let mut all = Vec::new();
        while let Some(items) = self.next_page().await? {
            all.extend(items);
        }
        Ok(all)
    }

    fn parse(
        &self,
        fetched: &Fetched,
        url: &Url,
        page: u32,
    ) -> Result<(Vec<T>, Option<String>), ProviderError> {
        let bad_json = |e: serde_json::Error| {
            self.malformed(format!("page {page} is not the expected JSON: {e}"))
        };
        match self.paging {
            Paging::BitbucketEnvelope => {
                let envelope: BitbucketPage<T> =
                    serde_json::from_slice(&fetched.body).map_err(bad_json)?;
                let next = envelope.next.filter(|n| !n.is_empty());
                Ok((envelope.values, next))
            }
            Paging::Link | Paging::Gitlab => {
                let items = match self.route.items_field_name() {
                    None => serde_json::from_slice::<Vec<T>>(&fetched.body).map_err(bad_json)?,
                    Some(field) => {
                        let mut object: serde_json::Map<String, serde_json::Value> =
                            serde_json::from_slice(&fetched.body).map_err(bad_json)?;
                        let list = object.remove(field).ok_or_else(|| {
                            self.malformed(format!("page {page} has no `{field}` list"))
                        })?;
                        serde_json::from_value::<Vec<T>>(list).map_err(bad_json)?
                    }
                };
                let mut next = link_next(&fetched.headers);
                if next.is_none() && self.paging == Paging::Gitlab {
                    next = self.gitlab_next_page(&fetched.headers, url, page)?;
                }
                Ok((items, next))
            }
        }
    }

    /// GitLab's `x-next-page`: empty on the last page, else the next page number.
    fn gitlab_next_page(
        &self,
        headers: &HeaderMap,
        url: &Url,
        page: u32,
    ) -> Result<Option<String>, ProviderError> {
        let Some(value) = headers.get("x-next-page") else {
            return Ok(None);
        };
        let text = value.to_str().unwrap_or("").trim();
        if text.is_empty() {
            return Ok(None);
        }
        let number: u64 = text.parse().map_err(|_| {
            self.malformed(format!(
                "page {page} has an x-next-page that is not a number"
            ))
        })?;
        let mut next = url.clone();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        next.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("page", &number.to_string());
        Ok(Some(next.into()))
    }

    fn malformed(&self, detail: String) -> ProviderError {
        ProviderError::Malformed {
            provider: self.client.provider(),
            route: self.route.template().to_owned(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_link_next;

    #[test]
    fn finds_next_among_several_relations() {
        let link = r#"<https://api.github.com/orgs/a/members?page=1>; rel="prev", <https://api.github.com/orgs/a/members?page=3&x=1,2>; rel="next", <https://api.github.com/orgs/a/members?page=9>; rel="last""#;
        assert_eq!(
            parse_link_next(link),
            Some("https://api.github.com/orgs/a/members?page=3&x=1,2")
        );
    }

    #[test]
    fn no_next_on_the_last_page() {
        let link = r#"<https://x/p?page=1>; rel="first", <https://x/p?page=8>; rel="prev""#;
        assert_eq!(parse_link_next(link), None);
        assert_eq!(parse_link_next(""), None);
    }
}

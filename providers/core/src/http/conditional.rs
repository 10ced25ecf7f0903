//! Conditional requests: which key an answer is cached under and which headers are replayed.

use crate::cache::CachedResponse;
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// Response headers kept with a cached body, so a `304` replays pagination exactly.
const REPLAYED_HEADERS: &[&str] = &[
    "content-type",
    "link",
    "x-next-page",
    "x-page",
    "x-per-page",
    "x-prev-page",
    "x-total",
    "x-total-pages",
];

/// The [`HttpCache`](crate::cache::HttpCache) key for `url` fetched with the credential whose
/// [`scope_fingerprint`](super::Credential::scope_fingerprint) is given: two SHA-256 digests,
/// so neither the URL (which may name people) nor anything about the token reaches the store,
/// and one credential's answers are never served to another.
pub fn cache_key(url: &str, scope_fingerprint: &str) -> String {
    let url_hash = Sha256::digest(url.as_bytes());
    let scope_hash = Sha256::digest(scope_fingerprint.as_bytes());
    format!("v1:{url_hash:x}:{scope_hash:x}")
}

/// What to remember from a `200`, or `None` when the answer carries no validator.
pub(crate) fn to_cached(headers: &HeaderMap, body: &[u8]) -> Option<CachedResponse> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = text("etag");
    let last_modified = text("last-modified");
    if etag.is_none() && last_modified.is_none() {
        return None;
    }
    let replayed = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| text(name).map(|value| ((*name).to_owned(), value)))
        .collect();
    Some(CachedResponse {
        etag,
        last_modified,
        headers: replayed,
        body: body.to_vec(),
    })
}

/// An answer as [`PageSession`](crate::pages::PageSession) keeps it: its validators if any,
/// the replayed headers and the body.
pub(crate) fn to_kept(headers: &HeaderMap, body: &[u8]) -> CachedResponse {
    to_cached(headers, body).unwrap_or_else(|| CachedResponse {
        etag: None,
        last_modified: None,
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .map(|value| ((*name).to_owned(), value.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    })
}

/// Makes a request conditional on the cached answer still being current.
pub(crate) fn add_validators(headers: &mut HeaderMap, cached: &CachedResponse) {
    let value = |text: &Option<String>| {
        text.as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
    };
    if let Some(etag) = value(&cached.etag) {
        headers.insert(http::header::IF_NONE_MATCH, etag);
    }
    if let Some(date) = value(&cached.last_modified) {
        headers.insert(http::header::IF_MODIFIED_SINCE, date);
    }
}

/// The headers of a cached answer, as if the server had sent them again.
pub(crate) fn replayed_headers(cached: &CachedResponse) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &cached.headers {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_depends_on_url_and_credential_and_hides_both() {
        let a = cache_key("https://api.github.com/orgs/acme/members", "bearer:1");
        let b = cache_key("https://api.github.com/orgs/acme/members", "bearer:2");
        let c = cache_key("https://api.github.com/orgs/acme/teams", "bearer:1");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(!a.contains("acme") && !a.contains("bearer"));
    }

    #[test]
    fn answers_without_validators_are_not_cached() {
        assert!(to_cached(&HeaderMap::new(), b"[]").is_none());
    }
}

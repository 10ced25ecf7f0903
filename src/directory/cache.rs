//! The HTTP layer's conditional-request cache: answers kept with their ETag, so an unchanged
//! list costs a 304 instead of a rate-limited read. Failures cost requests, never a fetch, so
//! they are logged and swallowed. The columns an answer is kept in (`etag`, `headers`, `body`)
//! are read and written here for `fetch_pages.rs` too.

use super::error::swallow;
use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};
use orgsync_core::cache::{CachedResponse, HttpCache};

forward! { crate:
    /// The answer stored under `key` (hashes of the URL and the credential scope), if any.
    on_conn cache_load => load(key: &str) -> Result<Option<CachedResponse>, DirectoryError>;

    /// Stores an answer under `key`, replacing the one before.
    on_conn cache_store => store(
        key: &str, response: &CachedResponse, now: DateTime<Utc>
    ) -> Result<(), DirectoryError>;

    /// Forgets the answer under `key`.
    on_conn cache_remove => remove(key: &str) -> Result<(), DirectoryError>;
}

#[async_trait::async_trait]
impl HttpCache for Store {
    async fn load(&self, key: &str) -> Option<CachedResponse> {
        swallow(self.cache_load(key).await, "http cache read failed")
    }

    async fn store(&self, key: &str, response: &CachedResponse) {
        swallow(
            self.cache_store(key, response, Utc::now()).await,
            "http cache write failed",
        )
    }

    async fn remove(&self, key: &str) {
        swallow(self.cache_remove(key).await, "http cache eviction failed")
    }
}

/// An answer's headers as its `headers` column keeps them: a JSON list of (name, value).
pub(super) fn headers_json(response: &CachedResponse) -> String {
    serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".to_string())
}

per_backend! {
    /// The answer a row keeps in its `etag`, `headers` ([`headers_json`]) and `body` columns,
    /// with `last_modified`, which only `http_cache` keeps.
    pub fn response(
        r: &DbRow,
        last_modified: Option<String>,
    ) -> Result<CachedResponse, DirectoryError> {
        let headers: String = r.try_get("headers")?;
        Ok(CachedResponse {
            etag: r.try_get("etag")?,
            last_modified,
            headers: serde_json::from_str(&headers).unwrap_or_default(),
            body: r.try_get("body")?,
        })
    }

    pub async fn load(
        c: &mut Conn,
        key: &str,
    ) -> Result<Option<CachedResponse>, DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT etag, last_modified, headers, body FROM http_cache WHERE key = $1",
            key };
        row.map(|r| response(&r, r.try_get("last_modified")?))
            .transpose()
    }

    pub async fn store(
        c: &mut Conn,
        key: &str,
        response: &CachedResponse,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "INSERT INTO http_cache (key, etag, last_modified, headers, body, stored_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO UPDATE SET etag = excluded.etag,
                 last_modified = excluded.last_modified, headers = excluded.headers,
                 body = excluded.body, stored_at = excluded.stored_at",
            key, &response.etag, &response.last_modified, headers_json(response), &response.body,
            now };
        Ok(())
    }

    pub async fn remove(c: &mut Conn, key: &str) -> Result<(), DirectoryError> {
        sql! { c, execute, "DELETE FROM http_cache WHERE key = $1", key };
        Ok(())
    }
}

//! The HTTP layer's conditional-request cache: answers kept with their ETag, so an unchanged
//! list costs a 304 instead of a rate-limited read. Failures cost requests, never a fetch, so
//! they are logged and swallowed.

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
}

#[async_trait::async_trait]
impl HttpCache for Store {
    async fn load(&self, key: &str) -> Option<CachedResponse> {
        match self.cache_load(key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "http cache read failed");
                None
            }
        }
    }

    async fn store(&self, key: &str, response: &CachedResponse) {
        if let Err(e) = self.cache_store(key, response, Utc::now()).await {
            tracing::warn!(error = %e, "http cache write failed");
        }
    }

    async fn remove(&self, key: &str) {
        let removed: Result<(), DirectoryError> =
            async { on_conn!(self, |c, m| m::remove(c, key).await) }.await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "http cache eviction failed");
        }
    }
}

per_backend! {
    pub async fn load(
        c: &mut Conn,
        key: &str,
    ) -> Result<Option<CachedResponse>, DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT etag, last_modified, headers, body FROM http_cache WHERE key = $1",
            key };
        Ok(match row {
            None => None,
            Some(r) => {
                let headers: String = r.try_get("headers")?;
                Some(CachedResponse {
                    etag: r.try_get("etag")?,
                    last_modified: r.try_get("last_modified")?,
                    headers: serde_json::from_str(&headers).unwrap_or_default(),
                    body: r.try_get("body")?,
                })
            }
        })
    }

    pub async fn store(
        c: &mut Conn,
        key: &str,
        response: &CachedResponse,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        let headers =
            serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".to_string());
        sql! { c, execute,
            "INSERT INTO http_cache (key, etag, last_modified, headers, body, stored_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO UPDATE SET etag = excluded.etag,
                 last_modified = excluded.last_modified, headers = excluded.headers,
                 body = excluded.body, stored_at = excluded.stored_at",
            key, &response.etag, &response.last_modified, headers, &response.body, now };
        Ok(())
    }

    pub async fn remove(c: &mut Conn, key: &str) -> Result<(), DirectoryError> {
        sql! { c, execute, "DELETE FROM http_cache WHERE key = $1", key };
        Ok(())
    }
}

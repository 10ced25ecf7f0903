//! The conditional-request cache the HTTP layer reads and writes through.
//!
//! The directory implements [`HttpCache`] on its `http_cache` table; tests use [`MemoryCache`].
//! Keys are opaque to the store: the HTTP layer derives them from the URL and a hash of the
//! credential's scope, so one token's cached answers are never served to another, and the token
//! itself never reaches the store.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedResponse {
    /// The entity tag the server sent, for `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` the server sent, for `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// The headers needed to replay the answer (pagination links and counts), lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body as received (it parsed when it was stored).
    pub body: Vec<u8>,
}

/// Storage for [`CachedResponse`]s. Failures are swallowed by implementations and logged: a
/// cache that cannot be read only costs requests, it never fails a fetch.
#[async_trait]
pub trait HttpCache: Send + Sync {
    /// The answer stored under `key`, if any (a read failure is `None`).
    async fn load(&self, key: &str) -> Option<CachedResponse>;
    /// Stores `response` under `key`, replacing what was there.
    async fn store(&self, key: &str, response: &CachedResponse);
    /// Forgets the answer under `key`: the HTTP layer calls it when a cached body no longer
    /// parses, before asking again without `If-None-Match`. The default keeps the entry, which
    /// the next accepted answer then overwrites.
    async fn remove(&self, _key: &str) {}
}

/// A process-local cache, for tests and one-shot commands.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, CachedResponse>>,
}

#[async_trait]
impl HttpCache for MemoryCache {
    async fn load(&self, key: &str) -> Option<CachedResponse> {
        self.entries
            .lock()
            .ok()
            .and_then(|map| map.get(key).cloned())
    }

    async fn store(&self, key: &str, response: &CachedResponse) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert(key.to_string(), response.clone());
        }
    }

    async fn remove(&self, key: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(key);
        }
    }
}

/// A cache that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

#[async_trait]
impl HttpCache for NoCache {
    async fn load(&self, _key: &str) -> Option<CachedResponse> {
        None
    }

    async fn store(&self, _key: &str, _response: &CachedResponse) {}
}

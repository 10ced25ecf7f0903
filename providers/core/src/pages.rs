//! Pages an unfinished fetch has read, kept with the time they were read, so that a fetch that
//! needs more requests than one rate-limit window allows continues in the next window instead
//! of failing.
//!
//! A [`PageSession`] is handed to a fetch through [`FetchPolicy::pages`](crate::FetchPolicy).
//! The HTTP layer then answers every `GET` whose page was kept less than
//! [`PageSession::max_age`] ago from the store, without a request, and keeps every page it reads.
//! The run decides only on a complete walk in which no page served is older than the maximum
//! age ([`PageSession::oldest_served`]); it clears the store once the fetch is complete, so a
//! later fetch reads everything again.
//!
//! Keys are the conditional-request cache's ([`cache_key`](crate::http::cache_key)): hashes of
//! the URL and the credential, so the store learns neither.

use crate::cache::CachedResponse;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One kept page: the answer as received and when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPage {
    /// The answer (its headers as the conditional-request cache keeps them, and the body).
    pub response: CachedResponse,
    /// When it was read from the provider.
    pub read_at: DateTime<Utc>,
}

/// Storage for one workspace's kept pages. Failures are logged by implementations and cost
/// requests only (a page that cannot be loaded is read again).
#[async_trait]
pub trait PageStore: Send + Sync {
    /// The page kept under `key`, if any.
    async fn load(&self, key: &str) -> Option<KeptPage>;
    /// Keeps `page` under `key`, replacing what was there.
    async fn keep(&self, key: &str, page: &KeptPage);
    /// Forgets every kept page (the fetch is complete).
    async fn clear(&self);
    /// How many pages are kept and the oldest one's time.
    async fn progress(&self) -> (u64, Option<DateTime<Utc>>);
}

/// A process-local [`PageStore`], for tests and one-shot commands.
#[derive(Debug, Default)]
pub struct MemoryPages {
    pages: Mutex<std::collections::HashMap<String, KeptPage>>,
}

#[async_trait]
impl PageStore for MemoryPages {
    async fn load(&self, key: &str) -> Option<KeptPage> {
        self.pages.lock().ok().and_then(|m| m.get(key).cloned())
    }

    async fn keep(&self, key: &str, page: &KeptPage) {
        if let Ok(mut m) = self.pages.lock() {
            m.insert(key.to_string(), page.clone());
        }
    }

    async fn clear(&self) {
        if let Ok(mut m) = self.pages.lock() {
            m.clear();
        }
    }

    async fn progress(&self) -> (u64, Option<DateTime<Utc>>) {
        self.pages.lock().map_or((0, None), |m| {
            (m.len() as u64, m.values().map(|p| p.read_at).min())
        })
    }
}

/// One fetch's view of a [`PageStore`]: the maximum age of a page it may use, and what it used.
pub struct PageSession {
    store: Arc<dyn PageStore>,
    max_age: Duration,
    /// When this walk began: only pages read before it are served, so a list a walk reads twice
    /// (to notice that it moved) is read twice from the provider.
    walk_started: Mutex<DateTime<Utc>>,
    oldest_served: Mutex<Option<DateTime<Utc>>>,
    served: AtomicU64,
    kept: AtomicU64,
}

impl fmt::Debug for PageSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageSession")
            .field("max_age", &self.max_age)
            .field("served", &self.served.load(Ordering::Relaxed))
            .field("kept", &self.kept.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PageSession {
    /// A session over `store` that serves pages read less than `max_age` ago.
    pub fn new(store: Arc<dyn PageStore>, max_age: Duration) -> Self {
        PageSession {
            store,
            max_age,
            walk_started: Mutex::new(Utc::now()),
            oldest_served: Mutex::new(None),
            served: AtomicU64::new(0),
            kept: AtomicU64::new(0),
        }
    }

    /// The oldest a page may be and still be used.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    fn too_old(&self, read_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        chrono::Duration::from_std(self.max_age).is_ok_and(|age| read_at + age < now)
    }

    /// The page kept under `key` by an earlier walk if it is young enough, noting its time;
    /// `None` otherwise (a page older than [`PageSession::max_age`] is read again, and so is one
    /// this walk read itself: reading a list again within a walk means asking the provider).
    pub async fn take(&self, key: &str) -> Option<CachedResponse> {
        let page = self.store.load(key).await?;
        let walk_started = self.walk_started.lock().map_or_else(|_| Utc::now(), |w| *w);
        if self.too_old(page.read_at, Utc::now()) || page.read_at >= walk_started {
            return None;
        }
        if let Ok(mut oldest) = self.oldest_served.lock() {
            *oldest = Some(oldest.map_or(page.read_at, |o| o.min(page.read_at)));
        }
        self.served.fetch_add(1, Ordering::Relaxed);
        Some(page.response)
    }

    /// Keeps a page just read.
    pub async fn keep(&self, key: &str, response: CachedResponse) {
        self.kept.fetch_add(1, Ordering::Relaxed);
        self.store
            .keep(
                key,
                &KeptPage {
                    response,
                    read_at: Utc::now(),
                },
            )
            .await;
    }

    /// The time of the oldest kept page this fetch used, if any.
    pub fn oldest_served(&self) -> Option<DateTime<Utc>> {
        self.oldest_served.lock().ok().and_then(|o| *o)
    }

    /// True when a page this fetch used is now older than [`PageSession::max_age`]: the walk
    /// must be made again (those pages are then read anew) before anything is decided.
    pub fn used_a_stale_page(&self) -> bool {
        self.oldest_served()
            .is_some_and(|o| self.too_old(o, Utc::now()))
    }

    /// Starts another walk over the same store: forgets what the last one used; what it read is
    /// served from now on.
    pub fn restart(&self) {
        if let Ok(mut started) = self.walk_started.lock() {
            *started = Utc::now();
        }
        if let Ok(mut oldest) = self.oldest_served.lock() {
            *oldest = None;
        }
        self.served.store(0, Ordering::Relaxed);
        self.kept.store(0, Ordering::Relaxed);
    }

    /// Pages served from the store and pages read and kept, in this walk.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.served.load(Ordering::Relaxed),
            self.kept.load(Ordering::Relaxed),
        )
    }

    /// Forgets every kept page: the fetch is complete.
    pub async fn clear(&self) {
        self.store.clear().await;
    }

    /// The store's progress: pages kept and the oldest one's time.
    pub async fn progress(&self) -> (u64, Option<DateTime<Utc>>) {
        self.store.progress().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> CachedResponse {
        CachedResponse {
            etag: None,
            last_modified: None,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn young_pages_are_served_and_old_ones_are_not() {
        let store = Arc::new(MemoryPages::default());
        let session = PageSession::new(store.clone(), Duration::from_secs(600));
        session.keep("young", page("a")).await;
        assert_eq!(
            session.take("young").await,
            None,
            "a page this walk read is read again, not served"
        );
        session.restart();
        store
            .keep(
                "old",
                &KeptPage {
                    response: page("b"),
                    read_at: Utc::now() - chrono::Duration::seconds(601),
                },
            )
            .await;
        assert_eq!(session.take("young").await, Some(page("a")));
        assert_eq!(
            session.take("old").await,
            None,
            "older than the maximum age"
        );
        assert_eq!(session.take("absent").await, None);
        assert!(!session.used_a_stale_page());
        assert_eq!(session.counts(), (1, 0), "one served since the restart");
        assert_eq!(store.progress().await.0, 2);
        session.clear().await;
        assert_eq!(store.progress().await, (0, None));
    }

    #[tokio::test]
    async fn a_page_that_aged_during_the_walk_calls_for_another_walk() {
        let store = Arc::new(MemoryPages::default());
        let session = PageSession::new(store.clone(), Duration::from_secs(1));
        store
            .keep(
                "p",
                &KeptPage {
                    response: page("a"),
                    read_at: Utc::now() - chrono::Duration::milliseconds(900),
                },
            )
            .await;
        assert!(session.take("p").await.is_some());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(session.used_a_stale_page());
        session.restart();
        assert!(!session.used_a_stale_page());
    }
}

//! Pages an unfinished fetch has read, with their time (`fetch_pages`, migration 0010): the
//! [`PageStore`] of one workspace, so a fetch larger than one rate-limit window continues in
//! the next run. Failures cost requests, never a fetch, so they are logged and swallowed.

use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};
use orgsync_core::cache::CachedResponse;
use orgsync_core::pages::{KeptPage, PageStore};

forward! { crate:
    /// How many pages `workspace` keeps, and when the oldest was read (`None`: none kept).
    on_conn fetch_pages_progress => progress(
        workspace: &str
    ) -> Result<(u64, Option<DateTime<Utc>>), DirectoryError>;

    /// Drops the pages `workspace` keeps, once its fetch has completed.
    on_conn clear_fetch_pages => clear(workspace: &str) -> Result<(), DirectoryError>;
}

/// One workspace's kept pages in the directory.
#[derive(Clone)]
pub struct WorkspacePages {
    store: Store,
    workspace: String,
}

impl Store {
    /// The [`PageStore`] of `workspace`.
    pub fn fetch_pages(&self, workspace: &str) -> WorkspacePages {
        WorkspacePages {
            store: self.clone(),
            workspace: workspace.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl PageStore for WorkspacePages {
    async fn load(&self, key: &str) -> Option<KeptPage> {
        let loaded: Result<Option<KeptPage>, DirectoryError> =
            async { on_conn!(self.store, |c, m| m::load(c, &self.workspace, key).await) }.await;
        loaded.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "kept page read failed");
            None
        })
    }

    async fn keep(&self, key: &str, page: &KeptPage) {
        let kept: Result<(), DirectoryError> = async {
            on_conn!(self.store, |c, m| m::keep(c, &self.workspace, key, page)
                .await)
        }
        .await;
        if let Err(e) = kept {
            tracing::warn!(error = %e, "kept page write failed");
        }
    }

    async fn clear(&self) {
        if let Err(e) = self.store.clear_fetch_pages(&self.workspace).await {
            tracing::warn!(error = %e, "clearing kept pages failed");
        }
    }

    async fn progress(&self) -> (u64, Option<DateTime<Utc>>) {
        self.store
            .fetch_pages_progress(&self.workspace)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading kept pages failed");
                (0, None)
            })
    }
}

per_backend! {
    pub async fn load(
        c: &mut Conn,
        workspace: &str,
        key: &str,
    ) -> Result<Option<KeptPage>, DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT read_at, etag, headers, body FROM fetch_pages WHERE workspace = $1 AND key = $2",
            workspace, key };
        Ok(match row {
            None => None,
            Some(r) => {
                let headers: String = r.try_get("headers")?;
                Some(KeptPage {
                    read_at: r.try_get("read_at")?,
                    response: CachedResponse {
                        etag: r.try_get("etag")?,
                        last_modified: None,
                        headers: serde_json::from_str(&headers).unwrap_or_default(),
                        body: r.try_get("body")?,
                    },
                })
            }
        })
    }

    pub async fn keep(
        c: &mut Conn,
        workspace: &str,
        key: &str,
        page: &KeptPage,
    ) -> Result<(), DirectoryError> {
        let headers =
            serde_json::to_string(&page.response.headers).unwrap_or_else(|_| "[]".to_string());
        sql! { c, execute,
            "INSERT INTO fetch_pages (workspace, key, read_at, etag, headers, body)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace, key) DO UPDATE SET read_at = excluded.read_at,
                 etag = excluded.etag, headers = excluded.headers, body = excluded.body",
            workspace, key, page.read_at, &page.response.etag, headers, &page.response.body };
        Ok(())
    }

    pub async fn clear(c: &mut Conn, workspace: &str) -> Result<(), DirectoryError> {
        sql! { c, execute, "DELETE FROM fetch_pages WHERE workspace = $1", workspace };
        Ok(())
    }

    pub async fn progress(
        c: &mut Conn,
        workspace: &str,
    ) -> Result<(u64, Option<DateTime<Utc>>), DirectoryError> {
        let row = sql! { c, fetch_one,
            "SELECT COUNT(*) AS n, MIN(read_at) AS oldest FROM fetch_pages WHERE workspace = $1",
            workspace };
        let n: i64 = row.try_get("n")?;
        let oldest: Option<DateTime<Utc>> = row.try_get("oldest")?;
        Ok((u64::try_from(n).unwrap_or(0), oldest))
    }
}

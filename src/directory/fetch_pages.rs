//! Pages an unfinished fetch has read, with their time (`fetch_pages`, migration 0010): the
//! [`PageStore`] of one workspace, so a fetch larger than one rate-limit window continues in
//! the next run. Failures cost requests, never a fetch, so they are logged and swallowed.

use super::cache::headers_json;
use super::error::swallow;
use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};
use orgsync_core::pages::{KeptPage, PageStore};

forward! { crate:
    /// The page `workspace` keeps under `key`, if any.
    on_conn fetch_page => load(workspace: &str, key: &str) -> Result<Option<KeptPage>, DirectoryError>;

    /// Keeps a page of `workspace` under `key`, replacing the one before.
    on_conn keep_fetch_page => keep(
        workspace: &str, key: &str, page: &KeptPage
    ) -> Result<(), DirectoryError>;

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
        let loaded = self.store.fetch_page(&self.workspace, key).await;
        swallow(loaded, "kept page read failed")
    }

    async fn keep(&self, key: &str, page: &KeptPage) {
        let kept = self.store.keep_fetch_page(&self.workspace, key, page).await;
        swallow(kept, "kept page write failed")
    }

    async fn clear(&self) {
        let cleared = self.store.clear_fetch_pages(&self.workspace).await;
        swallow(cleared, "clearing kept pages failed")
    }

    async fn progress(&self) -> (u64, Option<DateTime<Utc>>) {
        let progress = self.store.fetch_pages_progress(&self.workspace).await;
        swallow(progress, "reading kept pages failed")
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
        row.map(|r| {
            Ok(KeptPage {
                read_at: r.try_get("read_at")?,
                response: db::cache::response(&r, None)?,
            })
        })
        .transpose()
    }

    pub async fn keep(
        c: &mut Conn,
        workspace: &str,
        key: &str,
        page: &KeptPage,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "INSERT INTO fetch_pages (workspace, key, read_at, etag, headers, body)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace, key) DO UPDATE SET read_at = excluded.read_at,
                 etag = excluded.etag, headers = excluded.headers, body = excluded.body",
            workspace, key, page.read_at, &page.response.etag, headers_json(&page.response),
            &page.response.body };
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

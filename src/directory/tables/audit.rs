//! The audit trail's writer: one event (the apply writes its events in batches, `batch.rs`).

use crate::directory::DirectoryError;
use chrono::{DateTime, Utc};

/// One row of `audit_events`.
pub(crate) struct Event<'a> {
    pub workspace_id: Option<i64>,
    pub run_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: String,
}

per_backend! {
    pub async fn write(c: &mut Conn, e: Event<'_>) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            e.run_id, e.workspace_id, e.at, e.actor, e.action, e.subject, e.detail };
        Ok(())
    }
}

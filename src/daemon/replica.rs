//! Who may run what: one daemon per SQLite file; on PostgreSQL, any number of replicas that
//! serve each schedule tick once and never run the same workspace at the same time. The locks
//! and claims are the directory's (`directory::claims`); this is how the daemon uses them.

use crate::directory::{DirectoryError, Store};
use chrono::{DateTime, Utc};

pub use crate::directory::claims::{Claim, SqliteLock};

/// Takes the lock file beside a SQLite directory for the daemon's lifetime, or says which
/// daemon holds it.
pub fn lock_sqlite(url: &str) -> Result<Option<SqliteLock>, String> {
    crate::directory::claims::lock_sqlite(url)
}

/// Claims the right to run `workspace` now (and, for a schedule tick, to serve that tick).
/// `None`: another replica runs it or served that tick already.
pub async fn claim(
    store: &Store,
    replica: &str,
    workspace: &str,
    tick: Option<DateTime<Utc>>,
) -> Result<Option<Claim>, DirectoryError> {
    store.claim(replica, workspace, tick).await
}

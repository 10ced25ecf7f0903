//! Who may write: one daemon per SQLite file (a lock file beside it); on PostgreSQL, any number
//! of replicas, which never run the same workspace at the same time (an advisory lock held on
//! a connection of its own for the run) and serve each schedule tick once (`schedule_ticks`).

use super::{Backend, DirectoryError, Store};
use chrono::{DateTime, Utc};
use sqlx::Connection;
use std::fs::File;
use std::path::PathBuf;

/// Holds the single-writer lock of a SQLite directory for the daemon's lifetime.
pub struct SqliteLock {
    _file: File,
    /// The lock file: the directory's path with `.lock` appended.
    pub path: PathBuf,
}

/// Takes the lock file beside a SQLite directory, or says which daemon holds it. `None` for
/// PostgreSQL and in-memory SQLite, which need none.
pub fn lock_sqlite(url: &str) -> Result<Option<SqliteLock>, String> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(None);
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = PathBuf::from(format!("{path}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot create the lock file {}: {e}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SqliteLock {
            _file: file,
            path: lock_path,
        })),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another orgsync daemon is already running on the SQLite directory {path} (lock {}); \
             only one daemon may write a SQLite file. Stop the other one, or use PostgreSQL to run replicas",
            lock_path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock {}: {e}", lock_path.display()))
        }
    }
}

/// A claim on one workspace run: on PostgreSQL it holds an advisory lock on its own
/// connection, which dies with the process if the replica does.
pub struct Claim {
    conn: Option<sqlx::PgConnection>,
}

impl Claim {
    /// Releases the advisory lock by closing its connection.
    pub async fn release(mut self) {
        if let Some(conn) = self.conn.take()
            && let Err(e) = conn.close().await
        {
            tracing::debug!(error = %e, "closing the lock connection");
        }
    }
}

impl Store {
    /// Claims the right to run `workspace` now (and, for a schedule tick, to serve that tick)
    /// for `replica`. `None`: another replica runs it or served that tick already.
    pub async fn claim(
        &self,
        replica: &str,
        workspace: &str,
        tick: Option<DateTime<Utc>>,
    ) -> Result<Option<Claim>, DirectoryError> {
        let pool = match &self.backend {
            Backend::Sqlite(pool) => {
                // One daemon per file: the tick is recorded for the record, never contended.
                if let Some(tick) = tick {
                    let mut conn = pool.acquire().await?;
                    sqlite::record_tick(&mut conn, workspace, tick, replica).await?;
                }
                return Ok(Some(Claim { conn: None }));
            }
            Backend::Postgres(pool) => pool,
        };
        let mut conn = pool.acquire().await?.detach();
        let claimed = claim_on_postgres(&mut conn, workspace, tick, replica).await?;
        if !claimed {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(Claim { conn: Some(conn) }))
    }
}

per_backend! {
    /// Records that `replica` serves `tick`; false when another replica did already.
    pub async fn record_tick(
        c: &mut Conn,
        workspace: &str,
        tick: DateTime<Utc>,
        replica: &str,
    ) -> Result<bool, DirectoryError> {
        let inserted = (sql! { c, execute,
            "INSERT INTO schedule_ticks (workspace, tick_at, claimed_by, claimed_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            workspace, tick, replica, Utc::now() })
        .rows_affected();
        Ok(inserted > 0)
    }
}

/// Takes the workspace's advisory lock on `conn` and, for a tick, records it (dropping ticks
/// older than a week). False when another replica holds the lock or served the tick.
async fn claim_on_postgres(
    conn: &mut sqlx::PgConnection,
    workspace: &str,
    tick: Option<DateTime<Utc>>,
    replica: &str,
) -> Result<bool, DirectoryError> {
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("orgsync:workspace:{workspace}"))
        .fetch_one(&mut *conn)
        .await?;
    let Some(tick) = tick.filter(|_| locked) else {
        return Ok(locked);
    };
    sqlx::query("DELETE FROM schedule_ticks WHERE workspace = $1 AND tick_at < $2")
        .bind(workspace)
        .bind(tick - chrono::Duration::days(7))
        .execute(&mut *conn)
        .await?;
    postgres::record_tick(conn, workspace, tick, replica).await
}

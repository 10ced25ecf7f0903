//! The directory: workspaces, people, memberships, identities, teams, repositories, invitations,
//! sync runs, the audit trail and the HTTP cache, on SQLite or PostgreSQL.
//!
//! One [`Store`] type serves both backends. The SQL is written once, in the dialect both accept
//! (`$1` parameters, `ON CONFLICT`, `RETURNING`), and [`ops`] instantiates it for each backend's
//! connection type, so the two cannot drift apart.

mod batch;
mod ops;
pub mod outbox;
pub mod people;

use crate::sync::plan::{Current, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

pub use ops::{AuditRow, HoldChange, HoldRow, RunRow, TeamRow, UserRow};

/// A directory failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "cannot open the directory at {url}: {source}. Check [directory] url and that the database is reachable"
    )]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the directory: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the directory is locked by another process (SQLite busy); only one orgsync may write a SQLite file at a time"
    )]
    Locked,
    #[error(
        "the directory changed while the run was planned ({0}); the run was rolled back and the next run applies it afresh"
    )]
    Conflict(String),
    /// The configuration points a stored workspace at another provider or host: its members
    /// are keyed by the other one's user ids, so a sync would see nobody it knows.
    #[error(
        "workspace `{name}` is stored for {stored_provider} at {stored_host}, but the configuration says {provider} at {host}; refusing to run, because user ids of one are not user ids of the other. To start afresh, give the workspace a new name (the old one's members stay as they are); if it is the same instance under another host name, run `orgsync workspace rekey --workspace {name}`"
    )]
    WorkspaceMismatch {
        name: String,
        stored_provider: String,
        stored_host: String,
        provider: String,
        host: String,
    },
    /// A column holds a value this version does not know: an error, never a guess (a corrupt
    /// membership state read as some other state could offboard or reactivate someone).
    #[error(
        "the directory holds {value:?} in {table}.{column}, which this version of orgsync does not know; nothing was changed. Correct the row, or run the orgsync version that wrote it"
    )]
    Corrupt {
        table: &'static str,
        column: &'static str,
        value: String,
    },
    #[error("directory error: {0}")]
    Sql(sqlx::Error),
}

/// Holds `<file>.migrate.lock` while a SQLite directory is migrated: sqlx takes no lock on
/// SQLite, so two first starts on a new file both tried to create the tables ("table workspaces
/// already exists"). The second now waits and finds the migrations applied. PostgreSQL needs
/// nothing: sqlx migrates it under an advisory lock.
async fn sqlite_migration_lock(
    options: &SqliteConnectOptions,
) -> Result<Option<std::fs::File>, DirectoryError> {
    let file = options.get_filename();
    let name = file.to_string_lossy();
    if name.is_empty() || name == ":memory:" {
        return Ok(None);
    }
    let lock_path = std::path::PathBuf::from(format!("{name}.migrate.lock"));
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        lock.lock()?;
        Ok(lock)
    })
    .await
    .map_err(|e| DirectoryError::Sql(sqlx::Error::Io(std::io::Error::other(e))))?;
    locked
        .map(Some)
        .map_err(|e| DirectoryError::Sql(sqlx::Error::Io(e)))
}

/// Two applies that insert the same row at once (two first syncs, a sync and a CLI command):
/// the loser gets a unique-constraint error, which says nothing useful to an operator. It is the
/// same situation as [`DirectoryError::Conflict`]: the run rolled back and the next one applies.
fn concurrent_insert_is_a_conflict(e: DirectoryError) -> DirectoryError {
    match &e {
        DirectoryError::Sql(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            DirectoryError::Conflict(
                "another run or command added the same rows at the same moment".to_string(),
            )
        }
        _ => e,
    }
}

impl From<sqlx::Error> for DirectoryError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && (db.message().contains("database is locked") || db.message().contains("busy"))
        {
            return DirectoryError::Locked;
        }
        DirectoryError::Sql(e)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Ok,
    DryRun,
    Aborted,
    Failed,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::DryRun => "dry_run",
            RunOutcome::Aborted => "aborted",
            RunOutcome::Failed => "failed",
        }
    }
}

/// What is recorded about a run in `sync_runs`.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: RunOutcome,
    pub requests: u64,
    pub requests_not_modified: u64,
    pub error: Option<String>,
    /// Who or what acts: `sync` for runs, the Unix user for CLI changes.
    pub actor: String,
}

/// The workspace row that ties a configured workspace to its provider account.
#[derive(Debug, Clone)]
pub struct WorkspaceKey {
    pub id: i64,
    pub name: String,
    pub provider: String,
    pub host: String,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The directory, on either backend.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

macro_rules! on_conn {
    ($self:expr, |$c:ident, $m:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let $c = &mut *conn;
                use ops::sqlite as $m;
                $body
            }
            Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let $c = &mut *conn;
                use ops::postgres as $m;
                $body
            }
        }
    };
}

macro_rules! in_tx {
    ($self:expr, |$c:ident, $m:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let result = {
                    let $c = &mut *tx;
                    use ops::sqlite as $m;
                    $body
                };
                match result {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let result = {
                    let $c = &mut *tx;
                    use ops::postgres as $m;
                    $body
                };
                match result {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            }
        }
    };
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the directory at `url`.
    pub async fn open(url: &str) -> Result<Store, DirectoryError> {
        let connect = |source| DirectoryError::Connect {
            url: redact_url(url),
            source,
        };
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect)?
                .create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
                .map_err(connect)?;
            let _migrating = sqlite_migration_lock(&options).await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Backend::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url).map_err(connect)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect)?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        };
        Ok(Store { backend })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The SQLite pool, for the daemon's single-writer lock.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(p) => Some(p),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for advisory locks between replicas.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }

    /// Finds or creates the workspace row.
    pub async fn ensure_workspace(
        &self,
        name: &str,
        provider: &str,
        host: &str,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<WorkspaceKey, DirectoryError> {
        on_conn!(self, |c, m| m::ensure_workspace(
            c, name, provider, host, account, now
        )
        .await)
    }

    /// Records a run a guard refused and holds its plan (once per distinct plan), in one
    /// transaction.
    pub async fn record_held_run(
        &self,
        ws: &WorkspaceKey,
        run: &RunRecord,
        plan: &Plan,
        detail: serde_json::Value,
        digest: &str,
        trips: &str,
    ) -> Result<(i64, HoldChange), DirectoryError> {
        in_tx!(self, |c, m| m::record_held_run(
            c, ws, run, plan, detail, digest, trips
        )
        .await)
    }

    /// Keeps what a fetch showed (the snapshot as JSON), the evidence `explain` reads.
    pub async fn keep_evidence(
        &self,
        ws: &WorkspaceKey,
        run_id: Option<i64>,
        at: DateTime<Utc>,
        snapshot: &str,
    ) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::keep_evidence(c, ws, run_id, at, snapshot)
            .await)
    }

    /// The last evidence of a workspace: (run id, time, snapshot JSON).
    pub async fn evidence(
        &self,
        workspace: &str,
    ) -> Result<Option<(Option<i64>, DateTime<Utc>, String)>, DirectoryError> {
        on_conn!(self, |c, m| m::evidence(c, workspace).await)
    }

    /// The held plans, of one workspace or of all.
    pub async fn holds(&self, workspace: Option<&str>) -> Result<Vec<HoldRow>, DirectoryError> {
        on_conn!(self, |c, m| m::holds(c, workspace).await)
    }

    /// Points a stored workspace at another host name of the same provider instance, with its
    /// members' identities, in one transaction. Returns how many identities moved.
    pub async fn rekey_workspace(
        &self,
        name: &str,
        provider: &str,
        host: &str,
    ) -> Result<u64, DirectoryError> {
        in_tx!(self, |c, m| m::rekey_workspace(c, name, provider, host)
            .await)
    }

    /// The workspace row by name, if it was ever synced.
    pub async fn workspace(&self, name: &str) -> Result<Option<WorkspaceKey>, DirectoryError> {
        on_conn!(self, |c, m| m::workspace(c, name).await)
    }

    /// Loads what the directory holds for a workspace.
    pub async fn load_current(
        &self,
        ws: &WorkspaceKey,
        admin_role: &str,
    ) -> Result<Current, DirectoryError> {
        on_conn!(self, |c, m| m::load_current(c, ws, admin_role).await)
    }

    /// Applies a plan and records the run and its audit events, in one transaction.
    /// Returns the run id.
    pub async fn apply(
        &self,
        ws: &WorkspaceKey,
        plan: &Plan,
        run: &RunRecord,
    ) -> Result<i64, DirectoryError> {
        let applied: Result<i64, DirectoryError> =
            in_tx!(self, |c, m| m::apply(c, ws, plan, run).await);
        applied.map_err(concurrent_insert_is_a_conflict)
    }

    /// Records a run that applied nothing (dry run, aborted, failed), with an audit event that
    /// carries the plan (if any) so a human can read what was refused.
    pub async fn record_run(
        &self,
        ws: &WorkspaceKey,
        run: &RunRecord,
        plan: Option<&Plan>,
        detail: serde_json::Value,
    ) -> Result<i64, DirectoryError> {
        in_tx!(self, |c, m| m::record_run(c, ws, run, plan, detail).await)
    }

    /// Records teams as unavailable (or available again) for `status`.
    pub async fn set_teams_status(
        &self,
        ws: &WorkspaceKey,
        status: Option<&str>,
    ) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::set_teams_status(c, ws.id, status).await)
    }

    pub async fn list_users(
        &self,
        workspace: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<UserRow>, DirectoryError> {
        on_conn!(self, |c, m| m::list_users(c, workspace, state).await)
    }

    pub async fn list_teams(
        &self,
        workspace: Option<&str>,
    ) -> Result<Vec<TeamRow>, DirectoryError> {
        on_conn!(self, |c, m| m::list_teams(c, workspace).await)
    }

    pub async fn audit(
        &self,
        workspace: Option<&str>,
        since: Option<DateTime<Utc>>,
        run: Option<i64>,
    ) -> Result<Vec<AuditRow>, DirectoryError> {
        on_conn!(self, |c, m| m::audit(c, workspace, since, run).await)
    }

    /// The latest runs, newest first, at most `limit` per workspace.
    pub async fn recent_runs(
        &self,
        workspace: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, DirectoryError> {
        on_conn!(self, |c, m| m::recent_runs(c, workspace, limit).await)
    }

    /// Memberships per state of a workspace, for the `members` gauge.
    pub async fn member_counts(
        &self,
        workspace: &str,
    ) -> Result<Vec<(String, i64)>, DirectoryError> {
        on_conn!(self, |c, m| m::member_counts(c, workspace).await)
    }

    /// Records the last webhook event of a workspace, for `status`.
    pub async fn set_last_event(&self, workspace: &str, text: &str) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::set_last_event(c, workspace, text).await)
    }

    /// Why teams are unavailable (if they are) and the last webhook event of a workspace.
    pub async fn workspace_notes(
        &self,
        workspace: &str,
    ) -> Result<(Option<String>, Option<String>), DirectoryError> {
        on_conn!(self, |c, m| m::workspace_notes(c, workspace).await)
    }

    /// Checks that the directory answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::ping(c).await)
    }

    /// The last successful run's end per workspace name.
    pub async fn last_success(
        &self,
        workspace: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        on_conn!(self, |c, m| m::last_success(c, workspace).await)
    }

    pub async fn cache_load(
        &self,
        key: &str,
    ) -> Result<Option<orgsync_core::cache::CachedResponse>, DirectoryError> {
        on_conn!(self, |c, m| m::cache_load(c, key).await)
    }

    pub async fn cache_store(
        &self,
        key: &str,
        response: &orgsync_core::cache::CachedResponse,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::cache_store(c, key, response, now).await)
    }

    /// Marks a run of `workspace` as started (outcome `running`, `error` naming the replica), so
    /// that a run whose process is killed still leaves a record: the next start turns it into a
    /// failed run ([`Store::fail_interrupted_runs`]). `None` for a workspace never synced yet.
    /// [`Store::recent_runs`] does not list these markers.
    pub async fn mark_run_started(
        &self,
        workspace: &str,
        trigger: &str,
        replica: &str,
    ) -> Result<Option<i64>, DirectoryError> {
        let sql = "INSERT INTO sync_runs (workspace_id, trigger, started_at, outcome, error)
                   SELECT id, $2, $3, 'running', $4 FROM workspaces WHERE name = $1
                   RETURNING id";
        let note = format!("running on {replica}");
        let now = Utc::now();
        Ok(match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_scalar(sql)
                    .bind(workspace)
                    .bind(trigger)
                    .bind(now)
                    .bind(note)
                    .fetch_optional(pool)
                    .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_scalar(sql)
                    .bind(workspace)
                    .bind(trigger)
                    .bind(now)
                    .bind(note)
                    .fetch_optional(pool)
                    .await?
            }
        })
    }

    /// Removes a run's start marker once the run recorded itself.
    pub async fn clear_run_marker(&self, id: i64) {
        let sql = "DELETE FROM sync_runs WHERE id = $1 AND outcome = 'running'";
        let result = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(sql).bind(id).execute(pool).await.map(drop),
            Backend::Postgres(pool) => sqlx::query(sql).bind(id).execute(pool).await.map(drop),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot clear the run marker");
        }
    }

    /// Turns start markers into failed runs with `reason`: those of `workspace` (or all), left
    /// by a replica whose name starts with `replica_prefix`, or started before `stale_before`.
    /// Returns how many.
    pub async fn fail_interrupted_runs(
        &self,
        workspace: Option<&str>,
        replica_prefix: &str,
        stale_before: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<u64, DirectoryError> {
        let sql = "UPDATE sync_runs SET outcome = 'failed', finished_at = $1, error = $2
                   WHERE outcome = 'running'
                     AND ($3 IS NULL OR workspace_id IN (SELECT id FROM workspaces WHERE name = $3))
                     AND (substr(error, 1, length($4)) = $4 OR ($5 IS NOT NULL AND started_at < $5))";
        let prefix = format!("running on {replica_prefix}");
        let now = Utc::now();
        let done = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(sql)
                .bind(now)
                .bind(reason)
                .bind(workspace)
                .bind(&prefix)
                .bind(stale_before)
                .execute(pool)
                .await?
                .rows_affected(),
            Backend::Postgres(pool) => sqlx::query(sql)
                .bind(now)
                .bind(reason)
                .bind(workspace)
                .bind(&prefix)
                .bind(stale_before)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(done)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// The directory as the HTTP layer's conditional-request cache. Failures cost requests, never
/// a fetch, so they are logged and swallowed.
#[async_trait::async_trait]
impl orgsync_core::cache::HttpCache for Store {
    async fn load(&self, key: &str) -> Option<orgsync_core::cache::CachedResponse> {
        match self.cache_load(key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "http cache read failed");
                None
            }
        }
    }

    async fn store(&self, key: &str, response: &orgsync_core::cache::CachedResponse) {
        if let Err(e) = self.cache_store(key, response, Utc::now()).await {
            tracing::warn!(error = %e, "http cache write failed");
        }
    }

    async fn remove(&self, key: &str) {
        let sql = "DELETE FROM http_cache WHERE key = $1";
        let result = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(sql).bind(key).execute(pool).await.map(drop),
            Backend::Postgres(pool) => sqlx::query(sql).bind(key).execute(pool).await.map(drop),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "http cache eviction failed");
        }
    }
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

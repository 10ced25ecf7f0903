//! The outbox: change events written in the apply's transaction, and each downstream target's
//! delivery state (how far it got, which events failed, which are dead letters).
//!
//! Delivery is in outbox order per target, so a person's events arrive in the order they
//! happened. A target remembers the last outbox id it finished (`delivered_through`); an event
//! that fails gets a row in `downstream_failures` with its attempts and the time of the next
//! one, and after `max_attempts` it becomes a dead letter and the target moves past it.
//! `downstream retry` requeues dead letters; they are delivered before newer events.
//! Times that SQL compares are Unix milliseconds, so both databases order them alike.

use super::{DirectoryError, Store, WorkspaceKey};
use crate::downstream::events::events_for;
use crate::sync::plan::Plan;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An event as the outbox holds it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxEvent {
    pub id: i64,
    pub event_id: String,
    pub workspace_id: i64,
    pub workspace: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<i64>,
    pub team_slug: Option<String>,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// Failed attempts so far (0 for an event never tried).
    #[sqlx(default)]
    pub attempts: i32,
}

/// What a target's worker should do next.
#[derive(Debug)]
pub enum Next {
    /// Deliver this event.
    Deliver(OutboxEvent),
    /// The next event waits for its retry time (Unix ms).
    WaitUntil(i64),
    /// Nothing to deliver.
    Idle,
}

/// A target's queue, for `downstream list`, `status` and the metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetCounts {
    pub target: String,
    /// Events not yet delivered (retrying and requeued included, dead letters not).
    pub queued: i64,
    pub retrying: i64,
    pub dead: i64,
    pub last_error: Option<String>,
}

/// A failed event, for `downstream list`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FailureRow {
    pub outbox_id: i64,
    pub event_id: String,
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: String,
}

fn event_id() -> String {
    let mut buf = [0u8; 12];
    if getrandom::fill(&mut buf).is_err() {
        // The id only has to be unique; the clock and a counter are enough without entropy.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        return format!("evt_{t:x}{n:x}");
    }
    let mut s = String::from("evt_");
    for b in buf {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Outbox rows written per statement.
const BATCH: usize = 100;

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO outbox (event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let b = r * 8;
        sql.push('(');
        for k in 1..=8 {
            if k > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", b + k));
        }
        sql.push(')');
    }
    sql
}

const EVENT_COLUMNS: &str =
    "o.id, o.event_id, o.workspace_id, w.name AS workspace, o.type, o.user_id,
     o.team_slug, o.payload, o.created_at";

macro_rules! outbox_ops {
    ($module:ident, $conn:ty) => {
        pub mod $module {
            use super::*;
            use sqlx::Row;
            use std::collections::HashMap;

            type Conn = $conn;

            /// Writes the plan's events; called by the apply inside its transaction.
            pub async fn enqueue(
                c: &mut Conn,
                ws: &WorkspaceKey,
                run_id: i64,
                plan: &Plan,
                now: DateTime<Utc>,
            ) -> Result<usize, DirectoryError> {
                let events = events_for(plan);
                if events.is_empty() {
                    return Ok(0);
                }
                let rows = sqlx::query(
                    "SELECT provider_user_id, user_id FROM identities WHERE provider = $1 AND host = $2",
                )
                .bind(&ws.provider)
                .bind(&ws.host)
                .fetch_all(&mut *c)
                .await?;
                let mut users: HashMap<String, i64> = HashMap::with_capacity(rows.len());
                for r in rows {
                    users.insert(r.try_get("provider_user_id")?, r.try_get("user_id")?);
                }
                let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                for chunk in events.chunks(BATCH) {
                    let sql = insert_sql(chunk.len());
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for e in chunk {
                        let user_id = e.user_id.or_else(|| {
                            e.provider_user_id.as_ref().and_then(|p| users.get(p).copied())
                        });
                        let mut data = e.data.clone();
                        if let Some(obj) = data.as_object_mut() {
                            obj.insert("workspace".into(), ws.name.clone().into());
                            obj.insert("provider".into(), ws.provider.clone().into());
                            if e.provider_user_id.is_some() {
                                obj.insert("user_id".into(), user_id.into());
                            }
                        }
                        let payload = serde_json::json!({
                            "type": e.kind,
                            "timestamp": stamp,
                            "data": data,
                        });
                        q = q
                            .bind(event_id())
                            .bind(ws.id)
                            .bind(run_id)
                            .bind(e.kind)
                            .bind(user_id)
                            .bind(e.team.clone())
                            .bind(payload.to_string())
                            .bind(now);
                    }
                    q.execute(&mut *c).await?;
                }
                Ok(events.len())
            }

            pub async fn ensure_target(
                c: &mut Conn,
                name: &str,
                now: DateTime<Utc>,
            ) -> Result<(), DirectoryError> {
                sqlx::query(
                    "INSERT INTO downstream_targets (name, delivered_through, updated_at)
                     VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            /// Takes (or renews) the target's lease for `owner` until `until_ms`; false when
            /// another worker holds it.
            pub async fn claim(
                c: &mut Conn,
                name: &str,
                owner: &str,
                now_ms: i64,
                until_ms: i64,
            ) -> Result<bool, DirectoryError> {
                let r = sqlx::query(
                    "UPDATE downstream_targets SET lease_owner = $1, lease_until_ms = $2
                     WHERE name = $3
                       AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until_ms IS NULL
                            OR lease_until_ms < $4)",
                )
                .bind(owner)
                .bind(until_ms)
                .bind(name)
                .bind(now_ms)
                .execute(&mut *c)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            pub async fn release(
                c: &mut Conn,
                name: &str,
                owner: &str,
            ) -> Result<(), DirectoryError> {
                sqlx::query(
                    "UPDATE downstream_targets SET lease_owner = NULL, lease_until_ms = NULL
                     WHERE name = $1 AND lease_owner = $2",
                )
                .bind(name)
                .bind(owner)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn through(c: &mut Conn, name: &str) -> Result<i64, DirectoryError> {
                Ok(sqlx::query_scalar(
                    "SELECT delivered_through FROM downstream_targets WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *c)
                .await?
                .unwrap_or(0))
            }

            async fn advance(c: &mut Conn, name: &str, id: i64) -> Result<(), DirectoryError> {
                sqlx::query(
                    "UPDATE downstream_targets SET delivered_through = $1
                     WHERE name = $2 AND delivered_through < $1",
                )
                .bind(id)
                .bind(name)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            /// The next event for `target`: requeued dead letters first, then the oldest event
            /// past the target's position in the workspaces it follows (`None`: all).
            pub async fn next(
                c: &mut Conn,
                target: &str,
                workspaces: Option<&[i64]>,
                now_ms: i64,
            ) -> Result<Next, DirectoryError> {
                let requeued = sqlx::query_as::<_, OutboxEvent>(sqlx::AssertSqlSafe(format!(
                    "SELECT {EVENT_COLUMNS}, f.attempts FROM downstream_failures f
                     JOIN outbox o ON o.id = f.outbox_id JOIN workspaces w ON w.id = o.workspace_id
                     WHERE f.target = $1 AND f.state = 'requeued' AND f.next_attempt_ms <= $2
                     ORDER BY o.id LIMIT 1"
                )))
                .bind(target)
                .bind(now_ms)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(e) = requeued {
                    return Ok(Next::Deliver(e));
                }
                loop {
                    let from = through(c, target).await?;
                    let batch = sqlx::query_as::<_, OutboxEvent>(sqlx::AssertSqlSafe(format!(
                        "SELECT {EVENT_COLUMNS} FROM outbox o JOIN workspaces w ON w.id = o.workspace_id
                         WHERE o.id > $1 ORDER BY o.id LIMIT 500"
                    )))
                    .bind(from)
                    .fetch_all(&mut *c)
                    .await?;
                    let Some(last) = batch.last().map(|e| e.id) else {
                        return Ok(Next::Idle);
                    };
                    let found = batch
                        .into_iter()
                        .find(|e| workspaces.is_none_or(|w| w.contains(&e.workspace_id)));
                    let Some(mut e) = found else {
                        advance(c, target, last).await?;
                        continue;
                    };
                    if e.id > from + 1 {
                        advance(c, target, e.id - 1).await?;
                    }
                    let failure = sqlx::query(
                        "SELECT attempts, next_attempt_ms, state FROM downstream_failures
                         WHERE target = $1 AND outbox_id = $2",
                    )
                    .bind(target)
                    .bind(e.id)
                    .fetch_optional(&mut *c)
                    .await?;
                    if let Some(f) = failure {
                        let state: String = f.try_get("state")?;
                        if state == "dead" {
                            // Moved past already; only a crash between the two writes leaves this.
                            advance(c, target, e.id).await?;
                            continue;
                        }
                        e.attempts = f.try_get("attempts")?;
                        let at: i64 = f.try_get("next_attempt_ms")?;
                        if at > now_ms {
                            return Ok(Next::WaitUntil(at));
                        }
                    }
                    return Ok(Next::Deliver(e));
                }
            }

            pub async fn mark_delivered(
                c: &mut Conn,
                target: &str,
                event: &OutboxEvent,
            ) -> Result<(), DirectoryError> {
                let requeued: Option<String> = sqlx::query_scalar(
                    "DELETE FROM downstream_failures WHERE target = $1 AND outbox_id = $2 RETURNING state",
                )
                .bind(target)
                .bind(event.id)
                .fetch_optional(&mut *c)
                .await?;
                if requeued.as_deref() != Some("requeued") {
                    advance(c, target, event.id).await?;
                }
                Ok(())
            }

            /// Records a failed attempt; `dead` makes it a dead letter and moves the target past it.
            pub async fn mark_failed(
                c: &mut Conn,
                target: &str,
                event: &OutboxEvent,
                next_attempt_ms: i64,
                error: &str,
                dead: bool,
                now: DateTime<Utc>,
            ) -> Result<(), DirectoryError> {
                let was: Option<String> = sqlx::query_scalar(
                    "SELECT state FROM downstream_failures WHERE target = $1 AND outbox_id = $2",
                )
                .bind(target)
                .bind(event.id)
                .fetch_optional(&mut *c)
                .await?;
                let state = match (dead, was.as_deref()) {
                    (true, _) => "dead",
                    (false, Some("requeued")) => "requeued",
                    (false, _) => "retrying",
                };
                sqlx::query(
                    "INSERT INTO downstream_failures
                         (target, outbox_id, state, attempts, next_attempt_ms, last_error, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (target, outbox_id) DO UPDATE SET state = excluded.state,
                         attempts = excluded.attempts, next_attempt_ms = excluded.next_attempt_ms,
                         last_error = excluded.last_error, updated_at = excluded.updated_at",
                )
                .bind(target)
                .bind(event.id)
                .bind(state)
                .bind(event.attempts + 1)
                .bind(next_attempt_ms)
                .bind(error)
                .bind(now)
                .execute(&mut *c)
                .await?;
                if dead {
                    advance(c, target, event.id).await?;
                }
                Ok(())
            }

            pub async fn counts(
                c: &mut Conn,
                target: &str,
                workspaces: Option<&[i64]>,
            ) -> Result<TargetCounts, DirectoryError> {
                let from = through(c, target).await?;
                let ids: Vec<i64> = sqlx::query_scalar("SELECT workspace_id FROM outbox WHERE id > $1")
                    .bind(from)
                    .fetch_all(&mut *c)
                    .await?;
                let pending = ids
                    .iter()
                    .filter(|w| workspaces.is_none_or(|ws| ws.contains(w)))
                    .count() as i64;
                let mut counts = TargetCounts {
                    target: target.to_string(),
                    queued: pending,
                    ..TargetCounts::default()
                };
                let rows = sqlx::query(
                    "SELECT state, COUNT(*) AS n FROM downstream_failures WHERE target = $1 GROUP BY state",
                )
                .bind(target)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    let state: String = r.try_get("state")?;
                    let n: i64 = r.try_get("n")?;
                    match state.as_str() {
                        "dead" => counts.dead = n,
                        "requeued" => counts.queued += n,
                        _ => counts.retrying = n,
                    }
                }
                counts.last_error = sqlx::query_scalar(
                    "SELECT last_error FROM downstream_failures WHERE target = $1
                     ORDER BY updated_at DESC, outbox_id DESC LIMIT 1",
                )
                .bind(target)
                .fetch_optional(&mut *c)
                .await?;
                Ok(counts)
            }

            pub async fn failures(
                c: &mut Conn,
                target: &str,
            ) -> Result<Vec<FailureRow>, DirectoryError> {
                Ok(sqlx::query_as::<_, FailureRow>(
                    "SELECT f.outbox_id, o.event_id, o.type, f.state, f.attempts, f.last_error
                     FROM downstream_failures f JOIN outbox o ON o.id = f.outbox_id
                     WHERE f.target = $1 ORDER BY f.outbox_id",
                )
                .bind(target)
                .fetch_all(&mut *c)
                .await?)
            }

            /// Requeues the target's dead letters; returns how many.
            pub async fn retry(
                c: &mut Conn,
                target: &str,
                now: DateTime<Utc>,
            ) -> Result<u64, DirectoryError> {
                let r = sqlx::query(
                    "UPDATE downstream_failures SET state = 'requeued', attempts = 0,
                         next_attempt_ms = 0, updated_at = $2
                     WHERE target = $1 AND state = 'dead'",
                )
                .bind(target)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(r.rows_affected())
            }

            pub async fn workspace_ids(
                c: &mut Conn,
                names: &[String],
            ) -> Result<Vec<i64>, DirectoryError> {
                let rows = sqlx::query("SELECT id, name FROM workspaces")
                    .fetch_all(&mut *c)
                    .await?;
                let mut ids = Vec::new();
                for r in rows {
                    let name: String = r.try_get("name")?;
                    if names.contains(&name) {
                        ids.push(r.try_get("id")?);
                    }
                }
                Ok(ids)
            }

            pub async fn scim_id(
                c: &mut Conn,
                target: &str,
                kind: &str,
                external_id: &str,
            ) -> Result<Option<String>, DirectoryError> {
                Ok(sqlx::query_scalar(
                    "SELECT scim_id FROM downstream_scim_ids WHERE target = $1 AND kind = $2 AND external_id = $3",
                )
                .bind(target)
                .bind(kind)
                .bind(external_id)
                .fetch_optional(&mut *c)
                .await?)
            }

            pub async fn set_scim_id(
                c: &mut Conn,
                target: &str,
                kind: &str,
                external_id: &str,
                scim_id: Option<&str>,
            ) -> Result<(), DirectoryError> {
                match scim_id {
                    Some(id) => {
                        sqlx::query(
                            "INSERT INTO downstream_scim_ids (target, kind, external_id, scim_id)
                             VALUES ($1, $2, $3, $4)
                             ON CONFLICT (target, kind, external_id) DO UPDATE SET scim_id = excluded.scim_id",
                        )
                        .bind(target)
                        .bind(kind)
                        .bind(external_id)
                        .bind(id)
                        .execute(&mut *c)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM downstream_scim_ids WHERE target = $1 AND kind = $2 AND external_id = $3",
                        )
                        .bind(target)
                        .bind(kind)
                        .bind(external_id)
                        .execute(&mut *c)
                        .await?;
                    }
                }
                Ok(())
            }

            pub async fn scim_ids(
                c: &mut Conn,
                target: &str,
                kind: &str,
            ) -> Result<Vec<(String, String)>, DirectoryError> {
                let rows = sqlx::query(
                    "SELECT external_id, scim_id FROM downstream_scim_ids WHERE target = $1 AND kind = $2",
                )
                .bind(target)
                .bind(kind)
                .fetch_all(&mut *c)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push((r.try_get("external_id")?, r.try_get("scim_id")?));
                }
                Ok(out)
            }
        }
    };
}

outbox_ops!(sqlite, sqlx::SqliteConnection);
outbox_ops!(postgres, sqlx::PgConnection);

/// Runs `$body` with a connection of the store's backend and the matching ops module.
macro_rules! with_conn {
    ($store:expr, |$c:ident, $m:ident| $body:expr) => {
        if let Some(pool) = $store.sqlite_pool() {
            let mut conn = pool.acquire().await?;
            let $c = &mut *conn;
            use sqlx_ops_sqlite as $m;
            $body
        } else if let Some(pool) = $store.postgres_pool() {
            let mut conn = pool.acquire().await?;
            let $c = &mut *conn;
            use sqlx_ops_postgres as $m;
            $body
        } else {
            Err(DirectoryError::Conflict("the store has no backend".into()))
        }
    };
}

use postgres as sqlx_ops_postgres;
use sqlite as sqlx_ops_sqlite;

/// The outbox and delivery state, over either backend.
impl Store {
    pub async fn outbox_ensure_target(&self, name: &str) -> Result<(), DirectoryError> {
        with_conn!(self, |c, m| m::ensure_target(c, name, Utc::now()).await)
    }

    pub async fn outbox_claim(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, DirectoryError> {
        with_conn!(self, |c, m| m::claim(c, name, owner, now_ms, until_ms)
            .await)
    }

    pub async fn outbox_release(&self, name: &str, owner: &str) -> Result<(), DirectoryError> {
        with_conn!(self, |c, m| m::release(c, name, owner).await)
    }

    pub async fn outbox_next(
        &self,
        target: &str,
        workspaces: Option<&[i64]>,
        now_ms: i64,
    ) -> Result<Next, DirectoryError> {
        with_conn!(self, |c, m| m::next(c, target, workspaces, now_ms).await)
    }

    pub async fn outbox_delivered(
        &self,
        target: &str,
        event: &OutboxEvent,
    ) -> Result<(), DirectoryError> {
        with_conn!(self, |c, m| m::mark_delivered(c, target, event).await)
    }

    pub async fn outbox_failed(
        &self,
        target: &str,
        event: &OutboxEvent,
        next_attempt_ms: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), DirectoryError> {
        with_conn!(self, |c, m| m::mark_failed(
            c,
            target,
            event,
            next_attempt_ms,
            error,
            dead,
            Utc::now()
        )
        .await)
    }

    pub async fn outbox_counts(
        &self,
        target: &str,
        workspaces: Option<&[i64]>,
    ) -> Result<TargetCounts, DirectoryError> {
        with_conn!(self, |c, m| m::counts(c, target, workspaces).await)
    }

    pub async fn outbox_failures(&self, target: &str) -> Result<Vec<FailureRow>, DirectoryError> {
        with_conn!(self, |c, m| m::failures(c, target).await)
    }

    pub async fn outbox_retry(&self, target: &str) -> Result<u64, DirectoryError> {
        with_conn!(self, |c, m| m::retry(c, target, Utc::now()).await)
    }

    pub async fn workspace_ids(&self, names: &[String]) -> Result<Vec<i64>, DirectoryError> {
        with_conn!(self, |c, m| m::workspace_ids(c, names).await)
    }

    pub async fn scim_id(
        &self,
        target: &str,
        kind: &str,
        external_id: &str,
    ) -> Result<Option<String>, DirectoryError> {
        with_conn!(self, |c, m| m::scim_id(c, target, kind, external_id).await)
    }

    pub async fn set_scim_id(
        &self,
        target: &str,
        kind: &str,
        external_id: &str,
        scim_id: Option<&str>,
    ) -> Result<(), DirectoryError> {
        with_conn!(self, |c, m| m::set_scim_id(
            c,
            target,
            kind,
            external_id,
            scim_id
        )
        .await)
    }

    pub async fn scim_ids(
        &self,
        target: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        with_conn!(self, |c, m| m::scim_ids(c, target, kind).await)
    }
}

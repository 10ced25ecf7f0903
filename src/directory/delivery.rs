//! Delivery: each target's lease, the next event for it (requeued dead letters first, then in
//! outbox order), and what a delivery or a failed attempt records. A target's position moves
//! only after a delivery or a dead letter, so a crash repeats an event and never skips one.

use super::outbox::{EVENT_COLUMNS, Next, OutboxEvent};
use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};

impl Store {
    /// Creates the target's position row (at the start of the outbox) unless it exists.
    pub async fn outbox_ensure_target(&self, name: &str) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::ensure_target(c, name, Utc::now()).await)
    }

    /// Records a failed delivery attempt of `event` with its error and the time of the next try
    /// (Unix ms): `retrying`, or a dead letter when `dead`, which moves the target past it.
    pub async fn outbox_failed(
        &self,
        target: &str,
        event: &OutboxEvent,
        next_attempt_ms: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::mark_failed(
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
}

forward! {
    /// Takes or renews the target's delivery lease for `owner` until `until_ms` (Unix ms); false
    /// while another worker's lease is unexpired, so one worker delivers per target.
    on_conn outbox_claim => claim(
        name: &str, owner: &str, now_ms: i64, until_ms: i64
    ) -> Result<bool, DirectoryError>;

    /// The next event for `target`: a requeued dead letter first, then the oldest event past its
    /// position in the `workspaces` (ids) it follows, all when `None`; or when to try again.
    on_conn outbox_next => next(
        target: &str, workspaces: Option<&[i64]>, now_ms: i64
    ) -> Result<Next, DirectoryError>;

    /// Records `event` delivered: clears its failure, and moves the target past it unless it was a
    /// requeued dead letter (the position had already passed it).
    on_conn outbox_delivered => mark_delivered(
        target: &str, event: &OutboxEvent
    ) -> Result<(), DirectoryError>;
}

forward! { crate:
    /// Gives up `owner`'s lease of the target (nothing if another worker holds it).
    on_conn outbox_release => release(name: &str, owner: &str) -> Result<(), DirectoryError>;
}

per_backend! {
    pub async fn ensure_target(
        c: &mut Conn,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "INSERT INTO downstream_targets (name, delivered_through, updated_at)
             VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING",
            name, now };
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
        let r = sql! { c, execute,
            "UPDATE downstream_targets SET lease_owner = $1, lease_until_ms = $2
             WHERE name = $3
               AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until_ms IS NULL
                    OR lease_until_ms < $4)",
            owner, until_ms, name, now_ms };
        Ok(r.rows_affected() == 1)
    }

    pub async fn release(
        c: &mut Conn,
        name: &str,
        owner: &str,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "UPDATE downstream_targets SET lease_owner = NULL, lease_until_ms = NULL
             WHERE name = $1 AND lease_owner = $2",
            name, owner };
        Ok(())
    }

    pub async fn through(c: &mut Conn, name: &str) -> Result<i64, DirectoryError> {
        Ok((sql! { scalar c, fetch_optional,
            "SELECT delivered_through FROM downstream_targets WHERE name = $1",
            name })
        .unwrap_or(0))
    }

    async fn advance(c: &mut Conn, name: &str, id: i64) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "UPDATE downstream_targets SET delivered_through = $1
             WHERE name = $2 AND delivered_through < $1",
            id, name };
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
        // A local position, so a target without a row (never ensured) cannot loop.
        let mut from = through(c, target).await?;
        loop {
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
                from = last;
                continue;
            };
            if e.id > from + 1 {
                advance(c, target, e.id - 1).await?;
            }
            let failure = sql! { c, fetch_optional,
                "SELECT attempts, next_attempt_ms, state FROM downstream_failures
                 WHERE target = $1 AND outbox_id = $2",
                target, e.id };
            if let Some(f) = failure {
                let state: String = f.try_get("state")?;
                if state == "dead" {
                    // Moved past already; only a crash between the two writes leaves this.
                    advance(c, target, e.id).await?;
                    from = e.id;
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
        let requeued: Option<String> = sql! { scalar c, fetch_optional,
            "DELETE FROM downstream_failures WHERE target = $1 AND outbox_id = $2 RETURNING state",
            target, event.id };
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
        let was: Option<String> = sql! { scalar c, fetch_optional,
            "SELECT state FROM downstream_failures WHERE target = $1 AND outbox_id = $2",
            target, event.id };
        let state = match (dead, was.as_deref()) {
            (true, _) => "dead",
            (false, Some("requeued")) => "requeued",
            (false, _) => "retrying",
        };
        sql! { c, execute,
            "INSERT INTO downstream_failures
                 (target, outbox_id, state, attempts, next_attempt_ms, last_error, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (target, outbox_id) DO UPDATE SET state = excluded.state,
                 attempts = excluded.attempts, next_attempt_ms = excluded.next_attempt_ms,
                 last_error = excluded.last_error, updated_at = excluded.updated_at",
            target, event.id, state, event.attempts + 1, next_attempt_ms, error, now };
        if dead {
            advance(c, target, event.id).await?;
        }
        Ok(())
    }
}

//! Each downstream target's queue as `downstream list`, `status` and the metrics show it,
//! requeueing its dead letters, pruning what every target passed, and the SCIM ids a target
//! assigned.

use super::outbox::{FailureRow, TargetCounts};
use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};

impl Store {
    /// Requeues the target's dead letters for delivery (attempts reset); returns how many.
    pub async fn outbox_retry(&self, target: &str) -> Result<u64, DirectoryError> {
        on_conn!(self, |c, m| m::retry(c, target, Utc::now()).await)
    }
}

forward! {
    /// The target's queue: events queued past its position in the `workspaces` (ids) it follows,
    /// retrying, dead, and the latest error.
    on_conn outbox_counts => counts(
        target: &str, workspaces: Option<&[i64]>
    ) -> Result<TargetCounts, DirectoryError>;

    /// Deletes events older than `before` that every one of `targets` has passed and that none
    /// holds as a failure; returns how many.
    on_conn outbox_prune => prune(
        targets: &[String], before: DateTime<Utc>
    ) -> Result<u64, DirectoryError>;
}

forward! { crate:
    /// The target's failed events (retrying, dead or requeued), in outbox order.
    on_conn outbox_failures => failures(target: &str) -> Result<Vec<FailureRow>, DirectoryError>;

    /// The id the SCIM server gave the resource of `kind` (`user` or `group`) with this
    /// `external_id` (a user id, or `workspace/slug`), if the target remembers one.
    on_conn scim_id => scim_id(
        target: &str, kind: &str, external_id: &str
    ) -> Result<Option<String>, DirectoryError>;

    /// Remembers (`Some`) or forgets (`None`) the SCIM server's id of a resource.
    on_conn set_scim_id => set_scim_id(
        target: &str, kind: &str, external_id: &str, scim_id: Option<&str>
    ) -> Result<(), DirectoryError>;

    /// Every `(external_id, scim_id)` the target remembers for `kind`: what orgsync created there.
    on_conn scim_ids => scim_ids(
        target: &str, kind: &str
    ) -> Result<Vec<(String, String)>, DirectoryError>;
}

per_backend! {
    pub async fn counts(
        c: &mut Conn,
        target: &str,
        workspaces: Option<&[i64]>,
    ) -> Result<TargetCounts, DirectoryError> {
        let from = db::delivery::through(c, target).await?;
        let ids: Vec<i64> = sql! { scalar c, fetch_all,
            "SELECT workspace_id FROM outbox WHERE id > $1",
            from };
        let pending = ids
            .iter()
            .filter(|w| workspaces.is_none_or(|ws| ws.contains(w)))
            .count() as i64;
        let mut counts = TargetCounts {
            target: target.to_string(),
            queued: pending,
            ..TargetCounts::default()
        };
        let rows = sql! { c, fetch_all,
            "SELECT state, COUNT(*) AS n FROM downstream_failures WHERE target = $1 GROUP BY state",
            target };
        for r in rows {
            let state: String = r.try_get("state")?;
            let n: i64 = r.try_get("n")?;
            match state.as_str() {
                "dead" => counts.dead = n,
                "requeued" => counts.queued += n,
                _ => counts.retrying = n,
            }
        }
        counts.last_error = sql! { scalar c, fetch_optional,
            "SELECT last_error FROM downstream_failures WHERE target = $1
             ORDER BY updated_at DESC, outbox_id DESC LIMIT 1",
            target };
        Ok(counts)
    }

    pub async fn failures(
        c: &mut Conn,
        target: &str,
    ) -> Result<Vec<FailureRow>, DirectoryError> {
        Ok(sql! { as FailureRow, c, fetch_all,
            "SELECT f.outbox_id, o.event_id, o.type, f.state, f.attempts, f.last_error
             FROM downstream_failures f JOIN outbox o ON o.id = f.outbox_id
             WHERE f.target = $1 ORDER BY f.outbox_id",
            target })
    }

    /// Requeues the target's dead letters; returns how many.
    pub async fn retry(
        c: &mut Conn,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, DirectoryError> {
        let r = sql! { c, execute,
            "UPDATE downstream_failures SET state = 'requeued', attempts = 0,
                 next_attempt_ms = 0, updated_at = $2
             WHERE target = $1 AND state = 'dead'",
            target, now };
        Ok(r.rows_affected())
    }

    /// Deletes events older than `before` that every target in `targets` has passed and
    /// that no target holds as a failure; returns how many.
    pub async fn prune(
        c: &mut Conn,
        targets: &[String],
        before: DateTime<Utc>,
    ) -> Result<u64, DirectoryError> {
        let mut upto = i64::MAX;
        for t in targets {
            upto = upto.min(db::delivery::through(c, t).await?);
        }
        let r = sql! { c, execute,
            "DELETE FROM outbox WHERE id <= $1 AND created_at < $2
               AND id NOT IN (SELECT outbox_id FROM downstream_failures)",
            upto, before };
        Ok(r.rows_affected())
    }

    pub async fn scim_id(
        c: &mut Conn,
        target: &str,
        kind: &str,
        external_id: &str,
    ) -> Result<Option<String>, DirectoryError> {
        Ok(sql! { scalar c, fetch_optional,
            "SELECT scim_id FROM downstream_scim_ids WHERE target = $1 AND kind = $2 AND external_id = $3",
            target, kind, external_id })
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
                sql! { c, execute,
                    "INSERT INTO downstream_scim_ids (target, kind, external_id, scim_id)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (target, kind, external_id) DO UPDATE SET scim_id = excluded.scim_id",
                    target, kind, external_id, id };
            }
            None => {
                sql! { c, execute,
                    "DELETE FROM downstream_scim_ids WHERE target = $1 AND kind = $2 AND external_id = $3",
                    target, kind, external_id };
            }
        }
        Ok(())
    }

    pub async fn scim_ids(
        c: &mut Conn,
        target: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let rows = sql! { c, fetch_all,
            "SELECT external_id, scim_id FROM downstream_scim_ids WHERE target = $1 AND kind = $2",
            target, kind };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.try_get("external_id")?, r.try_get("scim_id")?));
        }
        Ok(out)
    }
}

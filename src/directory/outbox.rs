//! The outbox: change events written in the apply's transaction, and each downstream target's
//! delivery state (how far it got, which events failed, which are dead letters).
//!
//! Delivery is in outbox order per target, so a person's events arrive in the order they
//! happened. A target remembers the last outbox id it finished (`delivered_through`); an event
//! that fails gets a row in `downstream_failures` with its attempts and the time of the next
//! one, and after `max_attempts` it becomes a dead letter and the target moves past it.
//! `downstream retry` requeues dead letters; they are delivered before newer events.
//! Times that SQL compares are Unix milliseconds, so both databases order them alike.
//! This file writes the events; `delivery.rs` hands them to the targets and `targets.rs` keeps
//! each target's queue.

use super::{DirectoryError, WorkspaceKey};
use crate::downstream::events::{Field, event_for};
use crate::sync::plan::Change;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// An event as the outbox holds it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxEvent {
    /// The outbox row id: increasing in write order, the order events are delivered in, and what
    /// a target's `delivered_through` counts.
    pub id: i64,
    /// The event's id as applications see it (`evt_` and 24 hex digits); the same on every
    /// attempt, so a receiver can drop duplicates (`webhook-id` of a webhook).
    pub event_id: String,
    /// The directory's id of the workspace the event belongs to.
    pub workspace_id: i64,
    /// The workspace's configured name.
    pub workspace: String,
    /// The event type, such as `member.onboarded` or `team.deleted`.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// The directory person the event is about; `None` for events about a team alone
    /// (`team.created`, …) and for a provider account the directory has no identity for.
    pub user_id: Option<i64>,
    /// The team of a `team.*` event; `None` for `member.*` events.
    pub team_slug: Option<String>,
    /// The JSON body sent to targets: `type`, `timestamp` and `data`.
    pub payload: String,
    /// When the apply (or admin command) that caused the event wrote it: the payload's
    /// `timestamp`.
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
    /// The target's `[[downstream]] name`.
    pub target: String,
    /// Events not yet delivered (retrying and requeued included, dead letters not).
    pub queued: i64,
    /// Events that failed and wait for their next attempt.
    pub retrying: i64,
    /// Dead letters: events that failed `max_attempts` times and are no longer tried until
    /// `downstream retry` requeues them.
    pub dead: i64,
    /// The most recent failure's error of this target (of any state); `None` when nothing ever
    /// failed or the failures were all delivered since.
    pub last_error: Option<String>,
}

/// A failed event, for `downstream list`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FailureRow {
    /// The event's outbox row id ([`OutboxEvent::id`]).
    pub outbox_id: i64,
    /// The event's id as applications see it ([`OutboxEvent::event_id`]).
    pub event_id: String,
    /// The event type, such as `member.onboarded`.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// `retrying` (waiting for its next attempt), `dead` (a dead letter) or `requeued` (by
    /// `downstream retry`, delivered before newer events).
    pub state: String,
    /// Failed attempts so far; reset to 0 when a dead letter is requeued.
    pub attempts: i32,
    /// The error of the latest failed attempt.
    pub last_error: String,
}

/// Event ids, `evt_` and 24 hex digits, in the order they are written: 44 bits of the Unix time in
/// milliseconds when the generator was made, 28 random bits drawn then, and a 24-bit sequence.
///
/// Ordered ids keep the unique index on `event_id` growing at its right edge: random ids sent
/// each of a cold plan's 200,000 inserts to a random page of that index, which cost SQLite
/// 0.85 s of a 1.5 s insert and PostgreSQL about 1 s (BENCHMARKS.md, "The floor"). Two
/// generators (two applies, two replicas) differ in their time or, within one millisecond, in
/// their random bits; a clash of both fails that apply's insert as a conflict, never reuses an
/// id. The id says when it was written, which the payload's `timestamp` says anyway: it is a
/// name to drop repeats by, not a secret.
struct EventIds {
    millis: u64,
    random: u32,
    sequence: u32,
}

impl EventIds {
    const RANDOM_BITS: u32 = 28;
    const SEQUENCE_BITS: u32 = 24;

    fn new() -> EventIds {
        let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        EventIds::starting(millis, Self::draw())
    }

    fn starting(millis: u64, random: u32) -> EventIds {
        EventIds {
            millis: millis & ((1 << 44) - 1),
            random: random & ((1 << Self::RANDOM_BITS) - 1),
            sequence: 0,
        }
    }

    /// Random bits from the operating system; without entropy, a process-wide counter (the
    /// ids stay unique within the process, which is what is left to promise then).
    fn draw() -> u32 {
        let mut bytes = [0u8; 4];
        match getrandom::fill(&mut bytes) {
            Ok(()) => u32::from_le_bytes(bytes),
            Err(_) => {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            }
        }
    }

    fn next(&mut self) -> String {
        if self.sequence == 1 << Self::SEQUENCE_BITS {
            // 16.7 million events in one apply: go on under the next random bits.
            *self = EventIds::starting(self.millis, self.random.wrapping_add(1));
        }
        let id = format!(
            "evt_{:011x}{:07x}{:06x}",
            self.millis, self.random, self.sequence
        );
        self.sequence += 1;
        id
    }
}

pub(super) const EVENT_COLUMNS: &str =
    "o.id, o.event_id, o.workspace_id, w.name AS workspace, o.type, o.user_id,
     o.team_slug, o.payload, o.created_at";

per_backend! {
    /// Writes the event of an admin command (suspend, unsuspend, role pin, service account,
    /// accepted invitation) in the command's own transaction, so an application hears of it as
    /// of a sync's change: `kind` is one of the existing types (a suspension is a
    /// `member.offboarded` with `state: suspended`). `data` gets the person's identity in the
    /// workspace where there is one, `workspace`, `provider`, `user_id` and `by: "admin"`.
    pub async fn enqueue_admin(
        c: &mut Conn,
        ws: &WorkspaceKey,
        user_id: i64,
        (kind, team): (&'static str, Option<&str>),
        mut data: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        let identity = sql! { c, fetch_optional,
            "SELECT provider_user_id, login FROM identities
             WHERE user_id = $1 AND provider = $2 AND host = $3",
            user_id, &ws.provider, &ws.host };
        if let Some(obj) = data.as_object_mut() {
            if let Some(r) = identity {
                let pid: String = r.try_get("provider_user_id")?;
                let login: Option<String> = r.try_get("login")?;
                obj.insert("provider_user_id".into(), pid.into());
                obj.insert("login".into(), login.into());
            }
            obj.insert("workspace".into(), ws.name.clone().into());
            obj.insert("provider".into(), ws.provider.clone().into());
            obj.insert("user_id".into(), user_id.into());
            obj.insert("by".into(), "admin".into());
        }
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let payload = payload(kind, &stamp, &data)?;
        sql! { c, execute,
            "INSERT INTO outbox (event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at)
             VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)",
            EventIds::new().next(), ws.id, kind, user_id, team, payload, now };
        Ok(())
    }
}

/// The outbox rows of one apply, made change by change in the plan's order and written with
/// the apply's other batches, so a person's events keep their order and nothing is read back.
pub(super) struct Events {
    ids: EventIds,
    stamp: String,
    workspace: String,
    provider: String,
}

/// An outbox row as the apply gathers it: event id, type, user id, team, payload.
pub(super) type EventRow = (String, &'static str, Option<i64>, Option<String>, String);

impl Events {
    pub fn new(ws: &WorkspaceKey, now: DateTime<Utc>) -> Events {
        Events {
            ids: EventIds::new(),
            stamp: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            workspace: ws.name.clone(),
            provider: ws.provider.clone(),
        }
    }

    /// The row of `change`'s event, if it has one. `users` maps provider user ids to the
    /// directory's, as the apply resolved them (a new person's id included).
    pub fn row(
        &mut self,
        change: &Change,
        users: &HashMap<String, i64>,
    ) -> Result<Option<EventRow>, DirectoryError> {
        let Some(mut e) = event_for(change) else {
            return Ok(None);
        };
        let user_id = e
            .user_id
            .or_else(|| e.provider_user_id.and_then(|p| users.get(p).copied()));
        e.data
            .set("workspace", Field::from(self.workspace.as_str()));
        e.data.set("provider", Field::from(self.provider.as_str()));
        if e.provider_user_id.is_some() {
            e.data.set("user_id", Field::from(user_id));
        }
        Ok(Some((
            self.ids.next(),
            e.kind,
            user_id,
            e.team.map(str::to_string),
            payload(e.kind, &self.stamp, &e.data)?,
        )))
    }
}

/// An event's payload as applications receive it: `data`, `timestamp` and `type`, in that
/// order (their keys' order, as serde_json's maps always wrote them).
#[derive(Serialize)]
struct Payload<'a, D> {
    data: &'a D,
    timestamp: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// The text of an event's payload.
fn payload<D: Serialize>(kind: &str, stamp: &str, data: &D) -> Result<String, DirectoryError> {
    let payload = Payload {
        data,
        timestamp: stamp,
        kind,
    };
    serde_json::to_string(&payload)
        .map_err(|e| DirectoryError::Sql(sqlx::Error::Encode(Box::new(e))))
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;

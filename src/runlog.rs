//! The log line of a run: one per run, whatever its outcome, with the same fields every time
//! (so a collector can index them), and one line per change at debug.
//!
//! In JSON (`--log-format json`) the line is one object with `fields.message = "sync run"`;
//! text that came from a provider is escaped in the text format (see [`crate::text`]).

use crate::directory::RunOutcome;
use crate::run::RunReport;
use crate::sync::ChangeKind;
use crate::text::Escaped;
use tracing::Level;

/// The message of the per-run line.
pub const RUN_MESSAGE: &str = "sync run";
/// The message of a per-change line (debug).
pub const CHANGE_MESSAGE: &str = "change";

/// Logs `r`: info for a run that applied or planned, warn for a refused (held) one, error for a
/// failed one; every field is present in each (empty or zero when it does not apply).
pub fn log(r: &RunReport) {
    let tally = r.plan.tally();
    let guard_trips = r
        .guard_trips
        .iter()
        .map(|t| t.label())
        .collect::<Vec<_>>()
        .join(",");
    let error = r.error.as_deref().unwrap_or("");
    let teams_unavailable = r.teams_unavailable.as_deref().unwrap_or("");
    // `tracing::event!` wants its level as a constant: one expansion per level, one field list.
    macro_rules! run_event {
        ($level:expr) => {
            tracing::event!(
                $level,
                run_id = r.run_id.unwrap_or_default(),
                workspace = %Escaped(&r.workspace),
                trigger = %r.trigger,
                outcome = r.outcome.as_str(),
                held = r.held,
                forced = r.forced,
                changes = r.plan.changes.len(),
                onboarded = tally[ChangeKind::Onboard],
                reactivated = tally[ChangeKind::Reactivate],
                offboarded = tally[ChangeKind::Offboard],
                role_changes = tally[ChangeKind::RoleChange],
                unconfirmed = r.plan.unconfirmed.len(),
                guard_trips = %guard_trips,
                requests = r.requests,
                not_modified = r.requests_not_modified,
                duration_s = r.duration_seconds,
                active_members = r.active_members,
                teams_unavailable = %Escaped(teams_unavailable),
                error = %Escaped(error),
                "{}",
                RUN_MESSAGE
            )
        };
    }
    match r.outcome {
        RunOutcome::Ok | RunOutcome::DryRun => run_event!(Level::INFO),
        RunOutcome::Aborted | RunOutcome::Continuing => run_event!(Level::WARN),
        RunOutcome::Failed => run_event!(Level::ERROR),
    }
    if tracing::enabled!(Level::DEBUG) {
        let applied = r.outcome == RunOutcome::Ok;
        for c in &r.plan.changes {
            tracing::debug!(
                run_id = r.run_id.unwrap_or_default(),
                workspace = %Escaped(&r.workspace),
                kind = c.kind().as_str(),
                applied,
                change = %c,
                "{}",
                CHANGE_MESSAGE
            );
        }
    }
}

//! What the CLI prints: aligned tables for people, JSON for programs.

use super::{EXIT_OK, Failure, term};
use crate::config::Config;
use crate::directory::{AuditRow, RunOutcome, Store, TeamRow, UserRow};
use crate::run::RunReport;
use crate::term::table;
use crate::text::summarise_detail;
use serde::Serialize;

/// Pretty JSON on standard output (serde escapes control characters inside strings).
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) {
    super::term::block(&serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string()));
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".to_string())
}

pub(crate) fn users(rows: &[UserRow], as_json: bool) {
    if as_json {
        return json(&rows);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.workspace.clone(),
                r.user_id.to_string(),
                dash(&r.login),
                dash(&r.name),
                if r.role_pinned {
                    format!("{} (pinned)", r.role)
                } else {
                    r.role.clone()
                },
                r.state.clone(),
                r.source.clone(),
                if r.teams.is_empty() {
                    "-".to_string()
                } else {
                    r.teams.join(",")
                },
                dash(&r.reason),
            ]
        })
        .collect();
    super::term::block(&table(
        &[
            "WORKSPACE",
            "ID",
            "LOGIN",
            "NAME",
            "ROLE",
            "STATE",
            "SOURCE",
            "TEAMS",
            "REASON",
        ],
        &body,
    ));
}

pub(crate) fn teams(rows: &[TeamRow], as_json: bool) {
    if as_json {
        return json(&rows);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            vec![
                t.workspace.clone(),
                t.slug.clone(),
                dash(&t.parent),
                t.source.clone(),
                t.members
                    .iter()
                    .map(|(who, role)| {
                        if role == "maintainer" {
                            format!("{who}*")
                        } else {
                            who.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                t.repositories
                    .iter()
                    .map(|(r, p)| format!("{r}:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    super::term::block(&table(
        &[
            "WORKSPACE",
            "TEAM",
            "PARENT",
            "SOURCE",
            "MEMBERS (*maintainer)",
            "REPOSITORIES",
        ],
        &body,
    ));
}

pub(crate) fn audit(rows: &[AuditRow], as_json: bool) {
    if as_json {
        return json(&rows);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|a| {
            vec![
                a.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                a.workspace.clone().unwrap_or_else(|| "-".to_string()),
                a.run_id.map_or("-".to_string(), |r| r.to_string()),
                a.actor.clone(),
                a.action.clone(),
                a.subject.clone(),
                summarise_detail(&a.detail),
            ]
        })
        .collect();
    super::term::block(&table(
        &[
            "TIME (UTC)",
            "WORKSPACE",
            "RUN",
            "ACTOR",
            "ACTION",
            "SUBJECT",
            "DETAIL",
        ],
        &body,
    ));
}

/// A run as a person reads it: the outcome first, then the plan (its first line counts the
/// changes by kind), then the details.
pub fn run_report(r: &RunReport) {
    let ws = &r.workspace;
    match r.outcome {
        RunOutcome::DryRun => {
            if r.guard_trips.is_empty() {
                term::line_styled(term::GOOD, &format!("{ws}: DRY RUN, nothing was changed"));
            } else {
                term::line_styled(
                    term::NOTE,
                    &format!("{ws}: DRY RUN, nothing was changed; a guard would refuse this plan"),
                );
            }
            term::plan(&r.plan.to_string());
            for trip in &r.guard_trips {
                outln!("  guard would refuse this plan: {trip}");
            }
        }
        RunOutcome::Ok => {
            term::line_styled(
                term::GOOD,
                &format!(
                    "{ws}: ok, run {} applied in {:.1} s, {} request(s), {} not modified",
                    r.run_id.unwrap_or_default(),
                    r.duration_seconds,
                    r.requests,
                    r.requests_not_modified
                ),
            );
            term::plan(&r.plan.to_string());
            if r.forced {
                outln!(
                    "  applied with --force despite: {}",
                    r.guard_trips
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }
        RunOutcome::Aborted => {
            if r.held {
                term::line_styled(
                    term::BAD,
                    &format!("{ws}: ABORTED and HELD by a guard, nothing was changed"),
                );
            } else {
                term::line_styled(
                    term::BAD,
                    &format!("{ws}: ABORTED by a guard, nothing was changed"),
                );
            }
            term::plan(&r.plan.to_string());
            for trip in &r.guard_trips {
                term::line_styled(term::BAD, &format!("  ABORTED by a guard: {trip}"));
            }
            if r.held {
                outln!(
                    "  HELD: review it with `orgsync plans show --workspace {ws}`; if it is right, `orgsync approve --workspace {ws}` applies it as read"
                );
            }
        }
        RunOutcome::Continuing => {
            term::line_styled(
                term::NOTE,
                &format!(
                    "{ws}: CONTINUES in the next run, nothing was changed yet: {}",
                    r.error.as_deref().unwrap_or("the fetch was cut")
                ),
            );
            match r.continue_in_seconds {
                Some(0) => outln!(
                    "  the run's deadline came while the fetch was still making progress; the daemon continues at once, or run `orgsync sync --workspace {ws}` again"
                ),
                Some(wait) => outln!(
                    "  the provider's window frees in {wait} s; the daemon continues then, or run `orgsync sync --workspace {ws}` after it"
                ),
                None => {}
            }
        }
        RunOutcome::Failed => {
            term::line_styled(
                term::BAD,
                &format!(
                    "{ws}: FAILED, nothing was changed: {}",
                    r.error.as_deref().unwrap_or("unknown error")
                ),
            );
        }
    }
    if let Some(why) = &r.teams_unavailable {
        outln!("  teams unavailable, synced teams left as they are: {why}");
    }
}

pub(crate) async fn status(config: &Config, store: &Store, as_json: bool) -> Result<u8, Failure> {
    let entries = crate::status::entries(config, store).await?;
    if as_json {
        json(&entries);
        return Ok(EXIT_OK);
    }
    let fmt = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        })
    };
    // Counts first: how many workspaces are in which state, then the table.
    let mut states: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &entries {
        let state = if e.held.is_some() {
            "held".to_string()
        } else {
            e.last_run
                .as_ref()
                .map_or("never run".to_string(), |r| r.outcome.clone())
        };
        *states.entry(state).or_default() += 1;
    }
    let troubled = states
        .iter()
        .any(|(k, _)| !matches!(k.as_str(), "ok" | "dry_run" | "continuing"));
    term::line_styled(
        if troubled { term::NOTE } else { term::GOOD },
        &format!(
            "{} workspace(s): {}",
            entries.len(),
            states
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let body: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.workspace.clone(),
                e.provider.clone(),
                if e.held.is_some() {
                    "HELD".to_string()
                } else {
                    e.last_run
                        .as_ref()
                        .map_or("never".to_string(), |r| r.outcome.clone())
                },
                fmt(e.last_run.as_ref().and_then(|r| r.finished_at)),
                fmt(e.last_success),
                fmt(e.next_run),
                e.last_run.as_ref().map_or("-".to_string(), |r| {
                    format!(
                        "{} (+{} onboarded, -{} offboarded)",
                        r.changes, r.onboarded, r.offboarded
                    )
                }),
                e.last_run
                    .as_ref()
                    .and_then(|r| r.error.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    super::term::block(&table(
        &[
            "WORKSPACE",
            "PROVIDER",
            "LAST",
            "FINISHED (UTC)",
            "LAST OK",
            "NEXT (UTC)",
            "CHANGES",
            "ERROR",
        ],
        &body,
    ));
    for e in &entries {
        if let Some(h) = &e.held {
            outln!(
                "{}: HELD since {} ({} run(s)): {} refused by {}; review with `{}`, then `orgsync approve --workspace {}`",
                e.workspace,
                fmt(Some(h.since)),
                h.runs,
                h.counts
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                h.guards.join(", "),
                h.review,
                e.workspace
            );
        }
        if let Some(why) = &e.teams_unavailable {
            outln!(
                "{}: teams unavailable, synced teams left as they are: {why}",
                e.workspace
            );
        }
        if let Some(event) = &e.last_event {
            outln!("{}: last webhook: {event}", e.workspace);
        }
        if let Some(p) = &e.fetch_progress {
            outln!(
                "{}: fetch under way across rate-limit windows: {} page(s) read and kept (oldest {}); the next run continues from them, reading again any older than {} s",
                e.workspace,
                p.pages_kept,
                fmt(p.oldest_read_at),
                p.max_page_age_seconds
            );
        }
    }
    Ok(EXIT_OK)
}

//! What the CLI prints: aligned tables for people, JSON for programs.

use super::{EXIT_OK, Failure};
use crate::config::Config;
use crate::directory::{AuditRow, RunOutcome, Store, TeamRow, UserRow};
use crate::sync::run::RunReport;
use serde::Serialize;

/// Prints rows as a table with a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            if last {
                out.push_str(cell);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0);
                out.push_str(&format!("{cell:<pad$}  "));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

pub(crate) fn json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string())
    );
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".to_string())
}

pub fn users(rows: &[UserRow], as_json: bool) {
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
    print!(
        "{}",
        table(
            &[
                "WORKSPACE",
                "ID",
                "LOGIN",
                "NAME",
                "ROLE",
                "STATE",
                "SOURCE",
                "TEAMS",
                "REASON"
            ],
            &body
        )
    );
}

pub fn teams(rows: &[TeamRow], as_json: bool) {
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
    print!(
        "{}",
        table(
            &[
                "WORKSPACE",
                "TEAM",
                "PARENT",
                "SOURCE",
                "MEMBERS (*maintainer)",
                "REPOSITORIES"
            ],
            &body
        )
    );
}

pub fn audit(rows: &[AuditRow], as_json: bool) {
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
    print!(
        "{}",
        table(
            &[
                "TIME (UTC)",
                "WORKSPACE",
                "RUN",
                "ACTOR",
                "ACTION",
                "SUBJECT",
                "DETAIL"
            ],
            &body
        )
    );
}

/// The one line of an audit event's detail a person wants: the reason or the error.
pub fn summarise_detail(detail: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(detail) else {
        return String::new();
    };
    if let Some(reason) = value.get("reason")
        && let Ok(r) = serde_json::from_value::<crate::sync::OffboardReason>(reason.clone())
    {
        return r.to_string();
    }
    if let Some(e) = value.get("error").and_then(|e| e.as_str()) {
        return e.to_string();
    }
    if let (Some(from), Some(to)) = (
        value.get("from").and_then(|v| v.as_str()),
        value.get("to").and_then(|v| v.as_str()),
    ) {
        return format!("{from} -> {to}");
    }
    if let (Some(repository), Some(permission)) = (
        value.get("repository").and_then(|v| v.as_str()),
        value.get("permission").and_then(|v| v.as_str()),
    ) {
        return format!("{permission} on {repository}");
    }
    if let Some(team) = value.get("team").and_then(|v| v.as_str()) {
        return match value.get("role").and_then(|v| v.as_str()) {
            Some(role) => format!("team {team} as {role}"),
            None => format!("team {team}"),
        };
    }
    if let (Some(from), Some(to)) = (
        value.get("from_login").and_then(|v| v.as_str()),
        value.get("login").and_then(|v| v.as_str()),
    ) && from != to
    {
        return format!("renamed from {from}");
    }
    String::new()
}

pub fn run_report(r: &RunReport) {
    match r.outcome {
        RunOutcome::DryRun => {
            print!("{}", r.plan);
            for trip in &r.guard_trips {
                println!("  guard would refuse this plan: {trip}");
            }
            println!("  (dry run: nothing was changed)");
        }
        RunOutcome::Ok => {
            print!("{}", r.plan);
            if r.forced {
                println!(
                    "  applied with --force despite: {}",
                    r.guard_trips
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            println!(
                "  ok: run {} applied in {:.1} s, {} request(s), {} not modified",
                r.run_id.unwrap_or_default(),
                r.duration_seconds,
                r.requests,
                r.requests_not_modified
            );
        }
        RunOutcome::Aborted => {
            print!("{}", r.plan);
            for trip in &r.guard_trips {
                println!("  ABORTED by a guard: {trip}");
            }
            if r.held {
                println!(
                    "  HELD: nothing was changed. Review it with `orgsync plans show --workspace {0}`; if it is right, `orgsync approve --workspace {0}` applies it as read",
                    r.workspace
                );
            } else {
                println!("  nothing was changed");
            }
        }
        RunOutcome::Failed => {
            println!(
                "{}: FAILED, nothing was changed: {}",
                r.workspace,
                r.error.as_deref().unwrap_or("unknown error")
            );
        }
    }
    if let Some(why) = &r.teams_unavailable {
        println!("  teams unavailable, synced teams left as they are: {why}");
    }
}

pub async fn status(config: &Config, store: &Store, as_json: bool) -> Result<u8, Failure> {
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
                    format!("+{} -{} ~{}", r.onboarded, r.offboarded, r.changes)
                }),
                e.last_run
                    .as_ref()
                    .and_then(|r| r.error.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "WORKSPACE",
                "PROVIDER",
                "LAST",
                "FINISHED (UTC)",
                "LAST OK",
                "NEXT (UTC)",
                "CHANGES",
                "ERROR"
            ],
            &body
        )
    );
    for e in &entries {
        if let Some(h) = &e.held {
            println!(
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
            println!(
                "{}: teams unavailable, synced teams left as they are: {why}",
                e.workspace
            );
        }
        if let Some(event) = &e.last_event {
            println!("{}: last webhook: {event}", e.workspace);
        }
    }
    Ok(EXIT_OK)
}

//! `orgsync explain` and `users list --state refused`: why someone is in or out, from the
//! evidence the last run kept (no provider call), with `--live` to re-read that one person.

use super::{EXIT_OK, Failure, open_store, output};
use crate::config::{Config, WorkspaceConfig};
use crate::directory::Store;
use crate::sync::explain::{Decision, Explanation, explain as explain_member};
use orgsync_core::Snapshot;

async fn evidence<'c>(
    config: &'c Config,
    workspace: &str,
) -> Result<(Store, &'c WorkspaceConfig, Option<i64>, Snapshot), Failure> {
    let ws = config.workspace(workspace).ok_or_else(|| {
        Failure::usage(format!(
            "no workspace named `{workspace}` in {}",
            config.path.display()
        ))
    })?;
    let store = open_store(config).await?;
    let Some((run, _, json)) = store.evidence(workspace).await? else {
        return Err(Failure::usage(format!(
            "no run of `{workspace}` has read the provider yet: run `orgsync sync --workspace {workspace} --dry-run` first"
        )));
    };
    let snapshot: Snapshot = serde_json::from_str(&json).map_err(|e| {
        Failure::runtime(format!(
            "the evidence kept for `{workspace}` cannot be read ({e}); the next run replaces it"
        ))
    })?;
    Ok((store, ws, run, snapshot))
}

pub async fn explain(
    config: &Config,
    workspace: &str,
    who: &str,
    live: bool,
    as_json: bool,
) -> Result<u8, Failure> {
    let (store, ws, run, snapshot) = evidence(config, workspace).await?;
    let e = explain_member(&snapshot, ws, who);
    let login = e
        .member
        .as_ref()
        .map_or(who.to_string(), |m| m.login.clone());
    let id = e.member.as_ref().map(|m| m.id.clone());
    let directory = store
        .list_users(Some(workspace), None)
        .await?
        .into_iter()
        .find(|u| {
            u.login
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(who))
                || (u.provider_user_id.is_some() && u.provider_user_id == id)
                || u.user_id.to_string() == who
        });
    let history: Vec<crate::directory::AuditRow> = store
        .audit(Some(workspace), None, None)
        .await?
        .into_iter()
        .filter(|a| {
            a.subject.eq_ignore_ascii_case(&login)
                || id
                    .as_ref()
                    .is_some_and(|id| a.detail.contains(&format!("\"provider_user_id\":\"{id}\"")))
        })
        .collect();
    let live_member = if live {
        let ctx = crate::app::provider_context(
            config,
            &store,
            std::sync::Arc::new(orgsync_core::http::NoopObserver),
        )?;
        let provider = crate::providers::build(ws, &ctx).map_err(Failure::runtime)?;
        let answer = provider
            .fetch_member(
                &ws.fetch_policy(),
                id.as_deref().unwrap_or(who),
                Some(&login),
            )
            .await;
        Some(match answer {
            Ok(Some(m)) => format!(
                "a member ({}, role {}{}), access: {:?}",
                m.state.as_str(),
                m.role,
                if m.is_owner { ", owner" } else { "" },
                m.access
            ),
            Ok(None) => "not a member of the account".to_string(),
            Err(e) => format!("cannot tell: {e}"),
        })
    } else {
        None
    };
    if as_json {
        output::json(&serde_json::json!({
            "workspace": workspace,
            "evidence_run_id": run,
            "explanation": e,
            "directory": directory,
            "history": history,
            "live": live_member,
        }));
        return Ok(EXIT_OK);
    }
    print_explanation(workspace, run, &e, &login);
    match &directory {
        Some(u) => outln!(
            "  directory: {} ({}, role {}{}){}",
            u.state,
            u.source,
            u.role,
            if u.role_pinned { ", pinned" } else { "" },
            u.reason
                .as_ref()
                .map(|r| format!(", reason: {r}"))
                .unwrap_or_default()
        ),
        None => outln!("  directory: no membership in {workspace}"),
    }
    if let Some(l) = &live_member {
        outln!("  live, from the provider now: {l}");
    }
    if !history.is_empty() {
        outln!("  history:");
        for a in &history {
            outln!(
                "    {} run {} {} by {}",
                a.at.format("%Y-%m-%d %H:%M:%S"),
                a.run_id.map_or("-".to_string(), |r| r.to_string()),
                a.action,
                a.actor
            );
        }
    }
    Ok(EXIT_OK)
}

fn print_explanation(workspace: &str, run: Option<i64>, e: &Explanation, login: &str) {
    let run = run.map_or("-".to_string(), |r| r.to_string());
    let Some(m) = &e.member else {
        outln!(
            "{login} in {workspace}: not in the account's member list read in run {run} (left, never joined, or not visible to the credential)"
        );
        return;
    };
    let verdict = match &e.decision {
        Decision::Admitted { role } => format!("ADMITTED as {role}"),
        Decision::Refused { reason } => format!("NOT ADMITTED: {reason}"),
        Decision::NotAMember => "not a member".to_string(),
    };
    outln!(
        "{} (id {}) in {workspace}: {verdict} (evidence of run {run})",
        m.login,
        m.id
    );
    outln!(
        "  provider: {} {}{}{}",
        m.state.as_str(),
        m.role,
        if m.is_owner { ", owner" } else { "" },
        if m.bot { ", bot" } else { "" }
    );
    if !e.teams.is_empty() {
        outln!("  teams: {}", e.teams.join(", "));
    }
    for (repo, ev) in &e.repositories {
        outln!("  {repo}: {ev}");
    }
}

/// `users list --state refused`: members of the account that the last run did not admit.
pub async fn refused(
    config: &Config,
    workspace: Option<&str>,
    as_json: bool,
) -> Result<u8, Failure> {
    let mut rows = Vec::new();
    for ws in config
        .workspaces
        .iter()
        .filter(|w| workspace.is_none_or(|n| n == w.name))
    {
        let store = open_store(config).await?;
        let Some((_, _, json)) = store.evidence(&ws.name).await? else {
            continue;
        };
        let Ok(snapshot) = serde_json::from_str::<Snapshot>(&json) else {
            continue;
        };
        let desired = crate::sync::admit(&snapshot, ws);
        for (id, (login, reason)) in &desired.refused {
            rows.push((
                ws.name.clone(),
                id.clone(),
                login.clone(),
                reason.to_string(),
            ));
        }
    }
    if as_json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(w, id, login, reason)| {
                serde_json::json!({
                    "workspace": w, "provider_user_id": id, "login": login,
                    "state": "refused", "reason": reason,
                })
            })
            .collect();
        output::json(&list);
    } else {
        let body: Vec<Vec<String>> = rows
            .into_iter()
            .map(|(w, id, login, reason)| vec![w, login, id, reason])
            .collect();
        super::term::block(&crate::term::table(
            &["WORKSPACE", "LOGIN", "PROVIDER ID", "NOT ADMITTED BECAUSE"],
            &body,
        ));
    }
    Ok(EXIT_OK)
}

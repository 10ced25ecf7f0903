//! Announces holds to the configured `[[notify]]` targets: a JSON POST whose `text` field is
//! what a chat tool's incoming webhook shows (Slack, Mattermost, Rocket.Chat and others read it),
//! beside structured fields for anything else. Best effort: a target that fails is logged by its
//! reference (never its URL, which is often the secret) and the run is not affected.

use crate::config::NotifyTarget;
use crate::run::{HoldEvent, RunReport};
use std::time::Duration;

/// The message for a run that started, replaced or ended a hold; `None` for any other run.
pub fn message(report: &RunReport) -> Option<serde_json::Value> {
    let ws = &report.workspace;
    let counts: Vec<(&str, usize)> = crate::sync::hold::counts(&report.plan);
    let listed = counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let guards: Vec<String> = report.guard_trips.iter().map(ToString::to_string).collect();
    let (event, text) = match report.hold? {
        HoldEvent::Started => (
            "hold_started",
            format!(
                "orgsync held workspace {ws}: a guard refused the plan ({listed}). Nothing was applied. Review: `orgsync plans show --workspace {ws}`; apply as read: `orgsync approve --workspace {ws}`."
            ),
        ),
        HoldEvent::Replaced => (
            "hold_replaced",
            format!(
                "orgsync workspace {ws} is still held, for a different plan now ({listed}). Review it again: `orgsync plans show --workspace {ws}`."
            ),
        ),
        HoldEvent::Released => (
            "hold_released",
            format!("orgsync workspace {ws} is no longer held: a plan was applied."),
        ),
        HoldEvent::Still => return None,
    };
    Some(serde_json::json!({
        "event": event,
        "workspace": ws,
        "run_id": report.run_id,
        "counts": counts.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "guards": guards,
        "review": format!("orgsync plans show --workspace {ws}"),
        "text": text,
    }))
}

/// Posts the run's hold message, if any, to every target.
pub async fn run_report(targets: &[NotifyTarget], report: &RunReport) {
    if targets.is_empty() {
        return;
    }
    let Some(body) = message(report) else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "cannot build the notification client");
            return;
        }
    };
    for target in targets {
        let url = match target.url() {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(target = %target.reference(), error = %e, "hold notification not sent");
                continue;
            }
        };
        match client.post(&url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(target = %target.reference(), workspace = %report.workspace, "hold notification sent");
            }
            Ok(r) => tracing::warn!(
                target = %target.reference(),
                status = r.status().as_u16(),
                "hold notification refused"
            ),
            Err(e) => tracing::warn!(
                target = %target.reference(),
                error = %e.without_url(),
                "hold notification not sent"
            ),
        }
    }
}

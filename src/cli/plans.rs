//! `orgsync plans show` and `orgsync approve`: the plan a guard held, read by a human and
//! applied only as read.

use super::{EXIT_ABORTED, EXIT_OK, EXIT_RUNTIME, Failure, invoking_user, open_store, output};
use crate::config::Config;
use crate::directory::{HoldRow, RunOutcome, Store};
use crate::run::{RunOptions, sync_workspace};
use crate::sync::Plan;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// The plan a guard refused and holds, as a readable diff with the counts first.
    Show {
        /// The held workspace.
        #[arg(long)]
        workspace: String,
        /// The held plan, its guard trips and its digest as structured JSON.
        #[arg(long)]
        json: bool,
    },
}

async fn held(config: &Config, workspace: &str) -> Result<(Store, HoldRow, Plan), Failure> {
    if config.workspace(workspace).is_none() {
        return Err(Failure::usage(format!(
            "no workspace named `{workspace}` in {}",
            config.path.display()
        )));
    }
    let store = open_store(config).await?;
    let Some(row) = store.holds(Some(workspace)).await?.into_iter().next() else {
        return Err(Failure::usage(format!(
            "workspace `{workspace}` is not held: no plan waits for approval (`orgsync status` shows holds)"
        )));
    };
    let plan: Plan = serde_json::from_str(&row.plan).map_err(|e| {
        Failure::runtime(format!(
            "the plan held for `{workspace}` cannot be read ({e}); run `orgsync sync --workspace {workspace} --dry-run` to plan again"
        ))
    })?;
    Ok((store, row, plan))
}

fn summary(row: &HoldRow, plan: &Plan) -> String {
    let trips: Vec<crate::sync::GuardTrip> = serde_json::from_str(&row.trips).unwrap_or_default();
    let counts = crate::sync::hold::counts(plan)
        .into_iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = format!(
        "{}: HELD since {} (run {}; planned again by {} run(s)), digest {}\n  {}\n",
        row.workspace,
        row.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        row.first_run_id.unwrap_or_default(),
        row.runs,
        &row.digest[..row.digest.len().min(12)],
        if counts.is_empty() {
            "no guarded changes".to_string()
        } else {
            counts
        }
    );
    for t in &trips {
        out.push_str(&format!("  refused: {t}\n"));
    }
    out
}

pub async fn show(config: &Config, workspace: &str, as_json: bool) -> Result<u8, Failure> {
    let (_, row, plan) = held(config, workspace).await?;
    if as_json {
        let trips: serde_json::Value =
            serde_json::from_str(&row.trips).unwrap_or(serde_json::Value::Null);
        output::json(&serde_json::json!({
            "workspace": row.workspace,
            "digest": row.digest,
            "since": row.created_at,
            "updated_at": row.updated_at,
            "first_run_id": row.first_run_id,
            "last_run_id": row.last_run_id,
            "runs": row.runs,
            "counts": crate::sync::hold::counts(&plan)
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
            "guard_trips": trips,
            "plan": plan,
        }));
        return Ok(EXIT_OK);
    }
    super::term::block(&summary(&row, &plan));
    super::term::plan(&plan.to_string());
    outln!(
        "  approve with `orgsync approve --workspace {workspace}`: it plans again and applies only if the guarded changes are these or fewer"
    );
    Ok(EXIT_OK)
}

/// Asks on a terminal; refuses without one unless `--yes` was given.
pub fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{question} needs a confirmation: run it on a terminal, or add --yes"
        )));
    }
    super::term::prompt(&format!("{question} [y/N] "));
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::runtime(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::usage(
            "not confirmed: nothing was changed".to_string(),
        ))
    }
}

pub async fn approve(config: &Config, workspace: &str, yes: bool) -> Result<u8, Failure> {
    let (store, row, plan) = held(config, workspace).await?;
    super::term::block(&summary(&row, &plan));
    confirm(
        &format!(
            "Plan {workspace} again and apply it if its guarded changes are the held ones or fewer?"
        ),
        yes,
    )?;
    let ws = config
        .workspace(workspace)
        .ok_or_else(|| Failure::usage(format!("no workspace named `{workspace}`")))?;
    let progress = std::sync::Arc::new(super::progress::Progress::for_stderr());
    let ctx = crate::app::provider_context(config, &store, progress.clone())?;
    let provider = crate::app::provider(ws, &ctx);
    let mut options = RunOptions::new("cli");
    options.actor = format!("cli:{}", invoking_user());
    options.deadline = Some(
        std::time::Instant::now()
            + std::time::Duration::from_secs(config.daemon.run_deadline_seconds),
    );
    options.approve = Some(plan);
    let report = sync_workspace(&store, ws, &config.safety, provider.as_ref(), &options).await;
    progress.finish(workspace);
    let report = report?;
    crate::runlog::log(&report);
    crate::notify::run_report(&config.notify, &report).await;
    if !report.beyond_held.is_empty() {
        outln!(
            "{workspace}: NOT approved. The plan changed since it was held; {} guarded change(s) nobody read:",
            report.beyond_held.len()
        );
        for c in &report.beyond_held {
            outln!("  {c}");
        }
        outln!(
            "  nothing was changed and the held plan stays held; review again with `orgsync plans show --workspace {workspace}` after the next run, or `orgsync sync --workspace {workspace} --dry-run`"
        );
        return Ok(EXIT_ABORTED);
    }
    output::run_report(&report);
    Ok(match report.outcome {
        RunOutcome::Ok | RunOutcome::DryRun => EXIT_OK,
        RunOutcome::Aborted => EXIT_ABORTED,
        RunOutcome::Failed | RunOutcome::Continuing => EXIT_RUNTIME,
    })
}

//! One reconciliation of one workspace: fetch -> admit -> load -> plan -> guard -> apply.
//! The provider and the directory are the edges; everything between is pure.

pub mod confirm;

use crate::config::{SafetyConfig, WorkspaceConfig};
use crate::directory::{DirectoryError, HoldChange, RunOutcome, RunRecord, Store, WorkspaceKey};
use crate::sync::{self, GuardTrip, Plan, admit, guard, plan};
use chrono::Utc;
use orgsync_core::Provider;
use serde::Serialize;

/// How a run was asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `cli`, `schedule`, `signal`, `webhook`, `start`.
    pub trigger: String,
    /// Fetch, plan and guard, record the run as `dry_run`, and change nothing in the directory.
    pub dry_run: bool,
    /// Apply even if a guard trips (a human has read the plan).
    pub force: bool,
    /// Recorded as the audit events' actor.
    pub actor: String,
    /// When the fetch must be over.
    pub deadline: Option<std::time::Instant>,
    /// Cancelled when the daemon stops.
    pub cancel: Option<orgsync_core::http::CancellationToken>,
    /// `orgsync approve`: the held plan a human read. A refused plan is applied only when its
    /// guarded changes are this plan's or a subset of them.
    pub approve: Option<Plan>,
}

impl RunOptions {
    /// A run asked for by `trigger` that applies its plan unless a guard refuses it, by actor
    /// `sync`, without deadline, cancellation or approval.
    pub fn new(trigger: &str) -> Self {
        RunOptions {
            trigger: trigger.to_string(),
            dry_run: false,
            force: false,
            actor: "sync".to_string(),
            deadline: None,
            cancel: None,
            approve: None,
        }
    }
}

/// What a run did to the workspace's hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldEvent {
    /// A guard refused the plan; the workspace is held now.
    Started,
    /// Held already for another plan; this one replaced it.
    Replaced,
    /// Held already for this same plan.
    Still,
    /// A plan was applied: the hold ended.
    Released,
}

/// What a run did, for the CLI, the logs and the metrics.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The workspace's configured name.
    pub workspace: String,
    /// What asked for the run ([`RunOptions::trigger`]).
    pub trigger: String,
    /// Applied, dry run, refused by a guard, or failed.
    pub outcome: RunOutcome,
    /// The id the run is recorded under in `sync_runs`; set in every report
    /// [`sync_workspace`] returns.
    pub run_id: Option<i64>,
    /// The changes planned: applied when `outcome` is `Ok`, otherwise only shown. Empty when the
    /// fetch failed.
    pub plan: Plan,
    /// The guards the plan tripped, whether or not it was applied anyway.
    pub guard_trips: Vec<GuardTrip>,
    /// A plan that tripped a guard was applied because of `force` or an approval.
    pub forced: bool,
    /// Why the run failed or was refused; `None` for an applied or dry run.
    pub error: Option<String>,
    /// HTTP requests the fetch sent, retries included.
    pub requests: u64,
    /// Of those, answers `304 Not Modified` that were served from the cache.
    pub requests_not_modified: u64,
    /// Wall-clock time from the start of the run until it was recorded.
    pub duration_seconds: f64,
    /// Active members after the run (or now, when nothing was applied).
    pub active_members: usize,
    /// Why the provider's teams could not be read, when they could not; synced teams are left
    /// as they were.
    pub teams_unavailable: Option<String>,
    /// Whether the workspace is held after this run.
    pub held: bool,
    /// What this run did to the hold, if anything.
    pub hold: Option<HoldEvent>,
    /// `approve`: the guarded changes beyond the held plan that made it refuse.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub beyond_held: Vec<sync::Change>,
    /// Destructive verdicts the provider's per-user read confirmed (the contradicted ones are in
    /// `plan.unconfirmed`).
    pub confirmations: usize,
    /// A [`RunOutcome::Continuing`] run: when to continue, in seconds: until the provider's
    /// window frees when the provider said, 0 when the run's deadline cut a fetch that was
    /// still keeping new pages; `None` leaves it to the next scheduled run. The daemon starts
    /// the continuing run then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continue_in_seconds: Option<u64>,
}

struct Started {
    key: WorkspaceKey,
    at: chrono::DateTime<Utc>,
    clock: std::time::Instant,
}

async fn begin(
    store: &Store,
    ws: &WorkspaceConfig,
    options: &RunOptions,
) -> Result<(Started, RunReport), DirectoryError> {
    let at = Utc::now();
    let clock = std::time::Instant::now();
    let key = store
        .ensure_workspace(&ws.name, ws.provider.as_str(), &ws.host(), &ws.account, at)
        .await?;
    let report = RunReport {
        workspace: ws.name.clone(),
        trigger: options.trigger.clone(),
        outcome: RunOutcome::Failed,
        run_id: None,
        plan: Plan {
            workspace: ws.name.clone(),
            ..Plan::default()
        },
        guard_trips: Vec::new(),
        forced: false,
        error: None,
        requests: 0,
        requests_not_modified: 0,
        duration_seconds: 0.0,
        active_members: 0,
        teams_unavailable: None,
        confirmations: 0,
        continue_in_seconds: None,
        held: false,
        hold: None,
        beyond_held: Vec::new(),
    };
    Ok((Started { key, at, clock }, report))
}

fn policy_for(ws: &WorkspaceConfig, options: &RunOptions) -> orgsync_core::FetchPolicy {
    let mut policy = ws.fetch_policy();
    policy.deadline = options.deadline;
    policy.cancel = options.cancel.clone();
    policy
}

/// The kept pages of a Bitbucket workspace: its fetch may need more requests than one hour's
/// allowance, so what it read is kept with its time and a later run continues from there.
/// Other providers report what is left of their quota and a no-change re-sync costs them
/// nothing, so they keep nothing.
fn kept_pages(
    store: &Store,
    ws: &WorkspaceConfig,
) -> Option<std::sync::Arc<orgsync_core::pages::PageSession>> {
    (ws.provider == orgsync_core::ProviderKind::Bitbucket).then(|| {
        std::sync::Arc::new(orgsync_core::pages::PageSession::new(
            std::sync::Arc::new(store.fetch_pages(&ws.name)),
            std::time::Duration::from_secs(ws.max_page_age_seconds),
        ))
    })
}

/// Fetches until the walk is complete on pages no older than the workspace's
/// `max_page_age_seconds`: a kept page served at the start of a walk that then waited for the
/// rate-limit window may have aged past it by the end, so the walk is made again (such pages
/// are read anew, younger ones served again). At most three walks; the third decides.
async fn fetch_complete(
    provider: &dyn Provider,
    ws: &WorkspaceConfig,
    options: &RunOptions,
    pages: Option<&std::sync::Arc<orgsync_core::pages::PageSession>>,
) -> Result<orgsync_core::Snapshot, orgsync_core::ProviderError> {
    let mut policy = policy_for(ws, options);
    policy.pages = pages.cloned();
    let mut walks = 0;
    loop {
        walks += 1;
        let snapshot = provider.fetch(&policy).await?;
        match pages {
            Some(p) if p.used_a_stale_page() && walks < 3 => {
                tracing::info!(
                    workspace = %ws.name,
                    max_page_age_seconds = ws.max_page_age_seconds,
                    "a kept page aged past max_page_age_seconds during the fetch; reading it again before deciding"
                );
                p.restart();
            }
            _ => return Ok(snapshot),
        }
    }
}

/// Records a fetch that failed: could not read is never removed, so nothing else happens.
async fn fetch_failed(
    store: &Store,
    ws: &WorkspaceConfig,
    started: &Started,
    mut report: RunReport,
    options: &RunOptions,
    error: String,
) -> Result<RunReport, DirectoryError> {
    report.error = Some(error);
    let current = store.load_current(&started.key, &ws.admin_role).await?;
    report.active_members = current.active_synced();
    finish(
        store,
        &started.key,
        &mut report,
        options,
        started.at,
        started.clock,
        None,
    )
    .await?;
    Ok(report)
}

/// Runs one reconciliation. Never panics and never returns early without recording the run:
/// every outcome, failures included, lands in `sync_runs`.
pub async fn sync_workspace(
    store: &Store,
    ws: &WorkspaceConfig,
    safety: &SafetyConfig,
    provider: &dyn Provider,
    options: &RunOptions,
) -> Result<RunReport, DirectoryError> {
    let (started, mut report) = begin(store, ws, options).await?;
    let pages = kept_pages(store, ws);
    let kept_before = match &pages {
        Some(p) => p.progress().await.0,
        None => 0,
    };
    let snapshot = match fetch_complete(provider, ws, options, pages.as_ref()).await {
        Ok(s) => s,
        Err(e) => {
            use orgsync_core::ProviderError;
            // Stopped by the window, or by the run's deadline (while waiting for the window,
            // or with a request still in flight, whose timeout the deadline cut): with its
            // pages kept that is no failure but a fetch that spans runs.
            let cut = matches!(
                e,
                ProviderError::RateLimited { .. } | ProviderError::Cancelled { .. }
            ) || options
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d);
            let error = match &pages {
                Some(pages) if cut => {
                    let (kept, oldest) = pages.progress().await;
                    report.outcome = RunOutcome::Continuing;
                    // When to continue: when the window frees, if the provider said; not
                    // before the daemon starts again if it is stopping; at once if the
                    // deadline cut a run that kept more pages than it found (it is making
                    // progress, whether the cut came while it waited for the window or with
                    // a request in flight); otherwise at the next scheduled run.
                    let stopping = options.cancel.as_ref().is_some_and(|c| c.is_cancelled());
                    report.continue_in_seconds = match &e {
                        ProviderError::RateLimited { wait_seconds, .. } => Some(*wait_seconds),
                        _ if stopping => None,
                        _ => (kept > kept_before).then_some(0),
                    };
                    format!(
                        "{e}; the fetch continues in the next run: {kept} page(s) kept{}, each used until it is {} s old",
                        oldest
                            .map(|o| format!(" (oldest read {})", o.to_rfc3339()))
                            .unwrap_or_default(),
                        ws.max_page_age_seconds
                    )
                }
                _ => e.to_string(),
            };
            return fetch_failed(store, ws, &started, report, options, error).await;
        }
    };
    if let Some(pages) = &pages {
        pages.clear().await;
    }
    report.requests = snapshot.requests.total;
    report.requests_not_modified = snapshot.requests.not_modified;
    report.teams_unavailable = snapshot.teams_unavailable.clone();
    if !options.dry_run {
        store
            .set_teams_status(&started.key, snapshot.teams_unavailable.as_deref())
            .await?;
    }
    let desired = admit(&snapshot, ws);
    // What the provider showed, for `explain`, compressed as a stream now: the snapshot (at
    // GitHub L, 625,000 team memberships as strings) is then not held beside the directory
    // state, the desired state and the plan, which is the run's memory peak.
    let evidence = crate::directory::compress_evidence(&snapshot);
    drop(snapshot);
    let current = store.load_current(&started.key, &ws.admin_role).await?;
    report.plan = plan(&ws.name, &current, &desired);
    report.guard_trips = guard(&report.plan, &current, &desired, safety, &ws.admin_role);
    drop(desired);
    // A plan that will be applied (or shown as what would be) has its destructive verdicts
    // confirmed first; a refused one needs no requests.
    if report.guard_trips.is_empty() || options.force || options.approve.is_some() {
        let policy = policy_for(ws, options);
        let confirmed = confirm::confirm_plan(
            provider,
            &policy,
            &mut report.plan,
            safety.max_confirmations,
        )
        .await;
        report.confirmations = confirmed.as_ref().map_or(0, |n| *n);
        if let Err(e) = confirmed {
            return fetch_failed(store, ws, &started, report, options, e.to_string()).await;
        }
    }
    let report = conclude(store, &started, report, &current, options).await?;
    drop(current);
    // Evidence, not directory state: a failure to keep it is logged and does not fail the run.
    let kept = match evidence {
        Ok(gz) => store
            .keep_evidence(&started.key, report.run_id, started.at, &gz)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = kept {
        tracing::warn!(workspace = %ws.name, error = %e, "could not keep the run's evidence");
    }
    Ok(report)
}

/// A targeted run after a webhook: re-reads only the named members through the provider and
/// plans changes for them alone (onboard, offboard, role, rename); teams and repositories wait
/// for the next full sync. `Ok(None)`: the provider cannot answer such a narrow question, and
/// the caller runs a full sync instead.
pub async fn sync_members(
    store: &Store,
    ws: &WorkspaceConfig,
    safety: &SafetyConfig,
    provider: &dyn Provider,
    targets: &[(String, Option<String>)],
    options: &RunOptions,
) -> Result<Option<RunReport>, DirectoryError> {
    // A held workspace waits for a human: a narrow run must not apply (and so release) it.
    if !store.holds(Some(&ws.name)).await?.is_empty() {
        return Ok(None);
    }
    let policy = policy_for(ws, options);
    let mut found = Vec::new();
    let mut error = None;
    for (id, login) in targets {
        match provider.fetch_member(&policy, id, login.as_deref()).await {
            Ok(Some(member)) => found.push(member),
            Ok(None) => {}
            Err(orgsync_core::ProviderError::Unsupported { .. }) => return Ok(None),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let (started, mut report) = begin(store, ws, options).await?;
    if let Some(e) = error {
        return fetch_failed(store, ws, &started, report, options, e)
            .await
            .map(Some);
    }
    let current = store.load_current(&started.key, &ws.admin_role).await?;
    let ids: std::collections::BTreeSet<&str> = targets.iter().map(|(id, _)| id.as_str()).collect();
    let narrowed = sync::Current {
        members: current
            .members
            .iter()
            .filter(|(pid, _)| ids.contains(pid.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        identities: current
            .identities
            .iter()
            .filter(|(pid, _)| ids.contains(pid.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        admins: current.admins.clone(),
        teams: Default::default(),
        repositories: current.repositories.clone(),
    };
    let snapshot = orgsync_core::Snapshot {
        provider: ws.provider,
        host: ws.host(),
        account: orgsync_core::Account {
            id: String::new(),
            login: ws.account.clone(),
            name: None,
            base_permission: orgsync_core::Permission::None,
        },
        members: found,
        repositories: Vec::new(),
        teams: None,
        teams_unavailable: None,
        requests: Default::default(),
    };
    let mut desired = admit(&snapshot, ws);
    // Only the named people are in question: repositories stay, and the member count that the
    // empty-source guard reads is the directory's, not this narrow read's.
    desired.repositories = current.repositories.clone();
    desired.teams = None;
    desired.provider_member_count = current.active_synced().max(1);
    report.plan = plan(&ws.name, &narrowed, &desired);
    report.guard_trips = guard(&report.plan, &current, &desired, safety, &ws.admin_role);
    conclude(store, &started, report, &current, options)
        .await
        .map(Some)
}

async fn conclude(
    store: &Store,
    started: &Started,
    mut report: RunReport,
    current: &sync::Current,
    options: &RunOptions,
) -> Result<RunReport, DirectoryError> {
    report.active_members = current.active_synced();
    let tripped = !report.guard_trips.is_empty();
    // Approving a held plan applies only what a human read: nothing guarded beyond it.
    let beyond: Vec<sync::Change> = match (&options.approve, tripped) {
        (Some(held), true) => sync::hold::beyond_held(&report.plan, held)
            .into_iter()
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let approved = options.approve.is_some() && tripped && beyond.is_empty();
    if options.dry_run {
        report.outcome = RunOutcome::DryRun;
    } else if !beyond.is_empty() {
        report.outcome = RunOutcome::Aborted;
        report.error = Some(format!(
            "not approved: the plan now has {} guarded change(s) beyond the held plan, which stays held: {}",
            beyond.len(),
            beyond
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ));
        report.beyond_held = beyond;
        report.held = true;
    } else if tripped && !options.force && !approved {
        report.outcome = RunOutcome::Aborted;
        report.error = Some(
            report
                .guard_trips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        );
        return hold(store, started, report, options).await;
    } else {
        report.forced = tripped;
        report.outcome = RunOutcome::Ok;
        let was_held = !store.holds(Some(&started.key.name)).await?.is_empty();
        let record = record_of(&report, options, started.at);
        match store.apply(&started.key, &report.plan, &record).await {
            Ok(id) => {
                report.run_id = Some(id);
                report.duration_seconds = started.clock.elapsed().as_secs_f64();
                report.active_members = desired_active(current, &report.plan);
                if was_held {
                    report.hold = Some(HoldEvent::Released);
                    tracing::info!(workspace = %report.workspace, run = id, approved, forced = report.forced, "hold ended: a plan was applied");
                }
                return Ok(report);
            }
            Err(e) => {
                report.outcome = RunOutcome::Failed;
                report.error = Some(format!("apply failed and was rolled back: {e}"));
            }
        }
    }
    let plan = report.plan.clone();
    finish(
        store,
        &started.key,
        &mut report,
        options,
        started.at,
        started.clock,
        Some(&plan),
    )
    .await?;
    Ok(report)
}

/// Records a refused run and holds its plan: once per distinct plan, "still held" after that.
async fn hold(
    store: &Store,
    started: &Started,
    mut report: RunReport,
    options: &RunOptions,
) -> Result<RunReport, DirectoryError> {
    let record = record_of(&report, options, started.at);
    let detail = serde_json::json!({
        "error": report.error,
        "guard_trips": report.guard_trips,
    });
    let trips = serde_json::to_string(&report.guard_trips).unwrap_or_else(|_| "[]".to_string());
    let digest = sync::hold::digest(&report.plan);
    let (id, change) = store
        .record_held_run(&started.key, &record, &report.plan, detail, &digest, &trips)
        .await?;
    report.run_id = Some(id);
    report.duration_seconds = started.clock.elapsed().as_secs_f64();
    report.held = true;
    report.hold = Some(match change {
        HoldChange::Started => HoldEvent::Started,
        HoldChange::Replaced => HoldEvent::Replaced,
        HoldChange::Still => HoldEvent::Still,
    });
    match change {
        HoldChange::Started | HoldChange::Replaced => tracing::warn!(
            workspace = %report.workspace,
            run = id,
            digest = %digest,
            replaced = change == HoldChange::Replaced,
            "workspace held: a guard refused the plan; review it with `orgsync plans show --workspace {}`",
            report.workspace
        ),
        HoldChange::Still => tracing::debug!(workspace = %report.workspace, run = id, "still held"),
    }
    Ok(report)
}

fn desired_active(current: &sync::Current, plan: &Plan) -> usize {
    let tally = plan.tally();
    (current.active_synced() + tally.admitted()).saturating_sub(tally[sync::ChangeKind::Offboard])
}

fn record_of(
    report: &RunReport,
    options: &RunOptions,
    started: chrono::DateTime<Utc>,
) -> RunRecord {
    RunRecord {
        trigger: options.trigger.clone(),
        started_at: started,
        finished_at: Utc::now(),
        outcome: report.outcome,
        requests: report.requests,
        requests_not_modified: report.requests_not_modified,
        error: report.error.clone(),
        actor: options.actor.clone(),
    }
}

async fn finish(
    store: &Store,
    key: &WorkspaceKey,
    report: &mut RunReport,
    options: &RunOptions,
    started: chrono::DateTime<Utc>,
    clock: std::time::Instant,
    plan: Option<&Plan>,
) -> Result<(), DirectoryError> {
    let record = record_of(report, options, started);
    let detail = serde_json::json!({
        "error": report.error,
        "guard_trips": report.guard_trips,
    });
    report.run_id = Some(store.record_run(key, &record, plan, detail).await?);
    report.duration_seconds = clock.elapsed().as_secs_f64();
    Ok(())
}

//! `orgsync run`: the daemon. Schedules per workspace (cron in an IANA time zone), signals
//! (SIGUSR1 resync, SIGHUP reload, SIGTERM/SIGINT stop), the HTTP listener, sd_notify, and
//! replica coordination on PostgreSQL.
//!
//! Runs of one workspace never overlap: a trigger that arrives while the workspace runs is
//! queued, at most one deep (later ones coalesce into it), and a bounded number of workspaces
//! run at once.

mod http;
pub mod replica;
pub mod systemd;
pub mod webhooks;

use crate::config::Config;
use crate::directory::{RunOutcome, Store};
use crate::failure::{EXIT_OK, Failure};
use crate::metrics::Metrics;
use crate::providers::ProviderContext;
use crate::run::{RunOptions, RunReport, sync_members, sync_workspace};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a stopping daemon waits for in-flight runs (an apply commits or rolls back).
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Why a run starts.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// `schedule`, `signal`, `start`, `webhook`.
    pub kind: String,
    /// The schedule instant this run serves (replicas serve each once).
    pub tick: Option<DateTime<Utc>>,
    /// When the event that caused it arrived (webhooks), for the latency histogram.
    pub received: Option<Instant>,
    /// The provider of the webhook that caused it (`github`, …), which labels the webhook
    /// latency histogram; `None` for other triggers.
    pub(crate) provider: Option<String>,
    /// A webhook's targeted re-read: only these members (id, login). `None`: a full sync.
    pub members: Option<Vec<(String, Option<String>)>>,
}

impl Trigger {
    /// A full sync asked for by `kind`, serving no schedule instant and no webhook.
    pub(crate) fn new(kind: &str) -> Self {
        Trigger {
            kind: kind.to_string(),
            tick: None,
            received: None,
            provider: None,
            members: None,
        }
    }

    /// Folds a later trigger into this queued one: a full sync wins over a targeted one, and
    /// targeted members add up.
    fn absorb(&mut self, later: Trigger) {
        self.members = match (self.members.take(), later.members) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
        self.tick = self.tick.or(later.tick);
        self.received = match (self.received, later.received) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.provider = self.provider.take().or(later.provider);
    }
}

#[derive(Default)]
struct Slot {
    running: bool,
    queued: Option<Trigger>,
}

/// What the health check knows about one workspace's runs.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// When the last run (or skip) of this workspace ended.
    last_finished: Instant,
    /// When the run in progress started, after it got its permit.
    running_since: Option<Instant>,
}

/// The message of a caught panic, for the run record and the log.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string()),
        Err(error) => error.to_string(),
    }
}

/// The running daemon's shared state.
pub struct Daemon {
    config: RwLock<Arc<Config>>,
    config_path: PathBuf,
    /// The directory the runs, `/readyz` and `/status` use.
    pub(crate) store: Store,
    /// The series `/metrics` serves.
    pub(crate) metrics: Metrics,
    ctx: ProviderContext,
    slots: Mutex<HashMap<String, Slot>>,
    progress: Mutex<HashMap<String, Progress>>,
    /// When the configuration in force was loaded: a workspace that has not run yet is judged
    /// from here.
    loaded_at: Mutex<Instant>,
    outcomes: Mutex<HashMap<String, String>>,
    permits: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    replica: String,
    webhooks: webhooks::Webhooks,
}

impl Daemon {
    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// How long webhook bursts are collected (`[daemon] webhook_debounce_ms`).
    pub fn webhook_debounce(&self) -> Duration {
        self.config().daemon.webhook_debounce
    }

    /// Records the last webhook event of a workspace in the directory, for `status`.
    pub async fn note_event(&self, workspace: &str, text: String) {
        if let Err(e) = self.store.set_last_event(workspace, &text).await {
            tracing::warn!(workspace, error = %e, "cannot record the webhook event");
        }
    }

    /// Asks for a run of `workspace`; coalesces with a running one.
    pub fn trigger(self: &Arc<Self>, workspace: &str, trigger: Trigger) {
        if self.shutdown.is_cancelled() {
            return;
        }
        {
            let Ok(mut slots) = self.slots.lock() else {
                return;
            };
            let slot = slots.entry(workspace.to_string()).or_default();
            if slot.running {
                match &mut slot.queued {
                    Some(queued) => queued.absorb(trigger),
                    None => slot.queued = Some(trigger),
                }
                return;
            }
            slot.running = true;
        }
        let me = Arc::clone(self);
        let name = workspace.to_string();
        self.tracker
            .spawn(async move { me.work(name, trigger).await });
    }

    async fn work(self: Arc<Self>, workspace: String, first: Trigger) {
        let mut next = Some(first);
        while let Some(trigger) = next {
            // Each run in its own task: a panic anywhere in it (a provider's answer nobody
            // foresaw) is caught here, recorded as a failed run, and the slot still frees, so
            // the next trigger runs.
            let kind = trigger.kind.clone();
            let me = Arc::clone(&self);
            let name = workspace.clone();
            let outcome = tokio::spawn(async move { me.run_once(&name, trigger).await }).await;
            match outcome {
                Err(error) => {
                    self.record_panic(&workspace, &kind, panic_message(error))
                        .await;
                }
                Ok(Some(wait)) => self.continue_after(&workspace, wait),
                Ok(None) => {}
            }
            self.finished(&workspace);
            next = match self.slots.lock() {
                Ok(mut slots) => {
                    let slot = slots.entry(workspace.clone()).or_default();
                    let queued = slot.queued.take();
                    if queued.is_none() || self.shutdown.is_cancelled() {
                        slot.running = false;
                        None
                    } else {
                        queued
                    }
                }
                Err(_) => None,
            };
        }
    }

    /// A run's task panicked: its marker row becomes a failed run, the failure is counted and
    /// logged.
    async fn record_panic(&self, workspace: &str, trigger: &str, message: String) {
        tracing::error!(workspace, trigger, panic = %message, "the run panicked; recorded as failed, the next trigger runs");
        self.metrics
            .sync_runs
            .with_label_values(&[workspace, trigger, "failed"])
            .inc();
        let reason = format!("the run stopped on an internal error (panic: {message})");
        if let Err(e) = self
            .store
            .fail_interrupted_runs(Some(workspace), &self.replica, None, &reason)
            .await
        {
            tracing::error!(workspace, error = %e, "cannot record the failed run");
        }
    }

    /// Notes that a run of `workspace` ended (finished, failed, panicked or skipped).
    fn finished(&self, workspace: &str) {
        if let Ok(mut progress) = self.progress.lock() {
            progress.insert(
                workspace.to_string(),
                Progress {
                    last_finished: Instant::now(),
                    running_since: None,
                },
            );
        }
    }

    fn started(&self, workspace: &str) {
        if let Ok(mut progress) = self.progress.lock() {
            let now = Instant::now();
            progress
                .entry(workspace.to_string())
                .or_insert(Progress {
                    last_finished: now,
                    running_since: None,
                })
                .running_since = Some(now);
        }
    }

    /// Healthy unless a workspace has had no finished run for `health_stall_periods` periods
    /// of its schedule, or a run is `health_overrun_seconds` past its deadline. What `/healthz`
    /// answers and what decides whether the watchdog is fed.
    pub fn health(&self) -> Result<(), String> {
        let config = self.config();
        let now = Instant::now();
        let wall = Utc::now();
        let loaded_at = self.loaded_at.lock().map(|t| *t).unwrap_or(now);
        let progress = self.progress.lock().map(|p| p.clone()).unwrap_or_default();
        let deadline = Duration::from_secs(config.daemon.run_deadline_seconds);
        let overrun = deadline.saturating_add(config.daemon.health_overrun);
        let mut problems = Vec::new();
        for ws in &config.workspaces {
            let seen = progress.get(&ws.name);
            if let Some(since) = seen.and_then(|p| p.running_since) {
                let running = now.saturating_duration_since(since);
                if running > overrun {
                    problems.push(format!(
                        "workspace {} has been running for {} s, past its {} s deadline",
                        ws.name,
                        running.as_secs(),
                        deadline.as_secs()
                    ));
                }
                continue;
            }
            let Some(period) = ws.schedule.period(wall).and_then(|p| p.to_std().ok()) else {
                continue;
            };
            let allowed = period.saturating_mul(config.daemon.health_stall_periods);
            let last = seen.map_or(loaded_at, |p| p.last_finished.max(loaded_at));
            let idle = now.saturating_duration_since(last);
            if idle > allowed {
                problems.push(format!(
                    "workspace {} has had no finished run for {} s ({} schedule periods)",
                    ws.name,
                    idle.as_secs(),
                    config.daemon.health_stall_periods
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Clears a webhook pause (`installation.unsuspend`, or SIGUSR2 from an admin) and syncs.
    pub fn resume(self: &Arc<Self>, workspace: &str, why: &str) {
        if self.webhooks.unpause(workspace) {
            tracing::warn!(
                workspace,
                reason = why,
                "workspace resumed; syncs run again"
            );
            self.metrics
                .workspace_paused
                .with_label_values(&[workspace])
                .set(0);
            self.trigger(workspace, Trigger::new("resume"));
        }
    }

    /// A fetch cut by the provider's window continues when the window frees (a second after,
    /// so the first request meets a fresh window), not at the next scheduled instant: a large
    /// Bitbucket workspace on an hourly allowance then completes in as many hours as it needs
    /// windows, whatever its schedule. A trigger arriving meanwhile runs as usual (it continues
    /// from the kept pages too, and is paced by the client).
    fn continue_after(self: &Arc<Self>, workspace: &str, wait: Duration) {
        let me = Arc::clone(self);
        let name = workspace.to_string();
        let stop = self.shutdown.clone();
        tracing::info!(
            workspace,
            wait_s = wait.as_secs(),
            "the fetch continues when the provider's window frees"
        );
        self.tracker.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait.saturating_add(Duration::from_secs(1))) => {
                    me.trigger(&name, Trigger::new("continue"));
                }
                _ = stop.cancelled() => {}
            }
        });
    }

    /// One run of `name`. Returns how long to wait before continuing a fetch the provider's
    /// window cut ([`RunOutcome::Continuing`]), if it was cut.
    async fn run_once(&self, name: &str, trigger: Trigger) -> Option<Duration> {
        let config = self.config();
        let ws = config.workspace(name)?; // None: removed by a reload
        let _permit = self.permits.acquire().await.ok()?;
        if self.shutdown.is_cancelled() {
            return None;
        }
        // Invitations expire on every run, so `invite list` and the audit trail stay true even
        // when nobody runs an invite command.
        match self.store.expire_invitations(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "invitations expired"),
            Err(e) => tracing::warn!(error = %e, "cannot expire invitations"),
        }
        if let Some(reason) = self.webhooks.flag(name) {
            tracing::warn!(workspace = name, reason = %reason, "skipped: the workspace is paused; send SIGUSR2 to resume it");
            return None;
        }
        let claim = match replica::claim(&self.store, &self.replica, name, trigger.tick).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::info!(workspace = name, trigger = %trigger.kind, "skipped: another replica runs this workspace or served this tick");
                return None;
            }
            Err(e) => {
                tracing::error!(workspace = name, error = %e, "cannot claim the run");
                return None;
            }
        };
        self.started(name);
        let marker = match self
            .store
            .mark_run_started(name, &trigger.kind, &self.replica)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(workspace = name, error = %e, "cannot mark the run as started");
                None
            }
        };
        let provider = crate::app::provider(ws, &self.ctx);
        let options = RunOptions {
            trigger: trigger.kind.clone(),
            dry_run: false,
            force: false,
            actor: "sync".to_string(),
            deadline: Instant::now()
                .checked_add(Duration::from_secs(config.daemon.run_deadline_seconds)),
            cancel: Some(self.shutdown.child_token()),
            approve: None,
        };
        let full = || sync_workspace(&self.store, ws, &config.safety, provider.as_ref(), &options);
        let result = match &trigger.members {
            Some(members) => {
                match sync_members(
                    &self.store,
                    ws,
                    &config.safety,
                    provider.as_ref(),
                    members,
                    &options,
                )
                .await
                {
                    Ok(Some(report)) => Ok(report),
                    Ok(None) => full().await,
                    Err(e) => Err(e),
                }
            }
            None => full().await,
        };
        claim.release().await;
        if let Some(id) = marker {
            self.store.clear_run_marker(id).await;
        }
        match result {
            Ok(report) => {
                self.observe(&report, &trigger).await;
                (report.outcome == RunOutcome::Continuing)
                    .then_some(report.continue_in_seconds)
                    .flatten()
                    .map(Duration::from_secs)
            }
            Err(e) => {
                tracing::error!(workspace = name, trigger = %trigger.kind, error = %e, "run could not be recorded");
                self.metrics
                    .sync_runs
                    .with_label_values(&[name, &trigger.kind, "failed"])
                    .inc();
                None
            }
        }
    }

    async fn observe(&self, r: &RunReport, trigger: &Trigger) {
        let outcome = r.outcome.as_str();
        let m = &self.metrics;
        m.sync_runs
            .with_label_values(&[&r.workspace, &r.trigger, outcome])
            .inc();
        m.sync_duration
            .with_label_values(&[&r.workspace])
            .observe(r.duration_seconds);
        if r.outcome == RunOutcome::Ok {
            m.last_success
                .with_label_values(&[&r.workspace])
                .set(Utc::now().timestamp() as f64);
            for c in &r.plan.changes {
                m.changes
                    .with_label_values(&[&r.workspace, c.kind().as_str()])
                    .inc();
            }
        }
        // From the directory: a failed run leaves a hold as it was.
        if let Ok(holds) = self.store.holds(Some(&r.workspace)).await {
            m.workspace_held
                .with_label_values(&[&r.workspace])
                .set(i64::from(!holds.is_empty()));
        }
        crate::notify::run_report(&self.config().notify, r).await;
        m.verdict_confirmations
            .with_label_values(&[&r.workspace, "confirmed"])
            .inc_by(r.confirmations as u64);
        m.verdict_confirmations
            .with_label_values(&[&r.workspace, "contradicted"])
            .inc_by(r.plan.unconfirmed.len() as u64);
        if r.outcome == RunOutcome::Aborted {
            for t in &r.guard_trips {
                m.guard_trips
                    .with_label_values(&[&r.workspace, t.label()])
                    .inc();
            }
        }
        if let (Some(received), Some(provider)) = (trigger.received, &trigger.provider) {
            m.webhook_latency
                .with_label_values(&[provider])
                .observe(received.elapsed().as_secs_f64());
        }
        m.teams_unavailable
            .with_label_values(&[&r.workspace])
            .set(i64::from(r.teams_unavailable.is_some()));
        if let Some(why) = &r.teams_unavailable {
            tracing::warn!(workspace = %r.workspace, reason = %crate::text::Escaped(why), "teams unavailable; synced teams are left as they are");
        }
        if let Ok(counts) = self.store.member_counts(&r.workspace).await {
            for state in ["active", "offboarded", "suspended", "invited"] {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == state)
                    .map_or(0, |(_, n)| *n);
                m.members.with_label_values(&[&r.workspace, state]).set(n);
            }
        }
        let line = format!(
            "{} {} (+{} -{} ~{})",
            outcome,
            Utc::now().format("%H:%M:%S"),
            r.plan.tally().admitted(),
            r.plan.tally()[crate::sync::ChangeKind::Offboard],
            r.plan.changes.len()
        );
        crate::runlog::log(r);
        let status = match self.outcomes.lock() {
            Ok(mut o) => {
                o.insert(r.workspace.clone(), line);
                let mut parts: Vec<String> = o.iter().map(|(w, l)| format!("{w}: {l}")).collect();
                parts.sort();
                parts.join("; ")
            }
            Err(_) => String::new(),
        };
        systemd::status(&status);
    }

    /// Starts one schedule task per workspace; they stop when `generation` is cancelled.
    fn start_schedules(self: &Arc<Self>, generation: &CancellationToken) {
        let config = self.config();
        for ws in &config.workspaces {
            let schedule = ws.schedule.clone();
            let me = Arc::clone(self);
            let name = ws.name.clone();
            let stop = generation.clone();
            self.tracker.spawn(async move {
                loop {
                    let now = Utc::now();
                    let Some(next) = schedule.next_after(now) else {
                        tracing::error!(workspace = %name, "the schedule never fires again");
                        return;
                    };
                    let wait = (next - now).to_std().unwrap_or_default();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.cancelled() => return,
                    }
                    // Sleeping can wake a hair early; never serve a tick before its instant.
                    let early = (next - Utc::now()).to_std().unwrap_or_default();
                    if !early.is_zero() {
                        tokio::time::sleep(early).await;
                    }
                    let mut trigger = Trigger::new("schedule");
                    trigger.tick = Some(next);
                    me.trigger(&name, trigger);
                }
            });
        }
    }

    /// Catch-up at start: a workspace whose last success is older than its last scheduled
    /// instant missed a run.
    async fn catch_up(self: &Arc<Self>) {
        let config = self.config();
        for ws in &config.workspaces {
            let previous = ws.schedule.previous_at_or_before(Utc::now());
            let last = self.store.last_success(&ws.name).await.ok().flatten();
            let missed = match (last, previous) {
                (None, _) => true,
                (Some(last), Some(prev)) => last < prev,
                (Some(_), None) => false,
            };
            if missed {
                self.trigger(&ws.name, Trigger::new("start"));
            }
        }
    }

    fn reload(self: &Arc<Self>) -> bool {
        systemd::reloading();
        let ok = match Config::load(&self.config_path) {
            Ok(new) => {
                let old = self.config();
                if new.directory_url != old.directory_url {
                    tracing::warn!("[directory] url changed: it takes effect at the next restart");
                }
                if new.daemon.listen != old.daemon.listen {
                    tracing::warn!("[daemon] listen changed: it takes effect at the next restart");
                }
                let names: Vec<&str> = new.workspaces.iter().map(|w| w.name.as_str()).collect();
                tracing::info!(workspaces = ?names, "configuration reloaded");
                declare_series(&self.metrics, &new);
                if let Ok(mut c) = self.config.write() {
                    *c = Arc::new(new);
                }
                if let Ok(mut at) = self.loaded_at.lock() {
                    *at = Instant::now();
                }
                true
            }
            Err(errors) => {
                self.metrics.config_reload_failures.inc();
                for e in errors {
                    tracing::error!(error = %e, "configuration reload refused; keeping the previous configuration");
                }
                false
            }
        };
        systemd::ready();
        ok
    }
}

/// Every series of every configured workspace and webhook provider, at 0 from the start.
fn declare_series(metrics: &Metrics, config: &Config) {
    let now = Utc::now();
    for ws in &config.workspaces {
        let period = crate::status::period_seconds(&ws.schedule, now);
        metrics.declare_workspace(&ws.name, period);
        metrics.declare_webhooks(ws.provider.as_str());
    }
}

/// Runs the daemon until SIGTERM or SIGINT. Returns the exit code.
pub async fn run(config_path: PathBuf) -> Result<u8, Failure> {
    let config = crate::app::load_config(&config_path)?;
    let _lock = replica::lock_sqlite(&config.directory_url).map_err(Failure::runtime)?;
    let store = crate::app::open_store(&config).await?;
    fail_interrupted_runs(&store, &config).await;
    let metrics = Metrics::new();
    declare_series(&metrics, &config);
    if let Ok(holds) = store.holds(None).await {
        for h in holds {
            metrics
                .workspace_held
                .with_label_values(&[&h.workspace])
                .set(1);
        }
    }
    // The last success survives a restart: staleness alerts measure from it, not from start.
    for ws in &config.workspaces {
        if let Ok(Some(at)) = store.last_success(&ws.name).await {
            metrics
                .last_success
                .with_label_values(&[&ws.name])
                .set(at.timestamp() as f64);
        }
    }
    let ctx = crate::app::provider_context(&config, &store, Arc::new(metrics.clone()))?;
    let listener = tokio::net::TcpListener::bind(&config.daemon.listen)
        .await
        .map_err(|e| {
            Failure::runtime(format!(
                "cannot listen on {}: {e}. Change [daemon] listen or stop what uses the port",
                config.daemon.listen
            ))
        })?;
    let listen = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| config.daemon.listen.clone());
    let permits = Arc::new(Semaphore::new(
        config.daemon.max_concurrent_workspaces as usize,
    ));
    let replica = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "orgsync".to_string()),
        std::process::id()
    );
    let limits = config.daemon.listener;
    let webhooks = webhooks::Webhooks::new(&limits);
    let daemon = Arc::new(Daemon {
        config: RwLock::new(Arc::new(config)),
        config_path,
        store,
        metrics,
        ctx,
        slots: Mutex::new(HashMap::new()),
        progress: Mutex::new(HashMap::new()),
        loaded_at: Mutex::new(Instant::now()),
        outcomes: Mutex::new(HashMap::new()),
        permits,
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        replica,
        webhooks,
    });

    let mut usr1 = signal(SignalKind::user_defined1()).map_err(|e| signal_failure(&e))?;
    let mut usr2 = signal(SignalKind::user_defined2()).map_err(|e| signal_failure(&e))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| signal_failure(&e))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| signal_failure(&e))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| signal_failure(&e))?;

    let server_stop = daemon.shutdown.clone();
    let (app, private) = crate::api::mount(
        http::router(Arc::clone(&daemon)),
        daemon.config().api.as_ref(),
        daemon.store.clone(),
        daemon.metrics.clone(),
    );
    let private =
        crate::api::serve_private(&daemon.config(), private, daemon.shutdown.clone()).await?;
    let server = tokio::spawn(http::serve(listener, app, limits, server_stop));
    let deliverer =
        crate::downstream::Deliverer::new(daemon.store.clone(), Some(daemon.metrics.clone()))
            .map_err(Failure::runtime)?;
    let config_of = Arc::clone(&daemon);
    let downstream = crate::downstream::spawn(
        deliverer,
        Arc::new(move || config_of.config()),
        daemon.shutdown.clone(),
    );
    tracing::info!(listen = %listen, "orgsync daemon started");
    systemd::ready();
    let judge = Arc::clone(&daemon);
    systemd::spawn_watchdog(daemon.shutdown.clone(), move || judge.health());

    let mut generation = daemon.shutdown.child_token();
    daemon.start_schedules(&generation);
    if daemon.config().daemon.run_on_start {
        daemon.catch_up().await;
    }

    loop {
        tokio::select! {
            _ = usr1.recv() => {
                tracing::info!("SIGUSR1: resyncing every workspace now");
                for ws in &daemon.config().workspaces {
                    daemon.trigger(&ws.name, Trigger::new("signal"));
                }
            }
            _ = usr2.recv() => {
                tracing::info!("SIGUSR2: resuming every paused workspace");
                for name in daemon.webhooks.paused() {
                    daemon.resume(&name, "SIGUSR2 from an administrator");
                }
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                if daemon.reload() {
                    generation.cancel();
                    generation = daemon.shutdown.child_token();
                    daemon.start_schedules(&generation);
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }

    tracing::info!("stopping: no new runs; in-flight fetches are cancelled, applies finish");
    systemd::stopping();
    daemon.shutdown.cancel();
    daemon.tracker.close();
    if tokio::time::timeout(STOP_GRACE, daemon.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "runs still in flight after {} s; exiting",
            STOP_GRACE.as_secs()
        );
    }
    let _ = server.await;
    let _ = downstream.await;
    if let Some(p) = private {
        let _ = p.await;
    }
    daemon.store.close().await;
    Ok(EXIT_OK)
}

/// Runs a previous process left as started (it was killed, or the machine stopped) become
/// failed runs. On SQLite this daemon holds the file's lock, so every such run is over; on
/// PostgreSQL only this host's runs and runs older than any deadline allows are, since another
/// replica may be running right now.
async fn fail_interrupted_runs(store: &Store, config: &Config) {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "orgsync".to_string());
    let allowed = Duration::from_secs(config.daemon.run_deadline_seconds)
        .saturating_add(config.daemon.health_overrun);
    let stale_before = if store.is_postgres() {
        chrono::Duration::from_std(allowed)
            .ok()
            .and_then(|d| Utc::now().checked_sub_signed(d))
    } else {
        Some(Utc::now())
    };
    let reason = "interrupted: the process stopped before the run was recorded (killed, or the \
                  machine went down); a run applies all or nothing, so its changes are either all \
                  in a run recorded next to this one or none are";
    match store
        .fail_interrupted_runs(None, &format!("{host}:"), stale_before, reason)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "runs interrupted by a previous stop are recorded as failed"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot record interrupted runs"),
    }
}

fn signal_failure(e: &std::io::Error) -> Failure {
    Failure::runtime(format!("cannot install signal handlers: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_run_task_is_caught_with_its_message() {
        let outcome = tokio::spawn(async {
            let far = std::time::Instant::now();
            // The panic of the fault matrix, from a provider's Retry-After of u64::MAX.
            let _ = far + Duration::from_secs(u64::MAX);
        })
        .await;
        let message = panic_message(outcome.expect_err("the task panicked"));
        assert!(message.contains("overflow"), "{message}");
    }

    #[test]
    fn the_schedule_period_is_the_time_between_two_fires() {
        let now = Utc::now();
        assert_eq!(
            crate::config::Schedule::new("*/15 * * * *", chrono_tz::UTC)
                .expect("a schedule")
                .period(now),
            Some(chrono::Duration::seconds(900))
        );
        assert_eq!(
            crate::config::Schedule::new("30 2 * * *", chrono_tz::UTC)
                .expect("a schedule")
                .period(now),
            Some(chrono::Duration::seconds(86_400))
        );
    }
}

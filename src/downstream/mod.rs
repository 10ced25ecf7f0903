//! Downstream: the directory for the applications that use it.
//!
//! Every applied change writes its events into the outbox in the apply's transaction
//! ([`crate::directory::outbox`]); this module delivers them, at least once, per target and in
//! outbox order (so in order per person), to Standard Webhooks receivers ([`webhook`]) and SCIM
//! 2.0 servers ([`scim`]). A failed delivery is retried with capped exponential backoff (backon's
//! exponential schedule with jitter, from 1 s up to `max_backoff_seconds`) and becomes a dead
//! letter after `max_attempts`; the target then moves on. The daemon delivers continuously,
//! `orgsync sync` drains what its runs wrote for a bounded time, `orgsync downstream deliver`
//! drains by hand. A lease in `downstream_targets` keeps two workers off one target.
//!
//! Secrets (webhook secrets, SCIM tokens) are read from their files at each drain and appear in
//! no error, log line or metric.

pub mod config;
pub mod events;
pub mod reads;
pub mod scim;
pub mod webhook;

use crate::config::Config;
use crate::directory::Store;
use crate::directory::outbox::{Next, OutboxEvent};
use crate::metrics::Metrics;
use backon::BackoffBuilder;
use config::{DownstreamConfig, DownstreamKind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a worker's lease on a target lasts without renewal: after a crash (`kill -9`)
/// another worker takes the target over after at most this long.
const LEASE: Duration = Duration::from_secs(15);
/// How long delivered events stay in the outbox (a new target starts at the oldest one kept).
pub const RETENTION_DAYS: i64 = 7;
/// How often an idle daemon worker looks for new events.
const POLL: Duration = Duration::from_millis(500);

/// A reqwest error with its causes, without anything secret (URLs carry no credentials).
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The delay before attempt `attempt + 1`, after `attempt` failures (capped, with jitter).
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(max)
        .min(max)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything is delivered (or dead-lettered).
    Idle,
    /// The next event waits for its retry at this Unix time (ms).
    WaitUntil(i64),
    /// Another worker holds the target.
    Busy,
    /// The deadline passed first.
    Deadline,
}

/// Delivers targets' queues.
#[derive(Clone)]
pub(crate) struct Deliverer {
    pub store: Store,
    pub http: reqwest::Client,
    pub metrics: Option<Metrics>,
    /// Who holds leases: host and process.
    pub owner: String,
}

enum Sink<'a> {
    Webhook(webhook::Signer),
    Scim(scim::Scim<'a>),
}

impl Deliverer {
    pub fn new(store: Store, metrics: Option<Metrics>) -> Result<Deliverer, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("orgsync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Deliverer {
            store,
            http,
            metrics,
            owner: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "orgsync".to_string()),
                std::process::id()
            ),
        })
    }

    /// The workspaces a target follows (its `workspaces`, or all configured).
    pub fn scope(target: &DownstreamConfig, config: &Config) -> Vec<String> {
        target
            .workspaces
            .clone()
            .unwrap_or_else(|| config.workspaces.iter().map(|w| w.name.clone()).collect())
    }

    async fn sink<'a>(
        &'a self,
        target: &'a DownstreamConfig,
        scope: &[String],
    ) -> Result<Sink<'a>, String> {
        match target.kind {
            DownstreamKind::Webhook => {
                let secret = std::fs::read_to_string(&target.credential_file).map_err(|e| {
                    format!(
                        "cannot read secret_file = {} of downstream {}: {e}",
                        target.credential_file.display(),
                        target.name
                    )
                })?;
                webhook::Signer::from_secret(&secret)
                    .map(Sink::Webhook)
                    .map_err(|e| format!("downstream {}: {e}", target.name))
            }
            DownstreamKind::Scim => {
                scim::Scim::connect(&self.http, &self.store, target, scope.to_vec())
                    .await
                    .map(Sink::Scim)
            }
        }
    }

    async fn send(
        &self,
        sink: &Sink<'_>,
        target: &DownstreamConfig,
        event: &OutboxEvent,
    ) -> Result<(), String> {
        match sink {
            Sink::Webhook(signer) => {
                webhook::post(
                    &self.http,
                    &target.url,
                    signer,
                    &event.event_id,
                    &event.payload,
                    target.timeout,
                )
                .await
            }
            Sink::Scim(scim) => scim.deliver(event).await,
        }
    }

    /// Delivers the target's events until none is due, or until `deadline`.
    pub async fn drain(
        &self,
        target: &DownstreamConfig,
        config: &Config,
        deadline: Option<Instant>,
    ) -> Result<Drained, String> {
        let store = &self.store;
        let e = |e: crate::directory::DirectoryError| e.to_string();
        store.outbox_ensure_target(&target.name).await.map_err(e)?;
        let filter = match &target.workspaces {
            Some(names) => Some(store.workspace_ids(names).await.map_err(e)?),
            None => None,
        };
        let scope = Self::scope(target, config);
        let lease = LEASE.as_millis() as i64;
        if !store
            .outbox_claim(&target.name, &self.owner, now_ms(), now_ms() + lease)
            .await
            .map_err(e)?
        {
            return Ok(Drained::Busy);
        }
        let mut renewed = Instant::now();
        let mut sink: Option<Sink<'_>> = None;
        let result = loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Ok(Drained::Deadline);
            }
            if renewed.elapsed() > LEASE / 3 {
                if !store
                    .outbox_claim(&target.name, &self.owner, now_ms(), now_ms() + lease)
                    .await
                    .map_err(e)?
                {
                    break Ok(Drained::Busy);
                }
                renewed = Instant::now();
            }
            let event = match store
                .outbox_next(&target.name, filter.as_deref(), now_ms())
                .await
                .map_err(e)?
            {
                Next::Idle => break Ok(Drained::Idle),
                Next::WaitUntil(t) => break Ok(Drained::WaitUntil(t)),
                Next::Deliver(event) => event,
            };
            if sink.is_none() {
                match self.sink(target, &scope).await {
                    Ok(s) => sink = Some(s),
                    Err(err) => {
                        self.failed(target, &event, &err).await.map_err(e)?;
                        continue;
                    }
                }
            }
            let Some(s) = sink.as_ref() else { continue };
            match self.send(s, target, &event).await {
                Ok(()) => {
                    store
                        .outbox_delivered(&target.name, &event)
                        .await
                        .map_err(e)?;
                    self.count(target, "delivered");
                }
                Err(err) => {
                    self.failed(target, &event, &err).await.map_err(e)?;
                    // A failure can mean a changed server or credential: connect again next time.
                    sink = None;
                }
            }
        };
        let _ = store.outbox_release(&target.name, &self.owner).await;
        self.gauge(target).await;
        result
    }

    async fn failed(
        &self,
        target: &DownstreamConfig,
        event: &OutboxEvent,
        error: &str,
    ) -> Result<(), crate::directory::DirectoryError> {
        let attempts = event.attempts.max(0) as u32 + 1;
        let dead = attempts >= target.max_attempts;
        let delay = backoff(attempts, target.max_backoff);
        let next = now_ms() + delay.as_millis() as i64;
        if dead {
            tracing::error!(target = %target.name, event = %event.event_id, kind = %event.kind,
                attempts, error, "downstream event dead-lettered; `orgsync downstream retry` requeues it");
            self.count(target, "dead_lettered");
        } else {
            tracing::warn!(target = %target.name, event = %event.event_id, kind = %event.kind,
                attempts, retry_in_ms = delay.as_millis() as u64, error, "downstream delivery failed");
            self.count(target, "failed");
        }
        self.store
            .outbox_failed(&target.name, event, next, error, dead)
            .await
    }

    fn count(&self, target: &DownstreamConfig, outcome: &str) {
        if let Some(m) = &self.metrics {
            m.downstream_deliveries
                .with_label_values(&[target.name.as_str(), outcome])
                .inc();
        }
    }

    async fn gauge(&self, target: &DownstreamConfig) {
        let Some(m) = &self.metrics else { return };
        let filter = match &target.workspaces {
            Some(names) => self.store.workspace_ids(names).await.ok(),
            None => None,
        };
        if let Ok(c) = self
            .store
            .outbox_counts(&target.name, filter.as_deref())
            .await
        {
            m.downstream_events
                .with_label_values(&[target.name.as_str(), "queued"])
                .set(c.queued);
            m.downstream_events
                .with_label_values(&[target.name.as_str(), "dead"])
                .set(c.dead);
        }
    }

    /// Drains every target until it is idle or `wait` has passed, sleeping through retry
    /// delays that end in time. Returns the targets that still have events queued.
    pub async fn drain_all(
        &self,
        config: &Config,
        wait: Option<Duration>,
    ) -> Vec<(String, String)> {
        let mut left = Vec::new();
        for target in &config.downstream {
            let wait = wait.unwrap_or(target.sync_wait);
            let deadline = Instant::now() + wait;
            loop {
                match self.drain(target, config, Some(deadline)).await {
                    Ok(Drained::Idle) => break,
                    Ok(Drained::WaitUntil(t)) => {
                        let until =
                            Instant::now() + Duration::from_millis((t - now_ms()).max(0) as u64);
                        if until >= deadline {
                            left.push((target.name.clone(), "waiting to retry".to_string()));
                            break;
                        }
                        tokio::time::sleep_until(until.into()).await;
                    }
                    Ok(Drained::Busy) => {
                        left.push((
                            target.name.clone(),
                            "another orgsync is delivering".to_string(),
                        ));
                        break;
                    }
                    Ok(Drained::Deadline) => {
                        left.push((target.name.clone(), "out of time".to_string()));
                        break;
                    }
                    Err(err) => {
                        left.push((target.name.clone(), err));
                        break;
                    }
                }
            }
        }
        left
    }
}

/// The daemon's delivery: one task per configured target, following configuration reloads,
/// until `stop`.
pub(crate) fn spawn(
    deliverer: Deliverer,
    config: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tasks: std::collections::HashMap<String, tokio::task::JoinHandle<()>> =
            std::collections::HashMap::new();
        let mut pruned_at: Option<Instant> = None;
        loop {
            let current = config();
            if pruned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                pruned_at = Some(Instant::now());
                let names: Vec<String> =
                    current.downstream.iter().map(|t| t.name.clone()).collect();
                let before = chrono::Utc::now() - chrono::Duration::days(RETENTION_DAYS);
                match deliverer.store.outbox_prune(&names, before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        events = n,
                        "outbox: delivered events older than {RETENTION_DAYS} days removed"
                    ),
                    Err(e) => tracing::warn!(error = %e, "outbox: pruning failed"),
                }
            }
            tasks.retain(|name, task| {
                let keep =
                    current.downstream.iter().any(|t| &t.name == name) && !task.is_finished();
                if !keep {
                    task.abort();
                }
                keep
            });
            for target in &current.downstream {
                if tasks.contains_key(&target.name) {
                    continue;
                }
                let d = deliverer.clone();
                let config = Arc::clone(&config);
                let stop = stop.clone();
                let name = target.name.clone();
                tasks.insert(
                    name.clone(),
                    tokio::spawn(async move { worker(d, name, config, stop).await }),
                );
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        for (_, task) in tasks {
            let _ = task.await;
        }
    })
}

async fn worker(
    d: Deliverer,
    name: String,
    config: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let current = config();
        let Some(target) = current.downstream.iter().find(|t| t.name == name) else {
            return;
        };
        // A drain is bounded so that a stop is noticed between events.
        let pause = match d
            .drain(
                target,
                &current,
                Some(Instant::now() + Duration::from_secs(5)),
            )
            .await
        {
            Ok(Drained::Idle) => POLL,
            Ok(Drained::Deadline) => Duration::ZERO,
            Ok(Drained::WaitUntil(t)) => {
                Duration::from_millis((t - now_ms()).clamp(0, 5_000) as u64)
            }
            Ok(Drained::Busy) => Duration::from_secs(5),
            Err(e) => {
                tracing::warn!(target = %name, error = %e, "downstream delivery paused");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

//! The child side: one workspace, synced once per line read on stdin, measured in isolation.

use crate::ChildPhase;
use orgsync::config::Config;
use orgsync::directory::Store;
use orgsync::providers::ProviderContext;
use orgsync::run::{RunOptions, sync_workspace};
use orgsync_core::cache::{CachedResponse, HttpCache};
use orgsync_core::http::{HttpClient, HttpConfig, NoopObserver};
use std::io::BufRead;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The directory as the conditional-request cache, counting the rows it writes: those are
/// directory writes too, and on a no-change re-sync they are most of them.
struct CountingCache {
    store: Store,
    writes: AtomicU64,
}

#[async_trait::async_trait]
impl HttpCache for CountingCache {
    async fn load(&self, key: &str) -> Option<CachedResponse> {
        self.store.load(key).await
    }

    async fn store(&self, key: &str, response: &CachedResponse) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        HttpCache::store(&self.store, key, response).await;
    }
}

/// The HTTP layer as the binary configures it, except pacing: the default politeness limit of
/// 10 requests per second would make an L cold sync take most of an hour against a simulator
/// that already adds 20 ms per request. `ORGSYNC_BENCH_RPS` sets it (e.g. `10` for the default).
fn http_config() -> HttpConfig {
    let rps = std::env::var("ORGSYNC_BENCH_RPS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::new(10_000).expect("not zero"));
    HttpConfig {
        requests_per_second: rps,
        burst: rps,
        ..HttpConfig::default()
    }
}

/// VmHWM is the peak since the process started, or since `5` was written to `clear_refs`.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

pub fn run(config_path: &std::path::Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = Config::load(config_path).expect("the bench configuration is valid");
    let ws = config.workspaces.first().expect("one workspace").clone();
    let store = runtime
        .block_on(Store::open(&config.directory_url))
        .expect("directory opens");
    let cache = Arc::new(CountingCache {
        store: store.clone(),
        writes: AtomicU64::new(0),
    });
    let ctx = ProviderContext {
        http: HttpClient::new(http_config()).expect("http client"),
        cache: cache.clone(),
        observer: Arc::new(NoopObserver),
    };
    let provider = orgsync::providers::build(&ws, &ctx).expect("the provider client builds");
    for line in std::io::stdin().lock().lines() {
        let phase = line.expect("stdin").trim().to_string();
        if phase == "quit" || phase.is_empty() {
            break;
        }
        let peak_reset = reset_peak();
        cache.writes.store(0, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let report = runtime
            .block_on(sync_workspace(
                &store,
                &ws,
                &config.safety,
                provider.as_ref(),
                &RunOptions::new("cli"),
            ))
            .expect("the directory answers");
        let wall_seconds = started.elapsed().as_secs_f64();
        let peak_rss_kb = peak_rss_kb();
        let audit_events = runtime
            .block_on(store.audit(Some(&ws.name), None, report.run_id))
            .map(|a| a.len())
            .unwrap_or(0);
        let result = ChildPhase {
            phase,
            outcome: report.outcome.as_str().to_string(),
            error: report.error.clone(),
            wall_seconds,
            peak_rss_kb,
            peak_reset,
            plan_changes: report.plan.changes.len(),
            audit_events,
            cache_writes: cache.writes.load(Ordering::Relaxed),
            onboarded: report.plan.tally().admitted(),
            offboarded: report.plan.tally()[orgsync::sync::ChangeKind::Offboard],
            active_members: report.active_members,
        };
        println!(
            "RESULT {}",
            serde_json::to_string(&result).expect("result serialises")
        );
    }
}

//! "Paced wall": what a user waits with the default pacing, beside the unthrottled figures.
//!
//! The benchmark raises the politeness limit and the simulator's budget so that it measures
//! orgsync rather than waiting (a Bitbucket L sync on a 1,000-per-hour credential takes over an
//! hour). This replays each phase's recorded requests through the HTTP layer's own pacing
//! ([`orgsync_core::http::replay`]: the `governor` limiter at the default 10 per second, the
//! quota tracker fed with the headers the provider would send, Bitbucket's rolling-hour count)
//! on a virtual clock: requests go one after another, each taking the phase's measured wall
//! time divided by its request count (which folds in the provider's concurrency and the
//! apply); the uncharged ones (GitHub's `304`s) are spread evenly among the charged ones.

use crate::Row;
use orgsync_core::http::{HttpConfig, ReplayOutcome, ReplayQuota, ReplayRequest, RollingLimit};
use orgsync_simulator::server::Stats;
use std::time::Duration;

/// The allowance each provider gives the credential the benchmark models: a GitHub token
/// 5,000 requests an hour (reported in `x-ratelimit-*`), GitLab.com's authenticated API
/// 2,000 a minute (reported in `RateLimit-*`), a Bitbucket API token 1,000 in any rolling hour
/// (not reported; the client counts).
pub fn default_quota(provider: &str) -> ReplayQuota {
    match provider {
        "github" => ReplayQuota::Reported {
            limit: 5_000,
            window: Duration::from_secs(3600),
        },
        "gitlab" => ReplayQuota::Reported {
            limit: 2_000,
            window: Duration::from_secs(60),
        },
        "bitbucket" => ReplayQuota::Rolling(RollingLimit::BITBUCKET),
        _ => ReplayQuota::None,
    }
}

/// The phase's requests in route order, the uncharged ones spread among the charged ones.
fn timeline(stats: &Stats, free_not_modified: bool) -> Vec<ReplayRequest> {
    let mut charged = Vec::new();
    let mut free = Vec::new();
    for (route, s) in &stats.routes {
        let template = route.split_once(' ').map_or(route.as_str(), |(_, t)| t);
        let uncharged = if free_not_modified { s.not_modified } else { 0 };
        for i in 0..s.requests {
            let request = ReplayRequest {
                template: template.to_string(),
                charged: i >= uncharged,
            };
            if request.charged {
                charged.push(request);
            } else {
                free.push(request);
            }
        }
    }
    let total = charged.len() + free.len();
    let mut out = Vec::with_capacity(total);
    let (mut c, mut f) = (charged.into_iter(), free.into_iter());
    let free_share = |placed_free: usize, placed: usize, free_total: usize| {
        placed_free * total < free_total * (placed + 1)
    };
    let free_total = f.len();
    let mut placed_free = 0;
    for placed in 0..total {
        let next = if free_share(placed_free, placed, free_total) {
            f.next().or_else(|| c.next())
        } else {
            c.next().or_else(|| f.next())
        };
        if let Some(r) = next {
            if !r.charged {
                placed_free += 1;
            }
            out.push(r);
        }
    }
    out
}

/// Replays one phase with the default pacing.
pub fn replay_phase(
    provider: &str,
    stats: &Stats,
    free_not_modified: bool,
    wall_seconds: f64,
) -> ReplayOutcome {
    let requests = timeline(stats, free_not_modified);
    let service = Duration::from_secs_f64(wall_seconds / requests.len().max(1) as f64);
    let defaults = HttpConfig::default();
    orgsync_core::http::replay(
        &requests,
        service,
        defaults.requests_per_second,
        defaults.burst,
        defaults.rate_limit_reserve,
        default_quota(provider),
    )
}

/// The paced figures as a Markdown table, one row per provider, size and phase.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "\n### Paced wall time (default pacing, computed)\n\n| provider | size | phase | requests | wall s (unthrottled) | paced wall s | paced wall | windows | quota waits (longest s) |\n|---|---|---|---:|---:|---:|---|---:|---:|\n",
    );
    for r in rows {
        let Some(p) = &r.paced else { continue };
        let secs = p.wall.as_secs_f64();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {} | {} | {} ({:.0}) |\n",
            r.provider,
            r.size,
            match r.phase.phase.as_str() {
                "nochange" => "no change",
                "churn" => "1 % churn",
                other => other,
            },
            r.requests,
            r.phase.wall_seconds,
            secs,
            human(secs),
            p.windows,
            p.quota_waits,
            p.longest_wait.as_secs_f64()
        ));
    }
    out
}

fn human(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}h {:02}m {:02}s", s / 3600, (s % 3600) / 60, s % 60)
}

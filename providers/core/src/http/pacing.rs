//! Pacing: a process-wide limiter per provider host and a quota tracker per host and credential.
//!
//! Fixed-rate `governor` limiters cannot follow a provider's shifting quota, so each one is
//! paired with a [`QuotaState`] that the response headers feed: it knows when to pause
//! (`Retry-After`, quota exhausted) and how far apart to space requests once quota runs low.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Values at or above this are Unix times; below, a number of seconds from now (the IETF
/// `RateLimit-Reset` draft uses deltas, GitHub and GitLab send epochs).
const EPOCH_THRESHOLD: u64 = 1_000_000_000;

/// The longest wait any provider header can ask for. A `Retry-After` or reset beyond it
/// (`18446744073709551615`, a reset in the year 3000) is read as this: a run's deadline is far
/// shorter, so the wait fails the run as "rate limited" instead of overflowing an instant.
pub const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// `now + wait`, capped at [`MAX_PROVIDER_WAIT`] (seven days) so that no number a provider sends
/// (a `Retry-After`, a token's `expires_in` of u64::MAX) can overflow the clock and panic.
pub fn instant_after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait.min(MAX_PROVIDER_WAIT))
        .or_else(|| now.checked_add(MAX_PROVIDER_WAIT))
        .unwrap_or(now)
}

#[derive(Default)]
struct Registry {
    hosts: HashMap<String, Arc<DefaultDirectRateLimiter>>,
    quotas: HashMap<String, Arc<QuotaState>>,
    rolling: HashMap<String, Arc<RollingBudget>>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The process-wide limiter for `authority` (`host:port`). The first caller's rate wins: all
/// workspaces on one host share one budget, whatever they ask for later.
pub(crate) fn host_limiter(
    authority: &str,
    per_second: NonZeroU32,
    burst: NonZeroU32,
) -> Arc<DefaultDirectRateLimiter> {
    let mut registry = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    registry
        .hosts
        .entry(authority.to_owned())
        .or_insert_with(|| {
            Arc::new(RateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ))
        })
        .clone()
}

/// The quota tracker for one credential on one host: providers count quota per token, so two
/// workspaces with the same token share it and two tokens on one host do not.
pub(crate) fn quota_state(authority: &str, scope_fingerprint: &str) -> Arc<QuotaState> {
    let key = format!(
        "{authority} {}",
        super::cache_key(authority, scope_fingerprint)
    );
    let mut registry = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    registry.quotas.entry(key).or_default().clone()
}

/// The rolling-window budget of one credential on one host (Bitbucket), made with `limit`
/// requests per `window` by the first caller: every workspace using the credential shares it.
pub(crate) fn rolling_budget(
    authority: &str,
    scope_fingerprint: &str,
    limit: RollingLimit,
) -> Arc<RollingBudget> {
    let key = format!(
        "{authority} {}",
        super::cache_key(authority, scope_fingerprint)
    );
    let mut registry = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    registry
        .rolling
        .entry(key)
        .or_insert_with(|| Arc::new(RollingBudget::new(limit)))
        .clone()
}

/// An allowance counted over a rolling window: at most `requests` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingLimit {
    /// Requests allowed in any window.
    pub requests: u64,
    /// The window's length (Bitbucket: one hour).
    pub window: Duration,
}

impl RollingLimit {
    /// Bitbucket Cloud's allowance for API tokens, OAuth consumers and the endpoints without
    /// scaled limits: 1,000 requests in any hour.
    pub const BITBUCKET: RollingLimit = RollingLimit {
        requests: 1_000,
        window: Duration::from_secs(3600),
    };
}

/// The requests a client sent on one rolling allowance, oldest first (times at which slots were
/// claimed, some of them in the future when the allowance is spent).
#[derive(Debug)]
struct RollingBucket {
    limit: u64,
    sent: std::collections::VecDeque<Instant>,
    /// The provider said the allowance is nearly spent (`X-RateLimit-NearLimit: true`): others
    /// use it too, so requests are spread at the allowance's average rate.
    near_limit: bool,
}

impl RollingBucket {
    fn new(limit: u64) -> Self {
        RollingBucket {
            limit: limit.max(1),
            sent: std::collections::VecDeque::new(),
            near_limit: false,
        }
    }

    /// Claims the next slot: now if fewer than the allowance (less a small reserve for other
    /// users of the credential) went out in the last window, else when the oldest of them
    /// leaves it. Returns the wait.
    fn claim(&mut self, now: Instant, window: Duration, reserve: u64) -> Duration {
        while self
            .sent
            .front()
            .is_some_and(|t| instant_after(*t, window) <= now)
        {
            self.sent.pop_front();
        }
        // Keep at most a twentieth back: a reserve of 50 must not swallow a small allowance.
        let allowed = self
            .limit
            .saturating_sub(reserve.min(self.limit / 20))
            .max(1);
        let in_window = self.sent.len() as u64;
        let mut slot = if in_window < allowed {
            now
        } else {
            let index = usize::try_from(in_window - allowed).unwrap_or(usize::MAX);
            self.sent
                .get(index)
                .map_or(now, |t| instant_after(*t, window))
                .max(now)
        };
        if self.near_limit {
            let spacing = window / u32::try_from(self.limit).unwrap_or(u32::MAX).max(1);
            if let Some(last) = self.sent.back() {
                slot = slot.max(instant_after(*last, spacing));
            }
        }
        if let Some(last) = self.sent.back() {
            slot = slot.max(*last);
        }
        self.sent.push_back(slot);
        slot - now
    }
}

/// A credential's allowances on a provider that counts requests in a rolling window and does
/// not say how many are left (Bitbucket): the client counts its own requests. Requests to a
/// resource with a scaled limit (Bitbucket's `/2.0/repositories/*` for access tokens, which
/// carry `X-RateLimit-Limit`) are counted on their own allowance once a response has shown it.
#[derive(Debug)]
pub(crate) struct RollingBudget {
    window: Duration,
    inner: Mutex<(RollingBucket, Option<RollingBucket>)>,
}

impl RollingBudget {
    fn new(limit: RollingLimit) -> Self {
        // The provider charges a request when it arrives, a little after the client claimed its
        // slot: a slot is counted free only a margin after the window, so the provider never
        // sees one request too many (72 s an hour; 250 ms at least).
        let margin = (limit.window / 50).max(Duration::from_millis(250));
        RollingBudget {
            window: limit.window + margin,
            inner: Mutex::new((RollingBucket::new(limit.requests), None)),
        }
    }

    /// How long the request to `template` must wait, and takes its slot.
    pub(crate) fn claim(&self, template: &str, now: Instant, reserve: u64) -> Duration {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (api, scaled) = &mut *inner;
        match scaled {
            Some(bucket) if is_scaled_route(template) => bucket.claim(now, self.window, reserve),
            _ => api.claim(now, self.window, reserve),
        }
    }

    /// Gives back the slot the last [`RollingBudget::claim`] on `template`'s allowance took,
    /// for a request that will not be sent (its wait ends after the run's deadline).
    pub(crate) fn unclaim(&self, template: &str) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (api, scaled) = &mut *inner;
        match scaled {
            Some(bucket) if is_scaled_route(template) => bucket.sent.pop_back(),
            _ => api.sent.pop_back(),
        };
    }

    /// Reads Bitbucket's scaled-limit headers from a response to `template`: the allowance
    /// (`X-RateLimit-Limit`) and whether it is nearly spent (`X-RateLimit-NearLimit`).
    pub(crate) fn observe(&self, template: &str, headers: &HeaderMap) {
        if !is_scaled_route(template) {
            return;
        }
        let Some(limit) = header_u64(headers, &["x-ratelimit-limit"]) else {
            return;
        };
        let near = headers
            .get("x-ratelimit-nearlimit")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = inner.1.get_or_insert_with(|| RollingBucket::new(limit));
        bucket.limit = limit.max(1);
        bucket.near_limit = near;
    }
}

/// Bitbucket's routes with scaled limits for access tokens.
fn is_scaled_route(template: &str) -> bool {
    template.starts_with("/2.0/repositories/")
}

/// What a response said about the quota.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RateLimitInfo {
    pub remaining: Option<u64>,
    pub limit: Option<u64>,
    /// Time from now until the quota resets.
    pub resets_in: Option<Duration>,
    /// `Retry-After`, as a duration from now.
    pub retry_after: Option<Duration>,
}

fn header_u64(headers: &HeaderMap, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    })
}

fn header_date(headers: &HeaderMap, name: &str) -> Option<SystemTime> {
    let text = headers.get(name)?.to_str().ok()?;
    let parsed = chrono::DateTime::parse_from_rfc2822(text.trim()).ok()?;
    let seconds = u64::try_from(parsed.timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Reads GitHub's `x-ratelimit-*`, GitLab's `RateLimit-*`, Bitbucket's `X-RateLimit-Limit` and
/// anyone's `Retry-After` (seconds or an HTTP date). Reset times are measured against the
/// server's own `Date` header when present, so a skewed local clock does not shorten the wait.
///
/// Every wait is capped at [`MAX_PROVIDER_WAIT`], and numbers that do not parse (negative,
/// garbage, beyond u64) are ignored, so no header can make a later computation overflow.
pub(crate) fn parse_rate_limit(headers: &HeaderMap) -> RateLimitInfo {
    let server_now = header_date(headers, "date").unwrap_or_else(SystemTime::now);
    let until = |at: SystemTime| at.duration_since(server_now).unwrap_or(Duration::ZERO);
    let capped = |d: Duration| d.min(MAX_PROVIDER_WAIT);
    let resets_in = header_u64(headers, &["x-ratelimit-reset", "ratelimit-reset"]).map(|v| {
        let wait = if v >= EPOCH_THRESHOLD {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(v))
                .map_or(MAX_PROVIDER_WAIT, until)
        } else {
            Duration::from_secs(v)
        };
        capped(wait)
    });
    let retry_after = header_u64(headers, &["retry-after"])
        .map(Duration::from_secs)
        .or_else(|| header_date(headers, "retry-after").map(until))
        .map(capped);
    RateLimitInfo {
        remaining: header_u64(headers, &["x-ratelimit-remaining", "ratelimit-remaining"]),
        limit: header_u64(headers, &["x-ratelimit-limit", "ratelimit-limit"]),
        resets_in,
        retry_after,
    }
}

#[derive(Debug, Default)]
struct QuotaInner {
    pause_until: Option<Instant>,
    remaining: Option<u64>,
    reset_at: Option<Instant>,
    /// In low-reserve mode, the earliest time the next request may go out.
    next_slot: Option<Instant>,
}

/// Shared quota knowledge for one credential on one host.
#[derive(Debug, Default)]
pub(crate) struct QuotaState {
    inner: Mutex<QuotaInner>,
}

impl QuotaState {
    fn lock(&self) -> std::sync::MutexGuard<'_, QuotaInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long the caller must wait before sending, and takes a request from the known quota.
    /// Below `reserve` the remaining requests are spread evenly until the reset.
    pub(crate) fn claim(&self, now: Instant, reserve: u64) -> Duration {
        let mut q = self.lock();
        let mut start = now;
        if let Some(pause) = q.pause_until {
            if pause > now {
                start = pause;
            } else {
                q.pause_until = None;
            }
        }
        if let Some(reset) = q.reset_at
            && reset <= start
        {
            // The window is over: what we knew about it no longer holds.
            q.reset_at = None;
            q.remaining = None;
            q.next_slot = None;
        }
        match (q.remaining, q.reset_at) {
            (Some(0), Some(reset)) => start = start.max(reset),
            (Some(remaining), Some(reset)) if remaining < reserve => {
                let spacing = (reset - start) / u32::try_from(remaining).unwrap_or(u32::MAX);
                let slot = q.next_slot.map_or(start, |slot| slot.max(start));
                start = slot;
                q.next_slot = Some(instant_after(slot, spacing));
                q.remaining = Some(remaining - 1);
            }
            (Some(remaining), _) => q.remaining = Some(remaining.saturating_sub(1)),
            _ => {}
        }
        start - now
    }

    /// Records what a response said.
    pub(crate) fn observe(&self, now: Instant, info: &RateLimitInfo) {
        let mut q = self.lock();
        if let Some(remaining) = info.remaining {
            q.remaining = Some(remaining);
            q.reset_at = info.resets_in.map(|d| instant_after(now, d));
        }
    }

    /// Holds every request on this quota until `until` (a `Retry-After` or a 429 backoff).
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut q = self.lock();
        q.pause_until = Some(q.pause_until.map_or(until, |p| p.max(until)));
    }
}

/// A provider's allowance as a [`replay`] models it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayQuota {
    /// No allowance to respect (only the politeness limit).
    None,
    /// A fixed window whose remaining count and reset the provider reports with every answer
    /// (GitHub's `x-ratelimit-*`, GitLab's `RateLimit-*`): the client's quota tracker reads them
    /// and spreads the last `rate_limit_reserve` requests until the reset.
    Reported {
        /// Requests per window.
        limit: u64,
        /// The window's length.
        window: Duration,
    },
    /// A rolling window the provider does not report (Bitbucket): the client counts.
    Rolling(RollingLimit),
}

/// One request of a recorded fetch, for [`replay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// The route template (Bitbucket's scaled routes count apart).
    pub template: String,
    /// Whether the provider charges it (GitHub does not charge a `304`).
    pub charged: bool,
}

/// What [`replay`] computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayOutcome {
    /// From the first request until the last one is answered.
    pub wall: Duration,
    /// Waits for the provider's allowance (a window to free up or reset), and the longest.
    pub quota_waits: u64,
    /// The longest of those waits.
    pub longest_wait: Duration,
    /// Rate-limit windows the fetch touched: 1 when it never waited for one.
    pub windows: u64,
}

/// The wall time of `requests`, sent one after another, each taking `service` once sent (the
/// unthrottled time per request: the measured wall time over the request count, which folds in
/// the provider's concurrency), on a virtual clock, through this module's own pacing: the
/// process-wide politeness limiter (`requests_per_second`, `burst`, the same `governor` quota
/// on a fake clock), the quota tracker fed with the headers a [`ReplayQuota::Reported`]
/// provider would send, and the rolling count of a [`ReplayQuota::Rolling`] one. No deadline:
/// a fetch that waits past a run's deadline continues in the next run from its kept pages,
/// so the sum is what a user waits.
pub fn replay(
    requests: &[ReplayRequest],
    service: Duration,
    requests_per_second: NonZeroU32,
    burst: NonZeroU32,
    reserve: u64,
    quota: ReplayQuota,
) -> ReplayOutcome {
    use governor::clock::{Clock, FakeRelativeClock};
    let clock = FakeRelativeClock::default();
    let limiter = RateLimiter::direct_with_clock(
        Quota::per_second(requests_per_second).allow_burst(burst),
        clock.clone(),
    );
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    let tracker = QuotaState::default();
    let rolling = match quota {
        ReplayQuota::Rolling(limit) => Some(RollingBudget::new(limit)),
        _ => None,
    };
    // The reported window: when it started and how much of it is used.
    let mut window_start = Duration::ZERO;
    let mut used = 0u64;
    let mut out = ReplayOutcome {
        windows: 1,
        ..ReplayOutcome::default()
    };
    for request in requests {
        let now = instant_after(start, elapsed);
        let mut wait = tracker.claim(now, reserve);
        if let Some(rolling) = &rolling {
            wait = wait.max(rolling.claim(&request.template, now, reserve));
        }
        if !wait.is_zero() {
            out.quota_waits += 1;
            out.longest_wait = out.longest_wait.max(wait);
            elapsed += wait;
        }
        loop {
            let virtual_now = Duration::from(clock.now());
            if virtual_now < elapsed {
                clock.advance(elapsed - virtual_now);
            }
            match limiter.check() {
                Ok(()) => break,
                Err(not_until) => {
                    let more = not_until.wait_time_from(clock.now());
                    elapsed += more.max(Duration::from_nanos(1));
                }
            }
        }
        elapsed += service;
        if let ReplayQuota::Reported { limit, window } = quota {
            while elapsed >= window_start + window {
                window_start += window;
                used = 0;
            }
            if request.charged {
                used += 1;
            }
            let resets_in = (window_start + window).saturating_sub(elapsed);
            tracker.observe(
                instant_after(start, elapsed),
                &RateLimitInfo {
                    remaining: Some(limit.saturating_sub(used)),
                    limit: Some(limit),
                    resets_in: Some(resets_in),
                    retry_after: None,
                },
            );
        }
    }
    let window = match quota {
        ReplayQuota::None => None,
        ReplayQuota::Reported { window, .. } => Some(window),
        ReplayQuota::Rolling(limit) => Some(limit.window),
    };
    if let Some(window) = window.filter(|w| !w.is_zero()) {
        out.windows = (elapsed.as_nanos() / window.as_nanos()) as u64 + 1;
    }
    out.wall = elapsed;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("valid header"));
        }
        map
    }

    #[test]
    fn reads_github_headers_against_the_server_date() {
        let info = parse_rate_limit(&headers(&[
            ("date", "Tue, 24 Nov 2026 12:00:00 GMT"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-reset", "1795521630"),
        ]));
        assert_eq!(info.remaining, Some(0));
        assert_eq!(info.limit, Some(5000));
        assert_eq!(info.resets_in, Some(Duration::from_secs(30)));
    }

    #[test]
    fn reads_gitlab_headers_and_retry_after_date() {
        let info = parse_rate_limit(&headers(&[
            ("date", "Tue, 24 Nov 2026 12:00:00 GMT"),
            ("ratelimit-remaining", "12"),
            ("retry-after", "Tue, 24 Nov 2026 12:00:07 GMT"),
        ]));
        assert_eq!(info.remaining, Some(12));
        assert_eq!(info.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn exhausted_quota_waits_for_the_reset() {
        let state = QuotaState::default();
        let now = Instant::now();
        state.observe(
            now,
            &RateLimitInfo {
                remaining: Some(0),
                resets_in: Some(Duration::from_secs(5)),
                ..RateLimitInfo::default()
            },
        );
        assert_eq!(state.claim(now, 10), Duration::from_secs(5));
    }

    #[test]
    fn low_reserve_spreads_the_remaining_requests() {
        let state = QuotaState::default();
        let now = Instant::now();
        state.observe(
            now,
            &RateLimitInfo {
                remaining: Some(4),
                resets_in: Some(Duration::from_secs(8)),
                ..RateLimitInfo::default()
            },
        );
        assert_eq!(state.claim(now, 10), Duration::ZERO);
        assert_eq!(state.claim(now, 10), Duration::from_secs(2));
    }

    #[test]
    fn above_the_reserve_nothing_waits() {
        let state = QuotaState::default();
        let now = Instant::now();
        state.observe(
            now,
            &RateLimitInfo {
                remaining: Some(4000),
                resets_in: Some(Duration::from_secs(3000)),
                ..RateLimitInfo::default()
            },
        );
        assert_eq!(state.claim(now, 10), Duration::ZERO);
        assert_eq!(state.claim(now, 10), Duration::ZERO);
    }

    #[test]
    fn absurd_waits_are_capped_and_garbage_is_ignored() {
        let info = parse_rate_limit(&headers(&[
            ("retry-after", "18446744073709551615"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "18446744073709551615"),
        ]));
        assert_eq!(info.retry_after, Some(MAX_PROVIDER_WAIT));
        assert_eq!(info.resets_in, Some(MAX_PROVIDER_WAIT));
        for garbage in ["-1", "1e9", "soon", "184467440737095516150"] {
            let info = parse_rate_limit(&headers(&[
                ("retry-after", garbage),
                ("ratelimit-reset", garbage),
            ]));
            assert_eq!(info.retry_after, None, "{garbage}");
            assert_eq!(info.resets_in, None, "{garbage}");
        }
    }

    #[test]
    fn a_rolling_allowance_waits_for_the_oldest_request_to_leave_the_window() {
        let budget = RollingBudget::new(RollingLimit {
            requests: 40,
            window: Duration::from_secs(2),
        });
        let now = Instant::now();
        // 40 allowed, 2 (a twentieth) kept back: 38 go at once.
        for _ in 0..38 {
            assert_eq!(budget.claim("/2.0/workspaces/{w}", now, 50), Duration::ZERO);
        }
        // The oldest leaves the window 2 s later, plus the 250 ms margin.
        assert_eq!(
            budget.claim("/2.0/workspaces/{w}", now, 50),
            Duration::from_millis(2250)
        );
        // A request that is not sent gives its slot back: the next one waits as long, not longer.
        budget.unclaim("/2.0/workspaces/{w}");
        assert_eq!(
            budget.claim("/2.0/workspaces/{w}", now, 50),
            Duration::from_millis(2250)
        );
        let later = now + Duration::from_millis(2600);
        assert_eq!(
            budget.claim("/2.0/workspaces/{w}", later, 50),
            Duration::ZERO
        );
    }

    #[test]
    fn scaled_routes_count_apart_once_the_limit_header_is_seen() {
        let budget = RollingBudget::new(RollingLimit {
            requests: 20,
            window: Duration::from_secs(3600),
        });
        let now = Instant::now();
        for _ in 0..19 {
            assert_eq!(budget.claim("/2.0/workspaces/{w}", now, 0), Duration::ZERO);
        }
        // Before any header, /2.0/repositories/* shares the 20.
        assert_eq!(
            budget.claim("/2.0/repositories/{w}", now, 0),
            Duration::ZERO
        );
        assert!(budget.claim("/2.0/repositories/{w}", now, 0) > Duration::ZERO);
        budget.observe(
            "/2.0/repositories/{w}",
            &headers(&[
                ("x-ratelimit-limit", "2500"),
                ("x-ratelimit-resource", "api"),
                ("x-ratelimit-nearlimit", "false"),
            ]),
        );
        for _ in 0..100 {
            assert_eq!(
                budget.claim("/2.0/repositories/{w}", now, 50),
                Duration::ZERO
            );
        }
        budget.observe(
            "/2.0/repositories/{w}",
            &headers(&[
                ("x-ratelimit-limit", "2500"),
                ("x-ratelimit-nearlimit", "true"),
            ]),
        );
        // Nearly spent: one request per (3600 s + 72 s margin) / 2500 = 1.4688 s.
        assert_eq!(
            budget.claim("/2.0/repositories/{w}", now, 50),
            Duration::from_micros(1_468_800)
        );
    }

    fn requests(n: usize, template: &str) -> Vec<ReplayRequest> {
        (0..n)
            .map(|_| ReplayRequest {
                template: template.to_string(),
                charged: true,
            })
            .collect()
    }

    #[test]
    fn replay_follows_the_politeness_limit_and_the_rolling_hour() {
        let ten = NonZeroU32::new(10).expect("non-zero");
        // 100 requests at 10 per second (10 at once, then one each 0.1 s): about 9 s.
        let polite = replay(
            &requests(100, "/x"),
            Duration::ZERO,
            ten,
            ten,
            50,
            ReplayQuota::None,
        );
        assert!(
            polite.wall >= Duration::from_secs(9) && polite.wall < Duration::from_secs(10),
            "{polite:?}"
        );
        // 1,500 requests on 1,000 an hour: 950 go (50 kept back), the rest wait an hour
        // (plus the 72 s margin) for the first ones to leave the window.
        let hour = replay(
            &requests(1_500, "/2.0/workspaces/{w}"),
            Duration::from_millis(20),
            ten,
            ten,
            50,
            ReplayQuota::Rolling(RollingLimit::BITBUCKET),
        );
        assert_eq!(hour.windows, 2, "{hour:?}");
        assert!(hour.wall > Duration::from_secs(3672), "{hour:?}");
        assert!(hour.wall < Duration::from_secs(3672 + 100), "{hour:?}");
        // GitHub-style reported quota of 5,000 an hour: 6,000 requests wait for the reset.
        let reported = replay(
            &requests(6_000, "/orgs/{org}/members"),
            Duration::from_millis(20),
            NonZeroU32::new(10_000).expect("non-zero"),
            NonZeroU32::new(10_000).expect("non-zero"),
            50,
            ReplayQuota::Reported {
                limit: 5_000,
                window: Duration::from_secs(3600),
            },
        );
        assert_eq!(reported.windows, 2, "{reported:?}");
        assert!(reported.wall > Duration::from_secs(3600), "{reported:?}");
    }

    #[test]
    fn a_quota_reset_at_the_end_of_time_does_not_overflow() {
        let state = QuotaState::default();
        let now = Instant::now();
        state.observe(
            now,
            &RateLimitInfo {
                remaining: Some(3),
                resets_in: Some(Duration::MAX),
                ..RateLimitInfo::default()
            },
        );
        assert_eq!(state.claim(now, 10), Duration::ZERO);
        assert!(state.claim(now, 10) <= MAX_PROVIDER_WAIT);
        state.pause_until(instant_after(now, Duration::MAX));
        assert_eq!(state.claim(now, 10), MAX_PROVIDER_WAIT);
    }
}

//! Provider-agnostic server infrastructure.
//!
//! A provider module builds an axum [`Router`] of its routes and hands it to [`Infra::wrap`]
//! together with its [`Flavor`]. Every routed request then goes through one middleware that, in
//! order: skips `/_sim/` control calls, waits the configured latency, applies matching faults,
//! authenticates the token, checks the route's scope, charges the token's rate-limit budget,
//! runs the route, adds a weak `ETag` to `200` answers of `GET`s and turns a matching
//! `If-None-Match` into a `304` that is refunded (costs no budget), adds the rate-limit headers
//! and counts the answer in [`Stats`].
//!
//! [`SimHandle`] is the library's view of a running server's knobs; the same knobs are exposed
//! over HTTP under `/_sim/` (see [`control`]).

pub mod control;
pub mod faults;
pub mod page_hook;
pub mod pagination;
pub mod stats;
pub mod webhook;

pub use faults::{FaultAction, FaultRule, FaultTimes};
pub use page_hook::{FiredHook, HookAction};
pub use pagination::Page;
pub use stats::{RouteStats, Stats};
pub use webhook::{Delivery, WebhookTarget, hmac_sha256_hex};

use crate::SimError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a route is authenticated and charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteClass {
    /// A token is required and each request costs one unit of budget; `scope` is the classic
    /// OAuth scope the route needs, if any.
    Token {
        /// The classic OAuth scope the route needs; `None` when any token will do.
        scope: Option<&'static str>,
    },
    /// A token is required but the request is free (GitHub's `GET /rate_limit`).
    Free,
    /// The route authenticates itself (GitHub App JWT routes); no token check, no budget.
    SelfAuthenticated,
    /// A token is required, but the route charges a budget of its own and adds its own
    /// rate-limit headers (GitHub's GraphQL endpoint: points per query, resource `graphql`).
    OwnBudget,
}

/// What one provider's answers look like. The infrastructure decides *when* to answer 401, 403
/// or "rate limited"; the flavor decides *how* that provider spells it.
pub trait Flavor: Send + Sync + 'static {
    /// `github`, `gitlab`, `bitbucket`.
    fn name(&self) -> &'static str;
    /// The token in the request, from whatever header the provider uses.
    fn extract_token(&self, headers: &HeaderMap) -> Option<String>;
    /// How the route (`template`, as registered, e.g. `/orgs/{org}/members`) is authenticated.
    fn route_class(&self, method: &Method, template: &str) -> RouteClass;
    /// The key under which a route is counted (lets a provider fold URL prefixes together).
    fn stats_key(&self, template: &str) -> String {
        template.to_string()
    }
    /// True when a token with scopes `have` may call a route that needs `need` (providers with
    /// scope hierarchies override this).
    fn has_scope(&self, have: &[String], need: &str) -> bool {
        have.iter().any(|s| s == need)
    }
    /// True when a `304 Not Modified` costs no budget (GitHub documents this; providers that do
    /// not say so override it with `false`).
    fn free_not_modified(&self) -> bool {
        true
    }
    /// True when a token's budget is a rolling window (the requests of the last window, as
    /// Bitbucket counts them) rather than a fixed one that resets at once (GitHub, GitLab).
    fn rolling_window(&self) -> bool {
        false
    }
    /// The resource name of a route that has its own, scaled budget for tokens given one
    /// ([`Infra::set_scaled_limit`]): Bitbucket's `/2.0/repositories/*` for access tokens.
    fn scaled_resource(&self, _template: &str) -> Option<&'static str> {
        None
    }
    /// Adds the headers of a request charged to a scaled budget (Bitbucket's
    /// `X-RateLimit-Limit`, `X-RateLimit-Resource`, `X-RateLimit-NearLimit`).
    fn scaled_headers(&self, _resource: &str, _budget: &BudgetView, _headers: &mut HeaderMap) {}
    /// The answer to a request without a token, or with one the server does not accept (`401`).
    fn unauthorized(&self) -> Response;
    /// The token lacks `scope`.
    fn missing_scope(&self, token: &TokenInfo, scope: &str) -> Response;
    /// The primary budget is spent; `status` is 403 or 429 as configured.
    fn rate_limited(&self, budget: &BudgetView, status: StatusCode) -> Response;
    /// A secondary (abuse) limit, as injected by a fault.
    fn secondary_limited(&self, retry_after_secs: Option<u64>, status: StatusCode) -> Response;
    /// Adds the provider's rate-limit headers.
    fn rate_headers(&self, budget: &BudgetView, headers: &mut HeaderMap);
    /// The provider's error body for a fault that gives only a status.
    fn error_body(&self, status: StatusCode) -> serde_json::Value;
    /// The provider's `404`, for a route or resource that does not exist or that the caller may
    /// not see.
    fn not_found(&self) -> Response;
}

/// Options for starting a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// 0 picks a free port (what tests should use).
    pub port: u16,
    /// Delay added before every answer (zero by default).
    pub latency: Duration,
    /// Default budget per token per window (GitHub: 5,000 per hour).
    pub rate_limit: u64,
    /// Length of a budget window (GitHub: one hour).
    pub rate_window: Duration,
    /// Status of a spent primary budget: 403 (GitHub's usual) or 429.
    pub exhausted_status: StatusCode,
    /// Seed of the generator behind probabilistic faults and delivery GUIDs.
    pub seed: u64,
    /// Where to deliver webhooks; `None` sends none.
    pub webhook: Option<WebhookTarget>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            port: 0,
            latency: Duration::ZERO,
            rate_limit: 5000,
            rate_window: Duration::from_secs(3600),
            exhausted_status: StatusCode::FORBIDDEN,
            seed: 0x5EED,
            webhook: None,
        }
    }
}

/// What kind of credential a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token or OAuth token configured in the scenario.
    Personal,
    /// Issued at run time (GitHub App installation token); expires.
    Installation,
}

/// A token the server accepts, with its budget. Holds no token text, so it is safe to print.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Configured or issued at run time.
    pub kind: TokenKind,
    /// `None`: every scope.
    pub scopes: Option<Vec<String>>,
    /// Requests allowed per window.
    pub limit: u64,
    /// Requests charged in the current window.
    pub used: u64,
    /// Simulated-clock seconds at which the current window started.
    pub window_start: u64,
    /// Simulated-clock seconds after which the token is rejected.
    pub expires_at: Option<u64>,
    /// Rolling windows ([`Flavor::rolling_window`]): when the requests of the current window
    /// were charged, in simulated-clock milliseconds, oldest first.
    pub recent: std::collections::VecDeque<u64>,
    /// The scaled budget of [`Flavor::scaled_resource`] routes, if the token has one: its limit
    /// and the charges of its own rolling window.
    pub scaled: Option<(u64, std::collections::VecDeque<u64>)>,
}

/// A token's budget as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetView {
    /// Requests allowed per window.
    pub limit: u64,
    /// Requests left in the current window.
    pub remaining: u64,
    /// Requests charged in the current window.
    pub used: u64,
    /// Epoch seconds (simulated clock) when the window resets.
    pub reset: u64,
}

/// The authenticated caller, put in the request's extensions for routes that care.
#[derive(Clone)]
pub struct Caller {
    /// The token text as sent; a secret, hidden from `Debug`.
    pub token: String,
    /// Configured or issued at run time.
    pub kind: TokenKind,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("token", &"<redacted>")
            .field("kind", &self.kind)
            .finish()
    }
}

/// The shared state of one running server's infrastructure.
pub struct Infra {
    flavor: Arc<dyn Flavor>,
    latency_ms: AtomicU64,
    clock_offset_secs: AtomicU64,
    settings: Mutex<BudgetSettings>,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    faults: Mutex<Vec<faults::ArmedFault>>,
    /// A copy of the request statistics so far.
    stats: Mutex<Stats>,
    page_hooks: Mutex<Vec<page_hook::PageHook>>,
    /// Points budgets (GitHub GraphQL) per token: (used, window start), apart from the
    /// request budget in `tokens`.
    points: Mutex<HashMap<String, PointsUsed>>,
    points_limit: AtomicU64,
    fired_hooks: Mutex<Vec<FiredHook>>,
    rng: Mutex<u64>,
    pub(crate) webhook: webhook::Webhooks,
}

#[derive(Debug, Clone, Copy)]
struct BudgetSettings {
    limit: u64,
    window_secs: u64,
    exhausted_status: StatusCode,
}

/// GitHub's GraphQL budget for a user token: 5,000 points per hour.
pub const DEFAULT_POINTS_LIMIT: u64 = 5000;

/// Points spent in the current window, and the per-minute count for the secondary limit.
#[derive(Debug, Clone, Copy, Default)]
struct PointsUsed {
    used: u64,
    window_start: u64,
    minute_start: u64,
    minute_used: u64,
}

/// What charging a points budget decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointsCharge {
    /// Charged; the budget after the charge.
    Charged(BudgetView),
    /// The hourly budget cannot pay this query (nothing charged).
    Exhausted(BudgetView),
    /// More than the per-minute secondary limit (nothing charged); seconds to wait.
    Secondary(u64),
}

/// GitHub's secondary limit for GraphQL: no more than 2,000 points per minute.
pub const POINTS_PER_MINUTE: u64 = 2000;

/// A cheap handle to a server's knobs (clone freely).
pub type SimHandle = Arc<Infra>;

/// Locks a mutex even if a panicking test thread poisoned it: the data are counters and lists
/// that stay consistent at every await-free step.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Read access that survives poisoning, like [`lock`].
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write access that survives poisoning, like [`lock`].
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl fmt::Debug for Infra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Infra")
            .field("flavor", &self.flavor.name())
            .finish_non_exhaustive()
    }
}

impl Infra {
    /// Shared state for a server of `flavor`, set up from `options`; the provider module builds its
    /// router on it.
    pub fn new(flavor: Arc<dyn Flavor>, options: &ServerOptions) -> SimHandle {
        Arc::new(Infra {
            flavor,
            latency_ms: AtomicU64::new(options.latency.as_millis() as u64),
            clock_offset_secs: AtomicU64::new(0),
            settings: Mutex::new(BudgetSettings {
                limit: options.rate_limit,
                window_secs: options.rate_window.as_secs().max(1),
                exhausted_status: options.exhausted_status,
            }),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            stats: Mutex::new(Stats::default()),
            page_hooks: Mutex::new(Vec::new()),
            points: Mutex::new(HashMap::new()),
            points_limit: AtomicU64::new(DEFAULT_POINTS_LIMIT),
            fired_hooks: Mutex::new(Vec::new()),
            rng: Mutex::new(options.seed),
            webhook: webhook::Webhooks::new(options.webhook.clone()),
        })
    }

    /// The provider this server simulates (`github`, `gitlab`, `bitbucket`).
    pub fn flavor_name(&self) -> &'static str {
        self.flavor.name()
    }

    /// Milliseconds since the epoch on the simulated clock.
    pub fn now_millis(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        real + self.clock_offset_secs.load(Ordering::Relaxed) * 1000
    }

    /// Seconds since the epoch on the simulated clock (real time plus [`Infra::advance_clock`]).
    pub fn now_secs(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        real + self.clock_offset_secs.load(Ordering::Relaxed)
    }

    /// Moves the simulated clock forward: rate-limit windows reset and tokens expire as if that
    /// much time had passed, without a test having to sleep.
    pub fn advance_clock(&self, by: Duration) {
        self.clock_offset_secs
            .fetch_add(by.as_secs(), Ordering::Relaxed);
    }

    /// Sets the delay added before every answer, from the next request on.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// The delay currently added before every answer.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Sets the default budget and window for tokens without their own limit; applies to every
    /// token from its next window on (and resets current windows).
    pub fn set_rate_limit(&self, limit: u64, window: Duration) {
        let mut settings = lock(&self.settings);
        settings.limit = limit;
        settings.window_secs = window.as_secs().max(1);
        let now = self.now_secs();
        for info in lock(&self.tokens).values_mut() {
            info.limit = limit;
            info.used = 0;
            info.window_start = now;
            info.recent.clear();
            if let Some((_, recent)) = info.scaled.as_mut() {
                recent.clear();
            }
        }
    }

    /// Sets the points budget per token and window (GitHub GraphQL; default
    /// [`DEFAULT_POINTS_LIMIT`]) and starts fresh windows.
    pub fn set_points_limit(&self, limit: u64) {
        self.points_limit.store(limit, Ordering::Relaxed);
        lock(&self.points).clear();
    }

    /// The token's points budget as the headers report it (a known token that spent nothing
    /// yet has the whole budget).
    pub fn points_budget(&self, token: &str) -> BudgetView {
        let window = lock(&self.settings).window_secs;
        let now = self.now_secs();
        let limit = self.points_limit.load(Ordering::Relaxed);
        let mut points = lock(&self.points);
        let entry = points_entry(&mut points, token, now, window);
        points_view(entry, limit, window)
    }

    /// Charges `cost` points to the token's points budget, all or nothing, and counts them in
    /// [`Stats::points`].
    pub fn charge_points(&self, token: &str, cost: u64) -> PointsCharge {
        let window = lock(&self.settings).window_secs;
        let now = self.now_secs();
        let limit = self.points_limit.load(Ordering::Relaxed);
        let mut points = lock(&self.points);
        let entry = points_entry(&mut points, token, now, window);
        if entry.used + cost > limit {
            return PointsCharge::Exhausted(points_view(entry, limit, window));
        }
        if entry.minute_used + cost > POINTS_PER_MINUTE {
            return PointsCharge::Secondary(60 - (now - entry.minute_start).min(59));
        }
        entry.used += cost;
        entry.minute_used += cost;
        lock(&self.stats).points += cost;
        PointsCharge::Charged(points_view(entry, limit, window))
    }

    /// 403 (default) or 429 for a spent primary budget.
    pub fn set_exhausted_status(&self, status: StatusCode) {
        lock(&self.settings).exhausted_status = status;
    }

    /// Starts a fresh window for every token.
    pub fn reset_budgets(&self) {
        lock(&self.points).clear();
        let now = self.now_secs();
        for info in lock(&self.tokens).values_mut() {
            info.used = 0;
            info.window_start = now;
            info.recent.clear();
            if let Some((_, recent)) = info.scaled.as_mut() {
                recent.clear();
            }
        }
    }

    /// Gives `token` its own budget of `limit` per window on [`Flavor::scaled_resource`]
    /// routes (Bitbucket: an access token's scaled limit on `/2.0/repositories/*`).
    pub fn set_scaled_limit(&self, token: &str, limit: u64) {
        if let Some(info) = lock(&self.tokens).get_mut(token) {
            info.scaled = Some((limit, std::collections::VecDeque::new()));
        }
    }

    /// Accepts `token` from now on. `limit` overrides the default budget.
    pub fn add_token(
        &self,
        token: impl Into<String>,
        kind: TokenKind,
        scopes: Option<Vec<String>>,
        limit: Option<u64>,
        expires_at: Option<u64>,
    ) {
        let default_limit = lock(&self.settings).limit;
        let now = self.now_secs();
        lock(&self.tokens).insert(
            token.into(),
            TokenInfo {
                kind,
                scopes,
                limit: limit.unwrap_or(default_limit),
                used: 0,
                window_start: now,
                expires_at,
                recent: std::collections::VecDeque::new(),
                scaled: None,
            },
        );
    }

    /// Forgets a token: its next request gets `401`. Unknown tokens are ignored.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.tokens).remove(token);
    }

    /// The token's current budget, `None` for an unknown token.
    pub fn budget(&self, token: &str) -> Option<BudgetView> {
        let window = lock(&self.settings).window_secs;
        let now = self.now_secs();
        let mut tokens = lock(&self.tokens);
        let info = tokens.get_mut(token)?;
        if self.flavor.rolling_window() {
            let (limit, recent) = (info.limit, &mut info.recent);
            return Some(rolling_view(limit, recent, self.now_millis(), window));
        }
        roll_window(info, now, window);
        Some(view(info, window))
    }

    /// Arms a fault rule; rules are checked in the order they were added.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.faults).push(faults::ArmedFault::new(rule));
    }

    /// Disarms every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// A copy of the request statistics so far.
    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Zeroes the request statistics, for measuring one run of a client.
    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    /// Runs `action` once, right after page `after_page` of a successful `GET` whose path
    /// matches the glob `path` (with a `?`, the glob is matched against `path?query`; one hook
    /// per answer: hooks armed for the same page fire on
    /// successive readings) (`/orgs/acme/members`, `/orgs/*/teams/*/members`), before the
    /// client can ask for the next page. Provider servers wrap this with their mutations
    /// (`GithubServer::on_page`).
    pub fn on_page(
        &self,
        path: impl Into<String>,
        after_page: usize,
        label: impl Into<String>,
        action: HookAction,
    ) {
        lock(&self.page_hooks).push(page_hook::PageHook {
            path: path.into(),
            after_page,
            label: label.into(),
            action,
        });
    }

    /// The page hooks that fired so far, oldest first, with the outcome of their change.
    pub fn page_hooks_fired(&self) -> Vec<FiredHook> {
        lock(&self.fired_hooks).clone()
    }

    /// Hooks armed and not fired yet.
    pub fn page_hooks_pending(&self) -> usize {
        lock(&self.page_hooks).len()
    }

    /// Fires the first armed hook matching this answer (at most one per answer, in the order
    /// armed, so two hooks on the same page fire on two successive readings of the list).
    fn fire_page_hooks(&self, path: &str, query: Option<&str>) {
        let page = page_hook::page_of(query);
        let hook = {
            let mut hooks = lock(&self.page_hooks);
            match hooks.iter().position(|h| h.matches(path, query, page)) {
                Some(i) => hooks.remove(i),
                None => return,
            }
        };
        let result = (hook.action)();
        lock(&self.fired_hooks).push(FiredHook {
            path: hook.path,
            after_page: hook.after_page,
            label: hook.label,
            result,
        });
    }

    /// Where mutations deliver webhooks; `None` stops deliveries.
    pub fn set_webhook(&self, target: Option<WebhookTarget>) {
        self.webhook.set_target(target);
    }

    /// Every delivery attempted so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.webhook.deliveries()
    }

    /// A pseudo-random number from the server's seeded generator.
    pub fn next_random(&self) -> u64 {
        let mut state = lock(&self.rng);
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random GUID in the 8-4-4-4-12 form GitHub uses for `X-GitHub-Delivery`.
    pub fn guid(&self) -> String {
        let a = self.next_random();
        let b = self.next_random();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// Adds this server's middleware to a provider router and merges the `/_sim/` control
    /// routes. Providers add their own control routes (mutations) to `router` before.
    pub fn wrap(self: &Arc<Self>, router: Router) -> Router {
        let fallback_infra = Arc::clone(self);
        router
            .route_layer(middleware::from_fn_with_state(
                Arc::clone(self),
                infra_middleware,
            ))
            .merge(control::routes(Arc::clone(self)))
            .fallback(move |req: Request| {
                let infra = Arc::clone(&fallback_infra);
                async move {
                    let key = format!("{} <unmatched>", req.method());
                    let response = infra.flavor.not_found();
                    lock(&infra.stats).record(key, response.status().as_u16());
                    response
                }
            })
    }

    fn take_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut armed = lock(&self.faults);
        let mut chosen = None;
        for (i, fault) in armed.iter_mut().enumerate() {
            if !fault.rule.matches(method, path) {
                continue;
            }
            if let FaultTimes::Probability(p) = fault.rule.times {
                // 53 random bits make a uniform float in [0, 1).
                let draw = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
                if draw >= p {
                    continue;
                }
            }
            if let Some(remaining) = fault.remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
            }
            chosen = Some((i, fault.rule.action.clone()));
            break;
        }
        let (i, action) = chosen?;
        if armed[i].remaining == Some(0) {
            armed.remove(i);
        }
        Some(action)
    }
}

fn roll_window(info: &mut TokenInfo, now: u64, window: u64) {
    if now >= info.window_start + window {
        info.window_start = now;
        info.used = 0;
    }
}

/// The token's points record, its windows rolled forward to `now`.
fn points_entry<'a>(
    points: &'a mut HashMap<String, PointsUsed>,
    token: &str,
    now: u64,
    window: u64,
) -> &'a mut PointsUsed {
    let entry = points.entry(token.to_owned()).or_insert(PointsUsed {
        window_start: now,
        minute_start: now,
        ..PointsUsed::default()
    });
    roll_points(entry, now, window);
    entry
}

fn roll_points(p: &mut PointsUsed, now: u64, window: u64) {
    if now >= p.window_start + window {
        p.window_start = now;
        p.used = 0;
    }
    if now >= p.minute_start + 60 {
        p.minute_start = now;
        p.minute_used = 0;
    }
}

fn points_view(p: &PointsUsed, limit: u64, window: u64) -> BudgetView {
    BudgetView {
        limit,
        remaining: limit.saturating_sub(p.used),
        used: p.used,
        reset: p.window_start + window,
    }
}

fn view(info: &TokenInfo, window: u64) -> BudgetView {
    BudgetView {
        limit: info.limit,
        remaining: info.limit.saturating_sub(info.used),
        used: info.used,
        reset: info.window_start + window,
    }
}

/// Forgets the charges older than the window and reports the rest (a rolling window).
fn rolling_view(
    limit: u64,
    recent: &mut std::collections::VecDeque<u64>,
    now_ms: u64,
    window_secs: u64,
) -> BudgetView {
    let window_ms = window_secs.saturating_mul(1000);
    while recent
        .front()
        .is_some_and(|t| t.saturating_add(window_ms) <= now_ms)
    {
        recent.pop_front();
    }
    let used = recent.len() as u64;
    BudgetView {
        limit,
        remaining: limit.saturating_sub(used),
        used,
        // When the oldest charge leaves the window (a slot frees), in seconds.
        reset: recent
            .front()
            .map_or(now_ms, |t| t.saturating_add(window_ms))
            .div_ceil(1000),
    }
}

/// What the budget step decided.
enum Charge {
    /// Charged one unit (refund it on a 304).
    Charged,
    /// Charged to the token's scaled budget of this resource.
    Scaled(&'static str),
    /// Free route.
    Free,
    Exhausted(BudgetView),
}

impl Infra {
    fn charge(&self, token: &str, free: bool, template: &str) -> Option<Charge> {
        let window = lock(&self.settings).window_secs;
        let now = self.now_secs();
        let mut tokens = lock(&self.tokens);
        let info = tokens.get_mut(token)?;
        if self.flavor.rolling_window() {
            if free {
                return Some(Charge::Free);
            }
            let now_ms = self.now_millis();
            let resource = self.flavor.scaled_resource(template);
            let (limit, recent, charge) = match (resource, info.scaled.as_mut()) {
                (Some(resource), Some((limit, recent))) => {
                    (*limit, recent, Charge::Scaled(resource))
                }
                _ => (info.limit, &mut info.recent, Charge::Charged),
            };
            let budget = rolling_view(limit, recent, now_ms, window);
            if budget.remaining == 0 {
                return Some(Charge::Exhausted(budget));
            }
            recent.push_back(now_ms);
            return Some(charge);
        }
        roll_window(info, now, window);
        if free {
            return Some(Charge::Free);
        }
        if info.used >= info.limit {
            return Some(Charge::Exhausted(view(info, window)));
        }
        info.used += 1;
        Some(Charge::Charged)
    }

    /// The token's scaled budget, if it has one.
    pub fn scaled_budget(&self, token: &str) -> Option<BudgetView> {
        let window = lock(&self.settings).window_secs;
        let now_ms = self.now_millis();
        let mut tokens = lock(&self.tokens);
        let (limit, recent) = tokens.get_mut(token)?.scaled.as_mut()?;
        Some(rolling_view(*limit, recent, now_ms, window))
    }

    fn refund(&self, token: &str) {
        if let Some(info) = lock(&self.tokens).get_mut(token) {
            info.used = info.used.saturating_sub(1);
        }
    }

    /// The token if it is known and not expired, with its scopes.
    fn authenticate(&self, token: &str) -> Option<TokenInfo> {
        let now = self.now_secs();
        let tokens = lock(&self.tokens);
        let info = tokens.get(token)?;
        if info.expires_at.is_some_and(|at| now >= at) {
            return None;
        }
        Some(info.clone())
    }
}

async fn infra_middleware(
    State(infra): State<SimHandle>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_string());
    if path.starts_with("/_sim/") {
        return next.run(req).await;
    }
    let key = format!("{method} {}", infra.flavor.stats_key(&template));
    let response = serve_one(&infra, &method, &path, &template, &mut req, next).await;
    lock(&infra.stats).record(key, response.status().as_u16());
    response
}

async fn serve_one(
    infra: &SimHandle,
    method: &Method,
    path: &str,
    template: &str,
    req: &mut Request,
    next: Next,
) -> Response {
    let latency = infra.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut post_fault = None;
    if let Some(action) = infra.take_fault(method.as_str(), path) {
        match action {
            FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            FaultAction::Status { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                let body = body.unwrap_or_else(|| infra.flavor.error_body(status));
                return (status, axum::Json(body)).into_response();
            }
            FaultAction::SecondaryRateLimit { retry_after_secs } => {
                let status = lock(&infra.settings).exhausted_status;
                return infra.flavor.secondary_limited(retry_after_secs, status);
            }
            FaultAction::DropConnection => return dropped_connection(),
            other @ (FaultAction::MalformedJson | FaultAction::TruncatedJson) => {
                post_fault = Some(other);
            }
        }
    }

    let class = infra.flavor.route_class(method, template);
    let mut charged_token = None;
    let mut budget_token = None;
    let mut scaled: Option<&'static str> = None;
    if class != RouteClass::SelfAuthenticated {
        let Some(token) = infra.flavor.extract_token(req.headers()) else {
            return infra.flavor.unauthorized();
        };
        let Some(info) = infra.authenticate(&token) else {
            return infra.flavor.unauthorized();
        };
        if let RouteClass::Token { scope: Some(scope) } = &class
            && info
                .scopes
                .as_ref()
                .is_some_and(|have| !infra.flavor.has_scope(have, scope))
        {
            return infra.flavor.missing_scope(&info, scope);
        }
        let own_budget = class == RouteClass::OwnBudget;
        match infra.charge(&token, class == RouteClass::Free || own_budget, template) {
            None => return infra.flavor.unauthorized(),
            Some(Charge::Exhausted(budget)) => {
                let status = lock(&infra.settings).exhausted_status;
                return infra.flavor.rate_limited(&budget, status);
            }
            Some(Charge::Charged) => charged_token = Some(token.clone()),
            Some(Charge::Scaled(resource)) => scaled = Some(resource),
            Some(Charge::Free) => {}
        }
        req.extensions_mut().insert(Caller {
            token: token.clone(),
            kind: info.kind,
        });
        if !own_budget {
            budget_token = Some(token);
        }
    }

    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let query = req.uri().query().map(str::to_owned);
    let taken = std::mem::replace(req, Request::new(Body::empty()));
    let response = next.run(taken).await;
    if *method == Method::GET && response.status() == StatusCode::OK {
        infra.fire_page_hooks(path, query.as_deref());
    }
    let (mut parts, body) = response.into_parts();
    let mut bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };

    if *method == Method::GET && parts.status == StatusCode::OK {
        let etag = weak_etag(&bytes);
        let matches = if_none_match
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| etag_matches(v, &etag));
        if matches {
            if let Some(token) = charged_token
                .as_ref()
                .filter(|_| infra.flavor.free_not_modified())
            {
                infra.refund(token);
            }
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&etag) {
                headers.insert(header::ETAG, value);
            }
            if let Some(budget) = budget_token.as_deref().and_then(|t| infra.budget(t)) {
                infra.flavor.rate_headers(&budget, &mut headers);
            }
            if let (Some(resource), Some(budget)) = (
                scaled,
                budget_token.as_deref().and_then(|t| infra.scaled_budget(t)),
            ) {
                infra.flavor.scaled_headers(resource, &budget, &mut headers);
            }
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        if let Ok(value) = HeaderValue::from_str(&etag) {
            parts.headers.insert(header::ETAG, value);
        }
    }
    if let Some(budget) = budget_token.as_deref().and_then(|t| infra.budget(t)) {
        infra.flavor.rate_headers(&budget, &mut parts.headers);
    }
    if let (Some(resource), Some(budget)) = (
        scaled,
        budget_token.as_deref().and_then(|t| infra.scaled_budget(t)),
    ) {
        infra
            .flavor
            .scaled_headers(resource, &budget, &mut parts.headers);
    }
    match post_fault {
        Some(FaultAction::TruncatedJson) => bytes = bytes.slice(..bytes.len() / 2),
        Some(FaultAction::MalformedJson) => {
            bytes = Bytes::from_static(b"{\"message\": \"unterminated, ]")
        }
        _ => {}
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// A weak validator over the exact body bytes: the same answer always gets the same tag.
fn weak_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("W/\"{}\"", hex::encode(&digest[..16]))
}

/// `If-None-Match` may list several tags, weak or strong, or `*`; weak comparison applies.
fn etag_matches(header_value: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header_value
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == bare)
}

/// Headers go out, then the body stream fails, so the client sees the connection break
/// mid-response.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault injection: dropped connection",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A server listening on loopback. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningServer {
    /// The address the server listens on (loopback, the port chosen at bind time).
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Binds `127.0.0.1:port` (0 = any free port). Separate from [`RunningServer::serve`] so a
    /// provider can put its own base URL into the payloads it builds.
    pub async fn bind(port: u16) -> Result<tokio::net::TcpListener, SimError> {
        let addr = format!("127.0.0.1:{port}");
        tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })
    }

    /// Serves `router` on `listener` until dropped or shut down.
    pub fn serve(
        listener: tokio::net::TcpListener,
        router: Router,
    ) -> Result<RunningServer, SimError> {
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: "127.0.0.1".to_string(),
            source,
        })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "simulated server stopped with an error");
            }
        });
        Ok(RunningServer {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Binds `127.0.0.1:port` and serves `router`.
    pub async fn start(router: Router, port: u16) -> Result<RunningServer, SimError> {
        let listener = RunningServer::bind(port).await?;
        RunningServer::serve(listener, router)
    }

    /// The address the server listens on (loopback, the port chosen at bind time).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_comparison_is_weak_and_accepts_lists() {
        let tag = weak_etag(b"[]");
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches(tag.trim_start_matches("W/"), &tag));
        assert!(etag_matches(&format!("\"x\", {tag}"), &tag));
        assert!(!etag_matches("W/\"other\"", &tag));
    }
}

//! The hook the daemon's metrics hang on.

use crate::snapshot::ProviderKind;
use std::time::Duration;

/// One finished HTTP exchange (one attempt; a retried request reports once per attempt).
#[derive(Debug, Clone)]
pub struct RequestEvent<'a> {
    /// The provider asked.
    pub provider: ProviderKind,
    /// The workspace the request was made for.
    pub workspace: &'a str,
    /// The route template (`/orgs/{org}/members`), never the expanded path, so metric labels
    /// stay few and carry no personal data.
    pub route: &'a str,
    /// The status received, or `None` when no answer came (connection error, timeout).
    pub status: Option<u16>,
    /// The server answered `304 Not Modified` and the body came from the cache.
    pub from_cache: bool,
    /// How long the exchange took.
    pub duration: Duration,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
}

/// A rate-limit reading taken from a response's headers.
#[derive(Debug, Clone)]
pub struct RateLimitEvent<'a> {
    /// The provider that answered.
    pub provider: ProviderKind,
    /// The workspace whose credential the quota belongs to.
    pub workspace: &'a str,
    /// Requests left in the current window.
    pub remaining: u64,
    /// The window's size, when the provider said so.
    pub limit: Option<u64>,
    /// Time until the provider restores the quota, when it said so.
    pub resets_in: Option<Duration>,
}

/// Receives what the HTTP layer saw, for `orgsync_provider_requests_total` and
/// `orgsync_provider_rate_limit_remaining`. Called inline on the request path: keep it cheap
/// and never block.
pub trait HttpObserver: Send + Sync {
    /// Called once per finished attempt.
    fn request_finished(&self, event: &RequestEvent<'_>);

    /// Called for each rate-limit reading; ignored by default.
    fn rate_limit_observed(&self, event: &RateLimitEvent<'_>) {
        let _ = event;
    }
}

/// An observer that ignores everything, the default of a workspace client.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl HttpObserver for NoopObserver {
    fn request_finished(&self, _event: &RequestEvent<'_>) {}
}

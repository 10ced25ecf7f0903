//! The knobs of the HTTP layer, with defaults that suit the public clouds.

use std::num::NonZeroU32;
use std::time::Duration;

/// Settings shared by every workspace client made from one [`HttpClient`](super::HttpClient).
///
/// The defaults are for github.com, gitlab.com and bitbucket.org; tests shrink the waits.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Sent as `User-Agent`; GitHub refuses requests without one.
    pub user_agent: String,
    /// Time allowed to open a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt, from connecting until the whole body is read. Shortened
    /// automatically so an attempt never outlives the run's deadline.
    pub request_timeout: Duration,
    /// Attempts per request, the first one included. Rate-limit waits count as attempts too, so
    /// a server that keeps refusing cannot hold a run forever.
    pub max_attempts: u32,
    /// Attempts per request when no connection can be opened at all (refused, no such host,
    /// connect timeout): a dead endpoint or a wrong host name fails the run within seconds
    /// instead of spending every [`HttpConfig::max_attempts`] on it.
    pub max_connect_attempts: u32,
    /// First backoff delay after a transient failure; doubles on each further failure (with
    /// jitter) up to [`HttpConfig::max_backoff`].
    pub min_backoff: Duration,
    /// Largest backoff delay between two attempts when the server gave no wait of its own.
    pub max_backoff: Duration,
    /// Wait after a GitHub secondary-rate-limit 403 that came without `Retry-After`; GitHub asks
    /// for at least a minute.
    pub secondary_limit_wait: Duration,
    /// Most pages one list may have. Reaching it with a `next` still present is an error: a
    /// server that links pages in a circle or without end must not keep a run busy forever.
    pub max_pages: u32,
    /// Largest response body accepted, in bytes; larger answers fail the request as malformed.
    pub max_response_bytes: usize,
    /// Steady request rate per provider host for the whole process (a politeness limit below the
    /// providers' own, which are enforced from their headers).
    pub requests_per_second: NonZeroU32,
    /// Requests that may go out at once before [`HttpConfig::requests_per_second`] applies.
    pub burst: NonZeroU32,
    /// When a provider reports fewer requests left than this, the remaining ones are spread
    /// evenly until the quota resets, so the run slows down instead of hitting zero (and other
    /// tools sharing the token keep some quota).
    pub rate_limit_reserve: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            user_agent: concat!("orgsync/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_attempts: 8,
            max_connect_attempts: 2,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            secondary_limit_wait: Duration::from_secs(60),
            max_pages: 5_000,
            max_response_bytes: 32 * 1024 * 1024,
            requests_per_second: NonZeroU32::new(10).expect("10 is not zero"),
            burst: NonZeroU32::new(10).expect("10 is not zero"),
            rate_limit_reserve: 50,
        }
    }
}

//! The resilient HTTP layer every provider request goes through.
//!
//! Providers never build their own HTTP client: they get a [`WorkspaceClient`] from the one
//! process-wide [`HttpClient`] and call [`WorkspaceClient::get_json`],
//! [`WorkspaceClient::get_all`] / [`WorkspaceClient::pages`], [`WorkspaceClient::post_json`] or,
//! for adapters such as the `gitlab` crate's `AsyncClient`, the raw [`WorkspaceClient::send`].
//! Behind those calls the layer does what the providers' rate limits and the run's
//! all-or-nothing rule need:
//!
//! * **pacing**: one `governor` limiter per provider host, shared by the whole process, plus a
//!   "pause until" per host and credential fed by `x-ratelimit-*` (GitHub), `RateLimit-*`
//!   (GitLab), `Retry-After` (anyone) and bare 429s (Bitbucket); below a configurable reserve of
//!   quota the remaining requests are spread until the reset instead of running into zero;
//! * **retries**: connection errors, timeouts, 5xx, 429 and GitHub's rate-limit 403s, with
//!   exponential backoff and jitter (`backon`), an attempt cap and the run's deadline; a wait that
//!   would end after the deadline fails at once with
//!   [`ProviderError::RateLimited`](crate::ProviderError::RateLimited);
//! * **conditional requests**: ETag / Last-Modified remembered through
//!   [`HttpCache`](crate::cache::HttpCache) under a key derived from hashes of the URL and the
//!   credential, so a `304` is served from the cache and counted apart;
//! * **pagination** for GitHub (`Link`), GitLab (`Link` / `x-next-page`, no `x-total` needed) and
//!   Bitbucket (the `{values, next}` envelope), capped in pages and bytes so a hostile server can
//!   neither loop forever nor exhaust memory; a bad page fails the fetch, it never shortens a list;
//! * **observability**: a `tracing` span per request and an [`HttpObserver`] callback per finished
//!   request and per rate-limit reading, for the metrics;
//! * **secrecy**: tokens live in [`secrecy::SecretString`], headers carrying them are marked
//!   sensitive, `Debug` output and error messages name the credential by its reference
//!   (`token_env = GITHUB_TOKEN`), never by value.
//!
//! What it is not for: webhooks (they come in through the daemon's server) and the directory.
//!
//! ```no_run
//! # use orgsync_core::http::*;
//! # use orgsync_core::ProviderKind;
//! # use std::sync::Arc;
//! # #[derive(serde::Deserialize)] struct Member { id: u64 }
//! # #[derive(serde::Deserialize)] struct Org { id: u64 }
//! # async fn demo(token: secrecy::SecretString) -> Result<(), orgsync_core::ProviderError> {
//! let http = HttpClient::new(HttpConfig::default())?;
//! let credential = Arc::new(BearerToken::new("token_env = GITHUB_TOKEN", token));
//! let gh = http.workspace(ProviderKind::Github, "acme", "https://api.github.com", credential)?;
//! let org: Org = gh.get_json(&Route::new("/orgs/{org}", "/orgs/acme")).await?;
//! let members: Vec<Member> = gh
//!     .get_all(&Route::new("/orgs/{org}/members", "/orgs/acme/members").query("per_page", 100))
//!     .await?;
//! let counts = gh.request_counts(); // for Snapshot::requests
//! # let _ = (org, members, counts); Ok(()) }
//! ```

mod client;
mod conditional;
mod config;
mod credential;
mod observer;
mod pacing;
mod pagination;
mod redact;
mod retry;
#[cfg(test)]
mod tests;

pub use client::{HttpClient, Route, WorkspaceClient};
pub use conditional::cache_key;
pub use config::HttpConfig;
pub use credential::{
    AuthHeader, BasicAuth, BearerToken, Credential, CredentialError, GitlabPrivateToken,
    MAX_SECRET_FILE_BYTES, SecretFileAccess, read_secret_file,
};
pub use observer::{HttpObserver, NoopObserver, RateLimitEvent, RequestEvent};
pub use pacing::{
    MAX_PROVIDER_WAIT, ReplayOutcome, ReplayQuota, ReplayRequest, RollingLimit, instant_after,
    replay,
};
pub use pagination::{Pager, Paging, parse_link_next};
pub use redact::redact;

/// Re-exported so callers can hand a run's cancellation to [`WorkspaceClient::with_cancellation`]
/// without depending on `tokio-util` themselves.
pub use tokio_util::sync::CancellationToken;

/// The host of an `http(s)://` URL as workspaces and identities store it: lower case, a port
/// left out, an IPv6 address without its brackets (`https://[::1]:8443/api` → `::1`). The one
/// host parser of the project (the `url` crate's, which reqwest uses). `None` when the text is
/// not a URL; `Some("")` when it has no host (`https://`, `https:///api/v3`).
pub fn host_of(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = url.split_once("://")?.1;
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Some(String::new());
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned(),
    )
}

#[cfg(test)]
mod host_tests {
    use super::host_of;

    #[test]
    fn hosts_without_port_path_or_brackets() {
        assert_eq!(
            host_of("https://api.github.com").as_deref(),
            Some("api.github.com")
        );
        assert_eq!(
            host_of("https://GHE.Example.com:8443/api/v3").as_deref(),
            Some("ghe.example.com")
        );
        assert_eq!(
            host_of("http://127.0.0.1:8080/x").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of("http://[::1]:9464/").as_deref(), Some("::1"));
        assert_eq!(
            host_of("https://[2001:db8::1]/api").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            host_of("https://user:pw@host.example/").as_deref(),
            Some("host.example")
        );
        assert_eq!(host_of("https://").as_deref(), Some(""));
        assert_eq!(host_of("https:///api/v3").as_deref(), Some(""));
        assert_eq!(host_of("github.com"), None);
    }
}

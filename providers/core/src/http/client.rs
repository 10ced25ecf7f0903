//! The shared client and the per-workspace client providers call.

use super::conditional::{add_validators, cache_key, replayed_headers, to_cached, to_kept};
use super::config::HttpConfig;
use super::credential::Credential;
use super::observer::{HttpObserver, NoopObserver, RateLimitEvent, RequestEvent};
use super::pacing::{
    QuotaState, RollingBudget, RollingLimit, host_limiter, instant_after, parse_rate_limit,
    quota_state, rolling_budget,
};
use super::pagination::{Pager, Paging};
use super::redact::redact;
use super::retry::{Verdict, classify};
use crate::cache::{CachedResponse, HttpCache, NoCache};
use crate::pages::PageSession;
use crate::policy::FetchPolicy;
use crate::provider::ProviderError;
use crate::snapshot::{ProviderKind, RequestCounts};
use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use governor::DefaultDirectRateLimiter;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use reqwest::Url;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Most redirects followed; only redirects to the same scheme, host and port are followed at
/// all, so a token (including GitLab's `PRIVATE-TOKEN`, which reqwest would not strip) never
/// goes to another host.
const MAX_REDIRECTS: usize = 5;

/// The one HTTP client of the process: a `reqwest` client (rustls with aws-lc-rs, HTTP/2) and
/// the [`HttpConfig`]. Cheap to clone; make one at start-up and hand out
/// [`WorkspaceClient`]s from it.
#[derive(Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    config: Arc<HttpConfig>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().map_or_else(
        |_| host.eq_ignore_ascii_case("localhost"),
        |ip| ip.is_loopback(),
    )
}

/// Whole seconds, rounded up.
fn seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A transport error with its causes ("connection refused", "timed out"), without the URL.
fn describe_transport(error: reqwest::Error) -> AttemptFailure {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    AttemptFailure::Transport {
        detail: text,
        connect: error.is_connect(),
    }
}

impl HttpClient {
    /// Builds the shared client. Fails only if the TLS stack cannot be set up.
    pub fn new(config: HttpConfig) -> Result<Self, ProviderError> {
        let redirect = reqwest::redirect::Policy::custom(|attempt| {
            let previous = attempt.previous();
            let stays_home = previous
                .first()
                .is_some_and(|first| same_origin(first, attempt.url()));
            if previous.len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if stays_home {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .redirect(redirect)
            .build()
            .map_err(|e| ProviderError::Other(format!("could not set up the HTTPS client: {e}")))?;
        Ok(Self {
            http,
            config: Arc::new(config),
        })
    }

    /// The pacing, retry and size settings every workspace client inherits.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// A client for one workspace. `base_url` is the API root that route paths are appended to
    /// (`https://api.github.com`, `https://gitlab.example.com/api/v4`,
    /// `https://api.bitbucket.org/2.0`); plain `http://` is refused unless it points at a
    /// loopback address, so a token never crosses a network in clear.
    ///
    /// The client starts with no cache, no observer, no deadline and its own cancellation
    /// token; set them with the `with_*` methods.
    pub fn workspace(
        &self,
        provider: ProviderKind,
        workspace: impl Into<String>,
        base_url: &str,
        credential: Arc<dyn Credential>,
    ) -> Result<WorkspaceClient, ProviderError> {
        let workspace: String = workspace.into();
        let base_text = base_url.trim_end_matches('/').to_owned();
        let base = Url::parse(&base_text).map_err(|e| {
            ProviderError::Other(format!(
                "workspace {workspace}: api_url {base_url:?} is not a valid URL ({e})"
            ))
        })?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) => {}
            _ => {
                return Err(ProviderError::Other(format!(
                    "workspace {workspace}: api_url {base_url:?} must use https (plain http is \
                     accepted only for loopback addresses, so the token never crosses a network \
                     in clear)"
                )));
            }
        }
        let authority = format!(
            "{}:{}",
            base.host_str().unwrap_or_default(),
            base.port_or_known_default().unwrap_or_default()
        );
        let limiter = host_limiter(
            &authority,
            self.config.requests_per_second,
            self.config.burst,
        );
        let quota = quota_state(&authority, credential.scope_fingerprint());
        Ok(WorkspaceClient {
            http: self.http.clone(),
            config: self.config.clone(),
            provider,
            workspace: workspace.into(),
            base,
            base_text,
            authority: authority.into(),
            credential,
            cache: Arc::new(NoCache),
            observer: Arc::new(NoopObserver),
            limiter,
            quota,
            counts: Arc::new(Counters::default()),
            deadline: None,
            cancel: CancellationToken::new(),
            pages: None,
            rolling: None,
        })
    }
}

/// One request to make: a route template for logs and metrics, the concrete path and query,
/// and optional extra headers.
#[derive(Debug, Clone)]
pub struct Route {
    template: &'static str,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    items_field: Option<&'static str>,
}

impl Route {
    /// `template` names the route with placeholders (`/orgs/{org}/members`); it is what logs
    /// and metrics show, so it must not contain logins or other data. `path` is the concrete path,
    /// appended to the workspace's base URL; its segments must already be percent-encoded
    /// (GitLab's `group%2Fsub`). An absolute URL on the same host as the base URL is accepted too
    /// (the `url` fields providers return).
    pub fn new(template: &'static str, path: impl Into<String>) -> Self {
        Self {
            template,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            items_field: None,
        }
    }

    /// Adds a query parameter (encoded by the layer).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "numbers and strings alike, by value, as callers write them"
    )]
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds or replaces a request header, such as GitHub's
    /// `Accept: application/vnd.github.v3.repository+json`.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// For [`Paging::Link`] lists wrapped in an object (`GET /installation/repositories` answers
    /// `{total_count, repositories: [...]}`): the field that holds each page's items.
    pub fn items_field(mut self, field: &'static str) -> Self {
        self.items_field = Some(field);
        self
    }

    /// The route template (`/orgs/{org}/members`), as reported to observers and in errors.
    pub fn template(&self) -> &'static str {
        self.template
    }

    pub(crate) fn items_field_name(&self) -> Option<&'static str> {
        self.items_field
    }
}

#[derive(Debug, Default)]
struct Counters {
    total: AtomicU64,
    not_modified: AtomicU64,
}

/// An answer, fresh or replayed from the cache.
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The cache key of a `304` answer replayed from the cache.
    replayed: Option<String>,
    /// A fresh `200` with validators, and its cache key: stored only once the caller has parsed
    /// and accepted the body ([`WorkspaceClient::keep`]), so a body that does not parse never
    /// enters the cache.
    pending: Option<(String, CachedResponse)>,
}

/// Whether a request may use the cached answer (send `If-None-Match`) or must ask afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheUse {
    Conditional,
    Fresh,
}

/// Why one attempt got no usable answer.
enum AttemptFailure {
    /// Connection error, timeout, broken body: worth another attempt. `connect`: no connection
    /// could be opened (refused, unknown host, connect timeout), retried only
    /// [`HttpConfig::max_connect_attempts`] times.
    Transport { detail: String, connect: bool },
    /// The body is larger than allowed: final.
    TooLarge(usize),
}

/// The client one workspace's fetch uses: provider, workspace name, base URL, credential,
/// cache, observer, deadline and cancellation, over the shared [`HttpClient`].
///
/// Clones share everything, including the request counters, so a provider may clone it into
/// concurrent tasks and still read one total at the end.
#[derive(Clone)]
pub struct WorkspaceClient {
    http: reqwest::Client,
    config: Arc<HttpConfig>,
    provider: ProviderKind,
    workspace: Arc<str>,
    base: Url,
    base_text: String,
    authority: Arc<str>,
    credential: Arc<dyn Credential>,
    cache: Arc<dyn HttpCache>,
    observer: Arc<dyn HttpObserver>,
    limiter: Arc<DefaultDirectRateLimiter>,
    quota: Arc<QuotaState>,
    counts: Arc<Counters>,
    deadline: Option<Instant>,
    cancel: CancellationToken,
    /// An unfinished fetch's kept pages ([`FetchPolicy::pages`]).
    pages: Option<Arc<PageSession>>,
    /// The credential's rolling allowance, for providers that count one and do not report
    /// what is left ([`WorkspaceClient::with_rolling_limit`]).
    rolling: Option<Arc<RollingBudget>>,
}

impl fmt::Debug for WorkspaceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkspaceClient")
            .field("provider", &self.provider)
            .field("workspace", &self.workspace)
            .field("base_url", &self.base_text)
            .field("credential", &self.credential.reference())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl WorkspaceClient {
    /// Remembers ETag / Last-Modified answers in `cache` (the directory's `http_cache` table).
    pub fn with_cache(mut self, cache: Arc<dyn HttpCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Reports every finished request and rate-limit reading to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn HttpObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// The run's deadline: no attempt starts after it, and a wait that would end after it fails
    /// at once (rate limits with [`ProviderError::RateLimited`]).
    ///
    /// Takes a `std::time::Instant` (as [`FetchPolicy::deadline`] holds it) or a Tokio one.
    pub fn with_deadline(mut self, deadline: impl Into<Instant>) -> Self {
        self.deadline = Some(deadline.into());
        self
    }

    /// The client for one fetch: the policy's deadline and cancellation applied and the request
    /// counters at zero, so [`WorkspaceClient::request_counts`] at the end is this fetch's.
    pub fn for_fetch(&self, policy: &FetchPolicy) -> Self {
        let mut client = self.with_fresh_counts();
        client.deadline = policy.deadline.map(Instant::from_std);
        if let Some(cancel) = &policy.cancel {
            client.cancel = cancel.clone();
        }
        client.pages.clone_from(&policy.pages);
        client
    }

    /// Paces requests on the credential's rolling allowance, `limit` requests in any window,
    /// counted by the client itself: Bitbucket counts a rolling hour and sends no remaining
    /// count. Scaled allowances (`X-RateLimit-Limit` on `/2.0/repositories/*` for access
    /// tokens) are read from the responses. A wait for the window that would end after the
    /// run's deadline fails the request with [`ProviderError::RateLimited`]. Shared by every
    /// client of the same credential on the same host; the first caller's limit wins.
    pub fn with_rolling_limit(mut self, limit: RollingLimit) -> Self {
        self.rolling = Some(rolling_budget(
            &self.authority,
            self.credential.scope_fingerprint(),
            limit,
        ));
        self
    }

    /// Cancelling `token` (SIGTERM, a reload) ends waits and in-flight requests with
    /// [`ProviderError::Cancelled`].
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The same client with another credential, sharing counters, observer, deadline and
    /// cancellation: for the GitHub App token exchange, which authenticates with the App's JWT.
    pub fn with_credential(&self, credential: Arc<dyn Credential>) -> Self {
        let mut copy = self.clone();
        copy.quota = quota_state(&self.authority, credential.scope_fingerprint());
        copy.credential = credential;
        copy
    }

    /// The same client for requests that spend another of the provider's rate-limit budgets
    /// (GitHub's GraphQL points, resource `graphql`, apart from the REST `core` budget): its
    /// pacing reads and waits on that budget alone, so neither budget's headers hold the other's
    /// requests. Counters, cache, observer, deadline and cancellation are shared.
    pub fn with_rate_resource(&self, resource: &str) -> Self {
        let mut copy = self.clone();
        copy.quota = quota_state(
            &self.authority,
            &format!(
                "{} resource={resource}",
                self.credential.scope_fingerprint()
            ),
        );
        copy
    }

    /// The list at `route` as the conditional-request cache holds it from an earlier read,
    /// without a request: every page must be cached (following the cached `Link` headers),
    /// else `None`. For a cost model that wants to know what an earlier run saw.
    pub async fn cached_all<T: DeserializeOwned>(&self, route: &Route) -> Option<Vec<T>> {
        let mut url = self.url_for(route).ok()?;
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            if !seen.insert(url.to_string()) || seen.len() > 10_000 {
                return None;
            }
            let key = cache_key(url.as_str(), self.credential.scope_fingerprint());
            let entry = self.cache.load(&key).await?;
            let page: Vec<T> = serde_json::from_slice(&entry.body).ok()?;
            items.extend(page);
            let headers = replayed_headers(&entry);
            let next = headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(super::pagination::parse_link_next)
                .map(str::to_owned);
            match next {
                Some(next) => url = self.resolve_link(route.template, &url, &next).ok()?,
                None => return Some(items),
            }
        }
    }

    /// The same client with its request counters at zero, for a daemon that keeps one client
    /// per workspace and wants each fetch's own [`WorkspaceClient::request_counts`].
    pub fn with_fresh_counts(&self) -> Self {
        let mut copy = self.clone();
        copy.counts = Arc::new(Counters::default());
        copy
    }

    /// The provider this client talks to.
    pub fn provider(&self) -> ProviderKind {
        self.provider
    }

    /// The workspace this client serves (its pacing and metrics key).
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The API root requests are resolved against.
    pub fn base_url(&self) -> &str {
        &self.base_text
    }

    /// The credential's human reference, for the provider's own messages.
    pub fn credential_reference(&self) -> &str {
        self.credential.reference()
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Requests made through this client and its clones so far: every attempt sent, and the
    /// `304`s served from the cache. Read at the end of a fetch for `Snapshot::requests`.
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts {
            total: self.counts.total.load(Ordering::Relaxed),
            not_modified: self.counts.not_modified.load(Ordering::Relaxed),
        }
    }

    /// GETs one JSON document.
    pub async fn get_json<T: DeserializeOwned>(&self, route: &Route) -> Result<T, ProviderError> {
        let url = self.url_for(route)?;
        self.get_accepted(route, url, |fetched| {
            if fetched.status.is_success() {
                self.parse_json(route, &fetched.body)
            } else {
                Err(self.status_error(route.template, fetched))
            }
        })
        .await
    }

    /// GETs a route that answers 2xx for "yes" and 404 for "no" (GitHub's
    /// `GET /orgs/{org}/members/{username}`, team-repository checks).
    pub async fn exists(&self, route: &Route) -> Result<bool, ProviderError> {
        let url = self.url_for(route)?;
        self.get_accepted(route, url, |fetched| match fetched.status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(route.template, fetched)),
        })
        .await
    }

    /// POSTs `body` as JSON and reads a JSON answer (GitHub App token exchange, GraphQL). Never
    /// cached. Transient failures are retried like GETs, so use it only for requests that are
    /// safe to repeat: the reads and token exchanges orgsync makes.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        route: &Route,
        body: &B,
    ) -> Result<T, ProviderError> {
        let url = self.url_for(route)?;
        let payload = serde_json::to_vec(body).map_err(|e| {
            ProviderError::Other(format!(
                "could not encode the body for {}: {e}",
                route.template
            ))
        })?;
        let mut headers = self.headers_for(route);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let fetched = self
            .execute(
                route.template,
                Method::POST,
                url,
                &headers,
                Some(Bytes::from(payload)),
                CacheUse::Fresh,
            )
            .await?;
        if !fetched.status.is_success() {
            return Err(self.status_error(route.template, &fetched));
        }
        self.parse_json(route, &fetched.body)
    }

    /// Every item of a paginated list, using the provider's scheme ([`Paging::for_provider`]).
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        route: &Route,
    ) -> Result<Vec<T>, ProviderError> {
        self.pages(route)?.collect_all().await
    }

    /// A [`Pager`] over the list at `route`, using the provider's scheme.
    pub fn pages<T: DeserializeOwned>(&self, route: &Route) -> Result<Pager<'_, T>, ProviderError> {
        self.pages_with(route, Paging::for_provider(self.provider))
    }

    /// A [`Pager`] with an explicit scheme (GitLab keyset lists, GitHub lists elsewhere).
    pub fn pages_with<T: DeserializeOwned>(
        &self,
        route: &Route,
        paging: Paging,
    ) -> Result<Pager<'_, T>, ProviderError> {
        let first = self.url_for(route)?;
        Ok(Pager::new(self, route.clone(), paging, first))
    }

    /// The raw entry point, for adapters such as the `gitlab` crate's `AsyncClient`: the request
    /// goes through pacing, retries, the cache (GETs) and the counters, and the final answer comes
    /// back whatever its status, so the adapter can interpret 404s and 4xx bodies itself. A `304`
    /// served from the cache comes back as `200` with the cached body and pagination headers.
    ///
    /// The adapter parses the body itself, so here a `200` enters the cache only when its body
    /// is well-formed JSON, and a cached body that is not (stored by an older version) is evicted
    /// and the request made again without `If-None-Match`.
    ///
    /// The request's URI must be absolute (the adapter builds it from
    /// [`WorkspaceClient::base_url`]). Errors: a `401` ([`ProviderError::Unauthorized`], naming the credential), retries
    /// exhausted, a rate-limit wait past the deadline, cancellation, a body over the size cap, and
    /// a URL on another host than the workspace's base URL (the token must not go there).
    pub async fn send(
        &self,
        route_template: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Bytes>, ProviderError> {
        let (parts, body) = request.into_parts();
        let url = self.resolve_link(route_template, &self.base, &parts.uri.to_string())?;
        let mut headers = self.default_headers();
        for (name, value) in &parts.headers {
            headers.insert(name.clone(), value.clone());
        }
        let body = (!body.is_empty()).then(|| Bytes::from(body));
        let well_formed = |fetched: &Fetched| {
            !fetched.status.is_success()
                || serde_json::from_slice::<serde::de::IgnoredAny>(&fetched.body).is_ok()
        };
        let mut fetched = self
            .execute(
                route_template,
                parts.method.clone(),
                url.clone(),
                &headers,
                body.clone(),
                CacheUse::Conditional,
            )
            .await?;
        if !well_formed(&fetched)
            && let Some(key) = fetched.replayed.clone()
        {
            self.evict(route_template, &key, "the answer is not JSON")
                .await;
            fetched = self
                .execute(
                    route_template,
                    parts.method,
                    url,
                    &headers,
                    body,
                    CacheUse::Fresh,
                )
                .await?;
        }
        if well_formed(&fetched) {
            self.keep(&fetched).await;
        }
        if fetched.status == StatusCode::UNAUTHORIZED {
            return Err(self.status_error(route_template, &fetched));
        }
        let mut response = http::Response::new(fetched.body);
        *response.status_mut() = fetched.status;
        *response.headers_mut() = fetched.headers;
        Ok(response)
    }

    /// GET `url` and hand the answer to `accept` (which parses it, or maps a refusal onto an
    /// error). The answer enters the conditional-request cache only once `accept` took it; a
    /// cached answer that `accept` refuses (a body that no longer parses) is evicted and the
    /// request made again without `If-None-Match`, so a bad body can never be replayed run
    /// after run.
    pub(crate) async fn get_accepted<T>(
        &self,
        route: &Route,
        url: Url,
        accept: impl Fn(&Fetched) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let headers = self.headers_for(route);
        let page_key = self
            .pages
            .as_ref()
            .map(|_| cache_key(url.as_str(), self.credential.scope_fingerprint()));
        if let (Some(pages), Some(key)) = (&self.pages, &page_key)
            && let Some(kept) = pages.take(key).await
        {
            let fetched = Fetched {
                status: StatusCode::OK,
                headers: replayed_headers(&kept),
                body: Bytes::from(kept.body),
                replayed: None,
                pending: None,
            };
            match accept(&fetched) {
                Ok(value) => return Ok(value),
                Err(error) => tracing::warn!(
                    provider = %self.provider,
                    workspace = %self.workspace,
                    route = route.template,
                    reason = %redact(&self.credential.mask(&error.to_string())),
                    "a kept page cannot be used; reading it again"
                ),
            }
        }
        let fetched = self
            .execute(
                route.template,
                Method::GET,
                url.clone(),
                &headers,
                None,
                CacheUse::Conditional,
            )
            .await?;
        let error = match accept(&fetched) {
            Ok(value) => {
                self.keep(&fetched).await;
                self.keep_page(page_key.as_deref(), &fetched).await;
                return Ok(value);
            }
            Err(error) => error,
        };
        let Some(key) = &fetched.replayed else {
            return Err(error);
        };
        self.evict(route.template, key, &error.to_string()).await;
        let fresh = self
            .execute(
                route.template,
                Method::GET,
                url,
                &headers,
                None,
                CacheUse::Fresh,
            )
            .await?;
        let value = accept(&fresh)?;
        self.keep(&fresh).await;
        self.keep_page(page_key.as_deref(), &fresh).await;
        Ok(value)
    }

    /// Keeps an accepted answer for an unfinished fetch ([`FetchPolicy::pages`]).
    async fn keep_page(&self, key: Option<&str>, fetched: &Fetched) {
        if let (Some(pages), Some(key)) = (&self.pages, key)
            && fetched.status == StatusCode::OK
        {
            pages
                .keep(key, to_kept(&fetched.headers, &fetched.body))
                .await;
        }
    }

    /// Stores an accepted fresh answer in the conditional-request cache.
    async fn keep(&self, fetched: &Fetched) {
        if let Some((key, entry)) = &fetched.pending {
            self.cache.store(key, entry).await;
        }
    }

    /// Drops a cached answer that no longer parses.
    async fn evict(&self, template: &str, key: &str, why: &str) {
        tracing::warn!(
            provider = %self.provider,
            workspace = %self.workspace,
            route = template,
            reason = %redact(&self.credential.mask(why)),
            "the cached answer cannot be used; evicting it and asking again without If-None-Match"
        );
        self.cache.remove(key).await;
    }

    /// Resolves a link a server sent (possibly relative to `current`) and refuses any that leaves
    /// the workspace's scheme, host and port.
    pub(crate) fn resolve_link(
        &self,
        template: &'static str,
        current: &Url,
        link: &str,
    ) -> Result<Url, ProviderError> {
        let url = current
            .join(link)
            .map_err(|e| self.malformed(template, &format!("bad link: {e}")))?;
        if same_origin(&url, &self.base) {
            Ok(url)
        } else {
            Err(self.malformed(
                template,
                &format!(
                    "a link points to another host ({}); refusing to send the credential there",
                    url.host_str().unwrap_or("?")
                ),
            ))
        }
    }

    fn url_for(&self, route: &Route) -> Result<Url, ProviderError> {
        let mut url = if route.path.starts_with("https://") || route.path.starts_with("http://") {
            self.resolve_link(route.template, &self.base, &route.path)?
        } else {
            let separator = if route.path.starts_with('/') { "" } else { "/" };
            Url::parse(&format!("{}{separator}{}", self.base_text, route.path)).map_err(|e| {
                ProviderError::Other(format!(
                    "could not build the URL for {} on {}: {e}",
                    route.template, self.base_text
                ))
            })?
        };
        if !route.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&route.query);
        }
        Ok(url)
    }

    fn default_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self.provider {
            ProviderKind::Github => {
                headers.insert(
                    ACCEPT,
                    HeaderValue::from_static("application/vnd.github+json"),
                );
                headers.insert(
                    HeaderName::from_static("x-github-api-version"),
                    HeaderValue::from_static("2022-11-28"),
                );
            }
            ProviderKind::Gitlab | ProviderKind::Bitbucket => {
                headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            }
        }
        headers
    }

    fn headers_for(&self, route: &Route) -> HeaderMap {
        let mut headers = self.default_headers();
        for (name, value) in &route.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }

    fn parse_json<T: DeserializeOwned>(
        &self,
        route: &Route,
        body: &[u8],
    ) -> Result<T, ProviderError> {
        serde_json::from_slice(body).map_err(|e| {
            self.malformed(
                route.template,
                &format!("the answer is not the expected JSON: {e}"),
            )
        })
    }

    fn malformed(&self, template: &str, detail: &str) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider,
            route: template.to_owned(),
            detail: redact(&self.credential.mask(detail)),
        }
    }

    fn cancelled(&self) -> ProviderError {
        let reason = if self.cancel.is_cancelled() {
            "the run was cancelled"
        } else {
            "the run's deadline passed"
        };
        ProviderError::Cancelled {
            provider: self.provider,
            reason: reason.to_owned(),
        }
    }

    /// Whether a wait of `wait` from now would end after the deadline. Saturating: a wait too
    /// long for the clock is past any deadline.
    fn past_deadline(&self, wait: Duration) -> bool {
        self.deadline.is_some_and(|deadline| {
            Instant::now()
                .checked_add(wait)
                .is_none_or(|end| end > deadline)
        })
    }

    /// Sleeps for `wait` unless the run is cancelled first.
    async fn sleep(&self, wait: Duration) -> Result<(), ProviderError> {
        if wait.is_zero() {
            return Ok(());
        }
        tokio::select! {
            () = self.cancel.cancelled() => Err(self.cancelled()),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    fn rate_limited(&self, template: &str, wait: Duration) -> ProviderError {
        ProviderError::RateLimited {
            provider: self.provider,
            route: template.to_owned(),
            wait_seconds: seconds_up(wait),
            why: "after this run's deadline".to_owned(),
        }
    }

    /// A short, redacted description of an error answer: the provider's `message` (GitHub,
    /// GitLab) or `error.message` (Bitbucket), else the start of the body.
    fn detail_of(&self, body: &[u8]) -> String {
        let from_json = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let message = v.get("message").or_else(|| v.get("error"))?;
                match message {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Object(o) => {
                        o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
                    }
                    other => Some(other.to_string()),
                }
            });
        let text = from_json
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
        let text: String = text.trim().chars().take(300).collect();
        if text.is_empty() {
            "no details given".to_owned()
        } else {
            redact(&self.credential.mask(&text))
        }
    }

    /// Maps a final unsuccessful answer onto [`ProviderError`], naming the credential by its
    /// reference.
    pub(crate) fn status_error(&self, template: &str, fetched: &Fetched) -> ProviderError {
        let detail = self.detail_of(&fetched.body);
        let credential = self.credential.reference().to_owned();
        match fetched.status {
            StatusCode::UNAUTHORIZED => ProviderError::Unauthorized {
                provider: self.provider,
                credential,
                detail,
            },
            StatusCode::FORBIDDEN => {
                let needed = fetched
                    .headers
                    .get("x-accepted-oauth-scopes")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.trim().is_empty())
                    .map_or_else(
                        || {
                            "read access to this route (check its scopes or the App's permissions)"
                                .to_owned()
                        },
                        |scopes| format!("one of the scopes {scopes}"),
                    );
                ProviderError::Forbidden {
                    provider: self.provider,
                    credential,
                    route: template.to_owned(),
                    detail,
                    needed,
                }
            }
            StatusCode::NOT_FOUND => ProviderError::NotFound {
                provider: self.provider,
                what: "such resource".to_owned(),
                route: template.to_owned(),
            },
            status => ProviderError::Status {
                provider: self.provider,
                route: template.to_owned(),
                status: status.as_u16(),
                detail,
            },
        }
    }

    fn report(
        &self,
        span: &tracing::Span,
        template: &str,
        status: Option<StatusCode>,
        from_cache: bool,
        duration: Duration,
        attempt: u32,
    ) {
        let code = status.map(|s| s.as_u16());
        if let Some(code) = code {
            span.record("status", code);
        }
        span.record("from_cache", from_cache);
        span.record("duration_ms", millis(duration));
        tracing::debug!(parent: span, "request finished");
        self.observer.request_finished(&RequestEvent {
            provider: self.provider,
            workspace: &self.workspace,
            route: template,
            status: code,
            from_cache,
            duration,
            attempt,
        });
    }

    fn max_attempts(&self) -> u32 {
        self.config.max_attempts.max(1)
    }

    /// Waits for this credential's quota (a pause, or a slot when below the reserve), then for
    /// the host's limiter. A quota wait that would end after the deadline fails at once.
    async fn pace(&self, template: &str) -> Result<(), ProviderError> {
        let now = Instant::now();
        let mut wait = self.quota.claim(now, self.config.rate_limit_reserve);
        if let Some(rolling) = &self.rolling {
            wait = wait.max(rolling.claim(template, now, self.config.rate_limit_reserve));
        }
        if self.past_deadline(wait) {
            if let Some(rolling) = &self.rolling {
                rolling.unclaim(template);
            }
            return Err(self.rate_limited(template, wait));
        }
        if !wait.is_zero() {
            tracing::info!(
                provider = %self.provider,
                workspace = %self.workspace,
                route = template,
                wait_ms = millis(wait),
                "pacing requests to stay within the provider's rate limit"
            );
        }
        self.sleep(wait).await?;
        tokio::select! {
            () = self.cancel.cancelled() => Err(self.cancelled()),
            () = self.limiter.until_ready() => Ok(()),
        }
    }

    /// After a transient failure: sleeps `delay`, or fails with
    /// [`ProviderError::Unavailable`] when the attempts are used up or the next attempt would
    /// start after the deadline.
    async fn wait_to_retry(
        &self,
        span: &tracing::Span,
        template: &str,
        attempt: u32,
        delay: Duration,
        detail: String,
    ) -> Result<(), ProviderError> {
        let unavailable = |detail: String| ProviderError::Unavailable {
            provider: self.provider,
            route: template.to_owned(),
            attempts: attempt,
            detail,
        };
        if attempt >= self.max_attempts() {
            return Err(unavailable(detail));
        }
        if self.past_deadline(delay) {
            return Err(unavailable(format!(
                "{detail}; the next attempt would start after the run's deadline"
            )));
        }
        tracing::warn!(parent: span, error = %detail, retry_in_ms = millis(delay), "request failed; retrying");
        self.sleep(delay).await
    }

    /// The resilient path every request takes: pacing, authentication, conditional headers,
    /// one attempt, classification, and waiting before the next attempt.
    async fn execute(
        &self,
        template: &'static str,
        method: Method,
        url: Url,
        headers: &HeaderMap,
        body: Option<Bytes>,
        cache_use: CacheUse,
    ) -> Result<Fetched, ProviderError> {
        let cache_key = (method == Method::GET && body.is_none())
            .then(|| cache_key(url.as_str(), self.credential.scope_fingerprint()));
        let mut cached: Option<CachedResponse> = match (&cache_key, cache_use) {
            (Some(key), CacheUse::Conditional) => self.cache.load(key).await,
            _ => None,
        };
        let mut backoff = ExponentialBuilder::new()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_jitter()
            .without_max_times()
            .build();
        let max_attempts = self.max_attempts();
        let mut refreshed = false;
        let mut attempt: u32 = 0;
        let mut connect_failures: u32 = 0;
        loop {
            attempt += 1;
            if self.cancel.is_cancelled() || self.past_deadline(Duration::ZERO) {
                return Err(self.cancelled());
            }

            self.pace(template).await?;

            let auth =
                self.credential
                    .authorize()
                    .await
                    .map_err(|e| ProviderError::Unauthorized {
                        provider: self.provider,
                        credential: self.credential.reference().to_owned(),
                        detail: redact(&e.message),
                    })?;
            let mut request_headers = headers.clone();
            request_headers.insert(auth.name().clone(), auth.value().clone());
            if let Some(entry) = &cached {
                add_validators(&mut request_headers, entry);
            }
            let timeout = match self.deadline {
                Some(deadline) => self
                    .config
                    .request_timeout
                    .min(deadline.saturating_duration_since(Instant::now())),
                None => self.config.request_timeout,
            };

            let span = tracing::debug_span!(
                "http_request",
                provider = %self.provider,
                workspace = %self.workspace,
                route = template,
                method = %method,
                attempt,
                status = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
                from_cache = tracing::field::Empty,
            );
            self.counts.total.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = tokio::select! {
                () = self.cancel.cancelled() => return Err(self.cancelled()),
                outcome = self
                    .attempt(method.clone(), url.clone(), request_headers, body.clone(), timeout)
                    .instrument(span.clone()) => outcome,
            };
            let duration = started.elapsed();

            let (status, response_headers, response_body) = match outcome {
                Ok(answer) => answer,
                Err(AttemptFailure::TooLarge(limit)) => {
                    self.report(&span, template, None, false, duration, attempt);
                    return Err(self.malformed(
                        template,
                        &format!("the answer is larger than the {limit}-byte limit"),
                    ));
                }
                Err(AttemptFailure::Transport { detail, connect }) => {
                    self.report(&span, template, None, false, duration, attempt);
                    let detail = redact(&self.credential.mask(&detail));
                    if connect {
                        connect_failures += 1;
                        if connect_failures >= self.config.max_connect_attempts.max(1) {
                            return Err(ProviderError::Unavailable {
                                provider: self.provider,
                                route: template.to_owned(),
                                attempts: attempt,
                                detail: format!(
                                    "{detail}; no connection could be opened ({connect_failures} time(s)), not retried further"
                                ),
                            });
                        }
                    }
                    let delay = backoff.next().unwrap_or(self.config.max_backoff);
                    self.wait_to_retry(&span, template, attempt, delay, detail)
                        .await?;
                    continue;
                }
            };

            let info = parse_rate_limit(&response_headers);
            self.quota.observe(Instant::now(), &info);
            if let Some(rolling) = &self.rolling {
                rolling.observe(template, &response_headers);
            }
            if let Some(remaining) = info.remaining {
                self.observer.rate_limit_observed(&RateLimitEvent {
                    provider: self.provider,
                    workspace: &self.workspace,
                    remaining,
                    limit: info.limit,
                    resets_in: info.resets_in,
                });
            }

            if status == StatusCode::NOT_MODIFIED {
                let Some(entry) = cached.take() else {
                    self.report(&span, template, Some(status), false, duration, attempt);
                    return Err(self.malformed(
                        template,
                        "304 Not Modified to a request that was not conditional",
                    ));
                };
                self.counts.not_modified.fetch_add(1, Ordering::Relaxed);
                self.report(&span, template, Some(status), true, duration, attempt);
                return Ok(Fetched {
                    status: StatusCode::OK,
                    headers: replayed_headers(&entry),
                    body: Bytes::from(entry.body),
                    replayed: cache_key,
                    pending: None,
                });
            }
            self.report(&span, template, Some(status), false, duration, attempt);

            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && attempt < max_attempts
                && self.credential.refresh_after_rejection().await
            {
                refreshed = true;
                continue;
            }

            match classify(
                status,
                &info,
                &response_body,
                self.config.secondary_limit_wait,
            ) {
                Verdict::Final => {
                    let pending = match &cache_key {
                        Some(key) if status == StatusCode::OK => {
                            to_cached(&response_headers, &response_body)
                                .map(|entry| (key.clone(), entry))
                        }
                        _ => None,
                    };
                    return Ok(Fetched {
                        status,
                        headers: response_headers,
                        body: response_body,
                        replayed: None,
                        pending,
                    });
                }
                Verdict::Retry {
                    wait,
                    rate_limited,
                    reason,
                } => {
                    let delay =
                        wait.unwrap_or_else(|| backoff.next().unwrap_or(self.config.max_backoff));
                    if rate_limited {
                        if self.past_deadline(delay) {
                            return Err(self.rate_limited(template, delay));
                        }
                        if attempt >= max_attempts {
                            return Err(ProviderError::RateLimited {
                                provider: self.provider,
                                route: template.to_owned(),
                                wait_seconds: seconds_up(delay),
                                why: format!(
                                    "and this request's {max_attempts} attempts are used up"
                                ),
                            });
                        }
                        tracing::warn!(
                            parent: &span,
                            reason = %reason,
                            wait_ms = millis(delay),
                            "rate limited; holding requests on this credential"
                        );
                        // Hold every request on this quota, not only this one; the pacing step
                        // at the top of the loop does the waiting.
                        self.quota.pause_until(instant_after(Instant::now(), delay));
                    } else {
                        let detail = format!("{reason}: {}", self.detail_of(&response_body));
                        self.wait_to_retry(&span, template, attempt, delay, detail)
                            .await?;
                    }
                }
            }
        }
    }

    /// One HTTP exchange, reading at most `max_response_bytes` of body.
    async fn attempt(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(StatusCode, HeaderMap, Bytes), AttemptFailure> {
        let limit = self.config.max_response_bytes;
        let mut request = self
            .http
            .request(method, url)
            .headers(headers)
            .timeout(timeout);
        if let Some(body) = body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(describe_transport)?;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(AttemptFailure::TooLarge(limit));
        }
        let status = response.status();
        let headers = response.headers().clone();
        let mut buffer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe_transport)? {
            if buffer.len() + chunk.len() > limit {
                return Err(AttemptFailure::TooLarge(limit));
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok((status, headers, Bytes::from(buffer)))
    }
}

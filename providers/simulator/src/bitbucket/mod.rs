//! A simulated Bitbucket Cloud REST API (`/2.0`, plus the deprecated `/1.0/groups` route and the
//! OAuth token endpoint), to Bitbucket's documented behaviour (PROVIDERS.md 3, the official
//! swagger and examples in `api/bitbucket/`).
//!
//! * Auth: Basic `email:api_token` (API tokens), Bearer (workspace/project/repository access
//!   tokens and OAuth access tokens), and `POST /site/oauth2/access_token` with the
//!   client-credentials grant (Basic `key:secret`), which issues Bearer tokens that expire after
//!   two hours on the simulated clock. Unknown credentials: `401` with Bitbucket's
//!   `{"type":"error","error":{"message":…}}` body; a missing OAuth scope: `403` naming it.
//! * Budgets: 1,000 requests per hour per credential by default; when spent, a bare
//!   `429 Rate limit for this resource has been exceeded` (text, no `Retry-After`, no rate-limit
//!   headers: Bitbucket sends `X-RateLimit-*` only for access tokens on scaled endpoints). The
//!   window is fixed rather than rolling.
//! * Pagination: the `{pagelen, size, page, next, previous, values}` envelope, `pagelen`
//!   default 10 and at most 100, `next` absent on the last page.
//! * ETags: Bitbucket does not document ETags or conditional requests for these routes. The
//!   simulator sends a weak `ETag` on every `200` and answers a matching `If-None-Match` with
//!   `304`, consistently, but **charges the `304` like any other request**, because nothing in
//!   Bitbucket's documentation says it is free (planning with that assumption is the safe side).
//! * Webhooks: `repo:created` and `repo:deleted` deliveries with `X-Event-Key`,
//!   `X-Request-UUID`, `X-Hook-UUID`, `X-Attempt-Number` and `X-Hub-Signature: sha256=…`.
//!
//! Who sees what is computed in `routes` from the scenario's raw grants, independently of the
//! brute-force [`truth`] that tests compare clients with.

pub mod mutation;
mod routes;
pub mod synthetic;
pub mod truth;

pub use mutation::BitbucketMutation;

use crate::SimError;
use crate::scenario::{BitbucketScenario, BitbucketToken, GroupsApi, Scenario};
use crate::server::{
    BudgetView, Delivery, Flavor, Infra, RouteClass, RunningServer, ServerOptions, SimHandle,
    TokenInfo, TokenKind,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The API token a scenario without credentials gets (every scope).
pub const DEFAULT_TOKEN: &str = "sim-bitbucket-token";
/// The account e-mail that goes with [`DEFAULT_TOKEN`] in Basic auth.
pub const DEFAULT_EMAIL: &str = "admin@example.com";
/// Bitbucket's documented budget: 1,000 requests per hour per credential.
pub const DEFAULT_RATE_LIMIT: u64 = 1000;
/// The body of Bitbucket's 429.
pub const RATE_LIMIT_MESSAGE: &str = "Rate limit for this resource has been exceeded";

/// How Bitbucket spells its errors and headers.
#[derive(Debug, Default)]
pub struct BitbucketFlavor;

/// Bitbucket's OAuth scopes imply the lesser ones of the same family (`repository:admin`
/// includes `repository:write` and `repository`).
fn scope_satisfied(have: &[String], need: &str) -> bool {
    let implied: &[&str] = match need {
        "repository" => &["repository", "repository:write", "repository:admin"],
        "repository:write" => &["repository:write", "repository:admin"],
        "project" => &["project", "project:admin"],
        "account" => &["account", "account:write"],
        "team" => &["team", "team:write"],
        other => return have.iter().any(|s| s == other),
    };
    have.iter().any(|s| implied.contains(&s.as_str()))
}

/// Bitbucket's error envelope.
pub(crate) fn error_json(message: &str) -> serde_json::Value {
    json!({"type": "error", "error": {"message": message}})
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(error_json(message))).into_response()
}

impl Flavor for BitbucketFlavor {
    fn name(&self) -> &'static str {
        "bitbucket"
    }

    fn extract_token(&self, headers: &HeaderMap) -> Option<String> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.trim().to_string());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            return String::from_utf8(raw).ok();
        }
        None
    }

    fn route_class(&self, _method: &Method, template: &str) -> RouteClass {
        let scope = match template {
            "/site/oauth2/access_token" => return RouteClass::SelfAuthenticated,
            "/2.0/workspaces/{workspace}" => None,
            "/2.0/workspaces/{workspace}/members"
            | "/2.0/workspaces/{workspace}/permissions"
            | "/2.0/workspaces/{workspace}/permissions/repositories"
            | "/2.0/user" => Some("account"),
            "/2.0/repositories/{workspace}"
            | "/2.0/repositories/{workspace}/{repo_slug}"
            | "/2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}" => {
                Some("repository")
            }
            "/2.0/repositories/{workspace}/{repo_slug}/permissions-config/users"
            | "/2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups" => {
                Some("repository:admin")
            }
            "/2.0/workspaces/{workspace}/projects" => Some("project"),
            "/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/users"
            | "/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups" => {
                Some("project:admin")
            }
            "/1.0/groups/{workspace}" => Some("team"),
            _ => None,
        };
        RouteClass::Token { scope }
    }

    fn has_scope(&self, have: &[String], need: &str) -> bool {
        scope_satisfied(have, need)
    }

    fn free_not_modified(&self) -> bool {
        false
    }

    fn unauthorized(&self) -> Response {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            "Access denied. The credentials are invalid or have expired.",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Bitbucket.org HTTP\""),
        );
        response
    }

    fn missing_scope(&self, token: &TokenInfo, scope: &str) -> Response {
        let granted = token.scopes.clone().unwrap_or_default();
        (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "type": "error",
                "error": {
                    "message": "Your credentials lack one or more required privilege scopes.",
                    "detail": format!("This API requires the scope {scope}; the credential has {}.", if granted.is_empty() { "none".to_string() } else { granted.join(", ") }),
                    "data": {"required": [scope], "granted": granted}
                }
            })),
        )
            .into_response()
    }

    fn rate_limited(&self, _budget: &BudgetView, _status: StatusCode) -> Response {
        rate_limited_response()
    }

    fn secondary_limited(&self, _retry_after_secs: Option<u64>, _status: StatusCode) -> Response {
        // Bitbucket has one kind of limit and never says how long to wait.
        rate_limited_response()
    }

    fn rate_headers(&self, _budget: &BudgetView, _headers: &mut HeaderMap) {}

    /// Bitbucket counts requests in a rolling hour.
    fn rolling_window(&self) -> bool {
        true
    }

    /// Scaled rate limits apply to the `/2.0/repositories/*` endpoints (for access tokens, which
    /// are the tokens given a scaled limit).
    fn scaled_resource(&self, template: &str) -> Option<&'static str> {
        template.starts_with("/2.0/repositories/").then_some("api")
    }

    /// `X-RateLimit-Limit`, `X-RateLimit-Resource` and `X-RateLimit-NearLimit` (true once less
    /// than a fifth of the hour's allowance is left), on scaled-limit requests only; Bitbucket
    /// sends no remaining count and no reset time.
    fn scaled_headers(&self, resource: &str, budget: &BudgetView, headers: &mut HeaderMap) {
        let near = budget.remaining.saturating_mul(5) < budget.limit;
        for (name, value) in [
            ("x-ratelimit-limit", budget.limit.to_string()),
            ("x-ratelimit-resource", resource.to_string()),
            ("x-ratelimit-nearlimit", near.to_string()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }

    fn error_body(&self, status: StatusCode) -> serde_json::Value {
        error_json(status.canonical_reason().unwrap_or("Error"))
    }

    fn not_found(&self) -> Response {
        error_response(StatusCode::NOT_FOUND, "Resource not found")
    }
}

fn rate_limited_response() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "text/plain")],
        RATE_LIMIT_MESSAGE,
    )
        .into_response()
}

/// What the Bitbucket routes share.
#[derive(Clone)]
pub(crate) struct BitbucketState {
    pub world: Arc<RwLock<BitbucketScenario>>,
    pub infra: SimHandle,
    /// `http://127.0.0.1:PORT`: the base of the URLs inside payloads.
    pub base: String,
    /// Bumped (under the world's write lock) by every mutation.
    pub generation: Arc<AtomicU64>,
    /// Effective-permission rows per (generation, query), so paging through a workspace-wide
    /// listing of tens of thousands of rows does not recompute it for every page.
    pub access_cache: Arc<Mutex<AccessCache>>,
}

/// One permission row: repository index in the workspace, user index in the world, permission.
pub(crate) type AccessRow = (usize, usize, orgsync_core::Permission);

#[derive(Default)]
pub(crate) struct AccessCache {
    pub generation: u64,
    pub rows: std::collections::HashMap<String, Arc<Vec<AccessRow>>>,
}

/// A running simulated Bitbucket Cloud.
#[derive(Debug)]
pub struct BitbucketServer {
    server: RunningServer,
    infra: SimHandle,
    world: Arc<RwLock<BitbucketScenario>>,
    /// The tokens the server accepts (the scenario's, or the default one).
    tokens: Vec<BitbucketToken>,
    generation: Arc<AtomicU64>,
}

impl BitbucketServer {
    /// Serves the scenario's Bitbucket section on `127.0.0.1:options.port`. The default budget
    /// is Bitbucket's 1,000 requests per hour unless `options.rate_limit` was changed from the
    /// infrastructure's default.
    pub async fn start(
        scenario: Scenario,
        options: ServerOptions,
    ) -> Result<BitbucketServer, SimError> {
        scenario.validate()?;
        let mut bitbucket = scenario.bitbucket.ok_or_else(|| {
            SimError::InvalidScenario("the scenario has no Bitbucket section to serve".into())
        })?;
        if bitbucket.workspaces.is_empty() {
            return Err(SimError::InvalidScenario(
                "the Bitbucket section has no workspace".into(),
            ));
        }
        if bitbucket.tokens.is_empty() {
            bitbucket
                .tokens
                .push(BitbucketToken::api_token(DEFAULT_EMAIL, DEFAULT_TOKEN));
        }
        let mut options = options;
        if options.rate_limit == ServerOptions::default().rate_limit {
            options.rate_limit = DEFAULT_RATE_LIMIT;
        }
        options.exhausted_status = StatusCode::TOO_MANY_REQUESTS;
        let infra = Infra::new(Arc::new(BitbucketFlavor), &options);
        for t in &bitbucket.tokens {
            infra.add_token(
                t.key(),
                TokenKind::Personal,
                t.scopes.clone(),
                t.rate_limit,
                None,
            );
            if let (None, Some(limit)) = (&t.email, t.scaled_rate_limit) {
                infra.set_scaled_limit(&t.key(), limit);
            }
        }
        let tokens = bitbucket.tokens.clone();
        let world = Arc::new(RwLock::new(bitbucket));
        let listener = RunningServer::bind(options.port).await?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|source| SimError::Bind {
                addr: format!("127.0.0.1:{}", options.port),
                source,
            })?
        );
        let generation = Arc::new(AtomicU64::new(0));
        let state = BitbucketState {
            world: Arc::clone(&world),
            infra: Arc::clone(&infra),
            base,
            generation: Arc::clone(&generation),
            access_cache: Arc::default(),
        };
        let router = infra.wrap(routes::router(state));
        let server = RunningServer::serve(listener, router)?;
        Ok(BitbucketServer {
            server,
            infra,
            world,
            tokens,
            generation,
        })
    }

    /// The API host (`http://127.0.0.1:PORT`), what orgsync's `api_url` takes; the REST API is
    /// under `/2.0`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// The tokens the server accepts (the scenario's, or the default one).
    pub fn tokens(&self) -> &[BitbucketToken] {
        &self.tokens
    }

    /// The first credential with every scope: `(email or None, token)`.
    pub fn credential(&self) -> (Option<&str>, &str) {
        self.tokens
            .iter()
            .find(|t| t.scopes.is_none())
            .or(self.tokens.first())
            .map_or((Some(DEFAULT_EMAIL), DEFAULT_TOKEN), |t| {
                (t.email.as_deref(), t.token.as_str())
            })
    }

    /// Stats, faults, latency, budgets, clock and webhooks.
    pub fn handle(&self) -> &SimHandle {
        &self.infra
    }

    /// Switches how `/1.0/groups/{workspace}` answers.
    pub fn set_groups_api(&self, state: GroupsApi) {
        crate::server::write(&self.world).groups_api = state;
    }

    /// The world as it is now (after mutations), for ground truth.
    pub fn scenario(&self) -> Scenario {
        let bitbucket = crate::server::read(&self.world).clone();
        Scenario {
            bitbucket: Some(bitbucket),
            ..Scenario::default()
        }
    }

    /// Changes the world atomically, then delivers the webhook Bitbucket would send (if a
    /// target is set and Bitbucket sends one for this change).
    pub async fn mutate(&self, mutation: BitbucketMutation) -> Result<Option<Delivery>, SimError> {
        mutation::apply(
            &self.world,
            &self.generation,
            &self.infra,
            &self.server.url(),
            mutation,
        )
        .await
    }

    /// Applies `mutation` right after page `after_page` of the list whose path matches the glob
    /// `path` (`/2.0/workspaces/acme/members`) has been answered, so the next page is read from
    /// the changed world. Fires once, sends no webhook;
    /// [`SimHandle::page_hooks_fired`](crate::server::Infra::page_hooks_fired) tells whether it
    /// fired and whether the change was accepted.
    pub fn on_page(&self, path: &str, after_page: usize, mutation: BitbucketMutation) {
        let world = Arc::clone(&self.world);
        let generation = Arc::clone(&self.generation);
        let base = self.server.url();
        let label = format!("{mutation:?}");
        let action: crate::server::HookAction = Box::new(move || {
            mutation::apply_silently(&world, &generation, &base, mutation)
                .map_err(|e| e.to_string())
        });
        self.infra.on_page(path, after_page, label, action);
    }

    /// Stops the server and waits for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// How long an OAuth access token issued by the client-credentials grant lives.
pub const OAUTH_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

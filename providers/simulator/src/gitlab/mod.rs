//! A simulated GitLab REST v4 API (gitlab.com and self-managed, under `/api/v4`).
//!
//! [`GitlabServer::start`] serves a [`Scenario`]'s GitLab section on loopback with the shared
//! infrastructure of [`crate::server`]: `PRIVATE-TOKEN` or `Authorization: Bearer` tokens with
//! GitLab's scopes (`api`, `read_api`, `read_user`), GitLab's `401 {"message":"401
//! Unauthorized"}`, `RateLimit-*` headers, a plain-text `429 Retry later` with `Retry-After`,
//! offset pagination with `x-page`/`x-next-page`/… headers (`x-total` omitted past 10,000 rows),
//! weak ETags with `304`s, and Member / Project / Subgroup Hook webhooks for mutations.
//!
//! Routes and shapes follow PROVIDERS.md 2 and the official examples in `api/gitlab/`. Who sees
//! what is computed in `access` from the scenario's raw memberships and shares, independently
//! of the brute-force [`truth`] that tests compare clients with.

pub(crate) mod access;
pub mod json;
mod mutation;
mod routes;
pub mod synthetic;
pub mod truth;

pub use mutation::GitlabMutation;

use crate::SimError;
use crate::scenario::{GitlabScenario, GitlabToken, Scenario};
use crate::server::{
    BudgetView, Delivery, Flavor, Infra, RouteClass, RunningServer, ServerOptions, SimHandle,
    TokenInfo, TokenKind,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::{Arc, RwLock};

/// The token a scenario without tokens gets (an administrator with every scope).
pub const DEFAULT_TOKEN: &str = "sim-gitlab-token";

/// How GitLab spells its errors and headers.
#[derive(Debug, Default)]
pub struct GitlabFlavor;

/// GitLab's scopes: `api` includes `read_api`, and both include `read_user`.
fn scope_satisfied(have: &[String], need: &str) -> bool {
    have.iter().any(|s| {
        s == need
            || match need {
                "read_api" => s == "api",
                "read_user" => s == "api" || s == "read_api",
                _ => false,
            }
    })
}

impl Flavor for GitlabFlavor {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn extract_token(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(v) = headers.get("private-token").and_then(|v| v.to_str().ok()) {
            return Some(v.trim().to_string());
        }
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    }

    fn route_class(&self, _method: &Method, template: &str) -> RouteClass {
        let scope = match template {
            "/api/v4/personal_access_tokens/self" => None,
            "/api/v4/user" | "/api/v4/version" => Some("read_user"),
            _ => Some("read_api"),
        };
        RouteClass::Token { scope }
    }

    fn stats_key(&self, template: &str) -> String {
        template
            .strip_prefix("/api/v4")
            .unwrap_or(template)
            .to_string()
    }

    fn has_scope(&self, have: &[String], need: &str) -> bool {
        scope_satisfied(have, need)
    }

    fn unauthorized(&self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "401 Unauthorized"})),
        )
            .into_response()
    }

    fn missing_scope(&self, _token: &TokenInfo, scope: &str) -> Response {
        let needed = match scope {
            "read_user" => "api read_api read_user",
            "read_api" => "api read_api",
            other => other,
        };
        let mut response = (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": needed
            })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer realm=\"Protected by OAuth 2\", error=\"insufficient_scope\", error_description=\"The request requires higher privileges than provided by the access token.\", scope=\"{needed}\""
        )) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }

    fn rate_limited(&self, budget: &BudgetView, _status: StatusCode) -> Response {
        // GitLab always answers 429, with a plain-text body.
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain")],
            "Retry later\n",
        )
            .into_response();
        self.rate_headers(budget, response.headers_mut());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let wait = budget.reset.saturating_sub(now).max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        response
    }

    fn secondary_limited(&self, retry_after_secs: Option<u64>, _status: StatusCode) -> Response {
        // Endpoint-specific limits (members lists: 60/min) answer 429 without RateLimit-*.
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain")],
            "Retry later\n",
        )
            .into_response();
        if let Some(secs) = retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }

    fn rate_headers(&self, budget: &BudgetView, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(budget.limit));
        headers.insert(
            "ratelimit-name",
            HeaderValue::from_static("throttle_authenticated_api"),
        );
        headers.insert("ratelimit-observed", HeaderValue::from(budget.used));
        headers.insert("ratelimit-remaining", HeaderValue::from(budget.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(budget.reset));
        let reset_time = chrono::DateTime::from_timestamp(budget.reset as i64, 0)
            .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
        if let Some(Ok(v)) = reset_time.map(|t| HeaderValue::from_str(&t)) {
            headers.insert("ratelimit-resettime", v);
        }
    }

    fn error_body(&self, status: StatusCode) -> serde_json::Value {
        json!({
            "message": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"))
        })
    }

    fn not_found(&self) -> Response {
        not_found("404 Not found")
    }
}

/// GitLab's 404: `{"message": "404 Group Not Found"}` and the like.
pub(crate) fn not_found(message: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "message": message })),
    )
        .into_response()
}

/// What the GitLab routes share.
#[derive(Clone)]
pub(crate) struct GitlabState {
    pub world: Arc<RwLock<GitlabScenario>>,
    pub infra: SimHandle,
    /// `http://127.0.0.1:PORT`: the base of the URLs inside payloads.
    pub base: String,
}

/// A running simulated GitLab.
#[derive(Debug)]
pub struct GitlabServer {
    server: RunningServer,
    infra: SimHandle,
    world: Arc<RwLock<GitlabScenario>>,
    /// The tokens the server accepts (the scenario's, or the default admin one).
    tokens: Vec<GitlabToken>,
}

impl GitlabServer {
    /// Serves the scenario's GitLab section on `127.0.0.1:options.port`.
    pub async fn start(
        scenario: Scenario,
        options: ServerOptions,
    ) -> Result<GitlabServer, SimError> {
        scenario.validate()?;
        let mut gitlab = scenario.gitlab.ok_or(SimError::NoGitlabGroup)?;
        if gitlab.groups.is_empty() {
            return Err(SimError::NoGitlabGroup);
        }
        if gitlab.tokens.is_empty() {
            gitlab.tokens.push(GitlabToken::admin(DEFAULT_TOKEN));
        }
        let infra = Infra::new(Arc::new(GitlabFlavor), &options);
        for t in &gitlab.tokens {
            infra.add_token(
                t.token.clone(),
                TokenKind::Personal,
                t.scopes.clone(),
                t.rate_limit,
                None,
            );
        }
        let tokens = gitlab.tokens.clone();
        let world = Arc::new(RwLock::new(gitlab));
        let listener = RunningServer::bind(options.port).await?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|source| SimError::Bind {
                addr: format!("127.0.0.1:{}", options.port),
                source,
            })?
        );
        let state = GitlabState {
            world: Arc::clone(&world),
            infra: Arc::clone(&infra),
            base,
        };
        let router = infra.wrap(routes::router(state));
        let server = RunningServer::serve(listener, router)?;
        Ok(GitlabServer {
            server,
            infra,
            world,
            tokens,
        })
    }

    /// The instance root (`http://127.0.0.1:PORT`), what orgsync's `api_url` takes; the REST
    /// API is under `/api/v4`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// `http://127.0.0.1:PORT/api/v4`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.server.url())
    }

    /// The tokens the server accepts (the scenario's, or the default admin one).
    pub fn tokens(&self) -> &[GitlabToken] {
        &self.tokens
    }

    /// The first administrator token with every scope, what most tests want.
    pub fn token(&self) -> &str {
        self.tokens
            .iter()
            .find(|t| t.scopes.is_none() && t.user.is_none())
            .or(self.tokens.first())
            .map_or(DEFAULT_TOKEN, |t| t.token.as_str())
    }

    /// Stats, faults, latency, budgets, clock and webhooks.
    pub fn handle(&self) -> &SimHandle {
        &self.infra
    }

    /// The world as it is now (after mutations), for ground truth.
    pub fn scenario(&self) -> Scenario {
        let gitlab = crate::server::read(&self.world).clone();
        Scenario {
            gitlab: Some(gitlab),
            ..Scenario::default()
        }
    }

    /// Changes the world atomically, then delivers the webhook GitLab would send (if a target
    /// is set and GitLab sends one for this change).
    pub async fn mutate(&self, mutation: GitlabMutation) -> Result<Option<Delivery>, SimError> {
        mutation::apply(&self.world, &self.infra, &self.server.url(), mutation).await
    }

    /// Applies `mutation` right after page `after_page` of the list whose path matches the glob
    /// `path` (`/api/v4/groups/*/members/all`) has been answered, so the next page is read from
    /// the changed world: a real GitLab's offset shift. Fires once, sends no webhook;
    /// [`SimHandle::page_hooks_fired`](crate::server::Infra::page_hooks_fired) tells whether it
    /// fired and whether the change was accepted.
    pub fn on_page(&self, path: &str, after_page: usize, mutation: GitlabMutation) {
        let world = Arc::clone(&self.world);
        let label = format!("{mutation:?}");
        let action: crate::server::HookAction =
            Box::new(move || mutation::apply_silently(&world, mutation).map_err(|e| e.to_string()));
        self.infra.on_page(path, after_page, label, action);
    }

    /// Stops the server and waits for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

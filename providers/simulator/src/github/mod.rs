//! A simulated GitHub REST API (github.com, and Enterprise Server under `/api/v3`).
//!
//! [`GithubServer::start`] serves a [`Scenario`]'s GitHub section on loopback with the shared
//! infrastructure of [`crate::server`]. Routes and JSON shapes follow PROVIDERS.md 1.2 and the
//! official examples and schemas in `api/github/`.

mod app;
pub mod graphql;
pub mod json;
mod mutation;
mod routes;
mod urls;
mod view;

pub use mutation::Mutation;

use crate::SimError;
use crate::scenario::{GithubScenario, Scenario, TokenSpec};
use crate::server::{
    BudgetView, Delivery, Flavor, Infra, RouteClass, RunningServer, ServerOptions, SimHandle,
    TokenInfo, TokenKind,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::{Arc, RwLock};

/// The token a scenario without tokens gets.
pub const DEFAULT_TOKEN: &str = "sim-github-token";

const DOCS: &str = "https://docs.github.com/rest";

/// How GitHub spells its errors and headers.
#[derive(Debug, Default)]
pub struct GithubFlavor;

/// Classic OAuth scopes that include another one (`admin:org` includes `read:org`).
fn scope_satisfied(have: &[String], need: &str) -> bool {
    have.iter().any(|s| {
        s == need
            || match need {
                "read:org" => s == "write:org" || s == "admin:org",
                "write:org" => s == "admin:org",
                _ => false,
            }
    })
}

impl Flavor for GithubFlavor {
    fn name(&self) -> &'static str {
        "github"
    }

    fn extract_token(&self, headers: &HeaderMap) -> Option<String> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
            .then(|| token.trim().to_string())
    }

    fn route_class(&self, method: &Method, template: &str) -> RouteClass {
        if template == "/graphql" || template == "/api/graphql" {
            return RouteClass::OwnBudget;
        }
        let t = template.strip_prefix("/api/v3").unwrap_or(template);
        if t == "/rate_limit" {
            return RouteClass::Free;
        }
        if t.starts_with("/app/") || (t == "/orgs/{org}/installation" && method == Method::GET) {
            return RouteClass::SelfAuthenticated;
        }
        let scope = if t.starts_with("/orgs/{org}/organization-roles") {
            // GitHub: classic tokens need `admin:org` for organisation roles.
            Some("admin:org")
        } else if t.starts_with("/repos/") || t == "/orgs/{org}/repos" {
            Some("repo")
        } else if t.starts_with("/orgs/{org}/") {
            Some("read:org")
        } else {
            None
        };
        RouteClass::Token { scope }
    }

    fn stats_key(&self, template: &str) -> String {
        if template == "/api/graphql" {
            return "/graphql".to_string();
        }
        template
            .strip_prefix("/api/v3")
            .unwrap_or(template)
            .to_string()
    }

    fn has_scope(&self, have: &[String], need: &str) -> bool {
        scope_satisfied(have, need)
    }

    fn unauthorized(&self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}),
            ),
        )
            .into_response()
    }

    fn missing_scope(&self, token: &TokenInfo, scope: &str) -> Response {
        let have = token.scopes.clone().unwrap_or_default().join(", ");
        let mut response = (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "message": "Resource not accessible by personal access token",
                "documentation_url": DOCS,
                "status": "403"
            })),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&have) {
            headers.insert("x-oauth-scopes", v);
        }
        if let Ok(v) = HeaderValue::from_str(scope) {
            headers.insert("x-accepted-oauth-scopes", v);
        }
        response
    }

    fn rate_limited(&self, budget: &BudgetView, status: StatusCode) -> Response {
        let mut response = (
            status,
            axum::Json(json!({
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": status.as_u16().to_string()
            })),
        )
            .into_response();
        self.rate_headers(budget, response.headers_mut());
        response
    }

    fn secondary_limited(&self, retry_after_secs: Option<u64>, status: StatusCode) -> Response {
        let mut response = (
            status,
            axum::Json(json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": status.as_u16().to_string()
            })),
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
        headers.insert("x-ratelimit-limit", HeaderValue::from(budget.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(budget.remaining));
        headers.insert("x-ratelimit-used", HeaderValue::from(budget.used));
        headers.insert("x-ratelimit-reset", HeaderValue::from(budget.reset));
        headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }

    fn error_body(&self, status: StatusCode) -> serde_json::Value {
        json!({
            "message": status.canonical_reason().unwrap_or("Error"),
            "documentation_url": DOCS,
            "status": status.as_u16().to_string()
        })
    }

    fn not_found(&self) -> Response {
        not_found()
    }
}

impl GithubFlavor {
    pub(crate) fn unauthorized_response(&self) -> Response {
        Flavor::unauthorized(self)
    }
}

pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not Found", "documentation_url": DOCS, "status": "404"})),
    )
        .into_response()
}

/// What the GitHub routes share.
#[derive(Clone)]
pub(crate) struct GithubState {
    pub world: Arc<RwLock<GithubScenario>>,
    pub infra: SimHandle,
    /// `http://127.0.0.1:PORT`: the base of the URLs inside payloads.
    pub base: String,
}

/// A running simulated GitHub.
#[derive(Debug)]
pub struct GithubServer {
    server: RunningServer,
    infra: SimHandle,
    world: Arc<RwLock<GithubScenario>>,
    tokens: Vec<TokenSpec>,
}

impl GithubServer {
    /// Serves the scenario's GitHub section on `127.0.0.1:options.port`.
    pub async fn start(
        scenario: Scenario,
        options: ServerOptions,
    ) -> Result<GithubServer, SimError> {
        scenario.validate()?;
        let mut github = scenario.github.ok_or(SimError::NoGithubOrg)?;
        if github.orgs.is_empty() {
            return Err(SimError::NoGithubOrg);
        }
        if github.tokens.is_empty() {
            github.tokens.push(TokenSpec::full(DEFAULT_TOKEN));
        }
        let infra = Infra::new(Arc::new(GithubFlavor), &options);
        for t in &github.tokens {
            infra.add_token(
                t.token.clone(),
                TokenKind::Personal,
                t.scopes.clone(),
                t.rate_limit,
                None,
            );
        }
        let tokens = github.tokens.clone();
        let world = Arc::new(RwLock::new(github));
        let listener = RunningServer::bind(options.port).await?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|source| SimError::Bind {
                addr: format!("127.0.0.1:{}", options.port),
                source,
            })?
        );
        let state = GithubState {
            world: Arc::clone(&world),
            infra: Arc::clone(&infra),
            base,
        };
        let router = infra.wrap(routes::router(state));
        let server = RunningServer::serve(listener, router)?;
        Ok(GithubServer {
            server,
            infra,
            world,
            tokens,
        })
    }

    /// The REST root as on github.com (`http://127.0.0.1:PORT`); paths are appended to it.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// The GraphQL endpoint as on github.com (`http://127.0.0.1:PORT/graphql`).
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.server.url())
    }

    /// The REST root as on Enterprise Server (`http://127.0.0.1:PORT/api/v3`).
    pub fn ghes_base_url(&self) -> String {
        format!("{}/api/v3", self.server.url())
    }

    /// The tokens the server accepts (the scenario's, or [`DEFAULT_TOKEN`]).
    pub fn tokens(&self) -> &[TokenSpec] {
        &self.tokens
    }

    /// The first full-scope token, what most tests want.
    pub fn token(&self) -> &str {
        self.tokens
            .iter()
            .find(|t| t.scopes.is_none())
            .or(self.tokens.first())
            .map_or(DEFAULT_TOKEN, |t| t.token.as_str())
    }

    /// Stats, faults, latency, budgets, clock and webhooks.
    pub fn handle(&self) -> &SimHandle {
        &self.infra
    }

    /// The world as it is now (after mutations), for ground truth.
    pub fn scenario(&self) -> Scenario {
        let github = crate::server::read(&self.world).clone();
        Scenario {
            description: String::new(),
            github: Some(github),
            ..Scenario::default()
        }
    }

    /// Changes the world atomically, then delivers the webhook GitHub would send (if a target
    /// is set and GitHub sends one for this change).
    pub async fn mutate(&self, mutation: Mutation) -> Result<Option<Delivery>, SimError> {
        mutation::apply(&self.world, &self.infra, &self.server.url(), mutation).await
    }

    /// Applies `mutation` right after page `after_page` of the list at `path` (a glob, e.g.
    /// `/orgs/acme/members` or `/orgs/acme/teams/*/members`; both URL prefixes are the same
    /// list; with a `?`, matched against path and query: `/orgs/acme/members?per_page=100` is
    /// the full member list and not `?per_page=100&role=admin`) has been answered, so the next page is read from the changed world: the offset shift
    /// of a real provider. Fires once, sends no webhook; [`page_hooks_fired`](crate::server::Infra::page_hooks_fired) tells
    /// whether it fired and whether the change was accepted.
    pub fn on_page(&self, path: &str, after_page: usize, mutation: Mutation) {
        let world = Arc::clone(&self.world);
        let base = self.server.url();
        let label = format!("{mutation:?}");
        let action: crate::server::HookAction = Box::new(move || {
            mutation::apply_silently(&world, &base, mutation).map_err(|e| e.to_string())
        });
        // `*` also matches the Enterprise Server prefix `/api/v3` (and nothing, on github.com).
        self.infra
            .on_page(format!("*{path}"), after_page, label, action);
    }

    /// Stops the server and waits for in-flight requests.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

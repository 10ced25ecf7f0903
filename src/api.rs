//! The read API: what an application asks the directory, authenticated with bearer tokens.
//!
//! * `GET /api/v1/access?workspace=W&provider=P&login=L` (or `&id=PROVIDER_USER_ID`): may this
//!   person enter, with which role and teams, in which state, and why not. The one call an
//!   application makes at login. A person the directory does not know is answered `200` with
//!   `admitted: false` (an application needs an answer, not an error).
//! * `GET /api/v1/workspaces/{ws}/members[?state=S]`, `…/members/{user_id}`, `…/teams`.
//!
//! Tokens come from `[api] token_file`, one per line (several allow a rotation without a gap).
//! Only their SHA-256 is kept in memory, compared in constant time; the file is read again
//! when it changes. No token is logged. The description is `docs/api/openapi.json`.

use crate::directory::Store;
use crate::downstream::reads::{MemberView, Who};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// The API's shared state.
#[derive(Clone)]
pub struct Api {
    store: Store,
    tokens: Arc<Tokens>,
}

/// The token file's modification time and the SHA-256 of its tokens.
type TokenCache = (Option<SystemTime>, Vec<[u8; 32]>);

struct Tokens {
    file: PathBuf,
    /// (modification time, hashes) of the file as last read.
    cached: Mutex<Option<TokenCache>>,
}

impl Tokens {
    fn hashes(&self) -> Result<Vec<[u8; 32]>, String> {
        let modified = std::fs::metadata(&self.file)
            .and_then(|m| m.modified())
            .map_err(|e| {
                format!(
                    "cannot read [api] token_file = {}: {e}",
                    self.file.display()
                )
            })?;
        if let Ok(guard) = self.cached.lock()
            && let Some((at, hashes)) = guard.as_ref()
            && *at == Some(modified)
        {
            return Ok(hashes.clone());
        }
        let text = std::fs::read_to_string(&self.file).map_err(|e| {
            format!(
                "cannot read [api] token_file = {}: {e}",
                self.file.display()
            )
        })?;
        let hashes: Vec<[u8; 32]> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| Sha256::digest(l.as_bytes()).into())
            .collect();
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some((Some(modified), hashes.clone()));
        }
        Ok(hashes)
    }

    /// True when `presented` is one of the tokens (every stored hash is compared).
    fn accepts(&self, presented: &str) -> Result<bool, String> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut ok = subtle::Choice::from(0);
        for h in self.hashes()? {
            ok |= h.ct_eq(&digest);
        }
        Ok(bool::from(ok))
    }
}

#[derive(Serialize)]
struct ApiError {
    error: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(ApiError {
            error: message.into(),
        }),
    )
        .into_response()
}

fn internal(e: &crate::directory::DirectoryError) -> Response {
    tracing::warn!(error = %e, "read API: directory error");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the directory did not answer: {e}"),
    )
}

impl Api {
    /// The API over the directory `store`; the bearer tokens are read from `token_file`, and
    /// read again when its modification time changes.
    pub fn new(store: Store, token_file: PathBuf) -> Api {
        Api {
            store,
            tokens: Arc::new(Tokens {
                file: token_file,
                cached: Mutex::new(None),
            }),
        }
    }

    /// The `/api/v1` routes, behind the bearer-token check.
    pub fn router(self) -> Router {
        Router::new()
            .route("/api/v1/access", get(access))
            .route("/api/v1/workspaces/{ws}/members", get(members))
            .route("/api/v1/workspaces/{ws}/members/{id}", get(member))
            .route("/api/v1/workspaces/{ws}/teams", get(teams))
            .route_layer(middleware::from_fn_with_state(self.clone(), authenticate))
            .with_state(self)
    }
}

async fn authenticate(
    State(api): State<Api>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let denied = |message: &str| {
        let mut r = error(StatusCode::UNAUTHORIZED, message);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"orgsync\""),
        );
        r
    };
    let Some(token) = presented else {
        return denied("send the API token as Authorization: Bearer <token>");
    };
    match api.tokens.accepts(token) {
        Ok(true) => next.run(request).await,
        Ok(false) => denied("the API token is not accepted"),
        Err(e) => {
            tracing::error!(error = %e, "read API: cannot read the token file");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the API's token file cannot be read; see the daemon's log",
            )
        }
    }
}

#[derive(Deserialize)]
struct AccessQuery {
    workspace: Option<String>,
    provider: Option<String>,
    login: Option<String>,
    id: Option<String>,
}

/// The answer of the access call.
#[derive(Serialize)]
pub(crate) struct Access {
    /// True only for an active membership: the answer an application lets someone in by.
    pub admitted: bool,
    /// The workspace asked about.
    pub workspace: String,
    /// The directory user's id; `None` when the person is not a member.
    pub user_id: Option<i64>,
    /// Their login at the workspace's provider; for a non-member, the login asked about.
    pub login: Option<String>,
    /// The directory role; `None` for a non-member.
    pub role: Option<String>,
    /// `active`, `offboarded`, `suspended` or `invited`; `None` for a non-member.
    pub state: Option<String>,
    /// Slugs of the workspace's teams the person is in (empty for a non-member).
    pub teams: Vec<String>,
    /// Why `admitted` is false (offboard reason, suspension, not a member); `None` when admitted.
    pub reason: Option<String>,
}

async fn workspace_provider(api: &Api, ws: &str) -> Result<String, Response> {
    match api.store.workspace_provider(ws).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no workspace named `{ws}` in the directory (it appears after its first sync)"),
        )),
        Err(e) => Err(internal(&e)),
    }
}

async fn access(State(api): State<Api>, Query(q): Query<AccessQuery>) -> Response {
    let Some(ws) = q.workspace.filter(|w| !w.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "workspace is required: ?workspace=W&provider=P&login=L",
        );
    };
    let provider = match workspace_provider(&api, &ws).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(p) = &q.provider
        && p != &provider
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("workspace `{ws}` is a {provider} workspace, not {p}"),
        );
    }
    let who = match (&q.login, &q.id) {
        (Some(l), None) if !l.is_empty() => Who::Login(l),
        (None, Some(i)) if !i.is_empty() => Who::ProviderId(i),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "name the person with exactly one of login=LOGIN or id=PROVIDER_USER_ID",
            );
        }
    };
    match api.store.member(&ws, &who).await {
        Ok(Some(m)) => {
            let admitted = m.state == "active";
            let reason = match m.state.as_str() {
                "active" => None,
                "suspended" => Some(m.reason.clone().map_or_else(
                    || "suspended by an admin".to_string(),
                    |r| format!("suspended by an admin: {r}"),
                )),
                "invited" => Some("invited, not yet accepted".to_string()),
                _ => m.reason.clone().or_else(|| Some("offboarded".to_string())),
            };
            axum::Json(Access {
                admitted,
                workspace: ws,
                user_id: Some(m.user_id),
                login: m.login,
                role: Some(m.role),
                state: Some(m.state),
                teams: m.teams,
                reason,
            })
            .into_response()
        }
        Ok(None) => axum::Json(Access {
            admitted: false,
            workspace: ws.clone(),
            user_id: None,
            login: q.login,
            role: None,
            state: None,
            teams: Vec::new(),
            reason: Some(format!("not a member of workspace {ws}")),
        })
        .into_response(),
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
struct MembersQuery {
    state: Option<String>,
}

#[derive(Serialize)]
struct Members {
    workspace: String,
    members: Vec<crate::directory::UserRow>,
}

async fn members(
    State(api): State<Api>,
    Path(ws): Path<String>,
    Query(q): Query<MembersQuery>,
) -> Response {
    if let Err(r) = workspace_provider(&api, &ws).await {
        return r;
    }
    if let Some(s) = &q.state
        && crate::sync::MembershipState::parse(s).is_none()
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("state `{s}` is unknown; use active, offboarded, suspended or invited"),
        );
    }
    match api.store.list_users(Some(&ws), q.state.as_deref()).await {
        Ok(members) => axum::Json(Members {
            workspace: ws,
            members,
        })
        .into_response(),
        Err(e) => internal(&e),
    }
}

async fn member(State(api): State<Api>, Path((ws, id)): Path<(String, String)>) -> Response {
    if let Err(r) = workspace_provider(&api, &ws).await {
        return r;
    }
    let Ok(id) = id.parse::<i64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("member id `{id}` is not a directory user id (a number)"),
        );
    };
    match api.store.member(&ws, &Who::UserId(id)).await {
        Ok(Some(m)) => axum::Json::<MemberView>(m).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("user {id} is not a member of workspace {ws}"),
        ),
        Err(e) => internal(&e),
    }
}

#[derive(Serialize)]
struct Teams {
    workspace: String,
    teams: Vec<crate::directory::TeamRow>,
}

async fn teams(State(api): State<Api>, Path(ws): Path<String>) -> Response {
    if let Err(r) = workspace_provider(&api, &ws).await {
        return r;
    }
    match api.store.list_teams(Some(&ws)).await {
        Ok(teams) => axum::Json(Teams {
            workspace: ws,
            teams,
        })
        .into_response(),
        Err(e) => internal(&e),
    }
}

/// Mounts the API on the daemon: on the public listener when `[api] listen` is not set;
/// otherwise on a router of its own (with `/metrics` and `/healthz`) for the other address,
/// and the public listener stops answering `/metrics`.
pub fn mount(
    public: Router,
    api: Option<&crate::downstream::config::ApiConfig>,
    store: Store,
    metrics: crate::metrics::Metrics,
) -> (Router, Option<Router>) {
    let Some(config) = api else {
        return (public, None);
    };
    let routes = Api::new(store, config.token_file.clone()).router();
    if config.listen.is_none() {
        return (public.merge(routes), None);
    }
    let private = routes
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    let public = public.layer(middleware::from_fn(
        |request: Request, next: Next| async move {
            if request.uri().path() == "/metrics" {
                return error(StatusCode::NOT_FOUND, "metrics are served on [api] listen");
            }
            next.run(request).await
        },
    ));
    (public, Some(private))
}

/// Binds `[api] listen` and serves the private router there until `stop`.
pub async fn serve_private(
    config: &crate::config::Config,
    private: Option<Router>,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, crate::failure::Failure> {
    let (Some(router), Some(listen)) =
        (private, config.api.as_ref().and_then(|a| a.listen.clone()))
    else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        crate::failure::Failure::runtime(format!(
            "cannot listen on {listen}: {e}. Change [api] listen or stop what uses the port"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(listen);
    tracing::info!(listen = %bound, "read API and metrics listening");
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        {
            tracing::error!(error = %e, "the API listener failed");
        }
    })))
}

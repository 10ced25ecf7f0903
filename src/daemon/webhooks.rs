//! `POST /webhooks/{provider}/{workspace}`: provider events as hints for near-real-time sync.
//!
//! The signature is checked on the raw body, in constant time, before anything is parsed. A
//! payload is never trusted for what it says: an event only names what to re-read (one member,
//! or the whole workspace), and the provider's API decides. Redeliveries are recognised by their
//! delivery id, and replays under a new delivery id by a digest of the event and the signed
//! body; both change nothing. Bursts are debounced per workspace and coalesce with runs.
//!
//! GitHub App installation events act only on a workspace that authenticates as that very
//! installation (its id and account both match): a signed `installation.suspend` for another
//! installation, or for a workspace on a plain token, is ignored.
//!
//! The route is unauthenticated until the body is read, so reading is bounded: a request waits
//! for no slot (too many in flight overall, or from one source address, gets 503 / 429 at once),
//! a body larger than `webhook_max_body_bytes` is refused from its `Content-Length` or as soon as
//! it grows past it, and the whole body must arrive within `read_timeout_seconds`.

use super::{Daemon, Trigger};
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use orgsync_core::ProviderKind;
use secrecy::ExposeSecret;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a delivery id is remembered: providers redeliver within hours, not days.
const DEDUP_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// What an event asks the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `ping` and the like: answer 200, do nothing.
    Ping,
    /// An event orgsync does not act on.
    Ignore,
    /// Re-read these members (provider user id, login).
    Members(Vec<(String, Option<String>)>),
    /// Something that can change everyone's verdict or the teams: a full workspace sync.
    Full,
    /// The GitHub App installation was removed or suspended: flag the workspace, sync nothing.
    Suspend(String),
    /// The installation is back: clear the flag and sync.
    Resume,
}

fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn id_at(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let node = path.iter().try_fold(v, |v, k| v.get(k))?;
    node.as_u64()
        .map(|n| n.to_string())
        .or_else(|| node.as_str().map(str::to_string))
}

/// Maps a GitHub event (`X-GitHub-Event`) and its payload to an action.
pub fn github_action(event: &str, payload: &serde_json::Value) -> Action {
    let action = str_at(payload, &["action"]).unwrap_or("");
    match event {
        "ping" => Action::Ping,
        "organization" => match action {
            "member_added" | "member_removed" => {
                match id_at(payload, &["membership", "user", "id"]) {
                    Some(id) => Action::Members(vec![(
                        id,
                        str_at(payload, &["membership", "user", "login"]).map(str::to_string),
                    )]),
                    None => Action::Full,
                }
            }
            "member_invited" => Action::Ignore,
            _ => Action::Full,
        },
        "membership" | "team" | "member" | "team_add" | "installation_repositories" => Action::Full,
        "repository" => match action {
            "created" | "deleted" | "archived" | "unarchived" | "transferred" | "privatized"
            | "publicized" | "renamed" => Action::Full,
            _ => Action::Ignore,
        },
        "installation" => match action {
            "deleted" | "suspend" => Action::Suspend(format!("GitHub App installation {action}")),
            "unsuspend" | "created" | "new_permissions_accepted" => Action::Resume,
            _ => Action::Ignore,
        },
        _ => Action::Ignore,
    }
}

/// Maps a GitLab group hook (`X-Gitlab-Event`) to an action.
pub fn gitlab_action(event: &str, payload: &serde_json::Value) -> Action {
    match event {
        "Member Hook" => match str_at(payload, &["event_name"]).unwrap_or("") {
            "user_add_to_group" | "user_remove_from_group" | "user_update_for_group" => {
                match id_at(payload, &["user_id"]) {
                    Some(id) => Action::Members(vec![(
                        id,
                        str_at(payload, &["user_username"]).map(str::to_string),
                    )]),
                    None => Action::Full,
                }
            }
            _ => Action::Ignore,
        },
        "Project Hook" | "Subgroup Hook" => Action::Full,
        _ => Action::Ignore,
    }
}

/// Maps a Bitbucket event (`X-Event-Key`) to an action: only repository creation and deletion
/// matter (Bitbucket has no membership events; members are polled).
pub fn bitbucket_action(event: &str) -> Action {
    match event {
        "repo:created" | "repo:deleted" => Action::Full,
        "diagnostics:ping" => Action::Ping,
        _ => Action::Ignore,
    }
}

/// Checks `sha256=<hex HMAC-SHA256(secret, body)>` (GitHub `X-Hub-Signature-256`, Bitbucket
/// `X-Hub-Signature`), in constant time.
pub fn verify_hmac_sha256(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Checks GitLab's `X-Gitlab-Token`, which echoes the secret, in constant time.
pub fn verify_token(secret: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(secret.ct_eq(header.as_bytes()))
}

#[derive(Default)]
struct Pending {
    full: bool,
    members: Vec<(String, Option<String>)>,
    first: Option<Instant>,
    provider: String,
}

/// The address a request came from, set by the daemon's accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Webhook state: delivery ids and payload digests seen, debounce batches, paused workspaces,
/// and the slots that bound how many bodies are read at once.
pub struct Webhooks {
    seen: Mutex<HashMap<String, Instant>>,
    pending: Mutex<HashMap<String, Pending>>,
    flagged: Mutex<HashMap<String, String>>,
    in_flight: Arc<Semaphore>,
    per_source: Arc<Mutex<HashMap<IpAddr, usize>>>,
    per_source_limit: usize,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks::new(&crate::config::ListenerLimits::default())
    }
}

/// A request's claim on the in-flight budget, released when the request ends.
struct Slot {
    _global: OwnedSemaphorePermit,
    source: IpAddr,
    per_source: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.per_source.lock()
            && let Some(n) = map.get_mut(&self.source)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.source);
            }
        }
    }
}

/// Why a request got no slot.
enum Refused {
    Busy,
    SourceLimit,
}

impl Webhooks {
    /// Nothing seen or pending yet; at most `limits.max_in_flight` bodies read at once, and
    /// `limits.max_in_flight_per_source` from one source address.
    pub(crate) fn new(limits: &crate::config::ListenerLimits) -> Self {
        Webhooks {
            seen: Mutex::default(),
            pending: Mutex::default(),
            flagged: Mutex::default(),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            per_source: Arc::default(),
            per_source_limit: limits.max_in_flight_per_source.max(1),
        }
    }

    /// A slot to read one body from `source`, or why not. Never waits.
    fn slot(&self, source: IpAddr) -> Result<Slot, Refused> {
        let global = Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        let mut map = self.per_source.lock().map_err(|_| Refused::Busy)?;
        let n = map.entry(source).or_default();
        if *n >= self.per_source_limit {
            return Err(Refused::SourceLimit);
        }
        *n += 1;
        Ok(Slot {
            _global: global,
            source,
            per_source: Arc::clone(&self.per_source),
        })
    }

    /// Workspaces paused by an installation event, by name.
    pub fn paused(&self) -> Vec<String> {
        self.flagged
            .lock()
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Clears a pause; true when the workspace was paused.
    pub fn unpause(&self, workspace: &str) -> bool {
        self.flagged
            .lock()
            .map(|mut f| f.remove(workspace).is_some())
            .unwrap_or(false)
    }

    /// True the first time a delivery id is seen within the retention window.
    fn first_delivery(&self, key: &str) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        let now = Instant::now();
        if seen.len() > 10_000 {
            seen.retain(|_, at| now.duration_since(*at) < DEDUP_RETENTION);
        }
        match seen.get(key) {
            Some(at) if now.duration_since(*at) < DEDUP_RETENTION => false,
            _ => {
                seen.insert(key.to_string(), now);
                true
            }
        }
    }

    /// Why the workspace is flagged (its GitHub App installation is gone or suspended).
    pub fn flag(&self, workspace: &str) -> Option<String> {
        self.flagged.lock().ok()?.get(workspace).cloned()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a GitHub `installation*` event is about the App installation this workspace
/// authenticates as: the payload's `installation.id` and `installation.account.login` must
/// both match. A workspace on a token, a PAT or another installation is never touched.
pub fn installation_matches(
    ws: &crate::config::WorkspaceConfig,
    payload: &serde_json::Value,
) -> bool {
    let crate::config::Credentials::GithubApp {
        installation_id, ..
    } = &ws.credentials
    else {
        return false;
    };
    let id_matches = payload
        .get("installation")
        .and_then(|i| i.get("id"))
        .and_then(serde_json::Value::as_u64)
        == Some(*installation_id);
    let account_matches = str_at(payload, &["installation", "account", "login"])
        .is_some_and(|login| login.eq_ignore_ascii_case(&ws.account));
    id_matches && account_matches
}

/// The identity of a payload, whatever delivery header it came with: the event name and the
/// signed body (which holds the action).
fn payload_digest(event: &str, body: &[u8]) -> String {
    use sha2::Digest;
    let mut hash = Sha256::new();
    hash.update(event.as_bytes());
    hash.update([0]);
    hash.update(body);
    format!("{:x}", hash.finalize())
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Timeout,
    Broken,
}

/// Reads a body into a buffer that never grows past `limit`, within `timeout` in all.
async fn read_bounded(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    let read = async move {
        let mut body = body;
        let mut buffer = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Broken)?;
            if let Ok(data) = frame.into_data() {
                if buffer.len() + data.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buffer))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// The handler of `POST /webhooks/{provider}/{workspace}` (see the module documentation): 200
/// for an event taken, recognised again or ignored; 401 without a valid signature; 404 when no
/// workspace of that name has that provider; 413, 408 or 400 for a body refused or not JSON;
/// 503 or 429 when no slot is free.
pub(crate) async fn receive(
    State(d): State<Arc<Daemon>>,
    Path((provider, workspace)): Path<(String, String)>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, &'static str) {
    let count = |outcome: &str| {
        d.metrics
            .webhooks_received
            .with_label_values(&[provider.as_str(), outcome])
            .inc();
    };
    let config = d.config();
    let Some(ws) = config
        .workspace(&workspace)
        .filter(|w| w.provider.as_str() == provider)
    else {
        count("unknown_workspace");
        return (
            StatusCode::NOT_FOUND,
            "no such workspace for this provider\n",
        );
    };
    let source = peer.map_or(IpAddr::from([127, 0, 0, 1]), |Extension(Peer(a))| a.ip());
    let _slot = match d.webhooks.slot(source) {
        Ok(slot) => slot,
        Err(Refused::Busy) => {
            count("busy");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many deliveries in flight; retry later\n",
            );
        }
        Err(Refused::SourceLimit) => {
            count("source_limit");
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "too many deliveries in flight from this address; retry later\n",
            );
        }
    };
    let limits = config.daemon.listener;
    let declared = header(&headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        count("too_large");
        return (StatusCode::PAYLOAD_TOO_LARGE, "body refused\n");
    }
    let body = match read_bounded(body, limits.max_body_bytes, limits.read_timeout).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            count("too_large");
            return (StatusCode::PAYLOAD_TOO_LARGE, "body refused\n");
        }
        Err(BodyError::Timeout) => {
            count("timeout");
            return (
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time\n",
            );
        }
        Err(BodyError::Broken) => {
            count("bad_request");
            return (StatusCode::BAD_REQUEST, "body refused\n");
        }
    };
    let secret = match ws
        .webhook_secret_file
        .as_ref()
        .map(|p| orgsync_core::http::read_secret_file(p, orgsync_core::http::SecretFileAccess::Any))
    {
        Some(Ok(s)) => s.expose_secret().to_owned(),
        Some(Err(e)) => {
            tracing::warn!(workspace = %ws.name, error = %e, "webhook refused: the webhook_secret_file cannot be used");
            count("no_secret");
            return (StatusCode::UNAUTHORIZED, "signature required\n");
        }
        None => {
            tracing::warn!(workspace = %ws.name, "webhook refused: no webhook_secret_file is configured for this workspace");
            count("no_secret");
            return (StatusCode::UNAUTHORIZED, "signature required\n");
        }
    };
    let (valid, event, delivery) = match ws.provider {
        ProviderKind::Github => (
            header(&headers, "x-hub-signature-256")
                .is_some_and(|h| verify_hmac_sha256(secret.as_bytes(), &body, h)),
            header(&headers, "x-github-event"),
            header(&headers, "x-github-delivery"),
        ),
        ProviderKind::Gitlab => (
            header(&headers, "x-gitlab-token").is_some_and(|h| verify_token(secret.as_bytes(), h)),
            header(&headers, "x-gitlab-event"),
            header(&headers, "idempotency-key").or_else(|| header(&headers, "x-gitlab-event-uuid")),
        ),
        ProviderKind::Bitbucket => (
            header(&headers, "x-hub-signature")
                .is_some_and(|h| verify_hmac_sha256(secret.as_bytes(), &body, h)),
            header(&headers, "x-event-key"),
            header(&headers, "x-request-uuid"),
        ),
    };
    if !valid {
        count("bad_signature");
        return (StatusCode::UNAUTHORIZED, "bad signature\n");
    }
    if let Some(id) = delivery
        && !d
            .webhooks
            .first_delivery(&format!("{provider}:{workspace}:{id}"))
    {
        count("duplicate");
        return (StatusCode::OK, "already received\n");
    }
    let event = event.unwrap_or("");
    if !d.webhooks.first_delivery(&format!(
        "{provider}:{workspace}:payload:{}",
        payload_digest(event, &body)
    )) {
        tracing::warn!(workspace = %workspace, event, "webhook refused: the same signed payload was already received under another delivery id");
        count("replayed");
        return (StatusCode::OK, "already received\n");
    }
    let action = match ws.provider {
        ProviderKind::Bitbucket => bitbucket_action(event),
        _ => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(payload)
                if ws.provider == ProviderKind::Github
                    && event.starts_with("installation")
                    && !installation_matches(ws, &payload) =>
            {
                tracing::warn!(workspace = %workspace, event, "webhook ignored: the installation event is not about the GitHub App installation this workspace uses");
                count("not_this_installation");
                return (StatusCode::OK, "not this workspace's installation\n");
            }
            Ok(payload) if ws.provider == ProviderKind::Github => github_action(event, &payload),
            Ok(payload) => gitlab_action(event, &payload),
            Err(_) => {
                count("bad_payload");
                return (StatusCode::BAD_REQUEST, "payload is not JSON\n");
            }
        },
    };
    let what = match &action {
        Action::Members(m) => format!("re-read {} member(s)", m.len()),
        Action::Full => "full sync".to_string(),
        Action::Ping => "ping".to_string(),
        Action::Ignore => "ignored".to_string(),
        Action::Suspend(why) => format!("{why}: workspace paused"),
        Action::Resume => "installation back: full sync".to_string(),
    };
    d.note_event(
        &workspace,
        format!(
            "{} {provider} {event} ({what})",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        ),
    )
    .await;
    let outcome = match action {
        Action::Ping => "ping",
        Action::Ignore => "ignored",
        Action::Suspend(reason) => {
            tracing::warn!(workspace = %workspace, reason = %reason, "workspace paused: syncs stop and nobody is offboarded until installation.unsuspend or SIGUSR2");
            if let Ok(mut f) = d.webhooks.flagged.lock() {
                f.insert(workspace.clone(), reason);
            }
            d.metrics
                .workspace_paused
                .with_label_values(&[workspace.as_str()])
                .set(1);
            "accepted"
        }
        Action::Resume => {
            if d.webhooks.flag(&workspace).is_some() {
                d.resume(&workspace, "the GitHub App installation is back");
            } else {
                schedule(&d, &workspace, &provider, None);
            }
            "accepted"
        }
        Action::Members(members) => {
            schedule(&d, &workspace, &provider, Some(members));
            "accepted"
        }
        Action::Full => {
            schedule(&d, &workspace, &provider, None);
            "accepted"
        }
    };
    count(outcome);
    (StatusCode::OK, "ok\n")
}

/// Adds an event to the workspace's debounce batch; the first event of a batch starts its timer.
fn schedule(
    d: &Arc<Daemon>,
    workspace: &str,
    provider: &str,
    members: Option<Vec<(String, Option<String>)>>,
) {
    let start_timer = {
        let Ok(mut pending) = d.webhooks.pending.lock() else {
            return;
        };
        let batch = pending.entry(workspace.to_string()).or_default();
        let first = batch.first.is_none();
        batch.first.get_or_insert_with(Instant::now);
        batch.provider = provider.to_string();
        match members {
            None => batch.full = true,
            Some(m) => batch.members.extend(m),
        }
        first
    };
    if !start_timer {
        return;
    }
    let me = Arc::clone(d);
    let name = workspace.to_string();
    let debounce = d.webhook_debounce();
    d.tracker.spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(debounce) => {}
            _ = me.shutdown.cancelled() => return,
        }
        let batch = me
            .webhooks
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&name));
        let Some(batch) = batch else { return };
        let mut trigger = Trigger::new("webhook");
        trigger.received = batch.first;
        trigger.provider = Some(batch.provider);
        trigger.members = if batch.full {
            None
        } else {
            Some(batch.members)
        };
        me.trigger(&name, trigger);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_published_test_vector_verifies_and_a_changed_body_does_not() {
        let secret = b"It's a Secret to Everybody";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_hmac_sha256(secret, b"Hello, World!", header));
        assert!(!verify_hmac_sha256(secret, b"Hello, World?", header));
        assert!(!verify_hmac_sha256(b"wrong", b"Hello, World!", header));
        assert!(!verify_hmac_sha256(secret, b"Hello, World!", "sha1=abc"));
        assert!(!verify_hmac_sha256(secret, b"Hello, World!", "sha256=zz"));
    }

    #[test]
    fn gitlab_token_must_match_exactly() {
        assert!(verify_token(b"s3cret", "s3cret"));
        assert!(!verify_token(b"s3cret", "s3cre"));
        assert!(!verify_token(b"s3cret", "s3creT"));
    }

    fn example(path: &str) -> serde_json::Value {
        let full = format!(
            "{}/providers/simulator/api/{path}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&full).expect("example payload"))
            .expect("json")
    }

    #[test]
    fn official_github_payloads_map_to_targeted_or_full_actions() {
        let added = example("github/webhooks/organization.member_added.json");
        match github_action("organization", &added) {
            Action::Members(m) => {
                assert_eq!(m.len(), 1);
                assert!(m[0].0.chars().all(|c| c.is_ascii_digit()), "{m:?}");
                assert!(m[0].1.is_some());
            }
            other => panic!("member_added should be targeted: {other:?}"),
        }
        let team = example("github/webhooks/membership.removed.json");
        assert_eq!(github_action("membership", &team), Action::Full);
        let repo = example("github/webhooks/repository.created.json");
        assert_eq!(github_action("repository", &repo), Action::Full);
        let ping = example("github/webhooks/ping.noaction.json");
        assert_eq!(github_action("ping", &ping), Action::Ping);
        let suspend = example("github/webhooks/installation.suspend.json");
        assert!(matches!(
            github_action("installation", &suspend),
            Action::Suspend(_)
        ));
    }

    #[test]
    fn official_gitlab_payloads_map_to_member_rereads() {
        let removed = example("gitlab/webhooks/member_hook.user_remove_from_group.json");
        match gitlab_action("Member Hook", &removed) {
            Action::Members(m) => assert_eq!(m.len(), 1),
            other => panic!("{other:?}"),
        }
        let request = example("gitlab/webhooks/member_hook.user_access_request_to_group.json");
        assert_eq!(gitlab_action("Member Hook", &request), Action::Ignore);
        let created = example("gitlab/webhooks/project_hook.project_create.json");
        assert_eq!(gitlab_action("Project Hook", &created), Action::Full);
    }

    fn workspace(credentials: &str) -> crate::config::WorkspaceConfig {
        let text = format!(
            "[directory]\nurl = \"sqlite://x.db\"\n[[workspace]]\nname = \"w\"\nprovider = \"github\"\norganization = \"Acme\"\n{credentials}\n"
        );
        crate::config::Config::parse(&text, std::path::Path::new("c.toml"))
            .expect("valid")
            .workspaces
            .remove(0)
    }

    #[test]
    fn installation_events_match_only_the_same_installation_and_account() {
        let app = workspace("app_id = 1\ninstallation_id = 77\nprivate_key_file = \"/k.pem\"");
        let token = workspace("token_env = \"T\"");
        let event = |id: u64, login: &str| serde_json::json!({"action": "suspend", "installation": {"id": id, "account": {"login": login}}});
        assert!(installation_matches(&app, &event(77, "acme")));
        assert!(!installation_matches(&app, &event(78, "acme")));
        assert!(!installation_matches(&app, &event(77, "other")));
        assert!(!installation_matches(
            &app,
            &serde_json::json!({"action": "suspend"})
        ));
        assert!(!installation_matches(&token, &event(77, "acme")));
    }

    #[test]
    fn a_payload_is_identified_by_its_event_and_signed_body() {
        let body = br#"{"action":"suspend"}"#;
        assert_eq!(
            payload_digest("installation", body),
            payload_digest("installation", body)
        );
        assert_ne!(
            payload_digest("installation", body),
            payload_digest("organization", body)
        );
        assert_ne!(
            payload_digest("installation", body),
            payload_digest("installation", br#"{"action":"unsuspend"}"#)
        );
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit_and_no_further() {
        let limit = 16;
        let fits = read_bounded(Body::from(vec![b'x'; 16]), limit, Duration::from_secs(5)).await;
        let over = read_bounded(Body::from(vec![b'x'; 17]), limit, Duration::from_secs(5)).await;
        assert!(matches!(fits, Ok(b) if b.len() == 16));
        assert!(matches!(over, Err(BodyError::TooLarge)));
    }

    #[test]
    fn delivery_ids_are_remembered() {
        let w = Webhooks::default();
        assert!(w.first_delivery("github:acme:1"));
        assert!(!w.first_delivery("github:acme:1"));
        assert!(w.first_delivery("github:acme:2"));
    }
}

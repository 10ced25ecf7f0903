//! `POST /webhooks/{provider}/{workspace}`: provider events as hints for near-real-time sync.
//!
//! The signature is checked on the raw body, in constant time, before anything is parsed. A
//! payload is never trusted for what it says: an event only names what to re-read (one member,
//! or the whole workspace), and the provider's API decides. Redeliveries are recognised by their
//! delivery id and change nothing; bursts are debounced per workspace and coalesce with runs.

use super::{Daemon, Trigger};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use orgsync_core::ProviderKind;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest body accepted (GitHub caps payloads at 25 MB; membership events are a few KB).
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

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

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks `sha256=<hex HMAC-SHA256(secret, body)>` (GitHub `X-Hub-Signature-256`, Bitbucket
/// `X-Hub-Signature`), in constant time.
pub fn verify_hmac_sha256(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = hex_decode(hex) else {
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
    constant_time_eq(secret, header.as_bytes())
}

#[derive(Default)]
struct Pending {
    full: bool,
    members: Vec<(String, Option<String>)>,
    first: Option<Instant>,
    provider: String,
}

/// Webhook state: delivery ids seen, debounce batches, flagged workspaces.
#[derive(Default)]
pub struct Webhooks {
    seen: Mutex<HashMap<String, Instant>>,
    pending: Mutex<HashMap<String, Pending>>,
    flagged: Mutex<HashMap<String, String>>,
}

impl Webhooks {
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

pub async fn receive(
    State(d): State<Arc<Daemon>>,
    Path((provider, workspace)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
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
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
            count(if too_large {
                "too_large"
            } else {
                "bad_request"
            });
            return (rejection.status(), "body refused\n");
        }
    };
    let secret = match ws
        .webhook_secret_file
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map(|s| s.trim().to_string()))
    {
        Some(Ok(s)) if !s.is_empty() => s,
        _ => {
            tracing::warn!(workspace = %ws.name, "webhook refused: no readable webhook_secret_file is configured for this workspace");
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
    let action = match ws.provider {
        ProviderKind::Bitbucket => bitbucket_action(event),
        _ => match serde_json::from_slice::<serde_json::Value>(&body) {
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
        Action::Suspend(why) => format!("{why}: workspace flagged"),
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
            tracing::warn!(workspace = %workspace, reason = %reason, "workspace flagged; syncs pause and nobody is offboarded");
            if let Ok(mut f) = d.webhooks.flagged.lock() {
                f.insert(workspace.clone(), reason);
            }
            "accepted"
        }
        Action::Resume => {
            if let Ok(mut f) = d.webhooks.flagged.lock() {
                f.remove(&workspace);
            }
            schedule(&d, &workspace, &provider, None);
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

    #[test]
    fn delivery_ids_are_remembered() {
        let w = Webhooks::default();
        assert!(w.first_delivery("github:acme:1"));
        assert!(!w.first_delivery("github:acme:1"));
        assert!(w.first_delivery("github:acme:2"));
    }
}

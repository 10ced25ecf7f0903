//! What the GitLab provider tests share: a fast HTTP client, a provider pointed at a simulated
//! GitLab, and orgsync's admission rule computed from a snapshot.
#![allow(dead_code)]

use orgsync_core::cache::HttpCache;
use orgsync_core::http::{GitlabPrivateToken, HttpClient, HttpConfig};
use orgsync_core::{AccessVerdict, AdmitRule, FetchPolicy, MemberState, ProviderKind, Snapshot};
use orgsync_gitlab::GitlabProvider;
use orgsync_simulator::gitlab::GitlabServer;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use secrecy::SecretString;
use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../simulator/scenarios/gitlab-edge-cases.toml"
    ))
    .expect("edge-case scenario loads")
}

/// Short waits so retries and rate-limit pauses do not slow the tests down.
pub fn fast_config() -> HttpConfig {
    HttpConfig {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        secondary_limit_wait: Duration::from_millis(50),
        requests_per_second: NonZeroU32::new(10_000).expect("not zero"),
        burst: NonZeroU32::new(10_000).expect("not zero"),
        rate_limit_reserve: 0,
        max_attempts: 5,
        ..HttpConfig::default()
    }
}

pub async fn start(scenario: Scenario) -> GitlabServer {
    GitlabServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated GitLab starts")
}

/// A provider for `group` on `server`, authenticating with `token`, with an optional cache.
pub fn provider_with(
    server: &GitlabServer,
    group: &str,
    token: &str,
    cache: Option<Arc<dyn HttpCache>>,
) -> GitlabProvider {
    let credential = Arc::new(GitlabPrivateToken::new(
        "token_env = GITLAB_TOKEN",
        SecretString::from(token.to_string()),
    ));
    let http = HttpClient::new(fast_config()).expect("http client");
    let mut client = http
        .workspace(ProviderKind::Gitlab, "test", &server.api_url(), credential)
        .expect("workspace client");
    if let Some(cache) = cache {
        client = client.with_cache(cache);
    }
    GitlabProvider::new(client, group, "127.0.0.1")
}

pub fn provider(server: &GitlabServer, group: &str) -> GitlabProvider {
    provider_with(server, group, server.token(), None)
}

/// orgsync's admission rule (src/sync/admit.rs) over a snapshot, for comparison with the ground
/// truth: active, not excluded, not a bot unless bots are admitted, and for all-repositories an
/// owner or a member with a `ReadsAll` verdict.
pub fn admitted(snapshot: &Snapshot, policy: &FetchPolicy) -> BTreeSet<String> {
    snapshot
        .members
        .iter()
        .filter(|m| m.state == MemberState::Active)
        .filter(|m| policy.exclude_members.matching(&m.login).is_none())
        .filter(|m| !m.bot || policy.include_bots)
        .filter(|m| {
            policy.admit == AdmitRule::AllMembers
                || m.is_owner
                || m.access == AccessVerdict::ReadsAll
        })
        .map(|m| m.id.clone())
        .collect()
}

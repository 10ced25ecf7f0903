//! Shared helpers: a simulator per test on port 0, a provider pointed at it, and the admission
//! rule computed straight from a snapshot (the engine's rule, without depending on it).

#![allow(dead_code)]

use orgsync_core::cache::{HttpCache, MemoryCache};
use orgsync_core::http::{BearerToken, HttpClient, HttpConfig};
use orgsync_core::policy::MemberExclusions;
use orgsync_core::{
    AccessVerdict, AdmitRule, FetchPolicy, MemberState, ProviderKind, RepositoryScope, Snapshot,
    TeamRole,
};
use orgsync_github::{GithubOptions, GithubProvider};
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub const EDGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../simulator/scenarios/github-edge-cases.toml"
);

pub fn edge() -> Scenario {
    Scenario::from_file(EDGE).expect("edge-case scenario loads")
}

/// Short waits, no politeness limit: tests measure behaviour, not patience.
pub fn fast_http() -> HttpClient {
    HttpClient::new(HttpConfig {
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        secondary_limit_wait: Duration::from_millis(20),
        requests_per_second: NonZeroU32::new(100_000).expect("not zero"),
        burst: NonZeroU32::new(10_000).expect("not zero"),
        max_attempts: 5,
        ..HttpConfig::default()
    })
    .expect("http client")
}

pub async fn start(scenario: Scenario) -> GithubServer {
    start_with(scenario, ServerOptions::default()).await
}

/// A simulator with a budget no test run can spend: the fault matrix and the count test make
/// thousands of requests with one token, and a spent budget would make the layer wait for the
/// (simulated hour-long) window.
pub async fn start_unmetered(scenario: Scenario) -> GithubServer {
    start_with(
        scenario,
        ServerOptions {
            rate_limit: 10_000_000,
            ..ServerOptions::default()
        },
    )
    .await
}

pub async fn start_with(scenario: Scenario, options: ServerOptions) -> GithubServer {
    GithubServer::start(scenario, options)
        .await
        .expect("simulator starts")
}

pub fn org_of(server: &GithubServer) -> String {
    server
        .scenario()
        .github
        .as_ref()
        .and_then(|g| g.orgs.first())
        .map(|o| o.login.clone())
        .expect("an organisation")
}

/// A token provider on `base` (the github.com or the `/api/v3` root), with `cache`.
pub fn provider_with(
    server: &GithubServer,
    base: &str,
    token: &str,
    cache: Arc<dyn HttpCache>,
) -> GithubProvider {
    let credential = Arc::new(BearerToken::new(
        "token_env = TEST_TOKEN",
        token.to_string().into(),
    ));
    let client = fast_http()
        .workspace(ProviderKind::Github, "test", base, credential)
        .expect("workspace client")
        .with_cache(cache);
    GithubProvider::new(client, org_of(server)).with_options(GithubOptions {
        concurrency: 4,
        check_suspended: true,
    })
}

pub fn provider(server: &GithubServer) -> GithubProvider {
    provider_with(
        server,
        &server.base_url(),
        server.token(),
        Arc::new(MemoryCache::default()),
    )
}

/// The engine's admission rule over a snapshot (bots aside: the ground truth has no bot rule).
pub fn admitted(snapshot: &Snapshot, policy: &FetchPolicy) -> BTreeSet<String> {
    snapshot
        .members
        .iter()
        .filter(|m| m.state == MemberState::Active)
        .filter(|m| policy.exclude_members.matching(&m.login).is_none())
        .filter(|m| {
            policy.admit == AdmitRule::AllMembers
                || m.is_owner
                || m.access == AccessVerdict::ReadsAll
        })
        .map(|m| m.id.clone())
        .collect()
}

/// The policies every scenario is checked under: both rules, scope exclusions, and member
/// exclusions.
pub fn policies() -> Vec<(&'static str, FetchPolicy)> {
    let scoped = || RepositoryScope::new(true, true, &["sandbox-*".to_string()]).expect("globs");
    let excluded = || {
        MemberExclusions::new(&[
            "renovate-*".to_string(),
            "*[bot]".to_string(),
            "user-0002?".to_string(),
        ])
        .expect("globs")
    };
    vec![
        ("all-repositories", FetchPolicy::default()),
        (
            "all-repositories, scoped",
            FetchPolicy {
                scope: scoped(),
                ..FetchPolicy::default()
            },
        ),
        (
            "all-repositories, scoped, exclusions",
            FetchPolicy {
                scope: scoped(),
                exclude_members: excluded(),
                ..FetchPolicy::default()
            },
        ),
        (
            "all-members",
            FetchPolicy {
                admit: AdmitRule::AllMembers,
                ..FetchPolicy::default()
            },
        ),
        (
            "all-members, exclusions",
            FetchPolicy {
                admit: AdmitRule::AllMembers,
                exclude_members: excluded(),
                ..FetchPolicy::default()
            },
        ),
    ]
}

/// Teams of a snapshot as slug -> (members with roles, repositories with permissions).
pub type TeamView = BTreeMap<String, (BTreeMap<String, TeamRole>, BTreeMap<String, String>)>;

pub fn team_view(snapshot: &Snapshot) -> TeamView {
    snapshot
        .teams
        .as_ref()
        .expect("teams were fetched")
        .iter()
        .map(|t| {
            (
                t.slug.clone(),
                (
                    t.members
                        .iter()
                        .map(|m| (m.member_id.clone(), m.role))
                        .collect(),
                    t.repositories
                        .iter()
                        .map(|r| (r.repository.clone(), r.permission.to_string()))
                        .collect(),
                ),
            )
        })
        .collect()
}

pub fn expected_team_view(scenario: &Scenario) -> TeamView {
    scenario
        .expected_teams()
        .expect("teams")
        .into_iter()
        .map(|(slug, t)| {
            (
                slug,
                (
                    t.members,
                    t.repositories
                        .into_iter()
                        .map(|(name, p)| (name, p.to_string()))
                        .collect(),
                ),
            )
        })
        .collect()
}

//! Shared helpers: start the simulator, build a provider against it, compute the admitted set.
#![allow(dead_code)]

use orgsync_bitbucket::BitbucketProvider;
use orgsync_core::cache::HttpCache;
use orgsync_core::http::{BasicAuth, BearerToken, Credential, HttpClient, HttpConfig};
use orgsync_core::policy::MemberExclusions;
use orgsync_core::{
    AccessVerdict, AdmitRule, FetchPolicy, MemberState, ProviderKind, RepositoryScope, Snapshot,
    Team,
};
use orgsync_simulator::bitbucket::BitbucketServer;
use orgsync_simulator::bitbucket::truth::ExpectedBitbucketTeam;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub const WORKSPACE: &str = "acme";

pub fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../simulator/scenarios/bitbucket-edge-cases.toml"
    ))
    .expect("edge-case scenario loads")
}

/// Fast waits, so retries and timeouts do not slow the tests down, and no politeness limit.
pub fn test_config() -> HttpConfig {
    HttpConfig {
        request_timeout: Duration::from_millis(1500),
        max_attempts: 5,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        requests_per_second: NonZeroU32::new(100_000).expect("non-zero"),
        burst: NonZeroU32::new(10_000).expect("non-zero"),
        ..HttpConfig::default()
    }
}

/// A server with a budget large enough for many fetches (the 1,000/hour limit has its own test).
pub async fn start(scenario: Scenario) -> BitbucketServer {
    BitbucketServer::start(
        scenario,
        ServerOptions {
            rate_limit: 1_000_000,
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulator starts")
}

pub fn credential(server: &BitbucketServer) -> Arc<dyn Credential> {
    match server.credential() {
        (Some(email), token) => Arc::new(BasicAuth::new(
            "token_env = BITBUCKET_TOKEN",
            email,
            SecretString::from(token.to_string()),
        )),
        (None, token) => Arc::new(BearerToken::new(
            "token_env = BITBUCKET_TOKEN",
            SecretString::from(token.to_string()),
        )),
    }
}

pub fn provider_with(
    server: &BitbucketServer,
    config: HttpConfig,
    credential: Arc<dyn Credential>,
    cache: Option<Arc<dyn HttpCache>>,
) -> BitbucketProvider {
    let http = HttpClient::new(config).expect("http client");
    let mut client = http
        .workspace(
            ProviderKind::Bitbucket,
            WORKSPACE,
            &server.base_url(),
            credential,
        )
        .expect("workspace client");
    if let Some(cache) = cache {
        client = client.with_cache(cache);
    }
    BitbucketProvider::new(client, WORKSPACE, "127.0.0.1")
}

pub fn provider(server: &BitbucketServer) -> BitbucketProvider {
    provider_with(server, test_config(), credential(server), None)
}

pub fn policy(
    admit: AdmitRule,
    exclude_forks: bool,
    exclude_repos: &[&str],
    exclude_members: &[&str],
) -> FetchPolicy {
    let repos: Vec<String> = exclude_repos.iter().map(|s| s.to_string()).collect();
    let members: Vec<String> = exclude_members.iter().map(|s| s.to_string()).collect();
    FetchPolicy {
        admit,
        scope: RepositoryScope::new(false, exclude_forks, &repos).expect("globs"),
        exclude_members: MemberExclusions::new(&members).expect("globs"),
        ..FetchPolicy::default()
    }
}

/// orgsync's admission rule over a snapshot, computed here (not with the root crate's `admit`,
/// which would make the provider's tests wait for the whole daemon to build).
pub fn admitted(snapshot: &Snapshot, policy: &FetchPolicy) -> BTreeSet<String> {
    snapshot
        .members
        .iter()
        .filter(|m| m.state == MemberState::Active)
        .filter(|m| policy.exclude_members.matching(&m.login).is_none())
        .filter(|m| match policy.admit {
            AdmitRule::AllMembers => true,
            AdmitRule::AllRepositories => {
                assert_ne!(
                    m.access,
                    AccessVerdict::NotEvaluated,
                    "{} needs a verdict",
                    m.login
                );
                m.access == AccessVerdict::ReadsAll
            }
        })
        .map(|m| m.id.clone())
        .collect()
}

/// The snapshot's teams in the shape of the ground truth.
pub fn teams_as_expected(teams: &[Team]) -> BTreeMap<String, ExpectedBitbucketTeam> {
    teams
        .iter()
        .map(|t| {
            (
                t.slug.clone(),
                ExpectedBitbucketTeam {
                    slug: t.slug.clone(),
                    name: t.name.clone(),
                    members: t.members.iter().map(|m| m.member_id.clone()).collect(),
                    repositories: t
                        .repositories
                        .iter()
                        .map(|r| (r.repository.clone(), r.permission))
                        .collect(),
                },
            )
        })
        .collect()
}

/// A snapshot without its request counts, for comparing two fetches of the same world.
pub fn without_counts(mut snapshot: Snapshot) -> Snapshot {
    snapshot.requests = Default::default();
    snapshot
}

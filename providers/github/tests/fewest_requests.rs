//! The fetch skips work that cannot change the answer: collaborator lists stop once nobody is
//! undecided, team grants spare lists, `all-members` reads no list at all, and a no-change
//! re-fetch costs no quota.

mod common;

use common::*;
use orgsync_core::cache::{HttpCache, MemoryCache};
use orgsync_core::{AccessVerdict, AdmitRule, FetchPolicy, Provider, TeamsMode};
use std::sync::Arc;

const COLLABORATORS: &str = "GET /repos/{owner}/{repo}/collaborators";

#[tokio::test]
async fn collaborator_lists_stop_once_nobody_is_undecided() {
    // Repositories in id order: api, web, secret, handbook (public), old, sandbox-x.
    // api: team grants prove everyone but carol -> list read, carol cannot read api.
    // web: every remaining member is proven by engineering (and its child backend) -> no list.
    // secret: nobody proven -> list read; bob and erin cannot read it.
    // handbook: public -> no list. old: list read; gina and the bot cannot read it.
    // sandbox-x: nobody undecided any more -> no list.
    let server = start(edge()).await;
    let snapshot = provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect("fetch");
    assert_eq!(server.handle().stats().requests(COLLABORATORS), 3);
    let verdict = |login: &str| {
        snapshot
            .members
            .iter()
            .find(|m| m.login == login)
            .map(|m| m.access.clone())
            .expect("member")
    };
    let cannot = |repo: &str| AccessVerdict::CannotRead {
        repository: repo.to_string(),
    };
    assert_eq!(verdict("carol"), cannot("api"));
    assert_eq!(verdict("bob"), cannot("secret"));
    assert_eq!(verdict("gina"), cannot("old"));
    assert_eq!(verdict("alice"), AccessVerdict::ReadsAll);
}

#[tokio::test]
async fn all_members_rule_reads_no_collaborator_list_and_no_team_repositories_when_teams_are_off() {
    let server = start(edge()).await;
    let policy = FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    provider(&server).fetch(&policy).await.expect("fetch");
    let stats = server.handle().stats();
    assert_eq!(stats.requests(COLLABORATORS), 0);
    assert_eq!(stats.requests("GET /orgs/{org}/teams"), 0);
    assert_eq!(stats.requests("GET /orgs/{org}/teams/{team_slug}/repos"), 0);
}

#[tokio::test]
async fn excluded_members_are_not_evaluated_and_cost_nothing() {
    let server = start(edge()).await;
    let policy = FetchPolicy {
        exclude_members: orgsync_core::policy::MemberExclusions::new(&["*".to_string()])
            .expect("glob"),
        ..FetchPolicy::default()
    };
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    assert!(
        snapshot
            .members
            .iter()
            .all(|m| m.access == AccessVerdict::NotEvaluated)
    );
    let stats = server.handle().stats();
    assert_eq!(stats.requests(COLLABORATORS), 0);
    assert_eq!(stats.requests("GET /users/{username}"), 0);
}

#[tokio::test]
async fn a_no_change_refetch_with_a_shared_cache_costs_no_quota() {
    let server = start(edge()).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let provider = provider_with(&server, &server.base_url(), server.token(), cache);
    let policy = FetchPolicy::default();
    let cold = provider.fetch(&policy).await.expect("cold");
    let warm = provider.fetch(&policy).await.expect("warm");
    assert_eq!(warm.members, cold.members);
    assert_eq!(warm.teams, cold.teams);
    assert_eq!(warm.requests.total, cold.requests.total);
    assert_eq!(
        warm.requests.not_modified, warm.requests.total,
        "every request of the re-fetch was answered 304"
    );
    assert_eq!(cold.requests.not_modified, 0);
}

//! Request counts on the synthetic organisation (2,000 members, 600 repositories, 100
//! teams, base permission none): a cold fetch, a no-change re-fetch with a shared cache
//! (quota-counted requests vs free 304s), and what the obvious approach would need (members +
//! repositories + every repository's collaborator pages). Run with `--nocapture` to see them.

mod common;

use common::*;
use orgsync_core::cache::{HttpCache, MemoryCache};
use orgsync_core::http::Route;
use orgsync_core::{AdmitRule, FetchPolicy, Provider};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use std::sync::Arc;

#[tokio::test]
async fn request_counts_on_2000_members_600_repositories_100_teams() {
    let scenario = Scenario::synthetic(
        42,
        SyntheticSize {
            members: 2000,
            repos: 600,
            teams: 100,
        },
    );
    let server = start_unmetered(scenario).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let provider = provider_with(&server, &server.base_url(), server.token(), cache.clone());
    let policy = FetchPolicy::default();

    let cold = provider.fetch(&policy).await.expect("cold fetch");
    assert_eq!(
        admitted(&cold, &policy),
        server.scenario().expected_admitted(&policy).expect("truth")
    );
    let cold_stats = server.handle().stats();
    assert_eq!(
        cold.requests.total, cold_stats.total,
        "the snapshot counts what the server saw"
    );

    server.handle().reset_stats();
    let warm = provider.fetch(&policy).await.expect("re-fetch");
    assert_eq!(
        warm.members, cold.members,
        "nothing changed, nothing differs"
    );
    let warm_stats = server.handle().stats();
    let quota = warm_stats.total - warm_stats.not_modified;

    // The obvious approach, really run: every member page, every repository page, and every
    // repository's collaborator pages (affiliation=all lists everyone who can read it).
    server.handle().reset_stats();
    let client = fast_http()
        .workspace(
            orgsync_core::ProviderKind::Github,
            "naive",
            &server.base_url(),
            Arc::new(orgsync_core::http::BearerToken::new(
                "token_env = TEST_TOKEN",
                server.token().to_string().into(),
            )),
        )
        .expect("client");
    let list = |t: &'static str, p: String| Route::new(t, p).query("per_page", 100);
    let _: Vec<serde_json::Value> = client
        .get_all(&list("/orgs/{org}/members", "/orgs/acme/members".into()))
        .await
        .expect("members");
    let repos: Vec<serde_json::Value> = client
        .get_all(&list("/orgs/{org}/repos", "/orgs/acme/repos".into()).query("type", "all"))
        .await
        .expect("repos");
    for repo in &repos {
        let name = repo["name"].as_str().expect("name");
        let _: Vec<serde_json::Value> = client
            .get_all(
                &list(
                    "/repos/{owner}/{repo}/collaborators",
                    format!("/repos/acme/{name}/collaborators"),
                )
                .query("affiliation", "all"),
            )
            .await
            .expect("collaborators");
    }
    let naive = client.request_counts().total;

    let all_members = FetchPolicy {
        admit: AdmitRule::AllMembers,
        ..FetchPolicy::default()
    };
    server.handle().reset_stats();
    let fresh = provider_with(
        &server,
        &server.base_url(),
        server.token(),
        Arc::new(MemoryCache::default()),
    );
    let members_rule = fresh.fetch(&all_members).await.expect("all-members fetch");

    let teams_off = FetchPolicy {
        teams: orgsync_core::TeamsMode::Off,
        ..FetchPolicy::default()
    };
    let no_teams = provider_with(
        &server,
        &server.base_url(),
        server.token(),
        Arc::new(MemoryCache::default()),
    )
    .fetch(&teams_off)
    .await
    .expect("teams-off fetch");
    assert_eq!(admitted(&no_teams, &teams_off), admitted(&cold, &policy));

    println!(
        "GitHub request counts, synthetic org 2,000 members / 600 repos / 100 teams, base none:"
    );
    println!(
        "  cold fetch (all-repositories, teams full): {} requests",
        cold.requests.total
    );
    for (route, s) in &cold_stats.routes {
        println!("    {route}: {}", s.requests);
    }
    println!(
        "  no-change re-fetch: {} requests, {} quota-counted, {} answered 304 (free)",
        warm_stats.total, quota, warm_stats.not_modified
    );
    println!(
        "  obvious approach (members + repos + every repo's collaborator pages): {naive} requests"
    );
    println!(
        "  cold fetch, admit = all-members (teams full, no access checks): {} requests",
        members_rule.requests.total
    );
    println!(
        "  cold fetch, all-repositories, teams off (team grants read only as proof): {} requests",
        no_teams.requests.total
    );
    let collaborator_lists = cold_stats.requests("GET /repos/{owner}/{repo}/collaborators");
    println!("  collaborator list requests in the cold fetch: {collaborator_lists}");

    assert!(
        quota <= 1,
        "a no-change re-fetch costs at most the un-cacheable: {quota}"
    );
    assert!(
        cold.requests.total < naive,
        "{} >= {naive}",
        cold.requests.total
    );
}

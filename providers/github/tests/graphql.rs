//! The GraphQL path reads what the REST path reads, and the cost model picks it where it is
//! cheaper.

mod common;

use common::*;
use orgsync_core::cache::{HttpCache, MemoryCache};
use orgsync_core::{FetchPolicy, Provider, Snapshot};
use orgsync_github::GraphqlUse;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::Stats;
use std::sync::Arc;

/// Teams of up to 300 members, a quarter nested: multi-page lists, parents whose lists include
/// their children's members.
fn scenario() -> Scenario {
    Scenario::synthetic(
        11,
        SyntheticSize {
            members: 1200,
            repos: 40,
            teams: 14,
        },
    )
}

const TEAM_MEMBERS: &str = "GET /orgs/{org}/teams/{team_slug}/members";

#[tokio::test]
async fn graphql_and_rest_read_the_same_teams_and_decide_the_same() {
    let server = start_unmetered(scenario()).await;
    let world = server.scenario();
    let org = &world.github.as_ref().expect("github").orgs[0];
    assert!(
        org.teams
            .iter()
            .any(|t| t.parent.is_some() && t.members.len() > 100),
        "the scenario nests a multi-page team"
    );
    for (name, policy) in policies() {
        server.handle().reset_stats();
        let rest = provider(&server)
            .with_graphql(GraphqlUse::Never)
            .fetch(&policy)
            .await
            .expect("REST fetch");
        assert_eq!(server.handle().stats().points, 0, "{name}");
        server.handle().reset_stats();
        let graphql = provider(&server)
            .with_graphql(GraphqlUse::Always)
            .fetch(&policy)
            .await
            .expect("GraphQL fetch");
        let stats = server.handle().stats();
        if policy.teams != orgsync_core::TeamsMode::Off {
            assert_eq!(stats.requests(TEAM_MEMBERS), 0, "{name}: no REST team list");
            assert!(stats.points > 0, "{name}");
            assert_eq!(
                graphql.requests.total, stats.total,
                "{name}: the snapshot counts the GraphQL requests too"
            );
        }
        assert_eq!(graphql.members, rest.members, "{name}");
        assert_eq!(graphql.teams, rest.teams, "{name}");
        assert_eq!(
            admitted(&graphql, &policy),
            world.expected_admitted(&policy).expect("truth"),
            "{name}"
        );
    }
}

/// A fetch with the cost model's choice (`Auto`) through `cache`, and the simulator's counts
/// of that fetch alone.
async fn auto_fetch(server: &GithubServer, cache: &Arc<dyn HttpCache>) -> (Snapshot, Stats) {
    server.handle().reset_stats();
    let snapshot = provider_with(server, &server.base_url(), server.token(), cache.clone())
        .with_graphql(GraphqlUse::Auto)
        .fetch(&FetchPolicy::default())
        .await
        .expect("fetch");
    (snapshot, server.handle().stats())
}

/// Removes `leavers` from `org`, fetches again through `cache` and checks the admitted members
/// against the simulator's ground truth; the fetch's counts.
async fn leave_and_refetch(
    server: &GithubServer,
    cache: &Arc<dyn HttpCache>,
    org: &str,
    leavers: Vec<String>,
) -> Stats {
    for login in leavers {
        server
            .mutate(orgsync_simulator::github::Mutation::RemoveMember {
                org: org.to_owned(),
                login,
            })
            .await
            .expect("mutation");
    }
    let (after, stats) = auto_fetch(server, cache).await;
    assert_eq!(
        admitted(&after, &FetchPolicy::default()),
        server
            .scenario()
            .expected_admitted(&FetchPolicy::default())
            .expect("truth")
    );
    stats
}

#[tokio::test]
async fn the_cost_model_fills_the_rest_cache_once_then_probes_for_a_point() {
    let server = start_unmetered(scenario()).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let fetch = || auto_fetch(&server, &cache);
    // Cold: the lists together cost a few REST pages (under a tenth of an hour's budget), so
    // after the probe round they are read on REST once, to be free while unchanged.
    let (cold, stats) = fetch().await;
    assert!(stats.requests(TEAM_MEMBERS) > 0);
    assert!(stats.points >= 1);
    // Unchanged: one probe point for the team lists, every REST page a free 304 (nothing
    // changed, so the collaborator lists are not probed).
    let (warm, stats) = fetch().await;
    assert_eq!(warm.teams, cold.teams);
    assert_eq!(stats.points, 1, "{stats:?}");
    let lists = &stats.routes[TEAM_MEMBERS];
    assert_eq!(lists.not_modified, lists.requests);
}

#[tokio::test]
async fn enterprise_server_is_read_through_api_graphql() {
    let server = start_unmetered(scenario()).await;
    let policy = FetchPolicy::default();
    let rest = provider_with(
        &server,
        &server.ghes_base_url(),
        server.token(),
        Arc::new(MemoryCache::default()),
    )
    .with_graphql(GraphqlUse::Never)
    .fetch(&policy)
    .await
    .expect("REST fetch");
    server.handle().reset_stats();
    let graphql = provider_with(
        &server,
        &server.ghes_base_url(),
        server.token(),
        Arc::new(MemoryCache::default()),
    )
    .with_graphql(GraphqlUse::Always)
    .fetch(&policy)
    .await
    .expect("GraphQL fetch on Enterprise Server");
    assert_eq!(graphql.teams, rest.teams);
    // The simulator counts `/api/graphql` under `POST /graphql`; `/api/v3/graphql` would be a
    // 404 and fail the fetch.
    assert!(server.handle().stats().requests("POST /graphql") > 0);
}

const COLLABORATORS: &str = "GET /repos/{owner}/{repo}/collaborators";

#[tokio::test]
async fn after_a_change_the_changed_lists_are_read_through_graphql_not_charged_on_rest() {
    let server = start_unmetered(scenario()).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let fetch = || auto_fetch(&server, &cache);
    let (_, cold) = fetch().await;
    assert!(
        cold.requests(COLLABORATORS) > 0,
        "the decision reads collaborator lists"
    );
    let _ = fetch().await;
    // Members who leave are on many lists (their teams', and every collaborator list their
    // teams grant): REST would charge every page from them on.
    let world = server.scenario();
    let org = &world.github.as_ref().expect("github").orgs[0];
    let leavers: Vec<String> = org.teams[1]
        .members
        .iter()
        .take(3)
        .filter_map(|m| world.github.as_ref()?.user(m.user).map(|u| u.login.clone()))
        .collect();
    let stats = leave_and_refetch(&server, &cache, &org.login, leavers).await;
    let charged = |route: &str| {
        stats
            .routes
            .get(route)
            .map_or(0, |r| r.requests - r.not_modified)
    };
    assert_eq!(charged(COLLABORATORS), 0, "{stats:?}");
    assert!(stats.points > 1, "{stats:?}");
}

/// After a change that leaves few members undecided, a changed collaborator list is settled by
/// one `collaborators(login:)` check per undecided member, not read on page by page. The world:
/// every team reads one private repository, so its collaborator list holds every team member
/// (many pages) while only the members in no team are undecided there. Three of its readers
/// leave; reading the changed list on would cost a GraphQL round per remaining page.
#[tokio::test]
async fn few_undecided_members_are_checked_one_by_one_not_by_reading_long_lists() {
    let mut world = scenario();
    let org = world
        .github
        .as_mut()
        .and_then(|g| g.orgs.first_mut())
        .expect("an organisation");
    let repo = org
        .repos
        .iter()
        .find(|r| r.visibility == orgsync_core::Visibility::Private && !r.archived)
        .map(|r| r.name.clone())
        .expect("a private repository");
    for team in &mut org.teams {
        team.repos.retain(|g| g.repo != repo);
        team.repos.push(orgsync_simulator::scenario::TeamGrant {
            repo: repo.clone(),
            permission: orgsync_core::Permission::Read,
        });
    }
    let readers: std::collections::BTreeSet<u64> = org
        .teams
        .iter()
        .flat_map(|t| t.members.iter().map(|m| m.user))
        .collect();
    let org_login = org.login.clone();
    let server = start_unmetered(world).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let fetch = || auto_fetch(&server, &cache);
    let (cold, _) = fetch().await;
    let _ = fetch().await;
    let leavers: Vec<String> = cold
        .members
        .iter()
        .filter(|m| !m.is_owner && m.id.parse().is_ok_and(|id: u64| readers.contains(&id)))
        .take(3)
        .map(|m| m.login.clone())
        .collect();
    let stats = leave_and_refetch(&server, &cache, &org_login, leavers).await;
    // Reading the changed list on from its second page: a round (a point at least) per page.
    let read_on = (readers.len() as u64 - 3).div_ceil(100) - 1;
    assert!(read_on >= 5, "the list is long: {read_on} pages to read on");
    assert!(
        stats.points < read_on,
        "{} points for the whole re-sync, where reading the list on alone costs {read_on}: {stats:?}",
        stats.points
    );
}

//! Request counts of a fetch of a generated tree of 1,500 members, 400 projects and 60
//! subgroups: cold, and a no-change re-fetch with a shared conditional-request cache, where
//! GitLab answers `304` to every request. Run with `--nocapture` to see the figures.

mod support;

use orgsync_core::cache::{HttpCache, MemoryCache};
use orgsync_core::{FetchPolicy, Provider};
use orgsync_gitlab::GitlabProvider;
use orgsync_simulator::gitlab::GitlabMutation;
use orgsync_simulator::gitlab::synthetic::{GitlabSize, SYNTHETIC_GROUP, SYNTHETIC_GROUP_ID};
use orgsync_simulator::scenario::Scenario;
use std::sync::Arc;
use support::*;

fn size() -> GitlabSize {
    GitlabSize {
        members: 1_500,
        projects: 400,
        subgroups: 60,
    }
}

#[tokio::test]
async fn cold_and_no_change_fetches_of_a_large_tree() {
    let scenario = Scenario::synthetic_gitlab(42, size());
    let server = start(scenario.clone()).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let provider: GitlabProvider = provider_with(
        &server,
        SYNTHETIC_GROUP,
        server.token(),
        Some(Arc::clone(&cache)),
    );
    let policy = FetchPolicy::default();

    let cold = provider.fetch(&policy).await.expect("cold fetch");
    let cold_stats = server.handle().stats();
    assert_eq!(
        admitted(&cold, &policy),
        scenario
            .gitlab_expected_admitted(SYNTHETIC_GROUP, &policy)
            .expect("truth")
    );
    server.handle().reset_stats();
    let used_before = server.handle().budget(server.token()).expect("budget").used;

    let warm = provider.fetch(&policy).await.expect("no-change fetch");
    let warm_stats = server.handle().stats();
    let used_after = server.handle().budget(server.token()).expect("budget").used;

    let mut a = cold.clone();
    let mut b = warm.clone();
    a.requests = Default::default();
    b.requests = Default::default();
    assert_eq!(
        a, b,
        "an unchanged tree gives the same snapshot from the cache"
    );
    assert_eq!(
        cold.requests.total, cold_stats.total,
        "the client counts what the server saw"
    );
    assert_eq!(
        warm.requests.total, warm.requests.not_modified,
        "every no-change request is a 304"
    );
    assert_eq!(used_after, used_before, "304s consumed no quota");

    let undecided = cold
        .members
        .iter()
        .filter(|m| matches!(m.access, orgsync_core::AccessVerdict::CannotRead { .. }))
        .count();
    println!(
        "GitLab 1,500 members / 400 projects / 60 subgroups (teams full, default policy):\n\
         cold:      {} requests ({} quota-consuming, {} x 304); members/all pages {}, projects pages {}, \
         descendant_groups {}, subgroup members {}, project checks {} ({} members found unable to read a project)\n\
         no change: {} requests ({} quota-consuming, {} x 304)",
        cold.requests.total,
        cold.requests.total - cold.requests.not_modified,
        cold.requests.not_modified,
        cold_stats.requests("GET /groups/{id}/members/all"),
        cold_stats.requests("GET /groups/{id}/projects"),
        cold_stats.requests("GET /groups/{id}/descendant_groups"),
        cold_stats.requests("GET /groups/{id}/members"),
        cold_stats.requests("GET /projects/{id}/members/all"),
        undecided,
        warm.requests.total,
        warm.requests.total - warm.requests.not_modified,
        warm.requests.not_modified,
    );
    let _ = warm_stats;
}

#[tokio::test]
async fn request_counts_per_policy_for_the_large_tree() {
    use orgsync_core::{AdmitRule, TeamsMode};
    let scenario = Scenario::synthetic_gitlab(42, size());
    let server = start(scenario.clone()).await;
    let variants = [
        ("default (teams full)", FetchPolicy::default()),
        (
            "teams off",
            FetchPolicy {
                teams: TeamsMode::Off,
                ..FetchPolicy::default()
            },
        ),
        (
            "planner floor (15)",
            FetchPolicy {
                min_access_level: 15,
                ..FetchPolicy::default()
            },
        ),
        (
            "shared projects included",
            FetchPolicy {
                include_shared_projects: true,
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
    ];
    for (name, policy) in variants {
        let provider = provider(&server, SYNTHETIC_GROUP);
        server.handle().reset_stats();
        let snapshot = provider.fetch(&policy).await.expect("fetch");
        assert_eq!(
            admitted(&snapshot, &policy),
            scenario
                .gitlab_expected_admitted(SYNTHETIC_GROUP, &policy)
                .expect("truth"),
            "{name}"
        );
        let stats = server.handle().stats();
        println!(
            "{name:<26} cold {:>4} requests, of which project checks {:>3}, admitted {}",
            snapshot.requests.total,
            stats.requests("GET /projects/{id}/members/all"),
            admitted(&snapshot, &policy).len()
        );
    }
}

#[tokio::test]
async fn a_change_after_a_cached_fetch_is_seen_by_the_next_fetch() {
    let scenario = Scenario::synthetic_gitlab(
        8,
        GitlabSize {
            members: 120,
            projects: 30,
            subgroups: 6,
        },
    );
    let server = start(scenario).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let provider = provider_with(&server, SYNTHETIC_GROUP, server.token(), Some(cache));
    let policy = FetchPolicy::default();
    let before = provider.fetch(&policy).await.expect("fetch");
    assert!(before.members.iter().any(|m| m.id == "10001"));
    server
        .mutate(GitlabMutation::RemoveGroupMember {
            group: SYNTHETIC_GROUP_ID,
            user: 10_001,
        })
        .await
        .expect("mutation");
    let after = provider.fetch(&policy).await.expect("fetch");
    assert!(
        after.members.iter().all(|m| m.id != "10001"),
        "the cache did not hide the change"
    );
    assert!(
        after.requests.not_modified > 0,
        "unchanged lists still answer 304"
    );
    assert_eq!(
        admitted(&after, &policy),
        server
            .scenario()
            .gitlab_expected_admitted(SYNTHETIC_GROUP, &policy)
            .expect("truth")
    );
}

//! The admitted set computed from the provider's snapshot equals the simulator's brute-force
//! ground truth, on the hand-written edge cases and on generated organisations of several sizes
//! and seeds, under both admission rules, scope and member exclusions; teams match too.

mod common;

use common::*;
use orgsync_core::{AccessVerdict, AdmitRule, FetchPolicy, Provider, TeamsMode};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::truth::effective_permission;

/// Fetches under every policy and compares with the truth; also checks that every
/// `CannotRead` names an in-scope repository the member really cannot read.
async fn assert_matches_truth(scenario: Scenario) {
    let server = start_unmetered(scenario).await;
    let provider = provider(&server);
    let world = server.scenario();
    let github = world.github.as_ref().expect("github");
    let org = github.orgs.first().expect("org");
    for (name, policy) in policies() {
        let snapshot = provider.fetch(&policy).await.expect("fetch succeeds");
        let expected = world.expected_admitted(&policy).expect("truth");
        assert_eq!(admitted(&snapshot, &policy), expected, "policy: {name}");
        for m in &snapshot.members {
            if let AccessVerdict::CannotRead { repository } = &m.access {
                let repo = org
                    .repos
                    .iter()
                    .find(|r| &r.name == repository)
                    .expect("the verdict names a repository of the org");
                let user: u64 = m.id.parse().expect("numeric id");
                assert!(
                    !effective_permission(org, user, repo).can_read(),
                    "{} was said not to read {repository}, but can ({name})",
                    m.login
                );
            }
            if policy.admit == AdmitRule::AllMembers {
                assert_eq!(m.access, AccessVerdict::NotEvaluated, "{name}");
            }
        }
    }
}

#[tokio::test]
async fn edge_cases_match_ground_truth_under_every_policy() {
    assert_matches_truth(edge()).await;
}

#[tokio::test]
async fn small_synthetic_orgs_match_ground_truth() {
    for seed in [1, 2, 3] {
        assert_matches_truth(Scenario::synthetic(
            seed,
            SyntheticSize {
                members: 40,
                repos: 25,
                teams: 6,
            },
        ))
        .await;
    }
}

#[tokio::test]
async fn medium_synthetic_orgs_match_ground_truth() {
    for (seed, members, repos, teams) in [(11, 250, 90, 20), (12, 400, 120, 30)] {
        assert_matches_truth(Scenario::synthetic(
            seed,
            SyntheticSize {
                members,
                repos,
                teams,
            },
        ))
        .await;
    }
}

#[tokio::test]
async fn synthetic_org_with_read_base_permission_needs_no_collaborator_list() {
    let mut scenario = Scenario::synthetic(
        21,
        SyntheticSize {
            members: 120,
            repos: 60,
            teams: 10,
        },
    );
    if let Some(g) = scenario.github.as_mut() {
        g.orgs[0].default_repository_permission = orgsync_core::Permission::Read;
    }
    let server = start_unmetered(scenario).await;
    let policy = FetchPolicy {
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    assert_eq!(
        admitted(&snapshot, &policy),
        server.scenario().expected_admitted(&policy).expect("truth")
    );
    let stats = server.handle().stats();
    assert_eq!(stats.requests("GET /repos/{owner}/{repo}/collaborators"), 0);
    assert_eq!(stats.requests("GET /orgs/{org}/teams"), 0);
}

#[tokio::test]
async fn teams_match_ground_truth_with_members_roles_and_inherited_repositories() {
    for scenario in [
        edge(),
        Scenario::synthetic(
            5,
            SyntheticSize {
                members: 150,
                repos: 50,
                teams: 15,
            },
        ),
    ] {
        let server = start_unmetered(scenario).await;
        // Under all-members every active member's account is looked up, so suspended accounts
        // are known and team membership can be compared exactly.
        let policy = FetchPolicy {
            admit: AdmitRule::AllMembers,
            ..FetchPolicy::default()
        };
        let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
        assert_eq!(team_view(&snapshot), expected_team_view(&server.scenario()));
        let teams = snapshot.teams.as_ref().expect("teams");
        let expected = server.scenario().expected_teams().expect("teams");
        for t in teams {
            assert_eq!(t.parent, expected[&t.slug].parent, "parent of {}", t.slug);
            assert_eq!(t.id, expected[&t.slug].id);
        }
    }
}

#[tokio::test]
async fn teams_without_repositories_lists_members_only_and_off_lists_nothing() {
    let server = start(edge()).await;
    let policy = FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::WithoutRepositories,
        ..FetchPolicy::default()
    };
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    let teams = snapshot.teams.as_ref().expect("teams");
    assert!(!teams.is_empty());
    assert!(teams.iter().all(|t| t.repositories.is_empty()));
    assert!(teams.iter().any(|t| !t.members.is_empty()));
    assert_eq!(
        server
            .handle()
            .stats()
            .requests("GET /orgs/{org}/teams/{team_slug}/repos"),
        0
    );

    let off = FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    server.handle().reset_stats();
    let snapshot = provider(&server).fetch(&off).await.expect("fetch");
    assert!(snapshot.teams.is_none());
    assert_eq!(server.handle().stats().requests("GET /orgs/{org}/teams"), 0);
}

#[tokio::test]
async fn snapshot_lists_every_repository_and_marks_owners_and_bots() {
    let server = start(edge()).await;
    let snapshot = provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect("fetch");
    let world = server.scenario();
    let org = &world.github.as_ref().expect("github").orgs[0];
    let mut names: Vec<_> = snapshot
        .repositories
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let mut expected: Vec<_> = org.repos.iter().map(|r| r.name.clone()).collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    let alice = snapshot
        .members
        .iter()
        .find(|m| m.login == "alice")
        .expect("alice");
    assert!(alice.is_owner);
    assert_eq!(alice.role, "admin");
    let bot = snapshot
        .members
        .iter()
        .find(|m| m.login == "renovate-bot")
        .expect("bot");
    assert!(bot.bot);
    // Pending invitees and outside collaborators are not members.
    assert!(
        !snapshot
            .members
            .iter()
            .any(|m| m.login == "dave" || m.login == "frank")
    );
    assert_eq!(snapshot.account.login, "acme");
    assert_eq!(
        snapshot.account.base_permission,
        orgsync_core::Permission::None
    );
}

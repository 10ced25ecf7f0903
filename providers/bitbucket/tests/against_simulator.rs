//! The provider against the simulated Bitbucket: the admitted set equals the brute-force ground
//! truth for both rules and with exclusions, on the hand-written edge cases and on generated
//! workspaces of several sizes and seeds (both ways of reading effective permissions); teams
//! match; an unavailable 1.0 groups API leaves members syncing.

mod support;

use orgsync_core::{AccessVerdict, AdmitRule, Provider, TeamsMode};
use orgsync_simulator::bitbucket::synthetic::BitbucketSize;
use orgsync_simulator::bitbucket::truth::{expected_admitted, expected_teams};
use orgsync_simulator::scenario::{GroupsApi, Scenario};
use support::*;

type Case = (
    AdmitRule,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    (AdmitRule::AllRepositories, false, &[], &[]),
    (AdmitRule::AllRepositories, true, &[], &[]),
    (
        AdmitRule::AllRepositories,
        true,
        &["sec-*", "repo-000*"],
        &["*-bot"],
    ),
    (AdmitRule::AllRepositories, false, &[], &["*-bot", "user1*"]),
    (AdmitRule::AllMembers, false, &[], &[]),
    (AdmitRule::AllMembers, false, &[], &["*-bot"]),
];

async fn admitted_matches_truth(scenario: Scenario) {
    let server = start(scenario).await;
    let provider = provider(&server);
    let world = server.scenario().bitbucket.expect("bitbucket world");
    for (admit, forks, repos, members) in CASES {
        let p = policy(*admit, *forks, repos, members);
        let snapshot = provider.fetch(&p).await.expect("fetch succeeds");
        let want = expected_admitted(&world, WORKSPACE, &p).expect("truth");
        assert_eq!(
            admitted(&snapshot, &p),
            want,
            "admit={admit:?} exclude_forks={forks} repos={repos:?} members={members:?}"
        );
    }
}

#[tokio::test]
async fn edge_cases_admit_exactly_the_ground_truth() {
    admitted_matches_truth(edge()).await;
}

#[tokio::test]
async fn small_generated_workspaces_admit_exactly_the_ground_truth() {
    for seed in [1, 2, 3] {
        let size = BitbucketSize {
            members: 25 + 10 * seed as usize,
            repos: 8 + 3 * seed as usize,
            groups: 4,
        };
        admitted_matches_truth(Scenario::synthetic_bitbucket(seed, size)).await;
    }
}

#[tokio::test]
async fn large_generated_workspace_admits_exactly_the_ground_truth() {
    let size = BitbucketSize {
        members: 400,
        repos: 120,
        groups: 10,
    };
    admitted_matches_truth(Scenario::synthetic_bitbucket(11, size)).await;
}

/// Many members and a narrow scope: the workspace-wide list (all repositories) would cost more
/// than reading the two in-scope repositories one by one, so the provider does that.
#[tokio::test]
async fn repository_by_repository_checks_admit_exactly_the_ground_truth() {
    let size = BitbucketSize {
        members: 500,
        repos: 12,
        groups: 3,
    };
    let server = start(Scenario::synthetic_bitbucket(5, size)).await;
    let provider = provider(&server);
    let world = server.scenario().bitbucket.expect("world");
    for members in [&[][..], &["*-bot", "user2*"][..]] {
        let p = policy(
            AdmitRule::AllRepositories,
            false,
            &["repo-000[2-9]", "repo-001*"],
            members,
        );
        server.handle().reset_stats();
        let snapshot = provider.fetch(&p).await.expect("fetch");
        let stats = server.handle().stats();
        let per_repo = stats
            .routes
            .get("GET /2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}")
            .map_or(0, |r| r.requests);
        assert!(per_repo > 0, "expected per-repository checks: {stats:?}");
        assert_eq!(
            admitted(&snapshot, &p),
            expected_admitted(&world, WORKSPACE, &p).expect("truth")
        );
    }
}

#[tokio::test]
async fn verdicts_name_the_first_repository_a_member_cannot_read() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let snapshot = provider
        .fetch(&policy(AdmitRule::AllRepositories, false, &[], &[]))
        .await
        .expect("fetch");
    let by_login = |login: &str| {
        snapshot
            .members
            .iter()
            .find(|m| m.login == login)
            .expect("member")
    };
    assert!(by_login("olga").is_owner);
    assert_eq!(by_login("olga").role, "owner");
    assert_eq!(by_login("dave").role, "collaborator");
    assert_eq!(
        by_login("bob").access,
        AccessVerdict::CannotRead {
            repository: "sec-vault".into()
        }
    );
    assert_eq!(
        by_login("dave").access,
        AccessVerdict::CannotRead {
            repository: "app-web".into()
        }
    );
    assert_eq!(by_login("alice").access, AccessVerdict::ReadsAll);
    // Keyed by uuid, never by nickname.
    assert_eq!(
        by_login("alice").id,
        "{00000000-0000-4000-8000-000000000002}"
    );
    let fork = snapshot
        .repositories
        .iter()
        .find(|r| r.name == "app-api-fork")
        .expect("fork listed");
    assert!(fork.fork);
}

#[tokio::test]
async fn teams_match_the_ground_truth_in_every_mode() {
    for (seed, scenario) in [
        (0, edge()),
        (
            7,
            Scenario::synthetic_bitbucket(
                7,
                BitbucketSize {
                    members: 80,
                    repos: 45,
                    groups: 6,
                },
            ),
        ),
    ] {
        let server = start(scenario).await;
        let provider = provider(&server);
        let world = server.scenario().bitbucket.expect("world");
        let want = expected_teams(&world, WORKSPACE).expect("truth");

        let mut p = policy(AdmitRule::AllRepositories, false, &[], &[]);
        p.teams = TeamsMode::Full;
        let full = provider.fetch(&p).await.expect("fetch");
        assert_eq!(
            teams_as_expected(full.teams.as_deref().expect("teams")),
            want,
            "seed {seed}"
        );
        assert_eq!(full.teams_unavailable, None);

        p.teams = TeamsMode::WithoutRepositories;
        let members_only = provider.fetch(&p).await.expect("fetch");
        let teams = members_only.teams.expect("teams");
        assert_eq!(teams.len(), want.len());
        assert!(teams.iter().all(|t| t.repositories.is_empty()));
        for t in &teams {
            let expected: Vec<&String> = want[&t.slug].members.iter().collect();
            let got: Vec<&String> = t.members.iter().map(|m| &m.member_id).collect();
            assert_eq!(got, expected, "members of {}", t.slug);
        }

        p.teams = TeamsMode::Off;
        let off = provider.fetch(&p).await.expect("fetch");
        assert_eq!(off.teams, None);
        assert_eq!(off.teams_unavailable, None);
        let groups_calls = server
            .handle()
            .stats()
            .routes
            .get("GET /1.0/groups/{workspace}")
            .map_or(0, |r| r.requests);
        assert_eq!(groups_calls, 2, "teams off reads no groups");
    }
}

#[tokio::test]
async fn gone_groups_api_leaves_teams_unknown_and_members_syncing() {
    for state in [GroupsApi::Gone, GroupsApi::NotFound] {
        let server = start(edge()).await;
        server.set_groups_api(state);
        let provider = provider(&server);
        let mut p = policy(AdmitRule::AllRepositories, false, &[], &[]);
        p.teams = TeamsMode::Full;
        let snapshot = provider.fetch(&p).await.expect("members still sync");
        assert_eq!(snapshot.teams, None);
        let reason = snapshot.teams_unavailable.clone().expect("a reason");
        let code = if state == GroupsApi::Gone {
            "410"
        } else {
            "404"
        };
        assert!(reason.contains(code), "{reason}");
        let world = server.scenario().bitbucket.expect("world");
        assert_eq!(
            admitted(&snapshot, &p),
            expected_admitted(&world, WORKSPACE, &p).expect("truth")
        );
    }
}

#[tokio::test]
async fn all_members_rule_reads_no_permissions() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let mut p = policy(AdmitRule::AllMembers, false, &[], &[]);
    p.teams = TeamsMode::Off;
    let snapshot = provider.fetch(&p).await.expect("fetch");
    assert!(
        snapshot
            .members
            .iter()
            .all(|m| m.access == AccessVerdict::NotEvaluated)
    );
    let stats = server.handle().stats();
    assert!(
        stats
            .routes
            .keys()
            .all(|k| !k.contains("permissions/repositories")),
        "{stats:?}"
    );
    assert_eq!(
        snapshot.requests.total, 6,
        "workspace, members, roles, repositories bracketed by their size read twice"
    );
}

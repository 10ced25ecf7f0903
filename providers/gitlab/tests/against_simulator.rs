//! The provider's snapshot against the simulator's brute-force ground truth: admitted sets for
//! both admission rules, floors, scopes, exclusions, bots and shared projects, on the
//! hand-written edge cases and on generated trees of several sizes and seeds; teams too.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync_core::policy::MemberExclusions;
use orgsync_core::{
    AccessVerdict, AdmitRule, FetchPolicy, MemberState, Permission, RepositoryScope, Snapshot,
    TeamRole, TeamsMode,
};
use orgsync_simulator::gitlab::synthetic::{GitlabSize, SYNTHETIC_GROUP};
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::truth::ExpectedTeam;
use std::collections::BTreeMap;
use support::*;

fn policies() -> Vec<(&'static str, FetchPolicy)> {
    let no_sandbox =
        || RepositoryScope::new(false, false, &["sandbox-*".to_string()]).expect("glob");
    vec![
        ("default", FetchPolicy::default()),
        (
            "without sandbox",
            FetchPolicy {
                scope: no_sandbox(),
                ..FetchPolicy::default()
            },
        ),
        (
            "planner floor, no archived",
            FetchPolicy {
                min_access_level: 15,
                scope: RepositoryScope::new(true, false, &["sandbox-*".to_string()]).expect("glob"),
                ..FetchPolicy::default()
            },
        ),
        (
            "bots and shared projects",
            FetchPolicy {
                include_bots: true,
                include_shared_projects: true,
                scope: no_sandbox(),
                ..FetchPolicy::default()
            },
        ),
        (
            "no forks, developer floor",
            FetchPolicy {
                min_access_level: 30,
                scope: RepositoryScope::new(false, true, &[]).expect("glob"),
                ..FetchPolicy::default()
            },
        ),
        (
            "all members with exclusions",
            FetchPolicy {
                admit: AdmitRule::AllMembers,
                exclude_members: MemberExclusions::new(&[
                    "bob".to_string(),
                    "user0001*".to_string(),
                ])
                .expect("globs"),
                ..FetchPolicy::default()
            },
        ),
        (
            "all repositories with exclusions",
            FetchPolicy {
                exclude_members: MemberExclusions::new(&[
                    "carol".to_string(),
                    "user00*".to_string(),
                ])
                .expect("globs"),
                ..FetchPolicy::default()
            },
        ),
    ]
}

fn teams_of(snapshot: &Snapshot) -> BTreeMap<String, ExpectedTeam> {
    snapshot
        .teams
        .as_ref()
        .expect("teams fetched")
        .iter()
        .map(|t| {
            (
                t.slug.clone(),
                ExpectedTeam {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    parent: t.parent.clone(),
                    members: t
                        .members
                        .iter()
                        .map(|m| (m.member_id.clone(), m.role))
                        .collect(),
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

/// Every `CannotRead` names an in-scope repository of the snapshot.
fn verdicts_name_in_scope_repositories(snapshot: &Snapshot, policy: &FetchPolicy) {
    for m in &snapshot.members {
        if let AccessVerdict::CannotRead { repository } = &m.access {
            let repo = snapshot
                .repositories
                .iter()
                .find(|r| &r.name == repository)
                .unwrap_or_else(|| panic!("{} cannot read unknown {repository}", m.login));
            assert!(policy.scope.includes(repo), "{repository} is out of scope");
        }
    }
}

async fn compare(scenario: Scenario, group: &str, label: &str) {
    let server = start(scenario.clone()).await;
    let provider = provider(&server, group);
    for (name, policy) in policies() {
        let snapshot = orgsync_core::Provider::fetch(&provider, &policy)
            .await
            .unwrap_or_else(|e| panic!("{label} / {name}: fetch failed: {e}"));
        let expected = scenario
            .gitlab_expected_admitted(group, &policy)
            .expect("ground truth");
        assert_eq!(
            admitted(&snapshot, &policy),
            expected,
            "{label} / {name}: admitted set differs from the ground truth"
        );
        verdicts_name_in_scope_repositories(&snapshot, &policy);
        if policy.admit == AdmitRule::AllMembers {
            assert!(
                snapshot
                    .members
                    .iter()
                    .all(|m| m.access == AccessVerdict::NotEvaluated),
                "{label} / {name}: all-members needs no verdicts"
            );
        }
    }
    let snapshot = orgsync_core::Provider::fetch(&provider, &FetchPolicy::default())
        .await
        .expect("fetch");
    assert_eq!(
        teams_of(&snapshot),
        scenario.gitlab_expected_teams(group).expect("truth"),
        "{label}: teams differ from the ground truth"
    );
}

#[tokio::test]
async fn edge_cases_match_the_ground_truth_for_every_policy() {
    compare(edge(), "acme", "edge cases").await;
}

#[tokio::test]
async fn small_generated_trees_match_the_ground_truth() {
    for seed in [1, 2, 3] {
        let size = GitlabSize {
            members: 40,
            projects: 15,
            subgroups: 4,
        };
        compare(
            Scenario::synthetic_gitlab(seed, size),
            SYNTHETIC_GROUP,
            &format!("seed {seed} small"),
        )
        .await;
    }
}

#[tokio::test]
async fn medium_and_large_generated_trees_match_the_ground_truth() {
    for (seed, size) in [
        (
            11,
            GitlabSize {
                members: 150,
                projects: 50,
                subgroups: 12,
            },
        ),
        (
            12,
            GitlabSize {
                members: 420,
                projects: 120,
                subgroups: 25,
            },
        ),
    ] {
        compare(
            Scenario::synthetic_gitlab(seed, size),
            SYNTHETIC_GROUP,
            &format!("seed {seed}"),
        )
        .await;
    }
}

#[tokio::test]
async fn member_states_roles_and_bots_come_from_members_all() {
    let server = start(edge()).await;
    let snapshot =
        orgsync_core::Provider::fetch(&provider(&server, "acme"), &FetchPolicy::default())
            .await
            .expect("fetch");
    let by_login = |login: &str| {
        snapshot
            .members
            .iter()
            .find(|m| m.login == login)
            .unwrap_or_else(|| panic!("{login} is listed"))
    };
    assert_eq!(by_login("hank").state, MemberState::Blocked);
    assert_eq!(by_login("ivan").state, MemberState::Deactivated);
    assert_eq!(by_login("judy").state, MemberState::Awaiting);
    assert!(by_login("group_1_bot_abc123").bot);
    assert!(by_login("alice").is_owner && by_login("alice").role == "owner");
    assert_eq!(by_login("frank").role, "planner");
    assert_eq!(by_login("gina").role, "minimal_access");
    assert_eq!(by_login("leo").role, "reporter", "invited at Reporter");
    assert_eq!(by_login("mia").role, "guest", "capped at the share's Guest");
    assert_eq!(
        by_login("dave").access,
        AccessVerdict::CannotRead {
            repository: "infra".to_string()
        },
        "the top of the tree is checked first"
    );
    assert_eq!(by_login("hank").access, AccessVerdict::NotEvaluated);
    assert!(
        snapshot.members.iter().all(|m| m.login != "kim"),
        "expired memberships are gone"
    );
    assert!(
        snapshot.members.iter().all(|m| m.login != "nina"),
        "subgroup-only users are not members"
    );
    let names: Vec<&str> = snapshot
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    for expected in [
        "handbook",
        "backend/service",
        "backend/api/gateway",
        "web/old-site",
        "sandbox-x",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(
        !names.contains(&"outside/shared-lib"),
        "shared projects only when asked"
    );
    assert_eq!(snapshot.account.login, "acme");
}

#[tokio::test]
async fn a_numeric_group_id_and_teams_modes_work() {
    let server = start(edge()).await;
    let provider = provider(&server, "1");
    let without = orgsync_core::Provider::fetch(
        &provider,
        &FetchPolicy {
            teams: TeamsMode::WithoutRepositories,
            ..FetchPolicy::default()
        },
    )
    .await
    .expect("fetch");
    let teams = without.teams.expect("teams");
    assert!(teams.iter().all(|t| t.repositories.is_empty()));
    let backend = teams.iter().find(|t| t.slug == "backend").expect("backend");
    assert!(
        backend
            .members
            .iter()
            .any(|m| m.member_id == "2" && m.role == TeamRole::Maintainer)
    );
    let off = orgsync_core::Provider::fetch(
        &provider,
        &FetchPolicy {
            teams: TeamsMode::Off,
            ..FetchPolicy::default()
        },
    )
    .await
    .expect("fetch");
    assert!(off.teams.is_none());
    assert!(
        off.requests.total < without.requests.total,
        "teams off skips the team requests"
    );
    let full = orgsync_core::Provider::fetch(&provider, &FetchPolicy::default())
        .await
        .expect("fetch");
    let api = full
        .teams
        .expect("teams")
        .into_iter()
        .find(|t| t.slug == "backend/api")
        .expect("api");
    assert_eq!(api.parent.as_deref(), Some("backend"));
    assert_eq!(api.repositories.len(), 1);
    assert_eq!(api.repositories[0].permission, Permission::Read);
}

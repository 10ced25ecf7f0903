//! Ground truth on the hand-written edge-case scenario, against expectations computed by hand
//! (see the scenario file's description).

use orgsync_core::policy::MemberExclusions;
use orgsync_core::{AdmitRule, FetchPolicy, Permission, RepositoryScope, TeamRole};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use std::collections::BTreeSet;

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/github-edge-cases.toml"
    ))
    .expect("edge-case scenario loads")
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn only_the_owner_reads_repositories_nobody_was_granted() {
    // `old` and `sandbox-x` have no grants at all: only the owner reads them.
    let admitted = edge()
        .expected_admitted(&FetchPolicy::default())
        .expect("github org");
    assert_eq!(admitted, ids(&["1"]));
}

#[test]
fn scope_exclusions_admit_inherited_team_access_plus_direct_grants() {
    let policy = FetchPolicy {
        scope: RepositoryScope::new(true, false, &["sandbox-*".to_string()]).expect("globs"),
        ..FetchPolicy::default()
    };
    // In scope: api, web, secret, handbook (public). gina: api+web through the parent team of
    // backend, secret directly, handbook as public. The bot: api+web via engineering, secret
    // read directly. bob lacks secret; carol has only web; erin is suspended; dave pending;
    // frank is an outside collaborator.
    let admitted = edge().expected_admitted(&policy).expect("github org");
    assert_eq!(admitted, ids(&["1", "7", "8"]));
}

#[test]
fn excluded_logins_are_never_admitted() {
    let policy = FetchPolicy {
        scope: RepositoryScope::new(true, false, &["sandbox-*".to_string()]).expect("globs"),
        exclude_members: MemberExclusions::new(&["renovate-*".to_string()]).expect("globs"),
        ..FetchPolicy::default()
    };
    assert_eq!(
        edge().expected_admitted(&policy).expect("org"),
        ids(&["1", "8"])
    );
}

#[test]
fn all_members_rule_admits_every_active_unsuspended_member() {
    let policy = FetchPolicy {
        admit: AdmitRule::AllMembers,
        ..FetchPolicy::default()
    };
    assert_eq!(
        edge().expected_admitted(&policy).expect("org"),
        ids(&["1", "2", "3", "7", "8"])
    );
}

#[test]
fn base_read_permission_gives_every_member_everything() {
    let mut scenario = edge();
    let github = scenario.github.as_mut().expect("github");
    github.orgs[0].default_repository_permission = Permission::Read;
    assert_eq!(
        scenario
            .expected_admitted(&FetchPolicy::default())
            .expect("org"),
        ids(&["1", "2", "3", "7", "8"])
    );
}

#[test]
fn teams_include_child_members_and_inherit_parent_repositories() {
    let teams = edge().expected_teams().expect("org");
    let engineering = &teams["engineering"];
    // erin (5) is suspended; bob and gina come from the child team `backend`, as members.
    let members: Vec<(&str, TeamRole)> = engineering
        .members
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        members,
        vec![
            ("2", TeamRole::Member),
            ("7", TeamRole::Member),
            ("8", TeamRole::Member)
        ]
    );
    let backend = &teams["backend"];
    assert_eq!(backend.members.get("2"), Some(&TeamRole::Maintainer));
    assert_eq!(backend.parent.as_deref(), Some("engineering"));
    assert_eq!(backend.repositories.get("api"), Some(&Permission::Read));
    assert_eq!(backend.repositories.get("web"), Some(&Permission::Write));
    assert_eq!(teams["docs"].repositories.len(), 1);
}

#[test]
fn synthetic_scenarios_are_deterministic_valid_and_skewed() {
    let size = SyntheticSize {
        members: 300,
        repos: 60,
        teams: 12,
    };
    let a = Scenario::synthetic(42, size);
    let b = Scenario::synthetic(42, size);
    assert_eq!(a, b);
    assert_ne!(a, Scenario::synthetic(43, size));
    a.validate().expect("generated scenarios are consistent");
    let admitted = a.expected_admitted(&FetchPolicy::default()).expect("org");
    let all = a
        .expected_admitted(&FetchPolicy {
            admit: AdmitRule::AllMembers,
            ..FetchPolicy::default()
        })
        .expect("org");
    // Owners and the all-readers team read everything; most members do not.
    assert!(admitted.len() >= 9, "admitted {}", admitted.len());
    assert!(
        admitted.len() < all.len() / 2,
        "admitted {} of {}",
        admitted.len(),
        all.len()
    );
    let github = a.github.as_ref().expect("github");
    assert!(github.orgs[0].teams.iter().any(|t| t.parent.is_some()));
    assert!(github.users.iter().any(|u| u.suspended));
    assert!(!github.orgs[0].outside_collaborators.is_empty());
}

#[test]
fn tiny_and_empty_synthetic_sizes_work() {
    for (m, r, t) in [(0, 0, 0), (1, 0, 0), (0, 3, 2), (2, 1, 1)] {
        let s = Scenario::synthetic(
            1,
            SyntheticSize {
                members: m,
                repos: r,
                teams: t,
            },
        );
        s.validate().expect("valid");
    }
}

#[test]
fn scenarios_round_trip_through_json_and_toml() {
    let scenario = Scenario::synthetic(
        9,
        SyntheticSize {
            members: 60,
            repos: 12,
            teams: 5,
        },
    );
    let json = serde_json::to_string(&scenario).expect("to json");
    assert_eq!(Scenario::from_json(&json).expect("from json"), scenario);
    let toml = toml::to_string(&scenario).expect("to toml");
    assert_eq!(Scenario::from_toml(&toml).expect("from toml"), scenario);
}

#[test]
fn broken_references_are_rejected_at_load_time() {
    let text = r#"
[github]
[[github.users]]
id = 1
login = "a"
[[github.orgs]]
id = 9
login = "o"
members = [{ user = 2, role = "member" }]
"#;
    let error = Scenario::from_toml(text).expect_err("member 2 does not exist");
    assert!(
        error.to_string().contains("member 2 is not a user"),
        "{error}"
    );
}

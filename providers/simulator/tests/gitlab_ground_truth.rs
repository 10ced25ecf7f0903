//! GitLab ground truth on the hand-written edge-case scenario, against expectations computed by
//! hand (see the scenario file's description).

use orgsync_core::policy::MemberExclusions;
use orgsync_core::{AdmitRule, FetchPolicy, Permission, RepositoryScope, TeamRole};
use orgsync_simulator::gitlab::synthetic::{GitlabSize, SYNTHETIC_GROUP};
use orgsync_simulator::scenario::Scenario;
use std::collections::BTreeSet;

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/gitlab-edge-cases.toml"
    ))
    .expect("edge-case scenario loads")
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn without_sandbox() -> FetchPolicy {
    FetchPolicy {
        scope: RepositoryScope::new(false, false, &["sandbox-*".to_string()]).expect("globs"),
        ..FetchPolicy::default()
    }
}

#[test]
fn reporters_and_up_on_the_group_read_everything_and_guests_miss_a_project() {
    // alice, bob, carol, oscar (expires 2031) and leo (partners, capped at Reporter). dave only
    // has backend, erin lacks sandbox-x, frank is a Planner, gina Minimal access, mia a Guest
    // through contractors; hank blocked, ivan deactivated, judy awaiting, kim expired, the bot
    // excluded by default, nina not a member of acme.
    let admitted = edge()
        .gitlab_expected_admitted("acme", &FetchPolicy::default())
        .expect("gitlab group");
    assert_eq!(admitted, ids(&["1", "13", "16", "2", "3"]));
}

#[test]
fn project_memberships_admit_a_guest_who_reads_every_project_in_scope() {
    let admitted = edge()
        .gitlab_expected_admitted("acme", &without_sandbox())
        .expect("gitlab group");
    assert_eq!(admitted, ids(&["1", "13", "16", "2", "3", "5"]));
}

#[test]
fn lowering_the_floor_to_planner_admits_planners() {
    let policy = FetchPolicy {
        min_access_level: 15,
        ..without_sandbox()
    };
    let admitted = edge()
        .gitlab_expected_admitted("acme", &policy)
        .expect("group");
    assert_eq!(admitted, ids(&["1", "13", "16", "2", "3", "5", "6"]));
}

#[test]
fn bots_are_admitted_only_when_asked() {
    let policy = FetchPolicy {
        include_bots: true,
        ..without_sandbox()
    };
    let admitted = edge()
        .gitlab_expected_admitted("acme", &policy)
        .expect("group");
    assert_eq!(admitted, ids(&["1", "12", "13", "16", "2", "3", "5"]));
}

#[test]
fn shared_projects_count_only_when_included_and_invited_members_do_not_reach_them() {
    let policy = FetchPolicy {
        include_shared_projects: true,
        ..without_sandbox()
    };
    // shared-lib is shared with backend: its members with parents read it at min(30, level);
    // erin is a Guest there, leo is not a member of backend or acme directly.
    let admitted = edge()
        .gitlab_expected_admitted("acme", &policy)
        .expect("group");
    assert_eq!(admitted, ids(&["1", "16", "2", "3"]));
}

#[test]
fn all_members_rule_admits_active_approved_non_bot_members() {
    let policy = FetchPolicy {
        admit: AdmitRule::AllMembers,
        exclude_members: MemberExclusions::new(&["bob".to_string()]).expect("globs"),
        ..FetchPolicy::default()
    };
    let admitted = edge()
        .gitlab_expected_admitted("acme", &policy)
        .expect("group");
    assert_eq!(
        admitted,
        ids(&["1", "13", "14", "16", "3", "4", "5", "6", "7"])
    );
}

#[test]
fn subgroups_are_teams_with_direct_active_members_and_their_trees_projects() {
    let teams = edge().gitlab_expected_teams("acme").expect("group");
    assert_eq!(
        teams.keys().cloned().collect::<Vec<_>>(),
        vec!["backend", "backend/api", "web"]
    );
    let backend = &teams["backend"];
    assert_eq!(backend.parent, None);
    assert_eq!(
        backend
            .members
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![("2", TeamRole::Maintainer), ("4", TeamRole::Member)]
    );
    assert_eq!(
        backend
            .repositories
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![
            ("backend/api/gateway", Permission::Read),
            ("backend/service", Permission::Read)
        ]
    );
    assert_eq!(teams["backend/api"].parent.as_deref(), Some("backend"));
    // nina is in web but not in acme: not a workspace member.
    assert_eq!(
        teams["web"].members.keys().cloned().collect::<Vec<_>>(),
        vec!["1"]
    );
}

#[test]
fn synthetic_trees_are_valid_and_repeatable() {
    let size = GitlabSize {
        members: 120,
        projects: 40,
        subgroups: 9,
    };
    let a = Scenario::synthetic_gitlab(3, size);
    let b = Scenario::synthetic_gitlab(3, size);
    assert_eq!(a, b);
    a.validate().expect("valid");
    let admitted = a
        .gitlab_expected_admitted(SYNTHETIC_GROUP, &FetchPolicy::default())
        .expect("group");
    let everyone = a
        .gitlab_expected_admitted(
            SYNTHETIC_GROUP,
            &FetchPolicy {
                admit: AdmitRule::AllMembers,
                ..FetchPolicy::default()
            },
        )
        .expect("group");
    assert!(!admitted.is_empty() && admitted.len() < everyone.len());
}

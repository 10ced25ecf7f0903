//! GitLab semantics that decide who reads the code beyond access levels: custom roles that grant
//! `read_code` to a Guest, and external users, who read internal projects only through an
//! explicit membership. Compared with the simulator's ground truth, which computes them from
//! the world, not from the client.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync_core::{AccessVerdict, FetchPolicy, Provider, Snapshot};
use orgsync_simulator::scenario::{CustomRole, GitlabMember, GitlabUser, Scenario};
use support::*;

/// The private projects of the edge cases inside acme's tree.
const PRIVATE: [u64; 6] = [101, 102, 103, 104, 105, 108];
/// The internal project `intranet`.
const INTRANET: u64 = 106;

fn member(user: u64, access_level: u8) -> GitlabMember {
    GitlabMember {
        user,
        access_level,
        expires_at: None,
        state: Default::default(),
        member_role: None,
    }
}

fn user(id: u64, username: &str, external: bool) -> GitlabUser {
    GitlabUser {
        id,
        username: username.to_string(),
        name: None,
        email: None,
        state: Default::default(),
        bot: false,
        admin: false,
        external,
    }
}

/// Adds `user` to acme at `level` (with `role`), and as Reporter to each of `projects`.
fn add(scenario: &mut Scenario, user: GitlabUser, role: Option<&CustomRole>, projects: &[u64]) {
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    let id = user.id;
    gitlab.users.push(user);
    for g in &mut gitlab.groups {
        if g.id == 1 {
            g.members.push(GitlabMember {
                member_role: role.cloned(),
                ..member(id, 10)
            });
        }
    }
    for p in &mut gitlab.projects {
        if projects.contains(&p.id) {
            p.members.push(member(id, 20));
        }
    }
}

fn access(snapshot: &Snapshot, login: &str) -> AccessVerdict {
    snapshot
        .members
        .iter()
        .find(|m| m.login == login)
        .map(|m| m.access.clone())
        .unwrap_or_else(|| panic!("{login} is not listed"))
}

#[tokio::test]
async fn a_guest_whose_custom_role_grants_read_code_reads_the_code() {
    let mut scenario = edge();
    let reads = CustomRole {
        id: 7,
        name: "Guest + code".to_string(),
        read_code: true,
    };
    let other = CustomRole {
        id: 8,
        name: "Guest + vulnerabilities".to_string(),
        read_code: false,
    };
    add(&mut scenario, user(40, "rhea", false), Some(&reads), &[]);
    add(&mut scenario, user(41, "sam", false), Some(&other), &[]);
    let server = start(scenario.clone()).await;
    let policy = FetchPolicy::default();
    for token in [server.token().to_string(), "carol-read-api".to_string()] {
        let snapshot = provider_with(&server, "acme", &token, None)
            .fetch(&policy)
            .await
            .expect("fetch");
        assert_eq!(
            access(&snapshot, "rhea"),
            AccessVerdict::ReadsAll,
            "{token}"
        );
        assert!(
            matches!(access(&snapshot, "sam"), AccessVerdict::CannotRead { .. }),
            "{token}"
        );
        let admitted = admitted(&snapshot, &policy);
        assert!(admitted.contains("40"), "{token}");
        assert!(!admitted.contains("41"), "{token}");
    }
    let snapshot = provider(&server, "acme")
        .fetch(&policy)
        .await
        .expect("fetch");
    assert_eq!(
        admitted(&snapshot, &policy),
        scenario
            .gitlab_expected_admitted("acme", &policy)
            .expect("truth")
    );
}

/// xena is external, reads every private project as Reporter and `intranet` only through its
/// visibility; yuri is the same but not external; zoe is external with an explicit Reporter
/// membership of `intranet` too.
fn with_external_users() -> Scenario {
    let mut scenario = edge();
    add(&mut scenario, user(50, "xena", true), None, &PRIVATE);
    add(&mut scenario, user(51, "yuri", false), None, &PRIVATE);
    let mut with_intranet = PRIVATE.to_vec();
    with_intranet.push(INTRANET);
    add(&mut scenario, user(52, "zoe", true), None, &with_intranet);
    scenario
}

#[tokio::test]
async fn an_administrators_token_tells_external_users_and_matches_the_ground_truth() {
    let scenario = with_external_users();
    let server = start(scenario.clone()).await;
    let policy = FetchPolicy::default();
    let snapshot = provider(&server, "acme")
        .fetch(&policy)
        .await
        .expect("fetch");
    assert_eq!(
        access(&snapshot, "xena"),
        AccessVerdict::CannotRead {
            repository: "intranet".to_string()
        }
    );
    assert_eq!(access(&snapshot, "yuri"), AccessVerdict::ReadsAll);
    assert_eq!(access(&snapshot, "zoe"), AccessVerdict::ReadsAll);
    assert_eq!(
        admitted(&snapshot, &policy),
        scenario
            .gitlab_expected_admitted("acme", &policy)
            .expect("truth")
    );
}

#[tokio::test]
async fn without_the_external_flag_only_an_explicit_membership_proves_an_internal_project() {
    let scenario = with_external_users();
    let server = start(scenario.clone()).await;
    let policy = FetchPolicy::default();
    // carol is a Reporter, not an administrator: GitLab does not show her who is external.
    let snapshot = provider_with(&server, "acme", "carol-read-api", None)
        .fetch(&policy)
        .await
        .expect("fetch");
    // Nobody is admitted who is external...
    assert!(matches!(
        access(&snapshot, "xena"),
        AccessVerdict::CannotRead { .. }
    ));
    // ...at the price of yuri, who may not be: his only path to intranet is its visibility.
    assert_eq!(
        access(&snapshot, "yuri"),
        AccessVerdict::CannotRead {
            repository: "intranet".to_string()
        }
    );
    // An explicit Reporter membership proves it.
    assert_eq!(access(&snapshot, "zoe"), AccessVerdict::ReadsAll);
    let admitted = admitted(&snapshot, &policy);
    let truth = scenario
        .gitlab_expected_admitted("acme", &policy)
        .expect("truth");
    assert!(admitted.is_subset(&truth), "{admitted:?} vs {truth:?}");
    assert_eq!(
        truth.difference(&admitted).cloned().collect::<Vec<_>>(),
        vec!["51".to_string()]
    );
}

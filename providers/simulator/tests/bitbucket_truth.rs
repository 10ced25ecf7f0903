//! The Bitbucket ground truth against hand-computed expectations for the edge-case scenario,
//! so the brute force that provider tests trust is itself checked.

use orgsync_core::policy::MemberExclusions;
use orgsync_core::{AdmitRule, FetchPolicy, Permission, RepositoryScope};
use orgsync_simulator::bitbucket::truth::{expected_admitted, expected_teams};
use orgsync_simulator::scenario::{BitbucketScenario, Scenario};
use std::collections::BTreeSet;

fn edge() -> BitbucketScenario {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bitbucket-edge-cases.toml"
    );
    Scenario::from_file(path)
        .expect("edge-case scenario loads")
        .bitbucket
        .expect("has a bitbucket section")
}

fn nicknames(world: &BitbucketScenario, uuids: &BTreeSet<String>) -> BTreeSet<String> {
    uuids
        .iter()
        .map(|u| world.user(u).expect("known user").nickname.clone())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn policy(exclude_forks: bool, exclude_repos: &[&str], exclude_members: &[&str]) -> FetchPolicy {
    let repos: Vec<String> = exclude_repos.iter().map(|s| s.to_string()).collect();
    let members: Vec<String> = exclude_members.iter().map(|s| s.to_string()).collect();
    FetchPolicy {
        scope: RepositoryScope::new(false, exclude_forks, &repos).expect("globs"),
        exclude_members: MemberExclusions::new(&members).expect("globs"),
        ..FetchPolicy::default()
    }
}

#[test]
fn all_repositories_admits_owner_and_those_reading_every_private_repository() {
    let world = edge();
    let got = expected_admitted(&world, "acme", &policy(false, &[], &[])).expect("truth");
    // bob and gina lack sec-vault, dave has app-api only, frank lacks sec-vault, erin and the
    // bot lack the fork; the public docs repository blocks nobody.
    assert_eq!(nicknames(&world, &got), set(&["olga", "alice", "carol"]));
}

#[test]
fn excluding_forks_admits_those_only_the_fork_kept_out_and_none_grants_do_not_subtract() {
    let world = edge();
    let got = expected_admitted(&world, "acme", &policy(true, &[], &[])).expect("truth");
    // erin has an explicit `none` on app-web but reads it through developers.
    assert_eq!(
        nicknames(&world, &got),
        set(&["olga", "alice", "carol", "erin", "deploy-bot"])
    );
}

#[test]
fn excluding_repositories_and_members_by_glob() {
    let world = edge();
    let got =
        expected_admitted(&world, "acme", &policy(true, &["sec-*"], &["*-bot"])).expect("truth");
    // frank's create-repo covers APP but nothing grants him ops-tools.
    assert_eq!(
        nicknames(&world, &got),
        set(&["olga", "alice", "bob", "carol", "erin", "gina"])
    );
}

#[test]
fn all_members_admits_everyone_not_excluded() {
    let world = edge();
    let p = FetchPolicy {
        admit: AdmitRule::AllMembers,
        ..policy(false, &[], &["*-bot"])
    };
    let got = expected_admitted(&world, "acme", &p).expect("truth");
    assert_eq!(got.len(), 8);
    assert!(!nicknames(&world, &got).contains("deploy-bot"));
}

#[test]
fn teams_take_the_best_of_repository_and_project_grants() {
    let world = edge();
    let teams = expected_teams(&world, "acme").expect("truth");
    let core = &teams["core"];
    assert_eq!(core.members.len(), 2);
    // Project SEC gives write, the repository read: write wins.
    assert_eq!(core.repositories.get("sec-vault"), Some(&Permission::Write));
    assert_eq!(core.repositories.len(), 1);
    let developers = &teams["developers"];
    let repos: BTreeSet<&str> = developers.repositories.keys().map(String::as_str).collect();
    assert_eq!(
        repos,
        ["app-api", "app-web", "docs", "ops-tools"]
            .into_iter()
            .collect()
    );
    assert_eq!(
        teams["ops"].repositories.get("ops-tools"),
        Some(&Permission::Admin)
    );
}

//! The fetch proves the view before deciding (crate docs, `view`): partial credentials fail
//! with the missing right; repositories created or deleted between two pages of the list are
//! caught by the organisation's count and read again; a member renamed during the fetch does not
//! fail it.

mod common;

use common::*;
use orgsync_core::Visibility;
use orgsync_core::cache::MemoryCache;
use orgsync_core::http::HttpClient;
use orgsync_core::{AdmitRule, FetchPolicy, Provider, ProviderError, ProviderKind, TeamsMode};
use orgsync_github::{GithubAppCredential, GithubOptions, GithubProvider};
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{
    GithubRepo, Scenario, SyntheticSize, TEST_APP_PRIVATE_KEY_PEM, TokenSpec,
};
use std::collections::BTreeSet;
use std::sync::Arc;

fn with_token(mut scenario: Scenario, token: TokenSpec) -> Scenario {
    scenario.github.as_mut().expect("github").tokens.push(token);
    scenario
}

fn token_of(token: &str, user: Option<&str>, repositories: Option<Vec<&str>>) -> TokenSpec {
    TokenSpec {
        user: user.map(str::to_owned),
        repositories: repositories.map(|r| r.into_iter().map(str::to_owned).collect()),
        ..TokenSpec::full(token)
    }
}

fn provider_for(server: &GithubServer, token: &str) -> GithubProvider {
    provider_with(
        server,
        &server.base_url(),
        token,
        Arc::new(MemoryCache::default()),
    )
}

fn all_members_no_teams() -> FetchPolicy {
    FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    }
}

#[tokio::test]
async fn a_member_token_fails_all_repositories_and_names_the_owner_role() {
    let server = start(with_token(edge(), token_of("bob-token", Some("bob"), None))).await;
    let error = provider_for(&server, "bob-token")
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("a member's view is partial");
    let text = error.to_string();
    assert!(
        matches!(error, ProviderError::Forbidden { .. }),
        "{error:?}"
    );
    assert!(
        text.contains("bob is a member of acme, not an owner"),
        "{text}"
    );
    assert!(text.contains("Role Owner"), "{text}");
    assert!(!text.contains("bob-token"), "{text}");
}

#[tokio::test]
async fn a_member_token_is_enough_for_all_members_without_teams() {
    let server = start(with_token(edge(), token_of("bob-token", Some("bob"), None))).await;
    let policy = all_members_no_teams();
    let snapshot = provider_for(&server, "bob-token")
        .fetch(&policy)
        .await
        .expect("members see every member");
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    assert_eq!(admitted(&snapshot, &policy), expected);
}

#[tokio::test]
async fn a_token_of_a_non_member_fails_even_all_members() {
    // frank is an outside collaborator: not a member.
    let server = start(with_token(
        edge(),
        token_of("frank-token", Some("frank"), None),
    ))
    .await;
    let error = provider_for(&server, "frank-token")
        .fetch(&all_members_no_teams())
        .await
        .expect_err("a non-member sees public members only");
    assert!(
        error.to_string().contains("not a member of acme"),
        "{error}"
    );
}

#[tokio::test]
async fn an_owner_token_limited_to_some_repositories_fails_on_the_count() {
    // alice owns acme, but the token reads only `api` (and the public handbook).
    let server = start(with_token(
        edge(),
        token_of("alice-fine-grained", Some("alice"), Some(vec!["api"])),
    ))
    .await;
    let error = provider_for(&server, "alice-fine-grained")
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("the list misses private repositories");
    let text = error.to_string();
    assert!(
        text.contains("counts 5 private and internal repositories"),
        "{text}"
    );
    assert!(text.contains("showed 1"), "{text}");
    assert!(text.contains("`repo` scope"), "{text}");
    // Read twice: once, then once more in case the list moved.
    let stats = server.handle().stats();
    assert_eq!(stats.requests("GET /orgs/{org}/repos"), 2);
}

#[tokio::test]
async fn check_says_what_the_fetch_says_under_the_workspaces_policy() {
    let server = start(with_token(edge(), token_of("bob-token", Some("bob"), None))).await;
    let bob = provider_for(&server, "bob-token");
    // The default policy (all-repositories, teams on) needs an owner: check fails as the
    // fetch does, with the same message.
    let fetched = bob
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("a member is not enough for all-repositories")
        .to_string();
    let checked = bob
        .check(&FetchPolicy::default())
        .await
        .expect_err("check refuses what the fetch refuses")
        .to_string();
    assert_eq!(checked, fetched);
    assert!(
        checked.contains("bob is a member of acme, not an owner"),
        "{checked}"
    );
    // admit = "all-members" without teams needs the member list only: check passes.
    let members_only = FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    let lines = bob
        .check(&members_only)
        .await
        .expect("enough for all-members without teams");
    let text = lines.join("\n");
    assert!(!text.contains("NOT enough"), "{text}");
}

async fn app_provider(server: &GithubServer) -> GithubProvider {
    let http: HttpClient = fast_http();
    let app = Arc::new(
        GithubAppCredential::new(
            &http,
            "test",
            &server.base_url(),
            "GitHub App 4242 (installation 7070)",
            4242,
            7070,
            &TEST_APP_PRIVATE_KEY_PEM.to_string().into(),
        )
        .expect("app credential"),
    );
    let client = http
        .workspace(
            ProviderKind::Github,
            "test",
            &server.base_url(),
            app.clone(),
        )
        .expect("client")
        .with_cache(Arc::new(MemoryCache::default()));
    GithubProvider::new(client, "acme")
        .with_options(GithubOptions::default())
        .with_app(app)
}

fn synthetic_small() -> Scenario {
    Scenario::synthetic(
        11,
        SyntheticSize {
            members: 40,
            repos: 12,
            teams: 3,
        },
    )
}

#[tokio::test]
async fn an_app_on_selected_repositories_fails_and_says_all_repositories() {
    let mut scenario = synthetic_small();
    let github = scenario.github.as_mut().expect("github");
    let first = github.orgs[0].repos[0].name.clone();
    github.app.as_mut().expect("app").repositories = Some(vec![first]);
    let server = start(scenario).await;
    let error = app_provider(&server)
        .await
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("selected repositories are a partial view");
    let text = error.to_string();
    assert!(text.contains("repository_selection: selected"), "{text}");
    assert!(
        text.contains("Repository access: All repositories"),
        "{text}"
    );
}

#[tokio::test]
async fn an_app_on_all_repositories_reaches_the_truth() {
    let server = start(synthetic_small()).await;
    let policy = FetchPolicy::default();
    let snapshot = app_provider(&server)
        .await
        .fetch(&policy)
        .await
        .expect("fetch");
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    assert_eq!(admitted(&snapshot, &policy), expected);
}

#[tokio::test]
async fn an_app_without_members_read_fails_and_names_the_permission() {
    let mut scenario = synthetic_small();
    let app = scenario
        .github
        .as_mut()
        .expect("github")
        .app
        .as_mut()
        .expect("app");
    app.permissions = Some(
        [("metadata".to_string(), "read".to_string())]
            .into_iter()
            .collect(),
    );
    let server = start(scenario).await;
    let error = app_provider(&server)
        .await
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("no members permission");
    assert!(error.to_string().contains("\"Members: read\""), "{error}");
}

/// 250 repositories: the repository list has three pages.
fn many_repositories() -> Scenario {
    Scenario::synthetic(
        21,
        SyntheticSize {
            members: 30,
            repos: 250,
            teams: 3,
        },
    )
}

fn names(snapshot: &orgsync_core::Snapshot) -> BTreeSet<String> {
    snapshot
        .repositories
        .iter()
        .map(|r| r.name.clone())
        .collect()
}

fn world_names(server: &GithubServer) -> BTreeSet<String> {
    server.scenario().github.expect("github").orgs[0]
        .repos
        .iter()
        .map(|r| r.name.clone())
        .collect()
}

/// The repositories in the order GitHub lists them (creation order).
fn listed_repos(server: &GithubServer) -> Vec<GithubRepo> {
    let mut repos = server.scenario().github.expect("github").orgs[0]
        .repos
        .clone();
    repos.sort_by_key(|r| r.id);
    repos
}

#[tokio::test]
async fn a_repository_deleted_between_two_pages_is_caught_by_the_count_and_read_again() {
    let server = start(many_repositories()).await;
    let repos = listed_repos(&server);
    // Deleting a repository of page 1 shifts page 2 one place up, so the first repository of
    // page 2 is never listed: the counts catch it, whatever its visibility.
    let doomed = repos[5].name.clone();
    let skipped = repos[100].name.clone();
    server.on_page(
        "/orgs/acme/repos",
        1,
        Mutation::DeleteRepository {
            org: "acme".into(),
            repo: doomed.clone(),
        },
    );
    let policy = FetchPolicy::default();
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    assert_eq!(server.handle().page_hooks_fired().len(), 1);
    assert_eq!(
        server.handle().stats().requests("GET /orgs/{org}/repos"),
        6,
        "read twice"
    );
    assert_eq!(
        names(&snapshot),
        world_names(&server),
        "the list is the world's"
    );
    assert!(
        names(&snapshot).contains(&skipped),
        "{skipped} read on the second pass"
    );
    assert!(!names(&snapshot).contains(&doomed));
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    assert_eq!(admitted(&snapshot, &policy), expected);
}

#[tokio::test]
async fn a_repository_created_between_two_pages_is_read_again() {
    let server = start(many_repositories()).await;
    server.on_page(
        "/orgs/acme/repos",
        1,
        Mutation::AddRepository {
            org: "acme".into(),
            repo: GithubRepo {
                id: 999_999,
                name: "brand-new".into(),
                visibility: Visibility::Private,
                archived: false,
                fork: false,
                description: None,
                collaborators: Vec::new(),
            },
        },
    );
    let policy = FetchPolicy::default();
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    assert_eq!(server.handle().page_hooks_fired().len(), 1);
    assert_eq!(names(&snapshot), world_names(&server));
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    assert_eq!(admitted(&snapshot, &policy), expected);
}

#[tokio::test]
async fn repositories_that_keep_moving_fail_the_fetch() {
    let server = start(many_repositories()).await;
    let repos = listed_repos(&server);
    // One deletion during each of the two readings (hooks on the same page fire on successive
    // readings).
    for doomed in [&repos[5], &repos[6]] {
        server.on_page(
            "/orgs/acme/repos",
            1,
            Mutation::DeleteRepository {
                org: "acme".into(),
                repo: doomed.name.clone(),
            },
        );
    }
    let error = provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("a list that moved twice is not decided on");
    assert_eq!(server.handle().page_hooks_fired().len(), 2);
    assert!(error.to_string().contains("twice"), "{error}");
}

#[tokio::test]
async fn a_member_renamed_during_the_fetch_keeps_their_place_under_the_new_login() {
    let server = start(edge()).await;
    // alice is renamed after the repository list, before the profiles are read.
    server.on_page(
        "/orgs/acme/repos",
        1,
        Mutation::RenameLogin {
            login: "alice".into(),
            new_login: "alice-renamed".into(),
        },
    );
    let policy = FetchPolicy::default();
    let snapshot = provider(&server)
        .fetch(&policy)
        .await
        .expect("a rename does not fail the fetch");
    assert_eq!(
        server.handle().page_hooks_fired().len(),
        1,
        "{:?}",
        server.handle().page_hooks_fired()
    );
    let alice = snapshot
        .members
        .iter()
        .find(|m| m.id == "1")
        .expect("alice by id");
    assert_eq!(alice.login, "alice-renamed");
    assert!(admitted(&snapshot, &policy).contains("1"), "still admitted");
}

#[tokio::test]
async fn organisation_roles_that_read_every_repository_admit_their_members() {
    use orgsync_core::{Confirmation, Verdict};
    use orgsync_simulator::scenario::OrganizationRole;
    let mut scenario = edge();
    let org = &mut scenario.github.as_mut().expect("github").orgs[0];
    org.organization_roles = vec![
        // carol directly; bob through his team (backend).
        OrganizationRole {
            id: 1,
            name: "all_repo_read".into(),
            base_role: Some(orgsync_core::Permission::Read),
            users: vec![3],
            teams: Vec::new(),
        },
        OrganizationRole {
            id: 2,
            name: "security_manager".into(),
            base_role: None,
            users: Vec::new(),
            teams: vec!["backend".into()],
        },
        // A role without a base role grants no repository.
        OrganizationRole {
            id: 3,
            name: "ci_cd_admin".into(),
            base_role: None,
            users: vec![2, 3],
            teams: Vec::new(),
        },
    ];
    let server = start(scenario).await;
    let policy = FetchPolicy::default();
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    assert!(
        expected.contains("3") && expected.contains("2"),
        "{expected:?}"
    );
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    assert_eq!(admitted(&snapshot, &policy), expected);
    assert_eq!(
        server
            .handle()
            .stats()
            .requests("GET /orgs/{org}/organization-roles"),
        1
    );
    // The per-user read agrees: a role is a read grant, so "cannot read" is contradicted.
    let answer = provider(&server)
        .confirm(
            &policy,
            "3",
            "carol",
            &Verdict::CannotRead {
                repository: "secret".into(),
            },
        )
        .await
        .expect("confirm");
    assert!(
        matches!(answer, Confirmation::Contradicted { .. }),
        "{answer:?}"
    );
}

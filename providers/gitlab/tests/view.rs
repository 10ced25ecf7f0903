//! The credential must see the whole group before anything is decided, and a project list that
//! moves while it is read is read again: against the simulator, which shows each token what
//! GitLab would show it.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync_core::Visibility;
use orgsync_core::{
    AccessVerdict, AdmitRule, FetchPolicy, Provider, ProviderError, RepositoryScope,
};
use orgsync_simulator::gitlab::GitlabMutation;
use orgsync_simulator::scenario::{GitlabMember, GitlabProject, GitlabToken, GitlabUser, Scenario};
use support::*;

fn token(name: &str, user: u64) -> GitlabToken {
    GitlabToken {
        token: name.to_string(),
        user: Some(user),
        scopes: Some(vec!["read_api".to_string()]),
        rate_limit: None,
        name: None,
    }
}

/// The edge cases plus a Guest's token (dave), and zed, who is no member at all of an internal
/// acme.
fn with_partial_tokens() -> Scenario {
    let mut scenario = edge();
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    gitlab.users.push(GitlabUser {
        id: 17,
        username: "zed".to_string(),
        name: None,
        email: None,
        state: Default::default(),
        bot: false,
        admin: false,
        external: false,
    });
    for g in &mut gitlab.groups {
        if g.id == 1 {
            g.visibility = Visibility::Internal;
        }
    }
    gitlab.tokens.push(token("dave-read-api", 4));
    gitlab.tokens.push(token("zed-read-api", 17));
    scenario
}

fn all_members() -> FetchPolicy {
    FetchPolicy {
        admit: AdmitRule::AllMembers,
        ..FetchPolicy::default()
    }
}

fn assert_names_missing_level(
    result: Result<orgsync_core::Snapshot, ProviderError>,
    what: &str,
    level: &str,
) {
    match result {
        Err(e @ ProviderError::Forbidden { .. }) => {
            let text = e.to_string();
            assert!(text.contains(what), "{text}");
            assert!(text.contains(level), "{text}");
            assert!(text.contains("Manage > Members"), "{text}");
        }
        other => panic!("expected a refusal naming {level}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_credential_that_sees_part_of_the_group_fails_the_fetch_and_names_the_missing_level() {
    let server = start(with_partial_tokens()).await;
    let policy = FetchPolicy::default();

    // gina has Minimal Access: she is shown no project at all.
    let gina = provider_with(&server, "acme", "gina-read-api", None);
    assert_names_missing_level(
        gina.fetch(&policy).await,
        "minimal_access (5)",
        "Reporter (20)",
    );

    // zed is no member of the internal group: GitLab shows him acme, its members and only
    // intranet and handbook (with a 200), not one private project.
    let zed = provider_with(&server, "acme", "zed-read-api", None);
    assert_names_missing_level(zed.fetch(&policy).await, "not a member", "Reporter (20)");
    assert_names_missing_level(
        zed.fetch(&all_members()).await,
        "not a member",
        "Guest (10)",
    );
    // check-config --online says the same.
    let check = zed
        .check(&FetchPolicy::default())
        .await
        .map(|_| ())
        .expect_err("check refuses");
    assert!(check.to_string().contains("Reporter (20)"), "{check}");

    // dave is a Guest: enough to be shown the members (all-members), not the private code.
    let dave = provider_with(&server, "acme", "dave-read-api", None);
    assert_names_missing_level(dave.fetch(&policy).await, "guest (10)", "Reporter (20)");
    let members = dave
        .fetch(&all_members())
        .await
        .expect("a Guest sees the members");
    assert!(members.members.iter().any(|m| m.login == "alice"));

    // carol is a Reporter: she sees everything.
    let carol = provider_with(&server, "acme", "carol-read-api", None);
    carol
        .fetch(&policy)
        .await
        .expect("a Reporter sees the group");
}

/// The edge cases plus 120 private projects in acme (ids 1000..1119), erin Reporter on every one
/// of them but 1019, so the project listed first on page 2 (newest first) is the only one she
/// cannot read outside the sandbox.
fn many_projects() -> Scenario {
    let mut scenario = edge();
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    for id in 1000..1120u64 {
        gitlab.projects.push(GitlabProject {
            id,
            path: format!("p{id}"),
            name: format!("P{id}"),
            namespace: 1,
            visibility: Visibility::Private,
            archived: false,
            fork: false,
            members: if id == 1019 {
                Vec::new()
            } else {
                vec![GitlabMember {
                    user: 5,
                    access_level: 20,
                    expires_at: None,
                    state: Default::default(),
                    member_role: None,
                }]
            },
            shared_with: Vec::new(),
        });
    }
    scenario
}

/// Page 1 of a full reading of the project list (`per_page=100`), not the `per_page=1` reads
/// of its total that bracket it.
const FIRST_PAGES: &str = "/api/v4/groups/*/projects?*per_page=100*";

fn no_sandbox() -> FetchPolicy {
    FetchPolicy {
        scope: RepositoryScope::new(false, false, &["sandbox-*".to_string()]).expect("glob"),
        ..FetchPolicy::default()
    }
}

fn erin(snapshot: &orgsync_core::Snapshot) -> AccessVerdict {
    snapshot
        .members
        .iter()
        .find(|m| m.login == "erin")
        .map(|m| m.access.clone())
        .expect("erin")
}

#[tokio::test]
async fn a_project_deleted_between_two_pages_does_not_hide_the_next_one() {
    let server = start(many_projects()).await;
    let provider = provider(&server, "acme");
    // Page 1 holds 1119..1020; deleting 1119 after it was read moves 1019 onto page 1.
    server.on_page(
        FIRST_PAGES,
        1,
        GitlabMutation::DestroyProject { project: 1119 },
    );
    let snapshot = provider.fetch(&no_sandbox()).await.expect("fetch");
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].result, Ok(()));
    let names: Vec<&str> = snapshot
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(names.contains(&"p1019"), "the shifted project is listed");
    assert!(!names.contains(&"p1119"), "the deleted project is not");
    // erin cannot read p1019: missing it would have admitted her.
    assert_eq!(
        erin(&snapshot),
        AccessVerdict::CannotRead {
            repository: "p1019".to_string()
        }
    );
}

#[tokio::test]
async fn a_project_created_between_two_pages_is_read_by_the_second_reading() {
    let server = start(many_projects()).await;
    let provider = provider(&server, "acme");
    server.on_page(
        FIRST_PAGES,
        1,
        GitlabMutation::CreateProject {
            id: 2000,
            namespace: 1,
            path: "fresh".to_string(),
            visibility: None,
        },
    );
    let snapshot = provider.fetch(&no_sandbox()).await.expect("fetch");
    assert_eq!(server.handle().page_hooks_fired().len(), 1);
    let names: Vec<&str> = snapshot
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(names.contains(&"fresh"), "{names:?}");
    assert_eq!(
        names.len(),
        names
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "no project twice"
    );
}

#[tokio::test]
async fn a_project_list_that_keeps_moving_fails_the_fetch() {
    let server = start(many_projects()).await;
    let provider = provider(&server, "acme");
    // A project is deleted after page 1 of the first reading, and another after page 1 of the
    // second: both readings moved, so nothing may be decided on either.
    for project in [1119, 1118] {
        server.on_page(FIRST_PAGES, 1, GitlabMutation::DestroyProject { project });
    }
    let error = provider
        .fetch(&no_sandbox())
        .await
        .map(|_| ())
        .expect_err("a list that moves twice fails the fetch");
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert!(fired.iter().all(|h| h.result.is_ok()), "{fired:?}");
    assert!(
        matches!(error, ProviderError::Malformed { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("changed while it was read, twice"),
        "{error}"
    );
    // Still once: the next fetch reads a list that stands still.
    provider
        .fetch(&no_sandbox())
        .await
        .expect("the next fetch decides");
}

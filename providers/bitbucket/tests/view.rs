//! The credential must be shown the whole workspace (a workspace administrator's) before
//! anything is decided, and a repository list that moves while it is read is read again:
//! against the simulator, which answers permission routes to administrators only.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync_core::http::{BasicAuth, Credential};
use orgsync_core::{AccessVerdict, AdmitRule, FetchPolicy, Provider, ProviderError, Snapshot};
use orgsync_simulator::bitbucket::BitbucketMutation;
use orgsync_simulator::scenario::{
    BitbucketRepo, BitbucketToken, GrantPermission, Scenario, UserGrant,
};
use secrecy::SecretString;
use std::sync::Arc;
use support::*;

const ALICE: &str = "{00000000-0000-4000-8000-000000000002}";

fn with_member_token() -> Scenario {
    let mut scenario = edge();
    let bb = scenario.bitbucket.as_mut().expect("bitbucket");
    let mut token = BitbucketToken::api_token("alice@acme.example", "alice-api-token");
    token.user = Some(ALICE.to_string());
    bb.tokens.push(token);
    scenario
}

fn alice_credential() -> Arc<dyn Credential> {
    Arc::new(BasicAuth::new(
        "token_env = BITBUCKET_TOKEN",
        "alice@acme.example",
        SecretString::from("alice-api-token".to_string()),
    ))
}

fn assert_names_admin(result: Result<Snapshot, ProviderError>) {
    match result {
        Err(e @ ProviderError::Forbidden { .. }) => {
            let text = e.to_string();
            assert!(text.contains("workspace administrator"), "{text}");
            assert!(text.contains("nothing was decided"), "{text}");
            assert!(
                !text.contains("alice-api-token"),
                "secret in message: {text}"
            );
        }
        other => panic!("expected a refusal naming workspace administration, got {other:?}"),
    }
}

#[tokio::test]
async fn a_member_credential_fails_the_fetch_and_the_check_and_names_workspace_administration() {
    let server = start(with_member_token()).await;
    let alice = provider_with(&server, test_config(), alice_credential(), None);
    assert_names_admin(alice.fetch(&FetchPolicy::default()).await);
    assert_names_admin(
        alice
            .fetch(&FetchPolicy {
                admit: AdmitRule::AllMembers,
                ..FetchPolicy::default()
            })
            .await,
    );
    let check = alice
        .check(&FetchPolicy::default())
        .await
        .map(|_| ())
        .expect_err("check refuses");
    assert!(
        check.to_string().contains("workspace administrator"),
        "{check}"
    );
    // The owner's credential passes.
    provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect("an administrator sees the workspace");
}

/// The edge cases plus 120 private repositories r000..r119 in SANDBOX, alice granted read on
/// each but r094, which sits first on page 2 (index 100).
fn many_repositories() -> Scenario {
    let mut scenario = edge();
    let bb = scenario.bitbucket.as_mut().expect("bitbucket");
    let w = bb.workspaces.first_mut().expect("workspace");
    for i in 0..120 {
        w.repositories.push(BitbucketRepo {
            uuid: format!("{{40000000-0000-4000-8000-{i:012}}}"),
            slug: format!("r{i:03}"),
            name: None,
            is_private: true,
            project: "SANDBOX".to_string(),
            parent: None,
            users: if i == 94 {
                Vec::new()
            } else {
                vec![UserGrant {
                    user: ALICE.to_string(),
                    permission: GrantPermission::Read,
                }]
            },
            groups: Vec::new(),
        });
    }
    scenario
}

/// Page 1 of a full reading of the repository list (`pagelen=100`), not the `pagelen=1` reads
/// of its `size` that bracket it.
const FIRST_PAGES: &str = "/2.0/repositories/acme?*pagelen=100*";

fn alice_access(snapshot: &Snapshot) -> AccessVerdict {
    snapshot
        .members
        .iter()
        .find(|m| m.id == ALICE)
        .map(|m| m.access.clone())
        .expect("alice")
}

#[tokio::test]
async fn a_repository_deleted_between_two_pages_does_not_hide_the_next_one() {
    let server = start(many_repositories()).await;
    // app-api is first; deleting it after page 1 was read moves r094 onto page 1.
    server.on_page(
        FIRST_PAGES,
        1,
        BitbucketMutation::DeleteRepository {
            workspace: WORKSPACE.to_string(),
            slug: "app-api".to_string(),
        },
    );
    let snapshot = provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect("fetch");
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].result, Ok(()));
    let names: Vec<&str> = snapshot
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(names.contains(&"r094"), "the shifted repository is listed");
    assert!(!names.contains(&"app-api"), "the deleted one is not");
    // Missing r094 would have admitted alice, who cannot read it.
    assert_eq!(
        alice_access(&snapshot),
        AccessVerdict::CannotRead {
            repository: "r094".to_string()
        }
    );
}

#[tokio::test]
async fn a_repository_created_between_two_pages_is_listed() {
    let server = start(many_repositories()).await;
    server.on_page(
        FIRST_PAGES,
        1,
        BitbucketMutation::CreateRepository {
            workspace: WORKSPACE.to_string(),
            repository: BitbucketRepo {
                uuid: "{50000000-0000-4000-8000-000000000001}".to_string(),
                slug: "fresh".to_string(),
                name: None,
                is_private: true,
                project: "SANDBOX".to_string(),
                parent: None,
                users: Vec::new(),
                groups: Vec::new(),
            },
        },
    );
    let snapshot = provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect("fetch");
    assert_eq!(server.handle().page_hooks_fired().len(), 1);
    assert!(
        snapshot.repositories.iter().any(|r| r.name == "fresh"),
        "the new repository is read"
    );
}

#[tokio::test]
async fn a_repository_list_that_keeps_moving_fails_the_fetch() {
    let server = start(many_repositories()).await;
    for slug in ["r000", "r001"] {
        server.on_page(
            FIRST_PAGES,
            1,
            BitbucketMutation::DeleteRepository {
                workspace: WORKSPACE.to_string(),
                slug: slug.to_string(),
            },
        );
    }
    let error = provider(&server)
        .fetch(&FetchPolicy::default())
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
}

#[tokio::test]
async fn a_repository_created_in_the_middle_of_the_order_is_read_again() {
    let server = start(many_repositories()).await;
    // Inserted at index 50 after page 1 was read: the last repository of page 1 comes again
    // first on page 2, and the new one is on no page the first reading sees.
    server.on_page(
        FIRST_PAGES,
        1,
        BitbucketMutation::InsertRepository {
            workspace: WORKSPACE.to_string(),
            repository: BitbucketRepo {
                uuid: "{50000000-0000-4000-8000-000000000002}".to_string(),
                slug: "middle".to_string(),
                name: None,
                is_private: true,
                project: "SANDBOX".to_string(),
                parent: None,
                users: Vec::new(),
                groups: Vec::new(),
            },
            index: 50,
        },
    );
    let policy = FetchPolicy::default();
    let snapshot = provider(&server).fetch(&policy).await.expect("fetch");
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].result, Ok(()));
    let names: Vec<&str> = snapshot
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(names.contains(&"middle"), "the new repository is read");
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "no repository twice: {names:?}");
    assert_eq!(names.len(), 127, "every repository once");
    // Read again: four reads of the size and two of the list's first page.
    let stats = server.handle().stats();
    assert_eq!(
        stats.requests("GET /2.0/repositories/{workspace}"),
        4 + 4,
        "{stats:?}"
    );
    let world = server.scenario().bitbucket.expect("bitbucket world");
    assert_eq!(
        admitted(&snapshot, &policy),
        orgsync_simulator::bitbucket::truth::expected_admitted(&world, WORKSPACE, &policy)
            .expect("truth")
    );
}

//! The webhook's targeted re-read of one member (`Provider::fetch_member`).

mod support;

use orgsync_core::{AccessVerdict, FetchPolicy, MemberState, Provider, ProviderError};
use orgsync_simulator::gitlab::GitlabMutation;
use support::*;

#[tokio::test]
async fn an_owner_reads_all_a_removed_member_is_gone_and_a_guest_needs_a_full_sync() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy::default();

    // alice (1) owns acme: a member who reads every project.
    let alice = provider
        .fetch_member(&policy, "1", Some("alice"))
        .await
        .expect("read")
        .expect("a member");
    assert!(alice.is_owner);
    assert_eq!(alice.access, AccessVerdict::ReadsAll);

    // hank (8) is blocked: a member, not admitted, no access evaluation needed.
    let hank = provider
        .fetch_member(&policy, "8", None)
        .await
        .expect("read")
        .expect("member");
    assert_eq!(hank.state, MemberState::Blocked);

    // dave (4) is a Guest on acme: only a full fetch can decide his project access.
    let dave = provider.fetch_member(&policy, "4", None).await;
    assert!(
        matches!(dave, Err(ProviderError::Unsupported { .. })),
        "{dave:?}"
    );

    // carol (3) leaves: GitLab answers 404, which is a departure.
    server
        .mutate(GitlabMutation::RemoveGroupMember { group: 1, user: 3 })
        .await
        .expect("mutation");
    let carol = provider
        .fetch_member(&policy, "3", Some("carol"))
        .await
        .expect("read");
    assert!(carol.is_none(), "{carol:?}");
}

/// With projects shared into the group in scope, an owner's group level proves nothing about
/// them: the webhook re-read asks for a full sync; a departure is still a departure.
#[tokio::test]
async fn with_shared_projects_in_scope_a_member_needs_a_full_sync() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy {
        include_shared_projects: true,
        ..FetchPolicy::default()
    };
    let alice = provider.fetch_member(&policy, "1", Some("alice")).await;
    assert!(
        matches!(alice, Err(ProviderError::Unsupported { .. })),
        "{alice:?}"
    );
    server
        .mutate(GitlabMutation::RemoveGroupMember { group: 1, user: 3 })
        .await
        .expect("mutation");
    let carol = provider
        .fetch_member(&policy, "3", Some("carol"))
        .await
        .expect("read");
    assert!(carol.is_none(), "{carol:?}");
}

#[tokio::test]
async fn a_group_the_token_cannot_see_fails_instead_of_saying_nobody_is_a_member() {
    let server = start(edge()).await;
    let provider = provider(&server, "no-such-group");
    let result = provider
        .fetch_member(&FetchPolicy::default(), "1", None)
        .await;
    assert!(
        matches!(result, Err(ProviderError::NotFound { .. })),
        "{result:?}"
    );
}

//! `Provider::confirm`: each destructive verdict put back to Bitbucket's per-user reads (by uuid
//! with or without braces, or by account id), against the simulator's edge-case workspace (see
//! its description for who reads what).

mod support;

use orgsync_core::{Confirmation, FetchPolicy, Provider, ProviderError, Verdict};
use orgsync_simulator::bitbucket::BitbucketMutation;
use support::*;

const OLGA: &str = "{00000000-0000-4000-8000-000000000001}";
const ALICE: &str = "{00000000-0000-4000-8000-000000000002}";
const BOB: &str = "{00000000-0000-4000-8000-000000000003}";
const DAVE: &str = "{00000000-0000-4000-8000-000000000005}";

fn cannot_read(repository: &str) -> Verdict {
    Verdict::CannotRead {
        repository: repository.to_string(),
    }
}

fn not_in_team(team: &str) -> Verdict {
    Verdict::NotInTeam {
        team: team.to_string(),
    }
}

fn confirmed(answer: &Result<Confirmation, ProviderError>) -> bool {
    matches!(answer, Ok(Confirmation::Confirmed))
}

fn contradicted(answer: &Result<Confirmation, ProviderError>) -> bool {
    matches!(answer, Ok(Confirmation::Contradicted { .. }))
}

#[tokio::test]
async fn membership_verdicts_follow_the_workspace_membership_of_one_user() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let policy = FetchPolicy::default();

    // alice is a member, whichever form her identity was recorded in.
    for id in [ALICE, ALICE.trim_matches(['{', '}']), "557058:alice"] {
        let answer = provider
            .confirm(&policy, id, "alice", &Verdict::LeftAccount)
            .await;
        assert!(contradicted(&answer), "{id}: {answer:?}");
    }
    server
        .mutate(BitbucketMutation::RemoveMember {
            workspace: WORKSPACE.to_string(),
            user: BOB.to_string(),
        })
        .await
        .expect("remove");
    for id in [BOB, BOB.trim_matches(['{', '}']), "557058:bob"] {
        let answer = provider
            .confirm(&policy, id, "bob", &Verdict::LeftAccount)
            .await;
        assert!(confirmed(&answer), "{id}: {answer:?}");
    }
}

#[tokio::test]
async fn repository_verdicts_follow_the_users_effective_permission_and_visibility() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let policy = FetchPolicy::default();

    // bob reads APP through the developers group's project grant, not SEC.
    let vault = provider
        .confirm(&policy, BOB, "bob", &cannot_read("sec-vault"))
        .await;
    assert!(confirmed(&vault), "{vault:?}");
    let api = provider
        .confirm(&policy, BOB, "bob", &cannot_read("app-api"))
        .await;
    assert!(contradicted(&api), "{api:?}");
    // The owner reads everything; a public repository is read by everyone.
    let owner = provider
        .confirm(&policy, OLGA, "olga", &cannot_read("sec-vault"))
        .await;
    assert!(contradicted(&owner), "{owner:?}");
    let docs = provider
        .confirm(&policy, DAVE, "dave", &cannot_read("docs"))
        .await;
    assert!(contradicted(&docs), "{docs:?}");

    // A repository that vanished decides nothing: an error, never a confirmation.
    server
        .mutate(BitbucketMutation::DeleteRepository {
            workspace: WORKSPACE.to_string(),
            slug: "sec-vault".to_string(),
        })
        .await
        .expect("delete");
    let vanished = provider
        .confirm(&policy, BOB, "bob", &cannot_read("sec-vault"))
        .await;
    assert!(vanished.is_err(), "{vanished:?}");
}

#[tokio::test]
async fn team_verdicts_follow_the_groups_member_list() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let policy = FetchPolicy::default();
    for id in [ALICE, ALICE.trim_matches(['{', '}']), "557058:alice"] {
        let answer = provider
            .confirm(&policy, id, "alice", &not_in_team("core"))
            .await;
        assert!(contradicted(&answer), "{id}: {answer:?}");
    }
    let bob = provider
        .confirm(&policy, BOB, "bob", &not_in_team("core"))
        .await;
    assert!(confirmed(&bob), "{bob:?}");
}

#[tokio::test]
async fn identities_with_or_without_braces_are_the_same_person() {
    assert!(orgsync_bitbucket::same_user(
        ALICE,
        "00000000-0000-4000-8000-000000000002"
    ));
    assert!(orgsync_bitbucket::same_user(
        "{ABCDEF00-0000-4000-8000-000000000002}",
        "abcdef00-0000-4000-8000-000000000002"
    ));
    assert!(!orgsync_bitbucket::same_user(ALICE, BOB));
    assert!(!orgsync_bitbucket::same_user("557058:alice", "557058:bob"));
}

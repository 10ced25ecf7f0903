//! `Provider::confirm`: each destructive verdict is put to GitHub's per-user read, by durable id,
//! against the simulator's edge-case organisation (alice owner; bob in `backend`, a child of
//! `engineering`; carol only in the secret team `docs`; dave pending; erin suspended; gina in
//! `backend` with a direct grant on `secret`).

mod common;

use common::*;
use orgsync_core::{Confirmation, FetchPolicy, Provider, ProviderError, Verdict};
use orgsync_simulator::github::Mutation;
use std::sync::Arc;

fn policy() -> FetchPolicy {
    FetchPolicy::default()
}

fn cannot_read(repository: &str) -> Verdict {
    Verdict::CannotRead {
        repository: repository.to_owned(),
    }
}

fn not_in_team(team: &str) -> Verdict {
    Verdict::NotInTeam {
        team: team.to_owned(),
    }
}

fn is_contradicted(answer: &Confirmation) -> bool {
    matches!(answer, Confirmation::Contradicted { .. })
}

#[tokio::test]
async fn left_account_is_contradicted_for_a_member_and_confirmed_after_removal() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let answer = provider
        .confirm(&policy(), "2", "bob", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert!(is_contradicted(&answer), "{answer:?}");

    server
        .mutate(Mutation::RemoveMember {
            org: "acme".into(),
            login: "bob".into(),
        })
        .await
        .expect("remove bob");
    let answer = provider
        .confirm(&policy(), "2", "bob", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert_eq!(answer, Confirmation::Confirmed);
}

#[tokio::test]
async fn a_renamed_login_is_read_by_id_and_never_taken_for_someone_else() {
    let server = start(edge()).await;
    let provider = provider(&server);
    // gina renamed herself and left; bob then took the login `gina`.
    for (login, new_login) in [("gina", "gina-old"), ("bob", "gina")] {
        server
            .mutate(Mutation::RenameLogin {
                login: login.into(),
                new_login: new_login.into(),
            })
            .await
            .expect("rename");
    }
    server
        .mutate(Mutation::RemoveMember {
            org: "acme".into(),
            login: "gina-old".into(),
        })
        .await
        .expect("remove gina");
    // Reading the login `gina` would find bob, an active member, and contradict.
    let answer = provider
        .confirm(&policy(), "8", "gina", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert_eq!(answer, Confirmation::Confirmed);
    // Reading the login `bob` would 404 and confirm a departure that did not happen.
    let answer = provider
        .confirm(&policy(), "2", "bob", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert!(is_contradicted(&answer), "{answer:?}");
}

#[tokio::test]
async fn a_deleted_account_confirms_every_verdict() {
    let server = start(edge()).await;
    let provider = provider(&server);
    for verdict in [
        Verdict::LeftAccount,
        Verdict::AccountInactive,
        cannot_read("secret"),
        not_in_team("backend"),
    ] {
        let answer = provider
            .confirm(&policy(), "999", "ghost", &verdict)
            .await
            .expect("confirm");
        assert_eq!(answer, Confirmation::Confirmed, "{verdict}");
    }
}

#[tokio::test]
async fn account_state_is_confirmed_for_suspended_and_pending_and_contradicted_for_active() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let ask = |id: &'static str, login: &'static str| {
        let provider = &provider;
        async move {
            provider
                .confirm(&policy(), id, login, &Verdict::AccountInactive)
                .await
                .expect("confirm")
        }
    };
    assert_eq!(ask("5", "erin").await, Confirmation::Confirmed);
    assert_eq!(ask("4", "dave").await, Confirmation::Confirmed);
    assert!(is_contradicted(&ask("2", "bob").await));
}

#[tokio::test]
async fn a_pending_invitee_has_left_in_the_sense_that_matters() {
    let server = start(edge()).await;
    let answer = provider(&server)
        .confirm(&policy(), "4", "dave", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert_eq!(answer, Confirmation::Confirmed);
}

#[tokio::test]
async fn repository_access_uses_the_effective_permission() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let ask = |id: &'static str, login: &'static str, repo: &'static str| {
        let provider = &provider;
        async move {
            provider
                .confirm(&policy(), id, login, &cannot_read(repo))
                .await
                .expect("confirm")
        }
    };
    // carol reads only `web` (through docs): `secret` is confirmed unreadable.
    assert_eq!(ask("3", "carol", "secret").await, Confirmation::Confirmed);
    // gina has a direct grant; bob inherits `api` from engineering through backend; a public
    // repository is readable by anyone.
    assert!(is_contradicted(&ask("8", "gina", "secret").await));
    assert!(is_contradicted(&ask("2", "bob", "api").await));
    assert!(is_contradicted(&ask("3", "carol", "handbook").await));

    server
        .mutate(Mutation::RemoveCollaborator {
            org: "acme".into(),
            repo: "secret".into(),
            login: "gina".into(),
        })
        .await
        .expect("remove grant");
    assert_eq!(ask("8", "gina", "secret").await, Confirmation::Confirmed);
}

#[tokio::test]
async fn team_membership_counts_child_teams_like_the_fetch() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let ask = |id: &'static str, login: &'static str, team: &'static str| {
        let provider = &provider;
        async move {
            provider
                .confirm(&policy(), id, login, &not_in_team(team))
                .await
                .expect("confirm")
        }
    };
    // gina is in backend, a child of engineering: orgsync counts her in engineering too.
    assert!(is_contradicted(&ask("8", "gina", "engineering").await));
    assert!(is_contradicted(&ask("8", "gina", "backend").await));
    assert_eq!(
        ask("3", "carol", "engineering").await,
        Confirmation::Confirmed
    );

    server
        .mutate(Mutation::RemoveTeamMember {
            org: "acme".into(),
            team: "backend".into(),
            login: "gina".into(),
        })
        .await
        .expect("remove from team");
    assert_eq!(
        ask("8", "gina", "engineering").await,
        Confirmation::Confirmed
    );
}

#[tokio::test]
async fn a_vanished_repository_or_team_is_an_error_not_a_confirmation() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let err = provider
        .confirm(&policy(), "3", "carol", &cannot_read("no-such-repo"))
        .await
        .expect_err("a 404 on the repository decides nothing");
    assert!(err.to_string().contains("no-such-repo"), "{err}");
    let err = provider
        .confirm(&policy(), "3", "carol", &not_in_team("no-such-team"))
        .await
        .expect_err("a 404 on the team decides nothing");
    assert!(err.to_string().contains("no-such-team"), "{err}");
}

#[tokio::test]
async fn a_refused_read_is_an_error_never_a_confirmation() {
    let server = start(edge()).await;
    // This token lacks `read:org`: the membership read answers 403.
    let provider = provider_with(
        &server,
        &server.base_url(),
        "edge-token-repo-only",
        Arc::new(orgsync_core::cache::MemoryCache::default()),
    );
    let err = provider
        .confirm(&policy(), "2", "bob", &Verdict::LeftAccount)
        .await
        .expect_err("a 403 decides nothing");
    assert!(matches!(err, ProviderError::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn an_id_that_is_not_a_github_id_is_refused() {
    let server = start(edge()).await;
    let err = provider(&server)
        .confirm(&policy(), "bob", "bob", &Verdict::LeftAccount)
        .await
        .expect_err("not an id");
    assert!(err.to_string().contains("not a GitHub user id"), "{err}");
}

#[tokio::test]
async fn a_confirmation_costs_two_requests() {
    let server = start(edge()).await;
    let provider = provider(&server);
    for (id, login, verdict) in [
        ("2", "bob", Verdict::LeftAccount),
        ("3", "carol", cannot_read("secret")),
        ("8", "gina", not_in_team("backend")),
    ] {
        server.handle().reset_stats();
        provider
            .confirm(&policy(), id, login, &verdict)
            .await
            .expect("confirm");
        let stats = server.handle().stats();
        assert_eq!(stats.total, 2, "{verdict}: {:?}", stats.routes.keys());
    }
}

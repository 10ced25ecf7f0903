//! `Provider::confirm`: each destructive verdict put back to GitLab's per-user reads, by
//! immutable id, against the simulator (hand-written edge cases; see the scenario's description
//! for who is who).

mod support;

use orgsync_core::{Confirmation, FetchPolicy, Provider, ProviderError, Verdict};
use orgsync_simulator::gitlab::GitlabMutation;
use support::*;

fn left() -> Verdict {
    Verdict::LeftAccount
}

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
async fn membership_verdicts_follow_the_group_member_read_by_id() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy::default();

    // alice (1) is the owner: "left" is contradicted.
    let alice = provider.confirm(&policy, "1", "alice", &left()).await;
    assert!(contradicted(&alice), "{alice:?}");

    // carol (3) is renamed after the list was read: her id still answers, so "left" is
    // contradicted, whatever login the plan knew her by.
    server
        .mutate(GitlabMutation::RenameUser {
            user: 3,
            username: "carla".to_string(),
        })
        .await
        .expect("rename");
    let renamed = provider.confirm(&policy, "3", "carol", &left()).await;
    assert!(contradicted(&renamed), "{renamed:?}");

    // Once she leaves, GitLab's 404 on a group that still answers confirms it.
    server
        .mutate(GitlabMutation::RemoveGroupMember { group: 1, user: 3 })
        .await
        .expect("remove");
    let gone = provider.confirm(&policy, "3", "carol", &left()).await;
    assert!(confirmed(&gone), "{gone:?}");

    // hank (8) is blocked: "not active" is confirmed; bob (2) is active: contradicted.
    let hank = provider
        .confirm(&policy, "8", "hank", &Verdict::AccountInactive)
        .await;
    assert!(confirmed(&hank), "{hank:?}");
    let bob = provider
        .confirm(&policy, "2", "bob", &Verdict::AccountInactive)
        .await;
    assert!(contradicted(&bob), "{bob:?}");
    // judy's membership awaits approval: not active.
    let judy = provider
        .confirm(&policy, "10", "judy", &Verdict::AccountInactive)
        .await;
    assert!(confirmed(&judy), "{judy:?}");
}

#[tokio::test]
async fn a_group_the_token_cannot_see_is_an_error_not_a_departure() {
    let server = start(edge()).await;
    let provider = provider(&server, "no-such-group");
    let answer = provider
        .confirm(&FetchPolicy::default(), "3", "carol", &left())
        .await;
    assert!(
        matches!(answer, Err(ProviderError::NotFound { .. })),
        "{answer:?}"
    );
}

#[tokio::test]
async fn repository_verdicts_follow_the_project_member_read_and_visibility() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy::default();

    // dave (4) is a Guest on acme and Reporter of backend: cannot read infra, reads
    // backend/service.
    let infra = provider
        .confirm(&policy, "4", "dave", &cannot_read("infra"))
        .await;
    assert!(confirmed(&infra), "{infra:?}");
    let service = provider
        .confirm(&policy, "4", "dave", &cannot_read("backend/service"))
        .await;
    assert!(contradicted(&service), "{service:?}");

    // erin (5) is Reporter on every project but sandbox-x.
    let sandbox = provider
        .confirm(&policy, "5", "erin", &cannot_read("sandbox-x"))
        .await;
    assert!(confirmed(&sandbox), "{sandbox:?}");
    let erin_infra = provider
        .confirm(&policy, "5", "erin", &cannot_read("infra"))
        .await;
    assert!(contradicted(&erin_infra), "{erin_infra:?}");
    // With a Developer floor, her Reporter role no longer reads it.
    let developer_floor = FetchPolicy {
        min_access_level: 30,
        ..FetchPolicy::default()
    };
    let erin_dev = provider
        .confirm(&developer_floor, "5", "erin", &cannot_read("infra"))
        .await;
    assert!(confirmed(&erin_dev), "{erin_dev:?}");

    // Everyone reads the public handbook, and a non-external user the internal intranet.
    let handbook = provider
        .confirm(&policy, "4", "dave", &cannot_read("handbook"))
        .await;
    assert!(contradicted(&handbook), "{handbook:?}");
    let intranet = provider
        .confirm(&policy, "4", "dave", &cannot_read("intranet"))
        .await;
    assert!(contradicted(&intranet), "{intranet:?}");

    // outside/shared-lib is shared with backend at Developer: bob (backend maintainer) reads
    // it, nina (only in web, a sibling of backend) does not.
    let bob = provider
        .confirm(&policy, "2", "bob", &cannot_read("outside/shared-lib"))
        .await;
    assert!(contradicted(&bob), "{bob:?}");
    let nina = provider
        .confirm(&policy, "15", "nina", &cannot_read("outside/shared-lib"))
        .await;
    assert!(confirmed(&nina), "{nina:?}");

    // A project that vanished cannot decide anything: an error, never a confirmation.
    server
        .mutate(GitlabMutation::DestroyProject { project: 108 })
        .await
        .expect("destroy");
    let vanished = provider
        .confirm(&policy, "5", "erin", &cannot_read("sandbox-x"))
        .await;
    assert!(vanished.is_err(), "{vanished:?}");
}

#[tokio::test]
async fn an_external_user_cannot_read_an_internal_project_and_only_an_admin_can_tell() {
    let mut scenario = edge();
    if let Some(gitlab) = scenario.gitlab.as_mut() {
        for u in &mut gitlab.users {
            if u.id == 4 {
                u.external = true;
            }
        }
    }
    let server = start(scenario).await;
    let policy = FetchPolicy::default();
    let admin = provider(&server, "acme");
    let intranet = admin
        .confirm(&policy, "4", "dave", &cannot_read("intranet"))
        .await;
    assert!(confirmed(&intranet), "{intranet:?}");

    // carol's token is not an administrator's: GitLab hides the external flag, so the verdict
    // cannot be confirmed. dave is kept (never removed on what the API could not say), the run
    // goes on, and the answer says what would decide it.
    let carol = provider_with(&server, "acme", "carol-read-api", None);
    let hidden = carol
        .confirm(&policy, "4", "dave", &cannot_read("intranet"))
        .await;
    match hidden {
        Ok(Confirmation::Contradicted { found }) => {
            assert!(found.contains("undecided"), "{found}");
            assert!(found.contains("administrator"), "{found}");
        }
        other => panic!("expected an undecided verdict kept, got {other:?}"),
    }
}

#[tokio::test]
async fn team_verdicts_follow_the_subgroup_direct_member_read() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy::default();

    let bob = provider
        .confirm(&policy, "2", "bob", &not_in_team("backend"))
        .await;
    assert!(contradicted(&bob), "{bob:?}");
    // carol is a direct member of backend/api, not of backend.
    let carol = provider
        .confirm(&policy, "3", "carol", &not_in_team("backend"))
        .await;
    assert!(confirmed(&carol), "{carol:?}");
    let carol_api = provider
        .confirm(&policy, "3", "carol", &not_in_team("backend/api"))
        .await;
    assert!(contradicted(&carol_api), "{carol_api:?}");
    // hank is a direct member of backend but blocked: not a team member.
    let hank = provider
        .confirm(&policy, "8", "hank", &not_in_team("backend"))
        .await;
    assert!(confirmed(&hank), "{hank:?}");
    // A subgroup that does not answer decides nothing.
    let gone = provider
        .confirm(&policy, "2", "bob", &not_in_team("no-such-team"))
        .await;
    assert!(gone.is_err(), "{gone:?}");
}

#[tokio::test]
async fn a_confirmation_after_a_fetch_costs_at_most_two_requests() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy::default();
    provider.fetch(&policy).await.expect("fetch");
    for (id, login, verdict) in [
        ("1", "alice", left()),
        ("11", "kim", left()),
        ("4", "dave", cannot_read("infra")),
        ("3", "carol", not_in_team("backend")),
    ] {
        server.handle().reset_stats();
        provider
            .confirm(&policy, id, login, &verdict)
            .await
            .expect("an answer");
        let stats = server.handle().stats();
        assert!(
            stats.total <= 2,
            "{login} {verdict}: {} requests ({:?})",
            stats.total,
            stats.routes.keys().collect::<Vec<_>>()
        );
    }
}

//! Deciding only on what the provider confirms, on both databases: destructive verdicts are put
//! back to the provider's per-user read before they are applied, and the guards on admissions,
//! team deletions and grant revocations refuse plans that look like a partial view.

#[macro_use]
mod support;

use orgsync::directory::{RunOutcome, Store};
use orgsync::run::{RunOptions, RunReport, sync_workspace};
use orgsync_core::{FixedProvider, Permission, TeamRole};
use support::*;

async fn run(
    store: &Store,
    config: &orgsync::config::Config,
    provider: &FixedProvider,
) -> RunReport {
    sync_workspace(
        store,
        workspace(config),
        &config.safety,
        provider,
        &RunOptions::new("test"),
    )
    .await
    .expect("run recorded")
}

async fn active_logins(store: &Store) -> Vec<String> {
    let mut logins: Vec<String> = store
        .list_users(Some("acme"), Some("active"))
        .await
        .expect("users")
        .into_iter()
        .filter_map(|u| u.login)
        .collect();
    logins.sort();
    logins
}

fn members(n: u64) -> Vec<orgsync_core::Member> {
    let mut m = vec![owner(1, "olivia")];
    for i in 2..=n {
        m.push(reads_all(i, &format!("user{i}")));
    }
    m
}

/// A member missing from the list (an offset shift while it was paged) whom the per-user read
/// still finds is not offboarded; the run says so in the plan and the audit trail.
async fn a_departure_the_provider_contradicts_is_not_applied(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(members(10), None));
    run(&store, &config, &provider).await;
    // The list misses user3; the provider's per-user reads still know user3.
    let mut listed = members(10);
    listed.retain(|m| m.login != "user3");
    provider.set(snapshot(listed, None));
    provider.set_truth(snapshot(members(10), None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert_eq!(
        report.plan.tally()[orgsync::sync::ChangeKind::Offboard],
        0,
        "{}",
        report.plan
    );
    assert_eq!(report.plan.unconfirmed.len(), 1);
    assert!(
        report.plan.to_string().contains("? kept user3"),
        "{}",
        report.plan
    );
    assert!(active_logins(&store).await.contains(&"user3".to_string()));
    let audit = store
        .audit(Some("acme"), None, report.run_id)
        .await
        .expect("audit");
    let event = audit
        .iter()
        .find(|e| e.action == "unconfirmed")
        .expect("an unconfirmed event");
    assert_eq!(event.subject, "user3");
    assert!(event.detail.contains("left_account"), "{}", event.detail);
}
on_both_backends!(
    a_departure_the_provider_contradicts_is_not_applied_,
    a_departure_the_provider_contradicts_is_not_applied
);

/// The same departure, confirmed by the per-user read, is applied.
async fn a_confirmed_departure_is_applied(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(members(10), None));
    run(&store, &config, &provider).await;
    let mut listed = members(10);
    listed.retain(|m| m.login != "user3");
    provider.set(snapshot(listed.clone(), None));
    provider.set_truth(snapshot(listed, None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert_eq!(report.plan.tally()[orgsync::sync::ChangeKind::Offboard], 1);
    assert_eq!(report.confirmations, 1);
    assert!(report.plan.unconfirmed.is_empty());
    assert!(!active_logins(&store).await.contains(&"user3".to_string()));
}
on_both_backends!(
    a_confirmed_departure_is_applied_,
    a_confirmed_departure_is_applied
);

/// A member missing from one page of a team's member list stays in the team when the team's
/// per-user read finds them; a member the team really lost leaves it.
async fn a_team_removal_is_confirmed_per_member(store: Store) {
    let config = config("");
    let full = vec![team(
        "core",
        None,
        &[
            (1, TeamRole::Maintainer),
            (2, TeamRole::Member),
            (3, TeamRole::Member),
        ],
        &[],
    )];
    let provider = FixedProvider::new(snapshot(members(5), Some(full.clone())));
    run(&store, &config, &provider).await;
    // The list shows only olivia; the truth still has user2 in the team, user3 has left it.
    let listed = vec![team("core", None, &[(1, TeamRole::Maintainer)], &[])];
    let truth = vec![team(
        "core",
        None,
        &[(1, TeamRole::Maintainer), (2, TeamRole::Member)],
        &[],
    )];
    provider.set(snapshot(members(5), Some(listed)));
    provider.set_truth(snapshot(members(5), Some(truth)));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert_eq!(
        report.plan.tally()[orgsync::sync::ChangeKind::TeamMemberRemove],
        1,
        "{}",
        report.plan
    );
    assert_eq!(report.plan.unconfirmed.len(), 1);
    let teams = store.list_teams(Some("acme")).await.expect("teams");
    let core = teams.iter().find(|t| t.slug == "core").expect("core team");
    let mut in_team: Vec<&str> = core.members.iter().map(|(l, _)| l.as_str()).collect();
    in_team.sort_unstable();
    assert_eq!(in_team, vec!["olivia", "user2"]);
}
on_both_backends!(
    a_team_removal_is_confirmed_per_member_,
    a_team_removal_is_confirmed_per_member
);

/// More verdicts than `max_confirmations` fail the run and apply nothing.
async fn too_many_verdicts_to_confirm_fail_the_run(store: Store) {
    let config = config_with_safety("max_confirmations = 2\nmax_offboard_count = 50");
    let provider = FixedProvider::new(snapshot(members(10), None));
    run(&store, &config, &provider).await;
    provider.set(snapshot(members(7), None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Failed);
    let error = report.error.unwrap_or_default();
    assert!(error.contains("max_confirmations = 2"), "{error}");
    assert_eq!(active_logins(&store).await.len(), 10);
}
on_both_backends!(
    too_many_verdicts_to_confirm_fail_the_run_,
    too_many_verdicts_to_confirm_fail_the_run
);

/// Admissions above both thresholds abort the run; the first sync of an empty workspace is
/// exempt.
async fn a_mass_admission_is_refused_but_not_on_the_first_sync(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(members(30), None));
    let first = run(&store, &config, &provider).await;
    assert_eq!(
        first.outcome,
        RunOutcome::Ok,
        "30 onboards on an empty workspace"
    );
    // 11 newcomers to 30 active: more than 20 % (6) and more than 10.
    provider.set(snapshot(members(41), None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Aborted);
    assert_eq!(report.guard_trips[0].label(), "admit_threshold");
    assert_eq!(active_logins(&store).await.len(), 30);
    // 10 newcomers pass (not more than max_admit_count).
    provider.set(snapshot(members(40), None));
    assert_eq!(
        run(&store, &config, &provider).await.outcome,
        RunOutcome::Ok
    );
}
on_both_backends!(
    a_mass_admission_is_refused_but_not_on_the_first_sync_,
    a_mass_admission_is_refused_but_not_on_the_first_sync
);

/// A credential that lost sight of repositories strips the teams' grants: refused.
async fn stripping_a_teams_grants_is_refused(store: Store) {
    let config = config("");
    let repos = ["r1", "r2", "r3", "r4", "r5", "r6"];
    let grants: Vec<(&str, Permission)> = repos.iter().map(|r| (*r, Permission::Read)).collect();
    let mut snap = snapshot(
        members(5),
        Some(vec![team("core", None, &[(2, TeamRole::Member)], &grants)]),
    );
    snap.repositories = repos.iter().map(|r| repo(r)).collect();
    let provider = FixedProvider::new(snap.clone());
    assert_eq!(
        run(&store, &config, &provider).await.outcome,
        RunOutcome::Ok
    );
    // Only r1 is still seen: 5 of 6 grants would go.
    let mut partial = snap.clone();
    partial.repositories.truncate(1);
    let provider2 = FixedProvider::new(partial);
    let report = run(&store, &config, &provider2).await;
    assert_eq!(report.outcome, RunOutcome::Aborted);
    assert!(
        report
            .guard_trips
            .iter()
            .any(|t| t.label() == "grant_revoke_threshold"),
        "{:?}",
        report.guard_trips
    );
    let teams = store.list_teams(Some("acme")).await.expect("teams");
    assert_eq!(teams[0].repositories.len(), 6);
}
on_both_backends!(
    stripping_a_teams_grants_is_refused_,
    stripping_a_teams_grants_is_refused
);

/// Deleting most synced teams at once is refused.
async fn deleting_most_synced_teams_is_refused(store: Store) {
    let config = config("");
    let teams: Vec<_> = (1..=5)
        .map(|i| team(&format!("t{i}"), None, &[(2, TeamRole::Member)], &[]))
        .collect();
    let provider = FixedProvider::new(snapshot(members(5), Some(teams.clone())));
    run(&store, &config, &provider).await;
    provider.set(snapshot(members(5), Some(teams[..2].to_vec())));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Aborted);
    assert_eq!(report.guard_trips[0].label(), "team_delete_threshold");
    assert_eq!(
        store.list_teams(Some("acme")).await.expect("teams").len(),
        5
    );
}
on_both_backends!(
    deleting_most_synced_teams_is_refused_,
    deleting_most_synced_teams_is_refused
);

/// A workspace stored for one provider host refuses a configuration that points it at another;
/// the same host in other letter case is the same workspace; `rekey` moves a host alias.
async fn a_workspace_moved_to_another_host_refuses_to_run(store: Store) {
    let plain = config("");
    let provider = FixedProvider::new(snapshot(members(3), None));
    run(&store, &plain, &provider).await;
    let upper = config("api_url = \"https://API.GITHUB.COM\"");
    assert_eq!(
        run(&store, &upper, &provider).await.outcome,
        RunOutcome::Ok,
        "host names compare case-insensitively"
    );
    let ghes = config("api_url = \"https://github.example.com/api/v3\"");
    let refused = sync_workspace(
        &store,
        workspace(&ghes),
        &ghes.safety,
        &provider,
        &RunOptions::new("test"),
    )
    .await
    .expect_err("refused");
    let message = refused.to_string();
    assert!(message.contains("api.github.com"), "{message}");
    assert!(message.contains("github.example.com"), "{message}");
    assert!(message.contains("new name"), "{message}");
    assert_eq!(active_logins(&store).await.len(), 3, "nobody offboarded");
    let moved = store
        .rekey_workspace("acme", "github", "github.example.com")
        .await
        .expect("rekey");
    assert_eq!(moved, 3);
    let mut moved_snapshot = snapshot(members(3), None);
    moved_snapshot.host = "github.example.com".to_string();
    let report = run(&store, &ghes, &FixedProvider::new(moved_snapshot)).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert!(report.plan.is_empty(), "{}", report.plan);
}
on_both_backends!(
    a_workspace_moved_to_another_host_refuses_to_run_,
    a_workspace_moved_to_another_host_refuses_to_run
);

fn config_with_safety(extra_safety: &str) -> orgsync::config::Config {
    let text = format!(
        r#"
[directory]
url = "sqlite://unused.db"

[safety]
{extra_safety}

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
token_env = "ORGSYNC_TEST_TOKEN"
"#
    );
    orgsync::config::Config::parse(&text, std::path::Path::new("test.toml")).expect("valid config")
}

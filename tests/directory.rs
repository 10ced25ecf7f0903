//! The directory and the sync engine end to end, on SQLite and on PostgreSQL: every test here
//! runs once per backend.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

#[macro_use]
mod support;

use orgsync::directory::{RunOutcome, Store};
use orgsync::run::{RunOptions, RunReport, sync_workspace};
use orgsync::sync::plan::{Change, ChangeKind, Plan};
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

async fn run_with(
    store: &Store,
    config: &orgsync::config::Config,
    provider: &FixedProvider,
    options: RunOptions,
) -> RunReport {
    sync_workspace(store, workspace(config), &config.safety, provider, &options)
        .await
        .expect("run recorded")
}

fn ten_members() -> Vec<orgsync_core::Member> {
    let mut m = vec![owner(1, "olivia")];
    for i in 2..=10 {
        m.push(reads_all(i, &format!("user{i}")));
    }
    m
}

async fn state_of(store: &Store, login: &str) -> (String, Option<String>) {
    let users = store.list_users(Some("acme"), None).await.expect("users");
    let u = users
        .iter()
        .find(|u| u.login.as_deref() == Some(login))
        .unwrap_or_else(|| panic!("{login} is in the directory"));
    (u.state.clone(), u.reason.clone())
}

async fn onboards_then_second_plan_is_empty(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(
        vec![
            owner(1, "olivia"),
            reads_all(2, "bob"),
            cannot_read(3, "carol", "web"),
        ],
        None,
    ));
    let first = run(&store, &config, &provider).await;
    assert_eq!(first.outcome, RunOutcome::Ok);
    assert_eq!(first.plan.tally()[ChangeKind::Onboard], 2, "{}", first.plan);
    let users = store
        .list_users(Some("acme"), Some("active"))
        .await
        .expect("users");
    let logins: Vec<_> = users.iter().filter_map(|u| u.login.clone()).collect();
    assert_eq!(logins, vec!["bob", "olivia"]);
    assert_eq!(
        users
            .iter()
            .find(|u| u.login.as_deref() == Some("olivia"))
            .map(|u| u.role.as_str()),
        Some("admin")
    );
    let second = run(&store, &config, &provider).await;
    assert!(second.plan.is_empty(), "second plan: {}", second.plan);
}
on_both_backends!(
    onboards_then_second_plan_is_empty_,
    onboards_then_second_plan_is_empty
);

async fn offboard_reasons_distinguish_left_from_lost_access(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    let mut members = ten_members();
    members.retain(|m| m.login != "user9");
    if let Some(m) = members.iter_mut().find(|m| m.login == "user10") {
        m.access = orgsync_core::AccessVerdict::CannotRead {
            repository: "web".into(),
        };
    }
    provider.set(snapshot(members, None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert_eq!(
        state_of(&store, "user9").await,
        ("offboarded".into(), Some("left the account".into()))
    );
    assert_eq!(
        state_of(&store, "user10").await,
        (
            "offboarded".into(),
            Some("lost access to repository web".into())
        )
    );
    let audit = store
        .audit(Some("acme"), None, report.run_id)
        .await
        .expect("audit");
    assert_eq!(audit.iter().filter(|a| a.action == "offboard").count(), 2);
}
on_both_backends!(
    offboard_reasons_distinguish_left_from_lost_access_,
    offboard_reasons_distinguish_left_from_lost_access
);

async fn returning_member_is_reactivated_as_the_same_user(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    let before = store.list_users(Some("acme"), None).await.expect("users");
    let id_before = before
        .iter()
        .find(|u| u.login.as_deref() == Some("user5"))
        .map(|u| u.user_id);
    let mut without = ten_members();
    without.retain(|m| m.login != "user5");
    provider.set(snapshot(without, None));
    run(&store, &config, &provider).await;
    assert_eq!(state_of(&store, "user5").await.0, "offboarded");
    provider.set(snapshot(ten_members(), None));
    let back = run(&store, &config, &provider).await;
    assert_eq!(
        back.plan.tally()[ChangeKind::Reactivate],
        1,
        "{}",
        back.plan
    );
    assert_eq!(back.plan.tally()[ChangeKind::Onboard], 0);
    let after = store.list_users(Some("acme"), None).await.expect("users");
    let id_after = after
        .iter()
        .find(|u| u.login.as_deref() == Some("user5"))
        .map(|u| u.user_id);
    assert_eq!(id_before, id_after);
    assert_eq!(state_of(&store, "user5").await, ("active".into(), None));
}
on_both_backends!(
    returning_member_is_reactivated_as_the_same_user_,
    returning_member_is_reactivated_as_the_same_user
);

async fn login_rename_is_an_identity_update_not_offboard_and_onboard(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    let mut renamed = ten_members();
    renamed[3].login = "user4-renamed".into();
    provider.set(snapshot(renamed, None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.plan.changes.len(), 1, "{}", report.plan);
    assert!(
        matches!(&report.plan.changes[0], Change::IdentityUpdate { from_login, login, .. } if from_login == "user4" && login == "user4-renamed")
    );
    assert_eq!(state_of(&store, "user4-renamed").await.0, "active");
    assert_eq!(
        store
            .list_users(Some("acme"), None)
            .await
            .expect("users")
            .len(),
        10
    );
}
on_both_backends!(
    login_rename_is_an_identity_update_,
    login_rename_is_an_identity_update_not_offboard_and_onboard
);

async fn offboard_threshold_aborts_and_force_applies_once(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    // 6 of 10 leave: more than 10 % and more than 5.
    provider.set(snapshot(ten_members().into_iter().take(4).collect(), None));
    let aborted = run(&store, &config, &provider).await;
    assert_eq!(aborted.outcome, RunOutcome::Aborted);
    assert_eq!(aborted.guard_trips.len(), 1);
    assert_eq!(aborted.guard_trips[0].label(), "offboard_threshold");
    assert_eq!(
        store
            .list_users(Some("acme"), Some("active"))
            .await
            .expect("users")
            .len(),
        10
    );
    let audit = store
        .audit(Some("acme"), None, aborted.run_id)
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "run_aborted");
    assert!(
        audit[0].detail.contains("\"plan\""),
        "the refused plan is kept for review"
    );
    let mut forced = RunOptions::new("cli");
    forced.force = true;
    let applied = run_with(&store, &config, &provider, forced).await;
    assert_eq!(applied.outcome, RunOutcome::Ok);
    assert!(applied.forced);
    assert_eq!(
        store
            .list_users(Some("acme"), Some("active"))
            .await
            .expect("users")
            .len(),
        4
    );
}
on_both_backends!(
    offboard_threshold_aborts_and_force_applies_once_,
    offboard_threshold_aborts_and_force_applies_once
);

async fn five_offboards_pass_under_the_count_threshold(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    provider.set(snapshot(ten_members().into_iter().take(5).collect(), None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(
        report.outcome,
        RunOutcome::Ok,
        "5 offboards do not exceed max_offboard_count = 5"
    );
}
on_both_backends!(
    five_offboards_pass_under_the_count_threshold_,
    five_offboards_pass_under_the_count_threshold
);

async fn empty_source_guard_refuses_to_offboard_everyone(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(
        vec![owner(1, "olivia"), reads_all(2, "bob")],
        None,
    ));
    run(&store, &config, &provider).await;
    provider.set(snapshot(vec![], None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Aborted);
    assert!(
        report
            .guard_trips
            .iter()
            .any(|t| t.label() == "empty_source"),
        "{:?}",
        report.guard_trips
    );
    assert_eq!(
        store
            .list_users(Some("acme"), Some("active"))
            .await
            .expect("users")
            .len(),
        2
    );
}
on_both_backends!(
    empty_source_guard_refuses_to_offboard_everyone_,
    empty_source_guard_refuses_to_offboard_everyone
);

async fn no_admin_left_guard_trips_when_the_last_owner_goes(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    let mut demoted = ten_members();
    demoted[0].role = "member".into();
    demoted[0].is_owner = false;
    provider.set(snapshot(demoted, None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Aborted);
    assert_eq!(
        report
            .guard_trips
            .iter()
            .map(|t| t.label())
            .collect::<Vec<_>>(),
        vec!["no_admin_left"]
    );
}
on_both_backends!(
    no_admin_left_guard_trips_when_the_last_owner_goes_,
    no_admin_left_guard_trips_when_the_last_owner_goes
);

async fn failed_fetch_offboards_nobody_and_records_the_failure(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    provider.fail("503 Service Unavailable");
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Failed);
    assert!(report.error.as_deref().unwrap_or("").contains("503"));
    assert_eq!(
        store
            .list_users(Some("acme"), Some("active"))
            .await
            .expect("users")
            .len(),
        10
    );
    let runs = store.recent_runs(Some("acme"), 1).await.expect("runs");
    assert_eq!(runs[0].outcome, "failed");
}
on_both_backends!(
    failed_fetch_offboards_nobody_and_records_the_failure_,
    failed_fetch_offboards_nobody_and_records_the_failure
);

/// The record of a run applied by hand.
fn record() -> orgsync::directory::RunRecord {
    orgsync::directory::RunRecord {
        trigger: "test".into(),
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        outcome: RunOutcome::Ok,
        requests: 0,
        requests_not_modified: 0,
        error: None,
        actor: "sync".into(),
    }
}

async fn failed_apply_leaves_no_partial_rows_and_no_audit_events(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    let users_before = count(&store, "SELECT COUNT(*) FROM users").await;
    let audit_before = count(&store, "SELECT COUNT(*) FROM audit_events").await;
    let runs_before = count(&store, "SELECT COUNT(*) FROM sync_runs").await;
    let ws = store
        .workspace("acme")
        .await
        .expect("query")
        .expect("workspace");
    // A valid onboarding, then a change that fails in the database (no such team): the error
    // strikes mid-transaction, after rows were written.
    let plan = Plan {
        workspace: "acme".into(),
        changes: vec![
            Change::Onboard {
                provider_user_id: "99".into(),
                existing_user_id: None,
                login: "newcomer".into(),
                name: None,
                email: None,
                role: "member".into(),
            },
            Change::TeamMemberAdd {
                team: "no-such-team".into(),
                provider_user_id: "99".into(),
                login: "newcomer".into(),
                role: TeamRole::Member,
            },
        ],
        unconfirmed: Vec::new(),
    };
    assert!(store.apply(&ws, &plan, &record()).await.is_err());
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM users").await,
        users_before
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM audit_events").await,
        audit_before
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM sync_runs").await,
        runs_before
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM identities WHERE provider_user_id = '99'"
        )
        .await,
        0
    );
}
on_both_backends!(
    failed_apply_leaves_no_partial_rows_and_no_audit_events_,
    failed_apply_leaves_no_partial_rows_and_no_audit_events
);

/// A batch that fails in the database while the apply goes on gathering the next one (here a
/// stale plan onboards someone whose identity exists, first of 25,000 onboards, so the failing
/// batch is in flight for the last 5,000) fails the whole apply: nothing of it stays, and the
/// connection it held goes back to the pool fit for the next run.
async fn a_batch_failing_in_flight_rolls_the_whole_apply_back(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    const TABLES: [&str; 5] = [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM identities",
        "SELECT COUNT(*) FROM audit_events",
        "SELECT COUNT(*) FROM outbox",
        "SELECT COUNT(*) FROM sync_runs",
    ];
    let mut before = Vec::new();
    for sql in TABLES {
        before.push(count(&store, sql).await);
    }
    let ws = store
        .workspace("acme")
        .await
        .expect("query")
        .expect("workspace");
    let onboard = |pid: String, login: String| Change::Onboard {
        provider_user_id: pid,
        existing_user_id: None,
        login,
        name: None,
        email: None,
        role: "member".into(),
    };
    let mut changes = vec![onboard("3".into(), "user3-again".into())];
    changes.extend((0..25_000).map(|i| onboard(format!("new-{i}"), format!("new{i}"))));
    let plan = Plan {
        workspace: "acme".into(),
        changes,
        unconfirmed: Vec::new(),
    };
    let err = store
        .apply(&ws, &plan, &record())
        .await
        .expect_err("an identity that exists fails its batch");
    assert!(
        matches!(err, orgsync::directory::DirectoryError::Conflict(_)),
        "a stale plan is a conflict: {err}"
    );
    for (sql, was) in TABLES.into_iter().zip(before) {
        assert_eq!(count(&store, sql).await, was, "{sql}");
    }
    let next = run(&store, &config, &provider).await;
    assert_eq!(next.outcome, RunOutcome::Ok, "{:?}", next.error);
}
on_both_backends!(
    a_batch_failing_in_flight_rolls_the_whole_apply_back_,
    a_batch_failing_in_flight_rolls_the_whole_apply_back
);

async fn suspended_user_is_never_reactivated_and_pinned_role_is_kept(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    exec(&store, "UPDATE memberships SET state = 'suspended' WHERE user_id = (SELECT user_id FROM identities WHERE login = 'user2')").await;
    exec(&store, "UPDATE memberships SET role = 'security', role_pinned = TRUE WHERE user_id = (SELECT user_id FROM identities WHERE login = 'user3')").await;
    let mut changed = ten_members();
    changed[2].role = "admin".into(); // user3 promoted at the provider: the pin wins
    changed[2].is_owner = true;
    provider.set(snapshot(changed, None));
    let report = run(&store, &config, &provider).await;
    assert!(report.plan.is_empty(), "{}", report.plan);
    assert_eq!(state_of(&store, "user2").await.0, "suspended");
    let users = store.list_users(Some("acme"), None).await.expect("users");
    let user3 = users
        .iter()
        .find(|u| u.login.as_deref() == Some("user3"))
        .expect("user3");
    assert_eq!((user3.role.as_str(), user3.role_pinned), ("security", true));
    // user2 leaves the provider: still suspended, not offboarded.
    let mut gone = ten_members();
    gone.retain(|m| m.login != "user2");
    provider.set(snapshot(gone, None));
    let report = run(&store, &config, &provider).await;
    assert_eq!(
        report.plan.tally()[ChangeKind::Offboard],
        0,
        "{}",
        report.plan
    );
    assert_eq!(state_of(&store, "user2").await.0, "suspended");
}
on_both_backends!(
    suspended_user_is_never_reactivated_and_pinned_role_is_kept_,
    suspended_user_is_never_reactivated_and_pinned_role_is_kept
);

async fn manual_memberships_are_never_touched(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    run(&store, &config, &provider).await;
    exec(&store, "UPDATE memberships SET source = 'manual' WHERE user_id = (SELECT user_id FROM identities WHERE login = 'user7')").await;
    let mut gone = ten_members();
    gone.retain(|m| m.login != "user7");
    provider.set(snapshot(gone, None));
    let report = run(&store, &config, &provider).await;
    assert!(report.plan.is_empty(), "{}", report.plan);
    assert_eq!(state_of(&store, "user7").await.0, "active");
}
on_both_backends!(
    manual_memberships_are_never_touched_,
    manual_memberships_are_never_touched
);

async fn teams_replicate_and_unknown_teams_are_left_alone(store: Store) {
    let config = config("");
    let teams = vec![
        team(
            "eng",
            None,
            &[(2, TeamRole::Maintainer), (3, TeamRole::Member)],
            &[("api", Permission::Write)],
        ),
        team(
            "eng-web",
            Some("eng"),
            &[(3, TeamRole::Member)],
            &[("web", Permission::Read)],
        ),
    ];
    let provider = FixedProvider::new(snapshot(ten_members(), Some(teams)));
    let first = run(&store, &config, &provider).await;
    assert_eq!(first.outcome, RunOutcome::Ok, "{:?}", first.error);
    let listed = store.list_teams(Some("acme")).await.expect("teams");
    assert_eq!(listed.len(), 2);
    let eng = listed.iter().find(|t| t.slug == "eng").expect("eng");
    assert_eq!(
        eng.members,
        vec![
            ("user2".to_string(), "maintainer".to_string()),
            ("user3".to_string(), "member".to_string())
        ]
    );
    assert_eq!(
        eng.repositories,
        vec![("api".to_string(), "write".to_string())]
    );
    assert_eq!(
        listed
            .iter()
            .find(|t| t.slug == "eng-web")
            .and_then(|t| t.parent.clone()),
        Some("eng".into())
    );
    // Teams unavailable: nothing about teams changes.
    let mut snap = snapshot(ten_members(), None);
    snap.teams_unavailable = Some("groups endpoint answered 410".into());
    provider.set(snap);
    let report = run(&store, &config, &provider).await;
    assert!(report.plan.is_empty(), "{}", report.plan);
    assert_eq!(
        store.list_teams(Some("acme")).await.expect("teams").len(),
        2
    );
    // An offboarded member leaves their teams.
    let mut gone = ten_members();
    gone.retain(|m| m.login != "user3");
    provider.set(snapshot(gone, None));
    run(&store, &config, &provider).await;
    let eng = store
        .list_teams(Some("acme"))
        .await
        .expect("teams")
        .into_iter()
        .find(|t| t.slug == "eng")
        .expect("eng");
    assert_eq!(
        eng.members,
        vec![("user2".to_string(), "maintainer".to_string())]
    );
}
on_both_backends!(
    teams_replicate_and_unknown_teams_are_left_alone_,
    teams_replicate_and_unknown_teams_are_left_alone
);

async fn teams_off_removes_synced_teams_but_not_manual_ones(store: Store) {
    let config = support::config("");
    let teams = vec![
        team("eng", None, &[(2, TeamRole::Member)], &[]),
        team("ops", None, &[], &[]),
    ];
    let provider = FixedProvider::new(snapshot(ten_members(), Some(teams)));
    run(&store, &config, &provider).await;
    exec(
        &store,
        "UPDATE teams SET source = 'manual' WHERE slug = 'ops'",
    )
    .await;
    let off = support::config("teams = \"off\"");
    let report = run(&store, &off, &provider).await;
    assert_eq!(
        report.plan.tally()[ChangeKind::TeamDelete],
        1,
        "{}",
        report.plan
    );
    let left: Vec<_> = store
        .list_teams(Some("acme"))
        .await
        .expect("teams")
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(left, vec!["ops"]);
}
on_both_backends!(
    teams_off_removes_synced_teams_but_not_manual_ones_,
    teams_off_removes_synced_teams_but_not_manual_ones
);

async fn dry_run_changes_nothing(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    let mut options = RunOptions::new("cli");
    options.dry_run = true;
    let report = run_with(&store, &config, &provider, options).await;
    assert_eq!(report.outcome, RunOutcome::DryRun);
    assert_eq!(report.plan.tally()[ChangeKind::Onboard], 10);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 0);
}
on_both_backends!(dry_run_changes_nothing_, dry_run_changes_nothing);

/// An answer comes back as it was stored (`Last-Modified` too), and not after it was removed.
async fn http_cache_keeps_and_forgets_answers(store: Store) {
    use orgsync_core::cache::{CachedResponse, HttpCache};
    let entry = CachedResponse {
        etag: Some("W/\"abc\"".into()),
        last_modified: Some("Tue, 01 Dec 2026 01:00:00 GMT".into()),
        headers: vec![("link".into(), "<x>; rel=\"next\"".into())],
        body: b"[1,2,3]".to_vec(),
    };
    HttpCache::store(&store, "k1", &entry).await;
    assert_eq!(HttpCache::load(&store, "k1").await, Some(entry));
    assert_eq!(HttpCache::load(&store, "k2").await, None);
    HttpCache::remove(&store, "k1").await;
    assert_eq!(HttpCache::load(&store, "k1").await, None);
}
on_both_backends!(
    http_cache_keeps_and_forgets_answers_,
    http_cache_keeps_and_forgets_answers
);

async fn recent_runs_limits_per_workspace(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(ten_members(), None));
    for _ in 0..3 {
        run(&store, &config, &provider).await;
    }
    for limit in [1, 2, 5, 1000] {
        let runs = store.recent_runs(Some("acme"), limit).await.expect("runs");
        assert_eq!(runs.len(), (limit as usize).min(3), "limit {limit}");
        let all = store.recent_runs(None, limit).await.expect("runs");
        assert_eq!(
            all.len(),
            (limit as usize).min(3),
            "limit {limit}, all workspaces"
        );
    }
}
on_both_backends!(
    recent_runs_limits_per_workspace_,
    recent_runs_limits_per_workspace
);

/// 5,000 onboards and team memberships: more rows than one SQLite statement holds (its
/// parameter limit), so the apply's batches span several statements; every row arrives once.
async fn a_plan_larger_than_one_statement_is_written_whole(store: Store) {
    let config = config("");
    let mut members = vec![owner(1, "olivia")];
    for i in 2..=5_000 {
        members.push(reads_all(i, &format!("user{i}")));
    }
    let everyone: Vec<(u64, TeamRole)> = (1..=5_000).map(|i| (i, TeamRole::Member)).collect();
    let teams = vec![
        team("all", None, &everyone, &[("api", Permission::Write)]),
        team("half", Some("all"), &everyone[..2_500], &[]),
    ];
    let provider = FixedProvider::new(snapshot(members, Some(teams)));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM memberships WHERE state = 'active'"
        )
        .await,
        5_000
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 5_000);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM identities i JOIN users u ON u.id = i.user_id"
        )
        .await,
        5_000
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM team_members").await,
        7_500
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM team_repositories").await,
        1
    );
    let audit = store
        .audit(Some("acme"), None, report.run_id)
        .await
        .expect("audit");
    assert_eq!(
        audit.iter().filter(|a| a.action == "onboard").count(),
        5_000
    );
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "team_member_add")
            .count(),
        7_500
    );
    // The logs' ids follow the order the apply wrote the rows in, across statements: they are
    // consecutive, and the outbox's ids sort as its event ids (made in write order) do.
    for (log, gaps) in [
        (
            "audit_events",
            "SELECT MAX(id) - MIN(id) + 1 - COUNT(*) FROM audit_events",
        ),
        (
            "outbox",
            "SELECT MAX(id) - MIN(id) + 1 - COUNT(*) FROM outbox",
        ),
    ] {
        assert_eq!(count(&store, gaps).await, 0, "{log} ids are consecutive");
    }
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM outbox a JOIN outbox b ON b.id = a.id + 1
             WHERE b.event_id <= a.event_id"
        )
        .await,
        0,
        "outbox ids in event order"
    );
    let second = run(&store, &config, &provider).await;
    assert!(second.plan.is_empty(), "second plan: {}", second.plan);
}
on_both_backends!(
    a_plan_larger_than_one_statement_is_written_whole_,
    a_plan_larger_than_one_statement_is_written_whole
);

/// New users get ids the directory never handed out before, even when the newest user was
/// deleted: an id names one person in the audit trail forever.
async fn a_deleted_users_id_is_never_given_to_a_new_user(store: Store) {
    let config = config("");
    let provider = FixedProvider::new(snapshot(
        vec![owner(1, "olivia"), reads_all(2, "bob")],
        None,
    ));
    run(&store, &config, &provider).await;
    let newest = count(&store, "SELECT MAX(id) FROM users").await;
    exec(
        &store,
        "DELETE FROM users WHERE id = (SELECT MAX(id) FROM users)",
    )
    .await;
    provider.set(snapshot(
        vec![owner(1, "olivia"), reads_all(3, "carol")],
        None,
    ));
    let report = run(&store, &config, &provider).await;
    assert_eq!(report.outcome, RunOutcome::Ok, "{:?}", report.error);
    let carol = store
        .list_users(Some("acme"), Some("active"))
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.login.as_deref() == Some("carol"))
        .expect("carol is onboarded");
    assert!(
        carol.user_id > newest,
        "carol got id {}, the deleted user had {newest}",
        carol.user_id
    );
}
on_both_backends!(
    a_deleted_users_id_is_never_given_to_a_new_user_,
    a_deleted_users_id_is_never_given_to_a_new_user
);

/// A value the directory cannot read stops the run with the table, column and value named,
/// instead of being read as some other value (here, a grant read as "none" would revoke it).
async fn an_unknown_value_in_a_row_is_an_error_naming_it(store: Store) {
    let config = config("");
    let teams = vec![team(
        "ops",
        None,
        &[(1, TeamRole::Maintainer)],
        &[("api", Permission::Write)],
    )];
    let provider = FixedProvider::new(snapshot(ten_members(), Some(teams)));
    run(&store, &config, &provider).await;
    exec(
        &store,
        "UPDATE team_repositories SET permission = 'superuser'",
    )
    .await;
    let err = sync_workspace(
        &store,
        workspace(&config),
        &config.safety,
        &provider,
        &RunOptions::new("test"),
    )
    .await
    .expect_err("an unreadable row stops the run");
    let text = err.to_string();
    assert!(
        text.contains("team_repositories.permission") && text.contains("\"superuser\""),
        "{text}"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM team_repositories WHERE permission = 'superuser'"
        )
        .await,
        1
    );
}
on_both_backends!(
    an_unknown_value_in_a_row_is_an_error_naming_it_,
    an_unknown_value_in_a_row_is_an_error_naming_it
);

/// A full run keeps what the provider showed as evidence, compressed (`snapshot_gz`, empty
/// `snapshot` text), and `evidence()` gives back that snapshot's JSON; a row kept before 0009
/// (JSON text, no compressed column) still reads as it was stored.
async fn evidence_round_trips_compressed_and_an_old_text_row_still_reads(store: Store) {
    let config = config("");
    let shown = snapshot(
        ten_members(),
        Some(vec![team(
            "core",
            None,
            &[(2, TeamRole::Maintainer), (3, TeamRole::Member)],
            &[("api", Permission::Write)],
        )]),
    );
    let provider = FixedProvider::new(shown.clone());
    let report = run(&store, &config, &provider).await;

    let (run_id, _, json) = store
        .evidence("acme")
        .await
        .expect("evidence read")
        .expect("evidence kept");
    assert_eq!(run_id, report.run_id);
    let kept: orgsync_core::Snapshot = serde_json::from_str(&json).expect("evidence is JSON");
    assert_eq!(kept, shown);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM evidence WHERE snapshot_gz IS NOT NULL AND snapshot = ''"
        )
        .await,
        1,
        "a new row is kept compressed, not as text"
    );

    // A row as 0008 wrote it: the JSON as text, no compressed snapshot.
    exec(
        &store,
        "UPDATE evidence SET snapshot = '{\"old\":\"text row\"}', snapshot_gz = NULL",
    )
    .await;
    let (_, _, json) = store
        .evidence("acme")
        .await
        .expect("evidence read")
        .expect("evidence kept");
    assert_eq!(json, r#"{"old":"text row"}"#);
}
on_both_backends!(
    evidence_round_trips_compressed_and_an_old_text_row_still_reads_,
    evidence_round_trips_compressed_and_an_old_text_row_still_reads
);

/// The apply's batch writes read back as written (PostgreSQL writes its plain inserts by binary
/// `COPY`, SQLite by JSON arrays): text beyond ASCII, NULLs, booleans, times and the log rows'
/// run and workspace.
async fn batch_values_read_back_as_written(store: Store) {
    let mut zoe = reads_all(2, "zoë");
    zoe.name = Some("Zoë «Ω» 🚀".to_string());
    let mut ann = owner(1, "ann");
    ann.email = Some("ann@example.com".to_string());
    let teams = vec![team(
        "core",
        None,
        &[(1, TeamRole::Maintainer), (2, TeamRole::Member)],
        &[],
    )];
    let provider = FixedProvider::new(snapshot(vec![ann, zoe], Some(teams)));
    let config = config("");
    let before = chrono::Utc::now();
    let report = run(&store, &config, &provider).await;
    let after = chrono::Utc::now();

    let users = store.list_users(Some("acme"), None).await.expect("users");
    let zoe = users
        .iter()
        .find(|u| u.login.as_deref() == Some("zoë"))
        .expect("zoë onboarded");
    assert_eq!(zoe.name.as_deref(), Some("Zoë «Ω» 🚀"));
    assert_eq!(zoe.email, None);
    assert_eq!(zoe.provider_user_id.as_deref(), Some("2"));
    assert!(!zoe.role_pinned);
    assert_eq!(
        (zoe.state.as_str(), zoe.source.as_str()),
        ("active", "sync")
    );
    assert_eq!(zoe.teams, ["core"]);
    let ann = users
        .iter()
        .find(|u| u.login.as_deref() == Some("ann"))
        .expect("ann onboarded");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.role, "admin");

    let audit = store.audit(Some("acme"), None, None).await.expect("audit");
    let onboard = audit
        .iter()
        .find(|e| e.action == "onboard" && e.subject == "zoë")
        .expect("zoë's onboard event");
    assert_eq!(onboard.run_id, report.run_id);
    assert!(report.run_id.is_some());
    assert_eq!(onboard.workspace.as_deref(), Some("acme"));
    assert!(
        before <= onboard.at && onboard.at <= after,
        "the event's time is the apply's: {before} <= {} <= {after}",
        onboard.at
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM team_members tm JOIN teams t ON t.id = tm.team_id
             WHERE t.slug = 'core' AND tm.role = 'maintainer' AND tm.source = 'sync'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM outbox o JOIN users u ON u.id = o.user_id
             WHERE u.name = 'Zoë «Ω» 🚀' AND o.team_slug IS NULL AND o.run_id IS NOT NULL"
        )
        .await,
        1,
        "zoë's onboard event in the outbox"
    );
}

on_both_backends!(
    batch_values_read_back_as_written_,
    batch_values_read_back_as_written
);

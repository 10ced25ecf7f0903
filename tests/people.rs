//! People without a Git account, Git identity mapping and admin overrides, on SQLite and on
//! PostgreSQL: every test here runs once per backend (the PostgreSQL half needs
//! ORGSYNC_TEST_POSTGRES_URL), plus one end-to-end run of the command line.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use chrono::{DateTime, Duration, Utc};
use orgsync::directory::Store;
use orgsync::directory::WorkspaceKey;
use orgsync::directory::people::{IdentityKey, NewInvitation, PeopleError, RoleOverride};
use orgsync::people::InviteToken;
use orgsync::run::{RunOptions, RunReport, sync_workspace};
use orgsync::sync::ChangeKind;
use orgsync_core::{FixedProvider, TeamRole};
use support::*;

macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let (store, _dir) = fresh_store(Backend::Sqlite).await.expect("sqlite");
                $body(store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some((store, _)) = fresh_store(Backend::Postgres).await {
                    $body(store).await;
                }
            }
        }
    };
}

const ACTOR: &str = "cli:tester";

async fn run(store: &Store, provider: &FixedProvider) -> RunReport {
    let config = config("");
    sync_workspace(
        store,
        workspace(&config),
        &config.safety,
        provider,
        &RunOptions::new("test"),
    )
    .await
    .expect("run recorded")
}

async fn acme(store: &Store) -> WorkspaceKey {
    store
        .ensure_workspace("acme", "github", "api.github.com", "acme", Utc::now())
        .await
        .expect("workspace")
}

/// The members and the `eng` team that the tests sync first.
fn provider_with_team() -> FixedProvider {
    FixedProvider::new(snapshot(
        vec![
            owner(1, "olivia"),
            reads_all(2, "bob"),
            reads_all(3, "carol"),
        ],
        Some(vec![team("eng", None, &[(2, TeamRole::Member)], &[])]),
    ))
}

async fn invite_at(
    store: &Store,
    email: &str,
    teams: &[String],
    now: DateTime<Utc>,
    lifetime: Duration,
) -> Result<(InviteToken, i64), PeopleError> {
    let ws = acme(store).await;
    let token = InviteToken::generate().expect("random");
    let row = store
        .create_invitation(&NewInvitation {
            workspace: &ws,
            email,
            role: "member",
            teams,
            admin: false,
            token_hash: token.hash(),
            now,
            expires_at: now + lifetime,
            actor: ACTOR,
        })
        .await?;
    Ok((token, row.id))
}

async fn invite(store: &Store, email: &str, teams: &[String]) -> (InviteToken, i64) {
    invite_at(store, email, teams, Utc::now(), Duration::days(7))
        .await
        .expect("invitation created")
}

async fn accept(store: &Store, token: &InviteToken, name: &str) -> Result<i64, PeopleError> {
    store
        .accept_invitation(&token.hash(), name, Utc::now(), ACTOR)
        .await
        .map(|a| a.user_id)
}

async fn state_of_invitation(store: &Store, id: i64) -> String {
    store
        .invitation(id)
        .await
        .expect("read")
        .expect("invitation exists")
        .state
}

/// How many rows of the invitation and audit tables mention `needle` anywhere.
async fn mentions(store: &Store, needle: &str) -> i64 {
    let like = format!("%{needle}%");
    let sql = "SELECT (SELECT COUNT(*) FROM invitations
                       WHERE token_hash LIKE $1 OR email LIKE $1 OR teams LIKE $1
                          OR created_by LIKE $1)
                    + (SELECT COUNT(*) FROM audit_events
                       WHERE detail LIKE $1 OR subject LIKE $1 OR actor LIKE $1)";
    if let Some(mut conn) = sqlite_conn(store).await {
        sqlx::query_scalar(sql)
            .bind(like)
            .fetch_one(&mut conn)
            .await
            .expect("sqlite scan")
    } else {
        let mut conn = postgres_conn(store).await.expect("a connection");
        sqlx::query_scalar(sql)
            .bind(like)
            .fetch_one(&mut conn)
            .await
            .expect("postgres scan")
    }
}

fn refusal(result: Result<i64, PeopleError>) -> String {
    match result {
        Err(e @ PeopleError::TokenRefused(_)) => e.to_string(),
        other => panic!("expected a refused token, got {other:?}"),
    }
}

async fn invitation_life_cycle_creates_an_invited_member_once(store: Store) {
    run(&store, &provider_with_team()).await;
    let (token, id) = invite(&store, "ann@example.org", &["eng".to_string()]).await;
    let pending = store
        .list_invitations(Some("acme"), Some("pending"))
        .await
        .expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].email, "ann@example.org");
    assert_eq!(pending[0].teams, vec!["eng"]);

    let accepted = store
        .accept_invitation(&token.hash(), "Ann Lee", Utc::now(), ACTOR)
        .await
        .expect("accepted");
    assert_eq!(accepted.teams, vec!["eng"]);
    assert_eq!(state_of_invitation(&store, id).await, "accepted");

    let users = store.list_users(Some("acme"), None).await.expect("users");
    let ann = users
        .iter()
        .find(|u| u.user_id == accepted.user_id)
        .expect("ann is a member");
    assert_eq!(
        (
            ann.name.as_deref(),
            ann.email.as_deref(),
            ann.role.as_str(),
            ann.state.as_str(),
            ann.source.as_str(),
        ),
        (
            Some("Ann Lee"),
            Some("ann@example.org"),
            "member",
            "active",
            "invitation"
        )
    );
    assert_eq!(ann.teams, vec!["eng"]);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM team_members WHERE source = 'invitation'"
        )
        .await,
        1
    );

    // A token works once.
    let again = refusal(accept(&store, &token, "Ann Again").await);
    assert!(again.contains("already accepted"), "{again}");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM users WHERE email = 'ann@example.org'"
        )
        .await,
        1
    );

    // The audit trail has both steps; neither it nor the invitation holds the token.
    let audit = store.audit(Some("acme"), None, None).await.expect("audit");
    let actions: Vec<&str> = audit
        .iter()
        .filter(|a| a.actor == ACTOR)
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(actions, vec!["invitation_create", "invitation_accept"]);
    assert_eq!(mentions(&store, token.reveal()).await, 0);
    assert_eq!(
        mentions(&store, &token.hash()).await,
        1,
        "only the hash is stored"
    );
}
on_both_backends!(
    invitation_life_cycle_creates_an_invited_member_once_,
    invitation_life_cycle_creates_an_invited_member_once
);

async fn overdue_invitations_expire_and_their_tokens_are_refused(store: Store) {
    let t0 = Utc::now();
    let (swept, swept_id) = invite_at(&store, "sweep@example.org", &[], t0, Duration::hours(1))
        .await
        .expect("created");
    let (lazy, lazy_id) = invite_at(&store, "lazy@example.org", &[], t0, Duration::hours(1))
        .await
        .expect("created");
    let (fresh, fresh_id) = invite_at(&store, "fresh@example.org", &[], t0, Duration::days(7))
        .await
        .expect("created");

    // Before the expiry nothing changes; after it, the daemon's sweep expires both overdue ones.
    assert_eq!(
        store
            .expire_invitations(t0 + Duration::minutes(59))
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        store
            .expire_invitations(t0 + Duration::hours(2))
            .await
            .expect("sweep"),
        2
    );
    assert_eq!(state_of_invitation(&store, swept_id).await, "expired");
    assert_eq!(state_of_invitation(&store, lazy_id).await, "expired");
    assert_eq!(state_of_invitation(&store, fresh_id).await, "pending");
    let why = refusal(accept(&store, &swept, "Sweep").await);
    assert!(why.contains("expired"), "{why}");
    let why = refusal(accept(&store, &lazy, "Lazy").await);
    assert!(why.contains("invite resend"), "{why}");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'invitation_expire'"
        )
        .await,
        2
    );

    // An accept after the expiry refuses even when no sweep ran in between.
    let late = store
        .accept_invitation(&fresh.hash(), "Fresh", t0 + Duration::days(8), ACTOR)
        .await
        .map(|a| a.user_id);
    assert!(refusal(late).contains("expired"));
    assert_eq!(state_of_invitation(&store, fresh_id).await, "expired");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 0);
}
on_both_backends!(
    overdue_invitations_expire_and_their_tokens_are_refused_,
    overdue_invitations_expire_and_their_tokens_are_refused
);

async fn resend_invalidates_the_old_token(store: Store) {
    let t0 = Utc::now();
    let (old, id) = invite_at(&store, "bea@example.org", &[], t0, Duration::hours(1))
        .await
        .expect("created");
    store
        .expire_invitations(t0 + Duration::hours(2))
        .await
        .expect("sweep");
    // An expired invitation can be resent: new token, new expiry, pending again.
    let new = InviteToken::generate().expect("random");
    let row = store
        .resend_invitation(
            id,
            new.hash(),
            Utc::now() + Duration::days(7),
            Utc::now(),
            ACTOR,
        )
        .await
        .expect("resent");
    assert_eq!(row.state, "pending");
    assert!(row.expires_at > Utc::now() + Duration::days(6));
    let why = refusal(accept(&store, &old, "Bea").await);
    assert!(why.contains("not valid"), "{why}");
    accept(&store, &new, "Bea")
        .await
        .expect("the new token accepts");
    // An accepted invitation cannot be resent or cancelled.
    let another = InviteToken::generate().expect("random");
    let err = store
        .resend_invitation(
            id,
            another.hash(),
            Utc::now() + Duration::days(1),
            Utc::now(),
            ACTOR,
        )
        .await
        .expect_err("accepted invitations stay closed");
    assert!(matches!(err, PeopleError::InvitationClosed { .. }), "{err}");
    let err = store
        .cancel_invitation(id, Utc::now(), ACTOR)
        .await
        .expect_err("accepted invitations stay closed");
    assert!(err.to_string().contains("is accepted"), "{err}");
}
on_both_backends!(
    resend_invalidates_the_old_token_,
    resend_invalidates_the_old_token
);

async fn cancelled_invitation_is_refused_with_the_reason(store: Store) {
    let (token, id) = invite(&store, "cid@example.org", &[]).await;
    store
        .cancel_invitation(id, Utc::now(), ACTOR)
        .await
        .expect("cancelled");
    let why = refusal(accept(&store, &token, "Cid").await);
    assert!(why.contains("cancelled"), "{why}");
    assert!(!why.contains(token.reveal()));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 0);
    // The address can be invited again once nothing is pending.
    invite(&store, "cid@example.org", &[]).await;
}
on_both_backends!(
    cancelled_invitation_is_refused_with_the_reason_,
    cancelled_invitation_is_refused_with_the_reason
);

async fn reinviting_a_pending_address_says_so(store: Store) {
    let (_, id) = invite(&store, "dan@example.org", &[]).await;
    let err = invite_at(
        &store,
        "dan@example.org",
        &[],
        Utc::now(),
        Duration::days(1),
    )
    .await
    .expect_err("second pending invitation refused");
    match &err {
        PeopleError::AlreadyInvited { id: pending, .. } => assert_eq!(*pending, id),
        other => panic!("expected AlreadyInvited, got {other:?}"),
    }
    assert!(err.to_string().contains("invite resend"), "{err}");
    let err = invite_at(
        &store,
        "eve@example.org",
        &["nope".to_string()],
        Utc::now(),
        Duration::days(1),
    )
    .await
    .expect_err("unknown team refused");
    assert!(matches!(err, PeopleError::UnknownTeams { .. }), "{err}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM invitations").await, 1);
}
on_both_backends!(
    reinviting_a_pending_address_says_so_,
    reinviting_a_pending_address_says_so
);

async fn concurrent_accepts_of_one_token_have_exactly_one_winner(store: Store) {
    let (token, id) = invite(&store, "fay@example.org", &[]).await;
    let mut tasks = Vec::new();
    // All accepts leave the barrier together, so their transactions overlap.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    for i in 0..8 {
        let store = store.clone();
        let hash = token.hash();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store
                .accept_invitation(&hash, &format!("Fay {i}"), Utc::now(), ACTOR)
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.expect("task ran") {
            Ok(_) => winners += 1,
            Err(PeopleError::TokenRefused(why)) => {
                assert!(why.contains("already accepted"), "{why}")
            }
            Err(other) => panic!("a losing accept must be refused cleanly, got {other}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM memberships").await, 1);
    assert_eq!(state_of_invitation(&store, id).await, "accepted");
}
on_both_backends!(
    concurrent_accepts_of_one_token_have_exactly_one_winner_,
    concurrent_accepts_of_one_token_have_exactly_one_winner
);

async fn sync_that_removes_a_provider_member_leaves_invited_users_untouched(store: Store) {
    let provider = provider_with_team();
    run(&store, &provider).await;
    let (token, _) = invite(&store, "gus@example.org", &["eng".to_string()]).await;
    let gus = accept(&store, &token, "Gus").await.expect("accepted");
    // carol leaves the provider; the eng team loses its synced members.
    provider.set(snapshot(
        vec![owner(1, "olivia"), reads_all(2, "bob")],
        Some(vec![team("eng", None, &[], &[])]),
    ));
    let report = run(&store, &provider).await;
    assert_eq!(
        report.plan.tally()[ChangeKind::Offboard],
        1,
        "{}",
        report.plan
    );
    let users = store.list_users(Some("acme"), None).await.expect("users");
    let carol = users
        .iter()
        .find(|u| u.login.as_deref() == Some("carol"))
        .expect("carol");
    assert_eq!(carol.state, "offboarded");
    let gus = users.iter().find(|u| u.user_id == gus).expect("gus");
    assert_eq!(
        (gus.state.as_str(), gus.source.as_str(), gus.role.as_str()),
        ("active", "invitation", "member")
    );
    assert_eq!(gus.teams, vec!["eng"], "invitation team membership kept");
    let bob = users
        .iter()
        .find(|u| u.login.as_deref() == Some("bob"))
        .expect("bob");
    assert!(
        bob.teams.is_empty(),
        "the synced team membership was removed"
    );
    let again = run(&store, &provider).await;
    assert!(again.plan.is_empty(), "{}", again.plan);
}
on_both_backends!(
    sync_that_removes_a_provider_member_leaves_invited_users_untouched_,
    sync_that_removes_a_provider_member_leaves_invited_users_untouched
);

async fn an_identity_maps_to_exactly_one_user(store: Store) {
    let ws = acme(&store).await;
    let now = Utc::now();
    let robot = store
        .add_service_account(&ws, "deploy-bot", "member", now, ACTOR)
        .await
        .expect("service account");
    let (token, _) = invite(&store, "hal@example.org", &[]).await;
    let hal = accept(&store, &token, "Hal").await.expect("accepted");
    let gh = IdentityKey {
        provider: "github".into(),
        host: "api.github.com".into(),
        provider_user_id: "4242".into(),
        login: Some("deploy-bot".into()),
    };
    store
        .link_identity(robot, &gh, now, ACTOR)
        .await
        .expect("first mapping");
    let err = store
        .link_identity(hal, &gh, now, ACTOR)
        .await
        .expect_err("second mapping refused");
    match &err {
        PeopleError::IdentityTaken { user_id, user, .. } => {
            assert_eq!((*user_id, user.as_str()), (robot, "deploy-bot"))
        }
        other => panic!("expected IdentityTaken, got {other:?}"),
    }
    assert!(err.to_string().contains("deploy-bot"), "{err}");

    // Commit e-mails are identities too, compared without case.
    store
        .link_identity(hal, &IdentityKey::email("Hal@Example.org"), now, ACTOR)
        .await
        .expect("e-mail mapping");
    let err = store
        .link_identity(robot, &IdentityKey::email("hal@example.ORG"), now, ACTOR)
        .await
        .expect_err("same address, other case");
    assert!(err.to_string().contains("Hal"), "{err}");
    let found = store
        .identity_by_login("github", "api.github.com", "Deploy-Bot")
        .await
        .expect("lookup")
        .expect("known login");
    assert_eq!(found.user_id, robot);

    // Unlinking frees the identity for another user.
    store
        .unlink_identity(robot, &gh, now, ACTOR)
        .await
        .expect("unlinked");
    store
        .link_identity(hal, &gh, now, ACTOR)
        .await
        .expect("free again");
    let hal_ids = store.list_identities(Some(hal)).await.expect("list");
    assert_eq!(hal_ids.len(), 2);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM audit_events WHERE action IN ('identity_link', 'identity_unlink')"
        )
        .await,
        4
    );
}
on_both_backends!(
    an_identity_maps_to_exactly_one_user_,
    an_identity_maps_to_exactly_one_user
);

async fn synced_identity_cannot_be_unlinked_while_sync_uses_it(store: Store) {
    run(&store, &provider_with_team()).await;
    let bob = store
        .identity_by_login("github", "api.github.com", "bob")
        .await
        .expect("lookup")
        .expect("bob synced");
    let key = IdentityKey {
        provider: "github".into(),
        host: "api.github.com".into(),
        provider_user_id: bob.provider_user_id.clone(),
        login: None,
    };
    let err = store
        .unlink_identity(bob.user_id, &key, Utc::now(), ACTOR)
        .await
        .expect_err("in use");
    assert!(matches!(err, PeopleError::IdentityInUse { .. }), "{err}");
}
on_both_backends!(
    synced_identity_cannot_be_unlinked_while_sync_uses_it_,
    synced_identity_cannot_be_unlinked_while_sync_uses_it
);

async fn suspended_and_pinned_users_survive_syncs_until_released(store: Store) {
    let provider = provider_with_team();
    run(&store, &provider).await;
    let ws = acme(&store).await;
    let id_of = |login: &'static str| {
        let store = store.clone();
        async move {
            store
                .identity_by_login("github", "api.github.com", login)
                .await
                .expect("lookup")
                .expect("synced")
                .user_id
        }
    };
    let bob = id_of("bob").await;
    let carol = id_of("carol").await;
    store
        .suspend(&ws, bob, "laptop stolen", Utc::now(), ACTOR)
        .await
        .expect("suspended");
    store
        .set_role(
            &ws,
            carol,
            &RoleOverride::Pin("security".into()),
            Utc::now(),
            ACTOR,
        )
        .await
        .expect("pinned");

    // bob leaves the provider and carol is promoted there: the overrides win.
    provider.set(snapshot(
        vec![owner(1, "olivia"), owner(3, "carol")],
        Some(vec![team("eng", None, &[(2, TeamRole::Member)], &[])]),
    ));
    let report = run(&store, &provider).await;
    assert_eq!(
        report.plan.tally()[ChangeKind::Offboard],
        0,
        "{}",
        report.plan
    );
    assert_eq!(
        report.plan.tally()[ChangeKind::RoleChange],
        0,
        "{}",
        report.plan
    );
    let users = store.list_users(Some("acme"), None).await.expect("users");
    let row = |id: i64| users.iter().find(|u| u.user_id == id).expect("member");
    assert_eq!(
        (row(bob).state.as_str(), row(bob).reason.as_deref()),
        ("suspended", Some("laptop stolen"))
    );
    assert_eq!(
        (row(carol).role.as_str(), row(carol).role_pinned),
        ("security", true)
    );

    // Suspending twice says so; releasing lets the next sync apply the provider's role.
    let err = store
        .suspend(&ws, bob, "again", Utc::now(), ACTOR)
        .await
        .expect_err("already suspended");
    assert!(err.to_string().contains("is suspended"), "{err}");
    store
        .set_role(&ws, carol, &RoleOverride::Release, Utc::now(), ACTOR)
        .await
        .expect("released");
    let report = run(&store, &provider).await;
    assert_eq!(
        report.plan.tally()[ChangeKind::RoleChange],
        1,
        "{}",
        report.plan
    );
    let users = store.list_users(Some("acme"), None).await.expect("users");
    let carol_row = users.iter().find(|u| u.user_id == carol).expect("carol");
    assert_eq!(
        (carol_row.role.as_str(), carol_row.role_pinned),
        ("admin", false)
    );

    // Unsuspended, bob is active again; he left the provider, so the next sync offboards him.
    store
        .unsuspend(&ws, bob, Utc::now(), ACTOR)
        .await
        .expect("unsuspended");
    let report = run(&store, &provider).await;
    assert_eq!(
        report.plan.tally()[ChangeKind::Offboard],
        1,
        "{}",
        report.plan
    );
    let actions = store.audit(Some("acme"), None, None).await.expect("audit");
    let mine: Vec<&str> = actions
        .iter()
        .filter(|a| a.actor == ACTOR)
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(
        mine,
        vec!["suspend", "role_pin", "role_release", "unsuspend"]
    );
}
on_both_backends!(
    suspended_and_pinned_users_survive_syncs_until_released_,
    suspended_and_pinned_users_survive_syncs_until_released
);

async fn service_accounts_are_manual_members_syncs_never_touch(store: Store) {
    let provider = provider_with_team();
    run(&store, &provider).await;
    let ws = acme(&store).await;
    let bot = store
        .add_service_account(&ws, "ci-bot", "member", Utc::now(), ACTOR)
        .await
        .expect("created");
    let err = store
        .add_service_account(&ws, "ci-bot", "member", Utc::now(), ACTOR)
        .await
        .expect_err("duplicate name");
    assert!(
        matches!(err, PeopleError::ServiceAccountExists { .. }),
        "{err}"
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM users WHERE kind = 'service'").await,
        1
    );
    provider.set(snapshot(vec![owner(1, "olivia")], None));
    run(&store, &provider).await;
    let users = store.list_users(Some("acme"), None).await.expect("users");
    let row = users.iter().find(|u| u.user_id == bot).expect("bot");
    assert_eq!(
        (row.state.as_str(), row.source.as_str()),
        ("active", "manual")
    );
}
on_both_backends!(
    service_accounts_are_manual_members_syncs_never_touch_,
    service_accounts_are_manual_members_syncs_never_touch
);

// ---------------------------------------------------------------------------------------------
// The command line, end to end (SQLite).

fn orgsync(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("USER", "tester")
        .env_remove("SUDO_USER")
        // Everything logged (sqlx statements included), so the test can look for the token there.
        .env("ORGSYNC_LOG", "trace")
        .output()
        .expect("run orgsync")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_invites_maps_identities_and_overrides_with_audit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{}"

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
token_env = "ORGSYNC_TEST_TOKEN"
[workspace.roles]
admin = "admin"
member = "developer"
"#,
            dir.path().join("d.db").display()
        ),
    )
    .expect("config written");

    let bad = orgsync(
        &config,
        &[
            "invite",
            "create",
            "--workspace",
            "acme",
            "--email",
            "ivy@example.org",
            "--role",
            "wizard",
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("developer"),
        "{}",
        text(&bad.stderr)
    );

    let created = orgsync(
        &config,
        &[
            "invite",
            "create",
            "--workspace",
            "acme",
            "--email",
            "Ivy@Example.org",
            "--role",
            "developer",
        ],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let out = text(&created.stdout);
    let token = out
        .split_whitespace()
        .skip_while(|w| *w != "accept")
        .nth(1)
        .expect("the accept command is printed")
        .to_string();
    assert_eq!(token.len(), 64, "{out}");
    assert_eq!(out.matches(&token).count(), 1, "shown once: {out}");
    assert!(!text(&created.stderr).contains(&token), "token in the log");

    let again = orgsync(
        &config,
        &[
            "invite",
            "create",
            "--workspace",
            "acme",
            "--email",
            "ivy@example.org",
            "--role",
            "developer",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already has a pending invitation"));

    let accepted = orgsync(&config, &["invite", "accept", &token, "--name", "Ivy"]);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    assert!(!text(&accepted.stderr).contains(&token), "token in the log");
    assert!(!text(&accepted.stdout).contains(&token), "token echoed");
    let refused = orgsync(&config, &["invite", "accept", &token, "--name", "Ivy"]);
    assert_eq!(refused.status.code(), Some(1));
    let why = text(&refused.stderr);
    assert!(
        why.contains("already accepted") && !why.contains(&token),
        "{why}"
    );

    let list = orgsync(
        &config,
        &["invite", "list", "--state", "accepted", "--json"],
    );
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(rows[0]["email"], "ivy@example.org");
    let ivy = rows[0]["accepted_user_id"]
        .as_i64()
        .expect("user id")
        .to_string();
    assert!(
        !text(&list.stdout).contains("token"),
        "no token or hash listed"
    );

    let linked = orgsync(
        &config,
        &[
            "identities",
            "link",
            "--user",
            &ivy,
            "--provider",
            "github",
            "--id",
            "777",
        ],
    );
    assert!(linked.status.success(), "{}", text(&linked.stderr));
    let bot = orgsync(
        &config,
        &[
            "users",
            "add-service-account",
            "release-bot",
            "--workspace",
            "acme",
        ],
    );
    assert!(bot.status.success(), "{}", text(&bot.stderr));
    let taken = orgsync(
        &config,
        &[
            "identities",
            "link",
            "--user",
            "2",
            "--provider",
            "github",
            "--login",
            "nobody",
        ],
    );
    assert_eq!(taken.status.code(), Some(2), "{}", text(&taken.stderr));
    let ids = orgsync(&config, &["identities", "list", "--user", &ivy, "--json"]);
    let ids: serde_json::Value = serde_json::from_slice(&ids.stdout).expect("json");
    assert_eq!(ids[0]["provider_user_id"], "777");

    for args in [
        vec![
            "users",
            "suspend",
            "--workspace",
            "acme",
            "--user",
            &ivy,
            "--reason",
            "audit",
        ],
        vec![
            "users",
            "set-role",
            "--workspace",
            "acme",
            "--user",
            &ivy,
            "--role",
            "admin",
            "--pin",
        ],
    ] {
        let out = orgsync(&config, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let users = orgsync(&config, &["users", "list", "--json"]);
    let users: serde_json::Value = serde_json::from_slice(&users.stdout).expect("json");
    let ivy_row = users
        .as_array()
        .expect("array")
        .iter()
        .find(|u| u["email"] == "ivy@example.org")
        .expect("ivy listed");
    assert_eq!(
        (
            &ivy_row["state"],
            &ivy_row["role"],
            &ivy_row["role_pinned"],
            &ivy_row["source"]
        ),
        (
            &serde_json::json!("suspended"),
            &serde_json::json!("admin"),
            &serde_json::json!(true),
            &serde_json::json!("invitation")
        )
    );
    let usage = orgsync(
        &config,
        &[
            "users",
            "set-role",
            "--workspace",
            "acme",
            "--user",
            &ivy,
            "--pin",
        ],
    );
    assert_eq!(
        usage.status.code(),
        Some(2),
        "--pin without --role is bad usage"
    );

    let audit = orgsync(&config, &["audit", "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("json");
    let by_cli: Vec<&str> = audit
        .as_array()
        .expect("array")
        .iter()
        .filter(|a| a["actor"] == "cli:tester")
        .filter_map(|a| a["action"].as_str())
        .collect();
    // `audit` lists the newest first.
    assert_eq!(
        by_cli,
        vec![
            "role_pin",
            "suspend",
            "service_account_add",
            "identity_link",
            "invitation_accept",
            "invitation_create",
        ]
    );
}

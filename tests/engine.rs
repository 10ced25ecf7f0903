//! The pure engine on data alone: admit, plan and guard, with no directory and no provider.
//! A snapshot and a current directory are built in memory; the assertions read the plan's
//! `Display` text, which is what a human reviews before `--force` or `approve`. What only SQL
//! can show (transactions, concurrent admins, both backends) stays in tests/directory.rs.

mod support;

use orgsync::sync::plan::{
    Current, CurrentMember, CurrentTeam, MembershipSource, MembershipState, Plan,
};
use orgsync::sync::{GuardTrip, admit, guard, plan};
use orgsync_core::{AccessVerdict, Member, Permission, Snapshot, TeamRole};
use std::collections::BTreeMap;
use support::*;

/// A directory holding `members` as active, sync-sourced memberships (user id = provider id).
fn directory(members: &[Member]) -> Current {
    let mut current = Current::default();
    for m in members {
        let user_id: i64 = m.id.parse().expect("numeric test ids");
        current.members.insert(
            m.id.clone(),
            CurrentMember {
                user_id,
                login: m.login.clone(),
                name: m.name.clone(),
                email: m.email.clone(),
                role: m.role.clone(),
                role_pinned: false,
                state: MembershipState::Active,
                source: MembershipSource::Sync,
            },
        );
        if m.role == "admin" {
            current.admins.insert(user_id);
        }
    }
    current
}

/// The plan and guard verdicts that take `current` to what `snapshot` admits.
fn decide(extra: &str, current: &Current, snapshot: &Snapshot) -> (Plan, Vec<GuardTrip>) {
    let config = config(extra);
    let ws = workspace(&config);
    let desired = admit(snapshot, ws);
    let p = plan(&ws.name, current, &desired);
    let trips = guard(&p, current, &desired, &config.safety, &ws.admin_role);
    (p, trips)
}

/// The plan's people and team lines, without the repository bookkeeping line.
fn lines(p: &Plan) -> Vec<String> {
    p.to_string()
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.ends_with("repository record(s) updated)"))
        .map(str::to_string)
        .collect()
}

fn ten_members() -> Vec<Member> {
    let mut m = vec![owner(1, "olivia")];
    for i in 2..=10 {
        m.push(reads_all(i, &format!("user{i}")));
    }
    m
}

#[test]
fn who_cannot_read_is_not_onboarded() {
    let snap = snapshot(
        vec![
            owner(1, "olivia"),
            reads_all(2, "bob"),
            cannot_read(3, "carol", "web"),
        ],
        None,
    );
    let (p, trips) = decide("", &Current::default(), &snap);
    assert_eq!(
        lines(&p),
        [
            "+ onboard olivia (id 1) as admin",
            "+ onboard bob (id 2) as member"
        ]
    );
    assert!(trips.is_empty(), "{trips:?}");
}

#[test]
fn offboard_reasons_distinguish_left_from_lost_access() {
    let current = directory(&ten_members());
    let mut members = ten_members();
    members.retain(|m| m.login != "user9");
    if let Some(m) = members.iter_mut().find(|m| m.login == "user10") {
        m.access = AccessVerdict::CannotRead {
            repository: "web".into(),
        };
    }
    let (p, _) = decide("", &current, &snapshot(members, None));
    assert_eq!(
        lines(&p),
        [
            "- offboard user10: lost access to repository web",
            "- offboard user9: left the account",
        ]
    );
}

#[test]
fn a_login_rename_is_an_identity_update_not_an_offboard() {
    let current = directory(&ten_members());
    let mut members = ten_members();
    members[1].login = "user2-renamed".into();
    let (p, trips) = decide("", &current, &snapshot(members, None));
    assert_eq!(lines(&p), ["~ rename user2 -> user2-renamed"]);
    assert!(trips.is_empty(), "{trips:?}");
}

#[test]
fn offboards_over_the_threshold_trip_the_guard() {
    let current = directory(&ten_members());
    let mut members = ten_members();
    members.truncate(4);
    let (p, trips) = decide("", &current, &snapshot(members, None));
    assert_eq!(p.to_string().matches("- offboard").count(), 6, "{p}");
    let text: Vec<String> = trips.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("offboards 6")), "{text:?}");
}

#[test]
fn five_offboards_pass_under_the_count_threshold() {
    let current = directory(&ten_members());
    let mut members = ten_members();
    members.truncate(5);
    let (p, trips) = decide("", &current, &snapshot(members, None));
    assert_eq!(p.to_string().matches("- offboard").count(), 5, "{p}");
    assert!(trips.is_empty(), "{trips:?}");
}

#[test]
fn demoting_the_last_owner_trips_the_no_admin_guard() {
    let current = directory(&ten_members());
    let mut members = ten_members();
    members[0].role = "member".into();
    members[0].is_owner = false;
    let (p, trips) = decide("", &current, &snapshot(members, None));
    assert_eq!(lines(&p), ["~ role of olivia: admin -> member"]);
    assert!(
        trips.iter().any(|t| t.to_string().contains("admin")),
        "{trips:?}"
    );
}

#[test]
fn teams_replicate_with_members_and_grants() {
    let teams = vec![team(
        "ops",
        None,
        &[(1, TeamRole::Maintainer), (2, TeamRole::Member)],
        &[("api", Permission::Write)],
    )];
    let current = directory(&ten_members());
    let (p, _) = decide("", &current, &snapshot(ten_members(), Some(teams)));
    assert_eq!(
        lines(&p),
        [
            "+ team ops",
            "+ olivia joins team ops as maintainer",
            "+ user2 joins team ops as member",
            "+ team ops gets write on api",
        ]
    );
    // The same teams in the directory: nothing to do.
    let mut current = current;
    current.teams.insert(
        "ops".into(),
        CurrentTeam {
            name: "OPS".into(),
            parent: None,
            source: MembershipSource::Sync,
            members: BTreeMap::from([
                ("1".into(), TeamRole::Maintainer),
                ("2".into(), TeamRole::Member),
            ]),
            repositories: BTreeMap::from([("api".into(), Permission::Write)]),
        },
    );
    let teams = vec![team(
        "ops",
        None,
        &[(1, TeamRole::Maintainer), (2, TeamRole::Member)],
        &[("api", Permission::Write)],
    )];
    let (p, _) = decide("", &current, &snapshot(ten_members(), Some(teams)));
    assert!(lines(&p).is_empty(), "{p}");
}

//! Properties of the engine over arbitrary directories and snapshots, against a real SQLite
//! directory: applying a plan reaches the desired state, planning again is empty, and no plan
//! touches an invitation/manual membership or a suspended user.

mod support;

use orgsync::run::{RunOptions, sync_workspace};
use orgsync::sync::plan::{Change, MembershipSource, MembershipState};
use orgsync_core::{AccessVerdict, FixedProvider, MemberState, Permission, TeamRole};
use proptest::prelude::*;
use std::collections::BTreeSet;
use support::*;

#[derive(Debug, Clone)]
struct M {
    id: u64,
    rename: bool,
    owner: bool,
    state: u8,
    access: u8,
}

fn members() -> impl Strategy<Value = Vec<M>> {
    proptest::collection::vec(
        (
            1u64..=8,
            any::<bool>(),
            prop::bool::weighted(0.2),
            0u8..10,
            0u8..4,
        )
            .prop_map(|(id, rename, owner, state, access)| M {
                id,
                rename,
                owner,
                state,
                access,
            }),
        0..8,
    )
}

#[derive(Debug, Clone)]
struct T {
    slug: usize,
    parent: Option<usize>,
    members: Vec<(u64, bool)>,
    repo: Option<bool>,
}

fn teams() -> impl Strategy<Value = Option<Vec<T>>> {
    proptest::option::weighted(
        0.8,
        proptest::collection::vec(
            (
                0usize..4,
                proptest::option::of(0usize..4),
                proptest::collection::vec((1u64..=8, any::<bool>()), 0..4),
                proptest::option::of(any::<bool>()),
            )
                .prop_map(|(slug, parent, members, repo)| T {
                    slug,
                    parent,
                    members,
                    repo,
                }),
            0..4,
        ),
    )
}

const SLUGS: [&str; 4] = ["core", "web", "ops", "data"];

fn build(ms: &[M], ts: &Option<Vec<T>>) -> orgsync_core::Snapshot {
    let mut seen = BTreeSet::new();
    let members = ms
        .iter()
        .filter(|m| seen.insert(m.id))
        .map(|m| {
            let login = if m.rename {
                format!("u{}-new", m.id)
            } else {
                format!("u{}", m.id)
            };
            let access = match m.access {
                0 => AccessVerdict::CannotRead {
                    repository: "web".into(),
                },
                _ => AccessVerdict::ReadsAll,
            };
            let mut member = if m.owner {
                owner(m.id, &login)
            } else {
                member(m.id, &login, "member", access)
            };
            member.state = match m.state {
                0 => MemberState::Pending,
                1 => MemberState::Blocked,
                _ => MemberState::Active,
            };
            member
        })
        .collect();
    let teams = ts.as_ref().map(|ts| {
        let mut slugs = BTreeSet::new();
        ts.iter()
            .filter(|t| slugs.insert(t.slug))
            .map(|t| {
                let ms: Vec<(u64, TeamRole)> = t
                    .members
                    .iter()
                    .map(|(id, maint)| {
                        (
                            *id,
                            if *maint {
                                TeamRole::Maintainer
                            } else {
                                TeamRole::Member
                            },
                        )
                    })
                    .collect::<std::collections::BTreeMap<_, _>>()
                    .into_iter()
                    .collect();
                let repos: Vec<(&str, Permission)> = match t.repo {
                    Some(true) => vec![("api", Permission::Write)],
                    Some(false) => vec![("web", Permission::Read)],
                    None => vec![],
                };
                team(
                    SLUGS[t.slug],
                    t.parent.filter(|p| *p != t.slug).map(|p| SLUGS[p]),
                    &ms,
                    &repos,
                )
            })
            .collect()
    });
    snapshot(members, teams)
}

fn forced() -> RunOptions {
    let mut o = RunOptions::new("test");
    o.force = true;
    o
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn apply_reaches_desired_state_and_replanning_is_empty(
        first in members(), first_teams in teams(),
        second in members(), second_teams in teams(),
        suspend in proptest::collection::btree_set(1u64..=8, 0..3),
        manual in proptest::collection::btree_set(1u64..=8, 0..3),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let (store, _dir) = fresh_store(Backend::Sqlite).await.expect("sqlite");
            let config = config("");
            let ws = workspace(&config);
            let provider = FixedProvider::new(build(&first, &first_teams));
            sync_workspace(&store, ws, &config.safety, &provider, &forced()).await.expect("first run");

            // Admins act between runs: suspend some people, take over others by hand.
            for id in &suspend {
                let sql = format!("UPDATE memberships SET state = 'suspended' WHERE user_id = (SELECT user_id FROM identities WHERE provider_user_id = '{id}')");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut sqlite_conn(&store).await.expect("sqlite")).await.expect("suspend");
            }
            for id in &manual {
                let sql = format!("UPDATE memberships SET source = 'manual' WHERE user_id = (SELECT user_id FROM identities WHERE provider_user_id = '{id}')");
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut sqlite_conn(&store).await.expect("sqlite")).await.expect("manual");
            }
            let key = store.workspace("acme").await.expect("q").expect("ws");
            let before = store.load_current(&key, "admin").await.expect("load");
            let protected: BTreeSet<String> = before.members.iter()
                .filter(|(_, m)| m.source != MembershipSource::Sync || m.state == MembershipState::Suspended)
                .map(|(pid, _)| pid.clone())
                .collect();

            let snap = build(&second, &second_teams);
            provider.set(snap.clone());
            let report = sync_workspace(&store, ws, &config.safety, &provider, &forced()).await.expect("second run");
            prop_assert_eq!(report.outcome, orgsync::directory::RunOutcome::Ok, "{:?}", report.error);

            // No change names a protected person.
            for change in &report.plan.changes {
                let pid = match change {
                    Change::Onboard { provider_user_id, .. }
                    | Change::Reactivate { provider_user_id, .. }
                    | Change::Offboard { provider_user_id, .. }
                    | Change::RoleChange { provider_user_id, .. }
                    | Change::IdentityUpdate { provider_user_id, .. }
                    | Change::TeamMemberAdd { provider_user_id, .. }
                    | Change::TeamMemberUpdate { provider_user_id, .. }
                    | Change::TeamMemberRemove { provider_user_id, .. } => Some(provider_user_id),
                    _ => None,
                };
                if let Some(pid) = pid {
                    prop_assert!(!protected.contains(pid), "plan touches protected {}: {}", pid, change);
                }
            }

            // The directory now holds the desired state for everyone sync owns.
            let desired = orgsync::sync::admit(&snap, ws);
            let after = store.load_current(&key, "admin").await.expect("load");
            for (pid, m) in &after.members {
                if protected.contains(pid) {
                    prop_assert_eq!(Some(m), before.members.get(pid), "protected membership changed");
                    continue;
                }
                match desired.members.get(pid) {
                    Some(want) => {
                        prop_assert_eq!(m.state, MembershipState::Active);
                        prop_assert_eq!(&m.role, &want.role);
                        prop_assert_eq!(&m.login, &want.login);
                    }
                    None => prop_assert_eq!(m.state, MembershipState::Offboarded),
                }
            }
            for pid in desired.members.keys() {
                prop_assert!(after.members.contains_key(pid), "admitted {} is missing", pid);
            }

            // Planning again right away finds nothing to do.
            let again = sync_workspace(&store, ws, &config.safety, &provider, &forced()).await.expect("third run");
            prop_assert!(again.plan.is_empty(), "replan not empty:\n{}", again.plan);
            Ok(())
        })?;
    }
}

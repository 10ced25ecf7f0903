//! Guards: refuse a plan that looks like an API hiccup or a mistake rather than real change.
//! Pure. A tripped guard aborts the whole run; `sync --force` applies the plan once.

use super::admit::Desired;
use super::plan::{Change, ChangeKind, Current, MembershipSource, Plan};
use crate::config::SafetyConfig;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum GuardTrip {
    /// More offboards than both thresholds allow.
    OffboardThreshold {
        /// Offboards in the plan.
        offboards: usize,
        /// Active sync-sourced memberships before the plan: the base of the percentage.
        active: usize,
        /// `[safety] max_offboard_percent`, in percent of `active`.
        max_percent: f64,
        /// `[safety] max_offboard_count`.
        max_count: u32,
    },
    /// The provider reported no members while the directory has synced members.
    EmptySource {
        /// Active sync-sourced memberships the directory holds.
        active: usize,
    },
    /// After the plan no active member would hold the admin role.
    NoAdminLeft {
        /// The workspace's `admin_role`.
        admin_role: String,
    },
    /// More onboards and reactivations than both thresholds allow: a view that suddenly shows
    /// more than it should (a scope that shrank, a policy that changed) admits nobody unseen.
    AdmitThreshold {
        /// Onboards plus reactivations in the plan.
        admits: usize,
        /// Active sync-sourced memberships before the plan (the guard is off while it is 0).
        active: usize,
        /// `[safety] max_admit_percent`, in percent of `active`.
        max_percent: f64,
        /// `[safety] max_admit_count`.
        max_count: u32,
    },
    /// More synced teams deleted than both thresholds allow.
    TeamDeleteThreshold {
        /// Team deletions in the plan.
        deletes: usize,
        /// Sync-sourced teams the directory holds: the base of the percentage.
        teams: usize,
        /// `[safety] max_team_delete_percent`, in percent of `teams`.
        max_percent: f64,
        /// `[safety] max_team_delete_count`.
        max_count: u32,
    },
    /// One team would lose more of its repository grants than both thresholds allow (a credential
    /// that lost sight of repositories strips every team's grants).
    GrantRevokeThreshold {
        /// The team's slug.
        team: String,
        /// Grant revocations of this team in the plan.
        revokes: usize,
        /// The team's repository grants before the plan: the base of the percentage.
        grants: usize,
        /// `[safety] max_grant_revoke_percent`, in percent of `grants`.
        max_percent: f64,
        /// `[safety] max_grant_revoke_count`.
        max_count: u32,
    },
}

/// Every [`GuardTrip::label`], for metrics that exist at 0 before any guard tripped.
pub const GUARD_LABELS: [&str; 6] = [
    "offboard_threshold",
    "empty_source",
    "no_admin_left",
    "admit_threshold",
    "team_delete_threshold",
    "grant_revoke_threshold",
];

impl GuardTrip {
    /// The metric label of this guard.
    pub fn label(&self) -> &'static str {
        match self {
            GuardTrip::OffboardThreshold { .. } => "offboard_threshold",
            GuardTrip::EmptySource { .. } => "empty_source",
            GuardTrip::NoAdminLeft { .. } => "no_admin_left",
            GuardTrip::AdmitThreshold { .. } => "admit_threshold",
            GuardTrip::TeamDeleteThreshold { .. } => "team_delete_threshold",
            GuardTrip::GrantRevokeThreshold { .. } => "grant_revoke_threshold",
        }
    }
}

impl fmt::Display for GuardTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardTrip::OffboardThreshold {
                offboards,
                active,
                max_percent,
                max_count,
            } => write!(
                f,
                "the plan offboards {offboards} of {active} active members, more than max_offboard_percent = {max_percent} and max_offboard_count = {max_count}"
            ),
            GuardTrip::EmptySource { active } => write!(
                f,
                "the provider returned no members while the directory has {active} synced members"
            ),
            GuardTrip::NoAdminLeft { admin_role } => write!(
                f,
                "the plan would leave the workspace without an active `{admin_role}`"
            ),
            GuardTrip::AdmitThreshold {
                admits,
                active,
                max_percent,
                max_count,
            } => write!(
                f,
                "the plan admits {admits} people (onboards and reactivations) to {active} active members, more than max_admit_percent = {max_percent} and max_admit_count = {max_count}"
            ),
            GuardTrip::TeamDeleteThreshold {
                deletes,
                teams,
                max_percent,
                max_count,
            } => write!(
                f,
                "the plan deletes {deletes} of {teams} synced teams, more than max_team_delete_percent = {max_percent} and max_team_delete_count = {max_count}"
            ),
            GuardTrip::GrantRevokeThreshold {
                team,
                revokes,
                grants,
                max_percent,
                max_count,
            } => write!(
                f,
                "the plan revokes {revokes} of the {grants} repository grants of team {}, more than max_grant_revoke_percent = {max_percent} and max_grant_revoke_count = {max_count}",
                crate::text::Escaped(team)
            ),
        }
    }
}

/// `n` of `base` is more than both `max_count` and `max_percent` of `base`.
fn exceeds(n: usize, base: usize, max_percent: f64, max_count: u32) -> bool {
    n > 0 && n > max_count as usize && base > 0 && (n as f64) * 100.0 > max_percent * base as f64
}

/// Checks a plan; returns every guard it trips (empty: safe to apply).
pub fn guard(
    plan: &Plan,
    current: &Current,
    desired: &Desired,
    safety: &SafetyConfig,
    admin_role: &str,
) -> Vec<GuardTrip> {
    let mut trips = Vec::new();
    let active = current.active_synced();

    if desired.provider_member_count == 0 && active > 0 {
        trips.push(GuardTrip::EmptySource { active });
    }

    let offboards = plan.tally()[ChangeKind::Offboard];
    if exceeds(
        offboards,
        active,
        safety.max_offboard_percent,
        safety.max_offboard_count,
    ) {
        trips.push(GuardTrip::OffboardThreshold {
            offboards,
            active,
            max_percent: safety.max_offboard_percent,
            max_count: safety.max_offboard_count,
        });
    }

    // Admissions: not on the first sync of an empty workspace, where everyone is new.
    let admits = plan.tally().admitted();
    if active > 0
        && exceeds(
            admits,
            active,
            safety.max_admit_percent,
            safety.max_admit_count,
        )
    {
        trips.push(GuardTrip::AdmitThreshold {
            admits,
            active,
            max_percent: safety.max_admit_percent,
            max_count: safety.max_admit_count,
        });
    }

    // Teams: deleting synced teams, or stripping one team of most of its grants.
    let synced_teams = current
        .teams
        .values()
        .filter(|t| t.source == MembershipSource::Sync)
        .count();
    let deletes = plan.tally()[ChangeKind::TeamDelete];
    if exceeds(
        deletes,
        synced_teams,
        safety.max_team_delete_percent,
        safety.max_team_delete_count,
    ) {
        trips.push(GuardTrip::TeamDeleteThreshold {
            deletes,
            teams: synced_teams,
            max_percent: safety.max_team_delete_percent,
            max_count: safety.max_team_delete_count,
        });
    }
    let mut revokes: BTreeMap<&str, usize> = BTreeMap::new();
    for change in &plan.changes {
        if let Change::TeamRepositoryRevoke { team, .. } = change {
            *revokes.entry(team.as_str()).or_default() += 1;
        }
    }
    for (team, n) in revokes {
        let grants = current.teams.get(team).map_or(0, |t| t.repositories.len());
        if exceeds(
            n,
            grants,
            safety.max_grant_revoke_percent,
            safety.max_grant_revoke_count,
        ) {
            trips.push(GuardTrip::GrantRevokeThreshold {
                team: team.to_string(),
                revokes: n,
                grants,
                max_percent: safety.max_grant_revoke_percent,
                max_count: safety.max_grant_revoke_count,
            });
        }
    }

    // Admins after the plan: today's admins, minus those the plan demotes or offboards, plus
    // those it onboards, reactivates or promotes into the role.
    if !current.admins.is_empty() {
        let mut admins: BTreeSet<String> =
            current.admins.iter().map(|id| format!("u{id}")).collect();
        for change in &plan.changes {
            match change {
                Change::Offboard { user_id, .. } => {
                    admins.remove(&format!("u{user_id}"));
                }
                Change::RoleChange { user_id, to, .. } => {
                    if to == admin_role {
                        admins.insert(format!("u{user_id}"));
                    } else {
                        admins.remove(&format!("u{user_id}"));
                    }
                }
                Change::Reactivate { user_id, role, .. } if role == admin_role => {
                    admins.insert(format!("u{user_id}"));
                }
                Change::Onboard {
                    provider_user_id,
                    role,
                    ..
                } if role == admin_role => {
                    admins.insert(format!("p{provider_user_id}"));
                }
                _ => {}
            }
        }
        if admins.is_empty() {
            trips.push(GuardTrip::NoAdminLeft {
                admin_role: admin_role.to_string(),
            });
        }
    }
    trips
}

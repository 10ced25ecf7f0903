//! Guards: refuse a plan that looks like an API hiccup or a mistake rather than real change.
//! Pure. A tripped guard aborts the whole run; `sync --force` applies the plan once.

use super::admit::Desired;
use super::plan::{Change, Current, Plan};
use crate::config::SafetyConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum GuardTrip {
    /// More offboards than both thresholds allow.
    OffboardThreshold {
        offboards: usize,
        active: usize,
        max_percent: f64,
        max_count: u32,
    },
    /// The provider reported no members while the directory has synced members.
    EmptySource { active: usize },
    /// After the plan no active member would hold the admin role.
    NoAdminLeft { admin_role: String },
}

impl GuardTrip {
    /// The metric label of this guard.
    pub fn label(&self) -> &'static str {
        match self {
            GuardTrip::OffboardThreshold { .. } => "offboard_threshold",
            GuardTrip::EmptySource { .. } => "empty_source",
            GuardTrip::NoAdminLeft { .. } => "no_admin_left",
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
        }
    }
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

    let offboards = plan.count("offboard");
    let over_count = offboards > safety.max_offboard_count as usize;
    let over_percent =
        active > 0 && (offboards as f64) * 100.0 > safety.max_offboard_percent * active as f64;
    if offboards > 0 && over_count && over_percent {
        trips.push(GuardTrip::OffboardThreshold {
            offboards,
            active,
            max_percent: safety.max_offboard_percent,
            max_count: safety.max_offboard_count,
        });
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

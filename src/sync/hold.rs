//! Holds: a plan that a guard refused waits for a human. Pure: the digest that says whether a
//! later run planned the same thing, and whether a new plan stays within a held one — what a
//! human read is what `approve` applies.

use super::plan::{Change, Plan};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// SHA-256 (hex) of a plan's changes: equal for equal plans. Contradicted verdicts are left out:
/// they change nothing.
pub fn digest(plan: &Plan) -> String {
    let bytes = serde_json::to_vec(&plan.changes).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// The changes a guard watches (admissions, offboards, removals from teams, team deletions and
/// grant revocations), each by what it is about, so a held plan and a later one compare by
/// meaning: the same person offboarded for another reason is the same offboard.
pub fn guarded_key(change: &Change) -> Option<String> {
    Some(match change {
        Change::Onboard {
            provider_user_id, ..
        }
        | Change::Reactivate {
            provider_user_id, ..
        } => format!("admit {provider_user_id}"),
        Change::Offboard {
            provider_user_id, ..
        } => format!("offboard {provider_user_id}"),
        Change::TeamMemberRemove {
            team,
            provider_user_id,
            ..
        } => format!("leave {team} {provider_user_id}"),
        Change::TeamDelete { slug } => format!("delete team {slug}"),
        Change::TeamRepositoryRevoke { team, repository } => {
            format!("revoke {team} {repository}")
        }
        _ => return None,
    })
}

/// The guarded changes of `new` that `held` does not contain: empty when `new` is the held plan
/// or a subset of it, so approving it applies nothing a human did not read.
pub fn beyond_held<'a>(new: &'a Plan, held: &Plan) -> Vec<&'a Change> {
    let read: BTreeSet<String> = held.changes.iter().filter_map(guarded_key).collect();
    new.changes
        .iter()
        .filter(|c| guarded_key(c).is_some_and(|k| !read.contains(&k)))
        .collect()
}

/// How many changes of each guarded kind a plan has, for the summary lines that lead a review.
pub fn counts(plan: &Plan) -> Vec<(&'static str, usize)> {
    use crate::sync::ChangeKind;
    let tally = plan.tally();
    [
        ChangeKind::Onboard,
        ChangeKind::Reactivate,
        ChangeKind::Offboard,
        ChangeKind::TeamMemberRemove,
        ChangeKind::TeamDelete,
        ChangeKind::TeamRepositoryRevoke,
    ]
    .into_iter()
    .map(|k| (k.as_str(), tally[k]))
    .filter(|(_, n)| *n > 0)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::OffboardReason;

    fn offboard(id: &str, reason: OffboardReason) -> Change {
        Change::Offboard {
            user_id: 1,
            provider_user_id: id.to_string(),
            login: format!("u{id}"),
            reason,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            workspace: "acme".to_string(),
            changes,
            unconfirmed: Vec::new(),
        }
    }

    #[test]
    fn equal_plans_have_equal_digests_and_different_ones_differ() {
        let a = plan(vec![offboard("1", OffboardReason::LeftAccount)]);
        let b = plan(vec![offboard("1", OffboardReason::LeftAccount)]);
        let c = plan(vec![offboard("2", OffboardReason::LeftAccount)]);
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&c));
        assert_eq!(digest(&a).len(), 64);
    }

    #[test]
    fn a_subset_of_the_held_plan_is_within_it_and_a_new_offboard_is_not() {
        let held = plan(vec![
            offboard("1", OffboardReason::LeftAccount),
            offboard("2", OffboardReason::LeftAccount),
        ]);
        let fewer = plan(vec![offboard("1", OffboardReason::LeftAccount)]);
        assert!(beyond_held(&fewer, &held).is_empty());
        let other_reason = plan(vec![offboard(
            "2",
            OffboardReason::LostAccess {
                repository: "api".to_string(),
            },
        )]);
        assert!(beyond_held(&other_reason, &held).is_empty());
        let grown = plan(vec![
            offboard("1", OffboardReason::LeftAccount),
            offboard("3", OffboardReason::LeftAccount),
        ]);
        let beyond = beyond_held(&grown, &held);
        assert_eq!(beyond.len(), 1);
        assert_eq!(beyond[0].to_string(), "- offboard u3: left the account");
    }
}

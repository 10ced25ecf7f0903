//! The change events an applied plan produces (pure: a plan in, events out).
//!
//! An event is what an application downstream hears about: a member onboarded, offboarded,
//! reactivated, whose role changed or who was renamed; a team created, changed or deleted, a
//! member added to or removed from a team. Repository bookkeeping and team repository grants
//! are not events: they do not change who may enter an application.

use crate::sync::plan::{Change, Plan};
use serde::Serialize;
use serde_json::{Value, json};

/// One event, before it is written to the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `member.onboarded`, `team.member_added`, …
    pub kind: &'static str,
    /// The person the event is about, by provider user id (the apply resolves the directory
    /// user id, which a new person only gets in the same transaction).
    pub provider_user_id: Option<String>,
    /// The directory user id when the plan already knows it.
    pub user_id: Option<i64>,
    /// The team the event is about.
    pub team: Option<String>,
    /// The event's `data` without `workspace` and `user_id` (added when it is written).
    pub data: Value,
}

/// Every event type, for documentation and the API description.
pub const EVENT_TYPES: &[&str] = &[
    "member.onboarded",
    "member.offboarded",
    "member.reactivated",
    "member.role_changed",
    "member.renamed",
    "member.updated",
    "team.created",
    "team.changed",
    "team.deleted",
    "team.member_added",
    "team.member_changed",
    "team.member_removed",
];

fn member(kind: &'static str, pid: &str, user_id: Option<i64>, data: Value) -> Event {
    Event {
        kind,
        provider_user_id: Some(pid.to_string()),
        user_id,
        team: None,
        data,
    }
}

fn team(kind: &'static str, slug: &str, pid: Option<&str>, data: Value) -> Event {
    Event {
        kind,
        provider_user_id: pid.map(str::to_string),
        user_id: None,
        team: Some(slug.to_string()),
        data,
    }
}

/// The events of a plan, in the plan's order (so a person's events keep their order).
pub fn events_for(plan: &Plan) -> Vec<Event> {
    plan.changes.iter().filter_map(event_for).collect()
}

/// The event of one change, if the change is one an application hears about.
pub fn event_for(change: &Change) -> Option<Event> {
    let event = match change {
        Change::Onboard {
            provider_user_id,
            existing_user_id,
            login,
            name,
            email,
            role,
        } => member(
            "member.onboarded",
            provider_user_id,
            *existing_user_id,
            json!({"provider_user_id": provider_user_id, "login": login, "name": name,
                       "email": email, "role": role, "state": "active"}),
        ),
        Change::Reactivate {
            user_id,
            provider_user_id,
            login,
            role,
        } => member(
            "member.reactivated",
            provider_user_id,
            Some(*user_id),
            json!({"provider_user_id": provider_user_id, "login": login, "role": role,
                       "state": "active"}),
        ),
        Change::Offboard {
            user_id,
            provider_user_id,
            login,
            reason,
        } => member(
            "member.offboarded",
            provider_user_id,
            Some(*user_id),
            json!({"provider_user_id": provider_user_id, "login": login,
                       "state": "offboarded", "reason": reason.to_string()}),
        ),
        Change::RoleChange {
            user_id,
            provider_user_id,
            login,
            from,
            to,
        } => member(
            "member.role_changed",
            provider_user_id,
            Some(*user_id),
            json!({"provider_user_id": provider_user_id, "login": login, "from": from,
                       "role": to}),
        ),
        Change::IdentityUpdate {
            user_id,
            provider_user_id,
            from_login,
            login,
            name,
            email,
        } => member(
            if from_login == login {
                "member.updated"
            } else {
                "member.renamed"
            },
            provider_user_id,
            Some(*user_id),
            json!({"provider_user_id": provider_user_id, "from_login": from_login,
                       "login": login, "name": name, "email": email}),
        ),
        Change::TeamCreate {
            slug, name, parent, ..
        } => team(
            "team.created",
            slug,
            None,
            json!({"team": slug, "name": name, "parent": parent}),
        ),
        Change::TeamUpdate { slug, name, parent } => team(
            "team.changed",
            slug,
            None,
            json!({"team": slug, "name": name, "parent": parent}),
        ),
        Change::TeamDelete { slug } => team("team.deleted", slug, None, json!({"team": slug})),
        Change::TeamMemberAdd {
            team: slug,
            provider_user_id,
            login,
            role,
        } => team(
            "team.member_added",
            slug,
            Some(provider_user_id),
            json!({"team": slug, "provider_user_id": provider_user_id, "login": login,
                       "team_role": role}),
        ),
        Change::TeamMemberUpdate {
            team: slug,
            provider_user_id,
            login,
            role,
        } => team(
            "team.member_changed",
            slug,
            Some(provider_user_id),
            json!({"team": slug, "provider_user_id": provider_user_id, "login": login,
                       "team_role": role}),
        ),
        Change::TeamMemberRemove {
            team: slug,
            provider_user_id,
            login,
        } => team(
            "team.member_removed",
            slug,
            Some(provider_user_id),
            json!({"team": slug, "provider_user_id": provider_user_id, "login": login}),
        ),
        Change::RepositoryUpsert { .. }
        | Change::RepositoryRemove { .. }
        | Change::TeamRepositoryGrant { .. }
        | Change::TeamRepositoryRevoke { .. } => return None,
    };
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::admit::OffboardReason;
    use orgsync_core::TeamRole;

    #[test]
    fn every_people_and_team_change_becomes_an_event_in_plan_order() {
        let plan = Plan {
            workspace: "acme".into(),
            changes: vec![
                Change::Onboard {
                    provider_user_id: "1".into(),
                    existing_user_id: None,
                    login: "ann".into(),
                    name: Some("Ann".into()),
                    email: None,
                    role: "member".into(),
                },
                Change::TeamCreate {
                    slug: "eng".into(),
                    name: "Eng".into(),
                    parent: None,
                    provider_team_id: "9".into(),
                },
                Change::TeamMemberAdd {
                    team: "eng".into(),
                    provider_user_id: "1".into(),
                    login: "ann".into(),
                    role: TeamRole::Member,
                },
                Change::RepositoryRemove { name: "web".into() },
                Change::IdentityUpdate {
                    user_id: 4,
                    provider_user_id: "2".into(),
                    from_login: "bob".into(),
                    login: "rob".into(),
                    name: None,
                    email: None,
                },
                Change::Offboard {
                    user_id: 5,
                    provider_user_id: "3".into(),
                    login: "cy".into(),
                    reason: OffboardReason::LeftAccount,
                },
            ],
            unconfirmed: Vec::new(),
        };
        let events = events_for(&plan);
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "member.onboarded",
                "team.created",
                "team.member_added",
                "member.renamed",
                "member.offboarded"
            ]
        );
        assert_eq!(events[0].user_id, None);
        assert_eq!(events[0].provider_user_id.as_deref(), Some("1"));
        assert_eq!(events[4].user_id, Some(5));
        assert_eq!(events[4].data["reason"], "left the account");
        assert_eq!(events[2].team.as_deref(), Some("eng"));
        for k in kinds {
            assert!(EVENT_TYPES.contains(&k), "{k} is documented");
        }
    }
}

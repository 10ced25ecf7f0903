//! The change events an applied plan produces (pure: a plan in, events out).
//!
//! An event is what an application downstream hears about: a member onboarded, offboarded,
//! reactivated, whose role changed or who was renamed; a team created, changed or deleted, a
//! member added to or removed from a team. Repository bookkeeping and team repository grants
//! are not events: they do not change who may enter an application.

use crate::sync::plan::{Change, Plan};
use serde::Serialize;
use serde::ser::SerializeMap;
use std::borrow::Cow;

/// One event, before it is written to the outbox; it borrows its values from the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event<'a> {
    /// `member.onboarded`, `team.member_added`, …
    pub kind: &'static str,
    /// The person the event is about, by provider user id (the apply resolves the directory
    /// user id, which a new person only gets in the same transaction).
    pub provider_user_id: Option<&'a str>,
    /// The directory user id when the plan already knows it.
    pub user_id: Option<i64>,
    /// The team the event is about.
    pub team: Option<&'a str>,
    /// The event's `data` without `workspace` and `user_id` (added when it is written).
    pub data: Data<'a>,
}

/// One value of an event's `data`: text, a whole number or `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Field<'a> {
    /// A string.
    Text(Cow<'a, str>),
    /// A number.
    Int(i64),
    /// `null`: a value the person or team does not have.
    Null,
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(text: &'a str) -> Field<'a> {
        Field::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a String> for Field<'a> {
    fn from(text: &'a String) -> Field<'a> {
        Field::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a Option<String>> for Field<'a> {
    fn from(text: &'a Option<String>) -> Field<'a> {
        text.as_deref().map_or(Field::Null, Field::from)
    }
}

impl From<Option<i64>> for Field<'_> {
    fn from(number: Option<i64>) -> Self {
        number.map_or(Field::Null, Field::Int)
    }
}

/// An event's `data`: its keys and values, kept in the order of their keys (the order
/// applications have always received them in), so the payload is written straight from it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Data<'a>(Vec<(&'static str, Field<'a>)>);

impl<'a> Data<'a> {
    fn of<const N: usize>(fields: [(&'static str, Field<'a>); N]) -> Data<'a> {
        let mut data = Data(Vec::with_capacity(N + 3));
        for (key, value) in fields {
            data.set(key, value);
        }
        data
    }

    /// Sets `key` to `value`, in its place among the keys.
    pub fn set(&mut self, key: &'static str, value: Field<'a>) {
        match self.0.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (key, value)),
        }
    }

    /// The data with `key` set to `value`.
    fn with(mut self, key: &'static str, value: Field<'a>) -> Data<'a> {
        self.set(key, value);
        self
    }

    /// The value of `key`, if the data has it.
    pub fn get(&self, key: &str) -> Option<&Field<'a>> {
        let at = self.0.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(&self.0[at].1)
    }
}

impl Serialize for Data<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
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

fn member<'a>(kind: &'static str, pid: &'a str, user_id: Option<i64>, data: Data<'a>) -> Event<'a> {
    Event {
        kind,
        provider_user_id: Some(pid),
        user_id,
        team: None,
        data,
    }
}

fn team<'a>(kind: &'static str, slug: &'a str, pid: Option<&'a str>, data: Data<'a>) -> Event<'a> {
    Event {
        kind,
        provider_user_id: pid,
        user_id: None,
        team: Some(slug),
        data,
    }
}

/// The data of an event that carries the person's profile as the provider shows it.
fn profile<'a>(
    pid: &'a str,
    login: &'a str,
    name: &'a Option<String>,
    email: &'a Option<String>,
) -> Data<'a> {
    Data::of([
        ("provider_user_id", pid.into()),
        ("login", login.into()),
        ("name", name.into()),
        ("email", email.into()),
    ])
}

/// The events of a plan, in the plan's order (so a person's events keep their order).
pub fn events_for(plan: &Plan) -> Vec<Event<'_>> {
    plan.changes.iter().filter_map(event_for).collect()
}

/// The event of one change, if the change is one an application hears about.
pub fn event_for(change: &Change) -> Option<Event<'_>> {
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
            profile(provider_user_id, login, name, email)
                .with("role", role.into())
                .with("state", Field::from("active")),
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
            Data::of([
                ("provider_user_id", provider_user_id.into()),
                ("login", login.into()),
                ("role", role.into()),
                ("state", Field::from("active")),
            ]),
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
            Data::of([
                ("provider_user_id", provider_user_id.into()),
                ("login", login.into()),
                ("state", Field::from("offboarded")),
                ("reason", Field::Text(Cow::Owned(reason.to_string()))),
            ]),
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
            Data::of([
                ("provider_user_id", provider_user_id.into()),
                ("login", login.into()),
                ("from", from.into()),
                ("role", to.into()),
            ]),
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
            profile(provider_user_id, login, name, email).with("from_login", from_login.into()),
        ),
        Change::TeamCreate {
            slug, name, parent, ..
        }
        | Change::TeamUpdate { slug, name, parent } => team(
            if matches!(change, Change::TeamCreate { .. }) {
                "team.created"
            } else {
                "team.changed"
            },
            slug,
            None,
            Data::of([
                ("team", slug.into()),
                ("name", name.into()),
                ("parent", parent.into()),
            ]),
        ),
        Change::TeamDelete { slug } => team(
            "team.deleted",
            slug,
            None,
            Data::of([("team", slug.into())]),
        ),
        Change::TeamMemberAdd {
            team: slug,
            provider_user_id,
            login,
            role,
        }
        | Change::TeamMemberUpdate {
            team: slug,
            provider_user_id,
            login,
            role,
        } => team(
            if matches!(change, Change::TeamMemberAdd { .. }) {
                "team.member_added"
            } else {
                "team.member_changed"
            },
            slug,
            Some(provider_user_id.as_str()),
            Data::of([
                ("team", slug.into()),
                ("provider_user_id", provider_user_id.into()),
                ("login", login.into()),
                ("team_role", role.as_str().into()),
            ]),
        ),
        Change::TeamMemberRemove {
            team: slug,
            provider_user_id,
            login,
        } => team(
            "team.member_removed",
            slug,
            Some(provider_user_id.as_str()),
            Data::of([
                ("team", slug.into()),
                ("provider_user_id", provider_user_id.into()),
                ("login", login.into()),
            ]),
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
        assert_eq!(events[0].provider_user_id, Some("1"));
        assert_eq!(events[4].user_id, Some(5));
        assert_eq!(
            events[4].data.get("reason"),
            Some(&Field::from("left the account"))
        );
        assert_eq!(events[2].team, Some("eng"));
        for k in kinds {
            assert!(EVENT_TYPES.contains(&k), "{k} is documented");
        }
    }
}

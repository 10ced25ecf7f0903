//! What the read API and the SCIM push read from the directory: one person's membership and
//! teams, a team's members. The SQL is the directory's (`directory::reads`); these are its rows,
//! read through `Store::member`, `memberships_of`, `team`, `user_ids`, `team_slugs` and
//! `workspace_provider`.

pub use crate::directory::reads::{MemberView, TeamView, Who};

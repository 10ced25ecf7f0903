//! What the read API and the SCIM push read from the directory: one person's membership and
//! teams, a team's members. The SQL is the directory's (`directory::reads`).

pub use crate::directory::reads::{
    MemberView, TeamView, Who, member, memberships_of, team, team_slugs, user_ids,
    workspace_provider,
};

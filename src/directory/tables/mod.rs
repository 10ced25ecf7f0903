//! One writer per table that both the sync and the people commands write: the SQL that inserts
//! or changes a row of `users`, `identities`, `memberships`, `audit_events` and the team tables
//! lives here once. The apply's multi-row inserts are in `batch.rs`; runs are written by
//! `runs.rs`.

pub(super) mod audit;
pub(super) mod identities;
pub(super) mod memberships;
pub(super) mod teams;
pub(super) mod users;

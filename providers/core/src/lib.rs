//! The provider side of orgsync, shared by every provider crate.
//!
//! * [`snapshot`]: the normalised picture of one provider account that a fetch returns.
//! * [`policy`]: what the workspace's configuration asks a provider to evaluate, so a provider can
//!   skip work that cannot change the answer.
//! * [`provider`]: the async [`Provider`] trait and its error type.
//! * [`http`]: the resilient HTTP layer every provider request goes through.
//!
//! This crate uses nothing else of orgsync's; everything else uses it.
//! It is the contract between orgsync and its providers: every public item is documented.

#![warn(missing_docs)]

pub mod cache;
pub mod http;
pub mod pages;
pub mod policy;
pub mod provider;
pub mod snapshot;

pub use policy::{AdmitRule, FetchPolicy, RepositoryScope, TeamsMode};
pub use provider::{
    Confirmation, FixedProvider, Provider, ProviderError, Verdict, confirm_from_member,
};
pub use snapshot::{
    AccessVerdict, Account, Member, MemberState, Permission, ProviderKind, Repository, Snapshot,
    Team, TeamMember, TeamRepository, TeamRole, Visibility,
};

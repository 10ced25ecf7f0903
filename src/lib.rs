//! orgsync: keeps a local user directory in step with GitHub, GitLab and Bitbucket accounts.
//!
//! Start with [`run::sync_workspace`]: it fetches a [`orgsync_core::Snapshot`] through a
//! provider, decides admission ([`sync::admit()`]), plans the typed changes ([`sync::plan()`]),
//! checks them against the guards ([`sync::guard()`]) and applies them to the
//! [`directory::Store`] in one transaction.

#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod directory;
pub mod downstream;
pub mod failure;
pub mod metrics;
pub mod notify;
pub mod people;
pub mod providers;
pub mod run;
pub mod runlog;
pub mod status;
pub mod sync;
pub mod term;
pub mod text;

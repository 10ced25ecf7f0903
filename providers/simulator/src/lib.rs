//! Simulated Git provider servers for orgsync's tests, benchmarks and `orgsync demo`.
//!
//! The crate has three layers:
//!
//! * [`scenario`]: the world a simulated provider serves, as plain serde data (JSON or TOML files,
//!   or [`scenario::Scenario::synthetic`] for any size), plus the brute-force ground truth
//!   ([`truth`]) that tests compare a provider client's answer with.
//! * [`server`]: provider-agnostic HTTP infrastructure: token authentication, per-token
//!   rate-limit budgets and windows, weak ETags with free `304`s, latency, fault injection,
//!   request statistics, signed webhook delivery and the `/_sim/` control API. A provider module
//!   plugs in with a [`server::Flavor`] (how that provider spells its errors and headers) and an
//!   axum router.
//! * [`github`]: GitHub's REST API (cloud and the `/api/v3` Enterprise Server prefix) on top.
//! * [`bitbucket`]: Bitbucket Cloud's REST 2.0 API (plus `/1.0/groups` and the OAuth token
//!   endpoint), with its own ground truth ([`bitbucket::truth`]) and generator
//!   ([`bitbucket::synthetic`]).
//! * [`gitlab`]: GitLab's REST v4 API under `/api/v4`, with its own ground truth
//!   ([`gitlab::truth`]) and tree generator ([`gitlab::synthetic`]).
//!
//! Start a GitHub server for a scenario:
//!
//! ```no_run
//! # async fn demo() -> Result<(), orgsync_simulator::SimError> {
//! use orgsync_simulator::{github::GithubServer, scenario::Scenario, server::ServerOptions};
//! let scenario = Scenario::synthetic(7, orgsync_simulator::scenario::SyntheticSize::default());
//! let server = GithubServer::start(scenario, ServerOptions::default()).await?;
//! println!("{} with token {}", server.base_url(), server.tokens()[0].token);
//! let stats = server.handle().stats();
//! # let _ = stats; Ok(()) }
//! ```
//!
//! This crate is used only by tests, benches and the demo: it is never a dependency of the daemon's
//! production code paths.

#![warn(missing_docs)]

pub mod bitbucket;
pub mod error;
pub mod github;
pub mod gitlab;
pub mod scenario;
pub mod server;
pub mod truth;

pub use error::SimError;

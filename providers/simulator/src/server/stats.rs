//! Request counters, per route template and status, with `304 Not Modified` counted apart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything the server answered since start (or the last reset). `/_sim/` calls are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every counted request, `304`s included.
    pub total: u64,
    /// Answers `304 Not Modified` (free on GitHub).
    pub not_modified: u64,
    /// Keyed by `"METHOD /route/{template}"`, e.g. `"GET /orgs/{org}/members"`; requests that
    /// matched no route are under `"METHOD <unmatched>"`.
    pub routes: BTreeMap<String, RouteStats>,
    /// Points charged to points budgets (GitHub GraphQL), apart from the request counts above:
    /// a GraphQL request is in `total` and under its route, its cost is here.
    #[serde(default)]
    pub points: u64,
}

/// The counts of one route in [`Stats::routes`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStats {
    /// Every request to this route, `304`s included.
    pub requests: u64,
    /// Answers `304 Not Modified` on this route.
    pub not_modified: u64,
    /// Count per status code, `304` excluded (it is in `not_modified`).
    pub by_status: BTreeMap<u16, u64>,
}

impl Stats {
    pub(crate) fn record(&mut self, key: String, status: u16) {
        self.total += 1;
        let route = self.routes.entry(key).or_default();
        route.requests += 1;
        if status == 304 {
            self.not_modified += 1;
            route.not_modified += 1;
        } else {
            *route.by_status.entry(status).or_default() += 1;
        }
    }

    /// Requests to one route (`"GET /orgs/{org}/members"`), `304`s included; 0 if none.
    pub fn requests(&self, key: &str) -> u64 {
        self.routes.get(key).map_or(0, |r| r.requests)
    }

    /// Requests answered with `status` across all routes (use [`Stats::not_modified`] for 304).
    pub fn with_status(&self, status: u16) -> u64 {
        self.routes
            .values()
            .filter_map(|r| r.by_status.get(&status))
            .sum()
    }
}

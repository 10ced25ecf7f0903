//! Bitbucket Cloud: the synthetic workspace (owners, collaborators, a large `developers` group,
//! a `core` group that alone reads the restricted project, team groups, direct grants, public
//! repositories and forks), its baselines and its churn.

use crate::{LATENCY, World, pages};
use orgsync_core::FetchPolicy;
use orgsync_simulator::bitbucket::synthetic::{BitbucketSize, SYNTHETIC_WORKSPACE};
use orgsync_simulator::bitbucket::truth::effective_permission;
use orgsync_simulator::bitbucket::{BitbucketMutation, BitbucketServer};
use orgsync_simulator::scenario::{BitbucketWorkspace, Scenario, WorkspaceRole};
use orgsync_simulator::server::{ServerOptions, Stats};
use std::collections::HashSet;

/// The client paces itself on a rolling hour (1,000 requests by default); the benchmark's
/// simulator has no such limit, so the child is told the largest allowance Bitbucket grants and
/// measures the sync, not the wait. The wait with the default allowance is computed apart
/// ("paced wall").
const BENCH_ALLOWANCE: &str = "requests_per_hour = 10000";

pub struct BitbucketWorld {
    sim: BitbucketServer,
    size: BitbucketSize,
}

fn size(name: &str) -> BitbucketSize {
    match name {
        "S" => BitbucketSize {
            members: 100,
            repos: 60,
            groups: 5,
        },
        "M" => BitbucketSize {
            members: 400,
            repos: 250,
            groups: 12,
        },
        _ => BitbucketSize {
            members: 1_000,
            repos: 600,
            groups: 50,
        },
    }
}

impl BitbucketWorld {
    pub async fn start(name: &str) -> Result<Box<dyn World>, String> {
        let size = size(name);
        let sim = BitbucketServer::start(
            Scenario::synthetic_bitbucket(42, size),
            ServerOptions {
                latency: LATENCY,
                rate_limit: 100_000_000,
                ..ServerOptions::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Box::new(BitbucketWorld { sim, size }))
    }

    fn world(&self) -> (Scenario, BitbucketWorkspace) {
        let scenario = self.sim.scenario();
        let ws = scenario
            .bitbucket
            .as_ref()
            .and_then(|b| b.workspaces.first().cloned())
            .expect("a workspace");
        (scenario, ws)
    }
}

/// Obvious approach and lower bound, in requests (100 per page).
///
/// * Obvious: the members, the repositories, and every repository's complete effective
///   permission list (`/workspaces/{w}/permissions/repositories/{slug}`).
/// * Lower bound: the workspace, the members, their roles, the repositories, the groups (one
///   `/1.0` request) and, for teams `full`, each repository's and each project's group grants
///   (2.0 has no cheaper way); then the access proofs, the larger of: every (admitted
///   non-owner, private repository) pair must appear on some page of 100 rows (the
///   workspace-wide list or a per-repository one), and the members who are not admitted,
///   divided by the most any one complete per-repository list can prove absent.
fn baselines(scenario: &Scenario, w: &BitbucketWorkspace) -> (u64, u64) {
    let owners: HashSet<&str> = w
        .members
        .iter()
        .filter(|m| m.role == WorkspaceRole::Owner)
        .map(|m| m.user.as_str())
        .collect();
    let mut obvious = pages(w.members.len(), 100) + pages(w.repositories.len(), 100);
    // (admitted non-owner, private repository) pairs: each must be seen once, 100 a page at
    // most, whichever list shows it.
    let mut admitted_pairs = 0usize;
    let admitted = scenario
        .bitbucket
        .as_ref()
        .map(|b| {
            orgsync_simulator::bitbucket::truth::expected_admitted(
                b,
                SYNTHETIC_WORKSPACE,
                &FetchPolicy::default(),
            )
            .expect("ground truth")
        })
        .unwrap_or_default();
    let undecided: Vec<&str> = w
        .members
        .iter()
        .map(|m| m.user.as_str())
        .filter(|u| !owners.contains(u) && !admitted.contains(*u))
        .collect();
    let mut best_ratio = 1.0_f64;
    for repo in &w.repositories {
        let readers: HashSet<&str> = w
            .members
            .iter()
            .map(|m| m.user.as_str())
            .filter(|u| effective_permission(w, u, repo).can_read())
            .collect();
        let cost = pages(readers.len(), 100);
        obvious += cost;
        if repo.is_private {
            admitted_pairs += readers
                .iter()
                .filter(|u| !owners.contains(*u) && admitted.contains(**u))
                .count();
            let proves = undecided.iter().filter(|u| !readers.contains(*u)).count() as f64;
            best_ratio = best_ratio.max(proves / cost as f64);
        }
    }
    let mut lower = 1 + 2 * pages(w.members.len(), 100) + pages(w.repositories.len(), 100);
    lower += 1 + w.repositories.len() as u64 + w.projects.len() as u64;
    let proofs_of_access = admitted_pairs.div_ceil(100) as u64;
    let proofs_of_lack = (undecided.len() as f64 / best_ratio).ceil() as u64;
    lower += proofs_of_access.max(proofs_of_lack);
    (obvious, lower)
}

#[async_trait::async_trait]
impl World for BitbucketWorld {
    fn workspace_toml(&self) -> String {
        let (username, _) = self.sim.credential();
        let username = username
            .map(|u| format!("username = \"{u}\"\n"))
            .unwrap_or_default();
        format!(
            "[[workspace]]\nname = \"bench\"\nprovider = \"bitbucket\"\nworkspace = \"{SYNTHETIC_WORKSPACE}\"\napi_url = \"{}\"\n{username}token_env = \"ORGSYNC_BENCH_TOKEN\"\n{BENCH_ALLOWANCE}\n",
            self.sim.base_url()
        )
    }

    fn token(&self) -> String {
        self.sim.credential().1.to_string()
    }

    fn stats(&self) -> Stats {
        self.sim.handle().stats()
    }

    fn reset_stats(&self) {
        self.sim.handle().reset_stats();
    }

    fn free_not_modified(&self) -> bool {
        // Bitbucket does not document free conditional requests; the simulator charges them.
        false
    }

    fn baselines(&self) -> (u64, u64) {
        let (scenario, w) = self.world();
        baselines(&scenario, &w)
    }

    fn shape(&self) -> String {
        format!(
            "({} members, {} repos, {} groups)",
            self.size.members, self.size.repos, self.size.groups
        )
    }

    /// 1 % of the members (at least 3). The simulator has no "join the workspace" change, so
    /// a third *gain* access instead (added to the `core` group, which alone reads the
    /// restricted project); a third leave; the rest are owners demoted to member who lose the
    /// access only their role gave them.
    async fn churn(&mut self) -> usize {
        let (scenario, w) = self.world();
        let n = (self.size.members / 100).max(3);
        let gains = n / 3;
        let leaves = n / 3;
        let lost = n - gains - leaves;
        let admitted = scenario
            .bitbucket
            .as_ref()
            .map(|b| {
                orgsync_simulator::bitbucket::truth::expected_admitted(
                    b,
                    SYNTHETIC_WORKSPACE,
                    &FetchPolicy::default(),
                )
                .expect("ground truth")
            })
            .unwrap_or_default();
        let core: HashSet<&str> = w
            .group("core")
            .map(|g| g.members.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let developers: HashSet<&str> = w
            .group("developers")
            .map(|g| g.members.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let mut events = 0;
        let gaining: Vec<String> = w
            .members
            .iter()
            .filter(|m| m.role != WorkspaceRole::Owner)
            .map(|m| m.user.clone())
            .filter(|u| developers.contains(u.as_str()) && !core.contains(u.as_str()))
            .filter(|u| !admitted.contains(u))
            .take(gains)
            .collect();
        for user in gaining {
            self.mutate(BitbucketMutation::AddGroupMember {
                workspace: SYNTHETIC_WORKSPACE.to_string(),
                group: "core".to_string(),
                user,
            })
            .await;
            events += 1;
        }
        let leaving: Vec<String> = w
            .members
            .iter()
            .filter(|m| m.role != WorkspaceRole::Owner && admitted.contains(&m.user))
            .map(|m| m.user.clone())
            .take(leaves)
            .collect();
        for user in leaving {
            self.mutate(BitbucketMutation::RemoveMember {
                workspace: SYNTHETIC_WORKSPACE.to_string(),
                user,
            })
            .await;
            events += 1;
        }
        let demoted: Vec<String> = w
            .members
            .iter()
            .filter(|m| m.role == WorkspaceRole::Owner && !core.contains(m.user.as_str()))
            .skip(1)
            .map(|m| m.user.clone())
            .take(lost)
            .collect();
        for user in demoted {
            self.mutate(BitbucketMutation::SetRole {
                workspace: SYNTHETIC_WORKSPACE.to_string(),
                user,
                role: WorkspaceRole::Member,
            })
            .await;
            events += 1;
        }
        events
    }
}

impl BitbucketWorld {
    async fn mutate(&self, m: BitbucketMutation) {
        self.sim
            .mutate(m)
            .await
            .expect("the simulator applies the mutation");
    }
}

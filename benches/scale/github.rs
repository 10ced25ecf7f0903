//! GitHub: the synthetic organisation (base permission none, nested teams, an all-readers team,
//! restricted repositories, direct and outside collaborators), its baselines and its churn.

use crate::{LATENCY, World, pages};
use orgsync_core::{FetchPolicy, Permission, Visibility};
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{
    GithubOrg, GithubUser, MembershipState, OrgRole, Scenario, SyntheticSize,
};
use orgsync_simulator::server::{ServerOptions, Stats};
use std::collections::{BTreeMap, BTreeSet, HashSet};

pub struct GithubWorld {
    sim: GithubServer,
    size: SyntheticSize,
    org: String,
}

fn size(name: &str) -> SyntheticSize {
    match name {
        "S" => SyntheticSize {
            members: 500,
            repos: 150,
            teams: 25,
        },
        "M" => SyntheticSize {
            members: 2_000,
            repos: 600,
            teams: 100,
        },
        _ => SyntheticSize {
            members: 10_000,
            repos: 3_000,
            teams: 500,
        },
    }
}

impl GithubWorld {
    pub async fn start(name: &str) -> Result<Box<dyn World>, String> {
        let size = size(name);
        let scenario = Scenario::synthetic(42, size);
        let sim = GithubServer::start(
            scenario,
            ServerOptions {
                latency: LATENCY,
                // The hourly quota is reported, not enforced: waiting for a window to reset
                // would measure the quota, not orgsync.
                rate_limit: 100_000_000,
                ..ServerOptions::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        // GraphQL points likewise (counted in `graphql_points`).
        sim.handle().set_points_limit(100_000_000);
        let org = sim
            .scenario()
            .github
            .and_then(|g| g.orgs.first().map(|o| o.login.clone()))
            .ok_or("no organisation")?;
        Ok(Box::new(GithubWorld { sim, size, org }))
    }

    fn org_now(&self) -> (Scenario, GithubOrg) {
        let scenario = self.sim.scenario();
        let org = scenario
            .github
            .as_ref()
            .and_then(|g| g.orgs.first().cloned())
            .expect("an organisation");
        (scenario, org)
    }
}

/// Active members of `team` and of all its descendants (a team's member list includes its child
/// teams' members, who inherit its repositories).
fn effective_team_members(
    org: &GithubOrg,
    active: &HashSet<u64>,
) -> BTreeMap<String, HashSet<u64>> {
    let mut out: BTreeMap<String, HashSet<u64>> = BTreeMap::new();
    for team in &org.teams {
        let mut cursor = Some(team.slug.clone());
        let mut hops = 0;
        while let Some(slug) = cursor {
            let set = out.entry(slug.clone()).or_default();
            set.extend(
                team.members
                    .iter()
                    .map(|m| m.user)
                    .filter(|u| active.contains(u)),
            );
            hops += 1;
            if hops > org.teams.len() {
                break;
            }
            cursor = org
                .teams
                .iter()
                .find(|t| t.slug == slug)
                .and_then(|t| t.parent.clone());
        }
    }
    out
}

/// Obvious approach and lower bound, in requests, for the organisation as it is now.
///
/// * Obvious: every member page, every repository page, and every repository's full
///   collaborator list (`affiliation=all`, 100 per page), which names everyone who reads it.
/// * Lower bound: each list the decision needs, read once, 100 per page: the organisation (base
///   permission), the members, the owners, the repositories, the teams with their members and
///   repositories (teams are replicated), and the collaborator lists that prove that each member
///   who is not admitted lacks some repository. Only a collaborator list (or one per-user
///   permission request) can prove a lack, so the last term is at least the number of such
///   members divided by the most any one page can prove.
fn baselines(scenario: &Scenario, org: &GithubOrg) -> (u64, u64) {
    let github = scenario.github.as_ref().expect("github");
    let active: HashSet<u64> = org
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Active)
        .map(|m| m.user)
        .collect();
    let owners: HashSet<u64> = org
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Active && m.role == OrgRole::Admin)
        .map(|m| m.user)
        .collect();
    let team_members = effective_team_members(org, &active);
    let base_reads = org.default_repository_permission >= Permission::Read;
    let readers = |repo: &orgsync_simulator::scenario::GithubRepo| -> HashSet<u64> {
        let mut set: HashSet<u64> = if base_reads {
            active.clone()
        } else {
            owners.clone()
        };
        for team in &org.teams {
            if team
                .repos
                .iter()
                .any(|g| g.repo == repo.name && g.permission.can_read())
                && let Some(m) = team_members.get(&team.slug)
            {
                set.extend(m.iter().copied());
            }
        }
        set.extend(
            repo.collaborators
                .iter()
                .filter(|c| c.permission.can_read())
                .map(|c| c.user),
        );
        set
    };
    let admitted: BTreeSet<String> = scenario
        .expected_admitted(&FetchPolicy::default())
        .expect("ground truth");
    let suspended: HashSet<u64> = github
        .users
        .iter()
        .filter(|u| u.suspended)
        .map(|u| u.id)
        .collect();
    let undecided: HashSet<u64> = active
        .iter()
        .copied()
        .filter(|u| !owners.contains(u) && !suspended.contains(u))
        .filter(|u| !admitted.contains(&u.to_string()))
        .collect();

    let mut obvious = pages(active.len(), 100) + pages(org.repos.len(), 100);
    let mut best_ratio = 1.0_f64;
    for repo in &org.repos {
        let r = readers(repo);
        let cost = pages(r.len(), 100);
        obvious += cost;
        if repo.visibility == Visibility::Private {
            let proves = undecided.iter().filter(|u| !r.contains(u)).count() as f64;
            best_ratio = best_ratio.max(proves / cost as f64);
        }
    }
    let mut lower =
        1 + pages(active.len(), 100) + pages(owners.len(), 100) + pages(org.repos.len(), 100);
    lower += pages(org.teams.len(), 100);
    for team in &org.teams {
        lower += pages(team_members.get(&team.slug).map_or(0, HashSet::len), 100);
        lower += pages(team.repos.len(), 100);
    }
    if !undecided.is_empty() {
        lower += (undecided.len() as f64 / best_ratio).ceil() as u64;
    }
    (obvious, lower)
}

#[async_trait::async_trait]
impl World for GithubWorld {
    fn workspace_toml(&self) -> String {
        format!(
            "[[workspace]]\nname = \"bench\"\nprovider = \"github\"\norganization = \"{}\"\napi_url = \"{}\"\ntoken_env = \"ORGSYNC_BENCH_TOKEN\"\n",
            self.org,
            self.sim.base_url()
        )
    }

    fn token(&self) -> String {
        self.sim.token().to_string()
    }

    fn stats(&self) -> Stats {
        self.sim.handle().stats()
    }

    fn reset_stats(&self) {
        self.sim.handle().reset_stats();
    }

    fn free_not_modified(&self) -> bool {
        true
    }

    fn baselines(&self) -> (u64, u64) {
        let (scenario, org) = self.org_now();
        baselines(&scenario, &org)
    }

    fn shape(&self) -> String {
        format!(
            "({} members, {} repos, {} teams)",
            self.size.members, self.size.repos, self.size.teams
        )
    }

    /// 1 % of the members: a third join (into the all-readers team, so they are admitted), a
    /// third leave (spread over all members), and the rest lose the grant that admitted them
    /// (removed from the all-readers team).
    async fn churn(&mut self) -> usize {
        let (scenario, org) = self.org_now();
        let github = scenario.github.as_ref().expect("github");
        let n = (self.size.members / 100).max(3);
        let joins = n / 3;
        let leaves = n / 3;
        let lost = n - joins - leaves;
        let login = |id: u64| github.user(id).map(|u| u.login.clone()).expect("user");
        let owners: HashSet<u64> = org
            .members
            .iter()
            .filter(|m| m.role == OrgRole::Admin)
            .map(|m| m.user)
            .collect();
        let readers_team = org.teams.first().expect("the all-readers team");
        let mut events = 0;
        for i in 0..joins {
            let user = GithubUser {
                id: 7_000_000 + i as u64,
                login: format!("joiner-{i:04}"),
                name: Some(format!("Joiner {i}")),
                email: Some(format!("joiner-{i:04}@acme.example")),
                suspended: false,
                bot: false,
                site_admin: false,
            };
            let login = user.login.clone();
            self.mutate(Mutation::AddMember {
                org: self.org.clone(),
                user,
                role: OrgRole::Member,
            })
            .await;
            self.mutate(Mutation::AddTeamMember {
                org: self.org.clone(),
                team: readers_team.slug.clone(),
                login,
                role: orgsync_core::TeamRole::Member,
            })
            .await;
            events += 1;
        }
        let readers: Vec<u64> = readers_team
            .members
            .iter()
            .map(|m| m.user)
            .filter(|u| !owners.contains(u))
            .collect();
        let candidates: Vec<u64> = org
            .members
            .iter()
            .filter(|m| m.state == MembershipState::Active && m.role != OrgRole::Admin)
            .map(|m| m.user)
            .filter(|u| !readers.contains(u))
            .collect();
        let step = (candidates.len() / leaves.max(1)).max(1);
        for user in candidates.iter().step_by(step).take(leaves) {
            self.mutate(Mutation::RemoveMember {
                org: self.org.clone(),
                login: login(*user),
            })
            .await;
            events += 1;
        }
        for user in readers.iter().take(lost) {
            self.mutate(Mutation::RemoveTeamMember {
                org: self.org.clone(),
                team: readers_team.slug.clone(),
                login: login(*user),
            })
            .await;
            events += 1;
        }
        events
    }
}

impl GithubWorld {
    async fn mutate(&self, m: Mutation) {
        self.sim
            .mutate(m)
            .await
            .expect("the simulator applies the mutation");
    }
}

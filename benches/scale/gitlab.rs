//! GitLab: the synthetic group tree (Owners to Minimal access, nested subgroups, invited
//! partner and contractor groups, blocked and deactivated accounts, bots), its baselines and its
//! churn.

use crate::{LATENCY, World, pages};
use orgsync_core::{FetchPolicy, Visibility};
use orgsync_simulator::gitlab::GitlabMutation;
use orgsync_simulator::gitlab::GitlabServer;
use orgsync_simulator::gitlab::synthetic::{GitlabSize, SYNTHETIC_GROUP, SYNTHETIC_GROUP_ID};
use orgsync_simulator::scenario::{
    GitlabMember, GitlabScenario, GitlabUser, MembershipApproval, Scenario, UserState,
};
use orgsync_simulator::server::{ServerOptions, Stats};
use std::collections::{HashMap, HashSet};

pub struct GitlabWorld {
    sim: GitlabServer,
    size: GitlabSize,
}

fn size(name: &str) -> GitlabSize {
    match name {
        "S" => GitlabSize {
            members: 300,
            projects: 100,
            subgroups: 15,
        },
        "M" => GitlabSize {
            members: 1_500,
            projects: 400,
            subgroups: 60,
        },
        _ => GitlabSize {
            members: 5_000,
            projects: 2_000,
            subgroups: 300,
        },
    }
}

impl GitlabWorld {
    pub async fn start(name: &str) -> Result<Box<dyn World>, String> {
        let size = size(name);
        let sim = GitlabServer::start(
            Scenario::synthetic_gitlab(42, size),
            ServerOptions {
                latency: LATENCY,
                rate_limit: 100_000_000,
                ..ServerOptions::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Box::new(GitlabWorld { sim, size }))
    }

    fn world(&self) -> (Scenario, GitlabScenario) {
        let scenario = self.sim.scenario();
        let gitlab = scenario.gitlab.clone().expect("a gitlab section");
        (scenario, gitlab)
    }
}

fn live<'a>(
    w: &'a GitlabScenario,
    members: &'a [GitlabMember],
) -> impl Iterator<Item = &'a GitlabMember> {
    members
        .iter()
        .filter(|m| !w.expired(m.expires_at.as_deref()))
}

/// Obvious approach and lower bound, in requests (100 per page).
///
/// * Obvious: the group's `members/all`, the projects, and every project's `members/all`
///   (which names everyone who can reach the project, inherited memberships included).
/// * Lower bound: the group, its `members/all`, the projects, the subgroups with their direct
///   members (teams are replicated), and the per-project checks the decision cannot do
///   without: a member below the floor on the group who is admitted all the same reads each
///   private project through a membership below the group, which only that project's list can
///   show (one request per private project); a member below the floor who is not admitted needs
///   at least one project list.
fn baselines(scenario: &Scenario, w: &GitlabScenario) -> (u64, u64) {
    let parent: HashMap<u64, Option<u64>> = w.groups.iter().map(|g| (g.id, g.parent)).collect();
    let direct: HashMap<u64, HashSet<u64>> = w
        .groups
        .iter()
        .map(|g| (g.id, live(w, &g.members).map(|m| m.user).collect()))
        .collect();
    let reached_through_group = |g: u64| -> HashSet<u64> {
        let mut set = HashSet::new();
        let mut cursor = Some(g);
        let mut hops = 0;
        while let Some(id) = cursor {
            if let Some(d) = direct.get(&id) {
                set.extend(d.iter().copied());
            }
            if let Some(group) = w.group(id) {
                for share in &group.shared_with {
                    if let Some(d) = direct.get(&share.group) {
                        set.extend(d.iter().copied());
                    }
                }
            }
            hops += 1;
            if hops > w.groups.len() {
                break;
            }
            cursor = parent.get(&id).copied().flatten();
        }
        set
    };
    let in_tree = |g: u64| {
        let mut cursor = Some(g);
        let mut hops = 0;
        while let Some(id) = cursor {
            if id == SYNTHETIC_GROUP_ID {
                return true;
            }
            hops += 1;
            if hops > w.groups.len() {
                return false;
            }
            cursor = parent.get(&id).copied().flatten();
        }
        false
    };
    let mut by_group: HashMap<u64, HashSet<u64>> = HashMap::new();
    let root_members = reached_through_group(SYNTHETIC_GROUP_ID);
    let projects: Vec<_> = w.projects.iter().filter(|p| in_tree(p.namespace)).collect();
    let subgroups: Vec<_> = w
        .groups
        .iter()
        .filter(|g| g.id != SYNTHETIC_GROUP_ID && in_tree(g.id))
        .collect();

    let mut obvious = pages(root_members.len(), 100) + pages(projects.len(), 100);
    for p in &projects {
        let through = by_group
            .entry(p.namespace)
            .or_insert_with(|| reached_through_group(p.namespace));
        let mut all = through.clone();
        all.extend(live(w, &p.members).map(|m| m.user));
        for share in &p.shared_with {
            if let Some(d) = direct.get(&share.group) {
                all.extend(d.iter().copied());
            }
        }
        obvious += pages(all.len(), 100);
    }

    let mut lower = 1 + pages(root_members.len(), 100) + pages(projects.len(), 100);
    lower += pages(subgroups.len(), 100);
    for g in &subgroups {
        lower += pages(direct.get(&g.id).map_or(0, HashSet::len), 100);
    }
    // The level each user has on the group itself (direct or through an invited group).
    let root = w.group(SYNTHETIC_GROUP_ID).expect("the root group");
    let mut root_level: HashMap<u64, u8> = HashMap::new();
    for m in live(w, &root.members).filter(|m| m.state == MembershipApproval::Active) {
        let e = root_level.entry(m.user).or_default();
        *e = (*e).max(m.access_level);
    }
    for share in &root.shared_with {
        if let Some(g) = w.group(share.group) {
            for m in live(w, &g.members).filter(|m| m.state == MembershipApproval::Active) {
                let e = root_level.entry(m.user).or_default();
                *e = (*e).max(m.access_level.min(share.access_level));
            }
        }
    }
    let admitted = scenario
        .gitlab_expected_admitted(SYNTHETIC_GROUP, &FetchPolicy::default())
        .expect("ground truth");
    let below_floor: Vec<u64> = root_level
        .iter()
        .filter(|(_, level)| **level < 20)
        .map(|(u, _)| *u)
        .filter(|u| {
            w.user(*u)
                .is_some_and(|u| u.state == UserState::Active && !u.bot)
        })
        .collect();
    let private_projects = projects
        .iter()
        .filter(|p| p.visibility == Visibility::Private)
        .count() as u64;
    if below_floor
        .iter()
        .any(|u| admitted.contains(&u.to_string()))
    {
        lower += private_projects;
    } else if !below_floor.is_empty() {
        lower += 1;
    }
    (obvious, lower)
}

#[async_trait::async_trait]
impl World for GitlabWorld {
    fn workspace_toml(&self) -> String {
        format!(
            "[[workspace]]\nname = \"bench\"\nprovider = \"gitlab\"\ngroup = \"{SYNTHETIC_GROUP}\"\napi_url = \"{}\"\ntoken_env = \"ORGSYNC_BENCH_TOKEN\"\n",
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
        // As the simulator's budget counts them: it does not charge a `304` (GitLab's
        // documentation is silent; BENCHMARKS.md says so beside the figures).
        true
    }

    fn baselines(&self) -> (u64, u64) {
        let (scenario, w) = self.world();
        baselines(&scenario, &w)
    }

    fn shape(&self) -> String {
        format!(
            "({} members, {} projects, {} subgroups)",
            self.size.members, self.size.projects, self.size.subgroups
        )
    }

    /// 1 % of the members: a third join the group as Developers, a third leave it, and the rest
    /// are lowered to Guest on the group (the grant that let them read every project).
    async fn churn(&mut self) -> usize {
        let (_, w) = self.world();
        let n = (self.size.members / 100).max(3);
        let joins = n / 3;
        let leaves = n / 3;
        let lost = n - joins - leaves;
        let root = w.group(SYNTHETIC_GROUP_ID).expect("root");
        let regular: Vec<u64> = live(&w, &root.members)
            .filter(|m| m.state == MembershipApproval::Active && (20..50).contains(&m.access_level))
            .map(|m| m.user)
            .filter(|u| {
                w.user(*u)
                    .is_some_and(|u| u.state == UserState::Active && !u.bot)
            })
            .collect();
        let mut events = 0;
        for i in 0..joins {
            let user = GitlabUser {
                id: 700_000 + i as u64,
                username: format!("joiner{i:04}"),
                name: Some(format!("Joiner {i}")),
                email: Some(format!("joiner{i}@acme.example")),
                state: UserState::Active,
                bot: false,
                admin: false,
                external: false,
            };
            self.mutate(GitlabMutation::AddGroupMember {
                group: SYNTHETIC_GROUP_ID,
                user,
                access_level: 30,
                expires_at: None,
            })
            .await;
            events += 1;
        }
        let step = (regular.len() / n.max(1)).max(1);
        let mut picked = regular.iter().step_by(step);
        for user in picked.by_ref().take(leaves) {
            self.mutate(GitlabMutation::RemoveGroupMember {
                group: SYNTHETIC_GROUP_ID,
                user: *user,
            })
            .await;
            events += 1;
        }
        for user in picked.take(lost) {
            self.mutate(GitlabMutation::UpdateGroupMember {
                group: SYNTHETIC_GROUP_ID,
                user: *user,
                access_level: 10,
            })
            .await;
            events += 1;
        }
        events
    }
}

impl GitlabWorld {
    async fn mutate(&self, m: GitlabMutation) {
        self.sim
            .mutate(m)
            .await
            .expect("the simulator applies the mutation");
    }
}

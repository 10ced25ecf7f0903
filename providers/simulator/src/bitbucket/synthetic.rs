//! A deterministic generator of Bitbucket workspaces of any size.
//!
//! The shape follows how teams use Bitbucket: a few owners, a large `developers` group with read
//! or write on most projects, a restricted project only a `core` group reads, some public
//! repositories and forks, direct grants sprinkled over repositories (a few people get direct
//! read on every restricted repository, so direct grants decide admission too), and bots whose
//! nicknames end in `-bot` for exclusion tests.

use crate::scenario::{
    BitbucketGroup, BitbucketMember, BitbucketProject, BitbucketRepo, BitbucketScenario,
    BitbucketToken, BitbucketUser, BitbucketWorkspace, GrantPermission, GroupGrant, UserGrant,
    WorkspaceRole,
};

/// How big a generated workspace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitbucketSize {
    /// Workspace members.
    pub members: usize,
    /// Repositories.
    pub repos: usize,
    /// User groups.
    pub groups: usize,
}

impl Default for BitbucketSize {
    fn default() -> Self {
        BitbucketSize {
            members: 60,
            repos: 30,
            groups: 6,
        }
    }
}

/// The workspace slug of generated scenarios.
pub const SYNTHETIC_WORKSPACE: &str = "acme";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{{{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}}}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 52) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// A workspace `acme` of the given size, the same for the same seed, with one API token
/// (`sim-bitbucket-token` for `admin@example.com`) that has every scope.
pub fn synthetic_bitbucket(seed: u64, size: BitbucketSize) -> BitbucketScenario {
    let mut rng = Rng(seed ^ 0xB17B_0C4E_7000_0001);
    let members = size.members.max(1);
    let users: Vec<BitbucketUser> = (0..members)
        .map(|i| {
            let nickname = if i % 37 == 36 {
                format!("deploy-{i}-bot")
            } else {
                format!("user{i}")
            };
            BitbucketUser {
                uuid: rng.uuid(),
                account_id: format!("557058:{:08x}-{i:04}", rng.next() >> 32),
                display_name: format!("User {i}"),
                nickname,
                email: Some(format!("user{i}@example.com")),
            }
        })
        .collect();
    let owners = (members / 50).max(1);
    let ws_members: Vec<BitbucketMember> = users
        .iter()
        .enumerate()
        .map(|(i, u)| BitbucketMember {
            user: u.uuid.clone(),
            role: if i < owners {
                WorkspaceRole::Owner
            } else if rng.chance(10) {
                WorkspaceRole::Collaborator
            } else {
                WorkspaceRole::Member
            },
        })
        .collect();
    let pick = |rng: &mut Rng| users[rng.below(users.len())].uuid.clone();

    let group_count = size.groups.max(2);
    let mut groups = Vec::new();
    for g in 0..group_count {
        let (slug, name, share) = match g {
            0 => ("developers".to_string(), "Developers".to_string(), 70),
            1 => ("core".to_string(), "Core".to_string(), 15),
            _ => (format!("team-{g}"), format!("Team {g}"), 0),
        };
        let mut group_members: Vec<String> = if share > 0 {
            users
                .iter()
                .skip(owners)
                .filter(|_| rng.chance(share))
                .map(|u| u.uuid.clone())
                .collect()
        } else {
            let n = 2 + rng.below(members.min(40));
            (0..n).map(|_| pick(&mut rng)).collect()
        };
        group_members.sort();
        group_members.dedup();
        groups.push(BitbucketGroup {
            slug,
            name,
            members: group_members,
        });
    }

    let project_count = (size.repos / 20).max(2);
    let mut projects = Vec::new();
    for p in 0..project_count {
        let key = if p == 0 {
            "SEC".to_string()
        } else {
            format!("P{p}")
        };
        let mut group_grants = Vec::new();
        if p == 0 {
            group_grants.push(GroupGrant {
                group: "core".into(),
                permission: GrantPermission::Write,
            });
        } else {
            group_grants.push(GroupGrant {
                group: "developers".into(),
                permission: if rng.chance(50) {
                    GrantPermission::Read
                } else {
                    GrantPermission::CreateRepo
                },
            });
        }
        if group_count > 2 && rng.chance(40) {
            group_grants.push(GroupGrant {
                group: format!("team-{}", 2 + rng.below(group_count - 2)),
                permission: GrantPermission::Admin,
            });
        }
        let mut user_grants = Vec::new();
        if rng.chance(30) {
            user_grants.push(UserGrant {
                user: pick(&mut rng),
                permission: GrantPermission::Read,
            });
        }
        projects.push(BitbucketProject {
            uuid: rng.uuid(),
            key: key.clone(),
            name: format!("Project {key}"),
            is_private: true,
            users: user_grants,
            groups: group_grants,
        });
    }

    // A few people read every restricted repository through direct grants.
    let direct_readers: Vec<String> = (0..3).map(|_| pick(&mut rng)).collect();
    let mut repositories = Vec::new();
    for r in 0..size.repos {
        let project = &projects[r % project_count];
        let slug = format!("repo-{r:04}");
        let mut user_grants = Vec::new();
        if project.key == "SEC" {
            for u in &direct_readers {
                user_grants.push(UserGrant {
                    user: u.clone(),
                    permission: GrantPermission::Read,
                });
            }
        }
        for _ in 0..rng.below(3) {
            let permission = match rng.below(4) {
                0 => GrantPermission::None,
                1 => GrantPermission::Read,
                2 => GrantPermission::Write,
                _ => GrantPermission::Admin,
            };
            let user = pick(&mut rng);
            if !user_grants.iter().any(|g: &UserGrant| g.user == user) {
                user_grants.push(UserGrant { user, permission });
            }
        }
        let mut group_grants = Vec::new();
        if group_count > 2 && rng.chance(30) {
            group_grants.push(GroupGrant {
                group: format!("team-{}", 2 + rng.below(group_count - 2)),
                permission: GrantPermission::Write,
            });
        }
        let parent = (r > 0 && rng.chance(8))
            .then(|| format!("{SYNTHETIC_WORKSPACE}/repo-{:04}", rng.below(r)));
        repositories.push(BitbucketRepo {
            uuid: rng.uuid(),
            slug,
            name: None,
            is_private: !rng.chance(8),
            project: project.key.clone(),
            parent,
            users: user_grants,
            groups: group_grants,
        });
    }

    BitbucketScenario {
        users,
        workspaces: vec![BitbucketWorkspace {
            uuid: rng.uuid(),
            slug: SYNTHETIC_WORKSPACE.into(),
            name: "Acme".into(),
            is_private: true,
            members: ws_members,
            projects,
            repositories,
            groups,
        }],
        tokens: vec![BitbucketToken::api_token(
            super::DEFAULT_EMAIL,
            super::DEFAULT_TOKEN,
        )],
        oauth_consumers: Vec::new(),
        groups_api: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_workspace_and_it_validates() {
        let size = BitbucketSize {
            members: 120,
            repos: 50,
            groups: 5,
        };
        let a = synthetic_bitbucket(3, size);
        assert_eq!(a, synthetic_bitbucket(3, size));
        assert_ne!(a, synthetic_bitbucket(4, size));
        a.validate().expect("generated workspaces are consistent");
        assert_eq!(a.workspaces[0].members.len(), 120);
        assert_eq!(a.workspaces[0].repositories.len(), 50);
    }
}

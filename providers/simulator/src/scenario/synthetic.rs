//! Deterministic generated GitHub organisations of any size, for load tests and property tests.
//!
//! The shape follows what real organisations look like: most repositories are granted to a few
//! teams, a handful are restricted to one small team, a few people read everything (owners and an
//! "all-readers" team), some teams are nested, and there are pending invitees, suspended accounts,
//! a bot and outside collaborators. The same seed always gives the same scenario.

use super::github::*;
use orgsync_core::{Permission, TeamRole, Visibility};
use serde::{Deserialize, Serialize};

/// How big a generated organisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticSize {
    /// Organisation members.
    pub members: usize,
    /// Repositories.
    pub repos: usize,
    /// Teams, nested ones included.
    pub teams: usize,
}

impl Default for SyntheticSize {
    fn default() -> Self {
        SyntheticSize {
            members: 50,
            repos: 30,
            teams: 8,
        }
    }
}

/// SplitMix64: tiny, fast, well distributed and stable across releases, unlike a crate's PRNG
/// whose stream may change with a version bump and silently change every generated scenario.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The login of the generated organisation.
pub const SYNTHETIC_ORG: &str = "acme";
/// The full-scope token of generated scenarios.
pub const SYNTHETIC_TOKEN: &str = "sim-github-token";
/// A generated token without `read:org`, for scope checks.
pub const SYNTHETIC_TOKEN_WITHOUT_READ_ORG: &str = "sim-github-token-repo-only";

const FIRST_MEMBER_ID: u64 = 1_000_000;
const FIRST_OUTSIDER_ID: u64 = 5_000_000;

/// Generates the GitHub section of a synthetic scenario.
pub fn synthetic_github(seed: u64, size: SyntheticSize) -> GithubScenario {
    let mut rng = SplitMix64(seed);
    let n = size.members;
    let mut users = Vec::with_capacity(n + n / 20 + 1);
    let mut members = Vec::with_capacity(n);
    let owners = if n == 0 { 0 } else { (n * 3 / 100).max(1) };
    let pending = n * 2 / 100;
    let suspended = n / 100;
    for i in 0..n {
        let id = FIRST_MEMBER_ID + i as u64;
        let is_bot = n >= 20 && i == n - 1;
        let login = if is_bot {
            "deploy-bot[bot]".to_string()
        } else {
            format!("user-{i:05}")
        };
        // Owners come first, then pending invitees, then suspended accounts: never overlapping,
        // so each edge case is present as itself.
        let state = if i >= owners && i < owners + pending {
            MembershipState::Pending
        } else {
            MembershipState::Active
        };
        let is_suspended = i >= owners + pending && i < owners + pending + suspended;
        users.push(GithubUser {
            id,
            login: login.clone(),
            name: Some(format!("User {i}")),
            email: (!is_bot).then(|| format!("{login}@acme.example")),
            suspended: is_suspended,
            bot: is_bot,
            site_admin: false,
        });
        members.push(OrgMember {
            user: id,
            role: if i < owners {
                OrgRole::Admin
            } else {
                OrgRole::Member
            },
            state,
            concealed: false,
        });
    }
    let outsiders = if n == 0 { 0 } else { (n * 3 / 100).max(1) };
    let mut outside_collaborators = Vec::new();
    for i in 0..outsiders {
        let id = FIRST_OUTSIDER_ID + i as u64;
        users.push(GithubUser {
            id,
            login: format!("contractor-{i:03}"),
            name: Some(format!("Contractor {i}")),
            email: None,
            suspended: false,
            bot: false,
            site_admin: false,
        });
        outside_collaborators.push(id);
    }

    let mut repos = Vec::with_capacity(size.repos);
    for i in 0..size.repos {
        let restricted = i % 20 == 19;
        let visibility = match rng.below(100) {
            0..=9 if !restricted => Visibility::Public,
            10..=14 => Visibility::Internal,
            _ => Visibility::Private,
        };
        repos.push(GithubRepo {
            id: 20_000_000 + i as u64,
            name: if restricted {
                format!("secret-{i:04}")
            } else {
                format!("repo-{i:04}")
            },
            visibility,
            archived: rng.chance(5),
            fork: rng.chance(5),
            description: None,
            collaborators: Vec::new(),
        });
    }

    let active: Vec<u64> = members
        .iter()
        .filter(|m| m.state == MembershipState::Active)
        .map(|m| m.user)
        .collect();
    let mut teams: Vec<GithubTeam> = Vec::with_capacity(size.teams);
    for t in 0..size.teams {
        let slug = if t == 0 {
            "all-readers".to_string()
        } else {
            format!("team-{t:03}")
        };
        // A quarter of the teams (not the first two) nest under an earlier team.
        let parent = (t >= 2 && rng.chance(25)).then(|| teams[1 + rng.below(t - 1)].slug.clone());
        let wanted = if t == 0 {
            (n / 50).max(1)
        } else {
            2 + rng.below((n / 4).max(1))
        };
        let mut team_members: Vec<TeamMembership> = Vec::new();
        let mut chosen = std::collections::HashSet::new();
        for _ in 0..wanted.min(active.len()) {
            let user = active[rng.below(active.len())];
            if chosen.insert(user) {
                team_members.push(TeamMembership {
                    user,
                    role: if team_members.is_empty() {
                        TeamRole::Maintainer
                    } else {
                        TeamRole::Member
                    },
                });
            }
        }
        teams.push(GithubTeam {
            id: 300_000 + t as u64,
            slug,
            name: if t == 0 {
                "All readers".to_string()
            } else {
                format!("Team {t}")
            },
            description: None,
            privacy: if rng.chance(10) {
                TeamPrivacy::Secret
            } else {
                TeamPrivacy::Closed
            },
            parent,
            members: team_members,
            repos: Vec::new(),
        });
    }

    // Grants: the all-readers team reads everything; each ordinary repository goes to one to
    // three ordinary teams; a restricted repository goes to exactly one team.
    let ordinary_teams = size.teams.saturating_sub(1);
    for repo in &repos {
        if let Some(all) = teams.first_mut() {
            all.repos.push(TeamGrant {
                repo: repo.name.clone(),
                permission: Permission::Read,
            });
        }
        if ordinary_teams == 0 {
            continue;
        }
        let grants = if repo.name.starts_with("secret-") {
            1
        } else {
            1 + rng.below(3)
        };
        for _ in 0..grants {
            let t = 1 + rng.below(ordinary_teams);
            let permission = match rng.below(100) {
                0..=49 => Permission::Read,
                50..=84 => Permission::Write,
                85..=94 => Permission::Maintain,
                _ => Permission::Admin,
            };
            let team = &mut teams[t];
            if team.repos.iter().all(|g| g.repo != repo.name) {
                team.repos.push(TeamGrant {
                    repo: repo.name.clone(),
                    permission,
                });
            }
        }
    }

    // Direct collaborators: a few members get a repository role directly; every outside
    // collaborator works on one or two repositories.
    if !repos.is_empty() {
        for _ in 0..n / 10 {
            if active.is_empty() {
                break;
            }
            let user = active[rng.below(active.len())];
            let r = rng.below(repos.len());
            if repos[r].collaborators.iter().all(|c| c.user != user) {
                repos[r].collaborators.push(RepoCollaborator {
                    user,
                    permission: if rng.chance(70) {
                        Permission::Write
                    } else {
                        Permission::Read
                    },
                });
            }
        }
        for &user in &outside_collaborators {
            for _ in 0..1 + rng.below(2) {
                let r = rng.below(repos.len());
                if repos[r].collaborators.iter().all(|c| c.user != user) {
                    repos[r].collaborators.push(RepoCollaborator {
                        user,
                        permission: Permission::Write,
                    });
                }
            }
        }
    }

    let invitations = if n >= 50 {
        vec![EmailInvitation {
            id: 9_000_001,
            email: "new-hire@acme.example".to_string(),
            role: OrgRole::Member,
        }]
    } else {
        Vec::new()
    };

    GithubScenario {
        users,
        orgs: vec![GithubOrg {
            id: 4_000_000,
            login: SYNTHETIC_ORG.to_string(),
            name: Some("Acme Corp".to_string()),
            default_repository_permission: Permission::None,
            members,
            outside_collaborators,
            invitations,
            teams,
            repos,
            organization_roles: Vec::new(),
        }],
        tokens: vec![
            TokenSpec::full(SYNTHETIC_TOKEN),
            TokenSpec {
                token: SYNTHETIC_TOKEN_WITHOUT_READ_ORG.to_string(),
                scopes: Some(vec!["repo".to_string()]),
                rate_limit: None,
                user: None,
                repositories: None,
            },
        ],
        app: Some(GithubApp {
            app_id: 4242,
            slug: default_slug(),
            installation_id: 7070,
            org: SYNTHETIC_ORG.to_string(),
            public_key_pem: TEST_APP_PUBLIC_KEY_PEM.to_string(),
            token_lifetime_secs: 3600,
            repositories: None,
            permissions: None,
        }),
    }
}

fn default_slug() -> String {
    "orgsync-sim".to_string()
}

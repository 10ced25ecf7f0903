//! Deterministic generated GitLab group trees of any size.
//!
//! The shape follows real instances: a private top-level group `acme` whose members mostly hold
//! Developer or Reporter, a few Owners and Maintainers, some Guests, Planners and Minimal-access
//! members who read only the subgroups or projects they were given; nested subgroups with their
//! own direct members; projects spread over the tree (a few internal, public, archived or
//! forked); a partner group invited at Reporter and a contractors group invited at Guest; a few
//! projects of the partner group shared into the tree; blocked and deactivated accounts,
//! memberships awaiting approval, expired memberships and access-token bots. The same seed
//! always gives the same tree.

use crate::scenario::{
    GitlabGroup, GitlabMember, GitlabProject, GitlabScenario, GitlabToken, GitlabUser, GroupShare,
    MembershipApproval, UserState,
};
use orgsync_core::Visibility;
use serde::{Deserialize, Serialize};

/// How big a generated tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabSize {
    /// Members of the top-level group (direct; invited groups add a few percent more).
    pub members: usize,
    /// Projects across the tree.
    pub projects: usize,
    /// Subgroups below the top-level group.
    pub subgroups: usize,
}

impl Default for GitlabSize {
    fn default() -> Self {
        GitlabSize {
            members: 60,
            projects: 30,
            subgroups: 8,
        }
    }
}

/// The full path of the generated top-level group.
pub const SYNTHETIC_GROUP: &str = "acme";
/// Its id.
pub const SYNTHETIC_GROUP_ID: u64 = 1000;
/// The administrator token of generated scenarios.
pub const SYNTHETIC_TOKEN: &str = "sim-gitlab-token";

const PARTNERS: u64 = 9000;
const CONTRACTORS: u64 = 9001;

/// SplitMix64, as in the GitHub generator: stable across releases.
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
}

fn member(user: u64, access_level: u8) -> GitlabMember {
    GitlabMember {
        user,
        access_level,
        expires_at: None,
        state: MembershipApproval::Active,
        member_role: None,
    }
}

/// A generated GitLab instance with one tree under [`SYNTHETIC_GROUP`].
pub fn synthetic_gitlab(seed: u64, size: GitlabSize) -> GitlabScenario {
    let mut rng = Rng(seed ^ 0x6177_1AB0);
    let mut users = Vec::new();
    let mut root = GitlabGroup {
        id: SYNTHETIC_GROUP_ID,
        path: SYNTHETIC_GROUP.to_string(),
        name: "Acme".to_string(),
        parent: None,
        visibility: Visibility::Private,
        members: Vec::new(),
        shared_with: vec![
            GroupShare {
                group: PARTNERS,
                access_level: 20,
                expires_at: None,
            },
            GroupShare {
                group: CONTRACTORS,
                access_level: 10,
                expires_at: None,
            },
        ],
    };
    // Levels of root members whose access is limited (they need per-project checks).
    let mut limited: Vec<u64> = Vec::new();
    let mut regular: Vec<u64> = Vec::new();
    for i in 0..size.members {
        let id = 10_000 + i as u64;
        let bot = i % 500 == 499;
        let username = if bot {
            format!("group_{SYNTHETIC_GROUP_ID}_bot_{:08x}", rng.next() as u32)
        } else {
            format!("user{i:05}")
        };
        let state = match rng.below(200) {
            0 | 1 => UserState::Blocked,
            2 => UserState::Deactivated,
            _ => UserState::Active,
        };
        users.push(GitlabUser {
            id,
            username,
            name: Some(format!("User {i}")),
            email: Some(format!("user{i}@acme.example")),
            state,
            bot,
            admin: false,
            external: false,
        });
        let level = if i == 0 {
            50
        } else {
            match rng.below(100) {
                0..=1 => 50,
                2..=9 => 40,
                10..=59 => 30,
                60..=84 => 20,
                85..=91 => 10,
                92..=94 => 15,
                95 => 5,
                _ => 30,
            }
        };
        let mut m = member(id, level);
        if i > 0 && rng.chance(2) {
            m.state = MembershipApproval::Awaiting;
        } else if i > 0 && rng.chance(1) {
            m.expires_at = Some("2025-01-31".to_string());
        } else if rng.chance(3) {
            m.expires_at = Some("2031-12-31".to_string());
        }
        if level < 20 {
            limited.push(id);
        } else {
            regular.push(id);
        }
        root.members.push(m);
    }
    let mut groups = vec![root];
    // Subgroups: a third hang directly below the root, the rest below an earlier subgroup.
    for j in 0..size.subgroups {
        let id = SYNTHETIC_GROUP_ID + 1 + j as u64;
        let parent = if j < size.subgroups.div_ceil(3) {
            SYNTHETIC_GROUP_ID
        } else {
            SYNTHETIC_GROUP_ID + 1 + rng.below(j) as u64
        };
        let mut g = GitlabGroup {
            id,
            path: format!("team-{j:03}"),
            name: format!("Team {j}"),
            parent: Some(parent),
            visibility: Visibility::Private,
            members: Vec::new(),
            shared_with: Vec::new(),
        };
        let direct = (size.members / size.subgroups.max(1)).clamp(2, 40);
        for _ in 0..direct {
            if regular.is_empty() {
                break;
            }
            let user = regular[rng.below(regular.len())];
            if g.members.iter().all(|m| m.user != user) {
                g.members
                    .push(member(user, if rng.chance(30) { 40 } else { 30 }));
            }
        }
        groups.push(g);
    }
    // Limited members get Reporter in one to three subgroups.
    for &user in &limited {
        for _ in 0..=rng.below(3) {
            if size.subgroups == 0 {
                break;
            }
            let g = &mut groups[1 + rng.below(size.subgroups)];
            if g.members.iter().all(|m| m.user != user) {
                g.members.push(member(user, 20));
            }
        }
    }
    // Invited groups outside the tree.
    let mut partners = GitlabGroup {
        id: PARTNERS,
        path: "partners".to_string(),
        name: "Partners".to_string(),
        parent: None,
        visibility: Visibility::Private,
        members: Vec::new(),
        shared_with: Vec::new(),
    };
    let mut contractors = GitlabGroup {
        id: CONTRACTORS,
        path: "contractors".to_string(),
        name: "Contractors".to_string(),
        parent: None,
        visibility: Visibility::Private,
        members: Vec::new(),
        shared_with: Vec::new(),
    };
    let extra = (size.members / 50).max(1);
    for k in 0..extra * 2 {
        let id = 50_000 + k as u64;
        users.push(GitlabUser {
            id,
            username: format!("ext{k:04}"),
            name: Some(format!("External {k}")),
            email: None,
            state: UserState::Active,
            bot: false,
            admin: false,
            external: false,
        });
        if k % 2 == 0 {
            partners.members.push(member(id, 30));
        } else {
            contractors.members.push(member(id, 30));
        }
    }
    groups.push(partners);
    groups.push(contractors);
    // Projects over the tree: a fifth at the root.
    let mut projects = Vec::new();
    for p in 0..size.projects {
        let namespace = if size.subgroups == 0 || rng.chance(20) {
            SYNTHETIC_GROUP_ID
        } else {
            SYNTHETIC_GROUP_ID + 1 + rng.below(size.subgroups) as u64
        };
        let visibility = match rng.below(100) {
            0..=4 => Visibility::Public,
            5..=14 => Visibility::Internal,
            _ => Visibility::Private,
        };
        let mut project = GitlabProject {
            id: 20_000 + p as u64,
            path: format!("project-{p:04}"),
            name: format!("Project {p}"),
            namespace,
            visibility,
            archived: rng.chance(5),
            fork: rng.chance(3),
            members: Vec::new(),
            shared_with: Vec::new(),
        };
        if !limited.is_empty() && rng.chance(10) {
            project
                .members
                .push(member(limited[rng.below(limited.len())], 30));
        }
        projects.push(project);
    }
    for s in 0..3 {
        projects.push(GitlabProject {
            id: 29_000 + s,
            path: format!("shared-{s}"),
            name: format!("Shared {s}"),
            namespace: PARTNERS,
            visibility: Visibility::Private,
            archived: false,
            fork: false,
            members: Vec::new(),
            shared_with: vec![GroupShare {
                group: SYNTHETIC_GROUP_ID,
                access_level: 30,
                expires_at: None,
            }],
        });
    }
    GitlabScenario {
        users,
        groups,
        projects,
        tokens: vec![GitlabToken::admin(SYNTHETIC_TOKEN)],
        today: "2026-11-24".to_string(),
        version: None,
    }
}

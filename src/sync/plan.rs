//! Planning: the typed difference between what the directory holds ([`Current`]) and what it
//! should hold ([`Desired`]). Pure; printable as a readable diff and serialisable as JSON.
//!
//! Ownership rules live here: only `sync`-sourced memberships and teams are touched, a
//! suspended membership is never reactivated or offboarded, and a pinned role is kept.

use super::admit::{Desired, OffboardReason, RepositoryInfo};
use orgsync_core::{Permission, TeamRole, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The state of a person's membership in a workspace (`memberships.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipState {
    /// Counts as a member: syncs keep it in step with the provider.
    Active,
    /// Removed by a sync or an admin; kept so a returning member is reactivated, not onboarded
    /// again.
    Offboarded,
    /// Frozen by an admin: no sync reactivates, offboards or renames it until it is unsuspended.
    Suspended,
    /// An invited person waiting for a Git account. This version creates accepted invitations
    /// `active`; the state is read for rows that hold it. A sync never offboards or reactivates it.
    Invited,
}

impl MembershipState {
    /// The text stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipState::Active => "active",
            MembershipState::Offboarded => "offboarded",
            MembershipState::Suspended => "suspended",
            MembershipState::Invited => "invited",
        }
    }

    /// Reads the stored text back; `None` for a value this version does not know.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => MembershipState::Active,
            "offboarded" => MembershipState::Offboarded,
            "suspended" => MembershipState::Suspended,
            "invited" => MembershipState::Invited,
            _ => return None,
        })
    }
}

/// Who created a membership or team, and so who may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipSource {
    /// Created by a sync from the provider's lists; syncs keep it in step (an admin may still
    /// suspend it or pin its role).
    Sync,
    /// Created when someone accepted an invitation; syncs leave it alone.
    Invitation,
    /// Created by an admin command (`users add-service-account`); syncs leave it alone.
    Manual,
}

impl MembershipSource {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipSource::Sync => "sync",
            MembershipSource::Invitation => "invitation",
            MembershipSource::Manual => "manual",
        }
    }

    /// Reads the stored text back; `None` for a value this version does not know.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sync" => MembershipSource::Sync,
            "invitation" => MembershipSource::Invitation,
            "manual" => MembershipSource::Manual,
            _ => return None,
        })
    }
}

/// A directory member of the workspace who has an identity at this provider and host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentMember {
    /// The directory user's id (`users.id`).
    pub user_id: i64,
    /// The login the directory last recorded for this identity; empty when none was recorded.
    pub login: String,
    /// The display name the directory holds, if any.
    pub name: Option<String>,
    /// The e-mail address the directory holds, if any.
    pub email: Option<String>,
    /// The directory role in this workspace (after role mapping, not the provider's role).
    pub role: String,
    /// An admin pinned the role: syncs keep it even when the provider role maps to another.
    pub role_pinned: bool,
    /// Where the membership stands; a suspended one is never touched by a sync.
    pub state: MembershipState,
    /// Who created the membership: only `Sync` memberships are planned for.
    pub source: MembershipSource,
}

/// A team the directory holds for the workspace, with its synced members and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentTeam {
    /// The display name.
    pub name: String,
    /// The parent team's slug; `None` for a root team.
    pub parent: Option<String>,
    /// Who created the team: only `Sync` teams are updated or deleted by a plan.
    pub source: MembershipSource,
    /// Sync-sourced team memberships by provider user id.
    pub members: BTreeMap<String, TeamRole>,
    /// Repository grants by repository name.
    pub repositories: BTreeMap<String, Permission>,
}

/// What the directory holds for one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// Memberships of users with an identity at this provider and host, by provider user id.
    pub members: BTreeMap<String, CurrentMember>,
    /// Users with an identity at this provider and host but no membership in this workspace.
    pub identities: BTreeMap<String, i64>,
    /// Active memberships in the workspace with the admin role, from any source, by user id.
    pub admins: BTreeSet<i64>,
    /// Teams by slug.
    pub teams: BTreeMap<String, CurrentTeam>,
    /// The workspace's repository records by repository name.
    pub repositories: BTreeMap<String, RepositoryInfo>,
}

impl Current {
    /// Active sync-sourced memberships: the base of the offboarding threshold.
    pub fn active_synced(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.source == MembershipSource::Sync && m.state == MembershipState::Active)
            .count()
    }
}

/// One typed change of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A provider member with no membership in the workspace joins it.
    Onboard {
        /// The provider's immutable user id of the new member.
        provider_user_id: String,
        /// An existing directory user holding this identity (a member of another workspace).
        existing_user_id: Option<i64>,
        /// Their login at the provider now.
        login: String,
        /// Their display name, when the provider shows it.
        name: Option<String>,
        /// Their e-mail address, when the provider shows it.
        email: Option<String>,
        /// The directory role, mapped from the provider role.
        role: String,
    },
    /// An offboarded sync membership becomes active again.
    Reactivate {
        /// The directory user's id.
        user_id: i64,
        /// The provider's immutable user id.
        provider_user_id: String,
        /// Their login at the provider now.
        login: String,
        /// The role given back: the pinned role if the membership has one, else the mapped one.
        role: String,
    },
    /// An active sync membership whose member left the account or is no longer admitted is
    /// offboarded.
    Offboard {
        /// The directory user's id.
        user_id: i64,
        /// The provider's immutable user id.
        provider_user_id: String,
        /// The login the provider still reports, or the directory's when the member left.
        login: String,
        /// Why the member no longer belongs in the workspace.
        reason: OffboardReason,
    },
    /// The mapped provider role of an active, unpinned sync membership changed.
    RoleChange {
        /// The directory user's id.
        user_id: i64,
        /// The provider's immutable user id.
        provider_user_id: String,
        /// Their login at the provider now.
        login: String,
        /// The directory role held now.
        from: String,
        /// The directory role the provider role now maps to.
        to: String,
    },
    /// A login rename or a changed name/e-mail of the same provider user.
    IdentityUpdate {
        /// The directory user's id.
        user_id: i64,
        /// The provider's immutable user id, which stays the same across a rename.
        provider_user_id: String,
        /// The login the directory held.
        from_login: String,
        /// The login at the provider now (equal to `from_login` when only name or e-mail changed).
        login: String,
        /// The display name at the provider now.
        name: Option<String>,
        /// The e-mail address at the provider now.
        email: Option<String>,
    },
    /// A repository record is added or its id, archived, fork or visibility data changed.
    RepositoryUpsert {
        /// The repository's name within the account.
        name: String,
        /// What the directory records for it.
        info: RepositoryInfo,
    },
    /// A repository the provider no longer lists is removed from the directory.
    RepositoryRemove {
        /// The repository's name within the account.
        name: String,
    },
    /// A team the provider lists and the directory does not hold is created (as `sync`).
    TeamCreate {
        /// The team's slug, unique in the account.
        slug: String,
        /// The display name.
        name: String,
        /// The parent team's slug; `None` for a root team.
        parent: Option<String>,
        /// The provider's immutable team id.
        provider_team_id: String,
    },
    /// A sync team's display name or parent changed at the provider.
    TeamUpdate {
        /// The team's slug.
        slug: String,
        /// The display name now.
        name: String,
        /// The parent team's slug now; `None` for a root team.
        parent: Option<String>,
    },
    /// A sync team the provider no longer lists (or every sync team, with teams off) is deleted.
    TeamDelete {
        /// The team's slug.
        slug: String,
    },
    /// An admitted member of a provider team is added to the directory's team.
    TeamMemberAdd {
        /// The team's slug.
        team: String,
        /// The provider's immutable user id of the member.
        provider_user_id: String,
        /// Their login at the provider now.
        login: String,
        /// Their role in the team.
        role: TeamRole,
    },
    /// A synced team member's role in the team changed.
    TeamMemberUpdate {
        /// The team's slug.
        team: String,
        /// The provider's immutable user id of the member.
        provider_user_id: String,
        /// Their login at the provider now.
        login: String,
        /// Their role in the team now.
        role: TeamRole,
    },
    /// A synced member of a team who is no longer among the provider team's admitted members
    /// leaves it (an offboarded person's team memberships go with the offboarding instead).
    TeamMemberRemove {
        /// The team's slug.
        team: String,
        /// The provider's immutable user id of the member.
        provider_user_id: String,
        /// Their login at the provider, else the directory's, else the provider user id.
        login: String,
    },
    /// A team is granted a permission on a repository, or its permission changes (only with
    /// `teams = "full"`).
    TeamRepositoryGrant {
        /// The team's slug.
        team: String,
        /// The repository's name within the account.
        repository: String,
        /// The permission the team gets.
        permission: Permission,
    },
    /// A team's grant on a repository is removed.
    TeamRepositoryRevoke {
        /// The team's slug.
        team: String,
        /// The repository's name within the account.
        repository: String,
    },
}

/// What a [`Change`] does, without its data: for metrics, audit actions and [`Plan::tally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// [`Change::Onboard`].
    Onboard,
    /// [`Change::Reactivate`].
    Reactivate,
    /// [`Change::Offboard`].
    Offboard,
    /// [`Change::RoleChange`].
    RoleChange,
    /// [`Change::IdentityUpdate`].
    IdentityUpdate,
    /// [`Change::RepositoryUpsert`].
    RepositoryUpsert,
    /// [`Change::RepositoryRemove`].
    RepositoryRemove,
    /// [`Change::TeamCreate`].
    TeamCreate,
    /// [`Change::TeamUpdate`].
    TeamUpdate,
    /// [`Change::TeamDelete`].
    TeamDelete,
    /// [`Change::TeamMemberAdd`].
    TeamMemberAdd,
    /// [`Change::TeamMemberUpdate`].
    TeamMemberUpdate,
    /// [`Change::TeamMemberRemove`].
    TeamMemberRemove,
    /// [`Change::TeamRepositoryGrant`].
    TeamRepositoryGrant,
    /// [`Change::TeamRepositoryRevoke`].
    TeamRepositoryRevoke,
}

impl ChangeKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [ChangeKind; 15] = [
        ChangeKind::Onboard,
        ChangeKind::Reactivate,
        ChangeKind::Offboard,
        ChangeKind::RoleChange,
        ChangeKind::IdentityUpdate,
        ChangeKind::RepositoryUpsert,
        ChangeKind::RepositoryRemove,
        ChangeKind::TeamCreate,
        ChangeKind::TeamUpdate,
        ChangeKind::TeamDelete,
        ChangeKind::TeamMemberAdd,
        ChangeKind::TeamMemberUpdate,
        ChangeKind::TeamMemberRemove,
        ChangeKind::TeamRepositoryGrant,
        ChangeKind::TeamRepositoryRevoke,
    ];

    /// The label used in metrics, the audit trail and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Onboard => "onboard",
            ChangeKind::Reactivate => "reactivate",
            ChangeKind::Offboard => "offboard",
            ChangeKind::RoleChange => "role_change",
            ChangeKind::IdentityUpdate => "identity_update",
            ChangeKind::RepositoryUpsert => "repository_upsert",
            ChangeKind::RepositoryRemove => "repository_remove",
            ChangeKind::TeamCreate => "team_create",
            ChangeKind::TeamUpdate => "team_update",
            ChangeKind::TeamDelete => "team_delete",
            ChangeKind::TeamMemberAdd => "team_member_add",
            ChangeKind::TeamMemberUpdate => "team_member_update",
            ChangeKind::TeamMemberRemove => "team_member_remove",
            ChangeKind::TeamRepositoryGrant => "team_repository_grant",
            ChangeKind::TeamRepositoryRevoke => "team_repository_revoke",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many changes of each kind a plan holds: `plan.tally()[ChangeKind::Offboard]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally([usize; 15]);

impl Tally {
    /// Onboards plus reactivations: the people a plan admits.
    pub fn admitted(&self) -> usize {
        self[ChangeKind::Onboard] + self[ChangeKind::Reactivate]
    }
}

impl std::ops::Index<ChangeKind> for Tally {
    type Output = usize;

    fn index(&self, kind: ChangeKind) -> &usize {
        &self.0[kind as usize]
    }
}

impl Change {
    /// What the change does.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::Onboard { .. } => ChangeKind::Onboard,
            Change::Reactivate { .. } => ChangeKind::Reactivate,
            Change::Offboard { .. } => ChangeKind::Offboard,
            Change::RoleChange { .. } => ChangeKind::RoleChange,
            Change::IdentityUpdate { .. } => ChangeKind::IdentityUpdate,
            Change::RepositoryUpsert { .. } => ChangeKind::RepositoryUpsert,
            Change::RepositoryRemove { .. } => ChangeKind::RepositoryRemove,
            Change::TeamCreate { .. } => ChangeKind::TeamCreate,
            Change::TeamUpdate { .. } => ChangeKind::TeamUpdate,
            Change::TeamDelete { .. } => ChangeKind::TeamDelete,
            Change::TeamMemberAdd { .. } => ChangeKind::TeamMemberAdd,
            Change::TeamMemberUpdate { .. } => ChangeKind::TeamMemberUpdate,
            Change::TeamMemberRemove { .. } => ChangeKind::TeamMemberRemove,
            Change::TeamRepositoryGrant { .. } => ChangeKind::TeamRepositoryGrant,
            Change::TeamRepositoryRevoke { .. } => ChangeKind::TeamRepositoryRevoke,
        }
    }
}

impl fmt::Display for Change {
    /// One line; every provider-controlled name is escaped ([`crate::text::escape`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::Escaped as E;
        match self {
            Change::Onboard {
                login,
                provider_user_id,
                role,
                ..
            } => write!(
                f,
                "+ onboard {} (id {}) as {role}",
                E(login),
                E(provider_user_id)
            ),
            Change::Reactivate { login, role, .. } => {
                write!(f, "+ reactivate {} as {role}", E(login))
            }
            Change::Offboard { login, reason, .. } => {
                write!(f, "- offboard {}: {reason}", E(login))
            }
            Change::RoleChange {
                login, from, to, ..
            } => {
                write!(f, "~ role of {}: {from} -> {to}", E(login))
            }
            Change::IdentityUpdate {
                from_login, login, ..
            } if from_login != login => write!(f, "~ rename {} -> {}", E(from_login), E(login)),
            Change::IdentityUpdate { login, .. } => write!(f, "~ profile of {} updated", E(login)),
            Change::RepositoryUpsert { name, .. } => write!(f, "~ repository {}", E(name)),
            Change::RepositoryRemove { name } => write!(f, "- repository {}", E(name)),
            Change::TeamCreate { slug, parent, .. } => match parent {
                Some(p) => write!(f, "+ team {} (child of {})", E(slug), E(p)),
                None => write!(f, "+ team {}", E(slug)),
            },
            Change::TeamUpdate { slug, .. } => write!(f, "~ team {}", E(slug)),
            Change::TeamDelete { slug } => write!(f, "- team {}", E(slug)),
            Change::TeamMemberAdd {
                team, login, role, ..
            } => write!(
                f,
                "+ {} joins team {} as {}",
                E(login),
                E(team),
                role.as_str()
            ),
            Change::TeamMemberUpdate {
                team, login, role, ..
            } => write!(f, "~ {} is {} of team {}", E(login), role.as_str(), E(team)),
            Change::TeamMemberRemove { team, login, .. } => {
                write!(f, "- {} leaves team {}", E(login), E(team))
            }
            Change::TeamRepositoryGrant {
                team,
                repository,
                permission,
            } => write!(
                f,
                "+ team {} gets {permission} on {}",
                E(team),
                E(repository)
            ),
            Change::TeamRepositoryRevoke { team, repository } => {
                write!(f, "- team {} loses {}", E(team), E(repository))
            }
        }
    }
}

/// A destructive verdict the provider's per-user read contradicted: not applied in this run,
/// audited, and decided again by the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unconfirmed {
    /// The provider's immutable user id of the person kept.
    pub provider_user_id: String,
    /// Their login, for the printed plan and the audit trail.
    pub login: String,
    /// The verdict the plan was built on and the provider did not confirm.
    pub verdict: Verdict,
    /// What the per-user read found instead.
    pub found: String,
}

impl fmt::Display for Unconfirmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "? kept {}: \"{}\" not confirmed by the provider ({}); decided again next run",
            crate::text::Escaped(&self.login),
            crate::text::Escaped(&self.verdict.to_string()),
            crate::text::Escaped(&self.found)
        )
    }
}

/// The ordered list of changes for one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The workspace's name in the configuration.
    pub workspace: String,
    /// The changes in the order they are applied: repository records, people, teams, then
    /// repository removals.
    pub changes: Vec<Change>,
    /// Verdicts dropped from `changes` because the provider contradicted them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<Unconfirmed>,
}

/// One destructive verdict of a plan, as the provider is asked to confirm it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destructive {
    /// The provider's immutable user id the verdict is about.
    pub provider_user_id: String,
    /// Their login, for messages.
    pub login: String,
    /// What the plan concluded: left the account, cannot read a repository, inactive, or not in
    /// a team.
    pub verdict: Verdict,
}

impl Plan {
    /// True when the plan has no changes (unconfirmed verdicts are not changes).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes of each kind the plan holds.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for c in &self.changes {
            tally.0[c.kind() as usize] += 1;
        }
        tally
    }

    /// The verdicts to confirm with the provider before applying: offboards that rest on what
    /// the provider's lists showed (left, lost access, account state; not exclusions and bots,
    /// which follow from the configuration), and removals from synced teams of people who stay.
    pub fn destructive(&self) -> Vec<Destructive> {
        let offboarded: BTreeSet<&str> = self
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Offboard {
                    provider_user_id, ..
                } => Some(provider_user_id.as_str()),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for change in &self.changes {
            let (provider_user_id, login, verdict) = match change {
                Change::Offboard {
                    provider_user_id,
                    login,
                    reason,
                    ..
                } => {
                    let verdict = match reason {
                        OffboardReason::LeftAccount => Verdict::LeftAccount,
                        OffboardReason::LostAccess { repository } => Verdict::CannotRead {
                            repository: repository.clone(),
                        },
                        OffboardReason::AccountState { .. } => Verdict::AccountInactive,
                        OffboardReason::Excluded { .. } | OffboardReason::Bot => continue,
                    };
                    (provider_user_id, login, verdict)
                }
                Change::TeamMemberRemove {
                    team,
                    provider_user_id,
                    login,
                } if !offboarded.contains(provider_user_id.as_str()) => (
                    provider_user_id,
                    login,
                    Verdict::NotInTeam { team: team.clone() },
                ),
                _ => continue,
            };
            out.push(Destructive {
                provider_user_id: provider_user_id.clone(),
                login: login.clone(),
                verdict,
            });
        }
        out
    }

    /// Drops a contradicted verdict from the changes: an offboard together with the removals
    /// from teams it brought, or one team-membership removal.
    pub fn drop_unconfirmed(&mut self, d: &Destructive, found: String) {
        let id = d.provider_user_id.as_str();
        self.changes.retain(|c| match (&d.verdict, c) {
            (
                Verdict::NotInTeam { team },
                Change::TeamMemberRemove {
                    team: t,
                    provider_user_id,
                    ..
                },
            ) => !(t == team && provider_user_id == id),
            (Verdict::NotInTeam { .. }, _) => true,
            (
                _,
                Change::Offboard {
                    provider_user_id, ..
                }
                | Change::TeamMemberRemove {
                    provider_user_id, ..
                },
            ) => provider_user_id != id,
            _ => true,
        });
        self.unconfirmed.push(Unconfirmed {
            provider_user_id: d.provider_user_id.clone(),
            login: d.login.clone(),
            verdict: d.verdict.clone(),
            found,
        });
    }

    /// Changes a person reviews; repository bookkeeping is left out of the printed diff.
    pub fn people_and_teams(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| {
            !matches!(
                c,
                Change::RepositoryUpsert { .. } | Change::RepositoryRemove { .. }
            )
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<&Change> = self.people_and_teams().collect();
        let repos = self.changes.len() - shown.len();
        if shown.is_empty() && repos == 0 && self.unconfirmed.is_empty() {
            return writeln!(f, "{}: no changes", crate::text::Escaped(&self.workspace));
        }
        // Counts first: a person reading a 700-line plan sees what it amounts to at once.
        let tally = self.tally();
        let counts: Vec<String> = ChangeKind::ALL
            .iter()
            .filter(|k| tally[**k] > 0)
            .map(|k| format!("{} {k}", tally[*k]))
            .collect();
        writeln!(
            f,
            "{}: {} change(s): {}",
            crate::text::Escaped(&self.workspace),
            self.changes.len(),
            if counts.is_empty() {
                "none applied".to_string()
            } else {
                counts.join(", ")
            }
        )?;
        for c in shown {
            writeln!(f, "  {c}")?;
        }
        for u in &self.unconfirmed {
            writeln!(f, "  {u}")?;
        }
        if repos > 0 {
            writeln!(f, "  ({repos} repository record(s) updated)")?;
        }
        Ok(())
    }
}

/// Computes the changes that take `current` to `desired`.
pub fn plan(workspace: &str, current: &Current, desired: &Desired) -> Plan {
    let mut changes = Vec::new();

    // Repositories first: team grants refer to them.
    for (name, info) in &desired.repositories {
        if current.repositories.get(name) != Some(info) {
            changes.push(Change::RepositoryUpsert {
                name: name.clone(),
                info: info.clone(),
            });
        }
    }

    // People.
    for (pid, want) in &desired.members {
        match current.members.get(pid) {
            None => changes.push(Change::Onboard {
                provider_user_id: pid.clone(),
                existing_user_id: current.identities.get(pid).copied(),
                login: want.login.clone(),
                name: want.name.clone(),
                email: want.email.clone(),
                role: want.role.clone(),
            }),
            Some(have) => {
                // Invitation and manual memberships, and suspended people, are the admins':
                // a sync changes nothing about them, not even a renamed login.
                if have.source != MembershipSource::Sync || have.state == MembershipState::Suspended
                {
                    continue;
                }
                if have.login != want.login || have.name != want.name || have.email != want.email {
                    changes.push(Change::IdentityUpdate {
                        user_id: have.user_id,
                        provider_user_id: pid.clone(),
                        from_login: have.login.clone(),
                        login: want.login.clone(),
                        name: want.name.clone(),
                        email: want.email.clone(),
                    });
                }
                match have.state {
                    MembershipState::Offboarded => changes.push(Change::Reactivate {
                        user_id: have.user_id,
                        provider_user_id: pid.clone(),
                        login: want.login.clone(),
                        role: if have.role_pinned {
                            have.role.clone()
                        } else {
                            want.role.clone()
                        },
                    }),
                    MembershipState::Active if !have.role_pinned && have.role != want.role => {
                        changes.push(Change::RoleChange {
                            user_id: have.user_id,
                            provider_user_id: pid.clone(),
                            login: want.login.clone(),
                            from: have.role.clone(),
                            to: want.role.clone(),
                        })
                    }
                    _ => {}
                }
            }
        }
    }
    for (pid, have) in &current.members {
        if desired.members.contains_key(pid)
            || have.source != MembershipSource::Sync
            || have.state != MembershipState::Active
        {
            continue;
        }
        let (login, reason) = match desired.refused.get(pid) {
            Some((login, reason)) => (login.clone(), reason.clone()),
            None => (have.login.clone(), OffboardReason::LeftAccount),
        };
        if login != have.login {
            changes.push(Change::IdentityUpdate {
                user_id: have.user_id,
                provider_user_id: pid.clone(),
                from_login: have.login.clone(),
                login: login.clone(),
                name: have.name.clone(),
                email: have.email.clone(),
            });
        }
        changes.push(Change::Offboard {
            user_id: have.user_id,
            provider_user_id: pid.clone(),
            login,
            reason,
        });
    }

    // Teams: parents before children on create, children before parents on delete.
    // A suspended person's team memberships, and those of people whose membership was made by
    // invitation or by hand, are the admins' to manage; an offboarded person's are removed by
    // the offboarding itself.
    let untouchable: BTreeSet<String> = current
        .members
        .iter()
        .filter(|(_, m)| {
            m.state == MembershipState::Suspended || m.source != MembershipSource::Sync
        })
        .map(|(pid, _)| pid.clone())
        .chain(changes.iter().filter_map(|c| match c {
            Change::Offboard {
                provider_user_id, ..
            } => Some(provider_user_id.clone()),
            _ => None,
        }))
        .collect();
    if let Some(teams) = &desired.teams {
        let login_of = |pid: &str| -> String {
            desired
                .members
                .get(pid)
                .map(|m| m.login.clone())
                .or_else(|| current.members.get(pid).map(|m| m.login.clone()))
                .unwrap_or_else(|| pid.to_string())
        };
        for slug in parents_first(teams.iter().map(|(s, t)| (s.as_str(), t.parent.as_deref()))) {
            let Some(want) = teams.get(slug) else {
                continue;
            };
            let have = current.teams.get(slug);
            if have.is_some_and(|h| h.source != MembershipSource::Sync) {
                continue; // a team made by hand with the same slug stays the admin's
            }
            let empty_members = BTreeMap::new();
            let empty_repos = BTreeMap::new();
            let (have_members, have_repos) = match have {
                None => {
                    changes.push(Change::TeamCreate {
                        slug: slug.to_string(),
                        name: want.name.clone(),
                        parent: want.parent.clone(),
                        provider_team_id: want.provider_team_id.clone(),
                    });
                    (&empty_members, &empty_repos)
                }
                Some(h) => {
                    if h.name != want.name || h.parent != want.parent {
                        changes.push(Change::TeamUpdate {
                            slug: slug.to_string(),
                            name: want.name.clone(),
                            parent: want.parent.clone(),
                        });
                    }
                    (&h.members, &h.repositories)
                }
            };
            for (pid, role) in &want.members {
                if untouchable.contains(pid) {
                    continue;
                }
                match have_members.get(pid) {
                    None => changes.push(Change::TeamMemberAdd {
                        team: slug.to_string(),
                        provider_user_id: pid.clone(),
                        login: login_of(pid),
                        role: *role,
                    }),
                    Some(r) if r != role => changes.push(Change::TeamMemberUpdate {
                        team: slug.to_string(),
                        provider_user_id: pid.clone(),
                        login: login_of(pid),
                        role: *role,
                    }),
                    Some(_) => {}
                }
            }
            for pid in have_members.keys() {
                if !want.members.contains_key(pid) && !untouchable.contains(pid) {
                    changes.push(Change::TeamMemberRemove {
                        team: slug.to_string(),
                        provider_user_id: pid.clone(),
                        login: login_of(pid),
                    });
                }
            }
            for (repo, perm) in &want.repositories {
                if have_repos.get(repo) != Some(perm) {
                    changes.push(Change::TeamRepositoryGrant {
                        team: slug.to_string(),
                        repository: repo.clone(),
                        permission: *perm,
                    });
                }
            }
            for repo in have_repos.keys() {
                if !want.repositories.contains_key(repo) {
                    changes.push(Change::TeamRepositoryRevoke {
                        team: slug.to_string(),
                        repository: repo.clone(),
                    });
                }
            }
        }
        let synced: Vec<(&str, Option<&str>)> = current
            .teams
            .iter()
            .filter(|(s, t)| t.source == MembershipSource::Sync && !teams.contains_key(*s))
            .map(|(s, t)| (s.as_str(), t.parent.as_deref()))
            .collect();
        let mut doomed = parents_first(synced.into_iter());
        doomed.reverse();
        for slug in doomed {
            changes.push(Change::TeamDelete {
                slug: slug.to_string(),
            });
        }
    }

    // Repositories last on removal: grants to them are revoked above.
    for name in current.repositories.keys() {
        if !desired.repositories.contains_key(name) {
            changes.push(Change::RepositoryRemove { name: name.clone() });
        }
    }

    Plan {
        workspace: workspace.to_string(),
        changes,
        unconfirmed: Vec::new(),
    }
}

/// Orders slugs so that a parent comes before its children; cycles and dangling parents are
/// broken by treating the team as a root.
fn parents_first<'a>(teams: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> Vec<&'a str> {
    let teams: BTreeMap<&str, Option<&str>> = teams.collect();
    let mut out = Vec::with_capacity(teams.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    for &start in teams.keys() {
        let mut chain = Vec::new();
        let mut cursor = Some(start);
        let mut guard = BTreeSet::new();
        while let Some(slug) = cursor {
            if placed.contains(slug) || !guard.insert(slug) || !teams.contains_key(slug) {
                break;
            }
            chain.push(slug);
            cursor = teams.get(slug).copied().flatten();
        }
        for slug in chain.into_iter().rev() {
            if placed.insert(slug) {
                out.push(slug);
            }
        }
    }
    out
}

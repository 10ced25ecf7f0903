//! The [`Provider`] trait every provider crate implements.

use crate::policy::FetchPolicy;
use crate::snapshot::{AccessVerdict, MemberState, ProviderKind, Snapshot};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A destructive verdict of a plan, put back to the provider before it is applied
/// ([`Provider::confirm`]). Lists are read by offset and only show what the credential may see, so
/// "absent from a list" is evidence, not proof: the provider's own per-user answer decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The person is no longer a member of the account.
    LeftAccount,
    /// The person's account or membership is not active (blocked, suspended, pending, …).
    AccountInactive,
    /// The person cannot read this in-scope repository ([`crate::Repository::name`]).
    CannotRead {
        /// The repository.
        repository: String,
    },
    /// The person is no longer a member of this team ([`crate::Team::slug`]).
    NotInTeam {
        /// The team's slug.
        team: String,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::LeftAccount => f.write_str("left the account"),
            Verdict::AccountInactive => f.write_str("account not active"),
            Verdict::CannotRead { repository } => write!(f, "cannot read repository {repository}"),
            Verdict::NotInTeam { team } => write!(f, "not in team {team}"),
        }
    }
}

/// What the provider's per-user read said of a [`Verdict`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Confirmation {
    /// The per-user read agrees: the verdict may be applied.
    Confirmed,
    /// The per-user read disagrees; `found` says what it saw (for the audit trail). The verdict
    /// is dropped from this run and decided again by the next one.
    Contradicted {
        /// What the per-user read saw.
        found: String,
    },
}

/// Why a fetch failed. A failed fetch never leads to an offboarding: the run ends `failed` and
/// nothing is applied.
///
/// Messages name credentials by their reference (`token_file = …`, `token_env = …`), never by value.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The credential was refused (401).
    #[error(
        "{provider} refused the credential {credential}: {detail}. Check that it is valid and not expired"
    )]
    Unauthorized {
        /// The provider that answered.
        provider: ProviderKind,
        /// The credential's reference (`token_file = …`), never its value.
        credential: String,
        /// What the provider said, secrets redacted.
        detail: String,
    },
    /// The credential is valid but lacks a permission or scope (403 that is not a rate limit).
    #[error("{provider} denied {route}: {detail}. The credential {credential} needs {needed}")]
    Forbidden {
        /// The provider that answered.
        provider: ProviderKind,
        /// The credential's reference (`token_file = …`), never its value.
        credential: String,
        /// The route template of the failed request.
        route: String,
        /// What the provider said, secrets redacted.
        detail: String,
        /// The permission or scope the route needs.
        needed: String,
    },
    /// The account, route or object does not exist, or the credential may not see it.
    #[error("{provider} has no {what} (404 on {route}). {}", not_found_hint(.route))]
    NotFound {
        /// The provider that answered.
        provider: ProviderKind,
        /// What was looked for.
        what: String,
        /// The route template of the failed request.
        route: String,
    },
    /// The rate limit held past what this run can wait: its deadline, or its attempts.
    #[error(
        "{provider} rate limit exhausted on {route}; it resets in {wait_seconds} s, {why}. The next run will continue"
    )]
    RateLimited {
        /// The provider that answered.
        provider: ProviderKind,
        /// The route template of the failed request.
        route: String,
        /// How long until the quota resets.
        wait_seconds: u64,
        /// What ran out: "after this run's deadline", or "and this request's attempts are used up".
        why: String,
    },
    /// An answer that is not what the API describes (bad JSON, truncated page, page cap hit).
    #[error("{provider} sent an unusable answer on {route}: {detail}")]
    Malformed {
        /// The provider that answered.
        provider: ProviderKind,
        /// The route template of the failed request.
        route: String,
        /// What the provider said, secrets redacted.
        detail: String,
    },
    /// Retries exhausted on a transient failure (5xx, timeouts, connection errors).
    #[error("{provider} kept failing on {route} after {attempts} attempts: {detail}")]
    Unavailable {
        /// The provider that answered.
        provider: ProviderKind,
        /// The route template of the failed request.
        route: String,
        /// How many attempts were made.
        attempts: u32,
        /// What the provider said, secrets redacted.
        detail: String,
    },
    /// Any other status the request did not expect.
    #[error("{provider} answered {status} on {route}: {detail}")]
    Status {
        /// The provider that answered.
        provider: ProviderKind,
        /// The route template of the failed request.
        route: String,
        /// The HTTP status.
        status: u16,
        /// What the provider said, secrets redacted.
        detail: String,
    },
    /// The run's deadline passed or the run was cancelled.
    #[error("the fetch from {provider} was cancelled: {reason}")]
    Cancelled {
        /// The provider that answered.
        provider: ProviderKind,
        /// Why: the deadline, or the daemon stopping.
        reason: String,
    },
    /// Anything else, described (a client that could not be built, a bad setting).
    #[error("{0}")]
    Other(String),
    /// The provider cannot answer this narrower question (a targeted re-read); the caller falls
    /// back to a full fetch.
    #[error("{provider} cannot answer {what} on its own; a full sync is needed")]
    Unsupported {
        /// The provider that answered.
        provider: ProviderKind,
        /// What the caller asked.
        what: String,
    },
}

/// A source of [`Snapshot`]s: one provider account, with its credentials.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider this client reads.
    fn kind(&self) -> ProviderKind;

    /// Fetches the account, all or nothing: any request the decision depends on that finally
    /// fails makes the whole fetch fail.
    async fn fetch(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError>;

    /// `check-config --online`: verifies that the credential can read what a sync under
    /// `policy` needs (the account, its members, and, as the policy asks, teams and repository
    /// access), with the same proof of the view as [`Provider::fetch`], so the verdict is the
    /// one a sync would reach. `Ok` lists what was verified, one line each; `Err` names
    /// precisely the permission or scope that is missing for this policy.
    async fn check(&self, policy: &FetchPolicy) -> Result<Vec<String>, ProviderError>;

    /// A targeted re-read of one member after a webhook: `Ok(None)` when the person is no longer
    /// a member of the account (authoritatively: the provider said so, not a failed request),
    /// `Ok(Some(member))` with its access verdict otherwise. A provider that cannot decide
    /// cheaply answers [`ProviderError::Unsupported`] and the caller runs a full fetch instead,
    /// which is always correct.
    async fn fetch_member(
        &self,
        _policy: &FetchPolicy,
        _id: &str,
        _login: Option<&str>,
    ) -> Result<Option<crate::snapshot::Member>, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.kind(),
            what: "a single member".to_string(),
        })
    }

    /// Confirms one destructive verdict about one person (`id`: the immutable user id; `login`:
    /// the login last known) with the provider's authoritative per-user read, before it is
    /// applied. `Err` fails the run (nothing is applied); [`ProviderError::Unsupported`] too: a
    /// verdict that cannot be confirmed is not applied.
    ///
    /// The default answers membership and account-state verdicts through
    /// [`Provider::fetch_member`]; repository and team verdicts need the provider's own reads.
    async fn confirm(
        &self,
        policy: &FetchPolicy,
        id: &str,
        login: &str,
        verdict: &Verdict,
    ) -> Result<Confirmation, ProviderError> {
        match verdict {
            Verdict::LeftAccount | Verdict::AccountInactive => {
                let member = self.fetch_member(policy, id, Some(login)).await?;
                Ok(confirm_from_member(member.as_ref(), verdict))
            }
            Verdict::CannotRead { .. } | Verdict::NotInTeam { .. } => {
                Err(ProviderError::Unsupported {
                    provider: self.kind(),
                    what: format!("a confirmation that {login} {verdict}"),
                })
            }
        }
    }
}

/// Answers a membership or account-state [`Verdict`] from an authoritative per-user read
/// (`None`: the provider says the person is not a member), and a repository verdict from the
/// member's own access verdict when it was evaluated. A team verdict of a person who is still a
/// member is not answered here (it needs the team's per-user read) and counts as contradicted.
pub fn confirm_from_member(
    member: Option<&crate::snapshot::Member>,
    verdict: &Verdict,
) -> Confirmation {
    let contradicted = |found: String| Confirmation::Contradicted { found };
    match (verdict, member) {
        (Verdict::LeftAccount, None) | (Verdict::AccountInactive, None) => Confirmation::Confirmed,
        (Verdict::LeftAccount, Some(m)) => {
            contradicted(format!("still a member ({})", m.state.as_str()))
        }
        (Verdict::AccountInactive, Some(m)) if m.state != MemberState::Active => {
            Confirmation::Confirmed
        }
        (Verdict::AccountInactive, Some(_)) => contradicted("an active member".to_string()),
        (Verdict::CannotRead { .. }, None) => Confirmation::Confirmed,
        (Verdict::CannotRead { repository }, Some(m)) => match &m.access {
            AccessVerdict::CannotRead { .. } => Confirmation::Confirmed,
            AccessVerdict::ReadsAll => contradicted(format!("reads {repository}")),
            AccessVerdict::NotEvaluated => contradicted("access not evaluated".to_string()),
        },
        // Not a member of the account is not a member of any of its teams.
        (Verdict::NotInTeam { .. }, None) => Confirmation::Confirmed,
        // A member's record says nothing of teams: only the team's own per-user read decides.
        (Verdict::NotInTeam { team }, Some(_)) => {
            contradicted(format!("membership of team {team} not read"))
        }
    }
}

/// A provider that returns a snapshot it was given: for tests, and for replaying a captured
/// snapshot. [`FixedProvider::set`] swaps what the next fetch returns.
pub struct FixedProvider {
    kind: ProviderKind,
    next: std::sync::Mutex<Result<Snapshot, String>>,
    /// What per-user reads ([`Provider::confirm`], [`Provider::fetch_member`]) answer from, when
    /// it differs from what the lists show (a list that moved while it was read).
    truth: std::sync::Mutex<Option<Snapshot>>,
}

impl FixedProvider {
    /// A provider whose next fetch returns `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        FixedProvider {
            kind: snapshot.provider,
            next: std::sync::Mutex::new(Ok(snapshot)),
            truth: std::sync::Mutex::new(None),
        }
    }

    /// Per-user reads answer from this snapshot from now on, while fetches keep returning the
    /// list view: a world that changed, or a list that missed someone, between the two.
    pub fn set_truth(&self, snapshot: Snapshot) {
        if let Ok(mut truth) = self.truth.lock() {
            *truth = Some(snapshot);
        }
    }

    async fn per_user_view(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError> {
        let truth = self.truth.lock().ok().and_then(|t| t.clone());
        match truth {
            Some(t) => Ok(t),
            None => self.fetch(policy).await,
        }
    }

    /// The next fetches return this snapshot.
    pub fn set(&self, snapshot: Snapshot) {
        if let Ok(mut next) = self.next.lock() {
            *next = Ok(snapshot);
        }
    }

    /// The next fetches fail with this message, as a provider that cannot be read.
    pub fn fail(&self, message: &str) {
        if let Ok(mut next) = self.next.lock() {
            *next = Err(message.to_string());
        }
    }
}

#[async_trait]
impl Provider for FixedProvider {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    async fn check(&self, policy: &FetchPolicy) -> Result<Vec<String>, ProviderError> {
        self.fetch(policy)
            .await
            .map(|s| vec![format!("fixed snapshot of {} members", s.members.len())])
    }

    async fn fetch_member(
        &self,
        policy: &FetchPolicy,
        id: &str,
        _login: Option<&str>,
    ) -> Result<Option<crate::snapshot::Member>, ProviderError> {
        let snapshot = self.per_user_view(policy).await?;
        Ok(snapshot.members.into_iter().find(|m| m.id == id))
    }

    async fn confirm(
        &self,
        policy: &FetchPolicy,
        id: &str,
        _login: &str,
        verdict: &Verdict,
    ) -> Result<Confirmation, ProviderError> {
        let snapshot = self.per_user_view(policy).await?;
        let member = snapshot.members.iter().find(|m| m.id == id);
        if let Verdict::NotInTeam { team } = verdict {
            let in_team = snapshot
                .teams
                .iter()
                .flatten()
                .filter(|t| &t.slug == team)
                .any(|t| t.members.iter().any(|tm| tm.member_id == id));
            return Ok(if in_team {
                Confirmation::Contradicted {
                    found: format!("a member of team {team}"),
                }
            } else {
                Confirmation::Confirmed
            });
        }
        Ok(confirm_from_member(member, verdict))
    }

    async fn fetch(&self, _policy: &FetchPolicy) -> Result<Snapshot, ProviderError> {
        let next = self
            .next
            .lock()
            .map_err(|_| ProviderError::Other("fixed provider poisoned".to_string()))?;
        match &*next {
            Ok(s) => Ok(s.clone()),
            Err(m) => Err(ProviderError::Unavailable {
                provider: self.kind,
                route: "/".to_string(),
                attempts: 1,
                detail: m.clone(),
            }),
        }
    }
}

/// What a 404 most likely means: on the account itself (`/orgs/{org}`, `/groups/:id`) a wrong
/// account name or api_url; deeper (one team, one repository) something deleted or renamed
/// while the run read it, or hidden from this credential.
fn not_found_hint(route: &str) -> &'static str {
    let depth = route.split('/').filter(|s| !s.is_empty()).count();
    if depth <= 2 {
        "Check the workspace's account name and api_url"
    } else {
        "It was probably deleted or renamed while the run read it, or this credential cannot see \
         it; the next run reads the account afresh"
    }
}

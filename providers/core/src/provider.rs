//! The [`Provider`] trait every provider crate implements.

use crate::policy::FetchPolicy;
use crate::snapshot::{ProviderKind, Snapshot};
use async_trait::async_trait;

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
        provider: ProviderKind,
        credential: String,
        detail: String,
    },
    /// The credential is valid but lacks a permission or scope (403 that is not a rate limit).
    #[error("{provider} denied {route}: {detail}. The credential {credential} needs {needed}")]
    Forbidden {
        provider: ProviderKind,
        credential: String,
        route: String,
        detail: String,
        needed: String,
    },
    #[error("{provider} has no {what} (404 on {route}). {}", not_found_hint(.route))]
    NotFound {
        provider: ProviderKind,
        what: String,
        route: String,
    },
    /// The rate limit held past what this run can wait: its deadline, or its attempts.
    #[error(
        "{provider} rate limit exhausted on {route}; it resets in {wait_seconds} s, {why}. The next run will continue"
    )]
    RateLimited {
        provider: ProviderKind,
        route: String,
        wait_seconds: u64,
        /// What ran out: "after this run's deadline", or "and this request's attempts are used up".
        why: String,
    },
    /// An answer that is not what the API describes (bad JSON, truncated page, page cap hit).
    #[error("{provider} sent an unusable answer on {route}: {detail}")]
    Malformed {
        provider: ProviderKind,
        route: String,
        detail: String,
    },
    /// Retries exhausted on a transient failure (5xx, timeouts, connection errors).
    #[error("{provider} kept failing on {route} after {attempts} attempts: {detail}")]
    Unavailable {
        provider: ProviderKind,
        route: String,
        attempts: u32,
        detail: String,
    },
    #[error("{provider} answered {status} on {route}: {detail}")]
    Status {
        provider: ProviderKind,
        route: String,
        status: u16,
        detail: String,
    },
    /// The run's deadline passed or the run was cancelled.
    #[error("the fetch from {provider} was cancelled: {reason}")]
    Cancelled {
        provider: ProviderKind,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
    /// The provider cannot answer this narrower question (a targeted re-read); the caller falls
    /// back to a full fetch.
    #[error("{provider} cannot answer {what} on its own; a full sync is needed")]
    Unsupported {
        provider: ProviderKind,
        what: String,
    },
}

/// A source of [`Snapshot`]s: one provider account, with its credentials.
#[async_trait]
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Fetches the account, all or nothing: any request the decision depends on that finally
    /// fails makes the whole fetch fail.
    async fn fetch(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError>;

    /// `check-config --online`: verifies that the credential can read what a sync needs (the
    /// account, its members, teams and repository access). `Ok` lists what was verified, one
    /// line each; `Err` names precisely the permission or scope that is missing.
    async fn check(&self) -> Result<Vec<String>, ProviderError>;

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
}

/// A provider that returns a snapshot it was given: for tests, and for replaying a captured
/// snapshot. [`FixedProvider::set`] swaps what the next fetch returns.
pub struct FixedProvider {
    kind: ProviderKind,
    next: std::sync::Mutex<Result<Snapshot, String>>,
}

impl FixedProvider {
    pub fn new(snapshot: Snapshot) -> Self {
        FixedProvider {
            kind: snapshot.provider,
            next: std::sync::Mutex::new(Ok(snapshot)),
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

    async fn check(&self) -> Result<Vec<String>, ProviderError> {
        self.fetch(&FetchPolicy::default())
            .await
            .map(|s| vec![format!("fixed snapshot of {} members", s.members.len())])
    }

    async fn fetch_member(
        &self,
        policy: &FetchPolicy,
        id: &str,
        _login: Option<&str>,
    ) -> Result<Option<crate::snapshot::Member>, ProviderError> {
        let snapshot = self.fetch(policy).await?;
        Ok(snapshot.members.into_iter().find(|m| m.id == id))
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

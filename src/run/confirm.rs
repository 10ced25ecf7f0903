//! Confirmation: every destructive verdict of a plan is put back to the provider's per-user read
//! before it is applied. Lists are paged by offset and show only what the credential may see, so
//! someone missing from a list is evidence, not proof; the per-user read decides. A contradicted
//! verdict is dropped from this run (and audited with the plan); the next run decides again.

use crate::sync::Plan;
use orgsync_core::{Confirmation, FetchPolicy, Provider, ProviderError};

/// Why the confirmations could not be made: the run fails and nothing is applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfirmError {
    #[error(
        "the plan has {verdicts} destructive verdicts (offboards and team-membership removals) to confirm with the provider, more than max_confirmations = {max}; nothing was applied. Read the plan with `orgsync sync --workspace {workspace} --dry-run`; if it is right, raise [safety] max_confirmations for one run"
    )]
    TooMany {
        workspace: String,
        verdicts: usize,
        max: u32,
    },
    #[error("could not confirm that {login} {verdict}: {source}; nothing was applied")]
    Provider {
        login: String,
        verdict: String,
        source: ProviderError,
    },
}

/// Asks the provider about each destructive verdict of `plan`, in plan order, and drops the
/// contradicted ones. Returns how many verdicts were confirmed.
pub(crate) async fn confirm_plan(
    provider: &dyn Provider,
    policy: &FetchPolicy,
    plan: &mut Plan,
    max: u32,
) -> Result<usize, ConfirmError> {
    let verdicts = plan.destructive();
    if verdicts.len() > max as usize {
        return Err(ConfirmError::TooMany {
            workspace: plan.workspace.clone(),
            verdicts: verdicts.len(),
            max,
        });
    }
    let mut confirmed = 0;
    for d in &verdicts {
        match provider
            .confirm(policy, &d.provider_user_id, &d.login, &d.verdict)
            .await
        {
            Ok(Confirmation::Confirmed) => confirmed += 1,
            Ok(Confirmation::Contradicted { found }) => {
                tracing::warn!(
                    workspace = %plan.workspace,
                    login = %crate::text::Escaped(&d.login),
                    verdict = %crate::text::Escaped(&d.verdict.to_string()),
                    found = %crate::text::Escaped(&found),
                    "a destructive verdict was contradicted by the provider's per-user read; not applied in this run"
                );
                plan.drop_unconfirmed(d, found);
            }
            Err(source) => {
                return Err(ConfirmError::Provider {
                    login: d.login.clone(),
                    verdict: d.verdict.to_string(),
                    source,
                });
            }
        }
    }
    Ok(confirmed)
}

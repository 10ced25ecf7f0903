//! What a workspace's configuration asks of a fetch.

use crate::snapshot::Repository;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// The admission rule of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdmitRule {
    /// Admit members who can read every repository in scope.
    #[default]
    AllRepositories,
    /// Admit every active member.
    AllMembers,
}

/// Whether and how teams are replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeamsMode {
    /// Teams with their members and repository grants.
    #[default]
    Full,
    /// Teams with their members, without repository grants.
    WithoutRepositories,
    /// No teams: synced teams are left as they are.
    Off,
}

/// Which repositories count for "reads every repository".
#[derive(Debug, Clone, Default)]
pub struct RepositoryScope {
    /// Archived repositories do not count.
    pub exclude_archived: bool,
    /// Forks do not count.
    pub exclude_forks: bool,
    excluded: Option<GlobSet>,
    patterns: Vec<String>,
}

/// A glob pattern that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("`{pattern}` is not a valid glob pattern: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// Why it does not parse.
    pub reason: String,
}

/// Login patterns are simple wildcards: `*` (any run of characters) and `?` (one character);
/// every other character is literal, so `*[bot]` means "ends in `[bot]`" (GitHub's bot logins,
/// `dependabot[bot]`), as people who write it mean, not a character class that would match
/// `bob`. Repository names cannot contain brackets, so repository patterns keep full glob syntax
/// (`repo-00[2-9]`, `{a,b}`).
fn wildcards_only(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for ch in pattern.chars() {
        if matches!(ch, '[' | ']' | '{' | '}' | '\\' | '!') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn build_globs(patterns: &[String], literal: bool) -> Result<Option<GlobSet>, PatternError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let text = if literal {
            wildcards_only(pattern)
        } else {
            pattern.clone()
        };
        let glob = GlobBuilder::new(&text)
            .backslash_escape(true)
            .build()
            .map_err(|e| PatternError {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|e| PatternError {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

impl RepositoryScope {
    /// The scope with these exclusions; fails on a repository pattern that is not a glob.
    pub fn new(
        exclude_archived: bool,
        exclude_forks: bool,
        exclude_repositories: &[String],
    ) -> Result<Self, PatternError> {
        Ok(RepositoryScope {
            exclude_archived,
            exclude_forks,
            excluded: build_globs(exclude_repositories, false)?,
            patterns: exclude_repositories.to_vec(),
        })
    }

    /// The repository patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// True when the repository counts for "reads every repository".
    pub fn includes(&self, repository: &Repository) -> bool {
        if self.exclude_archived && repository.archived {
            return false;
        }
        if self.exclude_forks && repository.fork {
            return false;
        }
        match &self.excluded {
            Some(set) => !set.is_match(&repository.name),
            None => true,
        }
    }
}

/// Logins that are never admitted (bots, service accounts), as glob patterns.
#[derive(Debug, Clone, Default)]
pub struct MemberExclusions {
    set: Option<GlobSet>,
    patterns: Vec<String>,
}

impl MemberExclusions {
    /// Compiles the login patterns (`*` and `?` only; everything else is literal).
    pub fn new(patterns: &[String]) -> Result<Self, PatternError> {
        Ok(MemberExclusions {
            set: build_globs(patterns, true)?,
            patterns: patterns.to_vec(),
        })
    }

    /// The login patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The first pattern that matches `login`, if any.
    pub fn matching(&self, login: &str) -> Option<&str> {
        let set = self.set.as_ref()?;
        set.matches(login)
            .first()
            .and_then(|i| self.patterns.get(*i))
            .map(String::as_str)
    }
}

/// What a provider is asked to fetch and evaluate for one workspace.
#[derive(Debug, Clone, Default)]
pub struct FetchPolicy {
    /// Who is admitted.
    pub admit: AdmitRule,
    /// Which repositories count for admission.
    pub scope: RepositoryScope,
    /// Whether and how teams are fetched.
    pub teams: TeamsMode,
    /// Logins never admitted.
    pub exclude_members: MemberExclusions,
    /// GitLab: the lowest access level that reads code (default 20, Reporter).
    pub min_access_level: u8,
    /// GitLab: count projects merely shared into the group as in scope.
    pub include_shared_projects: bool,
    /// GitLab: admit bot users created by access tokens.
    pub include_bots: bool,
    /// When the run must be over: a rate-limit wait past it fails the fetch at once.
    pub deadline: Option<std::time::Instant>,
    /// Cancelled when the daemon stops: in-flight fetches end promptly.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
    /// Pages an unfinished fetch of this workspace kept: the HTTP layer serves those read less
    /// than the session's maximum age without a request and keeps every page it reads, so a
    /// fetch larger than one rate-limit window continues in the next one.
    pub pages: Option<std::sync::Arc<crate::pages::PageSession>>,
}

impl FetchPolicy {
    /// True when the provider must decide [`crate::AccessVerdict`] for this member: the rule
    /// needs it and the member could be admitted at all.
    pub fn needs_access_verdict(&self, login: &str) -> bool {
        self.admit == AdmitRule::AllRepositories && self.exclude_members.matching(login).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Visibility;

    fn repo(name: &str, archived: bool, fork: bool) -> Repository {
        Repository {
            id: name.into(),
            name: name.into(),
            archived,
            fork,
            visibility: Visibility::Private,
        }
    }

    #[test]
    fn scope_excludes_archived_forks_and_globs() {
        let scope = RepositoryScope::new(
            true,
            true,
            &["sandbox-*".to_string(), "tmp-[0-9]".to_string()],
        )
        .expect("globs");
        assert!(
            !scope.includes(&repo("tmp-7", false, false)),
            "classes work for repositories"
        );
        assert!(scope.includes(&repo("api", false, false)));
        assert!(!scope.includes(&repo("old", true, false)));
        assert!(!scope.includes(&repo("fork", false, true)));
        assert!(!scope.includes(&repo("sandbox-1", false, false)));
    }

    #[test]
    fn member_exclusion_names_the_matching_pattern() {
        let ex = MemberExclusions::new(&["*[bot]".to_string(), "ci-*".to_string()]).expect("globs");
        assert_eq!(ex.matching("renovate[bot]"), Some("*[bot]"));
        assert_eq!(ex.matching("ci-runner"), Some("ci-*"));
        assert_eq!(ex.matching("alice"), None);
        assert_eq!(
            ex.matching("bob"),
            None,
            "[bot] is literal, not a character class"
        );
    }
}

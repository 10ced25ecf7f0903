//! Fault injection: make chosen requests fail the way real networks and providers fail.

use serde::{Deserialize, Serialize};

/// One rule: requests matching `method` and `path` get `action`, `times` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method (`GET`, `POST`, …); any method when `None`.
    #[serde(default)]
    pub method: Option<String>,
    /// A pattern over the request path (without the query string); `*` matches any run of
    /// characters, `/` included, so `/orgs/*/members` and `*/collaborators` both work.
    pub path: String,
    /// What happens to a matching request.
    pub action: FaultAction,
    /// How often the rule fires; always by default.
    #[serde(default)]
    pub times: FaultTimes,
}

impl FaultRule {
    /// A rule for every method.
    pub fn new(path: impl Into<String>, action: FaultAction) -> FaultRule {
        FaultRule {
            method: None,
            path: path.into(),
            action,
            times: FaultTimes::Always,
        }
    }

    /// Restricts the rule to one method (case-insensitive).
    pub fn method(mut self, method: impl Into<String>) -> FaultRule {
        self.method = Some(method.into());
        self
    }

    /// Sets how often the rule fires.
    pub fn times(mut self, times: FaultTimes) -> FaultRule {
        self.times = times;
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && glob_match(self.path.as_bytes(), path.as_bytes())
    }
}

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status and body (JSON value, or the provider's usual error body when
    /// `None`), without running the route.
    Status {
        /// HTTP status code.
        status: u16,
        /// The body; the provider's usual error body for the status when `None`.
        #[serde(default)]
        body: Option<serde_json::Value>,
    },
    /// Run the route, then replace its body with text that is not JSON at all.
    MalformedJson,
    /// Run the route, then cut its body in half (with a matching `content-length`).
    TruncatedJson,
    /// Send the status line and headers, then break the connection instead of a body.
    DropConnection,
    /// Wait this long before answering normally.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// The provider's secondary (abuse) rate limit answer, with `retry-after` when set.
    SecondaryRateLimit {
        /// Seconds for the `retry-after` header; no header when `None`.
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
}

/// How often a rule fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTimes {
    /// Every matching request until the rule is removed.
    #[default]
    Always,
    /// The next matching request only.
    Once,
    /// The next N matching requests.
    Times(u32),
    /// Each matching request with this probability (0.0 to 1.0), from a seeded generator so
    /// runs repeat.
    Probability(f64),
}

/// A rule with its remaining count, as the server keeps it.
#[derive(Debug, Clone)]
pub(crate) struct ArmedFault {
    pub rule: FaultRule,
    pub remaining: Option<u32>,
}

impl ArmedFault {
    pub fn new(rule: FaultRule) -> ArmedFault {
        let remaining = match rule.times {
            FaultTimes::Once => Some(1),
            FaultTimes::Times(n) => Some(n),
            FaultTimes::Always | FaultTimes::Probability(_) => None,
        };
        ArmedFault { rule, remaining }
    }
}

/// `*` matches any run of bytes; everything else matches itself.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_across_segments_and_exact_paths() {
        assert!(glob_match(b"/orgs/*/members", b"/orgs/acme/members"));
        assert!(glob_match(
            b"*/collaborators",
            b"/repos/acme/api/collaborators"
        ));
        assert!(!glob_match(b"/orgs/*/members", b"/orgs/acme/teams"));
        assert!(glob_match(b"/rate_limit", b"/rate_limit"));
        assert!(!glob_match(b"/rate_limit", b"/rate_limits"));
    }

    #[test]
    fn method_filter_is_case_insensitive() {
        let rule = FaultRule::new("/x", FaultAction::DropConnection).method("get");
        assert!(rule.matches("GET", "/x"));
        assert!(!rule.matches("POST", "/x"));
    }
}

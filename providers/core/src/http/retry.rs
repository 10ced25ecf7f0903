//! Which answers are worth another attempt, and how long to wait before it.

use super::pacing::RateLimitInfo;
use http::StatusCode;
use std::time::Duration;

/// What to do with one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Final: a success, or a refusal that another attempt cannot change (400, 401, 403 that is
    /// not a rate limit, 404, 422, …).
    Final,
    /// Worth another attempt.
    Retry {
        /// The server's own wait, when it gave one; otherwise the exponential backoff applies.
        wait: Option<Duration>,
        /// The quota ran out: the wait is held for every request on this credential and host,
        /// and a wait beyond the deadline fails with `RateLimited` rather than `Unavailable`.
        rate_limited: bool,
        /// Why, for logs and the final error.
        reason: String,
    },
}

/// Classifies an answer. `body` is only read for GitHub's secondary-limit message.
pub(crate) fn classify(
    status: StatusCode,
    info: &RateLimitInfo,
    body: &[u8],
    secondary_limit_wait: Duration,
) -> Verdict {
    let exhausted = info.remaining == Some(0);
    let until_reset = if exhausted { info.resets_in } else { None };
    match status.as_u16() {
        429 => Verdict::Retry {
            wait: info.retry_after.or(until_reset),
            rate_limited: true,
            reason: "429 Too Many Requests".to_owned(),
        },
        403 if info.retry_after.is_some() || exhausted => Verdict::Retry {
            wait: info.retry_after.or(until_reset),
            rate_limited: true,
            reason: "403 rate limit".to_owned(),
        },
        403 if mentions_secondary_limit(body) => Verdict::Retry {
            wait: Some(secondary_limit_wait),
            rate_limited: true,
            reason: "403 secondary rate limit".to_owned(),
        },
        408 | 500..=599 => Verdict::Retry {
            wait: info.retry_after,
            rate_limited: false,
            reason: format!("status {}", status.as_u16()),
        },
        _ => Verdict::Final,
    }
}

fn mentions_secondary_limit(body: &[u8]) -> bool {
    let head = &body[..body.len().min(4096)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.contains("secondary rate limit") || text.contains("abuse detection")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_wait(verdict: &Verdict) -> Option<Option<Duration>> {
        match verdict {
            Verdict::Retry { wait, .. } => Some(*wait),
            Verdict::Final => None,
        }
    }

    #[test]
    fn client_errors_are_final() {
        for code in [400u16, 401, 403, 404, 410, 422] {
            let status = StatusCode::from_u16(code).expect("valid status");
            assert_eq!(
                classify(
                    status,
                    &RateLimitInfo::default(),
                    b"{}",
                    Duration::from_secs(60)
                ),
                Verdict::Final,
                "{code}"
            );
        }
    }

    #[test]
    fn github_secondary_limit_403_is_retried_after_the_secondary_wait() {
        let verdict = classify(
            StatusCode::FORBIDDEN,
            &RateLimitInfo::default(),
            br#"{"message":"You have exceeded a secondary rate limit. Please wait"}"#,
            Duration::from_secs(60),
        );
        assert_eq!(retry_wait(&verdict), Some(Some(Duration::from_secs(60))));
    }

    #[test]
    fn primary_exhaustion_waits_until_reset() {
        let info = RateLimitInfo {
            remaining: Some(0),
            resets_in: Some(Duration::from_secs(42)),
            ..RateLimitInfo::default()
        };
        let verdict = classify(StatusCode::FORBIDDEN, &info, b"", Duration::from_secs(60));
        assert_eq!(retry_wait(&verdict), Some(Some(Duration::from_secs(42))));
    }

    #[test]
    fn bare_429_and_5xx_use_backoff() {
        let none = RateLimitInfo::default();
        for status in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let verdict = classify(status, &none, b"", Duration::from_secs(60));
            assert_eq!(retry_wait(&verdict), Some(None), "{status}");
        }
    }
}

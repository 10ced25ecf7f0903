//! People without a Git account, and the checks around them: invitation tokens (made, hashed,
//! never stored), invitation lifetimes, e-mail addresses, and delivery by mail ([`mail`]).
//!
//! The directory side (SQL, transactions, the audit trail) is in `directory/people.rs`; the
//! command line is in `cli/people.rs`. This module holds what both need and what is easy to get
//! wrong: a token is 256 random bits from the operating system, shown once, and only its SHA-256
//! reaches the database, so a copy of the directory cannot be used to accept an invitation.

pub mod mail;

use chrono::Duration;
use sha2::{Digest, Sha256};
use std::fmt;

/// How long an invitation stays valid when `--expires-in` is not given.
pub const DEFAULT_EXPIRY: Duration = Duration::days(7);

/// The longest lifetime an invitation may have: a forgotten token should not stay usable for years.
pub const MAX_EXPIRY: Duration = Duration::days(90);

/// A secret accept token. Its `Debug` and `Display` never show the value, so it cannot leak
/// through a log line, an error or a panic message; [`InviteToken::reveal`] is the one way out,
/// used where the token is meant to be shown (the printed link, the mail).
#[derive(Clone, PartialEq, Eq)]
pub struct InviteToken(String);

impl InviteToken {
    /// A fresh token: 32 bytes (256 bits) from the operating system's generator, as 64 hex digits
    /// (hex, so it survives copy and paste, shells and mail bodies unchanged).
    pub fn generate() -> Result<InviteToken, TokenError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| TokenError(e.to_string()))?;
        Ok(InviteToken(hex::encode(bytes)))
    }

    /// Wraps a token typed by a person (`invite accept TOKEN`), trimming surrounding blanks.
    pub fn from_input(s: &str) -> InviteToken {
        InviteToken(s.trim().to_string())
    }

    /// The SHA-256 of the token, as stored in `invitations.token_hash`. A plain hash is enough:
    /// the token has 256 bits of entropy, so there is nothing to brute-force and no salt to add.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The token itself, for the one place it is shown to a person.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteToken(***)")
    }
}

/// The operating system could not provide random bytes.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a random invitation token from the operating system: {0}")]
pub struct TokenError(String);

/// Checks an e-mail address and returns it in the form the directory stores and compares:
/// trimmed and lower-cased (mail systems treat addresses case-insensitively in practice, and two
/// invitations to `Ann@x` and `ann@x` are the same person).
pub fn normalize_email(input: &str) -> Result<String, String> {
    let email = input.trim().to_lowercase();
    let why = if email.is_empty() {
        Some("it is empty")
    } else if email.len() > 254 {
        Some("it is longer than 254 characters")
    } else if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains blanks or control characters")
    } else if email.parse::<lettre::Address>().is_err() {
        Some("it is not of the form name@domain")
    } else if !email
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain.contains('.') || domain == "localhost")
    {
        Some("its domain has no dot")
    } else {
        None
    };
    match why {
        Some(why) => Err(format!(
            "`{}` is not a valid e-mail address: {why}",
            input.trim()
        )),
        None => Ok(email),
    }
}

/// Parses an invitation lifetime such as `7d`, `36h` or `90m` (the command line's one duration
/// syntax, [`crate::config::parse_duration`]; at least one minute, at most [`MAX_EXPIRY`]).
pub fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = crate::config::parse_duration(s).map_err(|e| {
        format!("--expires-in `{s}` is not a duration such as 7d, 36h or 90m ({e})")
    })?;
    let d = Duration::from_std(d).unwrap_or(Duration::MAX);
    if d < Duration::minutes(1) {
        return Err(format!("--expires-in `{s}` is too short; give at least 1m"));
    }
    if d > MAX_EXPIRY {
        return Err(format!(
            "--expires-in `{s}` is longer than the 90 days an invitation may stay open"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_differ() {
        let a = InviteToken::generate().expect("random");
        let b = InviteToken::generate().expect("random");
        assert_eq!(a.reveal().len(), 64);
        assert!(a.reveal().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_hex_and_not_the_token() {
        let t = InviteToken::from_input("  abc \n");
        assert_eq!(
            t.hash(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(t.hash(), t.reveal());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let t = InviteToken::generate().expect("random");
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.reveal()), "{shown}");
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" Ann.Lee@Example.ORG ").as_deref(),
            Ok("ann.lee@example.org")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann lee@example.org",
            "ann@example",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn lifetimes_parse_with_units_and_bounds() {
        assert_eq!(parse_lifetime("7d"), Ok(Duration::days(7)));
        assert_eq!(parse_lifetime("36h"), Ok(Duration::hours(36)));
        assert_eq!(parse_lifetime("2w"), Ok(Duration::weeks(2)));
        assert!(parse_lifetime("0m").is_err());
        assert!(parse_lifetime("91d").is_err());
        assert!(parse_lifetime("7").is_err());
        assert!(parse_lifetime("d").is_err());
        assert!(parse_lifetime("7y").is_err());
    }
}

//! Provider-controlled text on its way to a person: display names, logins, team and repository
//! names, reasons and error bodies come from the providers, and a control character in one of
//! them must not reach a terminal raw (an escape sequence retitles or clears it, a newline forges
//! a line of `users list`, a bidirectional override reorders what is read).
//!
//! [`escape`] is the one function that makes such text inert; everything a person reads goes
//! through it at the output boundary (the CLI's tables and lines, the plan's `Display`, the text
//! logs). JSON output needs nothing more: serde escapes control characters itself.

use std::borrow::Cow;
use std::fmt;

/// True for what must not reach a terminal raw: C0 and C1 control characters, DEL, and the
/// Unicode bidirectional embeddings, overrides and isolates.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written as a visible escape (`\n`, `\t`, `\r`, `\u{1b}`),
/// so it prints as exactly one line of plain text. Borrows when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Formats its text through [`escape`]: `format!("{}", Escaped(login))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// The one line of an audit event's detail a person wants: the reason or the error.
pub fn summarise_detail(detail: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(detail) else {
        return String::new();
    };
    if let Some(reason) = value.get("reason")
        && let Ok(r) = serde_json::from_value::<crate::sync::OffboardReason>(reason.clone())
    {
        return r.to_string();
    }
    if let Some(e) = value.get("error").and_then(|e| e.as_str()) {
        return e.to_string();
    }
    if let (Some(from), Some(to)) = (
        value.get("from").and_then(|v| v.as_str()),
        value.get("to").and_then(|v| v.as_str()),
    ) {
        return format!("{from} -> {to}");
    }
    if let (Some(repository), Some(permission)) = (
        value.get("repository").and_then(|v| v.as_str()),
        value.get("permission").and_then(|v| v.as_str()),
    ) {
        return format!("{permission} on {repository}");
    }
    if let Some(team) = value.get("team").and_then(|v| v.as_str()) {
        return match value.get("role").and_then(|v| v.as_str()) {
            Some(role) => format!("team {team} as {role}"),
            None => format!("team {team}"),
        };
    }
    if let (Some(from), Some(to)) = (
        value.get("from_login").and_then(|v| v.as_str()),
        value.get("login").and_then(|v| v.as_str()),
    ) && from != to
    {
        return format!("renamed from {from}");
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_and_plain_text_is_borrowed() {
        assert!(matches!(escape("Zoë Müller-Łukasz 山田"), Cow::Borrowed(_)));
        assert_eq!(escape("x\u{1b}]0;pwned\u{7}"), "x\\u{1b}]0;pwned\\u{7}");
        assert_eq!(escape("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escape("\u{9b}31m\u{7f}"), "\\u{9b}31m\\u{7f}");
        assert_eq!(escape("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(Escaped("eve\n").to_string(), "eve\\n");
    }
}

//! Masks anything that looks like a credential before text reaches a log or an error.
//!
//! The layer never puts a token into a message itself; this is the second line of defence for
//! text it does not control (a server's error body, a transport error).

const MASK: &str = "[redacted]";

/// Prefixes of well-known token formats (GitHub, GitLab, Atlassian) and JWTs.
const TOKEN_PREFIXES: &[&str] = &[
    "github_pat_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "glpat-",
    "gloas-",
    "glrt-",
    "glptt-",
    "ATATT",
    "ATCTT",
    "eyJ",
];

/// Words after which the next word is a secret (`Bearer x`, `?access_token=x`), lower case.
const SECRET_INTRODUCERS: &[&str] = &[
    "bearer ",
    "basic ",
    "private-token: ",
    "private-token:",
    "access_token=",
    "private_token=",
    "token=",
];

/// Header names after which the rest of the line is a secret (`Authorization: token x`).
const SECRET_HEADERS: &[&str] = &["authorization:", "proxy-authorization:"];

fn is_secret_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | '+' | '/' | ':')
}

/// Returns `text` with token-like words replaced by `[redacted]`.
pub fn redact(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let lower_rest = &lower[i..];
        let at_word_start = i == 0 || !text[..i].ends_with(is_secret_char);
        if at_word_start && let Some(prefix) = TOKEN_PREFIXES.iter().find(|p| rest.starts_with(**p))
        {
            let len = secret_len(&rest[prefix.len()..]);
            if len >= 4 {
                out.push_str(MASK);
                i += prefix.len() + len;
                continue;
            }
        }
        if let Some(header) = SECRET_HEADERS.iter().find(|p| lower_rest.starts_with(**p)) {
            let line_len = rest.find(['\n', '\r', ';', ',']).unwrap_or(rest.len());
            out.push_str(&rest[..header.len()]);
            out.push(' ');
            out.push_str(MASK);
            i += line_len.max(header.len());
            continue;
        }
        if let Some(intro) = SECRET_INTRODUCERS
            .iter()
            .find(|p| lower_rest.starts_with(**p))
        {
            let after = &rest[intro.len()..];
            let len = secret_len(after);
            if len > 0 {
                out.push_str(&rest[..intro.len()]);
                out.push_str(MASK);
                i += intro.len() + len;
                continue;
            }
        }
        let c = rest.chars().next().expect("i is below the text's length");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn secret_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !is_secret_char(*c))
        .map_or(s.len(), |(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn masks_known_token_formats_and_authorization_values() {
        let text = "bad ghp_abcdefghijklmnop and glpat-XYZ123456 via Authorization: Bearer s3cr3t-v4lue; ok Basic dXNlcjpwdw==";
        let masked = redact(text);
        assert!(!masked.contains("ghp_abcdefghijklmnop"), "{masked}");
        assert!(!masked.contains("glpat-XYZ123456"), "{masked}");
        assert!(!masked.contains("s3cr3t-v4lue"), "{masked}");
        assert!(masked.starts_with("bad [redacted] and"), "{masked}");
        assert!(!masked.contains("dXNlcjpwdw"), "{masked}");
        assert!(masked.contains("; ok Basic [redacted]"), "{masked}");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let text = "Not Found: /orgs/acme/members — try again";
        assert_eq!(redact(text), text);
    }
}

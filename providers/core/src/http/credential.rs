//! How a request proves who sends it, without the secret ever leaving this module in clear.

use async_trait::async_trait;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Read;
use std::path::Path;

/// The most a secret file may hold. Tokens are under 1 KB and a 4096-bit RSA key in PEM about
/// 3.3 KB; anything larger is the wrong file, and `/dev/zero` or a log file must never be read
/// into memory whole.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Who may read a secret file besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFileAccess {
    /// Only the owner (mode `0600` or stricter): the rule for tokens and keys, the same as for a
    /// configuration file that holds an inline token.
    OwnerOnly,
    /// Permissions are not checked (webhook secrets, which a reverse proxy may share).
    Any,
}

/// Reads a secret from a file: a regular file (not a device or a pipe), at most
/// [`MAX_SECRET_FILE_BYTES`], UTF-8, not empty once surrounding whitespace is trimmed, and
/// private when `access` says so. Errors name the file and what to do, never its content.
pub fn read_secret_file(
    path: &Path,
    access: SecretFileAccess,
) -> Result<SecretString, CredentialError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CredentialError::new(format!("cannot read {shown}: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| CredentialError::new(format!("cannot read {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(CredentialError::new(format!(
            "{shown} is not a regular file; point it at a file that holds only the secret"
        )));
    }
    if access == SecretFileAccess::OwnerOnly && readable_by_others(&meta) {
        return Err(CredentialError::new(format!(
            "{shown} is readable by other users; run `chmod 600 {shown}` (a secret file must be \
             private, like a configuration file that holds an inline token)"
        )));
    }
    let too_large = || {
        CredentialError::new(format!(
            "{shown} is larger than the {MAX_SECRET_FILE_BYTES}-byte limit for a secret; point \
             it at the file that holds only the token or key"
        ))
    };
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CredentialError::new(format!("cannot read {shown} as UTF-8 text: {e}")))?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(too_large());
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(CredentialError::new(format!(
            "{shown} is empty or holds only whitespace; write the secret into it"
        )));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

#[cfg(unix)]
fn readable_by_others(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o044 != 0
}

#[cfg(not(unix))]
fn readable_by_others(_meta: &std::fs::Metadata) -> bool {
    false
}

/// A credential could not produce a header (a refresh failed, a token is not valid header text).
/// The message must not contain the secret; the layer reports it as
/// [`ProviderError::Unauthorized`](crate::ProviderError::Unauthorized) with the reference.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CredentialError {
    /// What went wrong, without the secret.
    pub message: String,
}

impl CredentialError {
    /// An error with `message` (which must not contain the secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// One header that carries a secret. The value is marked sensitive, so `http`/`hyper` keep it
/// out of HPACK tables and print `Sensitive` in `Debug` output.
#[derive(Clone)]
pub struct AuthHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl AuthHeader {
    /// Builds a header from a secret value; fails (without echoing it) if the value is not valid
    /// header text, such as a token file with a stray control character.
    pub fn new(name: HeaderName, secret_value: &str) -> Result<Self, CredentialError> {
        let mut value = HeaderValue::from_str(secret_value).map_err(|_| {
            CredentialError::new("the secret contains characters that cannot be sent in a header")
        })?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &SecretString) -> Result<Self, CredentialError> {
        Self::new(
            AUTHORIZATION,
            &format!("Bearer {}", token.expose_secret().trim()),
        )
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub(crate) fn value(&self) -> &HeaderValue {
        &self.value
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthHeader")
            .field("name", &self.name)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// Something that can authenticate requests to one provider account.
///
/// Implemented here for static tokens; the GitHub crate implements it for App installation
/// tokens, refreshing them in [`Credential::authorize`] shortly before they expire.
#[async_trait]
pub trait Credential: Send + Sync {
    /// How a human finds the credential, used in every message instead of the secret:
    /// `token_env = GITHUB_TOKEN`, `token_file = /run/credentials/…`, `GitHub App 12345`.
    fn reference(&self) -> &str;

    /// A stable string that differs between credentials that may see different data. It is
    /// hashed before use (cache keys, quota tracking) and must stay the same when a token is
    /// refreshed, so a refreshed App token keeps its cache. Derive it from a hash of the secret,
    /// never the secret itself.
    fn scope_fingerprint(&self) -> &str;

    /// The header to send with the next request; may refresh a short-lived token first.
    async fn authorize(&self) -> Result<AuthHeader, CredentialError>;

    /// Called once after a `401`: return `true` when a new token was obtained and one more
    /// attempt can succeed. Static tokens cannot, so the default is `false`.
    async fn refresh_after_rejection(&self) -> bool {
        false
    }

    /// Masks this credential's secret if it appears in `text` (a server echoing it back).
    fn mask(&self, text: &str) -> String {
        text.to_owned()
    }
}

fn fingerprint(kind: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    for part in parts {
        hasher.update([0u8]);
        hasher.update(part.as_bytes());
    }
    format!("{kind}:{:x}", hasher.finalize())
}

fn mask_secret(text: &str, secret: &SecretString) -> String {
    let secret = secret.expose_secret().trim();
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "[redacted]")
    }
}

/// A fixed token sent as `Authorization: Bearer …`: GitHub PATs, GitLab OAuth/PATs, Bitbucket
/// access tokens.
pub struct BearerToken {
    reference: String,
    token: SecretString,
    fingerprint: String,
}

impl BearerToken {
    /// A bearer token, named in messages by `reference` (`token_file = …`).
    pub fn new(reference: impl Into<String>, token: SecretString) -> Self {
        let fingerprint = fingerprint("bearer", &[token.expose_secret().trim()]);
        Self {
            reference: reference.into(),
            token,
            fingerprint,
        }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("reference", &self.reference)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[async_trait]
impl Credential for BearerToken {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn scope_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        AuthHeader::bearer(&self.token)
    }

    fn mask(&self, text: &str) -> String {
        mask_secret(text, &self.token)
    }
}

/// A GitLab personal, group or project access token sent as `PRIVATE-TOKEN: …`.
pub struct GitlabPrivateToken {
    reference: String,
    token: SecretString,
    fingerprint: String,
}

impl GitlabPrivateToken {
    /// A GitLab `PRIVATE-TOKEN`, named in messages by `reference` (`token_file = …`).
    pub fn new(reference: impl Into<String>, token: SecretString) -> Self {
        let fingerprint = fingerprint("gitlab-private-token", &[token.expose_secret().trim()]);
        Self {
            reference: reference.into(),
            token,
            fingerprint,
        }
    }
}

impl fmt::Debug for GitlabPrivateToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabPrivateToken")
            .field("reference", &self.reference)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[async_trait]
impl Credential for GitlabPrivateToken {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn scope_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        AuthHeader::new(
            HeaderName::from_static("private-token"),
            self.token.expose_secret().trim(),
        )
    }

    fn mask(&self, text: &str) -> String {
        mask_secret(text, &self.token)
    }
}

/// HTTP Basic with a user name and a token: Bitbucket API tokens (`email:api_token`).
pub struct BasicAuth {
    reference: String,
    username: String,
    token: SecretString,
    fingerprint: String,
}

impl BasicAuth {
    /// Basic authentication as `username` with `token`, named in messages by `reference`.
    pub fn new(
        reference: impl Into<String>,
        username: impl Into<String>,
        token: SecretString,
    ) -> Self {
        let username = username.into();
        let fingerprint = fingerprint("basic", &[&username, token.expose_secret().trim()]);
        Self {
            reference: reference.into(),
            username,
            token,
            fingerprint,
        }
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("reference", &self.reference)
            .field("username", &self.username)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[async_trait]
impl Credential for BasicAuth {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn scope_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        let pair = format!("{}:{}", self.username, self.token.expose_secret().trim());
        AuthHeader::new(AUTHORIZATION, &format!("Basic {}", base64(pair.as_bytes())))
    }

    fn mask(&self, text: &str) -> String {
        mask_secret(text, &self.token)
    }
}

/// Standard base64 with padding (RFC 4648), enough for one Basic header; not worth a crate.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let secret = "glpat-very-secret-value";
        let creds: Vec<Box<dyn fmt::Debug>> = vec![
            Box::new(BearerToken::new(
                "token_env = T",
                SecretString::from(secret),
            )),
            Box::new(GitlabPrivateToken::new(
                "token_env = T",
                SecretString::from(secret),
            )),
            Box::new(BasicAuth::new(
                "token_env = T",
                "me",
                SecretString::from(secret),
            )),
        ];
        for cred in creds {
            let shown = format!("{cred:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("token_env = T"), "{shown}");
        }
    }

    #[tokio::test]
    async fn auth_header_is_sensitive_and_hidden_in_debug() {
        let header = BearerToken::new("r", SecretString::from("abc123"))
            .authorize()
            .await
            .expect("valid token");
        assert!(header.value().is_sensitive());
        assert!(!format!("{header:?}").contains("abc123"));
    }

    #[test]
    fn fingerprints_differ_per_token_and_hide_it() {
        let a = BearerToken::new("r", SecretString::from("token-a"));
        let b = BearerToken::new("r", SecretString::from("token-b"));
        assert_ne!(a.scope_fingerprint(), b.scope_fingerprint());
        assert!(!a.scope_fingerprint().contains("token-a"));
    }
}

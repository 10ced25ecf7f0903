//! The configuration file: TOML, unknown keys refused, every error located by line and column.
//!
//! Secrets are referenced, never stored here: `token_file`, `token_env`, or a GitHub App's
//! `private_key_file`. An inline `token` is accepted only in a file nobody else can read.

use chrono_tz::Tz;
use orgsync_core::http::SecretFileAccess;
use orgsync_core::policy::{MemberExclusions, RepositoryScope};
use orgsync_core::{AdmitRule, FetchPolicy, ProviderKind, TeamsMode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Where `orgsync` looks when neither `--config` nor `$ORGSYNC_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/orgsync/orgsync.toml";

/// A configuration problem, with the place in the file it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file the problem is in.
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub location: Option<(usize, usize)>,
    /// What is wrong and, where one exists, how to fix it; shown after `path:line:column:`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                line,
                column,
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    directory: RawDirectory,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    safety: RawSafety,
    #[serde(default, rename = "workspace")]
    workspaces: Vec<Spanned<RawWorkspace>>,
    smtp: Option<Spanned<RawSmtp>>,
    #[serde(default)]
    http: RawHttp,
    #[serde(default, rename = "downstream")]
    downstream: Vec<Spanned<crate::downstream::config::RawDownstream>>,
    api: Option<Spanned<crate::downstream::config::RawApi>>,
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    url: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    requests_per_second: Option<Spanned<u32>>,
    burst: Option<Spanned<u32>>,
    rate_limit_reserve: Option<u64>,
    request_timeout_seconds: Option<Spanned<u64>>,
    connect_timeout_seconds: Option<Spanned<u64>>,
    max_attempts: Option<Spanned<u64>>,
    max_connect_attempts: Option<Spanned<u64>>,
    max_backoff_seconds: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: Spanned<String>,
    port: Option<Spanned<u16>>,
    tls: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    from: Spanned<String>,
    ca_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    url: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    run_on_start: Option<bool>,
    max_concurrent_workspaces: Option<Spanned<u32>>,
    run_deadline_seconds: Option<Spanned<u64>>,
    webhook_debounce_ms: Option<u64>,
    health_stall_periods: Option<Spanned<u32>>,
    health_overrun_seconds: Option<Spanned<u64>>,
    webhook_max_body_bytes: Option<Spanned<u64>>,
    webhook_max_in_flight: Option<Spanned<u32>>,
    webhook_max_in_flight_per_source: Option<Spanned<u32>>,
    max_connections: Option<Spanned<u32>>,
    read_timeout_seconds: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSafety {
    max_offboard_percent: Option<Spanned<f64>>,
    max_offboard_count: Option<u32>,
    max_admit_percent: Option<Spanned<f64>>,
    max_admit_count: Option<u32>,
    max_team_delete_percent: Option<Spanned<f64>>,
    max_team_delete_count: Option<u32>,
    max_grant_revoke_percent: Option<Spanned<f64>>,
    max_grant_revoke_count: Option<u32>,
    max_confirmations: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    name: Spanned<String>,
    provider: Spanned<String>,
    organization: Option<Spanned<String>>,
    group: Option<Spanned<toml::Value>>,
    workspace: Option<Spanned<String>>,
    api_url: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    app_id: Option<Spanned<u64>>,
    installation_id: Option<Spanned<u64>>,
    private_key_file: Option<Spanned<String>>,
    oauth_client_id: Option<Spanned<String>>,
    oauth_client_secret_file: Option<Spanned<String>>,
    admit: Option<Spanned<String>>,
    exclude_archived: Option<bool>,
    exclude_forks: Option<bool>,
    exclude_repositories: Option<Spanned<Vec<String>>>,
    exclude_members: Option<Spanned<Vec<String>>>,
    teams: Option<Spanned<String>>,
    webhook_secret_file: Option<Spanned<String>>,
    roles: Option<Spanned<BTreeMap<String, String>>>,
    default_role: Option<String>,
    admin_role: Option<String>,
    schedule: Option<Spanned<String>>,
    min_access_level: Option<Spanned<u8>>,
    include_shared_projects: Option<bool>,
    include_bots: Option<bool>,
    requests_per_hour: Option<Spanned<u64>>,
    max_page_age_seconds: Option<Spanned<u64>>,
}

// ---------------------------------------------------------------------------------------------
// The validated configuration.

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from, as messages name it.
    pub path: PathBuf,
    /// `[directory] url`: `sqlite:PATH` (one daemon per file) or `postgres://…`.
    pub directory_url: String,
    /// `[daemon]`: schedule, listener and health settings (defaults when the section is absent).
    pub daemon: DaemonConfig,
    /// `[safety]`: the guards' thresholds (defaults when the section is absent).
    pub safety: SafetyConfig,
    /// The `[[workspace]]` entries in file order; names are unique.
    pub workspaces: Vec<WorkspaceConfig>,
    /// Where invitation mail goes; without it, `invite create` prints the link instead.
    pub smtp: Option<SmtpConfig>,
    /// How provider traffic is paced (`[http]`).
    pub http: HttpSettings,
    /// `[[downstream]]`: webhook and SCIM targets of the change events.
    pub downstream: Vec<crate::downstream::config::DownstreamConfig>,
    /// `[api]`: the read API; `None`: off.
    pub api: Option<crate::downstream::config::ApiConfig>,
    /// `[[notify]]`: where holds are announced (a JSON POST with a chat-compatible `text`).
    pub notify: Vec<NotifyTarget>,
}

/// One `[[notify]]` target. Chat webhook URLs carry their secret in the path, so `url_file`
/// reads the URL from a file at send time; `url` is for endpoints that are not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// `url`: an `https://` URL (plain `http://` only to loopback) written in the file.
    Url(String),
    /// `url_file`: a file holding the URL, read at every send, so a rotated URL is used at once.
    UrlFile(PathBuf),
}

impl NotifyTarget {
    /// The URL to post to (read from its file now), or why not.
    pub fn url(&self) -> Result<String, String> {
        match self {
            NotifyTarget::Url(u) => Ok(u.clone()),
            NotifyTarget::UrlFile(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read [[notify]] url_file {}: {e}", p.display())),
        }
    }

    /// How messages name this target (never the secret URL itself).
    pub fn reference(&self) -> String {
        match self {
            NotifyTarget::Url(u) => format!("url = {}", host_of(u).unwrap_or_default()),
            NotifyTarget::UrlFile(p) => format!("url_file = {}", p.display()),
        }
    }
}

/// `[http]`: pacing of provider traffic, per provider host, for the whole process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// A politeness limit below the providers' own (those are read from their headers).
    pub requests_per_second: u32,
    /// Requests that may go out at once before `requests_per_second` applies (at least 1).
    pub burst: u32,
    /// Below this many requests left in a provider's window, the rest are spread until reset.
    pub rate_limit_reserve: u64,
    /// One attempt, from connecting until the whole body is read.
    pub request_timeout_seconds: u64,
    /// Opening a TCP + TLS connection.
    pub connect_timeout_seconds: u64,
    /// Attempts per request (timeouts, 5xx, rate limits), the first one included.
    pub max_attempts: u32,
    /// Attempts per request when no connection can be opened (refused, unknown host): a dead
    /// endpoint fails the run within seconds.
    pub max_connect_attempts: u32,
    /// The longest wait between two attempts when the server named none.
    pub max_backoff_seconds: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let core = orgsync_core::http::HttpConfig::default();
        HttpSettings {
            requests_per_second: 10,
            burst: 10,
            rate_limit_reserve: 50,
            request_timeout_seconds: 60,
            connect_timeout_seconds: core.connect_timeout.as_secs(),
            max_attempts: core.max_attempts,
            max_connect_attempts: core.max_connect_attempts,
            max_backoff_seconds: core.max_backoff.as_secs(),
        }
    }
}

impl HttpSettings {
    /// The HTTP layer's configuration with these settings.
    pub fn http_config(&self) -> orgsync_core::http::HttpConfig {
        let mut c = orgsync_core::http::HttpConfig::default();
        if let Some(n) = std::num::NonZeroU32::new(self.requests_per_second) {
            c.requests_per_second = n;
        }
        if let Some(n) = std::num::NonZeroU32::new(self.burst) {
            c.burst = n;
        }
        c.rate_limit_reserve = self.rate_limit_reserve;
        c.request_timeout = std::time::Duration::from_secs(self.request_timeout_seconds.max(1));
        c.connect_timeout = std::time::Duration::from_secs(self.connect_timeout_seconds.max(1));
        c.max_attempts = self.max_attempts.max(1);
        c.max_connect_attempts = self.max_connect_attempts.max(1);
        c.max_backoff = std::time::Duration::from_secs(self.max_backoff_seconds.max(1));
        c.min_backoff = c.min_backoff.min(c.max_backoff);
        c
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
    /// No encryption: accepted only for a loopback relay, so mail and password stay on the host.
    None,
}

/// The `[smtp]` section: the relay that delivers invitations.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The relay's host name or IP address.
    pub host: String,
    /// The relay's port; when not configured, 587 for STARTTLS, 465 for TLS, 25 for none.
    pub port: u16,
    /// How the connection is protected (`tls`; STARTTLS when not configured).
    pub tls: SmtpTls,
    /// Login for the relay; the password is read from `password_file` when mail is sent.
    pub username: Option<String>,
    /// The file holding the relay password, read when mail is sent; set exactly when
    /// `username` is. `None`: the relay is used without login.
    pub password_file: Option<PathBuf>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// An extra trusted root (PEM) for a relay whose certificate a private CA issued; the
    /// system's roots stay trusted too.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password is only ever referenced by path; show the path, never file contents.
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl SmtpConfig {
    /// Reads the relay password, when one is configured.
    pub fn read_password(&self) -> Result<Option<SecretString>, String> {
        match &self.password_file {
            None => Ok(None),
            Some(p) => std::fs::read_to_string(p)
                .map(|s| {
                    Some(SecretString::from(
                        s.trim_end_matches(['\r', '\n']).to_string(),
                    ))
                })
                .map_err(|e| format!("cannot read [smtp] password_file {}: {e}", p.display())),
        }
    }
}

/// The `[daemon]` section: when workspaces sync, where the daemon listens, and when it counts
/// itself unhealthy.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The default schedule of the workspaces, in `timezone`.
    pub schedule: Schedule,
    /// The IANA time zone schedules are read in (UTC when not configured); DST is handled.
    pub timezone: Tz,
    /// The `address:port` serving `/metrics`, `/healthz`, `/readyz`, `/status` and the webhooks
    /// (`127.0.0.1:9464` when not configured). A change takes effect at the next start.
    pub listen: String,
    /// Sync a workspace at start when its last success is older than one schedule period.
    pub run_on_start: bool,
    /// How many workspaces may sync at the same time (at least 1).
    pub max_concurrent_workspaces: u32,
    /// Seconds a run may take before it fails with nothing applied (1 up to
    /// [`MAX_RUN_DEADLINE_SECONDS`]).
    pub run_deadline_seconds: u64,
    /// How long a burst of webhook events for one workspace is collected into one run.
    pub webhook_debounce: std::time::Duration,
    /// `/healthz` fails (and the watchdog is no longer fed) when a workspace has had no finished
    /// run for this many periods of its schedule.
    pub health_stall_periods: u32,
    /// … or when a run is this far past its deadline.
    pub health_overrun: std::time::Duration,
    /// What the unauthenticated listener grants a sender.
    pub listener: ListenerLimits,
}

/// What the daemon's unauthenticated listener grants, so slow or many senders cannot exhaust
/// it: memory is bounded by `max_in_flight × max_body_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// The largest webhook body read (`[daemon] webhook_max_body_bytes`).
    pub max_body_bytes: usize,
    /// Webhook requests read at once, from all senders (`webhook_max_in_flight`).
    pub max_in_flight: usize,
    /// Webhook requests read at once from one source address (`webhook_max_in_flight_per_source`).
    pub max_in_flight_per_source: usize,
    /// Time allowed for a request's headers, and again for its whole body
    /// (`read_timeout_seconds`).
    pub read_timeout: std::time::Duration,
    /// Open connections at most (`max_connections`); more are closed as they are accepted.
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_body_bytes: 1024 * 1024,
            max_in_flight: 64,
            max_in_flight_per_source: 8,
            read_timeout: std::time::Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// The longest `run_deadline_seconds` accepted: a week. Longer is a typo, and a deadline must
/// stay representable as an instant.
pub const MAX_RUN_DEADLINE_SECONDS: u64 = 7 * 24 * 3600;

/// The `[safety]` section: the thresholds above which a guard refuses a run's plan and holds it
/// for a human (`orgsync sync --force`, `orgsync approve`). A threshold guard trips only when
/// both its percentage (0 to 100) and its count are exceeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SafetyConfig {
    /// Offboards above both this share (of the active synced members) and
    /// `max_offboard_count` trip the offboarding guard.
    pub max_offboard_percent: f64,
    /// Offboards in one run above this number (and above `max_offboard_percent`) trip the
    /// offboarding guard.
    pub max_offboard_count: u32,
    /// Onboards plus reactivations above both of these (of the active synced members) trip the
    /// admission guard; never on the first sync of an empty workspace.
    pub max_admit_percent: f64,
    /// The number half of the admission guard: see `max_admit_percent`.
    pub max_admit_count: u32,
    /// Deletions of synced teams above both of these (of the synced teams) trip the team guard.
    pub max_team_delete_percent: f64,
    /// The number half of the team guard: see `max_team_delete_percent`.
    pub max_team_delete_count: u32,
    /// One team losing more than both of these of its repository grants trips the grant guard.
    pub max_grant_revoke_percent: f64,
    /// The number half of the grant guard: see `max_grant_revoke_percent`.
    pub max_grant_revoke_count: u32,
    /// Destructive verdicts (offboards, team-membership removals) confirmed with the provider's
    /// per-user read in one run; a plan with more fails the run.
    pub max_confirmations: u32,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            max_offboard_percent: 10.0,
            max_offboard_count: 5,
            max_admit_percent: 20.0,
            max_admit_count: 10,
            max_team_delete_percent: 10.0,
            max_team_delete_count: 2,
            max_grant_revoke_percent: 50.0,
            max_grant_revoke_count: 3,
            max_confirmations: 200,
        }
    }
}

/// How a workspace authenticates. Secrets are read when needed, not at load time, so that
/// rotated files and systemd credentials are picked up by the next run.
#[derive(Clone)]
pub enum Credentials {
    /// `token_file`: a token in a file only its owner can read (a systemd credential, say).
    TokenFile(PathBuf),
    /// `token_env`: the name of the environment variable holding the token.
    TokenEnv(String),
    /// An inline `token`, accepted only in a file nobody else can read.
    Inline(SecretString),
    /// GitHub only: `app_id`, `installation_id` and `private_key_file` together; the client
    /// signs a JWT with the key and exchanges it for installation tokens.
    GithubApp {
        /// The GitHub App's numeric id.
        app_id: u64,
        /// The App's installation on the workspace's organisation.
        installation_id: u64,
        /// The App's private key (PEM), readable only by its owner.
        private_key_file: PathBuf,
    },
    /// Bitbucket only: an OAuth consumer (`oauth_client_id`, `oauth_client_secret_file`) that
    /// obtains access tokens with the client-credentials grant.
    OauthClient {
        /// The consumer's key.
        client_id: String,
        /// The file holding the consumer's secret, readable only by its owner.
        secret_file: PathBuf,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference())
    }
}

impl Credentials {
    /// How error messages name the credential: the reference, never the secret.
    pub fn reference(&self) -> String {
        match self {
            Credentials::TokenFile(p) => format!("token_file = {}", p.display()),
            Credentials::TokenEnv(v) => format!("token_env = {v}"),
            Credentials::Inline(_) => "the inline `token`".to_string(),
            Credentials::GithubApp {
                app_id,
                installation_id,
                ..
            } => format!("GitHub App {app_id} (installation {installation_id})"),
            Credentials::OauthClient { client_id, .. } => {
                format!("OAuth consumer {client_id}")
            }
        }
    }

    /// Reads the token (or the App's private key, or the OAuth secret).
    pub fn read_secret(&self) -> Result<SecretString, String> {
        let from_file = |path: &Path| -> Result<SecretString, String> {
            orgsync_core::http::read_secret_file(path, SecretFileAccess::OwnerOnly)
                .map_err(|e| e.message)
        };
        match self {
            Credentials::TokenFile(p) => from_file(p),
            Credentials::TokenEnv(v) => match std::env::var(v) {
                Ok(s) if !s.trim().is_empty() => Ok(SecretString::from(s.trim().to_string())),
                _ => Err(format!(
                    "the environment variable {v} is not set; export it or use token_file"
                )),
            },
            Credentials::Inline(s) => Ok(SecretString::from(s.expose_secret().to_string())),
            Credentials::GithubApp {
                private_key_file, ..
            } => from_file(private_key_file),
            Credentials::OauthClient { secret_file, .. } => from_file(secret_file),
        }
    }
}

/// One validated `[[workspace]]`: a provider account and how it maps to the directory.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// Letters, digits, `-`, `_` and `.`; unique in the file. Commands (`--workspace`), the
    /// directory, metrics and webhook URLs name the workspace by it.
    pub name: String,
    /// GitHub, GitLab or Bitbucket.
    pub provider: ProviderKind,
    /// The organisation, group (path or id) or Bitbucket workspace.
    pub account: String,
    /// The API base URL; the provider's public default when not configured.
    pub api_url: String,
    /// How the workspace authenticates; the secret itself is read at each run.
    pub credentials: Credentials,
    /// Bitbucket API tokens authenticate with Basic (account e-mail + token).
    pub username: Option<String>,
    /// `admit`: who becomes a member, those with access to a counted repository
    /// (`all-repositories`, the default) or every member of the account (`all-members`).
    pub admit: AdmitRule,
    /// Which repositories count (`exclude_archived`, `exclude_forks`, `exclude_repositories`),
    /// patterns compiled when the file was loaded.
    pub scope: RepositoryScope,
    /// `exclude_members`, compiled when the file was loaded.
    pub exclude_members: MemberExclusions,
    /// `teams`: sync teams with their repository grants (`full`, the default), teams without
    /// grants (`without-repositories`), or no teams (`off`).
    pub teams: TeamsMode,
    /// The file holding the secret this workspace's webhooks are verified with, read at each
    /// delivery. `None`: the daemon refuses this workspace's webhooks.
    pub webhook_secret_file: Option<PathBuf>,
    /// Provider role -> directory role.
    pub roles: BTreeMap<String, String>,
    /// The directory role of provider roles missing from `roles`.
    pub default_role: String,
    /// The directory role the "no admin left" guard protects.
    pub admin_role: String,
    /// Its own schedule or the daemon's, in the daemon's time zone.
    pub schedule: Schedule,
    /// GitLab: the lowest access level (20 Reporter, the default; 15 Planner, 30 Developer, …)
    /// at which access to a project counts for admission.
    pub min_access_level: u8,
    /// GitLab: whether projects merely shared into the group count for admission (default no).
    pub include_shared_projects: bool,
    /// GitLab: whether bot users of access tokens are admitted (default no).
    pub include_bots: bool,
    /// Bitbucket: the credential's allowance in any rolling hour, which the client paces
    /// itself on (Bitbucket sends no remaining count). Scaled allowances of access tokens on
    /// `/2.0/repositories/*` are read from `X-RateLimit-Limit` instead.
    pub requests_per_hour: u64,
    /// Bitbucket: a fetch that needs more than one hour's allowance keeps the pages it read and
    /// continues in the next run; a kept page older than this is read again, and nothing is
    /// decided on a page older than this.
    pub max_page_age_seconds: u64,
}

/// The default `requests_per_hour`: Bitbucket's allowance for API tokens, OAuth consumers and
/// every endpoint without scaled limits.
pub const DEFAULT_REQUESTS_PER_HOUR: u64 = 1_000;
/// The default `max_page_age_seconds`: three hours, so a fetch spanning two or three hourly
/// windows completes on what it read.
pub const DEFAULT_MAX_PAGE_AGE_SECONDS: u64 = 3 * 3600;

impl WorkspaceConfig {
    /// The fetch policy this workspace asks of its provider.
    pub fn fetch_policy(&self) -> FetchPolicy {
        FetchPolicy {
            admit: self.admit,
            scope: self.scope.clone(),
            teams: self.teams,
            exclude_members: self.exclude_members.clone(),
            min_access_level: self.min_access_level,
            include_shared_projects: self.include_shared_projects,
            include_bots: self.include_bots,
            deadline: None,
            cancel: None,
            pages: None,
        }
    }

    /// The directory role for a provider role.
    pub fn map_role(&self, provider_role: &str) -> String {
        self.roles
            .get(provider_role)
            .cloned()
            .unwrap_or_else(|| self.default_role.clone())
    }

    /// The host identities of this workspace belong to (`api.github.com`, …).
    pub fn host(&self) -> String {
        host_of(&self.api_url).unwrap_or_else(|| self.api_url.clone())
    }
}

fn default_api_url(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Github => "https://api.github.com",
        ProviderKind::Gitlab => "https://gitlab.com",
        ProviderKind::Bitbucket => "https://api.bitbucket.org",
    }
}

fn default_roles(provider: ProviderKind) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match provider {
        ProviderKind::Github => &[("admin", "admin"), ("member", "member")],
        ProviderKind::Gitlab => &[
            ("owner", "admin"),
            ("maintainer", "member"),
            ("developer", "member"),
            ("reporter", "member"),
        ],
        ProviderKind::Bitbucket => &[
            ("owner", "admin"),
            ("collaborator", "member"),
            ("member", "member"),
        ],
    };
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The host of an `http(s)://` URL, as workspaces and identities store it (see
/// [`orgsync_core::http::host_of`], the project's one host parser).
pub fn host_of(url: &str) -> Option<String> {
    orgsync_core::http::host_of(url)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// The one duration syntax of the command line (`--since`, `--expires-in`): humantime's,
/// `90s`, `90m`, `36h`, `7d`, `2w`, or several parts such as `1day 12h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
}

/// Parses a cron expression: 5 fields, or 6 with seconds first.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if !(fields == 5 || fields == 6 || expr.trim_start().starts_with('@')) {
        return Err(format!(
            "`{expr}` has {fields} fields; a schedule has 5 (minute hour day month weekday) or 6 (seconds first)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron schedule: {e}"))
}

/// Refuses a valid cron expression that never fires (`0 0 30 2 *`, February 30th): a workspace
/// on it would never be synced. The search is cut off within croner's own year limit.
fn fires(expr: &str) -> Result<(), String> {
    let cron = parse_cron(expr)?;
    cron.find_next_occurrence(&chrono::Utc::now(), false)
        .map(|_| ())
        .map_err(|_| format!("`{expr}` never fires (no such date); fix the day and month fields"))
}

/// A cron schedule built once, when the file is loaded, with the time zone it is read in.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: croner::Cron,
    timezone: Tz,
}

impl Schedule {
    /// Parses `expr` (5 fields, or 6 with seconds first) and refuses one that never fires.
    pub fn new(expr: &str, timezone: Tz) -> Result<Self, String> {
        fires(expr)?;
        Ok(Schedule {
            expr: expr.to_string(),
            cron: parse_cron(expr)?,
            timezone,
        })
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone the expression is read in (`[daemon] timezone`).
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The next fire time strictly after `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.timezone), false)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The last fire time at or before `at`.
    pub fn previous_at_or_before(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cron
            .find_previous_occurrence(&at.with_timezone(&self.timezone), true)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The time between the two fires after `at`: the schedule's period there (DST-correct).
    pub fn period(&self, at: chrono::DateTime<chrono::Utc>) -> Option<chrono::Duration> {
        let next = self.next_after(at)?;
        let after = self.next_after(next)?;
        Some(after - next)
    }
}

/// The port of `host:port` when it is a number beyond 65535 (which `SocketAddr` would only call
/// "invalid").
fn out_of_range_port(listen: &str) -> Option<String> {
    let (_, port) = listen.rsplit_once(':')?;
    let digits = port.trim();
    (!digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits.parse::<u16>().is_err())
    .then(|| digits.to_string())
}

pub(crate) struct Checker<'a> {
    source: &'a str,
    path: &'a Path,
    pub(crate) errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(crate) fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: self.path.to_path_buf(),
            location: span.map(|s| line_column(self.source, s.start)),
            message: message.into(),
        });
    }
}

/// Secret files that exist but cannot be used (not a regular file, too large, empty, readable by
/// others). A file that does not exist yet is left to the run that reads it: systemd
/// credentials, for one, exist only inside the service.
fn secret_file_errors(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for w in &config.workspaces {
        let mut files: Vec<(&str, &Path, SecretFileAccess)> = Vec::new();
        match &w.credentials {
            Credentials::TokenFile(p) => files.push(("token_file", p, SecretFileAccess::OwnerOnly)),
            Credentials::GithubApp {
                private_key_file, ..
            } => files.push((
                "private_key_file",
                private_key_file,
                SecretFileAccess::OwnerOnly,
            )),
            Credentials::OauthClient { secret_file, .. } => files.push((
                "oauth_client_secret_file",
                secret_file,
                SecretFileAccess::OwnerOnly,
            )),
            Credentials::TokenEnv(_) | Credentials::Inline(_) => {}
        }
        if let Some(p) = &w.webhook_secret_file {
            files.push(("webhook_secret_file", p, SecretFileAccess::Any));
        }
        for (key, file, access) in files {
            if !file.exists() {
                continue;
            }
            if let Err(e) = orgsync_core::http::read_secret_file(file, access) {
                errors.push(ConfigError {
                    path: config.path.clone(),
                    location: None,
                    message: format!("workspace `{}`: {key}: {e}", w.name),
                });
            }
        }
    }
    errors
}

/// True when users other than the owner (group or others) can read the file.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o044 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                path: path.to_path_buf(),
                location: None,
                message: format!(
                    "cannot read the configuration: {e}. Pass --config or set ORGSYNC_CONFIG"
                ),
            }]
        })?;
        let config = Config::parse(&source, path)?;
        let unusable = secret_file_errors(&config);
        if !unusable.is_empty() {
            return Err(unusable);
        }
        let inline = config
            .workspaces
            .iter()
            .find(|w| matches!(w.credentials, Credentials::Inline(_)));
        if let Some(w) = inline
            && readable_by_others(path)
        {
            return Err(vec![ConfigError {
                path: path.to_path_buf(),
                location: None,
                message: format!(
                    "workspace `{}` holds an inline token but the file is readable by other users; \
                     run `chmod 600 {}` or use token_file / token_env",
                    w.name,
                    path.display()
                ),
            }]);
        }
        Ok(config)
    }

    /// Validates `source`; `path` only names the file in errors.
    pub fn parse(source: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = toml::from_str(source).map_err(|e| {
            vec![ConfigError {
                path: path.to_path_buf(),
                location: e.span().map(|s| line_column(source, s.start)),
                message: e.message().trim().to_string(),
            }]
        })?;
        let mut c = Checker {
            source,
            path,
            errors: Vec::new(),
        };

        let url = raw.directory.url.get_ref().clone();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            c.error(
                Some(raw.directory.url.span()),
                format!("directory url `{url}` is neither sqlite:… nor postgres://…"),
            );
        }

        let timezone = match &raw.daemon.timezone {
            None => Tz::UTC,
            Some(tz) => tz.get_ref().parse::<Tz>().unwrap_or_else(|_| {
                c.error(
                    Some(tz.span()),
                    format!(
                        "`{}` is not an IANA time zone (for example Europe/Berlin or UTC)",
                        tz.get_ref()
                    ),
                );
                Tz::UTC
            }),
        };
        let schedule = match &raw.daemon.schedule {
            None => Schedule::new("30 2 * * *", timezone).ok(),
            Some(s) => Schedule::new(s.get_ref(), timezone)
                .map_err(|e| c.error(Some(s.span()), e))
                .ok(),
        };
        let listen = raw
            .daemon
            .listen
            .as_ref()
            .map_or_else(|| "127.0.0.1:9464".to_string(), |l| l.get_ref().clone());
        if let Some(l) = &raw.daemon.listen
            && let Some(port) = out_of_range_port(l.get_ref())
        {
            c.error(
                Some(l.span()),
                format!(
                    "listen `{}`: port {port} is out of range; use 1 to 65535 (0 picks a free one)",
                    l.get_ref()
                ),
            );
        } else if let Some(l) = &raw.daemon.listen
            && l.get_ref().parse::<std::net::SocketAddr>().is_err()
        {
            c.error(
                Some(l.span()),
                format!(
                    "listen `{}` is not an address:port such as 127.0.0.1:9464",
                    l.get_ref()
                ),
            );
        }
        let max_concurrent_workspaces = match &raw.daemon.max_concurrent_workspaces {
            Some(n) if *n.get_ref() == 0 => {
                c.error(
                    Some(n.span()),
                    "max_concurrent_workspaces must be at least 1",
                );
                1
            }
            Some(n) => *n.get_ref(),
            None => 4,
        };
        let run_deadline_seconds = match &raw.daemon.run_deadline_seconds {
            Some(n) if *n.get_ref() == 0 => {
                c.error(Some(n.span()), "run_deadline_seconds must be at least 1");
                3600
            }
            Some(n) if *n.get_ref() > MAX_RUN_DEADLINE_SECONDS => {
                c.error(
                    Some(n.span()),
                    format!(
                        "run_deadline_seconds {} is beyond the {MAX_RUN_DEADLINE_SECONDS} s (one week) maximum",
                        n.get_ref()
                    ),
                );
                3600
            }
            Some(n) => *n.get_ref(),
            None => 3600,
        };
        let mut at_least_one = |value: Option<&Spanned<u64>>, key: &str, default: u64| match value {
            Some(n) if *n.get_ref() == 0 => {
                c.error(Some(n.span()), format!("{key} must be at least 1"));
                default
            }
            Some(n) => *n.get_ref(),
            None => default,
        };
        let limits = ListenerLimits::default();
        let health_overrun_seconds = at_least_one(
            raw.daemon.health_overrun_seconds.as_ref(),
            "health_overrun_seconds",
            600,
        );
        let read_timeout_seconds = at_least_one(
            raw.daemon.read_timeout_seconds.as_ref(),
            "read_timeout_seconds",
            limits.read_timeout.as_secs(),
        );
        let max_body_bytes = at_least_one(
            raw.daemon.webhook_max_body_bytes.as_ref(),
            "webhook_max_body_bytes",
            limits.max_body_bytes as u64,
        );
        let widen = |n: &Spanned<u32>| Spanned::new(n.span(), u64::from(*n.get_ref()));
        let health_stall_periods = at_least_one(
            raw.daemon.health_stall_periods.as_ref().map(widen).as_ref(),
            "health_stall_periods",
            3,
        );
        let max_in_flight = at_least_one(
            raw.daemon
                .webhook_max_in_flight
                .as_ref()
                .map(widen)
                .as_ref(),
            "webhook_max_in_flight",
            limits.max_in_flight as u64,
        );
        let max_in_flight_per_source = at_least_one(
            raw.daemon
                .webhook_max_in_flight_per_source
                .as_ref()
                .map(widen)
                .as_ref(),
            "webhook_max_in_flight_per_source",
            limits.max_in_flight_per_source as u64,
        );
        let max_connections = at_least_one(
            raw.daemon.max_connections.as_ref().map(widen).as_ref(),
            "max_connections",
            limits.max_connections as u64,
        );
        if read_timeout_seconds > 3600
            && let Some(n) = &raw.daemon.read_timeout_seconds
        {
            c.error(
                Some(n.span()),
                "read_timeout_seconds must be at most 3600: a sender that slow holds a slot",
            );
        }
        if health_overrun_seconds > MAX_RUN_DEADLINE_SECONDS
            && let Some(n) = &raw.daemon.health_overrun_seconds
        {
            c.error(
                Some(n.span()),
                format!("health_overrun_seconds must be at most {MAX_RUN_DEADLINE_SECONDS}"),
            );
        }
        let listener = ListenerLimits {
            max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
            max_in_flight: usize::try_from(max_in_flight).unwrap_or(usize::MAX),
            max_in_flight_per_source: usize::try_from(max_in_flight_per_source)
                .unwrap_or(usize::MAX),
            read_timeout: std::time::Duration::from_secs(read_timeout_seconds.min(3600)),
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        };

        let mut safety = SafetyConfig::default();
        let percents = [
            (
                &raw.safety.max_offboard_percent,
                "max_offboard_percent",
                &mut safety.max_offboard_percent,
            ),
            (
                &raw.safety.max_admit_percent,
                "max_admit_percent",
                &mut safety.max_admit_percent,
            ),
            (
                &raw.safety.max_team_delete_percent,
                "max_team_delete_percent",
                &mut safety.max_team_delete_percent,
            ),
            (
                &raw.safety.max_grant_revoke_percent,
                "max_grant_revoke_percent",
                &mut safety.max_grant_revoke_percent,
            ),
        ];
        for (value, key, target) in percents {
            if let Some(p) = value {
                if !(0.0..=100.0).contains(p.get_ref()) {
                    c.error(Some(p.span()), format!("{key} must be between 0 and 100"));
                }
                *target = *p.get_ref();
            }
        }
        let counts = [
            (
                raw.safety.max_offboard_count,
                &mut safety.max_offboard_count,
            ),
            (raw.safety.max_admit_count, &mut safety.max_admit_count),
            (
                raw.safety.max_team_delete_count,
                &mut safety.max_team_delete_count,
            ),
            (
                raw.safety.max_grant_revoke_count,
                &mut safety.max_grant_revoke_count,
            ),
        ];
        for (value, target) in counts {
            if let Some(n) = value {
                *target = n;
            }
        }
        if let Some(n) = &raw.safety.max_confirmations {
            if *n.get_ref() == 0 {
                c.error(
                    Some(n.span()),
                    "max_confirmations must be at least 1: every offboard is confirmed before it is applied",
                );
            } else {
                safety.max_confirmations = *n.get_ref();
            }
        }

        let mut workspaces = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for spanned in &raw.workspaces {
            let ws_span = spanned.span();
            let w = spanned.get_ref();
            if let Some(first) = seen.get(w.name.get_ref()) {
                c.error(
                    Some(w.name.span()),
                    format!(
                        "workspace name `{}` is used twice (first at line {}); names must be unique",
                        w.name.get_ref(),
                        first
                    ),
                );
            } else {
                seen.insert(
                    w.name.get_ref().clone(),
                    line_column(source, w.name.span().start).0,
                );
            }
            if let Some(ws) = check_workspace(&mut c, w, ws_span, schedule.as_ref()) {
                workspaces.push(ws);
            }
        }

        let smtp = raw.smtp.as_ref().and_then(|s| check_smtp(&mut c, s));
        let mut notify = Vec::new();
        for n in &raw.notify {
            let target = match (&n.get_ref().url, &n.get_ref().url_file) {
                (Some(u), None) => match host_of(u.get_ref()) {
                    Some(host)
                        if u.get_ref().starts_with("https://")
                            || (u.get_ref().starts_with("http://") && is_loopback(&host)) =>
                    {
                        Some(NotifyTarget::Url(u.get_ref().clone()))
                    }
                    _ => {
                        c.error(
                            Some(u.span()),
                            format!(
                                "[[notify]] url `{}` must be https:// (plain http only to loopback)",
                                u.get_ref()
                            ),
                        );
                        None
                    }
                },
                (None, Some(f)) => Some(NotifyTarget::UrlFile(PathBuf::from(f.get_ref()))),
                _ => {
                    c.error(
                        Some(n.span()),
                        "[[notify]] needs exactly one of url or url_file (chat webhook URLs are secrets: prefer url_file)",
                    );
                    None
                }
            };
            notify.extend(target);
        }

        let mut http = HttpSettings::default();
        for (value, field) in [
            (&raw.http.requests_per_second, "requests_per_second"),
            (&raw.http.burst, "burst"),
        ] {
            if let Some(v) = value
                && *v.get_ref() == 0
            {
                c.error(Some(v.span()), format!("[http] {field} must be at least 1"));
            }
        }
        if let Some(v) = &raw.http.requests_per_second {
            http.requests_per_second = *v.get_ref();
        }
        if let Some(v) = &raw.http.burst {
            http.burst = *v.get_ref();
        }
        if let Some(v) = raw.http.rate_limit_reserve {
            http.rate_limit_reserve = v;
        }
        if let Some(v) = &raw.http.request_timeout_seconds {
            if *v.get_ref() == 0 {
                c.error(
                    Some(v.span()),
                    "[http] request_timeout_seconds must be at least 1",
                );
            }
            http.request_timeout_seconds = *v.get_ref();
        }
        // The retry and timeout limits: each within a range that still makes a run end.
        let mut bounded = |value: Option<&Spanned<u64>>, key: &str, max: u64| -> Option<u64> {
            let v = value?;
            let n = *v.get_ref();
            if n == 0 || n > max {
                c.error(
                    Some(v.span()),
                    format!("[http] {key} must be between 1 and {max}"),
                );
                return None;
            }
            Some(n)
        };
        if let Some(n) = bounded(
            raw.http.connect_timeout_seconds.as_ref(),
            "connect_timeout_seconds",
            600,
        ) {
            http.connect_timeout_seconds = n;
        }
        if let Some(n) = bounded(raw.http.max_attempts.as_ref(), "max_attempts", 100) {
            http.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = bounded(
            raw.http.max_connect_attempts.as_ref(),
            "max_connect_attempts",
            100,
        ) {
            http.max_connect_attempts = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = bounded(
            raw.http.max_backoff_seconds.as_ref(),
            "max_backoff_seconds",
            3600,
        ) {
            http.max_backoff_seconds = n;
        }
        let names: Vec<String> = workspaces
            .iter()
            .map(|w: &WorkspaceConfig| w.name.clone())
            .collect();
        let downstream =
            crate::downstream::config::check_downstream(&mut c, &raw.downstream, &names);
        let api = crate::downstream::config::check_api(&mut c, raw.api.as_ref());
        let Some(schedule) = schedule.filter(|_| c.errors.is_empty()) else {
            c.errors.sort_by_key(|e| e.location);
            return Err(c.errors);
        };
        Ok(Config {
            http,
            path: path.to_path_buf(),
            directory_url: url,
            daemon: DaemonConfig {
                schedule,
                timezone,
                listen,
                run_on_start: raw.daemon.run_on_start.unwrap_or(true),
                max_concurrent_workspaces,
                run_deadline_seconds,
                webhook_debounce: std::time::Duration::from_millis(
                    raw.daemon.webhook_debounce_ms.unwrap_or(2000),
                ),
                health_stall_periods: u32::try_from(health_stall_periods).unwrap_or(u32::MAX),
                health_overrun: std::time::Duration::from_secs(
                    health_overrun_seconds.min(MAX_RUN_DEADLINE_SECONDS),
                ),
                listener,
            },
            safety,
            workspaces,
            smtp,
            downstream,
            api,
            notify,
        })
    }

    /// The workspace called `name`, if one is configured.
    pub fn workspace(&self, name: &str) -> Option<&WorkspaceConfig> {
        self.workspaces.iter().find(|w| w.name == name)
    }
}

/// `default_schedule`: `[daemon] schedule` in its time zone (`None` when it did not parse, an
/// error already recorded).
fn check_workspace(
    c: &mut Checker<'_>,
    w: &RawWorkspace,
    ws_span: Range<usize>,
    default_schedule: Option<&Schedule>,
) -> Option<WorkspaceConfig> {
    let errors_before = c.errors.len();
    let name = w.name.get_ref().clone();
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
    {
        c.error(
            Some(w.name.span()),
            format!("workspace name `{name}` may use only letters, digits, `-`, `_` and `.`"),
        );
    }
    let provider = match w.provider.get_ref().as_str() {
        "github" => ProviderKind::Github,
        "gitlab" => ProviderKind::Gitlab,
        "bitbucket" => ProviderKind::Bitbucket,
        other => {
            c.error(
                Some(w.provider.span()),
                format!("unknown provider `{other}`; use github, gitlab or bitbucket"),
            );
            return None;
        }
    };

    let (key, account) = match provider {
        ProviderKind::Github => (
            "organization",
            w.organization.as_ref().map(|s| s.get_ref().clone()),
        ),
        ProviderKind::Gitlab => (
            "group",
            w.group.as_ref().and_then(|g| match g.get_ref() {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                _ => None,
            }),
        ),
        ProviderKind::Bitbucket => (
            "workspace",
            w.workspace.as_ref().map(|s| s.get_ref().clone()),
        ),
    };
    let misplaced: [(&str, Option<Range<usize>>); 3] = [
        ("organization", w.organization.as_ref().map(|s| s.span())),
        ("group", w.group.as_ref().map(|s| s.span())),
        ("workspace", w.workspace.as_ref().map(|s| s.span())),
    ];
    for (other, span) in misplaced {
        if other != key && span.is_some() {
            c.error(
                span,
                format!("`{other}` does not apply to a {provider} workspace; use `{key}`"),
            );
        }
    }
    let account = match account {
        Some(a) if !a.is_empty() => a,
        _ => {
            c.error(
                Some(ws_span.clone()),
                format!("workspace `{name}` ({provider}) needs `{key}`"),
            );
            String::new()
        }
    };

    let api_url = w.api_url.as_ref().map_or_else(
        || default_api_url(provider).to_string(),
        |u| u.get_ref().trim_end_matches('/').to_string(),
    );
    if let Some(u) = &w.api_url {
        match host_of(u.get_ref()) {
            None => c.error(
                Some(u.span()),
                format!("api_url `{}` is not an http(s) URL", u.get_ref()),
            ),
            Some(host) if host.is_empty() => c.error(
                Some(u.span()),
                format!(
                    "api_url `{}` has no host; write the server, such as https://github.example.com/api/v3",
                    u.get_ref()
                ),
            ),
            Some(host) => {
                let url = u.get_ref();
                if url.starts_with("http://") && !is_loopback(&host) {
                    c.error(
                        Some(u.span()),
                        format!(
                            "api_url `{url}` uses plain http to {host}; tokens would cross the network in clear. Use https (http is accepted only for loopback)"
                        ),
                    );
                } else if !url.starts_with("https://") && !url.starts_with("http://") {
                    c.error(
                        Some(u.span()),
                        format!("api_url `{url}` must start with https://"),
                    );
                }
            }
        }
    }

    let app = (&w.app_id, &w.installation_id, &w.private_key_file);
    let mut credentials = Vec::new();
    if let Some(f) = &w.token_file {
        credentials.push(Credentials::TokenFile(PathBuf::from(f.get_ref())));
    }
    if let Some(v) = &w.token_env {
        credentials.push(Credentials::TokenEnv(v.get_ref().clone()));
    }
    if let Some(t) = &w.token {
        credentials.push(Credentials::Inline(SecretString::from(t.get_ref().clone())));
    }
    match app {
        (None, None, None) => {}
        (Some(a), Some(i), Some(k)) => {
            if provider != ProviderKind::Github {
                c.error(Some(a.span()), "GitHub App credentials apply only to github workspaces");
            }
            credentials.push(Credentials::GithubApp {
                app_id: *a.get_ref(),
                installation_id: *i.get_ref(),
                private_key_file: PathBuf::from(k.get_ref()),
            });
        }
        _ => c.error(
            Some(ws_span.clone()),
            format!("workspace `{name}`: a GitHub App needs all of app_id, installation_id and private_key_file"),
        ),
    }
    match (&w.oauth_client_id, &w.oauth_client_secret_file) {
        (None, None) => {}
        (Some(id), Some(f)) => credentials.push(Credentials::OauthClient {
            client_id: id.get_ref().clone(),
            secret_file: PathBuf::from(f.get_ref()),
        }),
        _ => c.error(
            Some(ws_span.clone()),
            format!("workspace `{name}`: an OAuth consumer needs oauth_client_id and oauth_client_secret_file"),
        ),
    }
    let credentials = match credentials.len() {
        1 => credentials.pop(),
        0 => {
            c.error(
                Some(ws_span.clone()),
                format!(
                    "workspace `{name}` has no credentials; set token_file, token_env{}",
                    if provider == ProviderKind::Github {
                        ", or app_id + installation_id + private_key_file"
                    } else {
                        ""
                    }
                ),
            );
            None
        }
        _ => {
            c.error(
                Some(ws_span.clone()),
                format!("workspace `{name}` has more than one credential; keep exactly one"),
            );
            None
        }
    };

    let admit = match w.admit.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
        None | Some(("all-repositories", _)) => AdmitRule::AllRepositories,
        Some(("all-members", _)) => AdmitRule::AllMembers,
        Some((other, span)) => {
            c.error(
                Some(span),
                format!("admit `{other}` is unknown; use all-repositories or all-members"),
            );
            AdmitRule::AllRepositories
        }
    };
    let teams = match w.teams.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
        None | Some(("full", _)) => TeamsMode::Full,
        Some(("without-repositories", _)) => TeamsMode::WithoutRepositories,
        Some(("off", _)) => TeamsMode::Off,
        Some((other, span)) => {
            c.error(
                Some(span),
                format!("teams `{other}` is unknown; use full, without-repositories or off"),
            );
            TeamsMode::Full
        }
    };
    let exclude_repositories = w
        .exclude_repositories
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    let scope = RepositoryScope::new(
        w.exclude_archived.unwrap_or(false),
        w.exclude_forks.unwrap_or(false),
        &exclude_repositories,
    )
    .map_err(|e| {
        c.error(
            w.exclude_repositories.as_ref().map(|s| s.span()),
            e.to_string(),
        );
    })
    .ok();
    let exclude_members = w
        .exclude_members
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    let exclude_members = MemberExclusions::new(&exclude_members)
        .map_err(|e| c.error(w.exclude_members.as_ref().map(|s| s.span()), e.to_string()))
        .ok();
    let schedule = match (&w.schedule, default_schedule) {
        (None, default) => default.cloned(),
        // Read in the daemon's time zone; without it (an error already recorded) parse alone.
        (Some(s), default) => {
            Schedule::new(s.get_ref(), default.map_or(Tz::UTC, Schedule::timezone))
                .map_err(|e| c.error(Some(s.span()), e))
                .ok()
                .filter(|_| default.is_some())
        }
    };
    let min_access_level = match &w.min_access_level {
        None => 20,
        Some(l) => {
            if provider != ProviderKind::Gitlab {
                c.error(
                    Some(l.span()),
                    "min_access_level applies only to gitlab workspaces",
                );
            } else if ![5u8, 10, 15, 20, 30, 40, 50].contains(l.get_ref()) {
                c.error(
                    Some(l.span()),
                    format!(
                        "min_access_level {} is not a GitLab access level (10, 15, 20, 30, 40, 50)",
                        l.get_ref()
                    ),
                );
            }
            *l.get_ref()
        }
    };
    let roles = match &w.roles {
        None => default_roles(provider),
        Some(r) => {
            if r.get_ref().values().any(|v| v.trim().is_empty()) {
                c.error(Some(r.span()), "a directory role name may not be empty");
            }
            r.get_ref().clone()
        }
    };
    if let Some(u) = &w.username
        && provider != ProviderKind::Bitbucket
    {
        c.error(
            Some(u.span()),
            "username applies only to bitbucket workspaces (API tokens use Basic auth)",
        );
    }

    let bitbucket_only =
        |c: &mut Checker<'_>, n: &Option<Spanned<u64>>, key: &str, default: u64, max: u64| {
            let Some(n) = n else {
                return default;
            };
            if provider != ProviderKind::Bitbucket {
                c.error(
                    Some(n.span()),
                    format!("{key} applies only to bitbucket workspaces"),
                );
            } else if *n.get_ref() == 0 {
                c.error(Some(n.span()), format!("{key} must be at least 1"));
            } else if *n.get_ref() > max {
                c.error(
                    Some(n.span()),
                    format!("{key} {} is beyond the {max} maximum", n.get_ref()),
                );
            }
            *n.get_ref()
        };
    let requests_per_hour = bitbucket_only(
        c,
        &w.requests_per_hour,
        "requests_per_hour",
        DEFAULT_REQUESTS_PER_HOUR,
        10_000,
    );
    let max_page_age_seconds = bitbucket_only(
        c,
        &w.max_page_age_seconds,
        "max_page_age_seconds",
        DEFAULT_MAX_PAGE_AGE_SECONDS,
        MAX_RUN_DEADLINE_SECONDS,
    );

    if c.errors.len() != errors_before {
        return None;
    }
    Some(WorkspaceConfig {
        name,
        provider,
        account,
        api_url,
        credentials: credentials?,
        username: w.username.as_ref().map(|u| u.get_ref().clone()),
        admit,
        scope: scope?,
        exclude_members: exclude_members?,
        teams,
        webhook_secret_file: w
            .webhook_secret_file
            .as_ref()
            .map(|f| PathBuf::from(f.get_ref())),
        roles,
        default_role: w
            .default_role
            .clone()
            .unwrap_or_else(|| "member".to_string()),
        admin_role: w.admin_role.clone().unwrap_or_else(|| "admin".to_string()),
        schedule: schedule?,
        min_access_level,
        include_shared_projects: w.include_shared_projects.unwrap_or(false),
        include_bots: w.include_bots.unwrap_or(false),
        requests_per_hour,
        max_page_age_seconds,
    })
}

fn check_smtp(c: &mut Checker<'_>, spanned: &Spanned<RawSmtp>) -> Option<SmtpConfig> {
    let errors_before = c.errors.len();
    let raw = spanned.get_ref();
    let host = raw.host.get_ref().trim().to_string();
    if host.is_empty()
        || (host.contains(['/', ' ', ':']) && host.parse::<std::net::IpAddr>().is_err())
    {
        c.error(
            Some(raw.host.span()),
            format!("[smtp] host `{host}` is not a host name or IP address"),
        );
    }
    let tls = match raw.tls.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
        None | Some(("starttls", _)) => SmtpTls::Starttls,
        Some(("tls", _)) => SmtpTls::Tls,
        Some(("none", span)) => {
            if !is_loopback(&host) {
                c.error(
                    Some(span),
                    format!(
                        "[smtp] tls = \"none\" would send mail (and the password) to {host} in clear; \
                         it is accepted only for a loopback relay. Use \"starttls\" or \"tls\""
                    ),
                );
            }
            SmtpTls::None
        }
        Some((other, span)) => {
            c.error(
                Some(span),
                format!("[smtp] tls `{other}` is unknown; use starttls, tls or none"),
            );
            SmtpTls::Starttls
        }
    };
    let port = match &raw.port {
        Some(p) if *p.get_ref() == 0 => {
            c.error(Some(p.span()), "[smtp] port must be between 1 and 65535");
            0
        }
        Some(p) => *p.get_ref(),
        None => match tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        },
    };
    match (&raw.username, &raw.password_file) {
        (Some(_), Some(_)) | (None, None) => {}
        (Some(u), None) => c.error(
            Some(u.span()),
            "[smtp] username needs password_file (the password is never written in this file)",
        ),
        (None, Some(p)) => c.error(Some(p.span()), "[smtp] password_file needs username"),
    }
    let from = raw.from.get_ref().trim().to_string();
    if from.parse::<lettre::message::Mailbox>().is_err() {
        c.error(
            Some(raw.from.span()),
            format!(
                "[smtp] from `{from}` is not a mailbox such as \"orgsync <orgsync@example.org>\""
            ),
        );
    }
    if let Some(ca) = &raw.ca_file
        && tls == SmtpTls::None
    {
        c.error(
            Some(ca.span()),
            "[smtp] ca_file applies only with tls = \"starttls\" or \"tls\"",
        );
    }
    if c.errors.len() != errors_before {
        return None;
    }
    Some(SmtpConfig {
        host,
        port,
        tls,
        username: raw.username.as_ref().map(|u| u.get_ref().clone()),
        password_file: raw
            .password_file
            .as_ref()
            .map(|p| PathBuf::from(p.get_ref())),
        from,
        ca_file: raw.ca_file.as_ref().map(|p| PathBuf::from(p.get_ref())),
    })
}

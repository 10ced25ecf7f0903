//! `[[downstream]]` and `[api]`: the targets that hear about changes, and the read API.

use crate::config::{Checker, host_of};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// One `[[downstream]]` table as written, with spans for error messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDownstream {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Spanned<String>,
    token_file: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    user_name: Option<Spanned<String>>,
    workspaces: Option<Spanned<Vec<String>>>,
    max_attempts: Option<Spanned<u32>>,
    max_backoff_seconds: Option<Spanned<u64>>,
    timeout_seconds: Option<Spanned<u64>>,
    sync_wait_seconds: Option<Spanned<u64>>,
}

/// `[api]` as written, with spans for error messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    listen: Option<Spanned<String>>,
    token_file: Spanned<String>,
}

/// What a downstream target speaks (`type = "webhook"` or `"scim"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownstreamKind {
    /// Signed JSON events POSTed to a URL.
    Webhook,
    /// Users and groups pushed to a SCIM 2.0 service provider.
    Scim,
}

/// What becomes a SCIM user's `userName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNameFrom {
    /// The provider login (the e-mail when no login is known); the default.
    Login,
    /// The e-mail address (the login when no e-mail is known).
    Email,
}

/// One validated `[[downstream]]` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamConfig {
    /// The target's unique name: in metrics labels, the outbox and `orgsync downstream` commands.
    pub name: String,
    /// What the target speaks.
    pub kind: DownstreamKind,
    /// The webhook URL, or the SCIM base URL (`…/scim/v2`).
    pub url: String,
    /// SCIM: the bearer token's file. Webhook: the signing secret's file (`whsec_…`).
    pub credential_file: PathBuf,
    /// What becomes a SCIM user's `userName` (`user_name`; only meaningful for SCIM).
    pub user_name: UserNameFrom,
    /// The workspaces that feed it; `None`: all.
    pub workspaces: Option<Vec<String>>,
    /// Attempts before an event becomes a dead letter.
    pub max_attempts: u32,
    /// The cap of the exponential backoff between attempts.
    pub max_backoff: std::time::Duration,
    /// Per request.
    pub timeout: std::time::Duration,
    /// How long `orgsync sync` waits for its events to be delivered before it exits.
    pub sync_wait: std::time::Duration,
}

/// `[api]`: the read API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// A separate listener for the API and the metrics; `None`: the daemon's listener.
    pub listen: Option<String>,
    /// Holds the accepted bearer tokens, one per line.
    pub token_file: PathBuf,
}

fn loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

pub(crate) fn check_downstream(
    c: &mut Checker<'_>,
    raw: &[Spanned<RawDownstream>],
    workspaces: &[String],
) -> Vec<DownstreamConfig> {
    let mut out: Vec<DownstreamConfig> = Vec::new();
    for spanned in raw {
        let before = c.errors.len();
        let d = spanned.get_ref();
        let name = d.name.get_ref().trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            c.error(
                Some(d.name.span()),
                format!("[[downstream]] name `{name}` must be letters, digits, '-', '_' or '.'"),
            );
        }
        if out.iter().any(|o| o.name == name) {
            c.error(
                Some(d.name.span()),
                format!("[[downstream]] name `{name}` is used twice; names must be unique"),
            );
        }
        let kind = match d.kind.get_ref().as_str() {
            "webhook" => DownstreamKind::Webhook,
            "scim" => DownstreamKind::Scim,
            other => {
                c.error(
                    Some(d.kind.span()),
                    format!(
                        "[[downstream]] type `{other}` is unknown; use \"webhook\" or \"scim\""
                    ),
                );
                // The credential keys cannot be judged without a type.
                continue;
            }
        };
        let url = d.url.get_ref().trim().trim_end_matches('/').to_string();
        match (url.split_once("://"), host_of(&url)) {
            (Some(("https", _)), Some(_)) => {}
            (Some(("http", _)), Some(h)) if loopback(&h) => {}
            (Some(("http", _)), Some(h)) => c.error(
                Some(d.url.span()),
                format!(
                    "[[downstream]] url `{url}` is plain http to {h}: events and tokens would travel in clear; use https (http is accepted only for loopback)"
                ),
            ),
            _ => c.error(
                Some(d.url.span()),
                format!("[[downstream]] url `{url}` is not an http(s) URL"),
            ),
        }
        let credential = match (kind, &d.token_file, &d.secret_file) {
            (DownstreamKind::Scim, Some(t), None) => PathBuf::from(t.get_ref()),
            (DownstreamKind::Webhook, None, Some(s)) => PathBuf::from(s.get_ref()),
            (DownstreamKind::Scim, _, Some(s)) => {
                c.error(
                    Some(s.span()),
                    "[[downstream]] type = \"scim\" takes token_file (the bearer token), not secret_file",
                );
                PathBuf::new()
            }
            (DownstreamKind::Webhook, Some(t), _) => {
                c.error(
                    Some(t.span()),
                    "[[downstream]] type = \"webhook\" takes secret_file (the signing secret), not token_file",
                );
                PathBuf::new()
            }
            (k, None, None) => {
                c.error(
                    Some(spanned.span()),
                    format!(
                        "[[downstream]] `{name}` needs {}",
                        if k == DownstreamKind::Scim {
                            "token_file (the SCIM bearer token's file)"
                        } else {
                            "secret_file (the Standard Webhooks signing secret's file, whsec_…)"
                        }
                    ),
                );
                PathBuf::new()
            }
        };
        let user_name = match d
            .user_name
            .as_ref()
            .map(|u| (u.get_ref().as_str(), u.span()))
        {
            None | Some(("login", _)) => UserNameFrom::Login,
            Some(("email", _)) => UserNameFrom::Email,
            Some((other, span)) => {
                c.error(
                    Some(span),
                    format!(
                        "[[downstream]] user_name `{other}` is unknown; use \"login\" or \"email\""
                    ),
                );
                UserNameFrom::Login
            }
        };
        if let Some(u) = &d.user_name
            && kind == DownstreamKind::Webhook
        {
            c.error(
                Some(u.span()),
                "[[downstream]] user_name applies to type = \"scim\" only",
            );
        }
        let ws = d.workspaces.as_ref().map(|w| {
            for name in w.get_ref() {
                if !workspaces.contains(name) {
                    c.error(
                        Some(w.span()),
                        format!("[[downstream]] workspaces names `{name}`, which is not a configured [[workspace]]"),
                    );
                }
            }
            w.get_ref().clone()
        });
        let max_attempts = match &d.max_attempts {
            Some(n) if *n.get_ref() == 0 => {
                c.error(
                    Some(n.span()),
                    "[[downstream]] max_attempts must be at least 1",
                );
                1
            }
            Some(n) => *n.get_ref(),
            None => 12,
        };
        let seconds =
            |c: &mut Checker<'_>, v: &Option<Spanned<u64>>, key: &str, default: u64| match v {
                Some(n) if *n.get_ref() == 0 && key != "sync_wait_seconds" => {
                    c.error(
                        Some(n.span()),
                        format!("[[downstream]] {key} must be at least 1"),
                    );
                    default
                }
                Some(n) => *n.get_ref(),
                None => default,
            };
        let max_backoff = seconds(c, &d.max_backoff_seconds, "max_backoff_seconds", 600);
        let timeout = seconds(c, &d.timeout_seconds, "timeout_seconds", 10);
        let sync_wait = seconds(c, &d.sync_wait_seconds, "sync_wait_seconds", 30);
        if c.errors.len() == before {
            out.push(DownstreamConfig {
                name,
                kind,
                url,
                credential_file: credential,
                user_name,
                workspaces: ws,
                max_attempts,
                max_backoff: std::time::Duration::from_secs(max_backoff),
                timeout: std::time::Duration::from_secs(timeout),
                sync_wait: std::time::Duration::from_secs(sync_wait),
            });
        }
    }
    out
}

pub(crate) fn check_api(c: &mut Checker<'_>, raw: Option<&Spanned<RawApi>>) -> Option<ApiConfig> {
    let a = raw?.get_ref();
    if let Some(l) = &a.listen
        && l.get_ref().parse::<std::net::SocketAddr>().is_err()
    {
        c.error(
            Some(l.span()),
            format!(
                "[api] listen `{}` is not an address:port such as 127.0.0.1:9465",
                l.get_ref()
            ),
        );
    }
    Some(ApiConfig {
        listen: a.listen.as_ref().map(|l| l.get_ref().clone()),
        token_file: PathBuf::from(a.token_file.get_ref()),
    })
}

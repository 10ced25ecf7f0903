//! The command line: `orgsync <command>`, with the exit codes of the design
//! (0 success, 1 runtime error, 2 bad usage or configuration, 3 aborted by a guard).

/// One line on standard output, escaped and quiet on a closed pipe (see [`term`]).
macro_rules! outln {
    () => {
        $crate::term::line("")
    };
    ($($arg:tt)*) => {
        $crate::term::line(&format!($($arg)*))
    };
}

/// One message on standard error, escaped (see [`term`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::term::error(&format!($($arg)*))
    };
}

pub mod downstream;
mod explain;
pub mod output;
pub mod people;
mod plans;
pub mod progress;

use crate::config::{self, Config};
use crate::directory::RunOutcome;
use crate::run::{RunOptions, sync_workspace};
use crate::term;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub use crate::failure::{EXIT_ABORTED, EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, Failure};

#[derive(Debug, Parser)]
#[command(
    name = "orgsync",
    version,
    about = "Keeps a local user directory in step with GitHub, GitLab and Bitbucket accounts"
)]
/// The parsed command line of `orgsync`: global options and one command.
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "ORGSYNC_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log format on standard error: text for a person, json (one object a line) for journald
    /// and collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// `users list --state`: a membership state, or the members the last run did not admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserState {
    /// Members of the directory now.
    Active,
    /// Removed softly: the membership stays, marked offboarded, with its reason.
    Offboarded,
    /// Suspended by an admin; syncs leave them alone.
    Suspended,
    /// Accepted an invitation, waiting for a Git account.
    Invited,
    /// Members of the provider account the last run did not admit, with the reason.
    Refused,
}

impl UserState {
    /// The directory's spelling of a membership state (`None` for `refused`, not a state).
    pub fn membership_state(self) -> Option<&'static str> {
        match self {
            UserState::Active => Some("active"),
            UserState::Offboarded => Some("offboarded"),
            UserState::Suspended => Some("suspended"),
            UserState::Invited => Some("invited"),
            UserState::Refused => None,
        }
    }
}

/// The whole command line as a clap `Command`: what `orgsync-gen` renders into man pages and
/// shell completions, so they always match the parser.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The commands of `orgsync`; each variant's doc is its `--help` text.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: schedule, signals, HTTP server (metrics, health, status, webhooks).
    Run,
    /// Sync simulated GitHub, GitLab and Bitbucket accounts into a local SQLite file and show
    /// what orgsync does; needs no token.
    #[cfg(feature = "demo")]
    Demo {
        /// Keep the generated configuration and directory in this folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// One reconciliation now, in the foreground.
    Sync(SyncArgs),
    /// Validate the configuration file (line:column errors).
    CheckConfig {
        /// Also check credentials and scopes against the providers.
        #[arg(long)]
        online: bool,
        /// The file to check (defaults to --config).
        file: Option<PathBuf>,
    },
    /// Last run per workspace, outcome and counts.
    Status {
        /// Print the entries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The directory's people.
    Users {
        /// `users list` or an admin override.
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The directory's teams.
    Teams {
        /// `teams list`.
        #[command(subcommand)]
        command: TeamsCommand,
    },
    /// Invitations for people without a Git account.
    Invite {
        /// `invite create`, `list`, `resend`, `cancel` or `accept`.
        #[command(subcommand)]
        command: people::InviteCommand,
    },
    /// Git identity mapping: provider identities and commit e-mails -> directory users.
    Identities {
        /// `identities list`, `link` or `unlink`.
        #[command(subcommand)]
        command: people::IdentitiesCommand,
    },
    /// Why a person is in or out: state, the evidence of the last run per in-scope repository,
    /// teams and history (no provider call; --live re-reads that one person).
    Explain {
        /// The workspace, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// Login (any case) or provider user id.
        person: String,
        /// Also ask the provider now about this person.
        #[arg(long)]
        live: bool,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Downstream targets (webhooks, SCIM): queues, dead letters, retry, resync, deliver.
    Downstream {
        /// `downstream list`, `retry`, `resync` or `deliver`.
        #[command(subcommand)]
        command: downstream::DownstreamCommand,
    },
    /// Plans a guard refused and holds for a human.
    Plans {
        /// `plans show`.
        #[command(subcommand)]
        command: plans::PlansCommand,
    },
    /// Applies a held plan as it was read: plans again and applies only if the guarded changes
    /// are the held ones or fewer; otherwise refuses and prints the difference.
    Approve {
        /// The held workspace.
        #[arg(long)]
        workspace: String,
        /// Do not ask (needed when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Workspaces in the directory.
    Workspace {
        /// `workspace rekey`.
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// The audit trail, newest first.
    Audit {
        /// Only this workspace's events.
        #[arg(long)]
        workspace: Option<String>,
        /// Only events at or after this: an RFC 3339 time, or a duration back from now such as
        /// 90m, 24h, 7d or "1day 12h".
        #[arg(long)]
        since: Option<String>,
        /// Only the events of this run id.
        #[arg(long)]
        run: Option<i64>,
        /// At most this many events, the newest (0: all of them).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print the events as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The options of `orgsync sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only these workspaces (repeatable); all when omitted.
    #[arg(long = "workspace")]
    pub workspaces: Vec<String>,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Emergency path: apply whatever plan the provider gives now even if a guard refuses it
    /// (one workspace; asks on a terminal). Prefer `orgsync approve`, which applies the held plan
    /// as it was read.
    #[arg(long)]
    pub force: bool,
    /// Do not ask before --force (needed when not on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Print the run reports as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `orgsync workspace …`.
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Moves a stored workspace, and its members' identities, to the host name the
    /// configuration gives it: for the same provider instance reached under another name. A
    /// different provider or instance has other user ids: give the workspace a new name instead.
    Rekey {
        /// The workspace, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// Do it; without this, only say what would change.
        #[arg(long)]
        yes: bool,
    },
}

/// `orgsync users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// People, roles, sources and teams.
    List {
        /// Only this workspace's people.
        #[arg(long)]
        workspace: Option<String>,
        /// Only people in this state.
        #[arg(long, value_enum)]
        state: Option<UserState>,
        /// Print the people as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The admin overrides: service accounts, suspend/unsuspend, pinned roles.
    #[command(flatten)]
    People(people::UsersPeopleCommand),
}

/// `orgsync teams …`.
#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// Teams with members and repositories.
    List {
        /// Only this workspace's teams.
        #[arg(long)]
        workspace: Option<String>,
        /// Print the teams as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) use crate::app::{load_config, open_store};

/// Runs a parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = dispatch(cli).await;
    term::flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            term::error(&format!("orgsync: {}", f.message));
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Run => crate::daemon::run(cli.config).await,
        #[cfg(feature = "demo")]
        Command::Demo { keep } => crate::demo::run(keep).await,
        Command::CheckConfig { online, file } => {
            let path = file.unwrap_or(cli.config);
            let config = load_config(&path)?;
            outln!(
                "{}: valid ({} workspace(s): {})",
                path.display(),
                config.workspaces.len(),
                config
                    .workspaces
                    .iter()
                    .map(|w| format!("{} ({})", w.name, w.provider))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for warning in config_warnings(&config) {
                errln!("orgsync: warning: {warning}");
            }
            if online {
                return check_online(&config).await;
            }
            Ok(EXIT_OK)
        }
        Command::Sync(args) => {
            let config = load_config(&cli.config)?;
            sync(&config, &args).await
        }
        Command::Plans {
            command: plans::PlansCommand::Show { workspace, json },
        } => {
            let config = load_config(&cli.config)?;
            plans::show(&config, &workspace, json).await
        }
        Command::Explain {
            workspace,
            person,
            live,
            json,
        } => {
            let config = load_config(&cli.config)?;
            explain::explain(&config, &workspace, &person, live, json).await
        }
        Command::Approve { workspace, yes } => {
            let config = load_config(&cli.config)?;
            plans::approve(&config, &workspace, yes).await
        }
        Command::Workspace {
            command: WorkspaceCommand::Rekey { workspace, yes },
        } => {
            let config = load_config(&cli.config)?;
            let ws = config.workspace(&workspace).ok_or_else(|| {
                Failure::usage(format!(
                    "no workspace named `{workspace}` in {}",
                    config.path.display()
                ))
            })?;
            let store = open_store(&config).await?;
            let Some(stored) = store.workspace(&workspace).await? else {
                return Err(Failure::usage(format!(
                    "workspace `{workspace}` was never synced: there is nothing to rekey"
                )));
            };
            let host = ws.host();
            if stored.provider == ws.provider.as_str() && stored.host == host {
                outln!(
                    "{workspace}: already stored for {} at {host}",
                    stored.provider
                );
                return Ok(EXIT_OK);
            }
            if !yes {
                outln!(
                    "{workspace}: would move from {} at {} to {} at {host}, with its members' identities; run again with --yes to do it",
                    stored.provider,
                    stored.host,
                    ws.provider
                );
                return Ok(EXIT_OK);
            }
            let moved = store
                .rekey_workspace(&workspace, ws.provider.as_str(), &host)
                .await?;
            outln!(
                "{workspace}: moved to {} at {host}; {moved} identit(y/ies) moved with it",
                ws.provider
            );
            Ok(EXIT_OK)
        }
        Command::Status { json } => {
            let config = load_config(&cli.config)?;
            let store = open_store(&config).await?;
            let code = output::status(&config, &store, json).await?;
            if !json {
                term::block(&downstream::status_lines(&config, &store).await?);
            }
            Ok(code)
        }
        Command::Users {
            command:
                UsersCommand::List {
                    workspace,
                    state,
                    json,
                },
        } => {
            if state == Some(UserState::Refused) {
                let config = load_config(&cli.config)?;
                return explain::refused(&config, workspace.as_deref(), json).await;
            }
            let config = load_config(&cli.config)?;
            let store = open_store(&config).await?;
            let rows = store
                .list_users(
                    workspace.as_deref(),
                    state.and_then(UserState::membership_state),
                )
                .await?;
            output::users(&rows, json);
            Ok(EXIT_OK)
        }
        Command::Users {
            command: UsersCommand::People(command),
        } => people::users(&cli.config, command).await,
        Command::Invite { command } => people::invite(&cli.config, command).await,
        Command::Downstream { command } => downstream::run(&cli.config, command).await,
        Command::Identities { command } => people::identities(&cli.config, command).await,
        Command::Teams {
            command: TeamsCommand::List { workspace, json },
        } => {
            let config = load_config(&cli.config)?;
            let store = open_store(&config).await?;
            let rows = store.list_teams(workspace.as_deref()).await?;
            output::teams(&rows, json);
            Ok(EXIT_OK)
        }
        Command::Audit {
            workspace,
            since,
            run,
            limit,
            json,
        } => {
            let since = since.map(|s| parse_since(&s, Utc::now())).transpose()?;
            let config = load_config(&cli.config)?;
            let store = open_store(&config).await?;
            // Newest first, and one more than asked for, to say that there are more.
            let asked = if limit == 0 {
                i64::MAX
            } else {
                i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
            };
            let mut rows = store
                .audit_newest(workspace.as_deref(), since, run, asked)
                .await?;
            if limit > 0 && rows.len() > limit {
                rows.truncate(limit);
                if !json {
                    errln!("orgsync: the {limit} newest events; --limit N shows more (0: all)");
                }
            }
            output::audit(&rows, json);
            Ok(EXIT_OK)
        }
    }
}

/// What `check-config` can say about a valid file that will still fail or do nothing at run
/// time in this environment: no workspace at all, a token variable that is not set here, a
/// secret file that does not exist here (a systemd credential exists only inside the service).
pub fn config_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.workspaces.is_empty() {
        out.push(format!(
            "{} has no [[workspace]]: the daemon would sync nothing",
            config.path.display()
        ));
    }
    for ws in &config.workspaces {
        let missing_file = |key: &str, p: &std::path::Path| {
            (!p.exists()).then(|| {
                format!(
                    "workspace `{}`: {key} {} does not exist here (fine if it is a systemd credential of the service)",
                    ws.name,
                    p.display()
                )
            })
        };
        let warning = match &ws.credentials {
            config::Credentials::TokenEnv(var) => std::env::var_os(var)
                .is_none_or(|v| v.is_empty())
                .then(|| {
                    format!(
                        "workspace `{}`: token_env {var} is not set in this environment; runs fail unless the service sets it",
                        ws.name
                    )
                }),
            config::Credentials::TokenFile(p) => missing_file("token_file", p),
            config::Credentials::GithubApp {
                private_key_file, ..
            } => missing_file("private_key_file", private_key_file),
            config::Credentials::OauthClient { secret_file, .. } => {
                missing_file("oauth_client_secret_file", secret_file)
            }
            config::Credentials::Inline(_) => None,
        };
        out.extend(warning);
    }
    out
}

/// `check-config --online`: asks each workspace's provider whether the credential can read what
/// a sync needs. Uses no directory (nothing is written) and no cache.
async fn check_online(config: &Config) -> Result<u8, Failure> {
    let ctx = crate::app::offline_provider_context(config)?;
    let mut code = EXIT_OK;
    for ws in &config.workspaces {
        let result = match crate::providers::build(ws, &ctx) {
            Ok(provider) => provider
                .check(&ws.fetch_policy())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(lines) => {
                outln!("{} ({}): ok", ws.name, ws.provider);
                for line in lines {
                    outln!("  ✓ {line}");
                }
            }
            Err(e) => {
                outln!("{} ({}): FAILED: {e}", ws.name, ws.provider);
                code = EXIT_RUNTIME;
            }
        }
    }
    Ok(code)
}

/// Parses `--since`: an RFC 3339 time or a duration back from `now` (`90m`, `24h`, `7d`).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = crate::config::parse_duration(s).map_err(|e| {
        Failure::usage(format!(
            "--since {s} is neither an RFC 3339 time nor a duration such as 90m, 24h or 7d ({e})"
        ))
    })?;
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| Failure::usage(format!("--since {s} reaches back before any date")))
}

/// Who runs a command, for the audit trail: the Unix user.
pub fn invoking_user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

async fn sync(config: &Config, args: &SyncArgs) -> Result<u8, Failure> {
    for name in &args.workspaces {
        if config.workspace(name).is_none() {
            return Err(Failure::usage(format!(
                "no workspace named `{name}` in {}; configured: {}",
                config.path.display(),
                config
                    .workspaces
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if args.force && args.workspaces.len() != 1 {
        return Err(Failure::usage(
            "--force applies one plan that a human has read: name exactly one --workspace"
                .to_string(),
        ));
    }
    if args.force && !args.dry_run {
        plans::confirm(
            &format!(
                "Apply whatever plan {} has now, even if a guard refuses it?",
                args.workspaces.join(", ")
            ),
            args.yes,
        )?;
    }
    let store = open_store(config).await?;
    let selected: Vec<_> = config
        .workspaces
        .iter()
        .filter(|w| args.workspaces.is_empty() || args.workspaces.contains(&w.name))
        .collect();
    let options = RunOptions {
        trigger: "cli".to_string(),
        dry_run: args.dry_run,
        force: args.force,
        actor: format!("cli:{}", invoking_user()),
        deadline: None,
        cancel: None,
        approve: None,
    };
    let progress = std::sync::Arc::new(progress::Progress::for_stderr());
    let ctx = crate::app::provider_context(config, &store, progress.clone())?;
    let mut reports = Vec::new();
    let mut worst = EXIT_OK;
    for ws in selected {
        let mut options = options.clone();
        options.deadline = Some(
            std::time::Instant::now()
                + std::time::Duration::from_secs(config.daemon.run_deadline_seconds),
        );
        let options = &options;
        // A client that cannot be built is a failed run, recorded like any other.
        let provider = crate::app::provider(ws, &ctx);
        let report = sync_workspace(&store, ws, &config.safety, provider.as_ref(), options).await;
        progress.finish(&ws.name);
        let report = report?;
        worst = worst.max(match report.outcome {
            RunOutcome::Ok | RunOutcome::DryRun => EXIT_OK,
            RunOutcome::Failed | RunOutcome::Continuing => EXIT_RUNTIME,
            RunOutcome::Aborted => EXIT_ABORTED,
        });
        crate::runlog::log(&report);
        crate::notify::run_report(&config.notify, &report).await;
        if !args.json {
            output::run_report(&report);
        }
        reports.push(report);
    }
    if args.json {
        output::json(&reports);
    }
    // Deliver what the runs wrote before exiting (bounded by each target's sync_wait_seconds).
    if !args.dry_run && !config.downstream.is_empty() {
        let d = crate::downstream::Deliverer::new(store.clone(), None).map_err(Failure::runtime)?;
        for (target, why) in d.drain_all(config, None).await {
            errln!(
                "orgsync: downstream {target}: events remain queued ({why}); `orgsync status` shows them"
            );
        }
    }
    Ok(worst)
}

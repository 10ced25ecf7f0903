//! `orgsync demo`: the whole product in one command, against simulated providers on loopback.
//!
//! It starts one simulated account per provider (hand-made scenarios under `config/demo/`),
//! writes the configuration it uses, syncs everything into a SQLite file, shows the directory
//! and the audit trail, then changes the simulated world (someone leaves, someone loses access
//! to one repository, a login is renamed, a mass removal) and shows what orgsync does about it.

use crate::config::Config;
use crate::directory::{RunOutcome, Store};
use crate::failure::{EXIT_OK, Failure};
use crate::run::{RunOptions, RunReport, sync_workspace};
use crate::term::{self, table};
use orgsync_simulator::bitbucket::{BitbucketMutation, BitbucketServer};
use orgsync_simulator::github::{GithubServer, Mutation as GithubMutation};
use orgsync_simulator::gitlab::{GitlabMutation, GitlabServer};
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const GITHUB_SCENARIO: &str = include_str!("../config/demo/github.toml");
const GITLAB_SCENARIO: &str = include_str!("../config/demo/gitlab.toml");
const BITBUCKET_SCENARIO: &str = include_str!("../config/demo/bitbucket.toml");

/// Colours only on a terminal and never with `NO_COLOR` (the styles are stripped otherwise by
/// [`crate::term::raw`]); each painted line is escaped first.
struct Paint;

impl Paint {
    fn wrap(&self, style: anstyle::Style, text: &str) -> String {
        let text = crate::text::escape(text);
        format!("{style}{text}{style:#}")
    }
    fn heading(&self, text: &str) -> String {
        format!("\n{}", self.wrap(term::HEADING, &format!("== {text} ==")))
    }
    fn line(&self, line: &str) -> String {
        self.wrap(term::change_style(line), line)
    }
}

struct Sims {
    github: GithubServer,
    gitlab: GitlabServer,
    bitbucket: BitbucketServer,
}

fn scenario(text: &str, name: &str) -> Result<Scenario, Failure> {
    toml::from_str(text)
        .map_err(|e| Failure::runtime(format!("the built-in {name} demo scenario is invalid: {e}")))
}

async fn start_sims() -> Result<Sims, Failure> {
    let github = GithubServer::start(
        scenario(GITHUB_SCENARIO, "GitHub")?,
        ServerOptions::default(),
    )
    .await
    .map_err(|e| Failure::runtime(format!("cannot start the simulated GitHub: {e}")))?;
    let gitlab = GitlabServer::start(
        scenario(GITLAB_SCENARIO, "GitLab")?,
        ServerOptions::default(),
    )
    .await
    .map_err(|e| Failure::runtime(format!("cannot start the simulated GitLab: {e}")))?;
    let bitbucket = BitbucketServer::start(
        scenario(BITBUCKET_SCENARIO, "Bitbucket")?,
        ServerOptions::default(),
    )
    .await
    .map_err(|e| Failure::runtime(format!("cannot start the simulated Bitbucket: {e}")))?;
    Ok(Sims {
        github,
        gitlab,
        bitbucket,
    })
}

/// Writes a token file readable only by its owner, as `token_file` requires.
fn write_private(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn write_config(dir: &Path, sims: &Sims) -> Result<PathBuf, Failure> {
    let io =
        |e: std::io::Error| Failure::runtime(format!("cannot write into {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let token_file = dir.join("github-token");
    write_private(&token_file, sims.github.token()).map_err(io)?;
    let gitlab_token = dir.join("gitlab-token");
    write_private(&gitlab_token, sims.gitlab.token()).map_err(io)?;
    let (bitbucket_user, bitbucket_secret) = sims.bitbucket.credential();
    let bitbucket_token = dir.join("bitbucket-token");
    write_private(&bitbucket_token, bitbucket_secret).map_err(io)?;
    let bitbucket_user = bitbucket_user.unwrap_or("ops@acme.example").to_string();
    let db = dir.join("orgsync.db");
    let text = format!(
        r#"# Written by `orgsync demo`: the configuration it used, against simulated providers.
# Copy it, point api_url at the real service and the token files at real tokens.

[directory]
url = "sqlite://{db}"

[daemon]
schedule = "*/15 * * * *"
timezone = "UTC"
listen = "127.0.0.1:9464"

[safety]
max_offboard_percent = 10
max_offboard_count = 5

[[workspace]]
name = "acme-github"
provider = "github"
organization = "acme"
api_url = "{github}"
token_file = "{token}"
exclude_archived = true

[[workspace]]
name = "platform-gitlab"
provider = "gitlab"
group = "platform"
api_url = "{gitlab}"
token_file = "{gitlab_token}"

[[workspace]]
name = "mobile-bitbucket"
provider = "bitbucket"
workspace = "acme-mobile"
api_url = "{bitbucket}"
username = "{bitbucket_user}"
token_file = "{bitbucket_token}"
"#,
        db = db.display(),
        github = sims.github.base_url(),
        token = token_file.display(),
        gitlab = sims.gitlab.base_url(),
        gitlab_token = gitlab_token.display(),
        bitbucket = sims.bitbucket.base_url(),
        bitbucket_token = bitbucket_token.display(),
    );
    let path = dir.join("orgsync.toml");
    std::fs::write(&path, text).map_err(io)?;
    Ok(path)
}

async fn sync_all(
    config: &Config,
    store: &Store,
    paint: &Paint,
    out: &mut String,
) -> Result<Vec<RunReport>, Failure> {
    let ctx = crate::app::provider_context(
        config,
        store,
        std::sync::Arc::new(orgsync_core::http::NoopObserver),
    )?;
    let mut reports = Vec::new();
    for ws in &config.workspaces {
        let provider = crate::app::provider(ws, &ctx);
        let report = sync_workspace(
            store,
            ws,
            &config.safety,
            provider.as_ref(),
            &RunOptions::new("demo"),
        )
        .await?;
        let _ = writeln!(
            out,
            "{}",
            paint.wrap(term::HEADING, &format!("{} ({}):", ws.name, ws.provider))
        );
        let lines = summary(&report.plan);
        if lines.is_empty() && report.outcome != RunOutcome::Failed {
            let _ = writeln!(out, "  no changes");
        }
        for line in lines {
            let _ = writeln!(out, "{}", paint.line(&format!("  {line}")));
        }
        match report.outcome {
            RunOutcome::Ok => {
                let _ = writeln!(
                    out,
                    "  applied: {} request(s) to the provider, {} answered from cache",
                    report.requests, report.requests_not_modified
                );
            }
            RunOutcome::Aborted => {
                for trip in &report.guard_trips {
                    let _ = writeln!(
                        out,
                        "{}",
                        paint.line(&format!("  ABORTED by a guard: {trip}"))
                    );
                }
                let _ = writeln!(
                    out,
                    "  HELD, nothing was changed: an admin reviews it with `orgsync plans show --workspace {0}` and applies it as read with `orgsync approve --workspace {0}`",
                    ws.name
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  FAILED, nothing changed: {}",
                    report.error.as_deref().unwrap_or("")
                );
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The plan, condensed to fit a terminal: onboardings on one line, team bookkeeping counted,
/// and every offboarding, rename and role change on its own line with its reason.
fn summary(plan: &crate::sync::Plan) -> Vec<String> {
    use crate::sync::Change;
    let mut lines = Vec::new();
    let onboarded: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Onboard { login, role, .. } => Some(format!("{login} ({role})")),
            _ => None,
        })
        .collect();
    // Wrapped to fit a terminal: the first line says what it is, the others continue the list.
    let mut current = String::from("+ onboard");
    for (i, who) in onboarded.iter().enumerate() {
        let piece = if i + 1 < onboarded.len() {
            format!(" {who},")
        } else {
            format!(" {who}")
        };
        if current.len() + piece.len() > 96 && current != "+ onboard" {
            lines.push(std::mem::replace(&mut current, String::from("+        ")));
        }
        current.push_str(&piece);
    }
    if !onboarded.is_empty() {
        lines.push(current);
    }
    let teams: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::TeamCreate {
                slug,
                parent: Some(p),
                ..
            } => Some(format!("{slug} (in {p})")),
            Change::TeamCreate { slug, .. } => Some(slug.clone()),
            _ => None,
        })
        .collect();
    if !teams.is_empty() {
        lines.push(format!(
            "+ {} team(s): {}; {} team membership(s), {} repository grant(s)",
            teams.len(),
            teams.join(", "),
            plan.tally()[crate::sync::ChangeKind::TeamMemberAdd],
            plan.tally()[crate::sync::ChangeKind::TeamRepositoryGrant]
        ));
    }
    for c in &plan.changes {
        match c {
            Change::Onboard { .. }
            | Change::TeamCreate { .. }
            | Change::RepositoryUpsert { .. }
            | Change::RepositoryRemove { .. } => {}
            Change::TeamMemberAdd { .. } | Change::TeamRepositoryGrant { .. }
                if !teams.is_empty() => {}
            other => lines.push(other.to_string()),
        }
    }
    lines
}

/// Who the last run of each workspace did not admit, and why: from the evidence the run kept
/// and the engine's own admission rule (what `orgsync users list --state refused` prints).
async fn not_admitted(config: &Config, store: &Store) -> Result<String, Failure> {
    let mut out = String::new();
    for ws in &config.workspaces {
        let Some((_, _, json)) = store.evidence(&ws.name).await? else {
            continue;
        };
        let Ok(snapshot) = serde_json::from_str::<orgsync_core::Snapshot>(&json) else {
            continue;
        };
        let refused: Vec<String> = crate::sync::admit(&snapshot, ws)
            .refused
            .values()
            .map(|(login, reason)| format!("{login} ({reason})"))
            .collect();
        if !refused.is_empty() {
            let _ = writeln!(out, "  not admitted in {}: {}", ws.name, refused.join(", "));
        }
    }
    Ok(out)
}

async fn directory_table(store: &Store) -> Result<String, Failure> {
    let rows: Vec<Vec<String>> = store
        .list_users(None, None)
        .await?
        .into_iter()
        .map(|u| {
            vec![
                u.workspace,
                u.login.unwrap_or_default(),
                u.role,
                u.state,
                if u.teams.is_empty() {
                    "-".into()
                } else {
                    u.teams.join(",")
                },
                u.reason.unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    Ok(table(
        &["WORKSPACE", "LOGIN", "ROLE", "STATE", "TEAMS", "REASON"],
        &rows,
    ))
}

/// Runs the demo; `keep` is where its files stay (a temporary folder otherwise).
pub async fn run(keep: Option<PathBuf>) -> Result<u8, Failure> {
    let paint = Paint;
    let temp;
    let dir = match keep {
        Some(d) => d,
        None => {
            temp = tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let sims = start_sims().await?;
    let config_path = write_config(&dir, &sims)?;
    let config = crate::app::load_config(&config_path)?;
    let store = crate::app::open_store(&config).await?;
    let mut out = String::new();

    let _ = writeln!(
        out,
        "{}",
        paint.wrap(
            term::HEADING,
            "orgsync demo: simulated providers on loopback, one SQLite directory"
        )
    );
    let _ = writeln!(
        out,
        "  github     {}  organisation acme",
        sims.github.base_url()
    );
    let _ = writeln!(
        out,
        "  gitlab     {}  group platform",
        sims.gitlab.base_url()
    );
    let _ = writeln!(
        out,
        "  bitbucket  {}  workspace acme-mobile",
        sims.bitbucket.base_url()
    );
    let _ = writeln!(out, "  config     {}", config_path.display());
    let _ = writeln!(out, "  directory  {}", dir.join("orgsync.db").display());
    let _ = writeln!(
        out,
        "  rule       admit members who can read every repository (archived ones excluded)"
    );

    let _ = writeln!(out, "{}", paint.heading("1. First sync: who gets in"));
    sync_all(&config, &store, &paint, &mut out).await?;
    let _ = writeln!(out, "{}", paint.heading("The directory"));
    out.push_str(&directory_table(&store).await?);
    out.push_str(&not_admitted(&config, &store).await?);

    let _ = writeln!(out, "{}", paint.heading("2. The world changes"));
    let gh = &sims.github;
    let mutate = |m: GithubMutation| async move {
        gh.mutate(m)
            .await
            .map_err(|e| Failure::runtime(format!("the simulator refused a change: {e}")))
    };
    mutate(GithubMutation::RemoveMember {
        org: "acme".into(),
        login: "gina".into(),
    })
    .await?;
    let _ = writeln!(out, "  github: gina left acme");
    mutate(GithubMutation::RemoveCollaborator {
        org: "acme".into(),
        repo: "infra".into(),
        login: "carol".into(),
    })
    .await?;
    let _ = writeln!(out, "  github: carol lost her direct access to infra");
    mutate(GithubMutation::RenameLogin {
        login: "hank".into(),
        new_login: "hank-the-great".into(),
    })
    .await?;
    let _ = writeln!(out, "  github: hank renamed himself hank-the-great");
    sims.gitlab
        .mutate(GitlabMutation::RemoveGroupMember {
            group: 1,
            user: 2004,
        })
        .await
        .map_err(|e| Failure::runtime(format!("the simulator refused a change: {e}")))?;
    let _ = writeln!(out, "  gitlab: dan left platform");
    sims.bitbucket
        .mutate(BitbucketMutation::RemoveMember {
            workspace: "acme-mobile".into(),
            user: "{d0000000-0000-4000-8000-000000000004}".into(),
        })
        .await
        .map_err(|e| Failure::runtime(format!("the simulator refused a change: {e}")))?;
    let _ = writeln!(out, "  bitbucket: uma left acme-mobile");
    let _ = writeln!(
        out,
        "{}",
        paint.heading("Second sync: the plan, with reasons")
    );
    sync_all(&config, &store, &paint, &mut out).await?;

    let _ = writeln!(out, "{}", paint.heading("3. A mass removal"));
    for login in ["ivy", "jack", "kim", "leo", "mia", "ned", "opal", "pat"] {
        mutate(GithubMutation::RemoveMember {
            org: "acme".into(),
            login: login.into(),
        })
        .await?;
    }
    let _ = writeln!(
        out,
        "  github: the eight members of team support were removed at once (an API hiccup, a bad script?)"
    );
    sync_all(&config, &store, &paint, &mut out).await?;

    let _ = writeln!(out, "{}", paint.heading("The directory now"));
    out.push_str(&directory_table(&store).await?);
    let _ = writeln!(out, "{}", paint.heading("Audit trail (latest 12 events)"));
    let audit = store.audit(None, None, None).await?;
    let rows: Vec<Vec<String>> = audit
        .iter()
        .rev()
        .take(12)
        .rev()
        .map(|a| {
            vec![
                a.at.format("%H:%M:%S").to_string(),
                a.workspace.clone().unwrap_or_default(),
                a.action.clone(),
                a.subject.clone(),
                crate::text::summarise_detail(&a.detail),
            ]
        })
        .collect();
    out.push_str(&table(
        &["TIME", "WORKSPACE", "ACTION", "SUBJECT", "DETAIL"],
        &rows,
    ));

    let _ = writeln!(out, "{}", paint.heading("What next"));
    if dir_is_temp(&dir, &temp_marker()) {
        for line in [
            "  orgsync demo --keep ./orgsync-demo                        # keep its config and directory",
            "  orgsync --config ./orgsync-demo/orgsync.toml users list   # then: the directory",
            "  orgsync --config ./orgsync-demo/orgsync.toml audit        # every change, with reasons",
        ] {
            let _ = writeln!(out, "{line}");
        }
    } else {
        let path = config_path.display();
        let _ = writeln!(
            out,
            "  orgsync --config {path} users list   # the directory"
        );
        let _ = writeln!(
            out,
            "  orgsync --config {path} audit        # every change, with reasons"
        );
    }
    let _ = writeln!(
        out,
        "  orgsync check-config --online --config YOUR.toml   # with a real token: are the scopes right?"
    );
    let _ = writeln!(
        out,
        "  systemd/orgsync.service and the README's \"Install with systemd\" to run it as a service"
    );
    term::raw(&out);
    store.close().await;
    Ok(EXIT_OK)
}

fn temp_marker() -> PathBuf {
    std::env::temp_dir()
}

fn dir_is_temp(dir: &Path, temp: &Path) -> bool {
    dir.starts_with(temp)
}

struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir, Failure> {
    let dir = std::env::temp_dir().join(format!("orgsync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
    Ok(TempDir(dir))
}

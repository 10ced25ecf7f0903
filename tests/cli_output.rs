//! What the `orgsync` binary prints, as an operator meets it: through a pipe whose reader
//! closes, on a terminal or not, with `NO_COLOR`, and with hostile provider text in the
//! directory (an escape sequence in a team name, a newline in a display name).

mod support;

use orgsync::run::{RunOptions, sync_workspace};
use orgsync_core::{FixedProvider, TeamRole};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;

/// A team name that retitles an xterm and rings its bell.
const HOSTILE_TEAM: &str = "x\u{1b}]0;pwned\u{7}";
/// A login that clears the screen.
const HOSTILE_LOGIN: &str = "eve\u{1b}[2J";
/// A display name that forges a line of `users list`.
const FORGED_NAME: &str = "Mallory\nacme  999  root  Root  admin  active  sync  -  -";

fn orgsync(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    c.env_remove("ORGSYNC_CONFIG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .arg("--config")
        .arg(config);
    c
}

fn write_config(dir: &Path, workspaces: &[&str]) -> PathBuf {
    let mut text = format!(
        "[directory]\nurl = \"sqlite://{}\"\n[safety]\nmax_offboard_percent = 10\nmax_offboard_count = 2\n",
        dir.join("d.db").display()
    );
    for w in workspaces {
        text.push_str(&format!(
            "[[workspace]]\nname = \"{w}\"\nprovider = \"github\"\norganization = \"{w}\"\ntoken_env = \"T\"\n"
        ));
    }
    let path = dir.join("o.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A directory with `extra` plain members besides an owner and a hostile one, who is in a team
/// with a hostile name; the teams could not all be read, for a hostile reason.
async fn directory(extra: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(dir.path(), &["acme"]);
    let config = orgsync::config::Config::load(&path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    let mut hostile = reads_all(2, HOSTILE_LOGIN);
    hostile.name = Some(FORGED_NAME.to_string());
    let mut members = vec![owner(1, "olivia"), hostile];
    members.extend((0..extra).map(|i| reads_all(100 + i, &format!("member-{i:05}"))));
    let snap = snapshot(
        members,
        Some(vec![team(
            HOSTILE_TEAM,
            None,
            &[(2, TeamRole::Maintainer), (1, TeamRole::Member)],
            &[],
        )]),
    );
    let mut options = RunOptions::new("test");
    // A cold start of thousands of people is what the admit guard exists for: force it here.
    options.force = true;
    sync_workspace(
        &store,
        &config.workspaces[0],
        &config.safety,
        &FixedProvider::new(snap),
        &options,
    )
    .await
    .expect("sync");
    store.close().await;
    (dir, path)
}

/// Runs `args`, reads one line of standard output and closes the pipe, as `| head -1` does.
fn read_one_line_and_close(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = orgsync(config)
        .args(args)
        // Quiet logs: a slow-statement warning on a busy machine is not what is tested here.
        .env("ORGSYNC_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    // The reader is dropped here: the pipe is closed while the command still writes.
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        first,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn listing_commands_end_quietly_with_exit_0_when_the_reader_closes_the_pipe() {
    // 2,000 people: more than a pipe buffer holds, so the writer meets the closed pipe.
    let (_dir, config) = directory(2000).await;
    for args in [
        &["users", "list"][..],
        &["users", "list", "--json"],
        &["audit", "--limit", "0"],
        &["audit", "--json", "--limit", "0"],
    ] {
        let (code, first, stderr) = read_one_line_and_close(&config, args);
        assert!(!first.is_empty(), "{args:?}: no first line");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.is_empty(), "{args:?}: not quiet: {stderr}");
    }
}

fn assert_inert(what: &str, text: &str) {
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{what}: a raw control character reached the output:\n{text:?}"
    );
}

#[tokio::test]
async fn provider_text_is_escaped_in_tables_audit_explain_and_json_stays_exact() {
    let (_dir, config) = directory(0).await;
    let run = |args: &[&str]| {
        let out = orgsync(&config).args(args).output().expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };

    let users = run(&["users", "list"]);
    assert_inert("users list", &users);
    // A header and one line per person: the newline in the display name forged nothing.
    assert_eq!(users.lines().count(), 3, "{users}");
    assert!(
        !users.lines().any(|l| l.starts_with("acme  999")),
        "{users}"
    );
    assert!(users.contains("eve\\u{1b}[2J"), "{users}");
    assert!(users.contains("Mallory\\nacme"), "{users}");
    assert!(users.contains("x\\u{1b}]0;pwned\\u{7}"), "{users}");

    let teams = run(&["teams", "list"]);
    assert_inert("teams list", &teams);
    assert_eq!(teams.lines().count(), 2, "{teams}");
    assert!(teams.contains("x\\u{1b}]0;pwned\\u{7}"), "{teams}");

    let audit = run(&["audit"]);
    assert_inert("audit", &audit);
    assert!(audit.contains("eve\\u{1b}[2J"), "{audit}");

    let explain = run(&["explain", "--workspace", "acme", "2"]);
    assert_inert("explain", &explain);
    assert!(explain.contains("eve\\u{1b}[2J"), "{explain}");

    let status = run(&["status"]);
    assert_inert("status", &status);
    // Counts lead: the state of every workspace before the table.
    assert!(status.starts_with("1 workspace(s): 1 ok\n"), "{status}");
    assert!(status.contains("(+2 onboarded, -0 offboarded)"), "{status}");

    // JSON is for programs: the exact text, escaped by JSON itself.
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&run(&["users", "list", "--json"])).expect("json");
    assert!(
        json.iter()
            .any(|u| u["login"] == HOSTILE_LOGIN && u["name"] == FORGED_NAME),
        "{json:?}"
    );
}

#[tokio::test]
async fn a_plan_with_hostile_names_prints_one_line_per_change() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(dir.path(), &["acme"]);
    let config = orgsync::config::Config::load(&path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    let mut hostile = reads_all(2, HOSTILE_LOGIN);
    hostile.name = Some(FORGED_NAME.to_string());
    let snap = snapshot(
        vec![owner(1, "olivia"), hostile],
        Some(vec![team(
            HOSTILE_TEAM,
            None,
            &[(2, TeamRole::Member)],
            &[],
        )]),
    );
    let mut options = RunOptions::new("test");
    options.dry_run = true;
    let report = sync_workspace(
        &store,
        &config.workspaces[0],
        &config.safety,
        &FixedProvider::new(snap),
        &options,
    )
    .await
    .expect("dry run");
    let text = report.plan.to_string();
    assert_inert("plan", &text);
    // The heading, then one line per change a person reviews.
    let shown = report.plan.people_and_teams().count();
    assert_eq!(text.lines().count(), 1 + shown + 1, "{text}");
    assert!(text.contains("+ onboard eve\\u{1b}[2J (id 2)"), "{text}");
    // The first line counts the changes by kind.
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "acme: {} change(s): 2 onboard, ",
            report.plan.changes.len()
        )),
        "{first}"
    );
    assert!(text.contains("+ team x\\u{1b}]0;pwned\\u{7}"), "{text}");
}

/// A held plan: the second sync offboards everyone but the owner, beyond the guard.
async fn held_directory() -> (tempfile::TempDir, PathBuf) {
    let (dir, config_path) = directory(5).await;
    let config = orgsync::config::Config::load(&config_path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    let report = sync_workspace(
        &store,
        &config.workspaces[0],
        &config.safety,
        &FixedProvider::new(snapshot(vec![owner(1, "olivia")], Some(vec![]))),
        &RunOptions::new("test"),
    )
    .await
    .expect("sync");
    assert!(report.held, "the guard holds this plan");
    store.close().await;
    (dir, config_path)
}

/// Runs `orgsync ARGS` on a pseudo-terminal (util-linux `script`) and returns what it printed.
fn on_a_terminal(config: &Path, args: &str, no_color: bool) -> String {
    let command = format!(
        "{} --config {} {args}",
        env!("CARGO_BIN_EXE_orgsync"),
        config.display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm")
        .stdin(Stdio::null());
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = c.output().expect("script(1) from util-linux");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn colour_only_on_a_terminal_and_never_with_no_color() {
    let (_dir, config) = held_directory().await;
    // On a terminal: the offboards in red.
    let tty = on_a_terminal(&config, "plans show --workspace acme", false);
    assert!(tty.contains("\u{1b}[31m  - offboard"), "{tty:?}");
    // NO_COLOR on the same terminal: none.
    let plain = on_a_terminal(&config, "plans show --workspace acme", true);
    assert!(plain.contains("- offboard"), "{plain:?}");
    assert!(
        plain.contains("acme: 7 change(s): 6 offboard, 1 team_delete"),
        "{plain:?}"
    );
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    // Through a pipe: none, and none on standard error either (a warning is logged there).
    let out = orgsync(&config)
        .args(["plans", "show", "--workspace", "acme"])
        .env("ORGSYNC_LOG", "debug")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("- offboard"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn every_option_and_argument_has_help_text() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let path = format!("{path} {}", cmd.get_name());
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path}: {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(format!("{path} {}: the command", sub.get_name()));
            }
            walk(sub, &path, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&orgsync::cli::command(), "", &mut missing);
    assert!(
        missing.is_empty(),
        "without help text:\n{}",
        missing.join("\n")
    );
}

#[tokio::test]
async fn audit_is_newest_first_and_limited() {
    let (_dir, config) = directory(150).await;
    let out = orgsync(&config)
        .args(["audit", "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(events.len(), 100, "the default limit");
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let out = orgsync(&config)
        .args(["audit", "--limit", "3"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 4, "a header and 3 events: {text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--limit"),
        "says that more exist"
    );

    let all = orgsync(&config)
        .args(["audit", "--json", "--limit", "0", "--since", "1day 2h"])
        .output()
        .expect("run");
    let all: Vec<serde_json::Value> = serde_json::from_slice(&all.stdout).expect("json");
    assert!(all.len() > 150, "{}", all.len());
    let newest = all.iter().filter_map(|e| e["id"].as_i64()).max();
    assert_eq!(
        Some(ids[0]),
        newest,
        "the limited list starts at the newest event"
    );
    assert_eq!(
        ids[99],
        all[99]["id"].as_i64().expect("id"),
        "the same order"
    );
    let bad = orgsync(&config)
        .args(["audit", "--since", "yesterday-ish"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn people_are_named_by_login_or_id_and_an_ambiguous_login_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(dir.path(), &["acme", "beta"]);
    let config = orgsync::config::Config::load(&path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    // `sam` is two different people (two provider ids) in two workspaces.
    for (ws, sam_id) in [(0, 7), (1, 8)] {
        sync_workspace(
            &store,
            &config.workspaces[ws],
            &config.safety,
            &FixedProvider::new(snapshot(
                vec![owner(1, "olivia"), reads_all(sam_id, "sam")],
                None,
            )),
            &RunOptions::new("test"),
        )
        .await
        .expect("sync");
    }
    store.close().await;

    // Per workspace, the login names one person.
    let out = orgsync(&path)
        .args(["users", "suspend", "--workspace", "acme", "--user", "SAM"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = orgsync(&path)
        .args(["users", "list", "--json", "--state", "suspended"])
        .output()
        .expect("run");
    let users: Vec<serde_json::Value> = serde_json::from_slice(&users.stdout).expect("json");
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["workspace"], "acme");
    assert_eq!(users[0]["login"], "sam");

    // Across workspaces it names two: refused, with both ids.
    let out = orgsync(&path)
        .args(["identities", "list", "--user", "sam"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ambiguous"), "{stderr}");
    assert!(
        stderr.contains("(in acme)") && stderr.contains("(in beta)"),
        "{stderr}"
    );

    // An unknown login is a usage error that says where to look.
    let out = orgsync(&path)
        .args([
            "users",
            "unsuspend",
            "--workspace",
            "acme",
            "--user",
            "nobody",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("users list"));

    // Unknown values of the enumerated options are refused by the parser, with the choices.
    let out = orgsync(&path)
        .args(["users", "list", "--state", "gone"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
}

/// Captures what the log subscriber writes, as the binary's `--log-format json` does.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn field_names(line: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = line["fields"]
        .as_object()
        .expect("fields")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_run_logs_one_json_line_with_its_run_id_and_the_same_fields_and_a_line_per_change_at_debug()
 {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(dir.path(), &["acme"]);
    let config = orgsync::config::Config::load(&path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    let ws = &config.workspaces[0];
    let people: Vec<_> = (1..=8).map(|i| reads_all(i, &format!("p{i}"))).collect();
    let provider = FixedProvider::new(snapshot(
        std::iter::once(owner(100, "olivia"))
            .chain(people)
            .collect(),
        Some(vec![]),
    ));
    let mut reports = Vec::new();
    let mut dry = RunOptions::new("test");
    dry.dry_run = true;
    reports.push(
        sync_workspace(&store, ws, &config.safety, &provider, &dry)
            .await
            .expect("dry run"),
    );
    let mut force = RunOptions::new("test");
    force.force = true;
    reports.push(
        sync_workspace(&store, ws, &config.safety, &provider, &force)
            .await
            .expect("ok"),
    );
    // Everyone but the owner leaves: held by the guard.
    provider.set(snapshot(vec![owner(100, "olivia")], Some(vec![])));
    reports.push(
        sync_workspace(
            &store,
            ws,
            &config.safety,
            &provider,
            &RunOptions::new("test"),
        )
        .await
        .expect("held"),
    );
    provider.fail("the provider is down");
    reports.push(
        sync_workspace(
            &store,
            ws,
            &config.safety,
            &provider,
            &RunOptions::new("test"),
        )
        .await
        .expect("failed"),
    );
    let outcomes: Vec<&str> = reports.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["dry_run", "ok", "aborted", "failed"]);

    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for r in &reports {
            orgsync::runlog::log(r);
        }
    });
    let lines = json_lines(&captured.0.lock().expect("lock"));
    let runs: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == orgsync::runlog::RUN_MESSAGE)
        .collect();
    assert_eq!(runs.len(), 4, "one line per run: {lines:?}");
    let names = field_names(runs[0]);
    for (line, report) in runs.iter().zip(&reports) {
        assert_eq!(field_names(line), names, "the same fields: {line}");
        assert_eq!(line["fields"]["run_id"].as_i64(), report.run_id, "{line}");
        assert_eq!(line["fields"]["outcome"], report.outcome.as_str());
    }
    for field in [
        "run_id",
        "outcome",
        "changes",
        "error",
        "guard_trips",
        "held",
    ] {
        assert!(names.contains(&field.to_string()), "{field} in {names:?}");
    }
    assert_eq!(runs[2]["fields"]["held"], true);
    assert_eq!(runs[2]["fields"]["guard_trips"], "offboard_threshold");
    assert!(
        runs[3]["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("the provider is down")),
        "{}",
        runs[3]
    );
    // At debug, a line per change, each with its run.
    let changes = lines
        .iter()
        .filter(|l| l["fields"]["message"] == orgsync::runlog::CHANGE_MESSAGE)
        .count();
    let planned: usize = reports.iter().map(|r| r.plan.changes.len()).sum();
    assert!(planned > 0);
    assert_eq!(changes, planned);
}

#[test]
fn a_refused_connection_fails_the_run_in_seconds_and_logs_it() {
    let dir = tempfile::tempdir().expect("dir");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let path = dir.path().join("o.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n[[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"acme\"\ntoken_env = \"ORGSYNC_TEST_TOKEN\"\napi_url = \"http://127.0.0.1:{port}\"\n",
            dir.path().join("d.db").display()
        ),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let out = orgsync(&path)
        .args(["--log-format", "json", "sync"])
        .env("ORGSYNC_TEST_TOKEN", "not-a-real-token")
        .env_remove("ORGSYNC_LOG")
        .output()
        .expect("run");
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two connection attempts half a second apart, not eight over a minute and a half.
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme: FAILED"), "{stdout}");
    let lines = json_lines(&out.stderr);
    let run = lines
        .iter()
        .find(|l| l["fields"]["message"] == orgsync::runlog::RUN_MESSAGE)
        .unwrap_or_else(|| panic!("no run line: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(run["fields"]["outcome"], "failed");
    assert!(
        run["fields"]["run_id"].as_i64().is_some_and(|id| id > 0),
        "{run}"
    );
    let error = run["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("no connection could be opened"), "{error}");
    assert!(!error.contains("not-a-real-token"), "{error}");
}

#[test]
fn check_config_warns_about_what_will_fail_here_but_passes_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(
        &empty,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n",
            dir.path().join("d.db").display()
        ),
    )
    .expect("write");
    let out = orgsync(&empty).arg("check-config").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no [[workspace]]"), "{stderr}");

    let path = write_config(dir.path(), &["acme"]);
    let out = orgsync(&path)
        .arg("check-config")
        .env_remove("T")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token_env T is not set"), "{stderr}");
    let out = orgsync(&path)
        .arg("check-config")
        .env("T", "a-token")
        .output()
        .expect("run");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_fetch_off_a_terminal_logs_its_progress_per_workspace() {
    use orgsync_core::http::HttpObserver;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(captured.clone())
        .finish();
    // Every request is "a few seconds later" with an interval of zero.
    let progress = orgsync::cli::progress::Progress::new(false, std::time::Duration::ZERO);
    tracing::subscriber::with_default(subscriber, || {
        for (i, ws) in ["acme", "beta", "acme"].into_iter().enumerate() {
            progress.request_finished(&orgsync_core::http::RequestEvent {
                provider: orgsync_core::ProviderKind::Github,
                workspace: ws,
                route: "/orgs/{org}/members",
                status: Some(if i == 2 { 304 } else { 200 }),
                from_cache: i == 2,
                duration: std::time::Duration::from_millis(5),
                attempt: 1,
            });
        }
        progress.finish("acme");
    });
    let lines = json_lines(&captured.0.lock().expect("lock"));
    let progress: Vec<(String, u64, u64)> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == orgsync::cli::progress::PROGRESS_MESSAGE)
        .map(|l| {
            (
                l["fields"]["workspace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                l["fields"]["requests"].as_u64().unwrap_or_default(),
                l["fields"]["from_cache"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        vec![
            ("acme".to_string(), 1, 0),
            ("beta".to_string(), 1, 0),
            ("acme".to_string(), 2, 1),
        ]
    );
}

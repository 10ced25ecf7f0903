//! The `orgsync` binary: exit codes, located errors, JSON output.

mod support;

use orgsync::run::{RunOptions, sync_workspace};
use orgsync_core::FixedProvider;
use std::process::Command;
use support::*;

fn orgsync() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    c.env_remove("ORGSYNC_CONFIG");
    c
}

#[test]
fn check_config_on_a_broken_file_exits_2_and_names_line_and_column() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "[directory]\nurl = \"sqlite://x.db\"\n[[workspace]]\nname = \"a\"\nprovider = \"gitea\"\ntoken_env = \"T\"\n",
    )
    .expect("write");
    let out = orgsync()
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.toml:5:12: unknown provider `gitea`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn check_config_accepts_the_example() {
    let out = orgsync()
        .args(["check-config", "config/orgsync.example.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 workspace(s)"));
}

#[test]
fn missing_config_file_is_a_usage_error_that_says_what_to_do() {
    let out = orgsync()
        .args(["--config", "/nonexistent/orgsync.toml", "status"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ORGSYNC_CONFIG"));
}

#[test]
fn unknown_workspace_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("o.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_env = \"T\"\n",
            dir.path().join("d.db").display()
        ),
    )
    .expect("write");
    let out = orgsync()
        .arg("--config")
        .arg(&path)
        .args(["sync", "--workspace", "nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workspace named `nope`"));
}

#[test]
fn force_needs_exactly_one_workspace() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("o.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_env = \"T\"\n[[workspace]]\nname = \"b\"\nprovider = \"github\"\norganization = \"p\"\ntoken_env = \"T\"\n",
            dir.path().join("d.db").display()
        ),
    )
    .expect("write");
    for args in [
        vec!["sync", "--force"],
        vec!["sync", "--force", "--workspace", "a", "--workspace", "b"],
    ] {
        let out = orgsync()
            .arg("--config")
            .arg(&path)
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("name exactly one --workspace"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        !dir.path().join("d.db").exists(),
        "refused before the directory is opened"
    );
}

/// A workspace whose client cannot be built (its token file is missing) is a failed run like
/// any other: `orgsync sync` records it with the reason and exits 1, instead of skipping it.
#[tokio::test]
async fn sync_records_a_failed_run_when_the_provider_cannot_be_built() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("d.db");
    let path = dir.path().join("o.toml");
    let missing = dir.path().join("no-such-token");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n[[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"acme\"\ntoken_file = \"{}\"\n",
            db.display(),
            missing.display()
        ),
    )
    .expect("write");
    let out = orgsync()
        .arg("--config")
        .arg(&path)
        .args(["sync", "--json"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports.len(), 1, "one report per workspace: {reports:?}");
    assert_eq!(reports[0]["outcome"], "failed");
    assert!(
        reports[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-token")),
        "the reason names the token file: {}",
        reports[0]
    );
    let config = orgsync::config::Config::load(&path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM sync_runs r JOIN workspaces w ON w.id = r.workspace_id
             WHERE w.name = 'acme' AND r.outcome = 'failed' AND r.trigger = 'cli'
               AND r.error LIKE '%no-such-token%'"
        )
        .await,
        1,
        "the failed run is recorded with its reason"
    );
    store.close().await;
}

#[tokio::test]
async fn users_list_json_has_the_documented_fields() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("d.db");
    let path = dir.path().join("o.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n[[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"acme\"\ntoken_env = \"T\"\n",
            db.display()
        ),
    )
    .expect("write");
    let config = orgsync::config::Config::load(&path).expect("config");
    let store = orgsync::directory::Store::open(&config.directory_url)
        .await
        .expect("store");
    let provider = FixedProvider::new(snapshot(
        vec![owner(1, "olivia"), reads_all(2, "bob")],
        Some(vec![team(
            "eng",
            None,
            &[(2, orgsync_core::TeamRole::Member)],
            &[],
        )]),
    ));
    sync_workspace(
        &store,
        &config.workspaces[0],
        &config.safety,
        &provider,
        &RunOptions::new("test"),
    )
    .await
    .expect("sync");
    store.close().await;
    let out = orgsync()
        .arg("--config")
        .arg(&path)
        .args(["users", "list", "--json"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(users.len(), 2);
    let bob = users.iter().find(|u| u["login"] == "bob").expect("bob");
    for field in [
        "workspace",
        "user_id",
        "provider",
        "provider_user_id",
        "login",
        "name",
        "email",
        "role",
        "state",
        "source",
        "teams",
    ] {
        assert!(bob.get(field).is_some(), "missing {field}: {bob}");
    }
    assert_eq!(bob["provider_user_id"], "2");
    assert_eq!(bob["teams"], serde_json::json!(["eng"]));
    assert_eq!(bob["source"], "sync");
    assert!(bob["email"].is_null());

    let out = orgsync()
        .arg("--config")
        .arg(&path)
        .args(["audit"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("onboard") && text.contains("olivia"),
        "{text}"
    );
    let out = orgsync()
        .arg("--config")
        .arg(&path)
        .args(["status"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("acme") && text.contains("ok"), "{text}");
}

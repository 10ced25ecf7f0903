//! `orgsync explain` and `users list --state refused`: the evidence of the last run, per in-scope
//! repository, from what the provider showed (owner, base permission, visibility, teams with
//! parents, the per-repository lists), read back from the directory by the real binary.

mod support;

use orgsync::run::{RunOptions, sync_workspace};
use orgsync::sync::explain::{Decision, Evidence, explain};
use orgsync_core::{FixedProvider, Permission, TeamRole};
use std::process::Command;
use support::*;

/// olivia owns the account; bob is in `backend`, a child of `eng`, which grants both
/// repositories; carol is in no team and cannot read `web`.
fn world() -> orgsync_core::Snapshot {
    // A parent team's members include its child teams' members, as providers list them.
    let eng = team(
        "eng",
        None,
        &[(2, TeamRole::Member)],
        &[("api", Permission::Read), ("web", Permission::Write)],
    );
    let backend = team("backend", Some("eng"), &[(2, TeamRole::Member)], &[]);
    snapshot(
        vec![
            owner(1, "olivia"),
            reads_all(2, "bob"),
            cannot_read(3, "carol", "web"),
        ],
        Some(vec![eng, backend]),
    )
}

#[test]
fn a_member_refused_for_one_repository_is_shown_that_repository_and_its_evidence() {
    let config = config("");
    let e = explain(&world(), workspace(&config), "carol");
    assert!(matches!(e.decision, Decision::Refused { .. }), "{e:?}");
    let web = e
        .repositories
        .iter()
        .find(|(r, _)| r == "web")
        .expect("web");
    assert_eq!(web.1, Evidence::CannotRead);
    assert!(web.1.to_string().contains("CANNOT READ"));
}

#[test]
fn an_owner_is_explained_as_owner_on_every_repository() {
    let config = config("");
    let e = explain(&world(), workspace(&config), "OLIVIA");
    assert!(matches!(e.decision, Decision::Admitted { .. }), "{e:?}");
    assert_eq!(e.repositories.len(), 2);
    assert!(e.repositories.iter().all(|(_, ev)| *ev == Evidence::Owner));
}

#[test]
fn a_member_admitted_through_a_parent_team_is_shown_the_team() {
    let config = config("");
    let e = explain(&world(), workspace(&config), "2");
    assert!(matches!(e.decision, Decision::Admitted { .. }), "{e:?}");
    let api = e
        .repositories
        .iter()
        .find(|(r, _)| r == "api")
        .expect("api");
    assert_eq!(
        api.1,
        Evidence::Team {
            team: "eng".to_string(),
            permission: Permission::Read,
            via: Some("backend".to_string()),
        }
    );
    assert_eq!(
        api.1.to_string(),
        "team eng (read), through its child team backend"
    );
}

#[tokio::test]
async fn the_binary_explains_from_the_directory_and_lists_the_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("d.db");
    let url = format!("sqlite://{}", db.display());
    let store = orgsync::directory::Store::open(&url).await.expect("store");
    let config = config("");
    let provider = FixedProvider::new(world());
    let report = sync_workspace(
        &store,
        workspace(&config),
        &config.safety,
        &provider,
        &RunOptions::new("test"),
    )
    .await
    .expect("run");
    assert!(report.run_id.is_some());
    let path = dir.path().join("o.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"{url}\"\n[[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"acme\"\ntoken_env = \"ORGSYNC_TEST_TOKEN\"\n"
        ),
    )
    .expect("config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let carol = run(&["explain", "--workspace", "acme", "carol"]);
    assert!(
        carol.contains("NOT ADMITTED: lost access to repository web"),
        "{carol}"
    );
    assert!(carol.contains("web: CANNOT READ"), "{carol}");
    let bob = run(&["explain", "--workspace", "acme", "bob"]);
    assert!(bob.contains("ADMITTED as member"), "{bob}");
    assert!(
        bob.contains("api: team eng (read), through its child team backend"),
        "{bob}"
    );
    assert!(
        bob.contains("onboard"),
        "history from the audit trail: {bob}"
    );
    let refused = run(&["users", "list", "--state", "refused", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&refused).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{refused}");
    assert_eq!(rows[0]["login"], "carol");
    assert_eq!(rows[0]["reason"], "lost access to repository web");
}

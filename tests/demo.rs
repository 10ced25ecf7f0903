//! `orgsync demo` on a fresh machine: one command, no token, the whole story.

use std::process::Command;

#[test]
fn demo_shows_onboarding_offboarding_with_reasons_and_the_guard_for_all_three_providers() {
    let dir = tempfile::tempdir().expect("dir");
    let keep = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("demo")
        .arg("--keep")
        .arg(&keep)
        .current_dir(dir.path())
        .env_remove("ORGSYNC_CONFIG")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for provider in ["(github)", "(gitlab)", "(bitbucket)"] {
        assert!(stdout.contains(provider), "{provider} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("+ onboard olivia"),
        "an onboarding:\n{stdout}"
    );
    assert!(
        stdout.contains("- offboard gina: left the account"),
        "{stdout}"
    );
    assert!(
        stdout.contains("- offboard carol: lost access to repository infra"),
        "{stdout}"
    );
    assert!(
        stdout.contains("~ rename hank -> hank-the-great"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ABORTED by a guard"),
        "the guard's refusal:\n{stdout}"
    );
    assert!(
        !stdout.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
    // What it wrote can be read and reused.
    let config = keep.join("orgsync.toml");
    assert!(config.exists());
    let users = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&config)
        .args(["users", "list", "--json"])
        .output()
        .expect("users list");
    assert_eq!(users.status.code(), Some(0));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&users.stdout).expect("json");
    let gina = rows.iter().find(|r| r["login"] == "gina").expect("gina");
    assert_eq!(gina["state"], "offboarded");
    let ivy = rows.iter().find(|r| r["login"] == "ivy").expect("ivy");
    assert_eq!(
        ivy["state"], "active",
        "the guard kept the mass removal out"
    );
}

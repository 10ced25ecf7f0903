//! The files the Debian package ships besides the binary: `orgsync-gen` renders a man page per
//! command and the bash, zsh and fish completions from the parser's own definition
//! (`.ci/package-check` builds and checks the package itself).

use std::process::Command;

#[test]
fn orgsync_gen_writes_a_man_page_per_command_and_three_completions() {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_orgsync-gen"))
        .arg(dir.path())
        .output()
        .expect("orgsync-gen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One page per command and subcommand of the real parser, nothing else.
    let mut want = Vec::new();
    fn walk(cmd: &clap::Command, prefix: &str, want: &mut Vec<String>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        want.push(format!("{name}.1"));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, &name, want);
        }
    }
    walk(&orgsync::cli::command(), "", &mut want);
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(dir.path().join("man"))
        .expect("man folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert!(want.contains(&"orgsync-check-config.1".to_string()));
    let sync = std::fs::read_to_string(dir.path().join("man/orgsync-sync.1")).expect("page");
    assert!(
        sync.starts_with(".ie") || sync.contains(".TH orgsync-sync 1"),
        "{sync}"
    );
    assert!(
        sync.contains("dry\\-run"),
        "the options are documented:\n{sync}"
    );

    for (file, needle) in [
        ("orgsync.bash", "check-config"),
        ("_orgsync", "#compdef orgsync"),
        ("orgsync.fish", "complete -c orgsync"),
    ] {
        let text = std::fs::read_to_string(dir.path().join("completions").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(needle), "{file} lacks {needle:?}");
    }
    let bash = Command::new("bash")
        .arg("-n")
        .arg(dir.path().join("completions/orgsync.bash"))
        .status()
        .expect("bash");
    assert!(bash.success(), "the bash completion parses");
}

#[test]
fn orgsync_gen_without_a_folder_says_how_to_call_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_orgsync-gen"))
        .output()
        .expect("orgsync-gen runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: orgsync-gen OUT_DIR"));
}

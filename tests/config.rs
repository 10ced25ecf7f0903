//! The configuration file: valid examples load, every mistake is located by line and column.

use orgsync::config::Config;
use std::path::Path;

fn errors(text: &str) -> Vec<String> {
    Config::parse(text, Path::new("c.toml"))
        .expect_err("the file is invalid")
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

const HEAD: &str = "[directory]\nurl = \"sqlite://x.db\"\n";

#[test]
fn example_config_is_valid_and_covers_all_three_providers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/orgsync.example.toml");
    let text = std::fs::read_to_string(&path).expect("example config");
    let config = Config::parse(&text, &path).expect("the example is valid");
    let providers: Vec<_> = config
        .workspaces
        .iter()
        .map(|w| w.provider.as_str())
        .collect();
    assert_eq!(providers, vec!["github", "gitlab", "bitbucket"]);
    assert_eq!(config.daemon.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(config.workspaces[0].map_role("admin"), "admin");
}

#[test]
fn syntax_error_names_line_and_column() {
    let e = errors("[directory]\nurl = \"sqlite://x.db\"\n\n[daemon\nschedule = 1\n");
    assert!(e[0].starts_with("c.toml:4:"), "{e:?}");
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let e = errors(&format!("{HEAD}[daemon]\nschedul = \"* * * * *\"\n"));
    assert!(e[0].starts_with("c.toml:4:1:"), "{e:?}");
    assert!(e[0].contains("schedul"), "{e:?}");
}

#[test]
fn unknown_provider_is_located() {
    let e = errors(&format!(
        "{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"gitea\"\ntoken_env = \"T\"\n"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("c.toml:5:12:"), "{e:?}");
    assert!(e[0].contains("unknown provider `gitea`"), "{e:?}");
}

#[test]
fn bad_cron_and_unknown_time_zone_are_located() {
    let e = errors(&format!(
        "{HEAD}[daemon]\nschedule = \"61 * * * *\"\ntimezone = \"Mars/Olympus\"\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("c.toml:4:12:"), "{e:?}");
    assert!(
        e[1].starts_with("c.toml:5:12:") && e[1].contains("IANA"),
        "{e:?}"
    );
}

#[test]
fn missing_credentials_are_reported() {
    let e = errors(&format!(
        "{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"acme\"\n"
    ));
    assert!(e[0].contains("has no credentials"), "{e:?}");
    assert!(e[0].starts_with("c.toml:3:"), "{e:?}");
}

#[test]
fn duplicate_workspace_names_are_refused() {
    let ws = "[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_env = \"T\"\n";
    let e = errors(&format!("{HEAD}{ws}{ws}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("c.toml:9:8:") && e[0].contains("used twice (first at line 4)"),
        "{e:?}"
    );
}

#[test]
fn plain_http_is_refused_except_to_loopback() {
    let ws = |url: &str| {
        format!(
            "{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_env = \"T\"\napi_url = \"{url}\"\n"
        )
    };
    let e = errors(&ws("http://github.example.com/api/v3"));
    assert!(
        e[0].starts_with("c.toml:8:11:") && e[0].contains("plain http"),
        "{e:?}"
    );
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:1/api/v3",
        "http://[::1]:9/",
        "https://github.example.com/api/v3",
    ] {
        Config::parse(&ws(ok), Path::new("c.toml")).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
    }
}

#[cfg(unix)]
#[test]
fn inline_token_in_a_world_readable_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("o.toml");
    let secret = "ghp_supersecretvalue";
    std::fs::write(
        &path,
        format!("{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken = \"{secret}\"\n"),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = Config::load(&path).expect_err("refused");
    assert!(e[0].message.contains("chmod 600"), "{e:?}");
    assert!(
        !format!("{e:?}").contains(secret),
        "the secret never appears in an error"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = Config::load(&path).expect("accepted when private");
    assert!(!format!("{:?}", config.workspaces[0].credentials).contains(secret));
}

#[test]
fn readme_config_snippets_are_valid() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut checked = 0;
    for block in readme.split("```toml").skip(1) {
        let body = block.split("```").next().expect("closed block");
        Config::parse(body, Path::new("README.md"))
            .unwrap_or_else(|e| panic!("README snippet is invalid: {e:?}\n{body}"));
        checked += 1;
    }
    assert!(checked > 0, "the README shows at least one configuration");
}

#[test]
fn http_pacing_is_configurable_and_zero_is_refused_with_its_line() {
    let ok = Config::parse(
        &format!("{HEAD}[http]\nrequests_per_second = 50\nburst = 20\n"),
        Path::new("c.toml"),
    )
    .expect("valid");
    assert_eq!(ok.http.http_config().requests_per_second.get(), 50);
    assert_eq!(ok.http.http_config().burst.get(), 20);
    let e = errors(&format!("{HEAD}[http]\nrequests_per_second = 0\n"));
    assert!(
        e[0].starts_with("c.toml:4:23:") && e[0].contains("at least 1"),
        "{e:?}"
    );
}

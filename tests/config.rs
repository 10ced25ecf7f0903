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

/// The loaded configuration holds built values: a workspace's member exclusions and repository
/// scope are compiled and its schedule is the daemon's, in the daemon's time zone, unless it has
/// its own; nothing after loading parses them again or falls back to "none".
#[test]
fn a_loaded_workspace_holds_its_compiled_exclusions_scope_and_schedule() {
    let text = format!(
        "{HEAD}[daemon]\nschedule = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n\
         [[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_env = \"T\"\n\
         exclude_members = [\"*[bot]\"]\nexclude_repositories = [\"sandbox-*\"]\n\
         [[workspace]]\nname = \"b\"\nprovider = \"github\"\norganization = \"p\"\ntoken_env = \"T\"\n\
         schedule = \"*/15 * * * *\"\n"
    );
    let config = Config::parse(&text, Path::new("c.toml")).expect("valid");
    let a = &config.workspaces[0];
    assert_eq!(
        a.exclude_members.matching("dependabot[bot]"),
        Some("*[bot]")
    );
    assert_eq!(a.exclude_members.matching("bob"), None);
    assert_eq!(a.scope.patterns(), ["sandbox-*".to_string()]);
    assert_eq!(a.schedule.expr(), "30 2 * * *");
    assert_eq!(a.schedule.timezone(), chrono_tz::Europe::Berlin);
    let b = &config.workspaces[1];
    assert_eq!(b.schedule.expr(), "*/15 * * * *");
    assert_eq!(b.schedule.timezone(), chrono_tz::Europe::Berlin);
    assert_eq!(
        b.schedule.period(chrono::Utc::now()),
        Some(chrono::Duration::minutes(15))
    );
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

#[test]
fn http_retry_and_timeout_limits_are_configurable_with_defaults_and_bounds() {
    let default = Config::parse(HEAD, Path::new("c.toml")).expect("valid");
    let d = default.http.http_config();
    assert_eq!(d.max_attempts, 8);
    assert_eq!(d.max_connect_attempts, 2);
    assert_eq!(d.connect_timeout, std::time::Duration::from_secs(10));
    assert_eq!(d.max_backoff, std::time::Duration::from_secs(60));
    let ok = Config::parse(
        &format!(
            "{HEAD}[http]\nmax_attempts = 3\nmax_connect_attempts = 1\nconnect_timeout_seconds = 2\nmax_backoff_seconds = 5\nrequest_timeout_seconds = 30\n"
        ),
        Path::new("c.toml"),
    )
    .expect("valid");
    let c = ok.http.http_config();
    assert_eq!(c.max_attempts, 3);
    assert_eq!(c.max_connect_attempts, 1);
    assert_eq!(c.connect_timeout, std::time::Duration::from_secs(2));
    assert_eq!(c.max_backoff, std::time::Duration::from_secs(5));
    assert_eq!(c.request_timeout, std::time::Duration::from_secs(30));
    let e = errors(&format!("{HEAD}[http]\nmax_attempts = 0\n"));
    assert!(
        e[0].starts_with("c.toml:4:16:") && e[0].contains("between 1 and 100"),
        "{e:?}"
    );
    let e = errors(&format!("{HEAD}[http]\nmax_backoff_seconds = 86400\n"));
    assert!(
        e[0].contains("max_backoff_seconds must be between 1 and 3600"),
        "{e:?}"
    );
}

/// The token-file cases of the fault matrix: each was once read and used as a token.
#[cfg(unix)]
#[test]
fn unusable_token_files_are_refused_by_check_config_and_by_the_run() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let config_for = |token: &Path| {
        let path = dir.path().join("o.toml");
        std::fs::write(
            &path,
            format!(
                "{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_file = \"{}\"\n",
                token.display()
            ),
        )
        .expect("write");
        path
    };
    let private = |name: &str, content: &[u8]| {
        let token = dir.path().join(name);
        std::fs::write(&token, content).expect("write");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        token
    };
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (private("empty", b""), "empty"),
        (private("blank", b"  \n\t\n"), "empty"),
        (private("large", &vec![b'a'; 10 * 1024 * 1024]), "limit"),
        (private("binary", &[0xff, 0xfe, 0x00]), "UTF-8"),
        (Path::new("/dev/zero").to_path_buf(), "not a regular file"),
        (dir.path().to_path_buf(), "not a regular file"),
        (
            {
                let shared = private("shared", b"ghp_sharedtoken");
                std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod");
                shared
            },
            "chmod 600",
        ),
    ];
    for (token, expected) in cases {
        let path = config_for(&token);
        let e = Config::load(&path).expect_err("check-config refuses it");
        assert!(
            e[0].message.contains("token_file") && e[0].message.contains(expected),
            "{}: {e:?}",
            token.display()
        );
        assert!(!e[0].message.contains("ghp_sharedtoken"));
        let parsed = Config::parse(&std::fs::read_to_string(&path).expect("read"), &path)
            .expect("the text itself is valid");
        let at_run = parsed.workspaces[0]
            .credentials
            .read_secret()
            .expect_err("the run refuses it too");
        assert!(at_run.contains(expected), "{}: {at_run}", token.display());
    }

    let good = private("good", b"  ghp_goodtoken\n");
    let config = Config::load(&config_for(&good)).expect("a private, non-empty token file");
    use secrecy::ExposeSecret;
    let secret = config.workspaces[0]
        .credentials
        .read_secret()
        .expect("read");
    assert_eq!(secret.expose_secret(), "ghp_goodtoken");
}

#[test]
fn a_token_file_that_does_not_exist_yet_is_left_to_the_run() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("o.toml");
    std::fs::write(
        &path,
        format!("{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_file = \"/run/credentials/orgsync.service/nope\"\n"),
    )
    .expect("write");
    let config = Config::load(&path).expect("systemd credentials exist only in the service");
    let e = config.workspaces[0]
        .credentials
        .read_secret()
        .expect_err("missing");
    assert!(e.contains("cannot read /run/credentials"), "{e}");
}

#[test]
fn absurd_daemon_values_are_refused_with_their_location() {
    let daemon = |line: &str| format!("{HEAD}[daemon]\n{line}\n");
    let cases = [
        (
            "run_deadline_seconds = 9223372036854775807",
            "c.toml:4:24:",
            "one week",
        ),
        (
            "listen = \"127.0.0.1:70000\"",
            "c.toml:4:10:",
            "port 70000 is out of range",
        ),
        ("listen = \"[::1]:99999\"", "c.toml:4:10:", "out of range"),
        ("schedule = \"0 0 30 2 *\"", "c.toml:4:12:", "never fires"),
        ("health_stall_periods = 0", "c.toml:4:24:", "at least 1"),
        ("webhook_max_in_flight = 0", "c.toml:4:25:", "at least 1"),
        (
            "read_timeout_seconds = 86400",
            "c.toml:4:24:",
            "at most 3600",
        ),
    ];
    for (line, location, message) in cases {
        let e = errors(&daemon(line));
        assert_eq!(e.len(), 1, "{line}: {e:?}");
        assert!(
            e[0].starts_with(location) && e[0].contains(message),
            "{line}: {e:?}"
        );
    }
    let ok = Config::parse(
        &daemon("run_deadline_seconds = 604800\nlisten = \"127.0.0.1:0\"\nwebhook_max_body_bytes = 65536"),
        Path::new("c.toml"),
    )
    .expect("a week, port 0 and a small body limit are fine");
    assert_eq!(ok.daemon.listener.max_body_bytes, 65536);
}

#[test]
fn a_workspace_schedule_that_never_fires_and_an_https_url_without_host_are_refused() {
    let ws = |extra: &str| {
        format!(
            "{HEAD}[[workspace]]\nname = \"a\"\nprovider = \"github\"\norganization = \"o\"\ntoken_env = \"T\"\n{extra}\n"
        )
    };
    let e = errors(&ws("schedule = \"0 0 31 4 *\""));
    assert!(
        e[0].starts_with("c.toml:8:12:") && e[0].contains("never fires"),
        "{e:?}"
    );
    for url in ["https://", "https:///api/v3"] {
        let e = errors(&ws(&format!("api_url = \"{url}\"")));
        assert!(
            e[0].starts_with("c.toml:8:11:") && e[0].contains("has no host"),
            "{url}: {e:?}"
        );
    }
}

#[test]
fn bitbucket_allowance_and_page_age_have_defaults_bounds_and_lines() {
    let bitbucket = "[[workspace]]\nname = \"b\"\nprovider = \"bitbucket\"\nworkspace = \"acme\"\ntoken_env = \"T\"\n";
    let ok = Config::parse(&format!("{HEAD}{bitbucket}"), Path::new("c.toml")).expect("valid");
    assert_eq!(ok.workspaces[0].requests_per_hour, 1_000);
    assert_eq!(ok.workspaces[0].max_page_age_seconds, 3 * 3600);
    let set = Config::parse(
        &format!("{HEAD}{bitbucket}requests_per_hour = 2500\nmax_page_age_seconds = 600\n"),
        Path::new("c.toml"),
    )
    .expect("valid");
    assert_eq!(set.workspaces[0].requests_per_hour, 2_500);
    assert_eq!(set.workspaces[0].max_page_age_seconds, 600);

    let e = errors(&format!("{HEAD}{bitbucket}requests_per_hour = 0\n"));
    assert!(
        e[0].starts_with("c.toml:8:21:") && e[0].contains("at least 1"),
        "{e:?}"
    );
    let e = errors(&format!("{HEAD}{bitbucket}requests_per_hour = 20000\n"));
    assert!(e[0].contains("beyond the 10000 maximum"), "{e:?}");
    let e = errors(&format!(
        "{HEAD}[[workspace]]\nname = \"g\"\nprovider = \"github\"\norganization = \"acme\"\ntoken_env = \"T\"\nmax_page_age_seconds = 60\n"
    ));
    assert!(
        e[0].starts_with("c.toml:8:")
            && e[0].contains("max_page_age_seconds applies only to bitbucket workspaces"),
        "{e:?}"
    );
}

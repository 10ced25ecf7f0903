//! Invitation delivery through a real SMTP server on loopback: Python's aiosmtpd, started by the
//! test on a port the operating system picks, writing every message it receives to a temp dir.
//! The test reads the token out of the delivered mail and accepts the invitation with it.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The SMTP server: accepts every message and stores it as `<n>.eml`, with the envelope
/// recipients in a first `X-Envelope-To:` line. Prints its port once it listens.
/// Arguments: maildir, mode (`plain`, `starttls` (required) or `tls`), then certificate and key.
const SERVER: &str = r#"
import asyncio, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

mode = sys.argv[2]
context = None
if mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[3], sys.argv[4])

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and \
        (auth_data.login, auth_data.password) == (b"orgsync", b"s3cret pass")
    return AuthResult(success=ok, handled=False)

def session():
    if mode == "starttls-auth":
        return SMTP(Store(), hostname="localhost", tls_context=context, require_starttls=True,
                    authenticator=authenticate, auth_required=True)
    if mode == "starttls":
        return SMTP(Store(), hostname="localhost", tls_context=context, require_starttls=True)
    return SMTP(Store(), hostname="localhost")

class Store:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Store.count += 1
        path = os.path.join(sys.argv[1], "%d.eml" % Store.count)
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        session, "127.0.0.1", 0, ssl=context if mode == "tls" else None)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// Stops the server when the test ends, however it ends.
struct SmtpServer {
    child: Child,
    port: u16,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp_server(maildir: &Path) -> SmtpServer {
    start_smtp_server_with(maildir, "plain", None)
}

fn start_smtp_server_with(
    maildir: &Path,
    mode: &str,
    cert_and_key: Option<(&Path, &Path)>,
) -> SmtpServer {
    let probe = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "this test needs Python 3 with aiosmtpd, a real SMTP server: install it with \
             `python3 -m pip install aiosmtpd` (the CI script does), then run the test again"
        ),
    }
    let mut command = Command::new("python3");
    command.args(["-c", SERVER]).arg(maildir).arg(mode);
    if let Some((cert, key)) = cert_and_key {
        command.arg(cert).arg(key);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3 with aiosmtpd");
    let stdout = child.stdout.take().expect("server stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the server's port");
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the SMTP server did not report its port: {line:?}"));
    SmtpServer { child, port }
}

fn orgsync(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("USER", "tester")
        .env_remove("SUDO_USER")
        .output()
        .expect("run orgsync")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits for the first delivered message. The bound only keeps a broken run from hanging;
/// nothing is asserted about how long delivery takes.
fn first_message(maildir: &Path) -> (PathBuf, String) {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(maildir)
            .expect("maildir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "eml"));
        if let Some(p) = found {
            let body = std::fs::read_to_string(&p).expect("mail readable");
            return (p, body);
        }
        assert!(
            Instant::now() < give_up,
            "no mail arrived at the SMTP server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mailed_invitation_token_accepts_the_invitation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let maildir = dir.path().join("mail");
    std::fs::create_dir(&maildir).expect("maildir");
    let server = start_smtp_server(&maildir);
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "orgsync <orgsync@example.org>"

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
token_env = "ORGSYNC_TEST_TOKEN"
"#,
            db = dir.path().join("d.db").display(),
            port = server.port,
        ),
    )
    .expect("config written");

    let created = orgsync(
        &config,
        &[
            "invite",
            "create",
            "--workspace",
            "acme",
            "--email",
            "June@Example.org",
            "--role",
            "member",
        ],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(
        text(&created.stdout).contains("mailed to june@example.org"),
        "{}",
        text(&created.stdout)
    );

    let (_, mail) = first_message(&maildir);
    assert!(
        mail.starts_with("X-Envelope-To: june@example.org\r\n"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: Invitation to the acme workspace"),
        "{mail}"
    );
    let token = mail
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .expect("the mail carries the token")
        .trim()
        .to_string();
    assert_eq!(token.len(), 64, "{mail}");
    assert!(
        !text(&created.stdout).contains(&token) && !text(&created.stderr).contains(&token),
        "with [smtp] the token goes only to the invitee"
    );

    let accepted = orgsync(&config, &["invite", "accept", &token, "--name", "June"]);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    let users = orgsync(&config, &["users", "list", "--workspace", "acme", "--json"]);
    let users: serde_json::Value = serde_json::from_slice(&users.stdout).expect("json");
    assert_eq!(users[0]["email"], "june@example.org");
    assert_eq!(users[0]["source"], "invitation");
    assert_eq!(users[0]["state"], "active");
}

#[test]
fn undeliverable_invitation_stays_pending_and_says_how_to_resend() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "orgsync@example.org"

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
token_env = "ORGSYNC_TEST_TOKEN"
"#,
            db = dir.path().join("d.db").display(),
        ),
    )
    .expect("config written");
    let created = orgsync(
        &config,
        &[
            "invite",
            "create",
            "--workspace",
            "acme",
            "--email",
            "kai@example.org",
            "--role",
            "member",
        ],
    );
    assert_eq!(created.status.code(), Some(1));
    let err = text(&created.stderr);
    assert!(err.contains("invite resend 1"), "{err}");
    let list = orgsync(&config, &["invite", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(rows[0]["state"], "pending");
}

// ---------------------------------------------------------------------------------------------
// The [smtp] section of the configuration.

fn parse_smtp(section: &str) -> Result<orgsync::config::Config, String> {
    let text = format!(
        "[directory]\nurl = \"sqlite://x.db\"\n\n{section}\n\n[[workspace]]\nname = \"acme\"\n\
         provider = \"github\"\norganization = \"acme\"\ntoken_env = \"T\"\n"
    );
    orgsync::config::Config::parse(&text, Path::new("t.toml")).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn smtp_section_defaults_the_port_from_the_tls_mode() {
    use orgsync::config::SmtpTls;
    let config =
        parse_smtp("[smtp]\nhost = \"smtp.example.org\"\nfrom = \"a@example.org\"").expect("valid");
    let smtp = config.smtp.expect("smtp configured");
    assert_eq!((smtp.tls, smtp.port), (SmtpTls::Starttls, 587));
    let config =
        parse_smtp("[smtp]\nhost = \"smtp.example.org\"\ntls = \"tls\"\nfrom = \"a@example.org\"")
            .expect("valid");
    assert_eq!(config.smtp.expect("smtp").port, 465);
    assert!(parse_smtp("").expect("valid").smtp.is_none());
}

#[test]
fn smtp_section_refuses_clear_text_off_loopback_and_half_credentials() {
    let err =
        parse_smtp("[smtp]\nhost = \"smtp.example.org\"\ntls = \"none\"\nfrom = \"a@example.org\"")
            .expect_err("clear text to a remote relay");
    assert!(err.starts_with("t.toml:6:7: "), "{err}");
    assert!(err.contains("loopback"), "{err}");
    let err =
        parse_smtp("[smtp]\nhost = \"127.0.0.1\"\nusername = \"u\"\nfrom = \"a@example.org\"")
            .expect_err("username without password_file");
    assert!(err.contains("password_file"), "{err}");
    let err = parse_smtp("[smtp]\nhost = \"127.0.0.1\"\nfrom = \"not an address\"")
        .expect_err("bad sender");
    assert!(err.contains("[smtp] from"), "{err}");
    let err =
        parse_smtp("[smtp]\nhost = \"127.0.0.1\"\nfrom = \"a@example.org\"\npassword = \"x\"")
            .expect_err("unknown key");
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("\"x\""), "{err}");
}

// ---------------------------------------------------------------------------------------------
// TLS: a relay whose certificate a private CA issued, trusted through `ca_file`.

/// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command-line tool
/// (a test tool only; orgsync itself uses rustls with aws-lc-rs).
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("this test needs the openssl command-line tool to make test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extension file");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=orgsync test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

fn tls_config(dir: &Path, port: u16, tls: &str, ca_file: Option<&Path>) -> PathBuf {
    let config = dir.join(format!("orgsync-{tls}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "{tls}"
from = "orgsync@example.org"
{ca}

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
token_env = "ORGSYNC_TEST_TOKEN"
"#,
            db = dir.join(format!("{tls}.db")).display(),
            ca = ca_file.map_or_else(String::new, |p| format!("ca_file = \"{}\"", p.display())),
        ),
    )
    .expect("config written");
    config
}

fn invite_lee(config: &Path) -> std::process::Output {
    orgsync(
        config,
        &[
            "invite",
            "create",
            "--workspace",
            "acme",
            "--email",
            "lee@example.org",
            "--role",
            "member",
        ],
    )
}

#[test]
fn starttls_and_implicit_tls_deliver_to_a_relay_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = make_certificates(dir.path());
    for mode in ["starttls", "tls"] {
        let maildir = dir.path().join(format!("mail-{mode}"));
        std::fs::create_dir(&maildir).expect("maildir");
        let server = start_smtp_server_with(&maildir, mode, Some((&cert, &key)));
        let config = tls_config(dir.path(), server.port, mode, Some(&ca));
        let created = invite_lee(&config);
        assert!(
            created.status.success(),
            "{mode}: {}",
            text(&created.stderr)
        );
        let (_, mail) = first_message(&maildir);
        let token = mail
            .lines()
            .find_map(|l| l.strip_prefix("Token: "))
            .expect("the mail carries the token")
            .trim()
            .to_string();
        let accepted = orgsync(&config, &["invite", "accept", &token, "--name", "Lee"]);
        assert!(
            accepted.status.success(),
            "{mode}: {}",
            text(&accepted.stderr)
        );
    }
}

#[test]
fn relay_with_an_untrusted_certificate_gets_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, cert, key) = make_certificates(dir.path());
    let maildir = dir.path().join("mail");
    std::fs::create_dir(&maildir).expect("maildir");
    let server = start_smtp_server_with(&maildir, "starttls", Some((&cert, &key)));
    // No ca_file: the private CA is not trusted, so the handshake fails before any mail is sent.
    let config = tls_config(dir.path(), server.port, "starttls", None);
    let created = invite_lee(&config);
    assert_eq!(created.status.code(), Some(1), "{}", text(&created.stdout));
    let err = text(&created.stderr);
    assert!(err.contains("did not take the invitation mail"), "{err}");
    let delivered = std::fs::read_dir(&maildir).expect("maildir").count();
    assert_eq!(delivered, 0, "nothing may reach an unverified relay");
}

#[test]
fn relay_login_uses_the_password_file_and_a_wrong_password_is_not_echoed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = make_certificates(dir.path());
    let maildir = dir.path().join("mail");
    std::fs::create_dir(&maildir).expect("maildir");
    let server = start_smtp_server_with(&maildir, "starttls-auth", Some((&cert, &key)));
    let password_file = dir.path().join("smtp-password");
    let config = tls_config(dir.path(), server.port, "starttls", Some(&ca));
    let with_login = std::fs::read_to_string(&config).expect("config").replace(
        "[[workspace]]",
        &format!(
            "username = \"orgsync\"\npassword_file = \"{}\"\n\n[[workspace]]",
            password_file.display()
        ),
    );
    // Keys after [smtp]'s last key but before [[workspace]] still belong to [smtp].
    std::fs::write(&config, with_login).expect("config");

    std::fs::write(&password_file, "wrong horse\n").expect("password");
    let refused = invite_lee(&config);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    let err = text(&refused.stderr);
    assert!(err.contains("did not take the invitation mail"), "{err}");
    assert!(!err.contains("wrong horse"), "the password leaked: {err}");
    assert_eq!(std::fs::read_dir(&maildir).expect("maildir").count(), 0);

    std::fs::write(&password_file, "s3cret pass\n").expect("password");
    let resent = orgsync(&config, &["invite", "resend", "1"]);
    assert!(resent.status.success(), "{}", text(&resent.stderr));
    let (_, mail) = first_message(&maildir);
    assert!(mail.contains("Token: "), "{mail}");
}

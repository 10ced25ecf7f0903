//! Invitation delivery: the text a person receives, and sending it through the `[smtp]` relay.
//!
//! The same text serves the printed link (no `[smtp]`) and the mail, so what an admin forwards by
//! hand and what the relay sends cannot drift apart. Errors name the relay, never the token or
//! the relay password.

use super::InviteToken;
use crate::config::{SmtpConfig, SmtpTls};
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

/// What an invitee needs to know.
#[derive(Debug)]
pub struct InvitationNotice<'a> {
    /// The invitation's id (`orgsync invite resend <id>`), logged when the mail is sent.
    pub invitation_id: i64,
    /// The workspace's name, named in the subject and the body.
    pub workspace: &'a str,
    /// The invitee's address: the mail's recipient.
    pub email: &'a str,
    /// The directory role the invitee gets on accepting.
    pub role: &'a str,
    /// Team slugs the invitee joins on accepting; none are mentioned when empty.
    pub teams: &'a [String],
    /// When the token stops being accepted; the body shows it to the minute, in UTC.
    pub expires_at: DateTime<Utc>,
    /// The token the invitee accepts with; it appears in the body and nowhere else.
    pub token: &'a InviteToken,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail could not be built: a bad `[smtp] from` or recipient address, or an unreadable or
    /// invalid `ca_file`. The text says which.
    #[error("cannot build the invitation mail: {0}")]
    Build(String),
    /// The relay password could not be read; the text names the file, never the password.
    #[error("{0}")]
    Password(String),
    #[error(
        "the SMTP relay {host}:{port} did not take the invitation mail: {reason}. Check [smtp] and the relay"
    )]
    /// The relay refused the mail, failed, or did not answer within a minute.
    Send {
        /// The relay's host.
        host: String,
        /// The relay's port.
        port: u16,
        /// What the relay or the connection said.
        reason: String,
    },
}

impl InvitationNotice<'_> {
    /// The command that accepts the invitation: the "link" of a directory without a web front end.
    pub fn accept_command(&self) -> String {
        format!(
            "orgsync invite accept {} --name \"Your Name\"",
            self.token.reveal()
        )
    }

    /// The mail's subject line.
    pub(crate) fn subject(&self) -> String {
        format!("Invitation to the {} workspace", self.workspace)
    }

    /// The mail body (and what is printed when there is no relay).
    pub fn body(&self) -> String {
        let teams = if self.teams.is_empty() {
            String::new()
        } else {
            format!(" (teams: {})", self.teams.join(", "))
        };
        format!(
            "Hello,\n\n\
             you are invited to the {ws} workspace of the orgsync directory as {role}{teams}.\n\n\
             To accept, run before {expires} UTC:\n\n    {command}\n\n\
             Token: {token}\n\n\
             The token works once. If you did not expect this invitation, ignore this mail:\n\
             it expires by itself.\n",
            ws = self.workspace,
            role = self.role,
            expires = self.expires_at.format("%Y-%m-%d %H:%M"),
            command = self.accept_command(),
            token = self.token.reveal(),
        )
    }

    /// The mail, from `[smtp] from` to the invitee.
    pub fn message(&self, smtp: &SmtpConfig) -> Result<Message, MailError> {
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| MailError::Build(format!("[smtp] from: {e}")))?;
        let to: Mailbox = self
            .email
            .parse()
            .map_err(|e| MailError::Build(format!("recipient {}: {e}", self.email)))?;
        Message::builder()
            .from(from)
            .to(to)
            .subject(self.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(self.body())
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

/// Certificate checks for the relay: the system's roots (through the platform verifier), plus
/// `ca_file` when a private CA issued the relay's certificate. STARTTLS is required, never
/// opportunistic, so a relay that does not offer it gets neither the password nor the token.
fn tls_parameters(smtp: &SmtpConfig) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            MailError::Build(format!(
                "cannot read [smtp] ca_file {}: {e}",
                path.display()
            ))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            MailError::Build(format!(
                "[smtp] ca_file {} is not a PEM certificate: {e}",
                path.display()
            ))
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| MailError::Build(format!("TLS for {}: {e}", smtp.host)))
}

/// How long one delivery may take, connection and dialogue together.
const SEND_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends the invitation through the relay of `[smtp]`.
pub async fn send(smtp: &SmtpConfig, notice: &InvitationNotice<'_>) -> Result<(), MailError> {
    let message = notice.message(smtp)?;
    let failed = |reason: String| MailError::Send {
        host: smtp.host.clone(),
        port: smtp.port,
        reason,
    };
    let tls = match smtp.tls {
        // Loopback only (checked when the configuration is loaded).
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(smtp)?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters(smtp)?),
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .tls(tls)
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    let builder = match (
        &smtp.username,
        smtp.read_password().map_err(MailError::Password)?,
    ) {
        (Some(user), Some(password)) => builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_string(),
        )),
        _ => builder,
    };
    // lettre's timeout covers single reads and writes; a relay that stops answering in the
    // middle of a dialogue (seen with failed logins) must not hang the command either.
    let transport = builder.build();
    match tokio::time::timeout(SEND_LIMIT, transport.send(message)).await {
        Ok(sent) => sent.map_err(|e| failed(e.to_string()))?,
        Err(_) => {
            return Err(failed(format!(
                "no answer within {} seconds",
                SEND_LIMIT.as_secs()
            )));
        }
    };
    tracing::info!(
        invitation = notice.invitation_id,
        relay = %smtp.host,
        "invitation mail handed to the relay"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_the_token_and_the_accept_command() {
        let token = InviteToken::from_input("feedbeef");
        let teams = vec!["audit".to_string()];
        let notice = InvitationNotice {
            invitation_id: 1,
            workspace: "acme",
            email: "ann@example.org",
            role: "auditor",
            teams: &teams,
            expires_at: Utc::now(),
            token: &token,
        };
        let body = notice.body();
        assert!(body.contains("Token: feedbeef\n"), "{body}");
        assert!(
            body.contains("orgsync invite accept feedbeef --name"),
            "{body}"
        );
        assert!(body.contains("as auditor (teams: audit)"), "{body}");
        assert!(!format!("{notice:?}").contains("feedbeef"));
    }
}

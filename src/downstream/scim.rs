//! SCIM 2.0 push (RFC 7643/7644): users and groups, the way an identity provider sends them.
//!
//! Level-triggered: an event only names who or which team changed; the client reads that
//! person's or team's current state from the directory and makes the server match it. That
//! makes a redelivered or reordered event harmless and `resync` the same code run for everyone.
//!
//! * A user's `externalId` is the orgsync user id; `active` is true while the person has an
//!   active membership in one of the target's workspaces; `userName` is the login (or the
//!   e-mail with `user_name = "email"`, the login when no e-mail is known); `displayName`,
//!   `name.formatted` and `emails` are sent where known.
//! * A group is a team: `externalId` = `WORKSPACE/SLUG`, `displayName` = the team's name,
//!   `members` = its members with an active membership.
//! * Resources are found by `externalId` (a filter) before anything is created, and the ids the
//!   server gave are remembered, so a retry never creates a second copy.
//! * `PATCH` when `/ServiceProviderConfig` says it is supported, `PUT` otherwise.

use super::config::{DownstreamConfig, UserNameFrom};
use crate::directory::Store;
use crate::directory::outbox::OutboxEvent;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A connected SCIM target.
pub struct Scim<'a> {
    http: &'a reqwest::Client,
    store: &'a Store,
    target: &'a DownstreamConfig,
    token: SecretString,
    /// The server supports PATCH.
    pub patch: bool,
    /// The workspaces whose people and teams this target receives.
    scope: Vec<String>,
}

/// What a resync did.
#[derive(Debug, Default, Serialize)]
pub struct ResyncReport {
    /// People in the target's workspaces pushed (created, or brought up to date).
    pub users: usize,
    /// Groups pushed: one per team of the target's workspaces.
    pub groups: usize,
    /// Users orgsync created on the server that are no longer in scope, now deactivated.
    pub users_deactivated: usize,
    /// Groups orgsync created on the server for teams that are gone, now deleted.
    pub groups_deleted: usize,
}

fn read_token(target: &DownstreamConfig) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(&target.credential_file).map_err(|e| {
        format!(
            "cannot read token_file = {} of downstream {}: {e}",
            target.credential_file.display(),
            target.name
        )
    })?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(format!(
            "token_file = {} of downstream {} is empty",
            target.credential_file.display(),
            target.name
        ));
    }
    Ok(SecretString::from(token))
}

impl<'a> Scim<'a> {
    /// Reads the token and discovers what the server supports.
    pub async fn connect(
        http: &'a reqwest::Client,
        store: &'a Store,
        target: &'a DownstreamConfig,
        scope: Vec<String>,
    ) -> Result<Scim<'a>, String> {
        let mut scim = Scim {
            http,
            store,
            target,
            token: read_token(target)?,
            patch: false,
            scope,
        };
        let (status, config) = scim
            .send(Method::GET, "/ServiceProviderConfig", None)
            .await?;
        if !status.is_success() {
            return Err(scim.refusal("GET /ServiceProviderConfig", status, &config));
        }
        scim.patch = config["patch"]["supported"].as_bool().unwrap_or(false);
        Ok(scim)
    }

    fn refusal(&self, what: &str, status: StatusCode, body: &Value) -> String {
        let detail = body["detail"].as_str().unwrap_or("");
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                ". Check the token in token_file = {}",
                self.target.credential_file.display()
            ),
            _ => String::new(),
        };
        format!(
            "SCIM {} {what} answered {status}{}{}{hint}",
            self.target.url,
            if detail.is_empty() { "" } else { ": " },
            detail
        )
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let url = format!("{}{path}", self.target.url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .timeout(self.target.timeout)
            .bearer_auth(self.token.expose_secret())
            .header("accept", "application/scim+json, application/json");
        if let Some(b) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("SCIM {method} {url} failed: {}", super::describe(&e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            format!(
                "SCIM {method} {url}: reading the answer failed: {}",
                super::describe(&e)
            )
        })?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    async fn find(&self, kind: &str, external_id: &str) -> Result<Option<String>, String> {
        if let Some(id) = self
            .store
            .scim_id(&self.target.name, kind, external_id)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Some(id));
        }
        let collection = if kind == "user" { "Users" } else { "Groups" };
        let filter = format!("externalId eq \"{}\"", external_id.replace('"', "\\\""));
        let path = format!("/{collection}?filter={}", encode(&filter));
        let (status, body) = self.send(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(self.refusal(&format!("GET /{collection}?filter=…"), status, &body));
        }
        let id = body["Resources"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(|r| r["id"].as_str())
            .map(str::to_string);
        if let Some(id) = &id {
            self.remember(kind, external_id, Some(id)).await?;
        }
        Ok(id)
    }

    async fn remember(
        &self,
        kind: &str,
        external_id: &str,
        id: Option<&str>,
    ) -> Result<(), String> {
        self.store
            .set_scim_id(&self.target.name, kind, external_id, id)
            .await
            .map_err(|e| e.to_string())
    }

    /// Creates or updates a resource; returns its SCIM id.
    async fn upsert(
        &self,
        kind: &str,
        external_id: &str,
        resource: Value,
        patch_value: Value,
    ) -> Result<String, String> {
        let collection = if kind == "user" { "Users" } else { "Groups" };
        if let Some(id) = self.find(kind, external_id).await? {
            let path = format!("/{collection}/{id}");
            let (status, body) = if self.patch {
                let op = json!({"schemas": [PATCH_SCHEMA],
                                "Operations": [{"op": "replace", "value": patch_value}]});
                self.send(Method::PATCH, &path, Some(op)).await?
            } else {
                let mut full = resource.clone();
                full["id"] = Value::String(id.clone());
                self.send(Method::PUT, &path, Some(full)).await?
            };
            if status.is_success() {
                return Ok(id);
            }
            if status != StatusCode::NOT_FOUND {
                return Err(self.refusal(&format!("update of /{collection}/{id}"), status, &body));
            }
            // Deleted downstream: forget it and create it again.
            self.remember(kind, external_id, None).await?;
        }
        let (status, body) = self
            .send(Method::POST, &format!("/{collection}"), Some(resource))
            .await?;
        if !status.is_success() {
            return Err(self.refusal(
                &format!("POST /{collection} ({kind} {external_id})"),
                status,
                &body,
            ));
        }
        let id = body["id"]
            .as_str()
            .ok_or_else(|| {
                format!(
                    "SCIM {} POST /{collection} answered without an id",
                    self.target.url
                )
            })?
            .to_string();
        self.remember(kind, external_id, Some(&id)).await?;
        Ok(id)
    }

    /// Makes the server's user match the directory; `None` when the person is not in scope.
    pub async fn push_user(&self, user_id: i64) -> Result<Option<String>, String> {
        let memberships: Vec<_> = self
            .store
            .memberships_of(user_id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|m| self.scope.contains(&m.workspace))
            .collect();
        let external_id = user_id.to_string();
        let Some(first) = memberships
            .iter()
            .find(|m| m.state == "active")
            .or(memberships.first())
        else {
            // Not (or no longer) in any of the target's workspaces.
            return match self.find("user", &external_id).await? {
                Some(_) => {
                    self.deactivate(&external_id).await?;
                    Ok(None)
                }
                None => Ok(None),
            };
        };
        let active = memberships.iter().any(|m| m.state == "active");
        let login = first.login.clone();
        let user_name = match self.target.user_name {
            UserNameFrom::Email => first.email.clone().or(login.clone()),
            UserNameFrom::Login => login.clone().or(first.email.clone()),
        }
        .unwrap_or_else(|| format!("orgsync-{user_id}"));
        let display = first
            .name
            .clone()
            .or(login)
            .unwrap_or_else(|| user_name.clone());
        let mut value = json!({
            "userName": user_name,
            "active": active,
            "displayName": display,
        });
        if let Some(n) = &first.name {
            value["name"] = json!({"formatted": n});
        }
        if let Some(e) = &first.email {
            value["emails"] = json!([{"value": e, "primary": true, "type": "work"}]);
        }
        let mut resource = value.clone();
        resource["schemas"] = json!([USER_SCHEMA]);
        resource["externalId"] = Value::String(external_id.clone());
        self.upsert("user", &external_id, resource, value)
            .await
            .map(Some)
    }

    async fn deactivate(&self, external_id: &str) -> Result<(), String> {
        let Some(id) = self.find("user", external_id).await? else {
            return Ok(());
        };
        let path = format!("/Users/{id}");
        let (status, body) = if self.patch {
            let op = json!({"schemas": [PATCH_SCHEMA],
                            "Operations": [{"op": "replace", "value": {"active": false}}]});
            self.send(Method::PATCH, &path, Some(op)).await?
        } else {
            let (status, mut current) = self.send(Method::GET, &path, None).await?;
            if !status.is_success() {
                return Err(self.refusal(&format!("GET {path}"), status, &current));
            }
            current["active"] = Value::Bool(false);
            self.send(Method::PUT, &path, Some(current)).await?
        };
        if status.is_success() || status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.refusal(&format!("deactivation of {path}"), status, &body))
        }
    }

    /// Makes the server's group match the team (deleting it when the team is gone).
    pub async fn push_group(&self, workspace: &str, slug: &str) -> Result<(), String> {
        let external_id = format!("{workspace}/{slug}");
        let Some(team) = self
            .store
            .team(workspace, slug)
            .await
            .map_err(|e| e.to_string())?
        else {
            return self.delete_group(&external_id).await;
        };
        let mut members = Vec::with_capacity(team.members.len());
        for uid in &team.members {
            let id = match self.find("user", &uid.to_string()).await? {
                Some(id) => Some(id),
                None => self.push_user(*uid).await?,
            };
            if let Some(id) = id {
                members.push(json!({"value": id}));
            }
        }
        let value = json!({"displayName": team.name, "members": members});
        let mut resource = value.clone();
        resource["schemas"] = json!([GROUP_SCHEMA]);
        resource["externalId"] = Value::String(external_id.clone());
        self.upsert("group", &external_id, resource, value)
            .await
            .map(|_| ())
    }

    async fn delete_group(&self, external_id: &str) -> Result<(), String> {
        let Some(id) = self.find("group", external_id).await? else {
            return Ok(());
        };
        let (status, body) = self
            .send(Method::DELETE, &format!("/Groups/{id}"), None)
            .await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            self.remember("group", external_id, None).await
        } else {
            Err(self.refusal(&format!("DELETE /Groups/{id}"), status, &body))
        }
    }

    /// Delivers one outbox event.
    pub async fn deliver(&self, event: &OutboxEvent) -> Result<(), String> {
        if event.kind.starts_with("member.") {
            if let Some(uid) = event.user_id {
                self.push_user(uid).await?;
            }
            return Ok(());
        }
        match &event.team_slug {
            Some(slug) => self.push_group(&event.workspace, slug).await,
            None => Ok(()),
        }
    }

    /// Reconciles the server with the directory: every person and team in scope is pushed,
    /// people orgsync created there who left the scope are deactivated, groups of teams that
    /// are gone are deleted. Resources deleted or changed downstream are recreated or reset.
    pub async fn resync(&self) -> Result<ResyncReport, String> {
        let mut report = ResyncReport::default();
        let mut users = BTreeSet::new();
        let mut groups = BTreeSet::new();
        for ws in &self.scope {
            for uid in self.store.user_ids(ws).await.map_err(|e| e.to_string())? {
                if users.insert(uid.to_string()) && self.push_user(uid).await?.is_some() {
                    report.users += 1;
                }
            }
            for slug in self.store.team_slugs(ws).await.map_err(|e| e.to_string())? {
                let ext = format!("{ws}/{slug}");
                self.push_group(ws, &slug).await?;
                groups.insert(ext);
                report.groups += 1;
            }
        }
        let known = |kind: &'static str| async move {
            self.store
                .scim_ids(&self.target.name, kind)
                .await
                .map_err(|e| e.to_string())
        };
        for (ext, _) in known("user").await? {
            if !users.contains(&ext) {
                self.deactivate(&ext).await?;
                report.users_deactivated += 1;
            }
        }
        for (ext, _) in known("group").await? {
            if !groups.contains(&ext) {
                self.delete_group(&ext).await?;
                report.groups_deleted += 1;
            }
        }
        Ok(report)
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

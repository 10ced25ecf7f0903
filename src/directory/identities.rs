//! Identity mapping: which provider accounts and commit e-mails are which directory user
//! (`identities list/link/unlink`).

use super::Store;
use super::people::{IdentityKey, IdentityRow, PeopleError, event};
use chrono::{DateTime, Utc};

impl IdentityRow {
    fn is(&self, key: &IdentityKey) -> bool {
        self.provider == key.provider
            && self.host == key.host
            && self.provider_user_id == key.provider_user_id
    }

    fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "user_id": self.user_id,
            "provider": self.provider,
            "host": self.host,
            "provider_user_id": self.provider_user_id,
            "login": self.login,
        })
    }
}

impl Store {
    /// Every identity mapping with its user's name and e-mail, or only those of `user`.
    pub async fn list_identities(
        &self,
        user: Option<i64>,
    ) -> Result<Vec<IdentityRow>, PeopleError> {
        in_tx!(self, |c, m| m::list(c, user, None).await)
    }

    /// The identity with this login at a provider and host, if the directory knows it.
    pub async fn identity_by_login(
        &self,
        provider: &str,
        host: &str,
        login: &str,
    ) -> Result<Option<IdentityRow>, PeopleError> {
        let key = (provider, host, login);
        let found: Vec<IdentityRow> = in_tx!(self, |c, m| m::list(c, None, Some(key)).await)?;
        Ok(found.into_iter().next())
    }

    /// Maps an identity to a user; a second mapping of the same identity is refused, naming
    /// the user that holds it.
    pub async fn link_identity(
        &self,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<IdentityRow, PeopleError> {
        let result = in_tx!(self, |c, m| m::relink(c, true, user_id, key, now, actor)
            .await);
        match result {
            Err(e) if e.is_unique_violation() => {
                let holder = self
                    .list_identities(None)
                    .await?
                    .into_iter()
                    .find(|i| i.is(key));
                Err(match holder {
                    Some(h) => PeopleError::IdentityTaken {
                        identity: key.describe(),
                        user_id: h.user_id,
                        user: h.user_name.or(h.user_email).unwrap_or_default(),
                    },
                    None => e,
                })
            }
            other => other,
        }
    }
}

forward! {
    /// Removes an identity from `user_id`, with an audit event, and returns the removed row.
    /// Refused while a `sync` membership (active or suspended) in a workspace of that provider and
    /// host recognises the user by it ([`PeopleError::IdentityInUse`]).
    in_tx unlink_identity => unlink(
        user_id: i64, key: &IdentityKey, now: DateTime<Utc>, actor: &str
    ) -> Result<IdentityRow, PeopleError>;
}

per_backend! {
    pub async fn list(
        c: &mut Conn,
        user: Option<i64>,
        by_login: Option<(&str, &str, &str)>,
    ) -> Result<Vec<IdentityRow>, PeopleError> {
        let (provider, host, login) = match by_login {
            Some((p, h, l)) => (Some(p), Some(h), Some(l)),
            None => (None, None, None),
        };
        Ok(sql! { as IdentityRow, c, fetch_all,
            "SELECT i.id, i.user_id, u.name AS user_name, u.email AS user_email, u.kind,
                    i.provider, i.host, i.provider_user_id, i.login, i.created_at
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE ($1 IS NULL OR i.user_id = $1)
               AND ($2 IS NULL OR i.provider = $2) AND ($3 IS NULL OR i.host = $3)
               AND ($4 IS NULL OR LOWER(i.login) = LOWER($4))
             ORDER BY i.user_id, i.provider, i.host, i.provider_user_id",
            user, provider, host, login })
    }

    async fn find(
        c: &mut Conn,
        user_id: i64,
        key: &IdentityKey,
    ) -> Result<Option<IdentityRow>, PeopleError> {
        Ok(list(c, Some(user_id), None).await?.into_iter().find(|i| i.is(key)))
    }

    /// Unlinks an identity (see `relink`).
    pub async fn unlink(
        c: &mut Conn,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<IdentityRow, PeopleError> {
        relink(c, false, user_id, key, now, actor).await
    }

    /// Links (`link`) or unlinks an identity of an existing user, with its audit event.
    pub async fn relink(
        c: &mut Conn,
        link: bool,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<IdentityRow, PeopleError> {
        db::invitations::expire_first(c, now).await?;
        if !db::users::exists(c, user_id).await? {
            return Err(PeopleError::UserNotFound(user_id));
        }
        let (row, action) = if link {
            (add(c, user_id, key, now).await?, "identity_link")
        } else {
            (remove(c, user_id, key).await?, "identity_unlink")
        };
        let subject = key.describe();
        db::audit::write(c, event(None, now, actor, action, &subject, &row.detail())).await?;
        Ok(row)
    }

    /// Maps the identity unless another user holds it.
    async fn add(
        c: &mut Conn,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
    ) -> Result<IdentityRow, PeopleError> {
        let holder = sql! { c, fetch_optional,
            "SELECT i.user_id, COALESCE(u.name, u.email, '') AS who
             FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.provider = $1 AND i.host = $2 AND i.provider_user_id = $3",
            &key.provider, &key.host, &key.provider_user_id };
        if let Some(h) = holder {
            return Err(PeopleError::IdentityTaken {
                identity: key.describe(),
                user_id: h.try_get("user_id")?,
                user: h.try_get("who")?,
            });
        }
        db::identity_rows::insert(c, user_id, key, now).await?;
        find(c, user_id, key).await?.ok_or(PeopleError::UserNotFound(user_id))
    }

    /// Removes the identity unless a sync recognises the user by it.
    async fn remove(
        c: &mut Conn,
        user_id: i64,
        key: &IdentityKey,
    ) -> Result<IdentityRow, PeopleError> {
        let row = find(c, user_id, key).await?.ok_or_else(|| PeopleError::IdentityNotFound {
            identity: key.describe(),
            user_id,
        })?;
        let synced: Option<String> = sql! { scalar c, fetch_optional,
            "SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.user_id = $1 AND m.source = 'sync'
               AND m.state IN ('active', 'suspended')
               AND w.provider = $2 AND w.host = $3
             ORDER BY w.name LIMIT 1",
            user_id, &key.provider, &key.host };
        if let Some(workspace) = synced {
            return Err(PeopleError::IdentityInUse {
                identity: key.describe(),
                user_id,
                workspace,
            });
        }
        db::identity_rows::delete(c, row.id).await?;
        Ok(row)
    }
}

//! The writer of `users` (the apply's new people are batched, `batch.rs`).

use crate::directory::DirectoryError;
use chrono::{DateTime, Utc};

per_backend! {
    /// A new user of `kind` (`person`, `service`); returns its id.
    pub async fn insert(
        c: &mut Conn,
        name: &str,
        email: Option<&str>,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, DirectoryError> {
        Ok(sql! { scalar c, fetch_one,
            "INSERT INTO users (name, email, kind, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
            name, email, kind, now })
    }

    /// The name and e-mail a provider now shows for a user.
    pub async fn update(
        c: &mut Conn,
        id: i64,
        name: Option<&str>,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "UPDATE users SET name = $1, email = $2, updated_at = $3 WHERE id = $4",
            name, email, now, id };
        Ok(())
    }

    /// Whether the user exists.
    pub async fn exists(c: &mut Conn, id: i64) -> Result<bool, DirectoryError> {
        let found: Option<i64> = sql! { scalar c, fetch_optional,
            "SELECT id FROM users WHERE id = $1",
            id };
        Ok(found.is_some())
    }
}

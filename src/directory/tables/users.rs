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
        Ok(sqlx::query_scalar(
            "INSERT INTO users (name, email, kind, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(name)
        .bind(email)
        .bind(kind)
        .bind(now)
        .fetch_one(&mut *c)
        .await?)
    }

    /// The name and e-mail a provider now shows for a user.
    pub async fn update(
        c: &mut Conn,
        id: i64,
        name: Option<&str>,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        sqlx::query("UPDATE users SET name = $1, email = $2, updated_at = $3 WHERE id = $4")
            .bind(name)
            .bind(email)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// Whether the user exists.
    pub async fn exists(c: &mut Conn, id: i64) -> Result<bool, DirectoryError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
        Ok(found.is_some())
    }
}

//! What can go wrong in the directory, with what to do about it.

/// A directory failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "cannot open the directory at {url}: {source}. Check [directory] url and that the database is reachable"
    )]
    /// The database could not be opened or reached.
    Connect {
        /// The directory URL with any password replaced.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema migrations failed to apply.
    #[error("cannot migrate the directory: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the directory is locked by another process (SQLite busy); only one orgsync may write a SQLite file at a time"
    )]
    /// SQLite stayed busy: another process holds the write lock.
    Locked,
    #[error(
        "the directory changed while the run was planned ({0}); the run was rolled back and the next run applies it afresh"
    )]
    /// The directory changed under a run, or two writers raced; the transaction rolled back and the
    /// next run or command starts afresh. The text says what changed.
    Conflict(String),
    /// The configuration points a stored workspace at another provider or host: its members
    /// are keyed by the other one's user ids, so a sync would see nobody it knows.
    #[error(
        "workspace `{name}` is stored for {stored_provider} at {stored_host}, but the configuration says {provider} at {host}; refusing to run, because user ids of one are not user ids of the other. To start afresh, give the workspace a new name (the old one's members stay as they are); if it is the same instance under another host name, run `orgsync workspace rekey --workspace {name}`"
    )]
    WorkspaceMismatch {
        /// The workspace's name.
        name: String,
        /// The provider the directory stored it for.
        stored_provider: String,
        /// The host the directory stored it for.
        stored_host: String,
        /// The provider the configuration names now.
        provider: String,
        /// The host the configuration names now.
        host: String,
    },
    /// A column holds a value this version does not know: an error, never a guess (a corrupt
    /// membership state read as some other state could offboard or reactivate someone).
    #[error(
        "the directory holds {value:?} in {table}.{column}, which this version of orgsync does not know; nothing was changed. Correct the row, or run the orgsync version that wrote it"
    )]
    Corrupt {
        /// The table read.
        table: &'static str,
        /// The column read.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// Any other database error.
    #[error("directory error: {0}")]
    Sql(sqlx::Error),
}

impl DirectoryError {
    /// Whether the database refused a row for a unique constraint: two writers inserted the
    /// same row at the same moment.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, DirectoryError::Sql(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// Two applies that insert the same row at once (two first syncs, a sync and a CLI command):
/// the loser gets a unique-constraint error, which says nothing useful to an operator. It is the
/// same situation as [`DirectoryError::Conflict`]: the run rolled back and the next one applies.
pub(crate) fn concurrent_insert_is_a_conflict(e: DirectoryError) -> DirectoryError {
    if e.is_unique_violation() {
        DirectoryError::Conflict(
            "another run or command added the same rows at the same moment".to_string(),
        )
    } else {
        e
    }
}

impl From<sqlx::Error> for DirectoryError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && (db.message().contains("database is locked") || db.message().contains("busy"))
        {
            return DirectoryError::Locked;
        }
        DirectoryError::Sql(e)
    }
}

/// Decodes an enum column, or names the table, column and value it cannot read.
pub(crate) fn decode<T>(
    table: &'static str,
    column: &'static str,
    value: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, DirectoryError> {
    parse(&value).ok_or(DirectoryError::Corrupt {
        table,
        column,
        value,
    })
}

/// The value of a read or write whose failure costs only requests or a stale record (the HTTP
/// cache, kept pages, run markers), never the caller's work: on failure `message` is logged as
/// a warning with the error, and the caller goes on with the default (nothing found, nothing
/// done).
pub(crate) fn swallow<T: Default>(result: Result<T, DirectoryError>, message: &str) -> T {
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "{message}");
        T::default()
    })
}

/// A count for an `INTEGER`/`BIGINT` column.
pub(crate) fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swallowed_failure_gives_the_default_and_a_success_its_value() {
        let failed: Result<Option<u8>, DirectoryError> = Err(DirectoryError::Locked);
        assert_eq!(swallow(failed, "test read failed"), None);
        assert_eq!(swallow(Ok(Some(3u8)), "test read failed"), Some(3));
    }
}

//! One batch write in flight while the apply goes on.
//!
//! Without it the apply and the database take turns: the apply gathers 20,000 changes' rows,
//! audit details and events while the database waits, then waits while the database writes
//! them. With it the apply starts a batch and goes on gathering the next one, polling the
//! write now and then so it keeps sending (the next chunk's JSON on SQLite, the next megabyte of
//! `COPY` data on PostgreSQL); SQLite's worker thread or the PostgreSQL server does its part
//! meanwhile. Anything that needs the connection for itself waits for the write first, so
//! statements still run in the order the apply issues them.

use super::super::DirectoryError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A batch write that holds the connection and gives it back when done.
pub(in crate::directory) type Write<'c, C> =
    Pin<Box<dyn Future<Output = Result<&'c mut C, DirectoryError>> + Send + 'c>>;

/// The apply's connection: free, or held by the batch write in flight.
pub(in crate::directory) enum Link<'c, C> {
    /// Nothing in flight.
    Free(&'c mut C),
    /// A batch write holds the connection.
    Writing(Write<'c, C>),
    /// A write failed (its error was returned); the apply is over.
    Broken,
}

fn broken() -> DirectoryError {
    DirectoryError::Sql(sqlx::Error::Protocol(
        "the apply's connection was used after a failed batch write".to_string(),
    ))
}

impl<'c, C> Link<'c, C> {
    /// The connection, once the write in flight (if any) has finished; its error if it failed.
    pub async fn conn(&mut self) -> Result<&mut C, DirectoryError> {
        if let Link::Writing(write) = self {
            let done = write.as_mut().await;
            self.settle(done)?;
        }
        match self {
            Link::Free(c) => Ok(&mut **c),
            _ => Err(broken()),
        }
    }

    /// Starts `write` on the connection, after the write in flight (one at a time, so the
    /// batches reach the database in order).
    pub async fn start(
        &mut self,
        write: impl FnOnce(&'c mut C) -> Write<'c, C>,
    ) -> Result<(), DirectoryError> {
        self.conn().await?;
        let Link::Free(c) = std::mem::replace(self, Link::Broken) else {
            return Err(broken());
        };
        *self = Link::Writing(write(c));
        self.poke()
    }

    /// Lets the write in flight go on without waiting for it: it sends what it can (its next
    /// chunk, once the database took the last) and returns. Nothing wakes the apply when the
    /// database is done; the next `poke` or [`Link::conn`] finds out.
    pub fn poke(&mut self) -> Result<(), DirectoryError> {
        if let Link::Writing(write) = self
            && let Poll::Ready(done) = write.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        {
            self.settle(done)?;
        }
        Ok(())
    }

    fn settle(&mut self, done: Result<&'c mut C, DirectoryError>) -> Result<(), DirectoryError> {
        match done {
            Ok(c) => {
                *self = Link::Free(c);
                Ok(())
            }
            Err(e) => {
                *self = Link::Broken;
                Err(e)
            }
        }
    }
}

//! How a command ends: the exit codes of the design and the error that carries one.
//!
//! A leaf: it names nothing else of the crate, so the CLI, the daemon, the demo and the read API
//! can all return a [`Failure`] without depending on one another. The conversions from the
//! errors of what [`crate::app`] opens live there.

/// Success.
pub const EXIT_OK: u8 = 0;
/// A runtime error: a provider, the directory, the network.
pub const EXIT_RUNTIME: u8 = 1;
/// Bad usage or configuration: the operator must change something first.
pub const EXIT_CONFIG: u8 = 2;
/// A guard refused the plan (or an approval found changes beyond the held plan).
pub const EXIT_ABORTED: u8 = 3;

/// An error that ends the command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code ([`EXIT_RUNTIME`] or [`EXIT_CONFIG`]).
    pub code: u8,
    /// What went wrong, for standard error.
    pub message: String,
}

impl Failure {
    /// A runtime error (exit code [`EXIT_RUNTIME`]).
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_RUNTIME,
            message: message.into(),
        }
    }

    /// Bad usage or configuration (exit code [`EXIT_CONFIG`]).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_CONFIG,
            message: message.into(),
        }
    }
}

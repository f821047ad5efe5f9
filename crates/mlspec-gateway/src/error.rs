//! The gateway's one error type.

/// Why the gateway cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A flag, policy or package that cannot be used as given.
    #[error("{0}")]
    Config(String),
    /// The inference log cannot be opened or written.
    #[error(transparent)]
    Log(#[from] mlspec_attest::AttestError),
    /// The network or a file.
    #[error("{0}")]
    Io(String),
}

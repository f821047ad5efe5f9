//! Where a long-running server (`mlspec server`, `mlspec serve`) listens, and when it stops.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

/// Binds `addr` for a long-running server, having first started listening for SIGINT and
/// SIGTERM, so that none sent once the address is known is lost; the listener, and a future
/// that completes with the name of the signal that came.
pub async fn listen_until_signalled(
    addr: SocketAddr,
) -> anyhow::Result<(tokio::net::TcpListener, impl Future<Output = &'static str>)> {
    let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is the address in use? choose another with --listen"))?;
    let signalled = async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    };
    Ok((listener, signalled))
}

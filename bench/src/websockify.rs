//! The incumbent's relay: a real `websockify` process (Debian's, forking one child process
//! per connection) on a free port, targeting the synthetic server.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::process::Child;

use crate::spawn::{free_port, listening};

/// A running websockify.
pub struct Websockify {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Websockify {
    /// Starts `program` listening on a free loopback port and waits until it accepts.
    pub async fn spawn(program: &str, target: SocketAddr) -> anyhow::Result<Self> {
        let addr = free_port().await?;
        let child = listening(program, &[addr.to_string(), target.to_string()], addr).await?;
        Ok(Self { child, addr })
    }

    /// `ws://addr/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The main process id (its per-connection children are found through `/proc`).
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("websockify exited")
    }
}

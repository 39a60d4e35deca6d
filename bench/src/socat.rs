//! The kernel's floor for a relay hop: a `socat` TCP relay (`-b 65536`, forking one child per
//! connection) on a free port, targeting the synthetic server. It copies bytes with read and
//! write and nothing else, so its CPU per GB is what any user-space relay pays the kernel.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::process::Child;

use crate::spawn::{free_port, listening};

/// A running socat relay.
pub struct Socat {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Socat {
    /// Starts `program` on a free loopback port and waits until it accepts.
    pub async fn spawn(program: &str, target: SocketAddr) -> anyhow::Result<Self> {
        let addr = free_port().await?;
        let args = [
            "-b".to_owned(),
            "65536".to_owned(),
            format!(
                "TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork,nodelay",
                addr.port()
            ),
            format!("TCP:{target},nodelay"),
        ];
        let child = listening(program, &args, addr).await?;
        Ok(Self { child, addr })
    }

    /// The listening process (its per-connection children are found through `/proc`).
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("socat exited")
    }
}

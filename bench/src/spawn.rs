//! Starting a relay program (socat, websockify) on a free loopback port: neither can report a
//! port it picked itself, so one is taken here and handed over, and polling the port is the
//! only readiness signal either gives.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// Bound on a relay program's start-up (websockify is a Python program).
const START_WAIT: Duration = Duration::from_secs(30);

/// A free loopback port (free when this returns; the program binds it next).
pub async fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0").await?.local_addr()?)
}

/// Runs `program` with `args` (killed when the handle drops) and waits until `addr` accepts.
/// The probe connection is closed at once (socat forks a child for it, which ends with it).
pub async fn listening(program: &str, args: &[String], addr: SocketAddr) -> anyhow::Result<Child> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let started = tokio::time::Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        if started.elapsed() > START_WAIT {
            bail!("{program} did not accept on {addr} in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(child)
}

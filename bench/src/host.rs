//! The gateway under test, in its own process (this binary re-executed as `host-gateway`):
//! a verification service on a fresh SQLite file and a gateway, both in-process on
//! 127.0.0.1:0, seeded with one browser session whose `vnc_url` is the given upstream. Its
//! own process gives it its own heap and RSS (as websockify has), and keeps it off the
//! benchmark client's runtime.
//!
//! Parent ⇄ child protocol, one line each: the child prints `bench-host <gateway addr>
//! <organization> <api key> <session>`; the parent writes `control <client_id>` and the child
//! answers `bench-ok` once that client holds control; stdin EOF stops the child.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use gateway::entity::SessionKey;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_util::sync::CancellationToken;

/// Bound on the child's start-up and on each control request.
const START_WAIT: Duration = Duration::from_secs(60);

/// Child side: serves until stdin closes.
pub async fn serve(upstream: String) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("relay-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let result = serve_in(&dir, upstream).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn serve_in(dir: &std::path::Path, upstream: String) -> anyhow::Result<()> {
    let database_url = format!("sqlite://{}", dir.join("verification.db").display());
    let stop = CancellationToken::new();
    let verification =
        verification::Application::build(verification::Config::for_database(&database_url)).await?;
    let verification_url = format!("http://{}", verification.local_addr());
    let verification_task = tokio::spawn(verification.run(stop.clone().cancelled_owned()));
    let admin = verification::Admin::connect(&database_url).await?;
    let org = admin.create_org("bench").await?;
    let key = admin.create_api_key(&org).await?;
    let mut new = verification::NewBrowserSession::new(&org);
    new.vnc_url = Some(upstream);
    new.cdp_url = Some("http://127.0.0.1:9".into());
    let session = admin.create_browser_session(new).await?;

    let app = gateway::startup::Application::build(gateway_config(verification_url)).await?;
    let (addr, state) = (app.local_addr(), app.state().clone());
    let gateway_task = tokio::spawn(app.run(stop.clone()));
    println!("bench-host {addr} {org} {key} {session}");

    let mut commands = stdin_lines();
    let key_of = SessionKey {
        organization_id: org.clone(),
        browser_session_id: session.clone(),
    };
    while let Some(line) = commands.recv().await {
        if let Some(client_id) = line.strip_prefix("control ") {
            let client_id = gateway::entity::ClientId::parse(client_id.trim())
                .ok_or_else(|| anyhow::anyhow!("bad client id {client_id:?}"))?;
            state.bus.take_control(&key_of, &client_id).await?;
            println!("bench-ok");
        }
    }
    stop.cancel();
    let _ = gateway_task.await;
    let _ = verification_task.await;
    Ok(())
}

/// Lines of stdin, read on a plain thread (the workspace's tokio has no `io-std`); the
/// channel closes at EOF.
pub(crate) fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (send, receive) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if send.blocking_send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// The production defaults where they matter for a relay (ping cadence, queue bound, socket
/// cap).
fn gateway_config(verification_url: String) -> gateway::config::Config {
    let mut config = gateway::config::Config::for_tests(verification_url);
    config.auth_cache_ttl = Duration::from_secs(10);
    config.ping_interval = Duration::from_secs(10);
    config.pong_timeout = Duration::from_secs(30);
    config.connect_timeout = Duration::from_secs(10);
    config.handshake_timeout = Duration::from_secs(10);
    config.control_grace = Duration::from_secs(10);
    config.activity_interval = Duration::from_secs(30);
    config.outbound_queue = 256;
    config.max_sockets = 20_000;
    config
}

/// Parent side: a running gateway child.
pub struct GatewayHost {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Gateway HTTP/WebSocket address.
    pub addr: String,
    key: String,
    session: String,
}

impl GatewayHost {
    /// Starts a gateway whose browser session's `vnc_url` is `upstream`.
    pub async fn spawn(upstream: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["host-gateway", "--upstream", upstream])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_WAIT, expect_line(&mut lines, "bench-host "))
            .await
            .context("gateway host did not start in time")??;
        let fields: Vec<&str> = ready.split_whitespace().collect();
        let [addr, _org, key, session] = fields[..] else {
            bail!("malformed host line {ready:?}");
        };
        Ok(Self {
            addr: addr.to_owned(),
            key: key.to_owned(),
            session: session.to_owned(),
            child,
            stdin,
            lines,
        })
    }

    /// The VNC socket URL for `client_id`.
    pub fn vnc_url(&self, client_id: &str) -> String {
        format!(
            "ws://{}/v1/stream/vnc/browser_session/{}?client_id={client_id}&apikey={}",
            self.addr, self.session, self.key
        )
    }

    /// The Message socket URL for `client_id`.
    pub fn message_url(&self, client_id: &str) -> String {
        format!(
            "ws://{}/v1/stream/messages/browser_session/{}?client_id={client_id}&apikey={}",
            self.addr, self.session, self.key
        )
    }

    /// Gives `client_id` control (what `take-control` on its Message socket does).
    pub async fn give_control(&mut self, client_id: &str) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("control {client_id}\n").as_bytes())
            .await?;
        tokio::time::timeout(START_WAIT, expect_line(&mut self.lines, "bench-ok"))
            .await
            .context("control not granted in time")??;
        Ok(())
    }

    /// The child's process id (for its memory).
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("gateway host exited")
    }

    /// Closes its stdin (it drains and exits) and waits for it.
    pub async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(START_WAIT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Reads lines until one starts with `prefix` (the gateway may print its own lines).
async fn expect_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
) -> anyhow::Result<String> {
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.to_owned());
        }
    }
    bail!("gateway host exited")
}

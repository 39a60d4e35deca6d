//! The gateway under test, in its own process (this binary re-executed as `host-gateway`):
//! a verification service on a fresh SQLite file and a gateway, both in-process on
//! 127.0.0.1:0, seeded with one browser session whose `vnc_url` is the given upstream. Its
//! own process gives it its own heap and RSS (as websockify has), and keeps it off the
//! benchmark client's runtime.
//!
//! Parent ⇄ child protocol, one line each: the child prints `bench-host <gateway addr>
//! <organization> <api key> <session>[,<session>…]` (one session, or `--sessions N`); the
//! parent writes `control <client_id>` and the child answers `bench-ok` once that client holds
//! control of the first session; `tasks` is answered `bench-tasks <n>` (the gateway's tracked
//! tasks); stdin EOF stops the child.

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
pub async fn serve(upstream: String, sessions: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("relay-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let result = serve_in(&dir, upstream, sessions.max(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn serve_in(dir: &std::path::Path, upstream: String, sessions: usize) -> anyhow::Result<()> {
    let database_url = format!("sqlite://{}", dir.join("verification.db").display());
    let stop = CancellationToken::new();
    let verification =
        verification::Application::build(verification::Config::for_database(&database_url)).await?;
    let verification_url = format!("http://{}", verification.local_addr());
    let verification_task = tokio::spawn(verification.run(stop.clone().cancelled_owned()));
    let admin = verification::Admin::connect(&database_url).await?;
    let org = admin.create_org("bench").await?;
    let key = admin.create_api_key(&org).await?;
    let mut ids = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let mut new = verification::NewBrowserSession::new(&org);
        new.vnc_url = Some(upstream.clone());
        new.cdp_url = Some("http://127.0.0.1:9".into());
        ids.push(admin.create_browser_session(new).await?);
    }
    let session = ids[0].clone();

    let app = gateway::startup::Application::build(gateway_config(verification_url)).await?;
    let (addr, state) = (app.local_addr(), app.state().clone());
    let gateway_task = tokio::spawn(app.run(stop.clone()));
    println!("bench-host {addr} {org} {key} {}", ids.join(","));

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
        } else if line.trim() == "tasks" {
            println!("bench-tasks {}", state.tracker.len());
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

/// How long a hosted gateway keeps a socket that answers no ping (production's default).
const PONG_TIMEOUT: Duration = Duration::from_secs(30);

/// The production defaults where they matter for a relay (ping cadence, queue bound, socket
/// cap).
fn gateway_config(verification_url: String) -> gateway::config::Config {
    let mut config = gateway::config::Config::for_tests(verification_url);
    config.auth_cache_ttl = Duration::from_secs(10);
    config.ping_interval = Duration::from_secs(10);
    config.pong_timeout = PONG_TIMEOUT;
    config.connect_timeout = Duration::from_secs(10);
    config.handshake_timeout = Duration::from_secs(10);
    config.control_grace = Duration::from_secs(10);
    config.activity_interval = Duration::from_secs(30);
    config.outbound_queue = 256;
    config.max_sockets = 20_000;
    // Every benchmark viewer is one tenant's: the per-organization cap would stop the idle
    // pairs at 2,500.
    config.max_sockets_per_org = 0;
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
    /// Every seeded browser session (the first is `session`).
    pub sessions: Vec<String>,
}

/// Starts this binary as `args` (a `host-*` subcommand): stdin and stdout piped to the
/// benchmark, stderr shared, killed if dropped.
pub fn spawn_self(args: &[&str]) -> anyhow::Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?)
}

impl GatewayHost {
    /// Starts a gateway whose browser session's `vnc_url` is `upstream`.
    pub async fn spawn(upstream: &str) -> anyhow::Result<Self> {
        Self::spawn_with_sessions(upstream, 1).await
    }

    /// Starts a gateway with `sessions` browser sessions, each on `upstream`.
    pub async fn spawn_with_sessions(upstream: &str, sessions: usize) -> anyhow::Result<Self> {
        let sessions = sessions.to_string();
        let mut child = spawn_self(&[
            "host-gateway",
            "--upstream",
            upstream,
            "--sessions",
            &sessions,
        ])?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_WAIT, expect_line(&mut lines, "bench-host "))
            .await
            .context("gateway host did not start in time")??;
        let fields: Vec<&str> = ready.split_whitespace().collect();
        let [addr, _org, key, sessions] = fields[..] else {
            bail!("malformed host line {ready:?}");
        };
        let sessions: Vec<String> = sessions.split(',').map(str::to_owned).collect();
        Ok(Self {
            addr: addr.to_owned(),
            key: key.to_owned(),
            session: sessions[0].clone(),
            sessions,
            child,
            stdin,
            lines,
        })
    }

    /// The VNC socket URL for `client_id` (first session).
    pub fn vnc_url(&self, client_id: &str) -> String {
        self.url_of("vnc", &self.session, client_id)
    }

    /// The Message socket URL for `client_id` (first session).
    pub fn message_url(&self, client_id: &str) -> String {
        self.url_of("messages", &self.session, client_id)
    }

    /// The `channel` (`vnc`, `messages`) socket URL of `session` for `client_id`.
    pub fn url_of(&self, channel: &str, session: &str, client_id: &str) -> String {
        format!(
            "ws://{}/v1/stream/{channel}/browser_session/{session}?client_id={client_id}&apikey={}",
            self.addr, self.key
        )
    }

    /// The gateway's tracked tasks now.
    pub async fn tasks(&mut self) -> anyhow::Result<usize> {
        self.stdin.write_all(b"tasks\n").await?;
        let line = tokio::time::timeout(START_WAIT, expect_line(&mut self.lines, "bench-tasks "))
            .await
            .context("no task count in time")??;
        Ok(line.trim().parse()?)
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
    pub async fn stop(self) {
        stop_child(self.stdin, self.child, START_WAIT).await;
    }
}

/// Closes a host child's stdin (its signal to stop) and waits up to `wait` for it to exit,
/// then kills it.
pub(crate) async fn stop_child(stdin: ChildStdin, mut child: Child, wait: Duration) {
    drop(stdin);
    if tokio::time::timeout(wait, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// Reads lines until one starts with `prefix` (a host may print its own lines).
pub(crate) async fn expect_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
) -> anyhow::Result<String> {
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.to_owned());
        }
    }
    bail!("the host process exited before printing {prefix:?}")
}

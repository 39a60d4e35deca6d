//! Idle viewers at scale: N VNC+Message pairs held open on one fresh gateway (`tcp://`
//! upstream), as N people watching without touching anything. For each size it records the
//! gateway's RSS growth per pair, its thread count, the time to open the pairs, and how many
//! still answer after a hold (the VNC socket an incremental update, the Message socket a
//! ping). Sizes accumulate: the pairs of one size stay open for the next.
//!
//! Every pair is one task here that keeps both sockets read, so the gateway's pings are
//! answered through the hold as a browser's would be.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{RfbClient, WAIT};
use crate::host::GatewayHost;
use crate::procfs::{threads, tree_memory};

/// Pairs being opened at once (a browser tab opens its two sockets back to back; many viewers
/// arrive at once after a link is shared).
const OPEN_CONCURRENCY: usize = 64;
/// Pause between the last pair opening and reading memory, so that buffers settle.
const SETTLE: Duration = Duration::from_secs(1);
/// Descriptors one pair costs in each process: the gateway holds the two frontend sockets and
/// the upstream dial; this process holds the two client sockets and the server's end.
pub const DESCRIPTORS_PER_PAIR: u64 = 3;
/// Descriptors kept aside in each process for everything else.
const DESCRIPTOR_MARGIN: u64 = 512;

/// What one size measured.
#[derive(Debug, Clone)]
pub enum PairsRow {
    /// The size ran.
    Measured {
        /// Pairs open.
        pairs: usize,
        /// Gateway RSS growth since it started, per open pair, KiB.
        rss_kib_per_pair: f64,
        /// Gateway RSS, MiB.
        rss_mib: f64,
        /// Gateway threads.
        threads: u64,
        /// Seconds to open the pairs added for this size.
        open_secs: f64,
        /// Pairs that failed to open.
        failed_to_open: usize,
        /// Pairs that answered on both sockets after the hold.
        alive: usize,
        /// The first failure, if any.
        first_error: Option<String>,
    },
    /// The size could not run on this machine.
    NotRun {
        /// Pairs asked for.
        pairs: usize,
        /// Why.
        reason: String,
    },
}

/// The largest number of pairs a process with `open_files` descriptors can hold.
pub fn fitting(open_files: u64) -> usize {
    (open_files.saturating_sub(DESCRIPTOR_MARGIN) / DESCRIPTORS_PER_PAIR) as usize
}

/// Opens pairs up to each of `sizes` (ascending) on a fresh gateway in front of `upstream`,
/// holding each size for `hold`; `open_files` is this process's (and the gateway's) limit.
pub async fn measure(
    upstream: SocketAddr,
    sizes: &[usize],
    hold: Duration,
    open_files: u64,
) -> anyhow::Result<Vec<PairsRow>> {
    let gateway = GatewayHost::spawn(&format!("tcp://{upstream}")).await?;
    tokio::time::sleep(SETTLE).await;
    let pid = gateway.pid()?;
    let baseline = tree_memory(pid).rss_kib;
    let (checks, _) = watch::channel(0u64);
    let (report, mut reports) = mpsc::channel::<Report>(1024);
    let gate = std::sync::Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let mut rows = Vec::new();
    let (mut open, mut next_client) = (0usize, 0usize);
    let most = fitting(open_files) / 100 * 100;
    for &asked in sizes {
        let mut size = asked;
        if size > most {
            rows.push(PairsRow::NotRun {
                pairs: size,
                reason: format!(
                    "the open-files limit here is {open_files} (the hard limit) and each pair costs the gateway {DESCRIPTORS_PER_PAIR} descriptors, so {most} pairs were run instead"
                ),
            });
            if most <= open {
                continue;
            }
            size = most;
        }
        eprintln!(
            "pairs: opening {} more, to {size}…",
            size.saturating_sub(open)
        );
        let started = Instant::now();
        let adding = size.saturating_sub(open);
        for _ in 0..adding {
            next_client += 1;
            let client_id = format!("pair{next_client}");
            tokio::spawn(pair(
                gateway.vnc_url(&client_id),
                gateway.message_url(&client_id),
                gate.clone(),
                checks.subscribe(),
                report.clone(),
            ));
        }
        let (mut failed_to_open, mut first_error) = (0, None);
        for _ in 0..adding {
            match reports.recv().await.context("pair tasks ended")? {
                Report::Opened(Ok(())) => {}
                Report::Opened(Err(error)) | Report::Checked(Err(error)) => {
                    failed_to_open += 1;
                    first_error.get_or_insert(error);
                }
                Report::Checked(Ok(())) => bail!("a check report before any check"),
            }
        }
        let open_secs = started.elapsed().as_secs_f64();
        open = size;
        tokio::time::sleep(SETTLE).await;
        let memory = tree_memory(pid).rss_kib;
        let thread_count = threads(pid);
        eprintln!(
            "pairs: {size} open in {open_secs:.1} s; holding {} s…",
            hold.as_secs()
        );
        tokio::time::sleep(hold).await;
        checks.send_modify(|generation| *generation += 1);
        let live = size - failed_to_open;
        let mut alive = 0;
        for _ in 0..live {
            match tokio::time::timeout(WAIT * 2, reports.recv()).await {
                Ok(Some(Report::Checked(Ok(())))) => alive += 1,
                Ok(Some(Report::Checked(Err(error)))) => {
                    first_error.get_or_insert(error);
                }
                Ok(Some(Report::Opened(_))) => bail!("an open report during a check"),
                Ok(None) | Err(_) => {
                    first_error.get_or_insert_with(|| "a pair did not report its check".into());
                    break;
                }
            }
        }
        rows.push(PairsRow::Measured {
            pairs: size,
            rss_kib_per_pair: memory.saturating_sub(baseline) as f64 / size.max(1) as f64,
            rss_mib: memory as f64 / 1024.0,
            threads: thread_count,
            open_secs,
            failed_to_open,
            alive,
            first_error,
        });
    }
    drop(checks);
    gateway.stop().await;
    Ok(rows)
}

/// What a pair task says.
enum Report {
    /// Both sockets are open (or why not).
    Opened(Result<(), String>),
    /// Both sockets answered after a hold (or why not).
    Checked(Result<(), String>),
}

pub(crate) type MessageSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One viewer: opens both sockets, keeps them read, and answers each check until the check
/// channel closes.
async fn pair(
    vnc_url: String,
    message_url: String,
    gate: std::sync::Arc<Semaphore>,
    mut checks: watch::Receiver<u64>,
    report: mpsc::Sender<Report>,
) {
    let opened = {
        let _permit = gate.acquire().await;
        open(&vnc_url, &message_url).await
    };
    let (mut vnc, mut message) = match opened {
        Ok(sockets) => {
            let _ = report.send(Report::Opened(Ok(()))).await;
            sockets
        }
        Err(error) => {
            let _ = report.send(Report::Opened(Err(format!("{error:#}")))).await;
            return;
        }
    };
    let mut failure: Option<String> = None;
    loop {
        let go_on = if failure.is_some() {
            checks.changed().await.is_ok()
        } else {
            tokio::select! {
                changed = checks.changed() => changed.is_ok(),
                Err(error) = vnc.idle_until(std::future::pending()) => {
                    failure = Some(format!("VNC socket during the hold: {error:#}"));
                    checks.changed().await.is_ok()
                }
                error = idle_message(&mut message) => {
                    failure = Some(format!("Message socket during the hold: {error:#}"));
                    checks.changed().await.is_ok()
                }
            }
        };
        if !go_on {
            break;
        }
        let checked = match &failure {
            Some(error) => Err(error.clone()),
            None => check(&mut vnc, &mut message)
                .await
                .map_err(|e| format!("{e:#}")),
        };
        if let Err(error) = &checked {
            failure.get_or_insert_with(|| error.clone());
        }
        if report.send(Report::Checked(checked)).await.is_err() {
            break;
        }
    }
    vnc.close().await;
    let _ = tokio::time::timeout(WAIT, message.close(None)).await;
}

/// Opens the VNC socket through the RFB handshake, then the Message socket up to its first
/// frame (the `control-state` every Message socket gets on connect).
async fn open(vnc_url: &str, message_url: &str) -> anyhow::Result<(RfbClient, MessageSocket)> {
    let mut vnc = RfbClient::ws(vnc_url).await.context("VNC upgrade")?;
    vnc.handshake().await.context("RFB handshake")?;
    let (mut message, _) =
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(message_url))
            .await
            .context("Message upgrade timed out")?
            .context("Message upgrade")?;
    match tokio::time::timeout(WAIT, message.next()).await {
        Ok(Some(Ok(Message::Text(text)))) if text.contains("control-state") => {}
        other => bail!("expected control-state first, got {other:?}"),
    }
    Ok((vnc, message))
}

/// Reads the Message socket until it fails (pings are answered as they are read); returns the
/// reason it ended.
pub(crate) async fn idle_message(message: &mut MessageSocket) -> anyhow::Error {
    loop {
        match message.next().await {
            Some(Ok(Message::Close(frame))) => return anyhow::anyhow!("closed: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return error.into(),
            None => return anyhow::anyhow!("ended"),
        }
    }
}

/// One incremental update on the VNC socket and one ping→pong on the Message socket.
async fn check(vnc: &mut RfbClient, message: &mut MessageSocket) -> anyhow::Result<()> {
    vnc.incremental_update()
        .await
        .context("VNC incremental update")?;
    let pong = async {
        message.send(Message::Ping(b"alive"[..].into())).await?;
        loop {
            match message.next().await {
                Some(Ok(Message::Pong(_))) => return anyhow::Ok(()),
                Some(Ok(Message::Close(frame))) => bail!("closed: {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error.into()),
                None => bail!("ended"),
            }
        }
    };
    tokio::time::timeout(WAIT, pong)
        .await
        .context("Message pong timed out")?
        .context("Message ping")
}

//! The benchmark's side of ours: one `Watch` gRPC stream carrying every watched entity (the
//! gateway opens one per replica, `gateway/src/liveness.rs`), and a reader of verification's
//! metrics endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use proto::verification::v1 as pb;
use proto::verification::v1::verification_client::VerificationClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bound on connecting, opening the stream and one metrics scrape.
const CALL_WAIT: Duration = Duration::from_secs(10);
/// Bound on verification registering every added entity.
const REGISTER_WAIT: Duration = Duration::from_secs(60);

/// An open Watch stream.
pub struct WatchStream {
    /// Kept so the request half stays open (dropping it only ends the adds).
    _requests: mpsc::Sender<pb::WatchRequest>,
    events: tonic::Streaming<pb::WatchEvent>,
}

impl WatchStream {
    /// Opens a stream on `addr` that adds each of `sessions` of `org`, all queued before the
    /// call, as the gateway re-adds its entities on a new stream.
    pub async fn open(addr: SocketAddr, org: &str, sessions: &[String]) -> anyhow::Result<Self> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(CALL_WAIT)
            .connect()
            .await
            .context("cannot connect to verification")?;
        let mut client = VerificationClient::new(channel);
        let (tx, rx) = mpsc::channel(sessions.len() + 1);
        for id in sessions {
            let add = pb::WatchRequest {
                change: Some(pb::watch_request::Change::Add(pb::WatchedEntity {
                    organization_id: org.to_owned(),
                    entity: Some(pb::EntityRef {
                        kind: pb::EntityKind::BrowserSession as i32,
                        id: id.clone(),
                    }),
                })),
            };
            tx.try_send(add).context("watch request queue")?;
        }
        let requests = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|request| (request, rx))
        });
        let events = tokio::time::timeout(CALL_WAIT, client.watch(requests))
            .await
            .context("Watch did not answer in time")??
            .into_inner();
        Ok(Self {
            _requests: tx,
            events,
        })
    }

    /// Waits (until `deadline`) for the event of session `id`; other events are skipped.
    pub async fn ended(&mut self, id: &str, deadline: Instant) -> anyhow::Result<pb::WatchEvent> {
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.message())
                .await
                .with_context(|| format!("no WatchEvent for {id} in time"))??
                .context("the Watch stream ended")?;
            let of = event.entity.as_ref().and_then(|e| e.entity.as_ref());
            if of.is_some_and(|e| e.id == id) {
                return Ok(event);
            }
        }
    }
}

/// The watch poller's counters from `GET /metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollMetrics {
    /// `verification_watch_poll_cycles_total`.
    pub cycles: u64,
    /// `verification_watch_poll_queries_total`.
    pub queries: u64,
    /// `verification_watched_entities`.
    pub watched: u64,
}

/// Scrapes verification's metrics endpoint once.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<PollMetrics> {
    let fetch = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        anyhow::Ok(text)
    };
    let text = tokio::time::timeout(CALL_WAIT, fetch)
        .await
        .context("metrics did not answer in time")??;
    let value = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .with_context(|| format!("no {name} in the metrics"))
    };
    Ok(PollMetrics {
        cycles: value("verification_watch_poll_cycles_total")?,
        queries: value("verification_watch_poll_queries_total")?,
        watched: value("verification_watched_entities")?,
    })
}

/// Waits until verification watches exactly `n` entities (polling its metrics).
pub async fn wait_watched(addr: SocketAddr, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + REGISTER_WAIT;
    loop {
        let watched = scrape(addr).await?.watched;
        if usize::try_from(watched).ok() == Some(n) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("verification watches {watched} entities, not {n}, after {REGISTER_WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

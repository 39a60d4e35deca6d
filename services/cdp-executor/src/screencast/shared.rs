//! One screencast per browser session and frame limits, however many streams watch it: the
//! first `StreamScreencast` starts the task that casts the active tab, every later one joins
//! it (getting its latest frame at once), and each stream has its own drop-oldest queue, so a
//! slow consumer loses old frames without slowing the others. When the last stream goes the
//! [`Fanout`] drops, which stops the task. Many gateway replicas (and other backends)
//! watching one browser therefore cost the browser one screencast, as one replica's viewers do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use proto::cdp::v1::ScreencastFrame;
use service_kit::sync::lock;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::frames::Limits;
use crate::metrics::Metrics;
use crate::resolve::SessionKey;
use service_kit::drop_oldest;

/// One stream's end of its queue: frames, then maybe a closing status.
pub type FrameSender = drop_oldest::Sender<Result<ScreencastFrame, Status>>;

/// What a screencast is shared by.
pub type CastKey = (SessionKey, Limits);

/// The open screencasts of this executor.
#[derive(Debug, Default)]
pub struct Screencasts {
    casts: Mutex<HashMap<CastKey, Weak<Fanout>>>,
}

/// One screencast's streams. Every stream holds it; the casting task holds it weakly.
#[derive(Debug)]
pub struct Fanout {
    state: Mutex<State>,
    /// Cancelled when the last stream drops it: stops the casting task.
    stop: CancellationToken,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct State {
    streams: Vec<FrameSender>,
    latest: Option<ScreencastFrame>,
    /// The task ended: joiners start a new screencast.
    ended: bool,
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A stream's place in a screencast.
#[derive(Debug)]
pub enum Joined {
    /// It joined a running screencast.
    Running(Arc<Fanout>),
    /// It is the first: the caller starts the task with this token (cancelled when the last
    /// stream leaves), casting into the fanout.
    New(Arc<Fanout>, CancellationToken),
}

impl Screencasts {
    /// Adds the stream fed by `frames` to the screencast of `key`, starting one when none is
    /// running. `parent` is the server's token (shutdown stops every screencast).
    pub fn join(
        &self,
        key: CastKey,
        mut frames: FrameSender,
        parent: &CancellationToken,
        metrics: &Arc<Metrics>,
    ) -> Joined {
        let mut casts = lock(&self.casts);
        casts.retain(|_, cast| cast.strong_count() > 0);
        if let Some(fanout) = casts.get(&key).and_then(Weak::upgrade) {
            match fanout.add(frames) {
                Ok(()) => return Joined::Running(fanout),
                Err(back) => frames = back,
            }
        }
        let stop = parent.child_token();
        let fanout = Arc::new(Fanout {
            state: Mutex::new(State::default()),
            stop: stop.clone(),
            metrics: metrics.clone(),
        });
        // A new fanout has not ended: this cannot give the stream back.
        let _ = fanout.add(frames);
        casts.insert(key, Arc::downgrade(&fanout));
        Joined::New(fanout, stop)
    }

    /// Screencasts running now.
    pub fn len(&self) -> usize {
        lock(&self.casts)
            .values()
            .filter(|c| c.strong_count() > 0)
            .count()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Fanout {
    /// Adds a stream (with the latest frame queued at once); gives it back when the task has
    /// ended.
    fn add(&self, frames: FrameSender) -> Result<(), FrameSender> {
        let mut state = lock(&self.state);
        if state.ended {
            return Err(frames);
        }
        if let Some(latest) = &state.latest {
            frames.push(Ok(latest.clone()));
        }
        state.streams.push(frames);
        Ok(())
    }

    /// Queues `frame` to every stream still read; counts the frames it pushed out.
    pub fn publish(&self, frame: ScreencastFrame) {
        let mut state = lock(&self.state);
        state.streams.retain(|s| !s.is_closed());
        for stream in &state.streams {
            if stream.push(Ok(frame.clone())).is_some() {
                self.metrics.frames_evicted.inc();
            }
        }
        state.latest = Some(frame);
    }

    /// Ends every stream after its queued frames, with `status` when given.
    pub fn finish(&self, status: Option<Status>) {
        let mut state = lock(&self.state);
        state.ended = true;
        for stream in state.streams.drain(..) {
            stream.finish(status.clone().map(Err));
        }
    }
}

//! The frame queue between a screencast task and its gRPC consumer: a fixed number of slots
//! that drops the OLDEST frame when full, so the producer (which reads the browser's events)
//! never waits for the consumer and a slow consumer gets the newest picture, not a backlog.
//! The receiving half is the stream tonic polls; the closing status, if any, is yielded after
//! the frames still queued.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::Stream;
use prometheus_client::metrics::counter::Counter;
use service_kit::sync::lock;
use tonic::Status;

/// A queue of `capacity` (at least one) slots; `sent` counts the items the consumer took.
pub fn channel<T>(capacity: usize, sent: Counter) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        items: VecDeque::with_capacity(capacity.max(1)),
        capacity: capacity.max(1),
        end: End::Open,
        waker: None,
        consumer_gone: false,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, sent },
    )
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    end: End,
    waker: Option<Waker>,
    /// The receiver was dropped: nothing pushed will be read.
    consumer_gone: bool,
}

#[derive(Debug)]
enum End {
    Open,
    /// The producer finished; yield this status (if any) once the queue is empty.
    Closing(Option<Status>),
    Done,
}

/// The producing half. Dropping it ends the stream without a status.
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Mutex<State<T>>>,
}

// === impl Sender ===

impl<T> Sender<T> {
    /// Queues `item`, never waiting; true when the oldest queued item was dropped for it.
    pub fn push(&self, item: T) -> bool {
        let (waker, evicted) = {
            let mut state = lock(&self.shared);
            if !matches!(state.end, End::Open) {
                return false;
            }
            let evicted = state.items.len() >= state.capacity;
            if evicted {
                state.items.pop_front();
            }
            state.items.push_back(item);
            (state.waker.take(), evicted)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        evicted
    }

    /// Whether the consumer is gone (its receiver dropped).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).consumer_gone
    }

    /// Ends the stream after the queued items, with `status` as its last item when given.
    pub fn finish(&self, status: Option<Status>) {
        let waker = {
            let mut state = lock(&self.shared);
            if !matches!(state.end, End::Open) {
                return;
            }
            state.end = End::Closing(status);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// The consuming half: a stream of the queued items, then the closing status.
#[derive(Debug)]
pub struct Receiver<T> {
    shared: Arc<Mutex<State<T>>>,
    sent: Counter,
}

// === impl Receiver ===

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.consumer_gone = true;
        state.items.clear();
    }
}

impl<T> Stream for Receiver<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = lock(&self.shared);
        if let Some(item) = state.items.pop_front() {
            self.sent.inc();
            return Poll::Ready(Some(Ok(item)));
        }
        match std::mem::replace(&mut state.end, End::Done) {
            End::Open => {
                state.end = End::Open;
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            End::Closing(Some(status)) => Poll::Ready(Some(Err(status))),
            End::Closing(None) | End::Done => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_keeps_the_newest() {
        let sent = Counter::default();
        let (tx, mut rx) = channel(2, sent.clone());
        assert!(!tx.push(1));
        assert!(!tx.push(2));
        assert!(tx.push(3));
        assert!(tx.push(4));
        assert_eq!(rx.next().await.unwrap().unwrap(), 3);
        assert!(!tx.push(5));
        assert_eq!(rx.next().await.unwrap().unwrap(), 4);
        assert_eq!(rx.next().await.unwrap().unwrap(), 5);
        assert_eq!(sent.get(), 3);
    }

    #[tokio::test]
    async fn the_closing_status_follows_the_queued_items_then_the_stream_ends() {
        let (tx, mut rx) = channel(2, Counter::default());
        tx.push("a");
        tx.finish(Some(Status::unavailable("browser unavailable")));
        assert!(!tx.push("late"));
        assert_eq!(rx.next().await.unwrap().unwrap(), "a");
        let status = rx.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(rx.next().await.is_none());
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_woken_by_a_push_and_by_the_producer_going_away() {
        let (tx, mut rx) = channel::<u32>(2, Counter::default());
        let waiting = tokio::spawn(async move {
            let first = rx.next().await.unwrap().unwrap();
            (first, rx.next().await.is_none())
        });
        tokio::task::yield_now().await;
        tx.push(7);
        tokio::task::yield_now().await;
        drop(tx);
        let (first, ended) = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first, 7);
        assert!(ended);
    }
}

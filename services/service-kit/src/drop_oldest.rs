//! A bounded queue that drops its OLDEST item when full, never the newest: what a viewer of a
//! live picture wants (the latest frame rather than a backlog), and why a slow consumer costs
//! the producer and the other consumers nothing (a push never waits). The producer may end the
//! queue with one last item (a closing status) that is yielded after what is still queued and
//! is never dropped; the consumer is a [`Stream`], and dropping it tells the producer
//! ([`Sender::is_closed`]). The lock is held only to move one item.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::Stream;

use crate::sync::lock;

/// A queue of `capacity` (at least one) items.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Mutex::new(State {
        items: VecDeque::with_capacity(capacity),
        capacity,
        last: None,
        finished: false,
        waker: None,
        consumer_gone: false,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// The producer's last item, yielded once the queue is empty.
    last: Option<T>,
    /// No more pushes: the stream ends after `items` and `last`.
    finished: bool,
    waker: Option<Waker>,
    /// The receiver was dropped: nothing pushed will be read.
    consumer_gone: bool,
}

/// The producing half. Dropping it ends the stream (after what is queued).
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Mutex<State<T>>>,
}

impl<T> Sender<T> {
    /// Queues `item`, never waiting; returns the oldest item dropped to make room, if any.
    /// Ignored once finished.
    pub fn push(&self, item: T) -> Option<T> {
        let (waker, evicted) = {
            let mut state = lock(&self.shared);
            if state.finished {
                return None;
            }
            let evicted = if state.items.len() >= state.capacity {
                state.items.pop_front()
            } else {
                None
            };
            state.items.push_back(item);
            (state.waker.take(), evicted)
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        evicted
    }

    /// Ends the stream after the queued items, with `last` as its final item when given.
    /// Later calls (and pushes) change nothing.
    pub fn finish(&self, last: Option<T>) {
        let waker = {
            let mut state = lock(&self.shared);
            if state.finished {
                return;
            }
            state.finished = true;
            state.last = last;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the consumer is gone (its receiver dropped).
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).consumer_gone
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// The consuming half: the queued items, then the producer's last item, then the end.
#[derive(Debug)]
pub struct Receiver<T> {
    shared: Arc<Mutex<State<T>>>,
}

impl<T> Receiver<T> {
    /// Items queued now (the last item not counted).
    pub fn len(&self) -> usize {
        lock(&self.shared).items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.shared);
        if let Some(item) = state.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if state.finished {
            return Poll::Ready(state.last.take());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.consumer_gone = true;
        state.items.clear();
        state.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_keeps_the_newest() {
        let (tx, mut rx) = channel(2);
        assert_eq!(tx.push(1), None);
        assert_eq!(tx.push(2), None);
        assert_eq!(tx.push(3), Some(1));
        assert_eq!(tx.push(4), Some(2));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.next().await, Some(3));
        assert_eq!(tx.push(5), None);
        assert_eq!(rx.next().await, Some(4));
        assert_eq!(rx.next().await, Some(5));
        assert!(rx.is_empty());
    }

    #[tokio::test]
    async fn the_last_item_follows_the_queued_ones_then_the_stream_ends() {
        let (tx, mut rx) = channel(2);
        tx.push("a");
        tx.finish(Some("closing"));
        assert_eq!(tx.push("late"), None);
        tx.finish(Some("again"));
        assert_eq!(rx.next().await, Some("a"));
        assert_eq!(rx.next().await, Some("closing"));
        assert_eq!(rx.next().await, None);
        assert_eq!(rx.next().await, None);
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_woken_by_a_push_and_by_the_producer_going_away() {
        let (tx, mut rx) = channel::<u32>(2);
        let waiting = tokio::spawn(async move {
            let first = rx.next().await;
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
        assert_eq!(first, Some(7));
        assert!(ended);
    }

    #[test]
    fn the_producer_learns_that_the_consumer_left() {
        let (tx, rx) = channel::<u32>(2);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
    }
}

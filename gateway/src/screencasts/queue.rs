//! A bounded queue that drops its oldest item when full, never the newest: what a viewer of a
//! live picture wants (the latest frame), and why a slow viewer costs the others nothing: the
//! producer never waits. Std mutex + `Notify`; the lock is held only to move one item.

use std::collections::VecDeque;
use std::sync::Mutex;

use service_kit::sync::lock;
use tokio::sync::Notify;

/// A drop-oldest queue of at most `capacity` items, closed once.
pub struct DropOldest<T> {
    inner: Mutex<Inner<T>>,
    notify: Notify,
    capacity: usize,
}

struct Inner<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> DropOldest<T> {
    /// An empty queue of `capacity` (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Mutex::new(Inner {
                items: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            notify: Notify::new(),
            capacity,
        }
    }

    /// Adds `item`; returns the item evicted to make room, if any. Ignored once closed.
    pub fn push(&self, item: T) -> Option<T> {
        let evicted = {
            let mut inner = lock(&self.inner);
            if inner.closed {
                return None;
            }
            let evicted = if inner.items.len() == self.capacity {
                inner.items.pop_front()
            } else {
                None
            };
            inner.items.push_back(item);
            evicted
        };
        self.notify.notify_one();
        evicted
    }

    /// Adds `item` as the last one and closes the queue: `pop` yields what is left, this
    /// last, then `None`. It evicts like [`Self::push`].
    pub fn push_last(&self, item: T) -> Option<T> {
        let evicted = self.push(item);
        lock(&self.inner).closed = true;
        self.notify.notify_one();
        evicted
    }

    /// The oldest item, waiting for one; `None` once closed and empty.
    pub async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut inner = lock(&self.inner);
                if let Some(item) = inner.items.pop_front() {
                    return Some(item);
                }
                if inner.closed {
                    return None;
                }
            }
            // A push between the check and this wait left a permit: no wake-up is lost.
            self.notify.notified().await;
        }
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        lock(&self.inner).items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_and_keeps_the_newest() {
        let queue = DropOldest::new(2);
        assert_eq!(queue.push(1), None);
        assert_eq!(queue.push(2), None);
        assert_eq!(queue.push(3), Some(1));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop().await, Some(2));
        assert_eq!(queue.pop().await, Some(3));
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn the_last_item_is_delivered_after_the_rest_and_then_the_queue_ends() {
        let queue = DropOldest::new(2);
        queue.push("frame");
        queue.push_last("ended");
        assert_eq!(queue.push("late"), None);
        assert_eq!(queue.pop().await, Some("frame"));
        assert_eq!(queue.pop().await, Some("ended"));
        assert_eq!(queue.pop().await, None);
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_on_push() {
        let queue = std::sync::Arc::new(DropOldest::new(2));
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.pop().await }
        });
        tokio::task::yield_now().await;
        queue.push(7);
        assert_eq!(waiter.await.unwrap(), Some(7));
    }
}

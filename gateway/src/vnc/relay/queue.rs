//! The upstream→frontend queue, bounded by the memory its chunks hold rather than by their
//! number. A count bound assumes full chunks; under load a read returns whatever arrived, so
//! one framebuffer update can come in hundreds of small chunks, and a count bound then closes
//! a viewer that is keeping up.
//! Each chunk is charged what it holds ([`ReadBuffers::take_chunk`](super::buffers)), and at
//! least [`MIN_CHARGE`], so the byte bound also bounds the count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

/// The least a chunk is charged: what a chunk costs besides its bytes is small, but a flood
/// of one-byte reads must still fill the queue.
pub(super) const MIN_CHARGE: usize = 1024;

struct Queued {
    bytes: Bytes,
    charge: usize,
}

/// The producing side (the upstream pump).
pub(super) struct QueueTx {
    tx: mpsc::Sender<Queued>,
    held: Arc<AtomicUsize>,
    limit: usize,
}

/// The consuming side (the writer).
pub(super) struct QueueRx {
    rx: mpsc::Receiver<Queued>,
    held: Arc<AtomicUsize>,
}

/// A queue that holds at most `limit` bytes of chunks (a first chunk always fits).
pub(super) fn channel(limit: usize) -> (QueueTx, QueueRx) {
    let limit = limit.max(MIN_CHARGE);
    // Never reached: the byte bound is checked first; this only makes the bound structural.
    let (tx, rx) = mpsc::channel(limit / MIN_CHARGE + 1);
    let held = Arc::new(AtomicUsize::new(0));
    (
        QueueTx {
            tx,
            held: held.clone(),
            limit,
        },
        QueueRx { rx, held },
    )
}

/// The queue is full: the frontend is not keeping up.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Full;

impl QueueTx {
    /// Queues `bytes`, which hold `charge` bytes of memory; never waits.
    pub(super) fn push(&self, bytes: Bytes, charge: usize) -> Result<(), Full> {
        let charge = charge.max(MIN_CHARGE);
        let held = self.held.fetch_add(charge, Ordering::AcqRel);
        if held > 0 && held + charge > self.limit {
            self.held.fetch_sub(charge, Ordering::AcqRel);
            return Err(Full);
        }
        self.tx.try_send(Queued { bytes, charge }).map_err(|_| {
            self.held.fetch_sub(charge, Ordering::AcqRel);
            Full
        })
    }
}

impl QueueRx {
    /// The next chunk; `None` once the pump ended and the queue is empty.
    pub(super) async fn recv(&mut self) -> Option<Bytes> {
        let queued = self.rx.recv().await?;
        Some(self.release(queued))
    }

    /// The next chunk if one is queued.
    pub(super) fn try_recv(&mut self) -> Option<Bytes> {
        let queued = self.rx.try_recv().ok()?;
        Some(self.release(queued))
    }

    fn release(&self, queued: Queued) -> Bytes {
        self.held.fetch_sub(queued.charge, Ordering::AcqRel);
        queued.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_memory_held_not_the_number_of_chunks() {
        let (tx, mut rx) = channel(64 * 1024);
        // 60 small chunks of 1 KiB: far more chunks than a count bound of full chunks allows.
        for _ in 0..60 {
            tx.push(Bytes::from(vec![1u8; 1024]), 1024).unwrap();
        }
        // Two full chunks' worth would pass 64 KiB.
        assert_eq!(
            tx.push(Bytes::from(vec![1u8; 8 * 1024]), 8 * 1024),
            Err(Full)
        );
        // Taking chunks gives their room back.
        for _ in 0..8 {
            assert_eq!(rx.try_recv().unwrap().len(), 1024);
        }
        tx.push(Bytes::from(vec![1u8; 8 * 1024]), 8 * 1024).unwrap();
    }

    #[test]
    fn tiny_chunks_are_charged_at_least_the_minimum() {
        let (tx, _rx) = channel(4 * MIN_CHARGE);
        for _ in 0..4 {
            tx.push(Bytes::from_static(b"x"), 1).unwrap();
        }
        assert_eq!(tx.push(Bytes::from_static(b"x"), 1), Err(Full));
    }

    #[test]
    fn a_chunk_larger_than_the_bound_goes_alone_into_an_empty_queue() {
        let (tx, mut rx) = channel(MIN_CHARGE);
        tx.push(Bytes::from(vec![0u8; 4096]), 4096).unwrap();
        assert_eq!(tx.push(Bytes::from_static(b"x"), 1), Err(Full));
        assert_eq!(rx.try_recv().unwrap().len(), 4096);
        tx.push(Bytes::from_static(b"x"), 1).unwrap();
    }
}

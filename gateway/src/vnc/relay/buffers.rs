//! The upstream pump's read buffers, recycled. Each read's bytes leave as a [`Bytes`] chunk
//! that lives in the queue until the writer has handed it to the WebSocket. Freed and
//! allocated again per chunk, that memory went back to the kernel between uses (the
//! allocator trims it) and came back as fresh pages the kernel must fault in and zero: most
//! of the relay's system time. Instead a chunk owns its buffer and, when the last reference
//! drops, gives it back to its relay's spare list, which the next read takes from: in steady
//! state nothing is allocated per chunk. A small read (a loaded relay reads whatever arrived)
//! is copied out instead, and its buffer read into again.
//!
//! An idle socket holds one small buffer; buffers grow to [`CHUNK`] the first time a read
//! fills one (a framebuffer update is streaming). The spare list keeps as many buffers as the
//! queue's byte bound can hold ([`ReadBuffers::new`]): a frontend that lets the queue grow
//! deep still recycles every buffer, where a smaller list gave the surplus back to the
//! allocator, which trimmed it, and the next reads faulted fresh pages in again (17 faults per
//! MiB relayed at four full-screen updates in flight). That holds no more memory than the
//! queue at its deepest did; and the list is emptied when a whole ping interval passed
//! without a read taking from it ([`SpareTrim`]): a viewer that streamed once and went idle
//! keeps nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use service_kit::sync::lock;

/// The first buffer's size: the RFB handshake and small updates fit.
pub(super) const FIRST_CHUNK: usize = 4 * 1024;
/// The largest chunk read at once, once updates fill the first buffer.
pub(super) const CHUNK: usize = 64 * 1024;
/// Buffers whose chunks were dropped, ready for the next read.
#[derive(Debug, Default)]
struct Spare {
    buffers: Mutex<Vec<Vec<u8>>>,
    /// The most kept.
    retain: usize,
    /// Whether a read took a spare buffer since the last [`SpareTrim::trim_if_idle`].
    used: AtomicBool,
}

impl Spare {
    fn take(&self) -> Option<Vec<u8>> {
        self.used.store(true, Ordering::Relaxed);
        lock(&self.buffers).pop()
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() != CHUNK {
            return;
        }
        let mut spare = lock(&self.buffers);
        if spare.len() < self.retain {
            buffer.clear();
            spare.push(buffer);
        }
    }
}

/// Empties a relay's spare list when no read used it for a while (the writer calls it on
/// each ping tick).
#[derive(Debug, Clone)]
pub(super) struct SpareTrim(Arc<Spare>);

impl SpareTrim {
    /// Empties the spare list unless a read took from it since the last call.
    pub(super) fn trim_if_idle(&self) {
        if !self.0.used.swap(false, Ordering::Relaxed) {
            let buffers = std::mem::take(&mut *lock(&self.0.buffers));
            drop(buffers);
        }
    }
}

/// The owner of one chunk's memory: gives the buffer back when the chunk is dropped (unless
/// the relay, and with it the spare list, has ended).
struct Recycled {
    buffer: Vec<u8>,
    home: Weak<Spare>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.give_back(std::mem::take(&mut self.buffer));
        }
    }
}

/// The recycled read buffers of one upstream pump.
#[derive(Debug)]
pub(super) struct ReadBuffers {
    /// The buffer the next read goes into (empty, with capacity, once [`Self::for_read`] ran).
    current: Vec<u8>,
    /// The room each read is offered: [`FIRST_CHUNK`], then [`CHUNK`].
    chunk: usize,
    spare: Arc<Spare>,
}

impl ReadBuffers {
    /// Buffers for a pump whose queue holds at most `queue_bytes`: the spare list keeps as
    /// many full buffers as that fits (and at least one).
    pub(super) fn new(queue_bytes: usize) -> Self {
        Self {
            current: Vec::new(),
            chunk: FIRST_CHUNK,
            spare: Arc::new(Spare {
                retain: (queue_bytes / CHUNK).max(1),
                ..Spare::default()
            }),
        }
    }

    /// An empty buffer with room for one read: a spare one when there is one, else new.
    pub(super) fn for_read(&mut self) -> &mut Vec<u8> {
        if self.current.capacity() == 0 {
            self.current = self
                .spare
                .take()
                .filter(|_| self.chunk == CHUNK)
                .unwrap_or_else(|| Vec::with_capacity(self.chunk));
        }
        &mut self.current
    }

    /// Turns what the last read put into the buffer into a chunk, with the bytes of memory it
    /// holds. A read of a whole chunk grows the buffers to [`CHUNK`]. A read that filled less
    /// than a quarter of its buffer is copied out and the buffer kept for the next read: a
    /// loaded relay reads whatever arrived, and a few hundred bytes must not hold 64 KiB in
    /// the queue.
    pub(super) fn take_chunk(&mut self) -> (Bytes, usize) {
        if self.current.len() < self.current.capacity() / 4 {
            let chunk = Bytes::copy_from_slice(&self.current);
            self.current.clear();
            let held = chunk.len();
            return (chunk, held);
        }
        let buffer = std::mem::take(&mut self.current);
        if buffer.len() >= self.chunk {
            self.chunk = CHUNK;
        }
        let held = buffer.capacity();
        let chunk = Bytes::from_owner(Recycled {
            buffer,
            home: Arc::downgrade(&self.spare),
        });
        (chunk, held)
    }

    /// The handle that empties this pump's spare list when it is idle.
    pub(super) fn trim(&self) -> SpareTrim {
        SpareTrim(self.spare.clone())
    }

    /// How many spare buffers wait for a read.
    #[cfg(test)]
    fn spare_count(&self) -> usize {
        lock(&self.spare.buffers).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queue bound of these tests: 64 full buffers.
    const QUEUE: usize = 64 * CHUNK;
    const RETAIN: usize = QUEUE / CHUNK;

    /// Fills the buffer offered for a read up to `n` bytes, as a read would.
    fn read(buffers: &mut ReadBuffers, n: usize) -> Bytes {
        let buffer = buffers.for_read();
        let n = n.min(buffer.capacity());
        buffer.extend(std::iter::repeat_n(7u8, n));
        buffers.take_chunk().0
    }

    fn address(chunk: &Bytes) -> usize {
        chunk.as_ptr() as usize
    }

    #[test]
    fn an_idle_socket_holds_one_small_buffer() {
        let mut buffers = ReadBuffers::new(QUEUE);
        assert_eq!(buffers.for_read().capacity(), FIRST_CHUNK);
        let chunk = read(&mut buffers, 12);
        assert_eq!(&chunk[..], &[7u8; 12][..]);
        assert_eq!(buffers.for_read().capacity(), FIRST_CHUNK);
    }

    #[test]
    fn a_read_that_fills_the_first_buffer_grows_the_chunk_size() {
        let mut buffers = ReadBuffers::new(QUEUE);
        let first = read(&mut buffers, usize::MAX);
        assert_eq!(first.len(), FIRST_CHUNK);
        let second = read(&mut buffers, usize::MAX);
        assert_eq!(second.len(), CHUNK);
        drop(first);
        assert_eq!(buffers.spare_count(), 0, "a small buffer is not kept");
    }

    #[test]
    fn a_dropped_chunk_gives_its_buffer_to_the_next_read() {
        let mut buffers = ReadBuffers::new(QUEUE);
        drop(read(&mut buffers, usize::MAX));
        let first = read(&mut buffers, usize::MAX);
        let at = address(&first);
        drop(first);
        for _ in 0..100 {
            let chunk = read(&mut buffers, usize::MAX);
            assert_eq!(address(&chunk), at, "the same memory is read into again");
        }
    }

    #[test]
    fn chunks_queued_and_dropped_in_turn_recycle_a_fixed_set_of_buffers() {
        let mut buffers = ReadBuffers::new(QUEUE);
        drop(read(&mut buffers, usize::MAX));
        // A queue of 40 chunks, the oldest dropped after each read (the writer's pace).
        let mut queued = std::collections::VecDeque::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let chunk = read(&mut buffers, usize::MAX);
            seen.insert(address(&chunk));
            queued.push_back(chunk);
            if queued.len() == 40 {
                queued.pop_front();
            }
        }
        assert!(seen.len() <= 41, "{} buffers for 1000 reads", seen.len());
    }

    #[test]
    fn a_small_read_is_copied_out_and_its_buffer_read_into_again() {
        let mut buffers = ReadBuffers::new(QUEUE);
        drop(read(&mut buffers, usize::MAX));
        let at = buffers.for_read().as_ptr() as usize;
        buffers.for_read().extend_from_slice(&[1u8; 100]);
        let (chunk, held) = buffers.take_chunk();
        assert_eq!((&chunk[..], held), (&[1u8; 100][..], 100));
        assert_ne!(address(&chunk), at, "copied out");
        let next = buffers.for_read();
        assert_eq!(
            (next.as_ptr() as usize, next.len()),
            (at, 0),
            "the buffer is kept, empty"
        );
        // A full read hands its buffer over and is charged all of it.
        next.extend(std::iter::repeat_n(2u8, CHUNK));
        let (full, held) = buffers.take_chunk();
        assert_eq!((address(&full), held), (at, CHUNK));
    }

    #[test]
    fn a_queue_as_deep_as_its_byte_bound_gives_every_buffer_back_for_reuse() {
        // The production bound: 16 MiB, 256 full buffers.
        let mut buffers = ReadBuffers::new(16 << 20);
        drop(read(&mut buffers, usize::MAX));
        let deep: Vec<Bytes> = (0..256).map(|_| read(&mut buffers, usize::MAX)).collect();
        drop(deep);
        assert_eq!(
            buffers.spare_count(),
            256,
            "none went back to the allocator"
        );
        assert_eq!(ReadBuffers::new(0).spare.retain, 1);
    }

    #[test]
    fn a_burst_beyond_the_retained_count_goes_back_to_the_allocator() {
        let mut buffers = ReadBuffers::new(QUEUE);
        drop(read(&mut buffers, usize::MAX));
        let burst: Vec<Bytes> = (0..RETAIN + 10)
            .map(|_| read(&mut buffers, usize::MAX))
            .collect();
        drop(burst);
        assert_eq!(buffers.spare_count(), RETAIN);
    }

    #[test]
    fn an_idle_interval_empties_the_spare_list_and_a_busy_one_keeps_it() {
        let mut buffers = ReadBuffers::new(QUEUE);
        let trim = buffers.trim();
        drop(read(&mut buffers, usize::MAX));
        let burst: Vec<Bytes> = (0..8).map(|_| read(&mut buffers, usize::MAX)).collect();
        drop(burst);
        assert_eq!(buffers.spare_count(), 8);
        // Reads took spare buffers during this interval: kept.
        drop(read(&mut buffers, usize::MAX));
        trim.trim_if_idle();
        assert_eq!(buffers.spare_count(), 8);
        // Nothing read since: emptied.
        trim.trim_if_idle();
        assert_eq!(buffers.spare_count(), 0);
        // And reads afterwards allocate again, as at the start.
        assert_eq!(read(&mut buffers, usize::MAX).len(), CHUNK);
    }

    #[test]
    fn a_chunk_that_outlives_its_relay_is_freed_cleanly() {
        let mut buffers = ReadBuffers::new(QUEUE);
        let chunk = read(&mut buffers, usize::MAX);
        drop(buffers);
        assert_eq!(&chunk[..], &[7u8; FIRST_CHUNK][..]);
        drop(chunk);
    }
}

//! Futures of one task polled together, as `tokio::join!` does, except for one thing: a wake
//! that one of them gives another while the task is being polled (a pump queueing a chunk for
//! its writer) polls them again at once instead of going through the scheduler.
//!
//! Why: tokio treats a task that is woken during its own poll as one that yielded, and wakes a
//! parked worker thread to pick it up (`yield_now` → a futex wake), so every chunk a relay
//! handed from its reader to its writer cost another thread's wake-up, which then found
//! nothing to do. `perf record -e syscalls:sys_enter_futex -g` on a gateway relaying pointer
//! round trips put almost every futex wake there, one per direction of each round trip.
//!
//! A wake from anywhere else (the I/O driver, a timer, another task) while no poll runs goes to
//! the task's own waker, as before. A future that keeps waking itself (tokio's cooperative
//! budget spent) is polled at most [`ROUNDS`] times, then the task goes back to the scheduler.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// Polls of the futures within one poll of the task, at most.
const ROUNDS: usize = 8;

/// No poll is running: a wake goes to the task.
const IDLE: u8 = 0;
/// A poll is running: a wake asks it to go round again.
const POLLING: u8 = 1;
/// A poll is running and was woken.
const WOKEN: u8 = 2;

/// One of the futures polled together.
pub type Part<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send + 'a)>;

/// Runs every part to its end.
pub fn all<const N: usize>(parts: [Part<'_>; N]) -> All<'_, N> {
    let wake = Arc::new(LocalWake {
        state: AtomicU8::new(IDLE),
        task: AtomicWaker::new(),
    });
    All {
        parts: parts.map(Some),
        next: 0,
        waker: Waker::from(wake.clone()),
        wake,
    }
}

/// The future of [`all`].
pub struct All<'a, const N: usize> {
    parts: [Option<Part<'a>>; N],
    /// The part polled first in this poll of the task.
    next: usize,
    wake: Arc<LocalWake>,
    /// The parts' waker (one for all, as with `tokio::join!`), made once so that the
    /// resources they wait on see the same waker every time.
    waker: Waker,
}

struct LocalWake {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Wake for LocalWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            // The running poll goes round again (or was already told to).
            Ok(_) | Err(WOKEN) => {}
            Err(_) => self.task.wake(),
        }
    }
}

impl<const N: usize> Future for All<'_, N> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if N == 0 {
            return Poll::Ready(());
        }
        // Each poll of the task starts one part later, as `tokio::join!` does: the first part
        // polled has the task's whole cooperative budget, and a part that spends all of it
        // every time (the reader of a peer that never stops sending) must not starve the
        // others (the writer of the close frame).
        this.next = (this.next + 1) % N;
        // Registered before the parts run: a wake after the poll ends finds the task's waker.
        this.wake.task.register(cx.waker());
        let mut inner = Context::from_waker(&this.waker);
        for _ in 0..ROUNDS {
            this.wake.state.store(POLLING, Ordering::Release);
            for k in 0..N {
                let slot = &mut this.parts[(this.next + k) % N];
                if let Some(part) = slot {
                    if part.as_mut().poll(&mut inner).is_ready() {
                        *slot = None;
                    }
                }
            }
            if this.parts.iter().all(Option::is_none) {
                this.wake.state.store(IDLE, Ordering::Release);
                return Poll::Ready(());
            }
            // Not woken meanwhile: every part waits on something outside the task.
            if this
                .wake
                .state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still being woken: let the scheduler run others first (and refill the budget).
        this.wake.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::oneshot;

use super::{all, ROUNDS};

/// A task waker that counts its wakes.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn wakes(counting: &Arc<Counting>) -> usize {
    counting.0.load(Ordering::SeqCst)
}

#[test]
fn a_future_woken_by_another_during_the_poll_runs_in_that_poll_without_waking_the_task() {
    let (tx, rx) = oneshot::channel::<()>();
    let waiting = pin!(async move {
        rx.await.expect("sent");
    });
    // Polled after `waiting`, which is then parked on the channel: the send wakes it.
    let sending = pin!(async move {
        tx.send(()).expect("receiver alive");
    });
    let mut joined = pin!(all([waiting, sending]));
    let counting = Arc::new(Counting::default());
    let waker = Waker::from(counting.clone());
    let poll = joined.as_mut().poll(&mut Context::from_waker(&waker));
    assert_eq!(poll, Poll::Ready(()));
    assert_eq!(
        wakes(&counting),
        0,
        "the task was handed back to the scheduler"
    );
}

#[test]
fn a_wake_from_outside_the_poll_reaches_the_task() {
    let (tx, rx) = oneshot::channel::<()>();
    let waiting = pin!(async move {
        rx.await.expect("sent");
    });
    let mut joined = pin!(all([waiting]));
    let counting = Arc::new(Counting::default());
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(joined.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(wakes(&counting), 0);
    tx.send(()).expect("receiver alive");
    assert_eq!(wakes(&counting), 1, "the send must wake the task");
    assert_eq!(joined.as_mut().poll(&mut cx), Poll::Ready(()));
}

/// Wakes itself on every poll and never ends, as a future whose cooperative budget is spent.
struct Restless<'a>(&'a AtomicUsize);

impl Future for Restless<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_future_that_keeps_waking_itself_is_polled_a_bounded_number_of_times_then_yields() {
    let polls = AtomicUsize::new(0);
    let restless = pin!(Restless(&polls));
    let mut joined = pin!(all([restless]));
    let counting = Arc::new(Counting::default());
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(joined.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(polls.load(Ordering::SeqCst), ROUNDS);
    assert_eq!(wakes(&counting), 1, "handed back to the scheduler once");
    assert_eq!(joined.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(polls.load(Ordering::SeqCst), 2 * ROUNDS);
    assert_eq!(wakes(&counting), 2);
}

#[test]
fn futures_that_end_are_not_polled_again() {
    let polls = AtomicUsize::new(0);
    let (tx, rx) = oneshot::channel::<()>();
    let once = pin!(async {
        polls.fetch_add(1, Ordering::SeqCst);
    });
    let waiting = pin!(async move {
        rx.await.expect("sent");
    });
    let mut joined = pin!(all([once, waiting]));
    let counting = Arc::new(Counting::default());
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(joined.as_mut().poll(&mut cx), Poll::Pending);
    tx.send(()).expect("receiver alive");
    assert_eq!(joined.as_mut().poll(&mut cx), Poll::Ready(()));
    assert_eq!(polls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_future_that_spends_the_whole_budget_every_time_does_not_starve_the_others() {
    let (done_tx, done_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        // Spends the task's budget to the last unit on every poll, and never ends.
        let greedy = pin!(async {
            loop {
                tokio::task::consume_budget().await;
            }
        });
        let modest = pin!(async {
            tokio::task::consume_budget().await;
            let _ = done_tx.send(());
        });
        all([greedy, modest]).await;
    });
    tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
        .await
        .expect("the second future got a turn with budget")
        .expect("sent");
}

#[test]
fn no_futures_are_done_at_once() {
    let mut joined = pin!(all::<0>([]));
    let counting = Arc::new(Counting::default());
    let waker = Waker::from(counting.clone());
    assert_eq!(
        joined.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(())
    );
}

//! The one lock rule of browser-stream: a `std::sync::Mutex` is locked with [`lock`], which
//! takes the guard of a poisoned mutex instead of panicking.
//!
//! Why: our critical sections are short map and slot updates with no invariant that spans a
//! panic point, so the data behind a poisoned lock is still sound. Panicking on poison (an
//! `expect` on `lock()`) would turn one bug into a failure of every later call that touches
//! the same state. Never hold one of these guards across an `.await`.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the guard when a previous holder panicked.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_gives_its_data() {
        let mutex = std::sync::Arc::new(Mutex::new(1));
        let poisoner = mutex.clone();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(mutex.is_poisoned());
        *lock(&mutex) += 1;
        assert_eq!(*lock(&mutex), 2);
    }
}

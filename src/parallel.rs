//! Threads for the requests of a page's records (conversation parts, a contact's long lists,
//! tickets fetched whole), shared by every stream of a run.
//!
//! A page's records are worked on by the thread that holds the page and by helpers borrowed
//! from one pool of tokens, as many as `max_concurrency` for the whole run: the requests in
//! flight are capped by the HTTP client's pacer, and the threads waiting on it by the tokens,
//! so that neither grows with the number of pages, slices or streams at work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;

pub struct Workers {
    free: AtomicUsize,
    tokens: usize,
}

impl Workers {
    pub fn new(tokens: usize) -> Workers {
        Workers {
            free: AtomicUsize::new(tokens),
            tokens,
        }
    }

    /// Tokens taken now, by every batch.
    fn in_use(&self) -> usize {
        self.tokens.saturating_sub(self.free.load(Ordering::Acquire))
    }

    /// Takes up to `wanted` tokens; returns how many it got.
    fn take(&self, wanted: usize) -> usize {
        let mut free = self.free.load(Ordering::Acquire);
        loop {
            let got = free.min(wanted);
            if got == 0 {
                return 0;
            }
            match self
                .free
                .compare_exchange_weak(free, free - got, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return got,
                Err(now) => free = now,
            }
        }
    }

    fn give_back(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }

    /// One token, if one is free; it goes back when dropped.
    pub fn try_take(&self) -> Option<Token<'_>> {
        // Lazily: a Token built and dropped on failure would give back a token never taken.
        (self.take(1) == 1).then(|| Token { pool: self })
    }

    /// Calls `f` on every item, on this thread and on helpers borrowed from the pool, while the
    /// pool's helpers at work, in every batch, are fewer than `max_helpers()` (asked again
    /// whenever one could be added, so that the batches follow a limit that changes while
    /// they run, and the threads waiting on requests stay near the requests allowed in flight), and returns the first error (the remaining items are then left
    /// alone). A batch that starts while the pool is empty gains helpers as other batches give
    /// theirs back: each helper returns its token as soon as no item is left for it.
    pub fn for_each<T: Sync, E: Send>(
        &self,
        items: &[T],
        max_helpers: &(dyn Fn() -> usize + Sync),
        f: impl Fn(&T) -> Result<(), E> + Sync,
    ) -> Result<(), E> {
        if items.len() <= 1 {
            return items.iter().try_for_each(&f);
        }
        let batch = Batch {
            items,
            f: &f,
            pool: self,
            next: AtomicUsize::new(0),
            helpers: AtomicUsize::new(0),
            max_helpers,
            failure: Mutex::new(None),
        };
        thread::scope(|scope| work(scope, &batch, false));
        match batch.failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// A token of a pool, held by a thread at work; given back when dropped.
pub struct Token<'a> {
    pool: &'a Workers,
}

impl Drop for Token<'_> {
    fn drop(&mut self) {
        self.pool.give_back(1);
    }
}

/// One call of [`Workers::for_each`]: its items and the threads at work on them.
struct Batch<'a, T, E, F> {
    items: &'a [T],
    f: &'a F,
    pool: &'a Workers,
    next: AtomicUsize,
    helpers: AtomicUsize,
    max_helpers: &'a (dyn Fn() -> usize + Sync),
    failure: Mutex<Option<E>>,
}

impl<T, E, F> Batch<'_, T, E, F> {
    fn failed(&self) -> bool {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Items nobody has taken yet.
    fn left(&self) -> usize {
        self.items.len().saturating_sub(self.next.load(Ordering::Relaxed))
    }
}

/// Works on a batch's items until none is left; on the way, borrows a helper from the pool
/// whenever more items are left than threads at work and the pool has one to spare.
fn work<'scope, 'env, T: Sync, E: Send, F: Fn(&T) -> Result<(), E> + Sync>(
    scope: &'scope thread::Scope<'scope, 'env>,
    batch: &'scope Batch<'env, T, E, F>,
    helper: bool,
) {
    loop {
        if batch.failed() {
            break;
        }
        grow(scope, batch);
        let i = batch.next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = batch.items.get(i) else { break };
        if let Err(err) = (batch.f)(item) {
            batch
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(err);
            break;
        }
    }
    if helper {
        batch.helpers.fetch_sub(1, Ordering::AcqRel);
        batch.pool.give_back(1);
    }
}

fn grow<'scope, 'env, T: Sync, E: Send, F: Fn(&T) -> Result<(), E> + Sync>(
    scope: &'scope thread::Scope<'scope, 'env>,
    batch: &'scope Batch<'env, T, E, F>,
) {
    loop {
        let helpers = batch.helpers.load(Ordering::Acquire);
        // This thread takes the next item itself: helpers are for the ones after it.
        if batch.left() <= helpers + 1 || batch.pool.in_use() >= (batch.max_helpers)() || batch.pool.take(1) == 0 {
            return;
        }
        batch.helpers.fetch_add(1, Ordering::AcqRel);
        let spawned = thread::Builder::new().spawn_scoped(scope, move || work(scope, batch, true));
        if spawned.is_err() {
            batch.helpers.fetch_sub(1, Ordering::AcqRel);
            batch.pool.give_back(1);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_failed_try_take_leaves_the_pool_as_it_was() {
        let pool = Workers::new(2);
        let first = pool.try_take();
        let second = pool.try_take();
        assert!(first.is_some() && second.is_some());
        for _ in 0..5 {
            assert!(pool.try_take().is_none(), "an empty pool has no token to give");
        }
        drop(first);
        let third = pool.try_take();
        assert!(third.is_some());
        assert!(pool.try_take().is_none(), "only the token given back was free");
        drop((second, third));
    }

    #[test]
    fn every_item_is_visited_once() {
        let workers = Workers::new(8);
        let items: Vec<u64> = (1..=1000).collect();
        let sum = AtomicU64::new(0);
        workers
            .for_each(&items, &|| 8, |i| {
                sum.fetch_add(*i, Ordering::Relaxed);
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(sum.into_inner(), 500_500);
        assert_eq!(workers.free.load(Ordering::Relaxed), 8, "every token is back");
    }

    #[test]
    fn the_first_error_stops_the_work() {
        let workers = Workers::new(4);
        let items: Vec<u32> = (0..100).collect();
        let err = workers
            .for_each(&items, &|| 4, |i| if *i == 50 { Err(*i) } else { Ok(()) })
            .unwrap_err();
        assert_eq!(err, 50);
        assert_eq!(workers.free.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_batch_started_with_no_helper_to_spare_gains_them_as_others_finish() {
        let workers = Workers::new(4);
        let slow: Vec<u32> = (0..8).collect();
        let many: Vec<u32> = (0..200).collect();
        let most = AtomicUsize::new(0);
        let busy = AtomicUsize::new(0);
        std::thread::scope(|s| {
            // A batch takes every helper for a while...
            s.spawn(|| {
                workers
                    .for_each(&slow, &|| 4, |_| {
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        Ok::<(), ()>(())
                    })
                    .unwrap();
            });
            std::thread::sleep(std::time::Duration::from_millis(5));
            // ...and one that starts with none still ends up with them.
            workers
                .for_each(&many, &|| 4, |_| {
                    let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    busy.fetch_sub(1, Ordering::SeqCst);
                    Ok::<(), ()>(())
                })
                .unwrap();
        });
        assert!(most.load(Ordering::SeqCst) >= 3, "{}", most.load(Ordering::SeqCst));
        assert_eq!(workers.free.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn helpers_are_shared_and_never_more_than_the_tokens() {
        let workers = Workers::new(3);
        let busy = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u32> = (0..40).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    workers
                        .for_each(&items, &|| 100, |_| {
                            let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            busy.fetch_sub(1, Ordering::SeqCst);
                            Ok::<(), ()>(())
                        })
                        .unwrap();
                });
            }
        });
        // Four callers and three tokens: at most seven threads at work.
        assert!(most.load(Ordering::SeqCst) <= 7, "{}", most.load(Ordering::SeqCst));
        assert_eq!(workers.free.load(Ordering::Relaxed), 3);
    }
}

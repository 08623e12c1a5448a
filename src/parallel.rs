//! Threads for the requests of a page's records (conversation parts, a contact's long lists,
//! tickets fetched whole), shared by every stream of a run.
//!
//! A page's records are worked on by the thread that holds the page and by helpers borrowed
//! from one pool of tokens, as many as `max_concurrency` for the whole run: the requests in
//! flight are capped by the HTTP client's pacer, and the threads waiting on it by the tokens,
//! so that neither grows with the number of pages, slices or streams at work. The run keeps
//! two such pools: one for the bulk of a page's requests, one for the few that a page's reader
//! waits on (see `runners::children::FEW`), so that those never wait for a thread behind the
//! bulk. The slice readers beyond each search's first come from [`Shares`], a pool shared fairly
//! between the streams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
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

/// Tokens shared fairly by the streams that want them: the slice readers beyond each search's
/// first. A reader holds its token while it reads a slice and went on to the next slice of its
/// stream, so the streams that split first could keep every token to their end, while a search
/// that split later (on a workspace whose contacts outnumber its conversations, the longest
/// chain of pages) read one slice at a time.
///
/// The rule: a stream takes a free token only when no other stream wanting one holds fewer, and
/// a reader gives its token back between two slices when another stream wanting one holds at
/// least two fewer than its own.
pub struct Shares {
    state: Mutex<Holders>,
}

#[derive(Default)]
struct Holders {
    free: usize,
    /// Tokens each stream holds.
    held: HashMap<&'static str, usize>,
    /// The streams that asked for a token and have not said they need none.
    wanting: Vec<&'static str>,
}

impl Holders {
    fn held(&self, who: &str) -> usize {
        self.held.get(who).copied().unwrap_or(0)
    }

    /// The fewest tokens held by a stream, other than `who`, that wants one.
    fn fewest_wanting(&self, who: &str) -> Option<usize> {
        self.wanting.iter().filter(|w| **w != who).map(|w| self.held(w)).min()
    }
}

impl Shares {
    pub fn new(tokens: usize) -> Shares {
        Shares {
            state: Mutex::new(Holders {
                free: tokens,
                ..Holders::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Holders> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token for `who`, if one is free and no other stream wanting one holds fewer; `who`
    /// counts as wanting one until it calls [`Shares::rest`].
    pub fn try_take(&self, who: &'static str) -> Option<Share<'_>> {
        let mut state = self.lock();
        if !state.wanting.contains(&who) {
            state.wanting.push(who);
        }
        let mine = state.held(who);
        if state.free == 0 || state.fewest_wanting(who).is_some_and(|fewest| fewest < mine) {
            return None;
        }
        state.free -= 1;
        *state.held.entry(who).or_default() += 1;
        Some(Share { pool: self, who })
    }

    /// `who` needs no token now (nothing is left for another reader, or it ended).
    pub fn rest(&self, who: &'static str) {
        self.lock().wanting.retain(|w| *w != who);
    }
}

/// A token of [`Shares`], held by one reader of a stream; given back when dropped.
pub struct Share<'a> {
    pool: &'a Shares,
    who: &'static str,
}

impl Share<'_> {
    /// Whether another stream wanting a token holds at least two fewer than this one's: then
    /// the reader gives this one back between two slices.
    pub fn owed_elsewhere(&self) -> bool {
        let state = self.pool.lock();
        let mine = state.held(self.who);
        state.fewest_wanting(self.who).is_some_and(|fewest| fewest + 2 <= mine)
    }
}

impl Drop for Share<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.free += 1;
        if let Some(held) = state.held.get_mut(self.who) {
            *held = held.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_failed_try_take_leaves_the_pool_as_it_was() {
        let pool = Shares::new(2);
        let first = pool.try_take("contacts");
        let second = pool.try_take("contacts");
        assert!(first.is_some() && second.is_some());
        for _ in 0..5 {
            assert!(
                pool.try_take("contacts").is_none(),
                "an empty pool has no token to give"
            );
        }
        drop(first);
        let third = pool.try_take("contacts");
        assert!(third.is_some());
        assert!(
            pool.try_take("contacts").is_none(),
            "only the token given back was free"
        );
        drop((second, third));
        assert_eq!(pool.lock().free, 2, "every token is back");
    }

    #[test]
    fn a_free_token_goes_to_the_wanting_stream_that_holds_fewest() {
        let pool = Shares::new(4);
        let conversations: Vec<_> = (0..3).filter_map(|_| pool.try_take("conversations")).collect();
        assert_eq!(conversations.len(), 3, "alone, a stream may take every free token");
        // Contacts asks while the last token is taken by conversations' fourth reader: it waits.
        let fourth = pool.try_take("conversations");
        assert!(fourth.is_some());
        assert!(pool.try_take("contacts").is_none());
        drop(fourth);
        // Now contacts wants one and holds none: conversations may not take the freed token.
        assert!(pool.try_take("conversations").is_none(), "contacts holds fewer");
        let contacts = pool.try_take("contacts");
        assert!(contacts.is_some());
        // A stream that says it needs none no longer holds the others back.
        drop(contacts);
        pool.rest("contacts");
        assert!(pool.try_take("conversations").is_some());
        drop(conversations);
    }

    #[test]
    fn a_reader_owes_its_token_to_a_stream_that_holds_two_fewer() {
        let pool = Shares::new(3);
        let mut conversations: Vec<_> = (0..3).filter_map(|_| pool.try_take("conversations")).collect();
        assert!(
            conversations.iter().all(|t| !t.owed_elsewhere()),
            "nobody else wants one"
        );
        assert!(pool.try_take("contacts").is_none());
        assert!(conversations[0].owed_elsewhere(), "3 held against 0");
        conversations.pop();
        let contacts = pool.try_take("contacts").unwrap();
        assert!(!conversations[0].owed_elsewhere(), "2 held against 1: close enough");
        assert!(!contacts.owed_elsewhere());
        pool.rest("contacts");
        drop(contacts);
        assert!(!conversations[0].owed_elsewhere(), "contacts wants none");
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

//! Running work on many items at once, for the per-record requests of a page (conversation
//! parts, a contact's long lists). The HTTP client's pacer still caps the requests in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;

/// Calls `f` on every item with at most `workers` calls at a time, and returns the first error
/// (the remaining items are then left alone).
pub fn for_each<T: Sync, E: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    if items.len() <= 1 || workers <= 1 {
        return items.iter().try_for_each(&f);
    }
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<E>> = Mutex::new(None);
    thread::scope(|scope| {
        for _ in 0..workers.min(items.len()) {
            scope.spawn(|| {
                loop {
                    if failure.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    if let Err(err) = f(item) {
                        failure
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert(err);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_item_is_visited_once() {
        let items: Vec<u64> = (1..=1000).collect();
        let sum = AtomicU64::new(0);
        for_each(&items, 8, |i| {
            sum.fetch_add(*i, Ordering::Relaxed);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(sum.into_inner(), 500_500);
    }

    #[test]
    fn the_first_error_stops_the_work() {
        let items: Vec<u32> = (0..100).collect();
        let err = for_each(&items, 4, |i| if *i == 50 { Err(*i) } else { Ok(()) }).unwrap_err();
        assert_eq!(err, 50);
    }
}

//! Where the pacer reads the time, and how it waits.
//!
//! The pacer's decisions need now twice over: as a monotonic instant, for its own holds, the
//! budget's sliding window and the round trips between cuts, and as Unix time, for the window
//! resets Intercom sends in Unix seconds. A [`Clock`] gives both in one reading, so that one
//! decision never sees two different nows, and it does the pacer's waiting too: production
//! waits on a condition variable ([`SystemClock`]); tests pass the time at once instead
//! (`ManualClock`), so that an hour of windows, holds and budgets takes no real time.

#[cfg(test)]
use std::sync::Mutex;
use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One reading of a clock.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For durations: never goes back.
    pub instant: Instant,
    /// For Intercom's reset times, which are Unix seconds.
    pub unix: SystemTime,
}

impl Now {
    /// Whole Unix seconds (zero for a clock set before 1970).
    pub fn unix_secs(&self) -> u64 {
        self.unix.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    /// Time from now until `at` (zero if it has passed).
    pub fn until(&self, at: SystemTime) -> Duration {
        at.duration_since(self.unix).unwrap_or(Duration::ZERO)
    }
}

/// A source of time for the pacer.
pub trait Clock {
    /// Now, both ways, from one reading.
    fn now(&self) -> Now;

    /// Waits on `wake`, releasing `guard`'s lock meanwhile, until woken or until `timeout` has
    /// passed on this clock; returns the lock held again. A poisoned lock is taken as it is: the
    /// pacer's state stays whole between its statements.
    fn wait_timeout<'a, T>(&self, wake: &Condvar, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T>;
}

/// The machine's clocks, for production.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            instant: Instant::now(),
            unix: SystemTime::now(),
        }
    }

    fn wait_timeout<'a, T>(&self, wake: &Condvar, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
        wake.wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

/// A clock that moves only when told, for tests that drive the pacer from one thread: a wait
/// passes its whole timeout at once, since no other thread could wake it earlier.
#[cfg(test)]
pub struct ManualClock {
    start: Instant,
    unix_start: SystemTime,
    passed: Mutex<Passed>,
}

#[cfg(test)]
#[derive(Default)]
struct Passed {
    /// Time passed since the start, by steps and waits.
    total: Duration,
    /// The part of it passed in waits.
    waited: Duration,
}

/// Waits longer than this in all mean that nothing would ever wake the waiting thread (a slot
/// that only another thread could free): the test fails instead of spinning on.
#[cfg(test)]
const PATIENCE: Duration = Duration::from_secs(3_600);

#[cfg(test)]
impl ManualClock {
    /// A clock that reads `unix` now.
    pub fn at(unix: SystemTime) -> ManualClock {
        ManualClock {
            start: Instant::now(),
            unix_start: unix,
            passed: Mutex::new(Passed::default()),
        }
    }

    fn passed(&self) -> MutexGuard<'_, Passed> {
        self.passed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets `by` pass.
    pub fn advance(&self, by: Duration) {
        self.passed().total += by;
    }

    /// The time passed in waits so far.
    pub fn waited(&self) -> Duration {
        self.passed().waited
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Now {
        let passed = self.passed().total;
        Now {
            instant: self.start + passed,
            unix: self.unix_start + passed,
        }
    }

    fn wait_timeout<'a, T>(&self, _wake: &Condvar, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
        let mut passed = self.passed();
        passed.total += timeout;
        passed.waited += timeout;
        assert!(
            passed.waited <= PATIENCE,
            "waited {:?} of clock time: nothing in this test would wake the thread",
            passed.waited
        );
        guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_readings_move_together() {
        let clock = ManualClock::at(UNIX_EPOCH + Duration::from_millis(1_700_000_000_400));
        let before = clock.now();
        assert_eq!(before.unix_secs(), 1_700_000_000);
        clock.advance(Duration::from_millis(600));
        let wake = Condvar::new();
        let lock = Mutex::new(());
        drop(clock.wait_timeout(&wake, lock.lock().unwrap(), Duration::from_secs(2)));
        let after = clock.now();
        assert_eq!(after.instant - before.instant, Duration::from_millis(2_600));
        assert_eq!(
            after.unix.duration_since(before.unix).ok(),
            Some(Duration::from_millis(2_600))
        );
        assert_eq!(after.unix_secs(), 1_700_000_003);
        assert_eq!(clock.waited(), Duration::from_secs(2));
        // Until a time that has passed is no time at all.
        assert_eq!(after.until(before.unix), Duration::ZERO);
        assert_eq!(before.until(after.unix), Duration::from_millis(2_600));
    }

    #[test]
    fn a_clock_before_1970_reads_zero_seconds() {
        let clock = ManualClock::at(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(clock.now().unix_secs(), 0);
    }
}

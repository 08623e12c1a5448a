//! Request pacing shared by every thread: Intercom's rate-limit window, the user's own budget,
//! and the cap on requests in flight.
//!
//! Intercom reports its window in `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (Unix seconds). The pacer keeps its own count of what it has sent in the
//! current window, trusts the server's figure when it is lower, and when nothing remains it
//! holds every thread until the window resets, so that the tap waits instead of collecting 429s.
//! A configured budget (`max_requests_per_minute`) is enforced the way Intercom enforces its own
//! limit, over 10-second windows: no 10 seconds ever see more than a sixth of the budget.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// After a window's reset time, wait this much longer: the reset is whole seconds and clocks
/// differ a little.
const RESET_MARGIN: Duration = Duration::from_millis(500);
/// Intercom counts requests over 10-second windows; the budget does the same.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

pub struct Pacer {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    in_flight: usize,
    max_in_flight: usize,
    /// Whether any answer has arrived yet: until one does, the limit is unknown and only one
    /// request goes out, so that a burst at start cannot overrun a small limit.
    answered: bool,
    /// The window's size (`X-RateLimit-Limit`), once known.
    limit: Option<u64>,
    /// Requests the server still allows in its current window, as far as we know.
    remaining: Option<u64>,
    /// When the current window ends (Unix seconds, from the server).
    reset_at: Option<u64>,
    /// A 429 or an exhausted window: no request before this instant.
    hold_until: Option<Instant>,
    budget: Option<Budget>,
    /// Wall time during which no request could go out (rate limit, 429s, budget).
    held: Duration,
}

/// A sliding window: at most `per_window` requests in any `window`.
struct Budget {
    per_window: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl Budget {
    fn new(per_minute: u32, window: Duration) -> Budget {
        let per_window = (f64::from(per_minute) * window.as_secs_f64() / 60.0).floor();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let per_window = (per_window as usize).max(1);
        Budget {
            per_window,
            window,
            sent: VecDeque::with_capacity(per_window),
        }
    }

    /// How long until another request fits, or `None` if one fits now.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        while self.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            self.sent.pop_front();
        }
        if self.sent.len() < self.per_window {
            return None;
        }
        self.sent
            .front()
            .map(|oldest| self.window.saturating_sub(now.duration_since(*oldest)))
    }
}

/// What the rate-limit headers of one response said.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateHeaders {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<u64>,
}

/// A request slot; dropping it frees the slot for another thread.
pub struct Permit<'a> {
    pacer: &'a Pacer,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.pacer.lock();
        state.in_flight -= 1;
        drop(state);
        self.pacer.wake.notify_all();
    }
}

impl Pacer {
    pub fn new(max_in_flight: usize, per_minute: Option<u32>) -> Pacer {
        let budget = per_minute.map(|n| Budget::new(n, BUDGET_WINDOW));
        Pacer {
            state: Mutex::new(State {
                in_flight: 0,
                max_in_flight: max_in_flight.max(1),
                answered: false,
                limit: None,
                remaining: None,
                reset_at: None,
                hold_until: None,
                budget,
                held: Duration::ZERO,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until a request may be sent, then counts it as sent.
    pub fn acquire(&self) -> Permit<'_> {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let wait = state.wait_needed(now);
            match wait {
                None => {
                    state.take(now);
                    return Permit { pacer: self };
                }
                Some(Wait::Slot) => {
                    state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                Some(Wait::For(d)) => {
                    state = self
                        .wake
                        .wait_timeout(state, d)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// Takes in what a response's headers said about the window. Called while the request's
    /// permit is still held.
    pub fn observe(&self, headers: RateHeaders) {
        let mut state = self.lock();
        state.answered = true;
        if headers.limit.is_some() {
            state.limit = headers.limit;
        }
        if let (Some(remaining), Some(reset)) = (headers.remaining, headers.reset) {
            // The server has not counted the other requests in flight yet.
            let others = u64::try_from(state.in_flight.saturating_sub(1)).unwrap_or(u64::MAX);
            let estimate = remaining.saturating_sub(others);
            match state.reset_at {
                Some(known) if known == reset => {
                    state.remaining = Some(state.remaining.map_or(estimate, |r| r.min(estimate)));
                }
                // An answer from a window that is already over.
                Some(known) if known > reset => {}
                _ => {
                    state.reset_at = Some(reset);
                    state.remaining = Some(estimate);
                }
            }
        }
        drop(state);
        self.wake.notify_all();
    }

    /// A 429: hold every thread until the window resets (or `fallback` when the response did
    /// not say when), then let them try again.
    pub fn hold_after_429(&self, headers: RateHeaders, fallback: Duration) {
        let wait = headers.reset.map_or(fallback, |reset| until_unix(reset) + RESET_MARGIN);
        let mut state = self.lock();
        let now = Instant::now();
        state.hold(now, now + wait);
        state.remaining = Some(0);
        if let Some(reset) = headers.reset {
            state.reset_at = Some(reset);
        }
    }

    /// Wall time during which requests were held back by the rate limit or the budget.
    pub fn waited(&self) -> Duration {
        self.lock().held
    }
}

enum Wait {
    /// Every slot is taken: wait for one to free.
    Slot,
    /// The rate limit or the budget: wait this long.
    For(Duration),
}

impl State {
    fn wait_needed(&mut self, now: Instant) -> Option<Wait> {
        if let Some(hold) = self.hold_until {
            if now < hold {
                return Some(Wait::For(hold - now));
            }
            self.hold_until = None;
            // The window we were told about is over; its count no longer applies.
            self.remaining = None;
        }
        if let Some(reset) = self.reset_at {
            match window_left(reset) {
                // The window is over: a new one starts with the whole limit, less what is in
                // flight.
                None => {
                    self.reset_at = None;
                    let busy = u64::try_from(self.in_flight).unwrap_or(u64::MAX);
                    self.remaining = self.limit.map(|l| l.saturating_sub(busy));
                }
                Some(wait) if self.remaining == Some(0) => {
                    self.hold(now, now + wait);
                    return Some(Wait::For(wait));
                }
                Some(_) => {}
            }
        }
        if self.in_flight >= self.max_in_flight {
            return Some(Wait::Slot);
        }
        // Nothing known about the limit (no answer yet, or none left and no reset time): one
        // request at a time until an answer tells more.
        let unknown = !self.answered || (self.remaining == Some(0) && self.reset_at.is_none());
        if unknown && self.in_flight > 0 {
            return Some(Wait::Slot);
        }
        if let Some(wait) = self.budget.as_mut().and_then(|b| b.wait(now)) {
            self.hold(now, now + wait);
            return Some(Wait::For(wait));
        }
        None
    }

    /// Holds every request until `until`, counting the wall time added to the hold.
    fn hold(&mut self, now: Instant, until: Instant) {
        let from = self.hold_until.map_or(now, |h| h.max(now));
        if until > from {
            self.held += until - from;
        }
        self.hold_until = Some(self.hold_until.map_or(until, |h| h.max(until)));
    }

    fn take(&mut self, now: Instant) {
        self.in_flight += 1;
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(1);
        }
        if let Some(budget) = &mut self.budget {
            budget.sent.push_back(now);
        }
    }
}

/// How long until the window ending at `reset` (Unix seconds) is surely over, or `None` if it is.
fn window_left(reset: u64) -> Option<Duration> {
    let end = UNIX_EPOCH + Duration::from_secs(reset) + RESET_MARGIN;
    end.duration_since(SystemTime::now()).ok().filter(|d| !d.is_zero())
}

/// Time from now until a Unix timestamp in seconds (zero if it has passed).
fn until_unix(unix_secs: u64) -> Duration {
    let target = UNIX_EPOCH + Duration::from_secs(unix_secs);
    target.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_unix() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn an_exhausted_window_holds_requests_until_it_resets() {
        let pacer = Pacer::new(4, None);
        let reset = now_unix() + 1;
        drop(pacer.acquire());
        pacer.observe(RateHeaders {
            limit: Some(2),
            remaining: Some(0),
            reset: Some(reset),
        });
        let started = Instant::now();
        drop(pacer.acquire());
        let waited = started.elapsed();
        assert!(
            waited >= until_unix(reset).saturating_sub(Duration::from_millis(50)),
            "{waited:?}"
        );
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    }

    #[test]
    fn the_local_count_lowers_the_remaining_figure() {
        let pacer = Pacer::new(8, None);
        let reset = now_unix() + 30;
        pacer.observe(RateHeaders {
            limit: Some(10),
            remaining: Some(3),
            reset: Some(reset),
        });
        for _ in 0..3 {
            drop(pacer.acquire());
        }
        assert_eq!(pacer.lock().remaining, Some(0));
        // A late response from earlier in the window must not raise it again.
        pacer.observe(RateHeaders {
            limit: Some(10),
            remaining: Some(2),
            reset: Some(reset),
        });
        assert_eq!(pacer.lock().remaining, Some(0));
    }

    #[test]
    fn the_budget_allows_no_more_than_its_share_in_any_window() {
        // 60 a minute over 1-second windows: one a second.
        let mut budget = Budget::new(60, Duration::from_secs(1));
        let start = Instant::now();
        assert!(budget.wait(start).is_none());
        budget.sent.push_back(start);
        let wait = budget.wait(start + Duration::from_millis(300)).unwrap();
        assert_eq!(wait, Duration::from_millis(700));
        assert!(budget.wait(start + Duration::from_secs(1)).is_none());
        // 10,000 a minute over 10 seconds: 1,666 in any window.
        assert_eq!(Budget::new(10_000, BUDGET_WINDOW).per_window, 1_666);
        assert_eq!(Budget::new(1, BUDGET_WINDOW).per_window, 1);
    }

    #[test]
    fn a_budgeted_pacer_waits_for_room() {
        let pacer = Pacer::new(8, Some(60));
        pacer.observe(RateHeaders::default());
        pacer.lock().budget = Some(Budget::new(120, Duration::from_millis(300)));
        let started = Instant::now();
        for _ in 0..3 {
            drop(pacer.acquire());
        }
        // Room for one request per 300 ms window: the third waits for two windows.
        assert!(
            started.elapsed() >= Duration::from_millis(550),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn only_one_request_goes_out_before_the_limit_is_known() {
        let pacer = Pacer::new(8, None);
        let first = pacer.acquire();
        assert!(matches!(pacer.lock().wait_needed(Instant::now()), Some(Wait::Slot)));
        pacer.observe(RateHeaders {
            limit: Some(5),
            remaining: Some(4),
            reset: Some(now_unix() + 10),
        });
        drop(first);
        assert!(pacer.lock().wait_needed(Instant::now()).is_none());
    }

    #[test]
    fn slots_cap_the_requests_in_flight() {
        let pacer = Pacer::new(2, None);
        pacer.observe(RateHeaders::default());
        let a = pacer.acquire();
        let _b = pacer.acquire();
        assert!(matches!(pacer.lock().wait_needed(Instant::now()), Some(Wait::Slot)));
        drop(a);
        assert!(pacer.lock().wait_needed(Instant::now()).is_none());
    }
}

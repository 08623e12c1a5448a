//! Request pacing shared by every thread: how many requests are in flight, and when the next may
//! go, under Intercom's rate-limit window and the user's own budget.
//!
//! **In flight.** What a sync can reach is the rate budget; what it takes to reach it is
//! enough requests in flight to cover the latency: about `rate × latency`. The pacer measures
//! the latency of the answers and keeps its limit near three times that figure (plus two), or
//! half of what is left of Intercom's window when that is more, so that a window's budget goes
//! in its first few seconds, never above `max_concurrency`. It starts with one request, until
//! an answer tells the window's size; from the first answer on, the window's rate (or the
//! budget's) and the latency give the limit at once, so that the first window is spent like
//! the others. Where neither rate is known, it grows instead (doubling per round trip at first,
//! then one per round trip) while the limit is in use. It backs off on trouble: halves on a
//! 429, loses 30% on a 5xx, a timeout or a dropped connection, and 20% when the latency of
//! fetches by id climbs to twice its usual level, the sign of a server that is queueing.
//!
//! **The window.** Intercom reports its window in `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` (Unix seconds). The pacer keeps its own count of what it has sent in
//! the current window, trusts the server's figure when it is lower, and when nothing remains it
//! holds every thread until the window resets, so that the tap waits instead of collecting 429s.
//! Intercom's windows last 10 seconds, so a reset time further away than a minute is not
//! believed. A configured budget (`max_requests_per_minute`) is enforced the way Intercom
//! enforces its own limit, over 10-second windows: no 10 seconds ever see more than a sixth of
//! the budget.
//!
//! **Priorities.** A request that others wait on (a search page, a scroll page, the few
//! requests of a page its reader needs before it goes on: links of a chain) goes before the
//! many independent ones (a conversation's parts): it is served first when a slot frees, may
//! pass the limit by two, and keeps a reserve of each window that independent requests leave
//! alone until the window's last second. The reserve is a fiftieth of the window, the chains
//! waiting, and, while chains are going, what their pace needs until the window ends: their
//! requests a second, measured over the window before (at most half the window). So
//! the chains that bound a sync's length keep moving while the bulk waits for a window to
//! reset, instead of standing still for most of every window and finishing last.
//!
//! **Time.** Every decision reads one [`Clock`], given at the start, and every wait is the
//! clock's: the machine's in a sync, one that tests move by hand.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::clock::{Clock, Now, SystemClock};

/// After a window's reset time, wait this much longer: the reset is whole seconds and clocks
/// differ a little.
const RESET_MARGIN: Duration = Duration::from_millis(250);
/// Intercom counts requests over 10-second windows (`rate_limit_window`); the budget does the
/// same.
#[cfg(test)]
pub const WINDOW: Duration = Duration::from_secs(10);
/// Holds longer than this are logged.
const LOGGED_WAIT: Duration = Duration::from_secs(3);
/// A reset further away than this many windows is not believed.
const BELIEVABLE_WINDOWS: u32 = 6;
/// How far above the adaptive limit a chain request may go.
const CHAIN_EXTRA: usize = 2;
/// How often a thread waiting for a slot looks again without being woken.
const SLOT_RECHECK: Duration = Duration::from_millis(100);
/// Independent requests may spend the chains' reserve in a window's last second.
const LAST_SECOND: Duration = Duration::from_secs(1);
/// How often an independent request held back for the chains' share looks again.
const RESERVE_RECHECK: Duration = Duration::from_millis(250);
/// Chains that sent nothing for this long are over, and keep no share of the window.
const CHAINS_IDLE: Duration = Duration::from_secs(2);
/// How many times `rate × latency` may be in flight: enough to spend a window's budget in its
/// first few seconds. Intercom's windows are fixed, so a budget spread evenly over a window is
/// no faster in the long run, and slower at the end: the last window's work, often far less
/// than its budget, would be spread over ten seconds instead of done at once.
const BURST: f64 = 3.0;
/// The share of what is left of Intercom's window that may be in flight at once, when that is
/// more than the pace allows.
const LEFT_AT_ONCE: f64 = 0.5;
/// The first limit once an answer has arrived.
const FIRST_LIMIT: f64 = 4.0;
/// The fewest requests kept in flight on the evidence of latency alone: at latencies of a few
/// milliseconds, jitter looks like rising latency and the rate times the latency is one or two,
/// yet a few requests in flight cost nothing and keep the budget in use while the tap parses
/// (429s and failures may still cut below it).
const LATENCY_FLOOR: f64 = 4.0;

/// How much others wait on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A link of a chain (search, scroll, list page): its answer says what comes next.
    Chain,
    /// One of a page's few requests that its reader waits on before it goes on (a contact's
    /// long lists): served as a chain, in the share of each window kept for the chains' pace,
    /// but it leaves a window's last requests to the pages, so that the chain that bounds a
    /// sync (the companies scroll at long latencies) never waits for a reset behind it.
    Link,
    /// One of many independent requests (a record fetched whole).
    Leaf,
}

/// How an attempt ended, for the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feedback {
    /// An answer (any status but 429 and 5xx), after this long.
    Answered(Duration),
    RateLimited,
    /// A 5xx, a timeout, a dropped connection, a body cut short.
    Trouble,
}

pub struct Pacer<C: Clock = SystemClock> {
    clock: C,
    state: Mutex<State>,
    /// Threads waiting for a slot, chains and leaves apart: a freed slot wakes one thread (the
    /// chain first), not the hundreds that may be waiting.
    chains: Condvar,
    leaves: Condvar,
}

struct State {
    /// The length of one of Intercom's rate-limit windows (`rate_limit_window`).
    window: Duration,
    in_flight: usize,
    /// `max_concurrency`: the limit never passes it.
    ceiling: usize,
    /// The congestion window: grows while in use, shrinks on trouble.
    window_limit: f64,
    slow_start: bool,
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
    latency: Latency,
    /// The latency of fetches by id alone (leaves, and a page's few links), for the sign of
    /// queueing: they are alike in cost, while a search's time depends on its query and the
    /// data (0.5 to 18 s on busy workspaces), and a mix of the two that shifts is no sign of
    /// anything.
    leaves: Latency,
    /// Chain requests waiting for a slot.
    chain_waiting: usize,
    /// How fast the chains go while a window lets them: the share of each window kept for them.
    chains: ChainPace,
    last_cut: Option<Instant>,
    /// Requests sent, ever: for the rate in reports.
    sent: u64,
    /// A reset time that could not be believed was reported.
    warned_reset: bool,
}

/// Latency of answers, in seconds: a moving average and a slowly rising floor.
#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    average: Option<f64>,
    base: Option<f64>,
}

impl Latency {
    fn add(&mut self, seconds: f64) {
        let average = self.average.map_or(seconds, |a| a + 0.1 * (seconds - a));
        self.average = Some(average);
        // The floor drops at once to a new low and creeps up towards the average, so that it
        // follows a lasting change but not a passing one.
        self.base = Some(self.base.map_or(seconds, |b| seconds.min(b + 0.005 * (average - b))));
    }

    /// Whether answers now take twice their usual time (and noticeably longer).
    fn rising(&self) -> bool {
        match (self.average, self.base) {
            (Some(a), Some(b)) => a > 2.0 * b + 0.05,
            _ => false,
        }
    }
}

/// The chains' own pace: chain requests sent in the current window, over the time it was
/// seen. A chain waits on its requests one after another, so it needs a few requests a second
/// all window long; if the independent requests spend a window in its first three seconds,
/// every chain stands still for the other seven. Measured in one window, this pace sets the
/// share of the next that they leave to the chains. It is taken over the whole window, not
/// only the part before the window ran out: chains that waited at its start go at once when it
/// opens, and that burst, taken for their pace, kept half of every window from the independent
/// requests until its last second, which did not always suffice to spend it.
#[derive(Debug, Clone, Copy, Default)]
struct ChainPace {
    /// When the current window was first seen.
    opened: Option<Instant>,
    /// When the last chain request went.
    last: Option<Instant>,
    /// Chain requests sent in it.
    sent: u32,
    /// Chain requests a second in the last window seen for a second or more.
    rate: Option<f64>,
}

impl ChainPace {
    fn sent(&mut self, chain: bool, now: Instant) {
        self.opened.get_or_insert(now);
        if chain {
            self.sent += 1;
            self.last = Some(now);
        }
    }

    /// The pace, while chains are going: none went for `CHAINS_IDLE`, they are over (the
    /// contacts searches finished), and what was kept for them goes to the others at once.
    fn rate_now(&self, now: Instant) -> Option<f64> {
        let going = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < CHAINS_IDLE);
        self.rate.filter(|_| going)
    }

    /// A new window: the one ending gives its pace, if it was seen long enough.
    fn next_window(&mut self, now: Instant) {
        if let Some(opened) = self.opened {
            let seen = now.saturating_duration_since(opened).as_secs_f64();
            if seen >= 1.0 {
                self.rate = Some(f64::from(self.sent) / seen);
            }
        }
        self.opened = Some(now);
        self.sent = 0;
    }
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

    /// How long until `room` more requests fit, or `None` if they fit now.
    fn wait(&mut self, now: Instant, room: usize) -> Option<Duration> {
        while self.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            self.sent.pop_front();
        }
        if self.sent.len() + room <= self.per_window {
            return None;
        }
        let index = (self.sent.len() + room).saturating_sub(self.per_window + 1);
        let until = self.sent.get(index).or(self.sent.back())?;
        Some(
            self.window
                .saturating_sub(now.duration_since(*until))
                .max(Duration::from_millis(1)),
        )
    }

    fn rate(&self) -> f64 {
        usize_f64(self.per_window) / self.window.as_secs_f64()
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
pub struct Permit<'a, C: Clock = SystemClock> {
    pacer: &'a Pacer<C>,
    feedback: Option<Feedback>,
    /// Requests in flight when this one went out, itself included.
    busy: usize,
    priority: Priority,
    /// The pacer's count of requests sent, this one included, when it went out.
    taken: u64,
}

impl<C: Clock> Permit<'_, C> {
    /// Takes in what this request's response headers said about the window. Returns a warning
    /// to log when the reset time is not believable.
    pub fn observe(&self, headers: RateHeaders) -> Option<String> {
        self.pacer.observe(headers, self.taken)
    }

    /// Says how the attempt ended, so that the limit can follow.
    pub fn finish(mut self, feedback: Feedback) {
        self.feedback = Some(feedback);
    }
}

impl<C: Clock> Drop for Permit<'_, C> {
    fn drop(&mut self) {
        let mut state = self.pacer.lock();
        state.in_flight -= 1;
        let before = state.effective_limit();
        if let Some(feedback) = self.feedback {
            state.learn(feedback, self.busy, self.priority, self.pacer.clock.now().instant);
        }
        let grown = state.effective_limit() > before;
        let chain_waiting = state.chain_waiting > 0;
        drop(state);
        if grown {
            self.pacer.wake_all();
        } else if chain_waiting {
            self.pacer.chains.notify_one();
        } else {
            self.pacer.leaves.notify_one();
        }
    }
}

/// What the pacer is doing, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    pub limit: usize,
    pub in_flight: usize,
    pub latency: Option<f64>,
    pub sent: u64,
    /// Requests per second the window and the budget allow, when known.
    pub allowed_rate: Option<f64>,
}

impl Pacer {
    /// A pacer on the machine's clock.
    pub fn new(max_in_flight: usize, per_minute: Option<u32>, window: Duration) -> Pacer {
        Pacer::with_clock(SystemClock, max_in_flight, per_minute, window)
    }
}

impl<C: Clock> Pacer<C> {
    /// A pacer that reads `clock` for every decision and waits on it.
    pub fn with_clock(clock: C, max_in_flight: usize, per_minute: Option<u32>, window: Duration) -> Pacer<C> {
        let budget = per_minute.map(|n| Budget::new(n, window));
        Pacer {
            clock,
            state: Mutex::new(State {
                window,
                in_flight: 0,
                ceiling: max_in_flight.max(1),
                window_limit: FIRST_LIMIT,
                slow_start: true,
                answered: false,
                limit: None,
                remaining: None,
                reset_at: None,
                hold_until: None,
                budget,
                held: Duration::ZERO,
                latency: Latency::default(),
                leaves: Latency::default(),
                chain_waiting: 0,
                chains: ChainPace::default(),
                last_cut: None,
                sent: 0,
                warned_reset: false,
            }),
            chains: Condvar::new(),
            leaves: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until a request may be sent, then counts it as sent.
    pub fn acquire(&self, priority: Priority) -> Permit<'_, C> {
        let mut state = self.lock();
        let mut counted = false;
        loop {
            let now = self.clock.now();
            match state.wait_needed(now, priority) {
                None => {
                    if counted {
                        state.chain_waiting -= 1;
                    }
                    state.take(now.instant, priority);
                    return Permit {
                        pacer: self,
                        feedback: None,
                        busy: state.in_flight,
                        priority,
                        taken: state.sent,
                    };
                }
                Some(wait) => {
                    if priority != Priority::Leaf && !counted {
                        counted = true;
                        state.chain_waiting += 1;
                    }
                    let wake = if priority == Priority::Leaf {
                        &self.leaves
                    } else {
                        &self.chains
                    };
                    // A slot wait also looks again now and then: a slot can free without a
                    // release (a chain that stopped waiting leaves the leaves one more).
                    let wait = match wait {
                        Wait::Slot => SLOT_RECHECK,
                        Wait::For(d) => d,
                    };
                    state = self.clock.wait_timeout(wake, state, wait);
                }
            }
        }
    }

    /// Takes in what the headers of a response said about the window; `taken` is the count of
    /// requests sent when that request went out.
    fn observe(&self, headers: RateHeaders, taken: u64) -> Option<String> {
        let mut state = self.lock();
        let first = !state.answered;
        let window = state.reset_at;
        state.answered = true;
        if headers.limit.is_some() {
            state.limit = headers.limit;
        }
        let mut warning = None;
        if let (Some(remaining), Some(reset)) = (headers.remaining, headers.reset) {
            let now = self.clock.now();
            let reset = match believable(reset, state.window, now) {
                Ok(reset) => reset,
                Err(shown) => {
                    if !state.warned_reset {
                        state.warned_reset = true;
                        warning = Some(shown);
                    }
                    now.unix_secs() + state.window.as_secs()
                }
            };
            match state.reset_at {
                // Within a window the local count is exact for the tap's own requests: the
                // server's figure is lower only when others (another app, another tap) spend
                // the same budget. Subtracting the requests still in flight from it would count
                // twice those the server had already counted, and answers come back out of
                // order: with a hundred in flight, a hundred of each window went unused.
                Some(known) if known == reset => {
                    state.remaining = Some(state.remaining.map_or(remaining, |r| r.min(remaining)));
                }
                // An answer from a window that is already over.
                Some(known) if known > reset => {}
                // A new window, first heard of in this answer: the server has not counted the
                // requests sent after this one.
                _ => {
                    state.chains.next_window(now.instant);
                    state.reset_at = Some(reset);
                    state.remaining = Some(remaining.saturating_sub(state.sent.saturating_sub(taken)));
                }
            }
        }
        // Waiting threads can go only when the first answer or a new window came.
        let news = first || state.reset_at != window;
        drop(state);
        if news {
            self.wake_all();
        }
        warning
    }

    fn wake_all(&self) {
        self.chains.notify_all();
        self.leaves.notify_all();
    }

    /// A 429: hold every thread until the window resets (or `fallback` when the response did
    /// not say when, or said something beyond belief), then let them try again. Returns how
    /// long the hold is.
    pub fn hold_after_429(&self, headers: RateHeaders, fallback: Duration) -> Duration {
        let mut state = self.lock();
        let now = self.clock.now();
        let reset = headers.reset.and_then(|r| believable(r, state.window, now).ok());
        let wait = reset.map_or(fallback, |reset| until_unix(reset, now) + RESET_MARGIN);
        state.hold(now.instant, now.instant + wait, None);
        state.remaining = Some(0);
        if let Some(reset) = reset {
            state.reset_at = Some(reset);
        }
        wait
    }

    /// Wall time during which requests were held back by the rate limit or the budget.
    pub fn waited(&self) -> Duration {
        self.lock().held
    }

    /// What the pacer is doing now.
    pub fn pace(&self) -> Pace {
        let state = self.lock();
        Pace {
            limit: state.effective_limit(),
            in_flight: state.in_flight,
            latency: state.latency.average,
            sent: state.sent,
            allowed_rate: state.allowed_rate(),
        }
    }

    /// The number of requests that may be in flight now.
    pub fn limit(&self) -> usize {
        self.lock().effective_limit()
    }
}

enum Wait {
    /// Every slot is taken: wait for one to free.
    Slot,
    /// The rate limit or the budget: wait this long.
    For(Duration),
}

impl State {
    /// Requests per second that Intercom's window and the budget allow, when either is known.
    fn allowed_rate(&self) -> Option<f64> {
        let window = self.limit.map(|l| u64_f64(l) / self.window.as_secs_f64());
        let budget = self.budget.as_ref().map(Budget::rate);
        match (window, budget) {
            (Some(w), Some(b)) => Some(w.min(b)),
            (w, b) => w.or(b),
        }
    }

    /// The limit: the congestion window, and no more than the rate allows at the latency seen.
    fn effective_limit(&self) -> usize {
        if !self.answered {
            return 1;
        }
        let mut limit = self.window_limit;
        if let (Some(rate), Some(latency)) = (self.allowed_rate(), self.latency.average) {
            let paced = rate * latency * BURST + 2.0;
            // What is left of Intercom's window may go in two round trips: at short latencies
            // the pace alone would spread the rest of a fresh window over a second or more,
            // which a sync that needs one window and a little more waits for at its end.
            let left = self.remaining.map_or(0.0, |r| u64_f64(r) * LEFT_AT_ONCE);
            limit = limit.min(paced.max(left).max(LATENCY_FLOOR));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let limit = limit.floor().max(1.0) as usize;
        limit.min(self.ceiling)
    }

    /// Adjusts the limit after an attempt that went out with `busy` requests in flight.
    fn learn(&mut self, feedback: Feedback, busy: usize, priority: Priority, now: Instant) {
        let limit = usize_f64(self.effective_limit());
        match feedback {
            Feedback::Answered(took) => {
                self.latency.add(took.as_secs_f64());
                // Fetches by id, leaves or a page's few links, are the sign of queueing; only
                // their own answers say it, so that a figure no answer updates (leaves held
                // back while links and pages go) never keeps the limit down.
                let by_id = priority != Priority::Chain;
                if by_id {
                    self.leaves.add(took.as_secs_f64());
                }
                if self.slow_start && self.allowed_rate().is_some() {
                    // The rate allowed and the latency are both known: no need to probe for
                    // the limit by doubling, which would leave most of the first window unused
                    // (a quarter of it at 300 ms when the sync starts late in a window). The
                    // limit is at once what the rate allows at this latency; 429s, trouble and
                    // queueing still cut it.
                    self.slow_start = false;
                    self.window_limit = usize_f64(self.ceiling);
                } else if by_id && self.leaves.rising() {
                    self.cut((limit * 0.8).max(LATENCY_FLOOR), now);
                } else if 2.0 * usize_f64(busy) >= limit && self.window_limit < usize_f64(self.ceiling) {
                    // The limit was in use (at least half of it, when this request went out):
                    // grow it, by one per answer in slow start, so that it doubles each round
                    // trip, and by one per round trip after.
                    self.window_limit += if self.slow_start {
                        1.0
                    } else {
                        1.0 / self.window_limit.max(1.0)
                    };
                    self.window_limit = self.window_limit.min(usize_f64(self.ceiling));
                }
            }
            Feedback::RateLimited => self.cut(limit * 0.5, now),
            Feedback::Trouble => self.cut(limit * 0.7, now),
        }
    }

    /// Lowers the congestion window, at most once per round trip: the answers of requests sent
    /// before a cut say nothing about the new limit.
    fn cut(&mut self, to: f64, now: Instant) {
        let round_trip = Duration::from_secs_f64(self.latency.average.unwrap_or(0.1).clamp(0.01, 10.0));
        if self.last_cut.is_some_and(|t| now.duration_since(t) < round_trip) {
            return;
        }
        self.last_cut = Some(now);
        self.slow_start = false;
        self.window_limit = to.max(1.0);
    }

    fn wait_needed(&mut self, at: Now, priority: Priority) -> Option<Wait> {
        let now = at.instant;
        if let Some(hold) = self.hold_until {
            if now < hold {
                return Some(Wait::For(hold - now));
            }
            self.hold_until = None;
            // The window we were told about is over; its count no longer applies.
            self.remaining = None;
        }
        let leaf = priority == Priority::Leaf;
        if let Some(reset) = self.reset_at {
            match window_left(reset, at) {
                // The window is over: a new one starts with the whole limit, less what is in
                // flight.
                None => {
                    // The next window ends a window later (answers from it confirm that, or
                    // replace it), and answers still coming from the old one are ignored.
                    self.chains.next_window(now);
                    self.reset_at = Some(reset + self.window.as_secs());
                    let busy = u64::try_from(self.in_flight).unwrap_or(u64::MAX);
                    self.remaining = self.limit.map(|l| l.saturating_sub(busy));
                }
                Some(wait) if self.remaining == Some(0) => {
                    self.hold(
                        now,
                        now + wait,
                        Some("Intercom's rate-limit window has no request left (X-RateLimit-Remaining 0)"),
                    );
                    return Some(Wait::For(wait));
                }
                // Independent requests and links leave the window's reserve to the pages, until
                // its last second (see `kept_from`). The reserve shrinks as the window runs
                // out, and its paced part goes when the chains stop: independent requests look
                // again every RESERVE_RECHECK, so that they do not all wait for the last second
                // and go together, in flight when the window resets (a new window starts less
                // what is in flight: the next is then underspent).
                Some(wait)
                    if wait > LAST_SECOND
                        && self
                            .kept_from(priority, wait.saturating_sub(LAST_SECOND), now)
                            .is_some_and(|kept| self.remaining <= Some(kept)) =>
                {
                    let ahead = wait.saturating_sub(LAST_SECOND);
                    return Some(Wait::For(if leaf { ahead.min(RESERVE_RECHECK) } else { ahead }));
                }
                Some(_) => {}
            }
        }
        // Nothing known about the limit (no answer yet, or none left and no reset time): one
        // request at a time until an answer tells more.
        let unknown = !self.answered || (self.remaining == Some(0) && self.reset_at.is_none());
        if unknown && self.in_flight > 0 {
            return Some(Wait::Slot);
        }
        let limit = self.effective_limit();
        let slots = if leaf {
            limit.saturating_sub(self.chain_waiting)
        } else {
            limit + CHAIN_EXTRA
        };
        if self.in_flight >= slots.max(usize::from(!leaf)) {
            return Some(Wait::Slot);
        }
        let room = if leaf { 1 + self.budget_reserve() } else { 1 };
        if let Some(wait) = self.budget.as_mut().and_then(|b| b.wait(now, room)) {
            if !leaf {
                self.hold(
                    now,
                    now + wait,
                    Some("max_requests_per_minute is used up for this minute"),
                );
            }
            return Some(Wait::For(wait));
        }
        None
    }

    /// The part of a window that a request of `priority` leaves to others, `ahead` of its last
    /// second: an independent request, a fiftieth of it and the chains waiting, and what the
    /// chains' pace needs until then (no more than half the window); a page's link, the
    /// fiftieth and the chains waiting, for the pages; a page, none.
    fn kept_from(&self, priority: Priority, ahead: Duration, now: Instant) -> Option<u64> {
        match priority {
            Priority::Leaf => Some(self.base_reserve() + self.paced_reserve(ahead, now)),
            Priority::Link => Some(self.base_reserve()),
            Priority::Chain => None,
        }
    }

    fn base_reserve(&self) -> u64 {
        self.limit.map_or(0, |l| (l / 50).max(2)) + u64::try_from(self.chain_waiting).unwrap_or(0)
    }

    fn paced_reserve(&self, ahead: Duration, now: Instant) -> u64 {
        let Some((rate, limit)) = self.chains.rate_now(now).zip(self.limit) else {
            return 0;
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let paced = (rate * ahead.as_secs_f64()).floor() as u64;
        paced.min(limit / 2)
    }

    fn budget_reserve(&self) -> usize {
        self.budget.as_ref().map_or(0, |b| (b.per_window / 50).min(8)) + self.chain_waiting
    }

    /// Holds every request until `until`, counting the wall time added to the hold. A hold
    /// that adds more than a few seconds is logged with its `reason` and length (a 429's hold
    /// is logged by the client).
    fn hold(&mut self, now: Instant, until: Instant, reason: Option<&str>) {
        let from = self.hold_until.map_or(now, |h| h.max(now));
        if until > from {
            self.held += until - from;
            if let Some(reason) = reason.filter(|_| until - from > LOGGED_WAIT) {
                crate::info!(
                    "pacing: every request waits {:.1}s: {reason}",
                    (until - now).as_secs_f64()
                );
            }
        }
        self.hold_until = Some(self.hold_until.map_or(until, |h| h.max(until)));
    }

    fn take(&mut self, now: Instant, priority: Priority) {
        self.in_flight += 1;
        self.sent += 1;
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(1);
        }
        self.chains.sent(priority != Priority::Leaf, now);
        if let Some(budget) = &mut self.budget {
            budget.sent.push_back(now);
        }
    }
}

/// A reset time no further than Intercom's windows reach, or the reason it is not believed.
fn believable(reset: u64, window: Duration, now: Now) -> Result<u64, String> {
    let ahead = until_unix(reset, now);
    if ahead > window * BELIEVABLE_WINDOWS {
        Err(format!(
            "Intercom's X-RateLimit-Reset says the window resets in {}s; its windows last {}s, so the tap waits {}s instead",
            ahead.as_secs(),
            window.as_secs(),
            window.as_secs()
        ))
    } else {
        Ok(reset)
    }
}

/// How long after `now` the window ending at `reset` (Unix seconds) is surely over, or `None`
/// if it is.
fn window_left(reset: u64, now: Now) -> Option<Duration> {
    let left = now.until(UNIX_EPOCH + Duration::from_secs(reset) + RESET_MARGIN);
    (!left.is_zero()).then_some(left)
}

/// Time from `now` until a Unix timestamp in seconds (zero if it has passed).
fn until_unix(unix_secs: u64, now: Now) -> Duration {
    now.until(UNIX_EPOCH + Duration::from_secs(unix_secs))
}

#[allow(clippy::cast_precision_loss)]
fn usize_f64(n: usize) -> f64 {
    n as f64
}

#[allow(clippy::cast_precision_loss)]
fn u64_f64(n: u64) -> f64 {
    n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::clock::ManualClock;

    /// Where the tests' clock starts: 400 ms into a second, so that a reset in whole seconds
    /// is a fraction of a second away, as in a sync.
    const START_MS: u64 = 1_700_000_000_400;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A pacer on a clock that moves only when a test moves it, or when the pacer waits.
    fn new_pacer(ceiling: usize, per_minute: Option<u32>) -> Pacer<ManualClock> {
        let clock = ManualClock::at(UNIX_EPOCH + ms(START_MS));
        Pacer::with_clock(clock, ceiling, per_minute, WINDOW)
    }

    impl Pacer<ManualClock> {
        fn now_unix(&self) -> u64 {
            self.clock.now().unix_secs()
        }

        fn advance(&self, by: Duration) {
            self.clock.advance(by);
        }

        /// The current window's reset time and what is left of it.
        fn window(&self) -> (Option<u64>, Option<u64>) {
            let state = self.lock();
            (state.reset_at, state.remaining)
        }

        /// What a request of `priority` would wait for now.
        fn wait_needed(&self, priority: Priority) -> Option<Wait> {
            let now = self.clock.now();
            self.lock().wait_needed(now, priority)
        }
    }

    /// How long a wait for the rate limit or the budget lasts (`None` for no wait, or a wait for
    /// a slot).
    fn waits_for(wait: Option<Wait>) -> Option<Duration> {
        match wait {
            Some(Wait::For(d)) => Some(d),
            _ => None,
        }
    }

    /// A pacer that has had its first answer, from a window of `limit` requests that resets
    /// in 10 s (9.85 s with the margin).
    fn answered(ceiling: usize, limit: u64) -> Pacer<ManualClock> {
        let pacer = new_pacer(ceiling, None);
        seen(
            &pacer,
            RateHeaders {
                limit: Some(limit),
                remaining: Some(limit),
                reset: Some(pacer.now_unix() + 10),
            },
        );
        pacer
    }

    /// Headers as if from a response to the last request sent.
    fn seen(pacer: &Pacer<ManualClock>, headers: RateHeaders) -> Option<String> {
        let taken = pacer.lock().sent;
        pacer.observe(headers, taken)
    }

    /// Past its start: the congestion window at `limit`, growing one per round trip.
    fn settle(pacer: &Pacer<ManualClock>, limit: f64) {
        let mut state = pacer.lock();
        state.window_limit = limit;
        state.slow_start = false;
    }

    fn answer(pacer: &Pacer<ManualClock>, priority: Priority, took: Duration) {
        pacer.acquire(priority).finish(Feedback::Answered(took));
    }

    #[test]
    fn an_exhausted_window_holds_requests_until_it_resets() {
        let pacer = new_pacer(4, None);
        let reset = pacer.now_unix() + 1;
        drop(pacer.acquire(Priority::Chain));
        seen(
            &pacer,
            RateHeaders {
                limit: Some(2),
                remaining: Some(0),
                reset: Some(reset),
            },
        );
        // 600 ms to the reset, and the margin.
        drop(pacer.acquire(Priority::Chain));
        assert_eq!(pacer.clock.waited(), ms(850));
        assert_eq!(pacer.waited(), ms(850));
        // The next window has the whole limit, less the request just sent.
        assert_eq!(pacer.window(), (Some(reset + 10), Some(1)));
    }

    #[test]
    fn a_new_window_starts_on_time_with_the_whole_limit_less_what_is_in_flight() {
        let pacer = answered(8, 100);
        let reset = pacer.lock().reset_at;
        let _flying: Vec<_> = (0..3).map(|_| pacer.acquire(Priority::Leaf)).collect();
        // Another app spent most of the window.
        pacer.lock().remaining = Some(5);
        pacer.advance(ms(9_849));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        assert_eq!(pacer.window(), (reset, Some(5)));
        pacer.advance(ms(1));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        assert_eq!(pacer.window(), (reset.map(|r| r + 10), Some(97)));
    }

    #[test]
    fn a_reset_beyond_belief_is_reported_and_one_window_is_waited_instead() {
        let pacer = new_pacer(4, None);
        let now = pacer.now_unix();
        let warning = seen(
            &pacer,
            RateHeaders {
                limit: Some(100),
                remaining: Some(0),
                reset: Some(now + 3600),
            },
        );
        let warning = warning.expect("a warning");
        assert!(warning.contains("resets in 3599s"), "{warning}");
        assert_eq!(pacer.lock().reset_at, Some(now + 10));
        // Nothing is left: the next request waits for that window, not for the hour.
        drop(pacer.acquire(Priority::Chain));
        assert_eq!(pacer.clock.waited(), ms(9_850));
        // Reported once only.
        let again = seen(
            &pacer,
            RateHeaders {
                limit: Some(100),
                remaining: Some(0),
                reset: Some(now + 3610),
            },
        );
        assert_eq!(again, None);
        let hold = pacer.hold_after_429(
            RateHeaders {
                reset: Some(pacer.now_unix() + 3600),
                ..RateHeaders::default()
            },
            WINDOW,
        );
        assert_eq!(hold, WINDOW);
    }

    #[test]
    fn a_hold_after_a_429_ends_when_the_window_resets() {
        let pacer = answered(8, 100);
        let reset = pacer.now_unix() + 2;
        let headers = RateHeaders {
            reset: Some(reset),
            ..RateHeaders::default()
        };
        // 1.6 s to the reset, and the margin; a second 429 of the same window holds no longer.
        assert_eq!(pacer.hold_after_429(headers, WINDOW), ms(1_850));
        assert_eq!(pacer.hold_after_429(headers, WINDOW), ms(1_850));
        assert_eq!(pacer.waited(), ms(1_850), "overlapping holds count once");
        assert_eq!(waits_for(pacer.wait_needed(Priority::Chain)), Some(ms(1_850)));
        pacer.advance(ms(1_849));
        assert_eq!(waits_for(pacer.wait_needed(Priority::Leaf)), Some(ms(1)));
        pacer.advance(ms(1));
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
        // The window the 429 named is over: the next has the whole limit.
        assert_eq!(pacer.window(), (Some(reset + 10), Some(100)));
        // A 429 that does not say when holds for one window.
        assert_eq!(pacer.hold_after_429(RateHeaders::default(), WINDOW), WINDOW);
        pacer.advance(ms(9_999));
        assert!(pacer.wait_needed(Priority::Chain).is_some());
        pacer.advance(ms(1));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        assert_eq!(pacer.waited(), ms(1_850) + WINDOW);
    }

    #[test]
    fn the_local_count_lowers_the_remaining_figure() {
        let pacer = new_pacer(8, None);
        let reset = pacer.now_unix() + 30;
        seen(
            &pacer,
            RateHeaders {
                limit: Some(10),
                remaining: Some(3),
                reset: Some(reset),
            },
        );
        for _ in 0..3 {
            drop(pacer.acquire(Priority::Chain));
        }
        assert_eq!(pacer.lock().remaining, Some(0));
        // A late response from earlier in the window must not raise it again.
        seen(
            &pacer,
            RateHeaders {
                limit: Some(10),
                remaining: Some(2),
                reset: Some(reset),
            },
        );
        assert_eq!(pacer.lock().remaining, Some(0));
    }

    #[test]
    fn answers_lower_the_local_count_only_when_others_spend_the_budget() {
        let pacer = answered(100, 100);
        pacer.lock().window_limit = 20.0;
        // Ten go out at once; the local count knows all ten.
        let permits: Vec<_> = (0..10).map(|_| pacer.acquire(Priority::Leaf)).collect();
        assert_eq!(pacer.lock().remaining, Some(90));
        let reset = pacer.lock().reset_at;
        // Answers in any order, each counted by the server with some of the ten: the local
        // count stands, nothing is counted twice.
        for (permit, remaining) in permits.iter().zip([93, 90, 99, 91]) {
            permit.observe(RateHeaders {
                limit: Some(100),
                remaining: Some(remaining),
                reset,
            });
            assert_eq!(pacer.lock().remaining, Some(90));
        }
        // Another app spent 15 of the window: the server's figure wins.
        permits[4].observe(RateHeaders {
            limit: Some(100),
            remaining: Some(75),
            reset,
        });
        assert_eq!(pacer.lock().remaining, Some(75));
        // The first answer from a new window: the requests sent after this one are not in it.
        let later: Vec<_> = (0..3).map(|_| pacer.acquire(Priority::Leaf)).collect();
        permits[5].observe(RateHeaders {
            limit: Some(100),
            remaining: Some(99),
            reset: reset.map(|r| r + 10),
        });
        assert_eq!(
            pacer.lock().remaining,
            Some(99 - 3 - 4),
            "the 3 later and 4 unanswered of the ten"
        );
        drop(later);
    }

    #[test]
    fn late_answers_from_a_window_that_ended_leave_the_next_ones_count_alone() {
        let pacer = answered(100, 100);
        let old = pacer.now_unix() - 1;
        {
            let mut state = pacer.lock();
            state.reset_at = Some(old);
            state.remaining = Some(0);
        }
        // The window is over: the next one starts with the whole limit.
        let permit = pacer.acquire(Priority::Leaf);
        assert_eq!(pacer.lock().remaining, Some(99));
        assert_eq!(pacer.lock().reset_at, Some(old + 10));
        // An answer from the old window, which had nothing left, changes nothing.
        permit.observe(RateHeaders {
            limit: Some(100),
            remaining: Some(0),
            reset: Some(old),
        });
        assert_eq!(pacer.lock().remaining, Some(99));
    }

    #[test]
    fn the_budget_allows_no_more_than_its_share_in_any_window() {
        // 60 a minute over 1-second windows: one a second.
        let mut budget = Budget::new(60, Duration::from_secs(1));
        let start = Instant::now();
        assert!(budget.wait(start, 1).is_none());
        budget.sent.push_back(start);
        let wait = budget.wait(start + ms(300), 1).unwrap();
        assert_eq!(wait, ms(700));
        assert_eq!(budget.wait(start + ms(999), 1), Some(ms(1)));
        assert!(budget.wait(start + Duration::from_secs(1), 1).is_none());
        // 10,000 a minute over 10 seconds: 1,666 in any window.
        assert_eq!(Budget::new(10_000, WINDOW).per_window, 1_666);
        assert_eq!(Budget::new(1, WINDOW).per_window, 1);
    }

    #[test]
    fn a_budgeted_pacer_waits_for_room() {
        let pacer = new_pacer(8, Some(60));
        seen(&pacer, RateHeaders::default());
        pacer.lock().budget = Some(Budget::new(120, ms(300)));
        for _ in 0..3 {
            drop(pacer.acquire(Priority::Chain));
        }
        // Room for one request per 300 ms window: the third waits for two windows.
        assert_eq!(pacer.clock.waited(), ms(600));
        assert_eq!(pacer.waited(), ms(600));
    }

    #[test]
    fn the_budget_slides_room_comes_back_as_requests_age_out() {
        // 60 a minute over 10-second windows: 10 in any 10 seconds.
        let pacer = new_pacer(20, Some(60));
        seen(&pacer, RateHeaders::default());
        for _ in 0..5 {
            drop(pacer.acquire(Priority::Chain));
        }
        pacer.advance(Duration::from_secs(4));
        for _ in 0..5 {
            drop(pacer.acquire(Priority::Chain));
        }
        // Full: the next waits until the first five are ten seconds old, not a whole window.
        drop(pacer.acquire(Priority::Chain));
        assert_eq!(pacer.clock.waited(), Duration::from_secs(6));
        for _ in 0..4 {
            drop(pacer.acquire(Priority::Chain));
        }
        assert_eq!(pacer.clock.waited(), Duration::from_secs(6));
        // Full again until the five sent at 4 s are ten seconds old, at 14 s.
        pacer.advance(ms(3_999));
        assert_eq!(waits_for(pacer.wait_needed(Priority::Leaf)), Some(ms(1)));
        pacer.advance(ms(1));
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
    }

    #[test]
    fn only_one_request_goes_out_before_the_limit_is_known() {
        let pacer = new_pacer(8, None);
        let first = pacer.acquire(Priority::Chain);
        assert!(matches!(pacer.wait_needed(Priority::Chain), Some(Wait::Slot)));
        seen(
            &pacer,
            RateHeaders {
                limit: Some(5),
                remaining: Some(4),
                reset: Some(pacer.now_unix() + 10),
            },
        );
        drop(first);
        assert!(pacer.wait_needed(Priority::Chain).is_none());
    }

    #[test]
    fn the_ceiling_caps_the_requests_in_flight() {
        let pacer = answered(2, 1_000);
        let a = pacer.acquire(Priority::Leaf);
        let _b = pacer.acquire(Priority::Leaf);
        assert!(matches!(pacer.wait_needed(Priority::Leaf), Some(Wait::Slot)));
        drop(a);
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
    }

    #[test]
    fn the_limit_follows_rate_times_latency() {
        // 1,666 per 10 s and answers in 300 ms: about 50 in flight reach the budget, three
        // times that spend a window in its first few seconds.
        let pacer = answered(1_000, 1_666);
        {
            let mut state = pacer.lock();
            state.window_limit = 1_000.0;
            // Most of the window spent: half of what is left is less than the pace.
            state.remaining = Some(100);
            for _ in 0..100 {
                state.latency.add(0.3);
            }
        }
        let limit = pacer.limit();
        assert_eq!(limit, 151, "166.6/s × 0.3 s × 3 + 2");
        // One second of latency: the default ceiling must not stop 10,000 a minute.
        for _ in 0..200 {
            pacer.lock().latency.add(1.0);
        }
        assert!(pacer.limit() >= 167, "{}", pacer.limit());
        // A budget of 1,000 a minute needs far fewer.
        let budgeted = new_pacer(1_000, Some(1_000));
        seen(&budgeted, RateHeaders::default());
        {
            let mut state = budgeted.lock();
            state.window_limit = 1_000.0;
            state.latency.add(1.0);
        }
        assert_eq!(budgeted.limit(), 51, "16.6/s × 1 s × 3 + 2");
    }

    #[test]
    fn the_limit_backs_off_on_429s_and_grows_again() {
        let pacer = answered(500, 100_000);
        let took = ms(50);
        // The rate is known: from the first answer on, the limit is what the rate allows at
        // this latency (10,000/s × 0.05 s × 3 + 2, above the ceiling of 500).
        let mut held = Vec::new();
        for _ in 0..40 {
            let limit = pacer.limit();
            while held.len() < limit {
                held.push(pacer.acquire(Priority::Leaf));
            }
            for permit in held.drain(..) {
                permit.finish(Feedback::Answered(took));
            }
        }
        let grown = pacer.limit();
        assert!(grown >= 100, "grew to {grown}");
        // A 429 halves it.
        pacer.acquire(Priority::Leaf).finish(Feedback::RateLimited);
        let cut = pacer.limit();
        assert!(cut <= grown / 2 + 1, "{grown} -> {cut}");
        // Trouble within the same round trip does not cut twice.
        pacer.acquire(Priority::Leaf).finish(Feedback::Trouble);
        assert_eq!(pacer.limit(), cut);
        // Then it rises again, one per round trip.
        for _ in 0..20 {
            let limit = pacer.limit();
            while held.len() < limit {
                held.push(pacer.acquire(Priority::Leaf));
            }
            for permit in held.drain(..) {
                permit.finish(Feedback::Answered(took));
            }
        }
        let again = pacer.limit();
        assert!(again > cut && again < grown, "{cut} -> {again}");
    }

    #[test]
    fn the_first_answer_opens_the_limit_to_what_the_window_and_the_rate_allow_at_its_latency() {
        // 1,666 per 10 s, answers in 300 ms: no doubling from a few requests in flight, which
        // would leave a window that the sync starts late in mostly unused.
        let pacer = new_pacer(1_000, None);
        let first = pacer.acquire(Priority::Chain);
        seen(
            &pacer,
            RateHeaders {
                limit: Some(1_666),
                remaining: Some(1_665),
                reset: Some(pacer.now_unix() + 10),
            },
        );
        first.finish(Feedback::Answered(ms(300)));
        // Half of what is left of the window, less each request sent: a third of it at once.
        assert_eq!(pacer.limit(), 832, "1,665 / 2");
        let mut held = Vec::new();
        while pacer.wait_needed(Priority::Leaf).is_none() {
            held.push(pacer.acquire(Priority::Leaf));
        }
        assert_eq!(held.len(), 555, "(1,665 - 555) / 2");
        drop(held);
        // Once most of the window is spent, the pace at this latency.
        pacer.lock().remaining = Some(100);
        assert_eq!(pacer.limit(), 151, "166.6/s × 0.3 s × 3 + 2");
        // A budget known from the settings does the same, before any header.
        let budgeted = new_pacer(1_000, Some(1_000));
        let first = budgeted.acquire(Priority::Chain);
        seen(&budgeted, RateHeaders::default());
        first.finish(Feedback::Answered(ms(1_000)));
        assert_eq!(budgeted.limit(), 51, "16.6/s × 1 s × 3 + 2");
    }

    #[test]
    fn without_a_known_rate_the_limit_grows_by_half_or_more_per_round_trip_while_in_use() {
        let pacer = new_pacer(1_000, None);
        seen(&pacer, RateHeaders::default());
        let mut limits = Vec::new();
        for _ in 0..4 {
            let limit = pacer.limit();
            limits.push(limit);
            let held: Vec<_> = (0..limit).map(|_| pacer.acquire(Priority::Leaf)).collect();
            for permit in held {
                permit.finish(Feedback::Answered(ms(300)));
            }
        }
        // Each round trip, the answers of the requests sent at half the limit or more add one.
        assert_eq!(limits[0], 4);
        for pair in limits.windows(2) {
            assert!(2 * pair[1] >= 3 * pair[0], "{limits:?}");
        }
    }

    #[test]
    fn trouble_cuts_the_limit_once_per_round_trip() {
        let pacer = answered(500, 100_000);
        settle(&pacer, 100.0);
        // Answers take 250 ms: a round trip.
        answer(&pacer, Priority::Leaf, ms(250));
        let trouble = || pacer.acquire(Priority::Leaf).finish(Feedback::Trouble);
        trouble();
        assert_eq!(pacer.limit(), 70);
        trouble();
        pacer.advance(ms(249));
        trouble();
        assert_eq!(pacer.limit(), 70, "the answers of requests sent before the cut");
        pacer.advance(ms(1));
        trouble();
        assert_eq!(pacer.limit(), 49);
    }

    /// A pacer whose fetches answered in 100 ms, then in 600 ms: the limit before and after.
    fn fetches_slow_down() -> (Pacer<ManualClock>, usize, usize) {
        let pacer = answered(500, 100_000);
        settle(&pacer, 100.0);
        for _ in 0..50 {
            answer(&pacer, Priority::Leaf, ms(100));
        }
        let before = pacer.limit();
        for _ in 0..30 {
            pacer.advance(ms(2));
            answer(&pacer, Priority::Leaf, ms(600));
        }
        let after = pacer.limit();
        (pacer, before, after)
    }

    #[test]
    fn rising_latency_lowers_the_limit() {
        let (_, before, after) = fetches_slow_down();
        assert!(after < before, "{before} -> {after}");
    }

    #[test]
    fn a_fetches_latency_that_no_answer_updates_does_not_keep_the_limit_down() {
        // The fetches' latency climbs once (the server was busy for a moment)...
        let (pacer, _, cut) = fetches_slow_down();
        // ...then only pages answer, quickly, a round trip apart: the figure is old news and
        // cuts no more; the limit in use grows again.
        for _ in 0..200 {
            pacer.advance(ms(200));
            let _flying: Vec<_> = (0..cut).map(|_| pacer.acquire(Priority::Chain)).collect();
            answer(&pacer, Priority::Chain, ms(100));
        }
        assert!(pacer.limit() > cut, "{cut} -> {}", pacer.limit());
        // A page's few requests are fetches by id: their answers bring the figure back down.
        for _ in 0..100 {
            pacer.advance(ms(2));
            answer(&pacer, Priority::Link, ms(100));
        }
        assert!(!pacer.lock().leaves.rising());
    }

    #[test]
    fn slow_searches_among_quick_fetches_are_no_sign_of_queueing() {
        let pacer = answered(500, 100_000);
        settle(&pacer, 100.0);
        for _ in 0..50 {
            answer(&pacer, Priority::Leaf, ms(300));
        }
        let before = pacer.limit();
        // Searches answer in 1.5 s, fetches still in 300 ms: the mix's average climbs, but
        // neither kind of request is slower than it was. A round trip passes between answers,
        // so that any sign of queueing would cut.
        for _ in 0..30 {
            pacer.advance(Duration::from_secs(2));
            answer(&pacer, Priority::Chain, ms(1_500));
            answer(&pacer, Priority::Leaf, ms(300));
        }
        assert!(pacer.limit() >= before, "{before} -> {}", pacer.limit());
    }

    #[test]
    fn the_chains_pace_in_one_window_is_measured_over_the_window() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + ms(n);
        let mut pace = ChainPace::default();
        // 30 chain requests and 60 others in the window's first 3 s, then none: its pace is
        // 30 in its 10 s, not in the 3 s of the burst.
        for i in 0..90_u64 {
            pace.sent(i % 3 == 0, at(i * 3_000 / 90));
        }
        pace.next_window(at(10_000));
        assert_eq!(pace.rate, Some(3.0));
        // A window seen for less than a second says nothing new.
        pace.sent(true, at(10_000));
        pace.next_window(at(10_500));
        assert_eq!(pace.rate, Some(3.0));
        pace.sent(true, at(10_500));
        pace.next_window(at(20_500));
        assert_eq!(pace.rate, Some(0.1));
    }

    #[test]
    fn a_window_first_heard_of_in_an_answer_gives_the_chains_pace_of_the_one_before() {
        let pacer = answered(100, 1_000);
        // 40 chain requests and 40 others over 4 s, in a window that never runs out.
        for _ in 0..40 {
            drop(pacer.acquire(Priority::Chain));
            drop(pacer.acquire(Priority::Leaf));
            pacer.advance(ms(100));
        }
        pacer.advance(ms(6_000));
        let next = pacer.now_unix() + 10;
        seen(
            &pacer,
            RateHeaders {
                limit: Some(1_000),
                remaining: Some(999),
                reset: Some(next),
            },
        );
        let rate = pacer.lock().chains.rate.unwrap();
        assert!((rate - 4.0).abs() < 0.01, "40 in the window's 10 s: {rate}");
    }

    #[test]
    fn a_pages_few_requests_leave_the_windows_last_requests_to_the_pages() {
        let pacer = answered(10, 1_000);
        {
            let mut state = pacer.lock();
            state.chains.rate = Some(20.0);
        }
        drop(pacer.acquire(Priority::Chain));
        pacer.lock().remaining = Some(25);
        // Above the fiftieth (20) kept for the pages, a link goes where a leaf may not.
        assert!(pacer.wait_needed(Priority::Link).is_none());
        assert!(waits_for(pacer.wait_needed(Priority::Leaf)).is_some());
        // At it, the link waits for the window's last second; a page still goes.
        pacer.lock().remaining = Some(20);
        assert_eq!(waits_for(pacer.wait_needed(Priority::Link)), Some(ms(8_850)));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        pacer.advance(ms(8_850));
        assert!(pacer.wait_needed(Priority::Link).is_none());
    }

    #[test]
    fn independent_requests_leave_the_chains_what_their_pace_needs_until_the_window_ends() {
        let pacer = answered(10, 1_000);
        {
            let mut state = pacer.lock();
            state.remaining = Some(150);
            state.chains.rate = Some(20.0);
        }
        // The chains are going: one went just now.
        drop(pacer.acquire(Priority::Chain));
        pacer.lock().remaining = Some(150);
        // 8.85 s to the window's last second: 177 for the chains' pace and 20 kept anyway. The
        // leaf looks again in a quarter of a second.
        assert_eq!(waits_for(pacer.wait_needed(Priority::Leaf)), Some(ms(250)));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        // The reserve shrinks as the window runs out: 3.85 s before its last second, 97.
        pacer.advance(ms(1_500));
        drop(pacer.acquire(Priority::Chain));
        pacer.advance(ms(1_500));
        drop(pacer.acquire(Priority::Chain));
        pacer.advance(ms(1_900));
        // 3.95 s before the window's last second: 79 for the pace and 20 kept anyway.
        pacer.lock().remaining = Some(150);
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
        pacer.lock().remaining = Some(99);
        assert!(waits_for(pacer.wait_needed(Priority::Leaf)).is_some());
        // Never more than half the window, however fast the chains went.
        pacer.lock().chains.rate = Some(1_000.0);
        pacer.lock().remaining = Some(519);
        assert!(waits_for(pacer.wait_needed(Priority::Leaf)).is_some());
        pacer.lock().remaining = Some(521);
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
        // Chains that sent nothing for two seconds are over: their share goes to the others.
        pacer.advance(ms(100));
        pacer.lock().remaining = Some(99);
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
    }

    #[test]
    fn chain_requests_go_first_and_keep_a_reserve_of_the_window() {
        let pacer = answered(10, 1_000);
        {
            let mut state = pacer.lock();
            state.window_limit = 2.0;
            state.remaining = Some(100);
        }
        let a = pacer.acquire(Priority::Leaf);
        let b = pacer.acquire(Priority::Leaf);
        // The limit is full: a leaf waits, a chain request may pass it.
        assert!(matches!(pacer.wait_needed(Priority::Leaf), Some(Wait::Slot)));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        // The window's last requests are the chains', until its last second: 9.85 s to the
        // window's end with the margin.
        drop((a, b));
        pacer.lock().remaining = Some(5);
        assert_eq!(waits_for(pacer.wait_needed(Priority::Leaf)), Some(ms(250)));
        assert!(pacer.wait_needed(Priority::Chain).is_none());
        pacer.advance(ms(8_849));
        assert_eq!(waits_for(pacer.wait_needed(Priority::Leaf)), Some(ms(1)));
        pacer.advance(ms(1));
        assert!(pacer.wait_needed(Priority::Leaf).is_none());
    }
}

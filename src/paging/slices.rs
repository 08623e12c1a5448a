//! Reading a range of replication-key values as slices, many at once.
//!
//! A range (`[from, to)`, Unix seconds, open-ended when it runs to the present) starts as one
//! slice. A reader walks a slice's pages and may split it when the answers say it holds more
//! than a few pages: the slice then ends where the reader got to, and the rest becomes new
//! slices that other readers take. So the longest chain of pages that must follow one another
//! stays a few pages long whatever the workspace's size, and the readers keep as many
//! requests in flight as the budget allows. A reader that reaches a slice's last page takes its
//! next slice then, and fetches that slice's first page while it works on the last one (its
//! records' own requests), as it fetches a slice's next page: a search's page and its records'
//! requests follow one another only once per reader, at its start.
//!
//! The [`Partition`] keeps the slices in order, each pending, being read (with the point below
//! which it is complete) or done. Its watermark is the point below which every slice is
//! complete: the only place a bookmark may move to. Slices done above the watermark are
//! reported too, so that a run killed while several slices were half read resumes without
//! reading the finished ones again.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use crate::error::Error;
use crate::job::{Job, Range};
use crate::paging::First;
use crate::parallel::Share;

/// A span of replication-key values, `[from, to)` in Unix seconds; `to: None` runs to the
/// present and beyond (records changed while the sync runs land there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: i64,
    pub to: Option<i64>,
}

impl Span {
    pub fn contains(&self, at: i64) -> bool {
        at >= self.from && self.to.is_none_or(|to| at < to)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    /// Being read; complete below `below`.
    Reading {
        below: i64,
    },
    Done,
}

#[derive(Debug, Clone)]
struct Slice {
    id: u64,
    span: Span,
    status: Status,
}

/// The slices of a range, in order, covering it without gaps.
#[derive(Debug)]
pub struct Partition {
    range: Span,
    slices: Vec<Slice>,
    next_id: u64,
}

impl Partition {
    /// The range as one pending slice, but for the parts of `done` (ranges read completely by
    /// an earlier, interrupted run) that fall in it.
    pub fn new(range: Span, done: &[Range]) -> Partition {
        let mut done: Vec<Range> = done
            .iter()
            .map(|&(from, to)| (from.max(range.from), range.to.map_or(to, |end| to.min(end))))
            .filter(|(from, to)| from < to)
            .collect();
        done.sort_unstable();
        let mut partition = Partition {
            range,
            slices: Vec::new(),
            next_id: 0,
        };
        let mut at = range.from;
        for (from, to) in done {
            if to <= at {
                continue;
            }
            if from > at {
                partition.push(
                    Span {
                        from: at,
                        to: Some(from),
                    },
                    Status::Pending,
                );
            }
            partition.push(
                Span {
                    from: from.max(at),
                    to: Some(to),
                },
                Status::Done,
            );
            at = to;
        }
        if range.to.is_none_or(|end| at < end) {
            partition.push(Span { from: at, to: range.to }, Status::Pending);
        }
        partition
    }

    fn push(&mut self, span: Span, status: Status) {
        self.slices.push(Slice {
            id: self.next_id,
            span,
            status,
        });
        self.next_id += 1;
    }

    fn find(&mut self, id: u64) -> Option<&mut Slice> {
        self.slices.iter_mut().find(|s| s.id == id)
    }

    /// The earliest pending slice, now being read.
    pub fn take(&mut self) -> Option<(u64, Span)> {
        let slice = self.slices.iter_mut().find(|s| s.status == Status::Pending)?;
        slice.status = Status::Reading { below: slice.span.from };
        Some((slice.id, slice.span))
    }

    pub fn span(&self, id: u64) -> Option<Span> {
        self.slices.iter().find(|s| s.id == id).map(|s| s.span)
    }

    /// Everything of slice `id` below `below` has been read.
    pub fn progress(&mut self, id: u64, below: i64) {
        if let Some(slice) = self.find(id) {
            if let Status::Reading { below: old } = slice.status {
                let below = below.max(old).max(slice.span.from);
                let below = slice.span.to.map_or(below, |to| below.min(to));
                slice.status = Status::Reading { below };
            }
        }
    }

    /// Slice `id` is complete.
    pub fn finish(&mut self, id: u64) {
        if let Some(slice) = self.find(id) {
            slice.status = Status::Done;
        }
    }

    /// Ends slice `id` at `at` and makes the rest of it `parts` new pending slices of equal
    /// width, none narrower than `min_width`; an open end is cut at `horizon` (the present),
    /// the last new slice staying open. Returns false, changing nothing, when that cannot give
    /// two slices.
    pub fn split(&mut self, id: u64, at: i64, parts: usize, min_width: i64, horizon: i64) -> bool {
        let Some(index) = self.slices.iter().position(|s| s.id == id) else {
            return false;
        };
        let span = self.slices[index].span;
        if at < span.from || span.to.is_some_and(|to| at >= to) {
            return false;
        }
        let end = span.to.unwrap_or(horizon);
        let width = end - at;
        let most = usize::try_from(width / min_width.max(1)).unwrap_or(0);
        let parts = parts.min(most);
        if parts < 2 {
            return false;
        }
        let step = width / i64::try_from(parts).unwrap_or(i64::MAX);
        let mut children = Vec::with_capacity(parts);
        for i in 0..parts {
            let from = at + step * i64::try_from(i).unwrap_or(0);
            let to = if i + 1 == parts {
                span.to
            } else {
                Some(at + step * i64::try_from(i + 1).unwrap_or(0))
            };
            children.push(Slice {
                id: self.next_id,
                span: Span { from, to },
                status: Status::Pending,
            });
            self.next_id += 1;
        }
        let slice = &mut self.slices[index];
        slice.span.to = Some(at);
        if at == span.from {
            slice.status = Status::Done;
        } else if let Status::Reading { below } = slice.status {
            slice.status = Status::Reading { below: below.min(at) };
        }
        self.slices.splice(index + 1..=index, children);
        true
    }

    pub fn pending(&self) -> usize {
        self.slices.iter().filter(|s| s.status == Status::Pending).count()
    }

    pub fn reading(&self) -> usize {
        self.slices
            .iter()
            .filter(|s| matches!(s.status, Status::Reading { .. }))
            .count()
    }

    /// The point below which every slice is complete; `None` when the whole of an open range
    /// is.
    pub fn watermark(&self) -> Option<i64> {
        for slice in &self.slices {
            match slice.status {
                Status::Done => {}
                Status::Reading { below } => return Some(below),
                Status::Pending => return Some(slice.span.from),
            }
        }
        self.range.to
    }

    /// The slices complete above the watermark, merged where they touch.
    pub fn done_above(&self) -> Vec<Range> {
        let mut out: Vec<Range> = Vec::new();
        let first_open = self.slices.iter().position(|s| s.status != Status::Done);
        let Some(first_open) = first_open else {
            return out;
        };
        for slice in &self.slices[first_open..] {
            if slice.status != Status::Done {
                continue;
            }
            let Some(to) = slice.span.to else { continue };
            if slice.span.from >= to {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 == slice.span.from => last.1 = to,
                _ => out.push((slice.span.from, to)),
            }
        }
        out
    }
}

/// Where the caller saves the watermark (`None`: the whole of an open range) and the ranges
/// done above it.
pub type Progress<'a> = dyn Fn(Option<i64>, &[Range]) -> Result<(), Error> + Sync + 'a;

/// What the readers share.
struct Board<'a> {
    partition: Mutex<Partition>,
    wake: Condvar,
    /// Set when the whole run stops: no slice is taken any more, and readers stop.
    failed: AtomicBool,
    /// The failure to report, with where its slice starts: a slice that fails for itself
    /// (an error answer, a page that cannot be read) stays incomplete, holding the watermark
    /// below it, while the other slices are read to their end; the lowest failed slice's error
    /// is reported, so that the same input reports the same failure.
    error: Mutex<Option<(i64, Error)>>,
    active: AtomicUsize,
    /// The last progress reported, under the lock that keeps reports in order.
    reported: Mutex<Option<(Option<i64>, Vec<Range>)>>,
    /// Where an open slice is cut when it is split: the sync's start (records changed since
    /// stay in the open last slice).
    horizon: i64,
    progress: &'a Progress<'a>,
}

impl Board<'_> {
    fn lock(&self) -> MutexGuard<'_, Partition> {
        self.partition.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports the watermark and the slices done above it, when they changed.
    fn report(&self) -> Result<(), Error> {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        let now = {
            let partition = self.lock();
            (partition.watermark(), partition.done_above())
        };
        if reported.as_ref() == Some(&now) {
            return Ok(());
        }
        (self.progress)(now.0, &now.1)?;
        *reported = Some(now);
        Ok(())
    }

    fn fail(&self, from: i64, err: Error) {
        let everything = err.concerns_the_run();
        let mut error = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        // A failure of the run comes first; echoes of it never replace a real failure.
        let replace = match error.as_ref() {
            None => true,
            Some((_, old)) if old.is_abort() => !err.is_abort(),
            Some((at, old)) => {
                !err.is_abort()
                    && (everything && !old.concerns_the_run() || (everything == old.concerns_the_run() && from < *at))
            }
        };
        if replace {
            *error = Some((from, err));
        }
        drop(error);
        if everything {
            self.failed.store(true, Ordering::SeqCst);
        }
        self.wake.notify_all();
    }
}

/// A reader of the board, counted in `active` until it is dropped.
struct Gone<'a>(&'a Board<'a>);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.wake.notify_all();
    }
}

/// A slice in the hands of a reader.
pub struct Reading<'a> {
    id: u64,
    board: &'a Board<'a>,
    /// The slice's first page, when the reader fetched it ahead, at the end of the slice before.
    first: Cell<Option<First>>,
    /// The slice the reader reads next, taken before this one is done so that its first page
    /// is fetched while this one's last page is worked on, and that page once it came.
    next: RefCell<Option<(u64, Option<First>)>>,
}

impl<'a> Reading<'a> {
    fn new(id: u64, board: &'a Board<'a>, first: Option<First>) -> Reading<'a> {
        Reading {
            id,
            board,
            first: Cell::new(first),
            next: RefCell::new(None),
        }
    }

    /// How the slice's walk begins: with the first page fetched ahead, or by fetching it.
    pub fn first(&self) -> First {
        self.first.take().unwrap_or(First::Fetch)
    }

    /// Takes the earliest pending slice for this reader to read next, unless the run stops or
    /// one is taken already; returns its span, for the request that opens it.
    pub fn take_next(&self) -> Option<Span> {
        let mut next = self.next.borrow_mut();
        if next.is_some() || self.stopped() {
            return None;
        }
        let (id, span) = self.board.lock().take()?;
        *next = Some((id, None));
        Some(span)
    }

    /// The first page of the slice taken with [`Reading::take_next`], fetched ahead.
    pub fn hand_on(&self, first: First) {
        if let Some((_, page)) = self.next.borrow_mut().as_mut() {
            *page = Some(first);
        }
    }

    fn into_next(self) -> Option<(u64, Option<First>)> {
        self.next.into_inner()
    }
}

impl Reading<'_> {
    /// The slice's span now (a split shortens it).
    pub fn span(&self) -> Span {
        self.board.lock().span(self.id).unwrap_or(Span { from: 0, to: Some(0) })
    }

    /// Whether the reading should stop: another slice failed.
    pub fn stopped(&self) -> bool {
        self.board.failed.load(Ordering::SeqCst)
    }

    /// Everything of this slice below `below` has been handed over.
    pub fn progress(&self, below: i64) -> Result<(), Error> {
        if self.stopped() {
            return Err(Error::Aborted);
        }
        self.board.lock().progress(self.id, below);
        self.board.report()
    }

    /// Ends this slice at `at` and queues the rest as `parts` slices (see
    /// [`Partition::split`]). Returns false when it could not split.
    pub fn split(&self, at: i64, parts: usize, min_width: i64) -> bool {
        let horizon = self.board.horizon;
        let split = self.board.lock().split(self.id, at, parts, min_width, horizon);
        if split {
            self.board.wake.notify_all();
        }
        split
    }
}

/// Reads `range` (less what `done` covers) in slices with `read_slice`, as many at once as
/// `readers()` says when a reader is wanted, and reports the watermark and the slices done
/// above it to `progress` whenever they change. Returns the first failure.
pub fn read(
    job: &Job<'_>,
    range: Span,
    done: &[Range],
    readers: &(dyn Fn() -> usize + Sync),
    read_slice: &(dyn Fn(&Reading<'_>) -> Result<(), Error> + Sync),
    progress: &Progress<'_>,
) -> Result<(), Error> {
    let board = Board {
        partition: Mutex::new(Partition::new(range, done)),
        wake: Condvar::new(),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        active: AtomicUsize::new(0),
        reported: Mutex::new(None),
        horizon: job.started_at().timestamp() + 1,
        progress,
    };
    let reader = |board: &Board<'_>, token: Option<Share<'_>>| {
        // The reader counts as gone however it ends, a panic included (a bug, which the scope
        // then reports), so that the loop below never waits for it.
        let _gone = Gone(board);
        // A slice taken while the one before was read, and its first page if it was fetched.
        let mut carried: Option<(u64, Option<First>)> = None;
        loop {
            let stopped = board.failed.load(Ordering::SeqCst);
            // Between two slices, a token another stream is owed goes back to the pool, unless
            // the next slice is this reader's already. A slice taken when the run stops stays
            // unread, and holds the watermark below it.
            let taken = match carried.take() {
                _ if stopped => None,
                Some(next) => Some(next),
                None if token.as_ref().is_some_and(Share::owed_elsewhere) => None,
                None => board.lock().take().map(|(id, _)| (id, None)),
            };
            let Some((id, first)) = taken else { break };
            let from = board.lock().span(id).map_or(i64::MIN, |span| span.from);
            let reading = Reading::new(id, board, first);
            let result = read_slice(&reading).and_then(|()| {
                board.lock().finish(id);
                board.report()
            });
            if let Err(err) = result {
                board.fail(from, err);
            }
            carried = reading.into_next();
        }
        drop(token);
    };
    thread::scope(|scope| {
        let mut partition = board.lock();
        loop {
            if board.failed.load(Ordering::SeqCst) {
                break;
            }
            let active = board.active.load(Ordering::SeqCst);
            let pending = partition.pending();
            if pending == 0 && active == 0 {
                break;
            }
            let wanted = pending > 0 && active < readers().max(1);
            // The first reader always runs; the others need a token of the run's pool.
            let token = match (wanted, active) {
                (false, _) => {
                    job.no_more_readers();
                    None
                }
                (true, 0) => None,
                (true, _) => job.extra_reader(),
            };
            if wanted && (active == 0 || token.is_some()) {
                board.active.fetch_add(1, Ordering::SeqCst);
                let board = &board;
                let spawned = thread::Builder::new()
                    .name(format!("{}-slice", job.name()))
                    .spawn_scoped(scope, move || reader(board, token));
                if let Err(source) = spawned {
                    board.active.fetch_sub(1, Ordering::SeqCst);
                    if active == 0 {
                        drop(partition);
                        // No thread at all: nothing more can be read.
                        board.failed.store(true, Ordering::SeqCst);
                        board.fail(
                            i64::MIN,
                            Error::Spawn {
                                stream: job.name(),
                                source,
                            },
                        );
                        return;
                    }
                }
                continue;
            }
            partition = board
                .wake
                .wait_timeout(partition, std::time::Duration::from_millis(200))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    });
    job.no_more_readers();
    match board.error.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some((_, err)) => Err(err),
        None => Ok(()),
    }
}

/// The ranges done in both lists (a parent and its child share one search).
pub fn intersect(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for &(a_from, a_to) in a {
        for &(b_from, b_to) in b {
            let (from, to) = (a_from.max(b_from), a_to.min(b_to));
            if from < to {
                out.push((from, to));
            }
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(from: i64) -> Span {
        Span { from, to: None }
    }

    #[test]
    fn one_slice_read_to_the_end() {
        let mut p = Partition::new(open(100), &[]);
        let (id, span) = p.take().unwrap();
        assert_eq!(span, open(100));
        assert_eq!(p.watermark(), Some(100));
        p.progress(id, 150);
        assert_eq!(p.watermark(), Some(150));
        p.progress(id, 120);
        assert_eq!(p.watermark(), Some(150), "progress never goes back");
        p.finish(id);
        assert_eq!(p.watermark(), None, "an open range read whole");
        assert!(p.take().is_none());
    }

    #[test]
    fn the_watermark_waits_for_the_earliest_incomplete_slice() {
        let mut p = Partition::new(
            Span {
                from: 0,
                to: Some(1_000),
            },
            &[],
        );
        let (first, _) = p.take().unwrap();
        p.progress(first, 100);
        assert!(p.split(first, 100, 3, 1, 0));
        // The first slice is [0, 100), complete below 100; three slices cover [100, 1000).
        let spans: Vec<Span> = (0..3).map(|_| p.take().unwrap().1).collect();
        assert_eq!(
            spans,
            vec![
                Span {
                    from: 100,
                    to: Some(400)
                },
                Span {
                    from: 400,
                    to: Some(700)
                },
                Span {
                    from: 700,
                    to: Some(1_000)
                },
            ]
        );
        assert_eq!(p.watermark(), Some(100));
        p.finish(first);
        // The last slice finishes first: the watermark stays at the start of the second.
        p.finish(3);
        assert_eq!(p.watermark(), Some(100));
        assert_eq!(p.done_above(), vec![(700, 1_000)]);
        p.progress(1, 250);
        assert_eq!(p.watermark(), Some(250));
        p.finish(1);
        p.finish(2);
        assert_eq!(p.watermark(), Some(1_000), "a closed range read whole");
        assert!(p.done_above().is_empty());
    }

    #[test]
    fn an_open_range_splits_up_to_the_present_and_stays_open() {
        let mut p = Partition::new(open(0), &[]);
        let (id, _) = p.take().unwrap();
        assert!(p.split(id, 400, 4, 1, 1_000));
        let spans: Vec<Span> = (0..4).map(|_| p.take().unwrap().1).collect();
        assert_eq!(
            spans[0],
            Span {
                from: 400,
                to: Some(550)
            }
        );
        assert_eq!(spans[3], open(850));
    }

    #[test]
    fn splits_keep_a_minimum_width_and_need_two_slices() {
        let mut p = Partition::new(Span { from: 0, to: Some(10) }, &[]);
        let (id, _) = p.take().unwrap();
        assert!(!p.split(id, 5, 10, 3, 0), "5 seconds cannot make two 3-second slices");
        assert!(!p.split(id, 10, 2, 1, 0), "nothing is left beyond the end");
        assert!(!p.split(id, 9, 2, 1, 0), "one second is one slice");
        assert!(p.split(id, 4, 10, 3, 0));
        assert_eq!(p.pending(), 2);
        // A split at the slice's own start replaces it.
        let mut p = Partition::new(Span { from: 0, to: Some(100) }, &[]);
        let (id, _) = p.take().unwrap();
        assert!(p.split(id, 0, 4, 1, 0));
        assert_eq!(p.watermark(), Some(0));
        assert_eq!(p.take().unwrap().1, Span { from: 0, to: Some(25) });
    }

    #[test]
    fn ranges_done_earlier_are_not_read_again() {
        let p = Partition::new(
            Span { from: 0, to: Some(100) },
            &[(20, 30), (25, 40), (60, 70), (90, 200)],
        );
        let pending: Vec<Span> = {
            let mut p = p;
            std::iter::from_fn(|| p.take().map(|t| t.1)).collect()
        };
        assert_eq!(
            pending,
            vec![
                Span { from: 0, to: Some(20) },
                Span { from: 40, to: Some(60) },
                Span { from: 70, to: Some(90) },
            ]
        );
        let mut p = Partition::new(open(0), &[(0, 50)]);
        assert_eq!(p.watermark(), Some(50));
        assert_eq!(p.take().unwrap().1, open(50));
    }

    #[test]
    fn intersections_of_done_ranges() {
        assert_eq!(intersect(&[(0, 10), (20, 30)], &[(5, 25)]), vec![(5, 10), (20, 25)]);
        assert!(intersect(&[(0, 10)], &[]).is_empty());
    }
}

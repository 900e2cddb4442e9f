//! The time budget as a contract: when the command must end, how much of
//! the time left a piece of work may take (estimates are padded by a safety
//! factor; the refit of the leader and the writing of outputs are held
//! back), and the one way work runs against a deadline — on a worker thread
//! that is cancelled and abandoned when the deadline passes, and joined
//! before the run returns. The clock is injectable so these decisions are
//! unit-tested without waiting.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::learners::Cancel;

/// Seconds always reserved at the end for writing the outputs; a model
/// adds its size's worth (see [`write_reserve`]).
pub const WRITE_RESERVE: f64 = 0.1;
/// The largest share of the budget a trial may take when it is started on
/// its unpadded estimate ([`Budget::affords_small`]).
pub const SMALL_SHARE: f64 = 0.1;
/// Model bytes written per second, at a margin: a 19 MB model.json with
/// its leaderboard and run record was serialised, written and synced in
/// 0.14 s (136 MB/s), a 213 MB one (its first-fold size) in 1.25 s.
const WRITE_BYTES_PER_SECOND: f64 = 110e6;

/// Seconds to hold back for writing a model whose first-fold size was
/// `model_bytes` (the refit on every row may be a quarter larger: its trees
/// grow with the rows).
pub fn write_reserve(model_bytes: usize) -> f64 {
    WRITE_RESERVE + 1.25 * model_bytes as f64 / WRITE_BYTES_PER_SECOND
}
/// Estimates are multiplied by this before they are compared with the time
/// left: fits vary from run to run and the budget is a contract.
pub const SAFETY: f64 = 1.5;
/// The padding of a refit's estimate in the time held back for it. Less
/// than [`SAFETY`]: the estimate is the leader's own fitting time grown to
/// all rows (on california within 0.96–1.04 of the refit in three runs), a
/// refit that runs long is abandoned for the first-fold model and never
/// costs the budget, and each second of padding is a second the search
/// can't use (padded by 1.5 on the family's rate, refits left 4–6 % of the
/// budget idle).
pub const REFIT_RESERVE_SAFETY: f64 = 1.15;
/// The padding a refit's estimate gets when deciding whether to start it.
/// Less than [`REFIT_RESERVE_SAFETY`], which sized the time held back for
/// it: a search that stops with exactly that reserve left must then find
/// the refit affordable after its last steps (final selection, building a
/// large ensemble's model). With no padding here and 1.1 in the reserve, a
/// 10.8 s ensemble refit was refused by 0.04 s and 13 s went unused.
pub const REFIT_SAFETY: f64 = 1.05;
/// Seconds held back for a refit beyond its padded estimate: what the last
/// steps of the search (the final ensemble selection, recording skipped
/// trials) take between the reserve and the decision to refit. Without it a
/// refit of milliseconds was held back its padded estimate exactly and then
/// refused by a hair (iris at 30 s saved first-fold models).
pub const REFIT_MARGIN: f64 = 0.05;
/// The largest share of the budget held back for refitting the winner; a
/// refit costing more is not planned for (the first-fold model is saved).
pub const MAX_REFIT_SHARE: f64 = 0.25;

/// Where the budget reads the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told, for tests of budget decisions.
#[derive(Debug)]
pub struct FakeClock {
    origin: Instant,
    nanos: AtomicU64,
}

impl FakeClock {
    /// A clock standing at its origin.
    pub fn new() -> FakeClock {
        FakeClock {
            origin: Instant::now(),
            nanos: AtomicU64::new(0),
        }
    }

    /// Moves the clock on by `seconds`.
    pub fn advance(&self, seconds: f64) {
        let step = Duration::from_secs_f64(seconds).as_nanos() as u64;
        self.nanos.fetch_add(step, Ordering::SeqCst);
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A request to stop early (Ctrl-C, SIGTERM), shared with whoever can
/// make it. Stopping ends the budget now: no trial starts, a running one is
/// abandoned, and the best model so far is kept.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A stop nobody has asked for yet.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Asks the run to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// When the command must stop.
#[derive(Debug, Clone)]
pub struct Budget {
    /// When the command started (loading counts against the budget).
    pub start: Instant,
    /// Wall-clock seconds for the whole command, if limited.
    pub seconds: Option<f64>,
    /// Trials to run at most, if limited.
    pub max_trials: Option<usize>,
    clock: Arc<dyn Clock>,
    stop: Stop,
    abandoned: Abandoned,
}

/// Worker threads nobody waits for any more: cancelled, still ending.
/// Clones share the list.
#[derive(Debug, Clone, Default)]
pub struct Abandoned(Arc<Mutex<Vec<JoinHandle<()>>>>);

impl Abandoned {
    /// The list; a worker that panicked holding the lock leaves it usable.
    fn workers(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keep(&self, worker: JoinHandle<()>) {
        self.workers().push(worker);
    }

    /// Waits until every abandoned worker has ended; returns how many there
    /// were. Cancelled fits end at their next check, a library's fit when
    /// it returns.
    pub fn join(&self) -> usize {
        let workers = std::mem::take(&mut *self.workers());
        let count = workers.len();
        for worker in workers {
            // A panic was already caught inside the worker.
            let _ = worker.join();
        }
        count
    }
}

impl Budget {
    /// A budget on the real clock, counted from `start`.
    pub fn new(start: Instant, seconds: Option<f64>, max_trials: Option<usize>) -> Budget {
        Budget::with_clock(Arc::new(SystemClock), start, seconds, max_trials)
    }

    /// A budget on `clock`, counted from `start`.
    pub fn with_clock(
        clock: Arc<dyn Clock>,
        start: Instant,
        seconds: Option<f64>,
        max_trials: Option<usize>,
    ) -> Budget {
        Budget {
            start,
            seconds,
            max_trials,
            clock,
            stop: Stop::new(),
            abandoned: Abandoned::default(),
        }
    }

    /// The same budget, ended early when `stop` is requested.
    pub fn with_stop(mut self, stop: Stop) -> Budget {
        self.stop = stop;
        self
    }

    /// Whether the run was asked to stop early.
    pub fn stopped(&self) -> bool {
        self.stop.requested()
    }

    /// The current instant on the budget's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.now()
            .saturating_duration_since(self.start)
            .as_secs_f64()
    }

    /// Seconds left (infinite without a time limit).
    pub fn remaining(&self) -> f64 {
        self.seconds.map_or(f64::INFINITY, |s| s - self.elapsed())
    }

    /// The instant `margin` seconds before the budget ends, if limited.
    pub fn deadline_before(&self, margin: f64) -> Option<Instant> {
        self.seconds
            .map(|s| self.start + Duration::from_secs_f64((s - margin).max(0.0)))
    }

    /// Whether work estimated at `seconds` may start while `reserve`
    /// seconds stay held back.
    pub fn affords(&self, seconds: f64, reserve: f64) -> bool {
        SAFETY * seconds + reserve <= self.remaining()
    }

    /// When no padded estimate fits: whether a small piece of work (at most
    /// [`SMALL_SHARE`] of the budget) fits unpadded. Ending the search with
    /// time left for such a trial would waste the budget; if it runs long it
    /// is cut at the deadline, and being small it overruns little.
    pub fn affords_small(&self, seconds: f64, reserve: f64) -> bool {
        let small = self.seconds.is_some_and(|s| seconds <= s * SMALL_SHARE);
        small && seconds + reserve <= self.remaining()
    }

    /// Seconds to hold back for a refit estimated at `refit` seconds and
    /// the `write` of its outputs: the refit padded by
    /// [`REFIT_RESERVE_SAFETY`] plus [`REFIT_MARGIN`], unless that is more
    /// than `MAX_REFIT_SHARE` of the budget, in which case only the writing
    /// is kept and the first-fold model will be saved.
    pub fn refit_reserve(&self, refit: f64, write: f64) -> f64 {
        let cap = self.seconds.map_or(f64::INFINITY, |s| s * MAX_REFIT_SHARE);
        let padded = refit * REFIT_RESERVE_SAFETY;
        if padded <= cap {
            padded + REFIT_MARGIN + write
        } else {
            write
        }
    }

    /// Whether a refit estimated at `refit` seconds (unknown: try it) fits
    /// in the time left before the `write` of the outputs.
    pub fn affords_refit(&self, refit: Option<f64>, write: f64) -> bool {
        let left = self.remaining() - write;
        refit.is_none_or(|s| s * REFIT_SAFETY <= left)
    }
}

/// How deadline-bounded work ended.
#[derive(Debug)]
pub enum Finished<T> {
    /// It returned in time.
    Done(T),
    /// It panicked (a library's fault); the message is for the user.
    Panicked,
    /// The deadline passed first; the worker thread was abandoned.
    TimedOut,
    /// A stop was requested first; the worker thread was abandoned.
    Stopped,
}

/// How often a wait looks at the stop request.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Runs `work` on a worker thread and waits for it until `deadline` on
/// `clock` (for ever without one) or until `stop` is requested. Work still
/// running then is cancelled (`work` gets the flag to look at) and its
/// thread kept in `abandoned`, to be joined before the run returns. A panic
/// in `work` is caught and reported, not propagated.
pub fn run_until<T: Send + 'static>(
    clock: &dyn Clock,
    deadline: Option<Instant>,
    stop: &Stop,
    abandoned: &Abandoned,
    work: impl FnOnce(&Cancel) -> T + Send + 'static,
) -> Finished<T> {
    let (tx, rx) = mpsc::channel();
    let cancel = Cancel::new();
    let flag = cancel.clone();
    let worker = std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&flag)));
        let _ = tx.send(result);
    });
    let finished = wait(clock, deadline, stop, &rx);
    match finished {
        Finished::Done(_) | Finished::Panicked => {
            // It has already sent its result: this returns at once.
            let _ = worker.join();
        }
        Finished::TimedOut | Finished::Stopped => {
            cancel.cancel();
            abandoned.keep(worker);
        }
    }
    finished
}

type Outcome<T> = std::thread::Result<T>;

fn wait<T>(
    clock: &dyn Clock,
    deadline: Option<Instant>,
    stop: &Stop,
    rx: &mpsc::Receiver<Outcome<T>>,
) -> Finished<T> {
    loop {
        if stop.requested() {
            return Finished::Stopped;
        }
        let left = deadline.map(|d| d.saturating_duration_since(clock.now()));
        if left == Some(Duration::ZERO) {
            return Finished::TimedOut;
        }
        let wait = left.map_or(STOP_POLL, |l| l.min(STOP_POLL));
        match rx.recv_timeout(wait) {
            Ok(Ok(value)) => return Finished::Done(value),
            Ok(Err(_)) => return Finished::Panicked,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Finished::Panicked,
        }
    }
}

impl Budget {
    /// `run_until` on this budget's clock.
    pub fn run_until<T: Send + 'static>(
        &self,
        deadline: Option<Instant>,
        work: impl FnOnce(&Cancel) -> T + Send + 'static,
    ) -> Finished<T> {
        run_until(
            self.clock.as_ref(),
            deadline,
            &self.stop,
            &self.abandoned,
            work,
        )
    }

    /// Waits for the work this budget's `run_until` gave up on (see
    /// [`Abandoned::join`]).
    pub fn join_abandoned(&self) -> usize {
        self.abandoned.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(seconds: Option<f64>) -> (Arc<FakeClock>, Budget) {
        let clock = Arc::new(FakeClock::new());
        let start = clock.now();
        let b = Budget::with_clock(clock.clone(), start, seconds, None);
        (clock, b)
    }

    #[test]
    fn time_left_follows_the_clock() {
        let (clock, b) = budget(Some(10.0));
        assert_eq!(b.remaining(), 10.0);
        clock.advance(4.0);
        assert!((b.elapsed() - 4.0).abs() < 1e-9);
        assert!((b.remaining() - 6.0).abs() < 1e-9);
        let (_, unlimited) = budget(None);
        assert_eq!(unlimited.remaining(), f64::INFINITY);
        assert_eq!(unlimited.deadline_before(1.0), None);
    }

    #[test]
    fn work_starts_only_if_its_padded_estimate_and_the_reserve_fit() {
        let (clock, b) = budget(Some(10.0));
        clock.advance(6.0);
        // 4 s left: 2 s padded to 3 s, plus 1 s held back, fits exactly.
        assert!(b.affords(2.0, 1.0));
        assert!(!b.affords(2.0, 1.5));
        assert!(!b.affords(2.7, 0.0));
    }

    #[test]
    fn a_small_trial_may_take_the_last_of_the_time_unpadded() {
        let (clock, b) = budget(Some(10.0));
        clock.advance(9.0);
        // 0.6 s padded is 0.9 s: it does not fit the 0.8 s left after the reserve.
        assert!(!b.affords(0.6, 0.2));
        assert!(b.affords_small(0.6, 0.2));
        assert!(!b.affords_small(0.9, 0.2), "no room even unpadded");
        let (clock, b) = budget(Some(4.0));
        clock.advance(2.0);
        assert!(
            !b.affords_small(0.5, 0.0),
            "more than a tenth of the budget"
        );
        let (_, unlimited) = budget(None);
        assert!(!unlimited.affords_small(0.1, 0.0));
    }

    #[test]
    fn writing_is_reserved_by_the_model_s_size() {
        assert_eq!(write_reserve(0), WRITE_RESERVE);
        // 22 MB, a quarter larger after the refit, at 110 MB/s.
        assert!((write_reserve(22_000_000) - (WRITE_RESERVE + 0.25)).abs() < 1e-12);
    }

    #[test]
    fn a_refit_above_a_quarter_of_the_budget_is_not_held_back() {
        let (_, b) = budget(Some(40.0));
        // 8 s padded to 9.2 s is under 10 s (a quarter of 40).
        assert!((b.refit_reserve(8.0, 0.5) - (9.7 + REFIT_MARGIN)).abs() < 1e-9);
        // 9 s padded to 10.35 s is over: keep only the write reserve.
        assert_eq!(b.refit_reserve(9.0, 0.5), 0.5);
        let (_, unlimited) = budget(None);
        assert!((unlimited.refit_reserve(1e6, 0.5) - (1.15e6 + REFIT_MARGIN + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn a_refit_runs_when_unknown_or_when_it_fits_before_writing() {
        let (clock, b) = budget(Some(10.0));
        clock.advance(7.0);
        assert!(b.affords_refit(None, 0.25));
        // 2.61 s padded to 2.7405 s fits in the 2.75 s before writing.
        assert!(b.affords_refit(Some(2.61), 0.25));
        assert!(!b.affords_refit(Some(2.62), 0.25));
        // Exactly the time held back for a refit is enough to start it.
        let held = b.refit_reserve(1.5, 0.25);
        let (clock, b) = budget(Some(10.0));
        clock.advance(10.0 - held);
        assert!(b.affords_refit(Some(1.5), 0.25));
        // A refit of milliseconds still starts after 40 ms of the search's
        // last steps have eaten into its reserve.
        let held = b.refit_reserve(0.01, 0.1);
        let (clock, b) = budget(Some(10.0));
        clock.advance(10.0 - held + 0.04);
        assert!(b.affords_refit(Some(0.01), 0.1));
    }

    #[test]
    fn the_deadline_keeps_a_margin_and_never_precedes_the_start() {
        let (_, b) = budget(Some(10.0));
        assert_eq!(
            b.deadline_before(2.5),
            Some(b.start + Duration::from_millis(7500))
        );
        assert_eq!(b.deadline_before(20.0), Some(b.start));
    }

    /// Work that runs for ten seconds unless cancelled; says whether it was.
    fn patient(cancel: &Cancel) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if cancel.cancelled() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn work_against_a_deadline_is_done_abandoned_or_caught() {
        let (clock, stop, abandoned) = (SystemClock, Stop::new(), Abandoned::default());
        let soon = Some(Instant::now() + Duration::from_millis(50));
        assert!(matches!(
            run_until(&clock, None, &stop, &abandoned, |_| 7),
            Finished::Done(7)
        ));
        let slow = run_until(&clock, soon, &stop, &abandoned, patient);
        assert!(matches!(slow, Finished::TimedOut));
        let panics = run_until(&clock, None, &stop, &abandoned, |_| -> u8 {
            panic!("a library bug")
        });
        assert!(matches!(panics, Finished::Panicked));
        stop.request();
        let started = Instant::now();
        let stopped = run_until(&clock, None, &stop, &abandoned, patient);
        assert!(matches!(stopped, Finished::Stopped));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a stop does not wait"
        );
        // Both abandoned workers were cancelled, so joining them is quick.
        assert_eq!(abandoned.join(), 2);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(abandoned.join(), 0, "joined once");
    }
}

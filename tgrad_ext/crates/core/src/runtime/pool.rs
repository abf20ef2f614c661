//! A persistent worker pool: workers spin briefly after each job (a 64x64 matmul is a few
//! microseconds, far less than waking a sleeping thread; 5 ms keeps a worker hot between
//! back-to-back calls of a few milliseconds), then sleep on a condition variable.
//!
//! Two kinds of job ([`Join`]):
//! - `Every`: each of the `n` indices runs exactly once (kernels that split work by `tid/nth` or
//!   meet at barriers); the caller waits for all of them.
//! - `Helpers`: the job claims its own work (a GEMM takes chunks from a shared counter), so the
//!   caller's `f(0)` alone finishes it. Workers that arrive while it runs help; one that arrives
//!   after the caller is done is turned away instead of being waited for. A helper that another
//!   tenant's process keeps off its core then costs nothing, which is what makes two threads
//!   worth it for jobs of a few microseconds.
//!
//! Every wait on another thread spins briefly and then yields its core at each step
//! ([`Backoff`]): the scheduler may put a worker on the caller's core (a wakeup lands it there
//! until the load balancer moves it), and a caller that only spun while that worker held a
//! chunk would wait out its whole time slice (milliseconds) before the worker could finish.
//!
//! Entry protocol: `entry` packs the job's generation (high 32 bits), a closed flag and the
//! number of workers inside the job. A worker enters with a compare-and-swap that checks the
//! generation it was woken for and the flag, so once the caller closes the job and sees zero
//! inside, nobody can still touch it, and a late worker never runs a later job by mistake.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use crate::abi::Join;

const SPIN: Duration = Duration::from_millis(5);

/// How long a wait spins before it starts yielding its core. Far below a time slice, which is
/// what a co-located thread would otherwise wait; far above the gap between back-to-back small
/// jobs, which a worker must still catch spinning. A count of spin hints cannot say this: a
/// hint takes a few cycles on some cores and over a hundred on others.
const YIELD_AFTER: Duration = Duration::from_micros(50);

/// The steps of one wait: spin hints while it is short, then a yield per step, which returns at
/// once when no other thread wants this core and otherwise lets that thread run.
struct Backoff {
    spins: u32,
    since: Option<Instant>,
    yielding: bool,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            spins: 0,
            since: None,
            yielding: false,
        }
    }

    fn step(&mut self) {
        if self.yielding {
            std::thread::yield_now();
            return;
        }
        std::hint::spin_loop();
        self.spins += 1;
        // the clock is read every 64 hints, from the 64th on: short waits never read it
        if self.spins.is_multiple_of(64) {
            let now = Instant::now();
            match self.since {
                None => self.since = Some(now),
                Some(t) => self.yielding = now.duration_since(t) > YIELD_AFTER,
            }
        }
    }
}

type Job = *const (dyn Fn(usize) + Sync);

/// `entry`: generation << 32 | CLOSED | workers inside.
const CLOSED: u64 = 1 << 31;
const INSIDE: u64 = CLOSED - 1;

struct Shared {
    gen: AtomicU64,
    entry: AtomicU64,
    /// The job of the current generation (a fat pointer stored as two words).
    job: Mutex<Option<(usize, usize)>>,
    width: AtomicUsize,
    /// `Join::Every`: indices not yet finished.
    remaining: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    shutdown: AtomicBool,
}

impl Shared {
    /// Enter the job of generation `gen` unless it has moved on or been closed.
    fn enter(&self, gen: u64) -> bool {
        let mut cur = self.entry.load(Ordering::Acquire);
        loop {
            if cur >> 32 != gen & 0xffff_ffff || cur & CLOSED != 0 {
                return false;
            }
            debug_assert!(cur & INSIDE < INSIDE, "more workers inside than exist");
            match self.entry.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn leave(&self) {
        self.entry.fetch_sub(1, Ordering::Release);
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<usize>,
    dispatch: Mutex<()>,
}

impl Pool {
    /// The pool kernels run on.
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(Pool::new)
    }

    /// A pool of its own, whose workers start on the first job that needs them (and so inherit
    /// the CPU affinity of the thread that runs it); they exit when the pool is dropped.
    pub fn new() -> Pool {
        Pool {
            shared: Arc::new(Shared {
                gen: AtomicU64::new(0),
                // generation 0 is never a job's: closed
                entry: AtomicU64::new(CLOSED),
                job: Mutex::new(None),
                width: AtomicUsize::new(0),
                remaining: AtomicUsize::new(0),
                sleepers: AtomicUsize::new(0),
                lock: Mutex::new(()),
                cv: Condvar::new(),
                shutdown: AtomicBool::new(false),
            }),
            workers: Mutex::new(0),
            dispatch: Mutex::new(()),
        }
    }

    fn ensure_workers(&self, n: usize) {
        let mut have = self
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *have < n {
            let id = *have + 1;
            let shared = self.shared.clone();
            let seen = shared.gen.load(Ordering::SeqCst);
            std::thread::Builder::new()
                .name(format!("tgrad-worker-{id}"))
                .spawn(move || worker(&shared, id, seen))
                .expect("spawning a worker thread");
            *have += 1;
        }
    }

    /// Run `f` over `0..n` with `f(0)` on the calling thread; returns when the job is over and
    /// no worker is still inside it. With `Join::Helpers` some of `1..n` may never run.
    pub fn run(&self, n: usize, join: Join, f: &(dyn Fn(usize) + Sync)) {
        if n <= 1 {
            f(0);
            return;
        }
        // one job at a time: a concurrent caller waits (its job may need all of its threads at
        // once: cooperative GEMMs meet at barriers, so running it serially would deadlock)
        let _guard = self
            .dispatch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.ensure_workers(n - 1);
        let s = &self.shared;
        let fat: *const (dyn Fn(usize) + Sync + '_) = f;
        // SAFETY: a fat pointer is two words; it is read back as the same type below and the
        // referent outlives the job (no worker is inside it when this function returns).
        let words: (usize, usize) = unsafe { std::mem::transmute(fat) };
        *s.job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(words);
        s.width.store(n, Ordering::SeqCst);
        s.remaining.store(n - 1, Ordering::SeqCst);
        let gen = s.gen.load(Ordering::SeqCst) + 1;
        // open the entry for the new generation before announcing it
        s.entry.store((gen & 0xffff_ffff) << 32, Ordering::SeqCst);
        s.gen.store(gen, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _l = s
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.cv.notify_all();
        }
        f(0);
        let mut backoff = Backoff::new();
        if join == Join::Every {
            while s.remaining.load(Ordering::Acquire) > 0 {
                backoff.step();
            }
        }
        // close the entry and wait for the workers already inside (helpers finishing a chunk)
        let mut cur = s.entry.fetch_or(CLOSED, Ordering::AcqRel) | CLOSED;
        while cur & INSIDE != 0 {
            backoff.step();
            cur = s.entry.load(Ordering::Acquire);
        }
    }
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

impl Drop for Pool {
    /// Workers leave once they stop spinning and find the pool shut down; none is inside a job,
    /// since `run` holds `&self` until its job is over.
    fn drop(&mut self) {
        let s = &self.shared;
        s.shutdown.store(true, Ordering::SeqCst);
        let _l = s
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.cv.notify_all();
    }
}

fn worker(s: &Shared, id: usize, mut seen: u64) {
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while s.gen.load(Ordering::SeqCst) == seen {
            std::hint::spin_loop();
            spins += 1;
            if !spins.is_multiple_of(256) {
                continue;
            }
            let idle = start.elapsed();
            if idle > SPIN {
                let mut g = s
                    .lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                s.sleepers.fetch_add(1, Ordering::SeqCst);
                while s.gen.load(Ordering::SeqCst) == seen && !s.shutdown.load(Ordering::SeqCst) {
                    g =
                        s.cv.wait(g)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                s.sleepers.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            // past the short gaps between back-to-back jobs, give way now and then to a thread
            // that shares this core (the caller, whose work this spinning would slow). This is
            // the loop a worker is in between back-to-back small jobs, so it keeps to the clock
            // it already reads every 256 hints instead of a `Backoff`'s work per hint.
            if idle > YIELD_AFTER {
                std::thread::yield_now();
            }
        }
        if s.shutdown.load(Ordering::SeqCst) {
            return;
        }
        seen = s.gen.load(Ordering::SeqCst);
        // inside, the job, its width and `remaining` all belong to generation `seen`
        if !s.enter(seen) {
            continue;
        }
        if id < s.width.load(Ordering::SeqCst) {
            let words = s
                .job
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .expect("a job is set before the generation moves");
            // SAFETY: see `Pool::run`.
            let f: Job = unsafe { std::mem::transmute(words) };
            unsafe { (*f)(id) };
            s.remaining.fetch_sub(1, Ordering::Release);
        }
        s.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_runs_exactly_once() {
        let hits: Vec<AtomicUsize> = (0..5).map(|_| AtomicUsize::new(0)).collect();
        for round in 0..200 {
            let n = 1 + round % 5;
            Pool::global().run(n, Join::Every, &|i| {
                hits[i].fetch_add(1, Ordering::SeqCst);
            });
        }
        let total: usize = hits.iter().map(|h| h.load(Ordering::SeqCst)).sum();
        assert_eq!(total, (0..200).map(|r| 1 + r % 5).sum::<usize>());
    }

    /// Helpers claim chunks from a counter: every chunk runs exactly once whoever shows up, and
    /// a helper turned away from one job never runs an index of the next one twice.
    #[test]
    fn helpers_share_claimed_work_and_fixed_jobs_stay_exact() {
        for round in 0..2000 {
            let chunks = 1 + round % 7;
            let next = AtomicUsize::new(0);
            let done: Vec<AtomicUsize> = (0..chunks).map(|_| AtomicUsize::new(0)).collect();
            Pool::global().run(3, Join::Helpers, &|_| loop {
                let c = next.fetch_add(1, Ordering::SeqCst);
                if c >= chunks {
                    break;
                }
                done[c].fetch_add(1, Ordering::SeqCst);
            });
            assert!(done.iter().all(|d| d.load(Ordering::SeqCst) == 1));
            // interleave with fixed jobs: a stale helper must not enter them either
            let ran: Vec<AtomicUsize> = (0..2).map(|_| AtomicUsize::new(0)).collect();
            Pool::global().run(2, Join::Every, &|i| {
                ran[i].fetch_add(1, Ordering::SeqCst);
            });
            assert!(ran.iter().all(|r| r.load(Ordering::SeqCst) == 1));
        }
    }
}

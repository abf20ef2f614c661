//! A persistent worker pool: workers spin briefly after each job (a 64x64 matmul is a few
//! microseconds, far less than waking a sleeping thread; 5 ms keeps a worker hot between
//! back-to-back calls of a few milliseconds), then sleep on a condition variable.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

const SPIN: Duration = Duration::from_millis(5);

type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    gen: AtomicU64,
    /// The job of the current generation (a fat pointer stored as two words).
    job: Mutex<Option<(usize, usize)>>,
    width: AtomicUsize,
    remaining: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    shutdown: AtomicBool,
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<usize>,
    dispatch: Mutex<()>,
}

impl Pool {
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool {
            shared: Arc::new(Shared {
                gen: AtomicU64::new(0),
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
        })
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

    /// Run `f(0..n)` with `f(0)` on the calling thread; returns when all have finished.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
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
        // referent outlives the job (we wait for `remaining == 0` before returning).
        let words: (usize, usize) = unsafe { std::mem::transmute(fat) };
        *s.job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(words);
        s.width.store(n, Ordering::SeqCst);
        s.remaining.store(n - 1, Ordering::SeqCst);
        s.gen.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _l = s
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.cv.notify_all();
        }
        f(0);
        while s.remaining.load(Ordering::Acquire) > 0 {
            std::hint::spin_loop();
        }
    }
}

fn worker(s: &Shared, id: usize, mut seen: u64) {
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while s.gen.load(Ordering::SeqCst) == seen {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(256) && start.elapsed() > SPIN {
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
        }
        if s.shutdown.load(Ordering::SeqCst) {
            return;
        }
        seen = s.gen.load(Ordering::SeqCst);
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
            Pool::global().run(n, &|i| {
                hits[i].fetch_add(1, Ordering::SeqCst);
            });
        }
        let total: usize = hits.iter().map(|h| h.load(Ordering::SeqCst)).sum();
        assert_eq!(total, (0..200).map(|r| 1 + r % 5).sum::<usize>());
    }
}

//! A caller and a pool worker on one core: the scheduler puts a woken worker on its waker's core
//! until the load balancer moves it, and a caller that waits for such a worker must give it the
//! core. Here both are pinned to one CPU and the worker gives up the core while inside each job;
//! a caller that only spins then waits out time slices before the worker can leave (a median of
//! 8 ms per job on the 2-core CI VMs), one that yields waits for its spins (50 us each side) and
//! the worker's few microseconds (a median of 112 us there).
//!
//! The observable is time, read as a median over jobs against a bound far from both. This file
//! holds one test, so its binary runs it alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tgrad_core::runtime::pool::{Join, Pool};

/// Pin the calling thread to the first CPU it may run on; threads it starts inherit that.
fn pin_to_one_cpu() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; both calls read or write only `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set),
            0
        );
        let first = (0..libc::CPU_SETSIZE as usize)
            .find(|&c| libc::CPU_ISSET(c, &set))
            .expect("a thread may run on some CPU");
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(first, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set),
            0
        );
    }
}

#[test]
fn a_caller_waiting_on_a_worker_that_shares_its_core_lets_it_run() {
    pin_to_one_cpu();
    let pool = Pool::new(); // its worker starts on the first job, pinned like this thread
    let mut times = Vec::new();
    for _ in 0..41 {
        let entered = AtomicBool::new(false);
        let start = Instant::now();
        pool.run(2, Join::Helpers, &|i| {
            if i == 0 {
                // the caller's share: hand the core over until the worker is inside the job
                while !entered.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            } else {
                entered.store(true, Ordering::SeqCst);
                // off the core while inside: the caller's wait for it to leave begins
                std::thread::yield_now();
            }
        });
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    assert!(
        median < Duration::from_millis(1),
        "a job whose worker shares the caller's core takes {median:?} (median of {}): the \
         caller's wait does not let the worker run",
        times.len()
    );
}

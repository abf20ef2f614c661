//! TGRAD_ADAPT_THREADS: a launch whose threads claim chunks may run on the caller alone
//! (`runtime::cpu::helpers`). Alone or with workers, it is the same kernel claiming the same
//! chunks, so the output is bitwise the same; launches whose threads meet at barriers always run
//! with all of them. Its own test binary: the flag and the counter of solo launches are per
//! process, and tests in one binary run concurrently.

mod common;

use common::{random, run_tuned, tensor_f32};
use tgrad_core::flags::Flag;
use tgrad_core::runtime::cpu::solo_launches;
use tgrad_core::tensor;

/// Launches per mode (TGRAD_ADAPT_THREADS=1 tries both ways within a few; which it keeps depends
/// on the machine's timing, which this test does not assert: `helpers`' own tests do, with times
/// given).
const LAUNCHES: u64 = 100;

/// 64^3 split into two claimed chunks of M on two threads (`Parallel::Chunks`), in place.
const CHUNKS: &str = "8 6 16 64 36 64 2 2 1 1 0";
/// Claimed blocks of C over B packed once (`Parallel::Shared`), two threads.
const SHARED: &str = "8 6 16 32 12 64 2 4 1 0 2";
/// Every thread in every block, meeting at barriers (`Parallel::Barrier`, `Join::Every`).
const BARRIER: &str = "8 6 16 32 12 64 2 1 1 0 1";

fn product(m: usize, k: usize, n: usize) -> tgrad_core::graph::LazyRef {
    let a = tensor_f32(&random(m * k), &[m, k]);
    let b = tensor_f32(&random(k * n), &[k, n]);
    tensor::dot(&a, &b).unwrap()
}

/// The output of `tuning` under each TGRAD_ADAPT_THREADS value, and the solo launches each made.
fn under_each_mode(tuning: &str, launches: u64) -> Vec<(i64, Vec<Vec<f32>>, u64)> {
    let c = product(64, 64, 64);
    let before = Flag::AdaptThreads.get();
    let out = [0, 2, 1]
        .into_iter()
        .map(|mode| {
            Flag::AdaptThreads.set(mode).unwrap();
            let solo = solo_launches();
            let outputs = (0..launches).map(|_| run_tuned(&c, tuning)).collect();
            (mode, outputs, solo_launches() - solo)
        })
        .collect();
    Flag::AdaptThreads.set(before).unwrap();
    out
}

#[test]
fn a_claimed_launch_alone_or_with_workers_gives_the_same_bits_and_barriers_never_go_alone() {
    tgrad_core::rng::manual_seed(5);
    for tuning in [CHUNKS, SHARED] {
        let runs = under_each_mode(tuning, LAUNCHES);
        let want = runs[0].1[0].iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (mode, outputs, solo) in &runs {
            for out in outputs {
                let bits: Vec<u32> = out.iter().map(|x| x.to_bits()).collect();
                assert!(
                    bits == want,
                    "{tuning}: ADAPT_THREADS={mode} changed the output"
                );
            }
            match mode {
                0 => assert_eq!(*solo, 0, "{tuning}: ADAPT_THREADS=0 ran alone"),
                2 => assert_eq!(
                    *solo, LAUNCHES,
                    "{tuning}: ADAPT_THREADS=2 woke the workers"
                ),
                _ => {}
            }
        }
    }
    for (mode, _, solo) in under_each_mode(BARRIER, 5) {
        assert_eq!(
            solo, 0,
            "a barrier launch ran alone under ADAPT_THREADS={mode}"
        );
    }
}

//! Where the time of a small `(a @ b).realize()` goes, without Python: graph building (`dot`),
//! scheduling, and planning plus launch, each timed by difference in alternating loops; the same
//! realize replayed by the schedule cache (TGRAD_SCACHE=1, the default); the launch checks
//! alone, and a launch alone (checks, the pool and the kernel: the floor).
//!
//! cargo run --release --example hot_path -- [N] [ITERS]   (N x N @ N x N, default 64)

use std::time::Instant;

use tgrad_core::flags::Flag;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::{engine, tensor, DType};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("N ITERS"))
        .collect();
    let n = args.first().copied().unwrap_or(64);
    let iters = args.get(1).copied().unwrap_or(20_000);
    let mk =
        || tensor::from_buffer(Buffer::new(DType::F32, n * n, true).unwrap(), vec![n, n]).unwrap();
    let (a, b) = (mk(), mk());
    let phases: [(&str, &dyn Fn()); 4] = [
        ("dot", &|| {
            std::hint::black_box(tensor::dot(&a, &b).unwrap());
        }),
        ("dot+schedule", &|| {
            let c = tensor::dot(&a, &b).unwrap();
            std::hint::black_box(schedule(&[c]).unwrap());
        }),
        ("dot+realize", &|| {
            Flag::Scache.set(0).unwrap();
            let c = tensor::dot(&a, &b).unwrap();
            engine::realize(&[c]).unwrap();
        }),
        ("dot+realize (cached graph)", &|| {
            Flag::Scache.set(1).unwrap();
            let c = tensor::dot(&a, &b).unwrap();
            engine::realize(&[c]).unwrap();
        }),
    ];
    // the launch checks alone, on a launch of the same product
    let sched = schedule(&[tensor::dot(&a, &b).unwrap()]).unwrap();
    let item = &sched.items[0];
    let cpu = engine::cpu();
    let launch = cpu
        .launch_for(&cpu.plan(&item.kernel).unwrap(), item)
        .unwrap();
    let check = || {
        launch
            .check
            .check(&launch.name, &launch.params, &launch.bufs, &launch.dims)
            .unwrap();
    };
    let run = || engine::launch_quiet(&launch).unwrap();
    let mut best = [f64::MAX; 6];
    for _round in 0..15 {
        let t0 = Instant::now();
        for _ in 0..iters / 10 {
            check();
        }
        best[4] = best[4].min(t0.elapsed().as_secs_f64() * 1e6 / (iters / 10) as f64);
        let t0 = Instant::now();
        for _ in 0..iters / 10 {
            run();
        }
        best[5] = best[5].min(t0.elapsed().as_secs_f64() * 1e6 / (iters / 10) as f64);
        for (i, (_, f)) in phases.iter().enumerate() {
            let t0 = Instant::now();
            for _ in 0..iters / 10 {
                f();
            }
            let us = t0.elapsed().as_secs_f64() * 1e6 / (iters / 10) as f64;
            best[i] = best[i].min(us);
        }
    }
    println!("{n}x{n} @ {n}x{n}, min over 15 rounds:");
    println!("  dot (graph)         {:7.3} us", best[0]);
    println!("  schedule            {:7.3} us", best[1] - best[0]);
    println!("  plan lookup+launch  {:7.3} us", best[2] - best[1]);
    println!("  total               {:7.3} us", best[2]);
    println!(
        "  total, graph replayed by the schedule cache {:7.3} us",
        best[3]
    );
    println!(
        "  of which the replay (key, lookup, bind)     {:7.3} us",
        best[3] - best[0] - best[5]
    );
    println!("  of which launch checks {:7.3} us", best[4]);
    println!(
        "  of which the launch    {:7.3} us (checks, pool, kernel)",
        best[5]
    );
}

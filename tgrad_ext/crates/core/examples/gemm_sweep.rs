//! Compare GEMM tunings side by side in one process, alternating them round after round, so
//! machine noise hits every candidate alike (absolute times on shared machines drift 15-30%).
//!
//! cargo run --release --example gemm_sweep -- M N K ROUNDS "vw mr nr kc mc nc threads mch nch" ...
//! With no tunings it compares the heuristic with the candidates of every BEAM stage.
//! BATCH=64 in the environment makes it a batched GEMM (64 x M x K @ 64 x K x N); BT=1 stores B
//! as N x K and multiplies by its transpose.
//! Alternating launches never keep packed B between launches (`Scratch::derived_from`): REPEAT=1
//! runs each launch once untimed right before its timed run, as a loop over one op does, and a
//! tuning written "F:..." packs B afresh on every launch even then.

use std::time::Instant;

use tgrad_core::abi::LaunchDims;
use tgrad_core::codegen::{self, search, GemmSchedule, Strategy, Tuning};
use tgrad_core::graph::LazyRef;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::target::Target;
use tgrad_core::{engine, rng, tensor, DType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dims: Vec<usize> = args
        .iter()
        .take(4)
        .map(|s| s.parse().expect("M N K ROUNDS"))
        .collect();
    let (m, n, k, rounds) = (dims[0], dims[1], dims[2], dims[3]);
    let batch = batch();
    let (a, b) = operands(batch, m, n, k);
    let c = tensor::dot(&a, &b).unwrap();
    let sched = schedule(std::slice::from_ref(&c)).unwrap();
    let item = &sched.items[0];
    let engine = engine::cpu();
    let target = engine.target();
    let Target::Cpu(cpu) = &target else {
        unreachable!("the CPU engine")
    };
    let base = engine.plan(&item.kernel).unwrap();
    let Strategy::Gemm(g) = &base.strategy else {
        panic!("not a GEMM")
    };
    let GemmSchedule::Cpu(heuristic) = &g.schedule else {
        unreachable!("a CPU plan")
    };
    let mut tunings: Vec<Tuning> = args
        .iter()
        .skip(4)
        .map(|s| Tuning::parse(s.trim_start_matches("F:")).expect("a tuning"))
        .collect();
    let fresh: Vec<bool> = args.iter().skip(4).map(|s| s.starts_with("F:")).collect();
    let repeat = std::env::var("REPEAT").is_ok_and(|v| v == "1");
    if tunings.is_empty() {
        tunings.push(heuristic.tuning);
        for stage in 0..search::STAGES {
            tunings.extend(search::stage_candidates(
                stage,
                &heuristic.tuning,
                cpu.isa,
                cpu.threads,
            ));
        }
        tunings.dedup();
    }
    let launches: Vec<_> = tunings
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = codegen::plan_tuned(&item.kernel, &target, Some(t)).unwrap();
            let mut l = engine.launch_for(&p, item).unwrap();
            if let (true, LaunchDims::Cpu { scratch, .. }) =
                (fresh.get(i).copied().unwrap_or(false), &mut l.dims)
            {
                scratch.derived_from = None;
            }
            l
        })
        .collect();
    let mut times = vec![Vec::new(); launches.len()];
    for _ in 0..rounds {
        for (i, l) in launches.iter().enumerate() {
            if repeat {
                engine::launch_quiet(l).unwrap();
            }
            let t0 = Instant::now();
            engine::launch_quiet(l).unwrap();
            times[i].push(t0.elapsed().as_secs_f64());
        }
    }
    report(
        &tunings,
        &fresh,
        &mut times,
        2.0 * (batch * m * n * k) as f64,
    );
}

/// Each tuning's min and median time and median GFLOPS, one line each.
fn report(tunings: &[Tuning], fresh: &[bool], times: &mut [Vec<f64>], flops: f64) {
    for (i, (t, ts)) in tunings.iter().zip(times.iter_mut()).enumerate() {
        ts.sort_by(f64::total_cmp);
        let med = ts[ts.len() / 2];
        let prefix = if fresh.get(i).copied().unwrap_or(false) {
            "F:"
        } else {
            ""
        };
        println!(
            "{:34} min {:9.1} us  med {:9.1} us  {:6.1} GFLOPS (med)",
            format!("{prefix}{}", t.encode()),
            ts[0] * 1e6,
            med * 1e6,
            flops / med / 1e9
        );
    }
}

/// A (M x K) and B (K x N) filled with uniform values, each with a leading batch dimension when
/// `batch` > 1; BT=1 in the environment stores B as N x K and reads it through its transpose (a
/// weight used as x @ w.T).
fn operands(batch: usize, m: usize, n: usize, k: usize) -> (LazyRef, LazyRef) {
    let fill = |count: usize| {
        let mut b = Buffer::new(DType::F32, count, false).unwrap();
        for (x, r) in b
            .as_mut_slice::<f32>()
            .unwrap()
            .iter_mut()
            .zip(rng::uniform(count))
        {
            *x = r as f32;
        }
        b
    };
    let dims = |x: usize, y: usize| {
        if batch > 1 {
            vec![batch, x, y]
        } else {
            vec![x, y]
        }
    };
    let a = tensor::from_buffer(fill(batch * m * k), dims(m, k)).unwrap();
    let b = if std::env::var("BT").is_ok_and(|v| v == "1") {
        let bt = tensor::from_buffer(fill(batch * k * n), dims(n, k)).unwrap();
        tensor::transpose(&bt, -2, -1).unwrap()
    } else {
        tensor::from_buffer(fill(batch * k * n), dims(k, n)).unwrap()
    };
    (a, b)
}

/// BATCH in the environment (1 when unset).
fn batch() -> usize {
    std::env::var("BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

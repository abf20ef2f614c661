//! The checked build (TGRAD_VERIFY=2): kernels compiled with AddressSanitizer, every workspace an
//! allocation of exactly the bytes its plan asks for, swept over all small shapes (M, N, K in
//! 1..=7, a batch, transposed operands) for tiles and paths across the template (packing x
//! parallel mode, tiles of 1 and 3 rows, in-place reads, the vector path) and the loop kernels.
//! Run in a child process that has the compiler's ASan runtime loaded (LD_PRELOAD), so a bad
//! access aborts it with a report; the parent checks the child finished and counts its runs.

use std::process::Command;

mod common;

use tgrad_core::codegen::cpu_gemm::{Packing, Parallel};
use tgrad_core::codegen::{self, Tuning};
use tgrad_core::graph::ReduceOp;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::runtime::cpu::Compiler;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{CpuTarget, Target, VectorIsa};
use tgrad_core::{engine, tensor, DType};

const CHILD: &str = "TGRAD_ASAN_SWEEP_CHILD";

/// The ASan runtime of the compiler kernels are built with.
fn asan_runtime() -> Option<String> {
    let rt = Compiler::c().ok()?.asan_runtime();
    std::path::Path::new(&rt).is_absolute().then_some(rt)
}

fn tunings() -> Vec<Tuning> {
    let t = |vw, mr, nv, kc, packing, split| common::tuning(vw, (mr, nv), kc, packing, split);
    let mut v = vec![];
    for packing in Packing::ALL {
        for split in [
            (1, 1, 1, Parallel::Chunks),
            (2, 2, 1, Parallel::Chunks),
            (2, 1, 1, Parallel::Barrier),
            (2, 3, 1, Parallel::Shared),
        ] {
            v.push(t(4, 3, 2, 3, packing, split));
        }
        v.push(t(4, 1, 1, 2, packing, (2, 1, 2, Parallel::Chunks)));
    }
    v.push(t(8, 4, 1, 9, Packing::Both, (1, 1, 1, Parallel::Chunks)));
    v
}

fn values(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 + salt * 3) % 5) as f32 - 2.0)
        .collect()
}

fn buffer(v: &[f32]) -> Buffer {
    Buffer::from_bytes(
        DType::F32,
        &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// One GEMM (batch 2 when `batched`, A or B transposed) run with `t`, checked exactly.
fn gemm(
    target: &Target,
    t: &Tuning,
    (m, k, n): (usize, usize, usize),
    batched: bool,
    trans: bool,
) -> usize {
    let b = if batched { 2 } else { 1 };
    let (av, bv) = (values(b * m * k, 1), values(b * k * n, 2));
    let shape = |r, c| if batched { vec![2, r, c] } else { vec![r, c] };
    let an = tensor::from_buffer(buffer(&av), shape(m, k)).unwrap();
    let bn = if trans {
        // B stored as n x k, viewed back as k x n
        let mut bt = vec![0f32; b * k * n];
        for z in 0..b {
            for l in 0..k {
                for j in 0..n {
                    bt[z * k * n + j * k + l] = bv[z * k * n + l * n + j];
                }
            }
        }
        tensor::transpose(
            &tensor::from_buffer(buffer(&bt), shape(n, k)).unwrap(),
            -1,
            -2,
        )
        .unwrap()
    } else {
        tensor::from_buffer(buffer(&bv), shape(k, n)).unwrap()
    };
    let root = tensor::dot(&an, &bn).unwrap();
    let s = schedule(std::slice::from_ref(&root)).unwrap();
    let item = &s.items[0];
    let Ok(p) = codegen::plan_tuned(&item.kernel, target, Some(t)) else {
        return 0;
    };
    engine::launch_quiet(&engine::cpu().launch_for(&p, item).unwrap()).unwrap();
    let got = item.bufs[0].to_vec().unwrap();
    for z in 0..b {
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k)
                    .map(|l| av[z * m * k + i * k + l] * bv[z * k * n + l * n + j])
                    .sum();
                let o = (z * m * n + i * n + j) * 4;
                let g = f32::from_le_bytes(got[o..o + 4].try_into().unwrap());
                // small integers: every order of the sum is exact
                assert!(
                    (g - want).abs() < f32::MIN_POSITIVE,
                    "{} at {m}x{k}x{n} batch {b}: C[{z},{i},{j}] is {g}, want {want}",
                    t.encode()
                );
            }
        }
    }
    1
}

fn sweep() -> usize {
    let target = Target::Cpu(CpuTarget::new(VectorIsa::Sse2, 2));
    let avx2 = Target::Cpu(CpuTarget::new(VectorIsa::Avx2Fma, 2));
    let mut runs = 0;
    for t in tunings() {
        let tgt = if t.opts.vw == 8 { &avx2 } else { &target };
        if t.opts.vw == 8 && !VectorIsa::Avx2Fma.runs_here() {
            continue;
        }
        for m in 1..=7 {
            for k in 1..=7 {
                for n in 1..=7 {
                    runs += gemm(tgt, &t, (m, k, n), false, false);
                }
            }
        }
        runs += gemm(tgt, &t, (5, 6, 7), true, false) + gemm(tgt, &t, (7, 5, 6), false, true);
    }
    // loop kernels: sums over every axis of small rank-3 views
    for shape in [[1, 2, 3], [3, 1, 2], [2, 3, 4], [5, 1, 1]] {
        for axis in 0..3 {
            let x = tensor::from_buffer(buffer(&values(shape.iter().product(), 3)), shape.to_vec())
                .unwrap();
            let y = tensor::reduce(
                ReduceOp::Sum,
                &tensor::permute(&x, &[2, 0, 1]).unwrap(),
                &[axis],
                false,
            )
            .unwrap();
            tgrad_core::engine::realize(std::slice::from_ref(&y)).unwrap();
            runs += 1;
        }
    }
    runs
}

#[test]
fn asan_sweep_over_small_shapes() {
    if std::env::var(CHILD).is_ok() {
        assert_eq!(
            tgrad_core::flags::Flag::Verify.get(),
            2,
            "the child runs the checked build"
        );
        println!("checked runs: {}", sweep());
        return;
    }
    let Some(rt) = asan_runtime() else {
        panic!("no AddressSanitizer runtime for the kernels' C compiler (clang: libclang_rt.asan; gcc: libasan)");
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "asan_sweep_over_small_shapes",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("TGRAD_VERIFY", "2")
        .env("TGRAD_CACHE", "off")
        .env("LD_PRELOAD", &rt)
        .env("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the checked child failed:\n{stdout}\n{}",
        &stderr[stderr.len().saturating_sub(6000)..]
    );
    let runs: usize = stdout
        .lines()
        .find_map(|l| l.split_once("checked runs: ").map(|(_, n)| n))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(runs > 5000, "{runs} checked runs\n{stdout}");
}

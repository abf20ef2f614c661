//! What the emulator must catch. Rendered kernels broken on purpose (a barrier removed,
//! ldmatrix `.trans` swapped, fragment registers reordered, a tile read past its operand) must
//! fail: by a difference between schedule orders, a result outside the reference's bound, an
//! error from the PTX binding check, or AddressSanitizer. Small hand-written kernels must be
//! reported with thread ids and call sites: divergent barriers, warp collectives that not every
//! lane reaches or with mismatched arguments, deadlocks, misaligned vector copies, ldmatrix
//! outside shared memory, and launches past the device's or the kernel's limits.

#![allow(clippy::float_cmp)] // exact results are what these tests check

mod emu_support;

use emu_support::{Gemm, ORDERS};
use tgrad_core::runtime::emu::{
    asan_runtime, BuildOptions, Dialect, EmuProgram, Limits, Order, RunOptions,
};
use tgrad_core::{DType, Error, Result};

fn run(order: Order) -> RunOptions {
    RunOptions {
        order,
        ..RunOptions::default()
    }
}

/// Replaces the `nth` (0-based) occurrence of `what` in `src` with `with`.
fn replace_nth(src: &str, what: &str, nth: usize, with: &str) -> String {
    let (at, _) = src
        .match_indices(what)
        .nth(nth)
        .unwrap_or_else(|| panic!("no occurrence {nth} of '{what}'"));
    format!("{}{with}{}", &src[..at], &src[at + what.len()..])
}

/// The edited GEMM gives results that differ between schedule orders or lie outside the bound.
fn caught_by_orders(g: &Gemm, d: Dialect, edit: &dyn Fn(String) -> String, what: &str) {
    let runs: Vec<(Vec<f64>, bool)> = ORDERS
        .iter()
        .map(|&o| {
            g.run_edited(d, &run(o), BuildOptions::default(), edit)
                .unwrap_or_else(|e| panic!("{what}: {e}"))
        })
        .collect();
    let bits = |v: &Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(
        bits(&runs[0].0) != bits(&runs[1].0),
        "{what} on {d:?}: forward and reverse orders agree"
    );
    assert!(
        runs.iter().any(|r| !r.1),
        "{what} on {d:?}: every order within the bound"
    );
}

#[test]
fn a_removed_barrier_shows_up_as_an_order_difference() {
    let g32 = Gemm::new(DType::F32, 129, 127, 130);
    let g16 = Gemm::new(DType::F16, 129, 127, 130);
    // CUDA: barrier 0 follows the first tile's staging, barrier 1 ends each k step
    for g in [g32, g16] {
        for nth in [0, 1] {
            let edit = move |s: String| replace_nth(&s, "__syncthreads();", nth, ";");
            caught_by_orders(
                &g,
                Dialect::Cuda,
                &edit,
                &format!("__syncthreads #{nth} removed"),
            );
        }
        for nth in [0, 1] {
            let edit = move |s: String| {
                replace_nth(
                    &s,
                    "threadgroup_barrier(mem_flags::mem_threadgroup);",
                    nth,
                    ";",
                )
            };
            caught_by_orders(
                &g,
                Dialect::Metal,
                &edit,
                &format!("threadgroup_barrier #{nth} removed"),
            );
        }
    }
}

#[test]
fn the_unedited_kernels_pass_the_same_checks() {
    for dt in [DType::F32, DType::F16] {
        for d in [Dialect::Cuda, Dialect::Metal] {
            let (got, ok) = Gemm::new(dt, 129, 127, 130)
                .run_edited(d, &run(Order::Reverse), BuildOptions::default(), &|s| s)
                .unwrap();
            assert!(ok && !got.is_empty(), "{dt:?} on {d:?}");
        }
    }
}

/// The tensor-core GEMM with a k-major and a row-major operand (both ldmatrix flavours).
fn mma_case() -> Gemm {
    Gemm {
        tb: true,
        ..Gemm::new(DType::F16, 64, 64, 64)
    }
}

fn wrong_result(edit: &dyn Fn(String) -> String, what: &str) {
    for g in [mma_case(), Gemm::new(DType::F16, 64, 64, 64)] {
        let (_, ok) = g
            .run_edited(
                Dialect::Cuda,
                &run(Order::Forward),
                BuildOptions::default(),
                edit,
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!ok, "{what}: the result of {g:?} is still within the bound");
    }
}

#[test]
fn ldmatrix_trans_swapped_at_the_call_sites() {
    let swap = |s: String| {
        let mut s = s;
        for arg in ["(a[i], ", "(q, "] {
            s = s
                .replace(&format!("tg_ldsm_x4_t{arg}"), "TMP")
                .replace(&format!("tg_ldsm_x4{arg}"), &format!("tg_ldsm_x4_t{arg}"))
                .replace("TMP", &format!("tg_ldsm_x4{arg}"));
        }
        s
    };
    wrong_result(&swap, "ldmatrix .trans swapped");
}

#[test]
fn fragment_registers_reordered_in_the_kernel() {
    let b_regs = |s: String| {
        s.replace(
            "b[2 * j][1] = q[1]; b[2 * j + 1][0] = q[2];",
            "b[2 * j][1] = q[2]; b[2 * j + 1][0] = q[1];",
        )
    };
    wrong_result(&b_regs, "B fragment registers reordered");
    // lanes 8-15 and 16-23 trade row addresses: A registers a1 and a2 trade places
    let a_regs = |s: String| {
        s.replace(
            "SMEM_KMAJ(r + lane % 16, ks + (lane / 16) * 8)",
            "SMEM_KMAJ(r + lane % 8 + (lane / 16) * 8, ks + ((lane / 8) % 2) * 8)",
        )
    };
    wrong_result(&a_regs, "A fragment registers a1, a2 swapped");
}

/// The PTX helpers of the tensor-core kernel, edited: the build must refuse them.
fn refused(edit: &dyn Fn(String) -> String, helper: &str) {
    let err = mma_case()
        .run_edited(
            Dialect::Cuda,
            &run(Order::Forward),
            BuildOptions::default(),
            edit,
        )
        .expect_err("the build must refuse edited PTX");
    let msg = err.to_string();
    assert!(msg.contains(helper), "{helper}: {msg}");
}

#[test]
fn edited_ptx_helpers_are_refused() {
    // .trans moved from one ldmatrix helper to the other
    refused(
        &|s| {
            s.replace("m8n8.x4.trans.shared", "TMP")
                .replace("m8n8.x4.shared", "m8n8.x4.trans.shared")
                .replace("TMP", "m8n8.x4.shared")
        },
        "tg_ldsm_x4",
    );
    // destination registers in another order
    refused(
        &|s| {
            s.replacen(
                "\"=r\"(r[0]), \"=r\"(r[1])",
                "\"=r\"(r[1]), \"=r\"(r[0])",
                1,
            )
        },
        "tg_ldsm_x4",
    );
    // A fragment registers of the mma in another order, and one register fewer
    refused(
        &|s| s.replace("\"r\"(a[1]), \"r\"(a[2])", "\"r\"(a[2]), \"r\"(a[1])"),
        "tg_mma",
    );
    refused(&|s| s.replace("{%4, %5, %6, %7}", "{%4, %5, %6}"), "tg_mma");
    // the conversion without its rounding mode
    refused(&|s| s.replace("cvt.rn.f16.f32", "cvt.rz.f16.f32"), "tg_f2h");
    // inline PTX the emulator would compile as host assembly
    let err = mma_case()
        .run_edited(
            Dialect::Cuda,
            &run(Order::Forward),
            BuildOptions::default(),
            &|s| s.replacen("#ifndef TGRAD_EMU", "#if 1", 1),
        )
        .expect_err("unguarded PTX must be refused");
    assert!(
        err.to_string().contains("outside `#ifndef TGRAD_EMU`"),
        "{err}"
    );
}

fn cuda(src: &str) -> EmuProgram {
    EmuProgram::build(src, Dialect::Cuda, &BuildOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Launches a hand-written `k(const long long* p, float* out)` over `block` threads.
fn launch(
    p: &EmuProgram,
    grid: [u32; 3],
    block: [u32; 3],
    shared: u32,
    opts: &RunOptions,
) -> Result<Vec<f32>> {
    let params = [0i64; 4];
    let mut out = vec![0f32; 4096];
    let args = [params.as_ptr() as u64, out.as_mut_ptr() as u64];
    // SAFETY: the kernels below index `out` below 4096 and read `params` below 4.
    unsafe { p.launch(grid, block, shared, &args, opts)? };
    Ok(out)
}

fn runtime_error(p: &EmuProgram, block: u32, shared: u32) -> String {
    match launch(p, [1, 1, 1], [block, 1, 1], shared, &RunOptions::default()) {
        Err(Error::Runtime(m)) => m,
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[test]
fn divergent_barriers_name_threads_and_sites() {
    let partial = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         if (threadIdx.x < 32) __syncthreads();\n\
         out[threadIdx.x] = 1.0f;\n}\n",
    );
    let m = runtime_error(&partial, 64, 0);
    assert!(m.contains("not every thread of the block reaches"), "{m}");
    assert!(
        m.contains("threads 0-31 wait at __syncthreads() (kernel.cu:2)"),
        "{m}"
    );
    assert!(m.contains("threads 32-63 exited"), "{m}");
    let two_sites = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         if (threadIdx.x < 16)\n  __syncthreads();\nelse\n  __syncthreads();\n\
         out[threadIdx.x] = 1.0f;\n}\n",
    );
    let m = runtime_error(&two_sites, 64, 0);
    assert!(m.contains("divergent barrier"), "{m}");
    assert!(
        m.contains("threads 0-15 wait at __syncthreads() (kernel.cu:3)"),
        "{m}"
    );
    assert!(
        m.contains("threads 16-63 wait at __syncthreads() (kernel.cu:5)"),
        "{m}"
    );
    // the same kernel with every thread on one side passes
    assert!(launch(&two_sites, [1, 1, 1], [16, 1, 1], 0, &RunOptions::default()).is_ok());
}

#[test]
fn warp_collectives_need_every_lane_and_uniform_arguments() {
    let half_warp = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         float v = threadIdx.x;\n\
         if (threadIdx.x < 16) v = __shfl_down_sync(0xffffffffu, v, 1);\n\
         out[threadIdx.x] = v;\n}\n",
    );
    let m = runtime_error(&half_warp, 32, 0);
    assert!(
        m.contains("warp 0: a warp collective that exited lanes never reach"),
        "{m}"
    );
    assert!(
        m.contains("threads 0-15 wait at __shfl_down_sync (kernel.cu:3)"),
        "{m}"
    );
    let mask = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         out[threadIdx.x] = __shfl_down_sync(0xffffu, 1.0f, 1);\n}\n",
    );
    assert!(
        runtime_error(&mask, 32, 0).contains("mask 0x0000ffff does not name exactly the 32 lanes")
    );
    let delta = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, threadIdx.x % 2 + 1);\n}\n",
    );
    assert!(runtime_error(&delta, 32, 0).contains("disagree on delta or width"));
    let shuffled = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (float)threadIdx.x, 3);\n}\n",
    );
    let got = launch(&shuffled, [1, 1, 1], [32, 1, 1], 0, &RunOptions::default()).unwrap();
    let want: Vec<f32> = (0..32)
        .map(|l| if l + 3 < 32 { l + 3 } else { l } as f32)
        .collect();
    assert_eq!(
        &got[..32],
        &want[..],
        "__shfl_down_sync keeps the value past the warp's end"
    );
}

#[test]
fn a_deadlock_names_what_every_thread_waits_at() {
    let p = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         float v = 0.0f;\n\
         if (threadIdx.x == 0) __syncthreads();\n\
         else v = __shfl_down_sync(0xffffffffu, v, 1);\n\
         out[threadIdx.x] = v;\n}\n",
    );
    let m = runtime_error(&p, 32, 0);
    assert!(m.contains("deadlock"), "{m}");
    assert!(
        m.contains("threads 0 wait at __syncthreads() (kernel.cu:3)"),
        "{m}"
    );
    assert!(
        m.contains("threads 1-31 wait at __shfl_down_sync (kernel.cu:4)"),
        "{m}"
    );
}

#[test]
fn misaligned_vector_copies_are_reported() {
    let p = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         const float4 v = *(const float4*)(out + 4 * threadIdx.x + OFF);\n\
         out[1024 + threadIdx.x] = v.x;\n}\n"
            .replace("OFF", "1")
            .as_str(),
    );
    let m = runtime_error(&p, 32, 0);
    assert!(
        m.contains("misaligned 16-byte vector access through a float4 pointer"),
        "{m}"
    );
    let aligned = cuda(
        "extern \"C\" __global__ void k(const long long* p, float* out) {\n\
         const float4 v = *(const float4*)(out + 4 * threadIdx.x);\n\
         out[1024 + threadIdx.x] = v.x;\n}\n",
    );
    assert!(launch(&aligned, [1, 1, 1], [32, 1, 1], 0, &RunOptions::default()).is_ok());
}

#[test]
fn ldmatrix_stays_inside_shared_memory_and_aligned() {
    let k = |off: &str| {
        cuda(&format!(
            "extern \"C\" __global__ void k(const long long* p, float* out) {{\n\
             extern __shared__ __align__(16) unsigned char sm[];\n\
             unsigned r[4];\n\
             tg_ldsm_x4(r, sm + 16 * threadIdx.x + {off});\n\
             out[threadIdx.x] = (float)r[0];\n}}\n"
        ))
    };
    assert!(launch(&k("0"), [1, 1, 1], [32, 1, 1], 512, &RunOptions::default()).is_ok());
    let m = runtime_error(&k("16"), 32, 512);
    assert!(
        m.contains(
            "lane 31 of warp 0 reads 16 bytes at shared offset 512, outside the block's 512 bytes"
        ),
        "{m}"
    );
    let m = runtime_error(&k("8"), 32, 1024);
    assert!(m.contains("not 16-byte aligned"), "{m}");
}

#[test]
fn launch_limits() {
    let p = cuda(
        "extern \"C\" __global__ void __launch_bounds__(256) k(const long long* p, float* out) {\n\
         extern __shared__ float sm[];\n out[0] = 0.0f;\n}\n",
    );
    let bad = |grid: [u32; 3], block: [u32; 3], shared: u32, lim: Option<Limits>| {
        let opts = RunOptions {
            limits: lim,
            ..RunOptions::default()
        };
        match launch(&p, grid, block, shared, &opts) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected a refused launch, got {other:?}"),
        }
    };
    assert!(
        bad([1, 1, 1], [512, 1, 1], 0, None).contains("exceed the kernel's launch bound of 256")
    );
    assert!(bad([1, 1, 1], [32, 64, 1], 0, None).contains("exceed the device's 1024"));
    assert!(bad([1, 1, 1], [1, 1, 65], 0, None).contains("exceeds the block limit"));
    assert!(bad([1, 70000, 1], [32, 1, 1], 0, None).contains("exceeds the grid limit"));
    assert!(bad([0, 1, 1], [32, 1, 1], 0, None).contains("zero dimension"));
    assert!(bad([1, 1, 1], [32, 1, 1], 228 * 1024, None).contains("exceed the device's 232448"));
    let no_opt_in = Some(Limits::CUDA_DEFAULT_SHARED);
    assert!(
        bad([1, 1, 1], [32, 1, 1], 48 * 1024 + 16, no_opt_in).contains("exceed the device's 49152")
    );
    assert!(launch(
        &p,
        [1, 1, 1],
        [256, 1, 1],
        100 * 1024,
        &RunOptions::default()
    )
    .is_ok());
    let metal = EmuProgram::build(
        "#include <metal_stdlib>\nusing namespace metal;\n\
         kernel void k(device float* out [[buffer(1)]], uint t [[thread_index_in_threadgroup]]) {\n\
         threadgroup float big[8192];\n threadgroup half more[2048];\n big[t] = 1.0f; more[t] = half(0);\n\
         threadgroup_barrier(mem_flags::mem_threadgroup);\n out[t] = big[t];\n}\n",
        Dialect::Metal,
        &BuildOptions::default(),
    )
    .unwrap();
    assert_eq!(metal.static_shared_bytes(), 8192 * 4 + 2048 * 2);
    let mut out = vec![0f32; 64];
    let args = [0, out.as_mut_ptr() as u64];
    // SAFETY: 64 threads write out[0..64]; slot 0 is unused by the kernel.
    let m = unsafe { metal.launch([1, 1, 1], [64, 1, 1], 0, &args, &RunOptions::default()) }
        .expect_err("36 KiB of threadgroup memory exceed Metal's 32 KiB")
        .to_string();
    assert!(m.contains("exceed the device's 32768"), "{m}");
    let small = RunOptions {
        limits: Some(Limits {
            max_shared_bytes: 64 * 1024,
            ..Limits::METAL
        }),
        ..RunOptions::default()
    };
    // SAFETY: as above.
    unsafe { metal.launch([1, 1, 1], [64, 1, 1], 0, &args, &small) }.unwrap();
    assert!(out.iter().all(|&x| x == 1.0));
}

/// Runs in a child process with ASan's runtime preloaded (see `an_out_of_bounds_tile_...`).
#[test]
#[ignore = "runs inside an_out_of_bounds_tile_is_caught_by_asan, under LD_PRELOAD"]
fn asan_child() {
    let asan = BuildOptions { asan: true };
    let g = Gemm::new(DType::F32, 129, 127, 65);
    // the tile fetch reads one row past the operands (no vector path: stride 127)
    let past = |s: String| s.replace("(rj < R && kj < K)", "(rj <= R && kj < K)");
    let (_, ok) = g
        .run_edited(Dialect::Cuda, &run(Order::Forward), asan, &|s| s)
        .unwrap();
    assert!(ok, "the unedited kernel is correct under ASan");
    let err = g
        .run_edited(Dialect::Cuda, &run(Order::Forward), asan, &past)
        .expect_err("ASan reports the read past the operand");
    let msg = err.to_string();
    assert!(
        msg.contains("AddressSanitizer") && msg.contains("heap-buffer-overflow"),
        "{msg}"
    );
    println!("ASAN-CHILD-OK");
}

#[test]
fn an_out_of_bounds_tile_is_caught_by_asan() {
    let g = Gemm::new(DType::F32, 129, 127, 65);
    let past = |s: String| s.replace("(rj < R && kj < K)", "(rj <= R && kj < K)");
    // without ASan the extra reads land in rows and columns no output keeps: unseen
    let (_, ok) = g
        .run_edited(
            Dialect::Cuda,
            &run(Order::Forward),
            BuildOptions::default(),
            &past,
        )
        .unwrap();
    assert!(ok, "the edit changes no stored result");
    let err = g
        .run_edited(
            Dialect::Cuda,
            &run(Order::Forward),
            BuildOptions { asan: true },
            &|s| s,
        )
        .expect_err("an ASan build needs the runtime preloaded");
    assert!(err.to_string().contains("LD_PRELOAD="), "{err}");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "asan_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LD_PRELOAD", asan_runtime().unwrap())
        .env("ASAN_OPTIONS", "detect_leaks=0:halt_on_error=0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ASAN-CHILD-OK"),
        "{text}"
    );
}

//! The emulator's parts, each against an independent statement of what it must do: half
//! conversions (bit-exact, ties to even), the ldmatrix and mma.m16n8k16 per-lane layouts of the
//! PTX ISA written out register by register, Metal's simdgroup matrices, the schedule orders,
//! results independent of the OS thread count, and the binding of the renderer's inline PTX to
//! the emulated helpers.

#![allow(clippy::float_cmp)] // exact results are what these tests check

mod emu_support;

use emu_support::{input, realize_with, Gemm};
use tgrad_core::runtime::emu::{ptx, BuildOptions, Dialect, EmuProgram, Order, RunOptions};
use tgrad_core::{dtype, tensor, DType};

fn build(src: &str, d: Dialect) -> EmuProgram {
    EmuProgram::build(src, d, &BuildOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn run_with(p: &EmuProgram, grid: u32, block: u32, shared: u32, args: &[u64], order: Order) {
    let opts = RunOptions {
        order,
        ..RunOptions::default()
    };
    // SAFETY: each test passes buffers as large as its kernel indexes.
    unsafe { p.launch([grid, 1, 1], [block, 1, 1], shared, args, &opts) }
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Inputs for float -> half: every half value, the midpoints to its neighbours (exact in
/// f32) and one f32 ulp either side of them, special values, and seeded random bit patterns.
fn conversion_inputs() -> Vec<f32> {
    let mut v = vec![];
    for h in 0u16..=0xffff {
        let x = dtype::f16_bits_to_f32(h);
        if !x.is_finite() {
            continue;
        }
        v.push(x);
        let next = dtype::f16_bits_to_f32(h.wrapping_add(1));
        if next.is_finite() && (h & 0x7fff) != 0x7bff {
            let mid = f32::midpoint(x, next);
            v.extend([
                mid,
                f32::from_bits(mid.to_bits() + 1),
                f32::from_bits(mid.to_bits() - 1),
            ]);
        }
    }
    v.extend([
        65504.0,
        65519.99,
        65520.0,
        1e9,
        f32::INFINITY,
        -f32::INFINITY,
        f32::NAN,
        -f32::NAN,
    ]);
    v.extend([
        f32::MIN_POSITIVE,
        1e-30,
        2.9802322e-8,
        2.9802326e-8,
        5.9604645e-8,
    ]);
    let mut s = 0x1234_5678_9abc_def0u64;
    for _ in 0..100_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.push(f32::from_bits(s as u32));
    }
    v
}

fn check_conversions(d: Dialect, src: &str) {
    let p = build(src, d);
    let fin = conversion_inputs();
    let hin: Vec<u16> = (0u16..=0xffff).collect();
    let n = fin.len().max(hin.len());
    let params = [n as i64, fin.len() as i64, hin.len() as i64];
    let mut hout = vec![0u16; n];
    let mut fout = vec![0f32; n];
    let args = [
        params.as_ptr() as u64,
        hout.as_mut_ptr() as u64,
        fin.as_ptr() as u64,
        fout.as_mut_ptr() as u64,
        hin.as_ptr() as u64,
    ];
    run_with(&p, 64, 256, 0, &args, Order::Forward);
    for (i, &x) in fin.iter().enumerate() {
        let got = hout[i];
        if x.is_nan() {
            assert_eq!(
                got,
                0x7fff,
                "{d:?}: NaN {:#x} becomes the canonical NaN",
                x.to_bits()
            );
            continue;
        }
        assert_eq!(
            got,
            dtype::f32_to_f16_bits(x),
            "{d:?}: float {x:e} ({:#010x})",
            x.to_bits()
        );
        // a tie between two halves goes to the one with an even significand
        let (lo, hi) = (
            dtype::f16_bits_to_f32(got & !1),
            dtype::f16_bits_to_f32(got | 1),
        );
        if x.abs() == f32::midpoint(lo.abs(), hi.abs()) {
            assert_eq!(got & 1, 0, "{d:?}: tie {x:e} rounds to even");
        }
    }
    for (i, &h) in hin.iter().enumerate() {
        let want = dtype::f16_bits_to_f32(h);
        if want.is_nan() {
            // NaN payloads are not part of the contract
            assert!(fout[i].is_nan(), "{d:?}: half NaN {h:#06x}");
        } else {
            assert_eq!(fout[i].to_bits(), want.to_bits(), "{d:?}: half {h:#06x}");
        }
    }
}

#[test]
fn half_conversions_are_bit_exact() {
    check_conversions(
        Dialect::Cuda,
        "extern \"C\" __global__ void k(const long long* p, unsigned short* ho, const float* fi, float* fo, const unsigned short* hi) {\n\
         for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < p[0]; i += gridDim.x * blockDim.x) {\n\
           if (i < p[1]) ho[i] = tg_f2h(fi[i]);\n\
           if (i < p[2]) fo[i] = tg_h2f(hi[i]);\n\
         }\n}\n",
    );
    check_conversions(
        Dialect::Metal,
        "#include <metal_stdlib>\nusing namespace metal;\n\
         kernel void k(constant long* p [[buffer(0)]], device half* ho [[buffer(1)]], const device float* fi [[buffer(2)]],\n\
                       device float* fo [[buffer(3)]], const device half* hi [[buffer(4)]],\n\
                       uint gid [[thread_position_in_grid]], uint gsz [[threads_per_grid]]) {\n\
         for (long i = gid; i < p[0]; i += gsz) {\n\
           if (i < p[1]) ho[i] = half(fi[i]);\n\
           if (i < p[2]) fo[i] = float(hi[i]);\n\
         }\n}\n",
    );
}

/// A 16x16 matrix of distinct 16-bit values, row-major: A[r][c] = 0x100 * r + c.
fn a16() -> Vec<u16> {
    (0..256u16).map(|i| ((i / 16) << 8) | (i % 16)).collect()
}

#[test]
fn ldmatrix_gives_each_lane_the_ptx_fragments() {
    let p = build(
        "extern \"C\" __global__ void k(const long long* p, unsigned* out, const unsigned short* A) {\n\
         extern __shared__ __align__(16) unsigned short sm[];\n\
         const int lane = threadIdx.x;\n\
         for (int i = lane; i < 256; i += 32) sm[i] = A[i];\n\
         __syncthreads();\n\
         unsigned r[4], t[4];\n\
         tg_ldsm_x4(r, &sm[(lane % 16) * 16 + (lane / 16) * 8]);\n\
         tg_ldsm_x4_t(t, &sm[(lane % 16) * 16 + (lane / 16) * 8]);\n\
         for (int j = 0; j < 4; j++) { out[lane * 8 + j] = r[j]; out[lane * 8 + 4 + j] = t[j]; }\n}\n",
        Dialect::Cuda,
    );
    let a = a16();
    let mut out = vec![0u32; 256];
    let args = [0, out.as_mut_ptr() as u64, a.as_ptr() as u64];
    run_with(&p, 1, 32, 512, &args, Order::Reverse);
    let at = |r: usize, c: usize| u32::from(a[r * 16 + c]);
    for lane in 0..32 {
        let (g, t) = (lane / 4, lane % 4);
        // lanes 8j..8j+7 address matrix j: rows 0-7 / 8-15 (j odd), columns 0-7 / 8-15 (j >= 2)
        for j in 0..4 {
            let (r0, c0) = (8 * (j % 2), 8 * (j / 2));
            let plain = at(r0 + g, c0 + 2 * t) | (at(r0 + g, c0 + 2 * t + 1) << 16);
            let trans = at(r0 + 2 * t, c0 + g) | (at(r0 + 2 * t + 1, c0 + g) << 16);
            assert_eq!(out[lane * 8 + j], plain, "lane {lane} register {j}");
            assert_eq!(
                out[lane * 8 + 4 + j],
                trans,
                "lane {lane} register {j} (.trans)"
            );
        }
    }
}

#[test]
fn mma_m16n8k16_reads_and_writes_the_ptx_fragments() {
    // A: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);
    // B (k x n): b0 (2t..2t+1, g), b1 (2t+8..2t+9, g); C/D: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)
    let p = build(
        "extern \"C\" __global__ void k(const long long* p, float* D, const float* A, const float* B, const float* C) {\n\
         const int l = threadIdx.x, g = l / 4, t = l % 4;\n\
         #define H2(x, y) ((unsigned)tg_f2h(x) | ((unsigned)tg_f2h(y) << 16))\n\
         unsigned a[4], b[2];\n\
         a[0] = H2(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]);\n\
         a[1] = H2(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]);\n\
         a[2] = H2(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]);\n\
         a[3] = H2(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9]);\n\
         b[0] = H2(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g]);\n\
         b[1] = H2(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g]);\n\
         float d[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};\n\
         tg_mma(d, a, b);\n\
         D[g * 8 + 2 * t] = d[0]; D[g * 8 + 2 * t + 1] = d[1];\n\
         D[(g + 8) * 8 + 2 * t] = d[2]; D[(g + 8) * 8 + 2 * t + 1] = d[3];\n}\n",
        Dialect::Cuda,
    );
    // small integers: every product and sum is exact
    let a: Vec<f32> = (0..256).map(|i| ((i * 7 + 3) % 11) as f32 - 5.0).collect();
    let b: Vec<f32> = (0..128).map(|i| ((i * 5 + 1) % 9) as f32 - 4.0).collect();
    let c: Vec<f32> = (0..128).map(|i| (i % 13) as f32 * 100.0).collect();
    let mut d = vec![0f32; 128];
    let args = [
        0,
        d.as_mut_ptr() as u64,
        a.as_ptr() as u64,
        b.as_ptr() as u64,
        c.as_ptr() as u64,
    ];
    run_with(&p, 1, 32, 0, &args, Order::Random(7));
    for i in 0..16 {
        for j in 0..8 {
            let want = c[i * 8 + j] + (0..16).map(|k| a[i * 16 + k] * b[k * 8 + j]).sum::<f32>();
            assert_eq!(d[i * 8 + j], want, "D[{i}][{j}]");
        }
    }
}

#[test]
fn simdgroup_matrices() {
    let p = build(
        "#include <metal_stdlib>\nusing namespace metal;\n\
         kernel void k(device float* out [[buffer(0)]], const device float* in [[buffer(1)]], uint l [[thread_index_in_simdgroup]]) {\n\
         threadgroup float t[64];\n\
         for (uint i = l; i < 64; i += 32) t[i] = in[i];\n\
         threadgroup_barrier(mem_flags::mem_threadgroup);\n\
         simdgroup_float8x8 a, two = simdgroup_float8x8(2.0f), d;\n\
         simdgroup_load(a, t, 8);\n\
         simdgroup_multiply_accumulate(d, a, two, a);\n\
         simdgroup_store(d, out, 8);\n\
         simdgroup_store(two, out + 64, 8);\n\
         simdgroup_load(a, t, 8, ulong2(0, 0), true);\n\
         simdgroup_store(a, out + 128, 8);\n}\n",
        Dialect::Metal,
    );
    let input: Vec<f32> = (0..64).map(|i| i as f32).collect();
    let mut out = vec![0f32; 192];
    let args = [out.as_mut_ptr() as u64, input.as_ptr() as u64];
    run_with(&p, 1, 32, 0, &args, Order::Forward);
    for r in 0..8 {
        for c in 0..8 {
            let x = input[r * 8 + c];
            assert_eq!(out[r * 8 + c], 3.0 * x, "a * 2I + a at ({r},{c})");
            assert_eq!(
                out[64 + r * 8 + c],
                if r == c { 2.0 } else { 0.0 },
                "the scalar constructor makes a diagonal"
            );
            assert_eq!(
                out[128 + r * 8 + c],
                input[c * 8 + r],
                "transposed load at ({r},{c})"
            );
        }
    }
    let skew = build(
        "#include <metal_stdlib>\nusing namespace metal;\n\
         kernel void k(device float* out [[buffer(0)]], const device float* in [[buffer(1)]], uint l [[thread_index_in_simdgroup]]) {\n\
         simdgroup_float8x8 a;\n simdgroup_load(a, in + l % 2, 8);\n simdgroup_store(a, out, 8);\n}\n",
        Dialect::Metal,
    );
    // SAFETY: reads in[0..65], writes out[0..64] (never reached: the load is refused).
    let err = unsafe { skew.launch([1, 1, 1], [32, 1, 1], 0, &args, &RunOptions::default()) }
        .expect_err("lanes with different pointers");
    assert!(
        err.to_string()
            .contains("lanes 0 and 1 of simdgroup 0 disagree on pointer"),
        "{err}"
    );
}

#[test]
fn schedule_orders() {
    // each thread appends its index to a log, twice around a barrier
    let p = build(
        "extern \"C\" __global__ void k(const long long* p, int* log) {\n\
         int n = log[0]; log[0] = n + 1; log[1 + n] = threadIdx.x;\n\
         __syncthreads();\n\
         n = log[0]; log[0] = n + 1; log[1 + n] = 100 + threadIdx.x;\n}\n",
        Dialect::Cuda,
    );
    let trace = |order| {
        let mut log = vec![0i32; 129];
        run_with(&p, 1, 64, 0, &[0, log.as_mut_ptr() as u64], order);
        assert_eq!(log[0], 128);
        log[1..].to_vec()
    };
    let up: Vec<i32> = (0..64).chain(100..164).collect();
    let down: Vec<i32> = (0..64).rev().chain((100..164).rev()).collect();
    assert_eq!(trace(Order::Forward), up);
    assert_eq!(trace(Order::Reverse), down);
    let r = trace(Order::Random(1));
    assert_eq!(r, trace(Order::Random(1)), "a seed gives one order");
    assert_ne!(r, trace(Order::Random(2)));
    assert!(r != up && r != down);
    let mut first: Vec<i32> = r[..64].to_vec();
    first.sort_unstable();
    assert_eq!(
        first,
        (0..64).collect::<Vec<_>>(),
        "every thread once before the barrier"
    );
}

#[test]
fn results_do_not_depend_on_the_os_threads() {
    let g = Gemm {
        batch: 3,
        ..Gemm::new(DType::F32, 200, 33, 260)
    };
    let (make, _, _) = g.setup();
    let outs: Vec<Vec<u8>> = [1, 2, 5]
        .iter()
        .map(|&threads| {
            let y = make();
            let run = RunOptions {
                threads,
                ..RunOptions::default()
            };
            realize_with(
                std::slice::from_ref(&y),
                Dialect::Cuda,
                &run,
                BuildOptions::default(),
                &|s| s,
            )
            .unwrap();
            emu_support::bytes(&y)
        })
        .collect();
    assert!(outs[0] == outs[1] && outs[1] == outs[2]);
}

#[test]
fn the_renderers_ptx_is_what_the_emulator_implements() {
    let (a, _) = input(DType::F16, &[64, 64]);
    let p = emu_support::plan(&[tensor::dot(&a, &a).unwrap()], Dialect::Cuda);
    let src = emu_support::render(&p[0], Dialect::Cuda);
    let checked = ptx::check_helpers(&src).unwrap();
    let names: Vec<&str> = ptx::EMULATED.iter().map(|e| e.helper).collect();
    assert_eq!(
        checked, names,
        "every emulated helper's PTX is checked, once"
    );
    let stmts = ptx::asm_statements(&src).unwrap();
    let mma = stmts.iter().find(|s| s.helper == "tg_mma").unwrap();
    assert_eq!(
        mma.operands.len(),
        10,
        "4 accumulators (read-write), 4 A and 2 B registers"
    );
    assert_eq!(mma.operands[0], ("+f".to_string(), "d[0]".to_string()));
    assert_eq!(mma.operands[9], ("r".to_string(), "b[1]".to_string()));
    let ldsm_t = stmts.iter().find(|s| s.helper == "tg_ldsm_x4_t").unwrap();
    assert!(ldsm_t.template.contains(".trans"));
    // the float GEMM carries only the conversions
    let (f, _) = input(DType::F32, &[8, 8]);
    let p32 = emu_support::plan(&[tensor::dot(&f, &f).unwrap()], Dialect::Cuda);
    let checked = ptx::check_helpers(&emu_support::render(&p32[0], Dialect::Cuda)).unwrap();
    assert_eq!(checked, ["tg_h2f", "tg_f2h"]);
}

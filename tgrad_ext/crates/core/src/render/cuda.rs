//! CUDA C for NVIDIA GPUs, compiled at run time by NVRTC (no `#include`: NVRTC ships no standard
//! headers, so half conversion and tensor-core MMA are inline PTX).
//!
//! Generic loop programs map the output (non-reduce) ranges onto a grid-stride loop over the
//! flattened output index; a reduction gives each output one warp, whose lanes stride over the
//! flattened reduce index and combine with `__shfl_down_sync`. GEMM plans become a tiled kernel:
//! a 128x128 block tile staged through double-buffered shared memory, operands read through
//! their run-time strides (16-byte vector loads where a run-time check allows them), batch over
//! `blockIdx.z`, and the plan's epilogue applied in registers before the store. Half inputs with
//! float accumulation use `mma.sync.m16n8k16` tensor-core instructions fed by `ldmatrix`; every
//! other dtype uses an 8x8-per-thread register tile on the CUDA cores.
//!
//! Launch geometry is data (`CudaLaunch`), computed from the program and its parameters.

use std::fmt::Write as _;

use super::c::{load_cvt, render_expr};
use super::{alu, operand, val as v, Renderer, ENTRY};
use crate::codegen::gemm::{GemmPlan, MAX_BATCH, OPERAND_PARAMS, P_BATCH, P_OPERANDS};
use crate::codegen::uops::{RangeKind, UOp, Val};
use crate::codegen::{Program, Strategy};
use crate::dtype::DType;
use crate::graph::ReduceOp;
use crate::kernel::ExprOp;

pub struct CudaRenderer;

/// How to launch a rendered CUDA program: grid and block dimensions and the dynamic shared
/// memory in bytes (what `cuLaunchKernel` takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaLaunch {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: u32,
}

/// The tile shape a GEMM program is rendered with (compile-time constants of the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmTile {
    /// Half inputs, float accumulation: `mma.sync` on tensor cores.
    pub tensor_cores: bool,
    pub bm: u32,
    pub bn: u32,
    pub bk: u32,
    pub threads: u32,
    /// Dynamic shared memory: two stages of an A and a B tile.
    pub shared_bytes: u32,
}

/// Threads per block of loop programs without a reduction.
const LOOP_THREADS: u32 = 256;
/// Outputs (warps) per block of loop programs with a reduction.
const REDUCE_WARPS: u32 = 8;
/// Cap on blocks along x: the kernels are grid-stride loops, so more blocks add nothing.
const MAX_BLOCKS: u64 = 1 << 16;

/// CUDA type names (never `<stdint.h>` names: NVRTC has no standard headers).
fn ctype(d: DType) -> &'static str {
    match d {
        DType::F16 => "unsigned short",
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I32 => "int",
    }
}

/// The type a dtype computes in (half in float).
fn cctype(d: DType) -> &'static str {
    ctype(d.compute())
}

fn store_cvt(d: DType, x: &str) -> String {
    match d {
        DType::F16 => format!("tg_f2h({x})"),
        _ => format!("({})({x})", ctype(d)),
    }
}

const PRELUDE: &str = r#"/* rendered by tgrad for NVRTC: no headers */
typedef int int32_t;
#define __builtin_inff() __int_as_float(0x7f800000)
#define __builtin_nanf(s) __int_as_float(0x7fffffff)
#define __builtin_inf() __longlong_as_double(0x7ff0000000000000LL)
#define __builtin_nan(s) __longlong_as_double(0x7fffffffffffffffLL)
static __device__ __forceinline__ float tg_h2f(unsigned short h) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f;
}
static __device__ __forceinline__ unsigned short tg_f2h(float f) {
  unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;
}
static __device__ __forceinline__ float tg_hround(float x) { return tg_h2f(tg_f2h(x)); }
"#;

impl Renderer for CudaRenderer {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn render(&self, p: &Program) -> String {
        let mut s = String::from(PRELUDE);
        let _ = writeln!(s, "/* {} : {} */", p.name, p.signature.replace("*/", "* /"));
        match &p.strategy {
            Strategy::Loops(uops) => render_loops(&mut s, uops, &p.kernel.buf_dtypes),
            Strategy::Gemm(g) => render_gemm(&mut s, g, &p.kernel.buf_dtypes),
        }
        s
    }
}

impl CudaRenderer {
    /// The launch geometry of a program for the parameters it was planned with.
    pub fn launch(p: &Program) -> CudaLaunch {
        match &p.strategy {
            Strategy::Gemm(g) => {
                let t = gemm_tile(g);
                CudaLaunch {
                    grid: [
                        (g.n as u64).div_ceil(u64::from(t.bn)).max(1) as u32,
                        (g.m as u64).div_ceil(u64::from(t.bm)).max(1) as u32,
                        (p.params[P_BATCH].max(1) as u32).min(65535),
                    ],
                    block: [t.threads, 1, 1],
                    shared_bytes: t.shared_bytes,
                }
            }
            Strategy::Loops(uops) => {
                let outs: u64 = p
                    .kernel
                    .full_shape
                    .iter()
                    .enumerate()
                    .filter(|(d, _)| !p.kernel.reduce_axes.contains(d))
                    .map(|(_, &s)| s as u64)
                    .product();
                let reduces = uops.iter().any(|u| {
                    matches!(
                        u,
                        UOp::Range {
                            kind: RangeKind::Reduce,
                            ..
                        }
                    )
                });
                let (block, per_block) = if reduces {
                    ([32, REDUCE_WARPS, 1], u64::from(REDUCE_WARPS))
                } else {
                    ([LOOP_THREADS, 1, 1], u64::from(LOOP_THREADS))
                };
                CudaLaunch {
                    grid: [outs.div_ceil(per_block).clamp(1, MAX_BLOCKS) as u32, 1, 1],
                    block,
                    shared_bytes: 0,
                }
            }
        }
    }
}

/// The tile a GEMM plan is rendered with.
pub fn gemm_tile(g: &GemmPlan) -> GemmTile {
    if tensor_cores(g) {
        // two stages x (A, B) x max(128 x (32+8), 32 x (128+8)) halves
        return GemmTile {
            tensor_cores: true,
            bm: 128,
            bn: 128,
            bk: 32,
            threads: 256,
            shared_bytes: 2 * 2 * 5120 * 2,
        };
    }
    let e = g.acc.itemsize() as u32;
    let bk = if e == 8 { 8 } else { 16 };
    GemmTile {
        tensor_cores: false,
        bm: 128,
        bn: 128,
        bk,
        threads: 256,
        shared_bytes: 2 * 2 * bk * (128 + 4) * e,
    }
}

fn tensor_cores(g: &GemmPlan) -> bool {
    g.a.1 == DType::F16 && g.b.1 == DType::F16 && g.acc == DType::F32
}

fn signature_params(bufs: &[DType]) -> String {
    let mut s = String::from("const long long* __restrict__ p");
    for (i, d) in bufs.iter().enumerate() {
        let q = if i == 0 { "" } else { "const " };
        let _ = write!(s, ", {q}{}* __restrict__ b{i}", ctype(*d));
    }
    s
}

fn render_loops(s: &mut String, uops: &[UOp], bufs: &[DType]) {
    let outer: Vec<usize> = uops
        .iter()
        .filter_map(|u| match u {
            UOp::Range { dim, kind } if *kind != RangeKind::Reduce => Some(*dim),
            _ => None,
        })
        .collect();
    let reduce: Vec<usize> = uops
        .iter()
        .filter_map(|u| match u {
            UOp::Range {
                dim,
                kind: RangeKind::Reduce,
            } => Some(*dim),
            _ => None,
        })
        .collect();
    let rank = outer.len() + reduce.len();
    // a reduction over at least one dim gets a warp per output (none when every reduced dim
    // had size 1 and was simplified away)
    let has_acc = !reduce.is_empty();
    let threads = if has_acc {
        32 * REDUCE_WARPS
    } else {
        LOOP_THREADS
    };
    let _ = writeln!(
        s,
        "extern \"C\" __global__ void __launch_bounds__({threads}) {ENTRY}({}) {{",
        signature_params(bufs)
    );
    for d in 0..rank {
        let _ = writeln!(s, "  const long long n{d} = p[{d}];");
    }
    let prod = |dims: &[usize]| {
        if dims.is_empty() {
            "1LL".to_string()
        } else {
            dims.iter()
                .map(|d| format!("n{d}"))
                .collect::<Vec<_>>()
                .join(" * ")
        }
    };
    let _ = writeln!(s, "  const long long tg_outs = {};", prod(&outer));
    // unravel a flat index into dims (the last dim varies fastest)
    let unravel = |s: &mut String, pad: &str, flat: &str, dims: &[usize]| {
        let _ = writeln!(s, "{pad}long long tg_r = {flat};");
        for (j, d) in dims.iter().enumerate().rev() {
            if j == 0 {
                let _ = writeln!(s, "{pad}const long long i{d} = tg_r;");
            } else {
                let _ = writeln!(s, "{pad}const long long i{d} = tg_r % n{d}; tg_r /= n{d};");
            }
        }
        let _ = writeln!(s, "{pad}(void)tg_r;");
    };
    if has_acc {
        let _ = writeln!(s, "  const long long tg_reds = {};", prod(&reduce));
        s.push_str("  const int tg_lane = threadIdx.x;\n");
        s.push_str("  for (long long tg_o = (long long)blockIdx.x * blockDim.y + threadIdx.y; tg_o < tg_outs; tg_o += (long long)gridDim.x * blockDim.y) {\n");
    } else {
        s.push_str("  for (long long tg_o = (long long)blockIdx.x * blockDim.x + threadIdx.x; tg_o < tg_outs; tg_o += (long long)gridDim.x * blockDim.x) {\n");
    }
    {
        let mut block = String::new();
        unravel(&mut block, "    ", "tg_o", &outer);
        s.push_str(&block);
    }
    let slot = |k: usize, j: usize| rank + k * (rank + 1) + j;
    let index = |k: usize, open: &[usize]| {
        let mut e = format!("p[{}]", slot(k, 0));
        for &d in open {
            let _ = write!(e, " + i{d}*p[{}]", slot(k, 1 + d));
        }
        e
    };
    let mut open: Vec<usize> = outer.clone();
    let mut accs: Vec<(Val, ReduceOp, DType)> = vec![];
    let mut in_reduce = false;
    let mut pad = "    ".to_string();
    for u in uops {
        match u {
            UOp::Range { kind, .. } if *kind != RangeKind::Reduce => {}
            UOp::Range { dim, .. } => {
                if !in_reduce {
                    in_reduce = true;
                    let _ = writeln!(
                        s,
                        "{pad}for (long long tg_ri = tg_lane; tg_ri < tg_reds; tg_ri += 32) {{"
                    );
                    pad.push_str("  ");
                    let _ = writeln!(s, "{pad}long long tg_r = tg_ri;");
                    for (j, d) in reduce.iter().enumerate().rev() {
                        if j == 0 {
                            let _ = writeln!(s, "{pad}const long long i{d} = tg_r;");
                        } else {
                            let _ = writeln!(
                                s,
                                "{pad}const long long i{d} = tg_r % n{d}; tg_r /= n{d};"
                            );
                        }
                    }
                    let _ = writeln!(s, "{pad}(void)tg_r;");
                }
                open.push(*dim);
            }
            UOp::EndRange { dim } => {
                if reduce.contains(dim) {
                    open.retain(|d| d != dim);
                    if in_reduce && open.len() == outer.len() {
                        in_reduce = false;
                        pad.truncate(pad.len() - 2);
                        let _ = writeln!(s, "{pad}}}");
                        for (a, op, d) in &accs {
                            let t = cctype(*d);
                            let comb = match op {
                                ReduceOp::Sum => format!("{} += tg_x;", v(*a)),
                                ReduceOp::Max => format!(
                                    "{a} = (tg_x > {a} || tg_x != tg_x) ? tg_x : {a};",
                                    a = v(*a)
                                ),
                            };
                            let _ = writeln!(
                                s,
                                "{pad}for (int tg_s = 16; tg_s > 0; tg_s >>= 1) {{ const {t} tg_x = __shfl_down_sync(0xffffffffu, {}, tg_s); {comb} }}",
                                v(*a)
                            );
                        }
                        let _ = writeln!(s, "{pad}if (tg_lane == 0) {{");
                        pad.push_str("  ");
                    }
                }
            }
            UOp::Load { .. }
            | UOp::Const { .. }
            | UOp::Unary { .. }
            | UOp::Binary { .. }
            | UOp::Cast { .. } => {
                let mut load = |buf: usize, k: usize, d: DType| {
                    load_cvt(d, &format!("b{buf}[{}]", index(k, &open)))
                };
                let line = super::value_line(u, cctype, &mut load).expect("a value micro-op");
                let _ = writeln!(s, "{pad}{line}");
            }
            UOp::DefineAcc { out, op, dtype } => {
                let init = super::acc_identity(*op, *dtype);
                let _ = writeln!(s, "{pad}{} {} = {init};", cctype(*dtype), v(*out));
                accs.push((*out, *op, *dtype));
            }
            UOp::Accumulate { acc, op, src } => {
                let line = super::accumulate_line(*acc, *op, *src);
                let _ = writeln!(s, "{pad}{line}");
            }
            UOp::Store { src, dtype } => {
                // the accumulated value is rounded to the reduction's dtype when it is read
                let x = accs.iter().find(|(a, _, _)| a == src).map_or_else(
                    || v(*src),
                    |(a, _, d)| alu(ExprOp::Cast(Box::new(operand(d.compute()))), *d, &[v(*a)]),
                );
                let _ = writeln!(
                    s,
                    "{pad}b0[{}] = {};",
                    index(0, &open),
                    store_cvt(*dtype, &x)
                );
            }
        }
    }
    if has_acc {
        s.push_str("    }\n");
    }
    s.push_str("  }\n}\n");
}

/// Index of operand `o`'s parameter `j` (0 offset, 1 stride_m, 2 stride_n, 3 stride_k, 4.. batch).
fn opnd(o: usize, j: usize) -> usize {
    P_OPERANDS + o * OPERAND_PARAMS + j
}

/// The element offset of operand `o` for batch index `tg_bi[..]`.
fn batch_offset(o: usize) -> String {
    let mut e = format!("p[{}]", opnd(o, 0));
    for d in 0..MAX_BATCH {
        let _ = write!(e, " + tg_bi[{d}]*p[{}]", opnd(o, 4 + d));
    }
    e
}

/// Kernel header shared by both GEMM variants: sizes, the batch loop, operand pointers and
/// strides, epilogue pointers. Leaves the batch loop open.
fn gemm_header(s: &mut String, g: &GemmPlan, bufs: &[DType], threads: u32) {
    let (ta, tb) = (ctype(g.a.1), ctype(g.b.1));
    let _ = writeln!(
        s,
        "extern \"C\" __global__ void __launch_bounds__({threads}) {ENTRY}({}) {{",
        signature_params(bufs)
    );
    let last = MAX_BATCH - 1;
    let _ = write!(
        s,
        "  extern __shared__ __align__(16) unsigned char tg_smem[];\n\
         \x20 const long long M = p[0], N = p[1], K = p[2], NB = p[3];\n\
         \x20 const long long m0 = (long long)blockIdx.y * BM, n0 = (long long)blockIdx.x * BN;\n\
         \x20 for (long long tg_b = blockIdx.z; tg_b < NB; tg_b += gridDim.z) {{\n\
         \x20   long long tg_bi[{MAX_BATCH}];\n\
         \x20   {{ long long r = tg_b; for (int d = {last}; d >= 0; d--) {{ tg_bi[d] = r % p[4 + d]; r /= p[4 + d]; }} }}\n"
    );
    let _ = writeln!(
        s,
        "    {tc}* __restrict__ C = b0 + {}; const long long csm = p[{}], csn = p[{}];",
        batch_offset(0),
        opnd(0, 1),
        opnd(0, 2),
        tc = ctype(g.out_dtype)
    );
    let _ = writeln!(
        s,
        "    const {ta}* __restrict__ A = b{} + {}; const long long asm_ = p[{}], ask = p[{}];",
        g.a.0,
        batch_offset(1),
        opnd(1, 1),
        opnd(1, 3)
    );
    let _ = writeln!(
        s,
        "    const {tb}* __restrict__ B = b{} + {}; const long long bsn = p[{}], bsk = p[{}];",
        g.b.0,
        batch_offset(2),
        opnd(2, 2),
        opnd(2, 3)
    );
    for (i, (buf, d)) in g.epi_loads.iter().enumerate() {
        let _ = writeln!(
            s,
            "    const {t}* __restrict__ E{i} = b{buf} + {}; const long long esm{i} = p[{}], esn{i} = p[{}];",
            batch_offset(3 + i),
            opnd(3 + i, 1),
            opnd(3 + i, 2),
            t = ctype(*d)
        );
    }
}

/// The epilogue for the accumulator `x` at output (`m`, `n`) and the store into C.
fn epilogue_store(g: &GemmPlan) -> String {
    let mut next = 0;
    let e = render_expr(
        &g.epilogue,
        "x",
        &mut |i, d| load_cvt(d, &format!("E{i}[m*esm{i} + n*esn{i}]")),
        &mut next,
    );
    format!("C[m*csm + n*csn] = {};", store_cvt(g.out_dtype, &e))
}

/// Operand tile staging shared by both GEMM variants. A tile is ROWS (m or n) x BK (k) of one
/// operand. `kmaj` picks the shared layout: rows of k (k contiguous, pitch LDK) or rows of
/// m/n (pitch LDR). Each thread fetches VEC-element runs along the contiguous dimension into
/// registers (one 16-byte load when `vec`, else a bounds-checked gather through the strides),
/// and commits them to shared memory after the current tile's math.
const TILE_FNS: &str = r"
template <typename T, int ROWS, int VEC, int NT_>
struct tg_tile {
  static constexpr int ITERS = ROWS * BK / (NT_ * VEC);
  S_T r[ITERS][VEC];
  __device__ __forceinline__ void fetch(const T* __restrict__ X, long long sr, long long sk, long long r0, long long k0,
                                        long long R, long long K, bool kmaj, bool vec) {
    #pragma unroll
    for (int it = 0; it < ITERS; it++) {
      const int e = (threadIdx.x + NT_ * it) * VEC;
      const int rr = kmaj ? e / BK : e % ROWS, kk = kmaj ? e % BK : e / ROWS;
      const long long row = r0 + rr, k = k0 + kk;
      const bool full = kmaj ? (row < R && k + VEC <= K) : (k < K && row + VEC <= R);
      if (vec && full) {
        union { uint4 u; T x[VEC]; } w;  /* VEC * sizeof(T) == 16 */
        w.u = *(const uint4*)(X + row * sr + k * sk);
        #pragma unroll
        for (int j = 0; j < VEC; j++) r[it][j] = S_CVT(w.x[j]);
      } else {
        #pragma unroll
        for (int j = 0; j < VEC; j++) {
          const long long rj = kmaj ? row : row + j, kj = kmaj ? k + j : k;
          r[it][j] = (rj < R && kj < K) ? S_CVT(X[rj * sr + kj * sk]) : S_ZERO;
        }
      }
    }
  }
  __device__ __forceinline__ void commit(S_T* __restrict__ dst, bool kmaj) const {
    #pragma unroll
    for (int it = 0; it < ITERS; it++) {
      const int e = (threadIdx.x + NT_ * it) * VEC;
      const int rr = kmaj ? e / BK : e % ROWS, kk = kmaj ? e % BK : e / ROWS;
      #pragma unroll
      for (int j = 0; j < VEC; j++) {
        if (kmaj) dst[SMEM_KMAJ(rr, kk + j)] = r[it][j];
        else dst[SMEM_RMAJ(rr + j, kk)] = r[it][j];
      }
    }
  }
};
";

fn render_gemm(s: &mut String, g: &GemmPlan, bufs: &[DType]) {
    let t = gemm_tile(g);
    if t.tensor_cores {
        render_gemm_mma(s, g, bufs, &t);
    } else {
        render_gemm_simt(s, g, bufs, &t);
    }
}

/// Vector run length (elements per 16-byte load) of a storage dtype.
fn vec_len(d: DType) -> usize {
    16 / d.itemsize()
}

/// Whether operand tiles may use 16-byte loads: the contiguous dimension has unit stride, the
/// other stride keeps every run aligned, and the base pointer is 16-byte aligned.
fn vec_checks(x: &str, sr: &str, sk: &str, vl: usize) -> String {
    format!(
        "const bool kmaj_{x} = !({sr} == 1 && {sk} != 1);\n\
         \x20   const bool vec_{x} = ((unsigned long long)(const void*){X} % 16 == 0) && (kmaj_{x} ? ({sk} == 1 && {sr} % {vl} == 0) : ({sr} == 1 && {sk} % {vl} == 0));\n",
        X = x.to_uppercase()
    )
}

fn render_gemm_simt(s: &mut String, g: &GemmPlan, bufs: &[DType], t: &GemmTile) {
    let acc = cctype(g.acc);
    let zero = if g.acc == DType::F64 { "0.0" } else { "0.0f" };
    let _ = write!(
        s,
        "#define BM {bm}\n#define BN {bn}\n#define BK {bk}\n#define NT {nt}\n#define LDR (BM + 4)\n\
         typedef {acc} acc_t;\n\
         #define S_T acc_t\n#define S_ZERO (acc_t)0\n\
         #define SMEM_KMAJ(r, k) ((k) * LDR + (r))\n#define SMEM_RMAJ(r, k) ((k) * LDR + (r))\n\
         static __device__ __forceinline__ acc_t tg_cvt(unsigned short h) {{ return (acc_t)tg_h2f(h); }}\n\
         static __device__ __forceinline__ acc_t tg_cvt(float x) {{ return (acc_t)x; }}\n\
         static __device__ __forceinline__ acc_t tg_cvt(double x) {{ return (acc_t)x; }}\n\
         #define S_CVT(x) tg_cvt(x)\n",
        bm = t.bm,
        bn = t.bn,
        bk = t.bk,
        nt = t.threads,
    );
    s.push_str(TILE_FNS);
    gemm_header(s, g, bufs, t.threads);
    let (va, vb) = (vec_len(g.a.1), vec_len(g.b.1));
    let _ = write!(
        s,
        "    {}    {}",
        vec_checks("a", "asm_", "ask", va),
        vec_checks("b", "bsn", "bsk", vb)
    );
    let (vt, vn) = if g.acc == DType::F64 {
        ("double2", 2)
    } else {
        ("float4", 4)
    };
    let _ = write!(
        s,
        "    acc_t* As = (acc_t*)tg_smem;            /* [2][BK][LDR] */\n\
         \x20   acc_t* Bs = As + 2 * BK * LDR;           /* [2][BK][LDR] */\n\
         \x20   const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;\n\
         \x20   acc_t c[8][8];\n\
         \x20   #pragma unroll\n\
         \x20   for (int i = 0; i < 8; i++)\n\
         \x20     #pragma unroll\n\
         \x20     for (int j = 0; j < 8; j++) c[i][j] = {zero};\n\
         \x20   tg_tile<{ta}, BM, {va}, NT> la;\n\
         \x20   tg_tile<{tb}, BN, {vb}, NT> lb;\n\
         \x20   const long long nk = (K + BK - 1) / BK;\n\
         \x20   la.fetch(A, asm_, ask, m0, 0, M, K, kmaj_a, vec_a);\n\
         \x20   lb.fetch(B, bsn, bsk, n0, 0, N, K, kmaj_b, vec_b);\n\
         \x20   la.commit(As, kmaj_a);\n\
         \x20   lb.commit(Bs, kmaj_b);\n\
         \x20   __syncthreads();\n\
         \x20   for (long long kt = 0; kt < nk; kt++) {{\n\
         \x20     const int cur = (int)(kt & 1);\n\
         \x20     if (kt + 1 < nk) {{\n\
         \x20       la.fetch(A, asm_, ask, m0, (kt + 1) * BK, M, K, kmaj_a, vec_a);\n\
         \x20       lb.fetch(B, bsn, bsk, n0, (kt + 1) * BK, N, K, kmaj_b, vec_b);\n\
         \x20     }}\n\
         \x20     const acc_t* as = As + cur * BK * LDR;\n\
         \x20     const acc_t* bs = Bs + cur * BK * LDR;\n\
         \x20     #pragma unroll\n\
         \x20     for (int kk = 0; kk < BK; kk++) {{\n\
         \x20       acc_t a[8], b[8];\n\
         \x20       #pragma unroll\n\
         \x20       for (int q = 0; q < 4 / {vn}; q++) {{\n\
         \x20         *({vt}*)&a[q * {vn}] = *(const {vt}*)&as[kk * LDR + ty * 4 + q * {vn}];\n\
         \x20         *({vt}*)&a[4 + q * {vn}] = *(const {vt}*)&as[kk * LDR + 64 + ty * 4 + q * {vn}];\n\
         \x20         *({vt}*)&b[q * {vn}] = *(const {vt}*)&bs[kk * LDR + tx * 4 + q * {vn}];\n\
         \x20         *({vt}*)&b[4 + q * {vn}] = *(const {vt}*)&bs[kk * LDR + 64 + tx * 4 + q * {vn}];\n\
         \x20       }}\n\
         \x20       #pragma unroll\n\
         \x20       for (int i = 0; i < 8; i++)\n\
         \x20         #pragma unroll\n\
         \x20         for (int j = 0; j < 8; j++) c[i][j] += a[i] * b[j];\n\
         \x20     }}\n\
         \x20     if (kt + 1 < nk) {{\n\
         \x20       la.commit(As + (cur ^ 1) * BK * LDR, kmaj_a);\n\
         \x20       lb.commit(Bs + (cur ^ 1) * BK * LDR, kmaj_b);\n\
         \x20     }}\n\
         \x20     __syncthreads();\n\
         \x20   }}\n",
        ta = ctype(g.a.1),
        tb = ctype(g.b.1),
    );
    // epilogue and store: thread rows ty*4+i and 64+ty*4+i, columns likewise
    let _ = write!(
        s,
        "    #pragma unroll\n\
         \x20   for (int i = 0; i < 8; i++) {{\n\
         \x20     const long long m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);\n\
         \x20     if (m >= M) continue;\n\
         \x20     #pragma unroll\n\
         \x20     for (int j = 0; j < 8; j++) {{\n\
         \x20       const long long n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);\n\
         \x20       if (n >= N) continue;\n\
         \x20       const acc_t x = c[i][j];\n\
         \x20       {}\n\
         \x20     }}\n\
         \x20   }}\n\
         \x20   __syncthreads();\n\
         \x20 }}\n}}\n",
        epilogue_store(g)
    );
}

const MMA_FNS: &str = r#"
static __device__ __forceinline__ unsigned tg_smem_addr(const void* p) {
  unsigned a; asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p)); return a;
}
static __device__ __forceinline__ void tg_ldsm_x4(unsigned* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(tg_smem_addr(p)));
}
static __device__ __forceinline__ void tg_ldsm_x4_t(unsigned* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(tg_smem_addr(p)));
}
/* D = A * B + D on tensor cores: A 16x16 row-major, B 16x8 column-major, f16 in, f32 accumulate */
static __device__ __forceinline__ void tg_mma(float* d, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
"#;

fn render_gemm_mma(s: &mut String, g: &GemmPlan, bufs: &[DType], t: &GemmTile) {
    let _ = write!(
        s,
        "#define BM {bm}\n#define BN {bn}\n#define BK {bk}\n#define NT {nt}\n\
         #define LDK (BK + 8)   /* pitch of a k-contiguous tile (rows m or n) */\n\
         #define LDR (BM + 8)   /* pitch of a row-contiguous tile (rows k) */\n\
         #define TILE 5120      /* halves per tile buffer: max(BM*LDK, BK*LDR) */\n\
         #define S_T unsigned short\n#define S_ZERO (unsigned short)0\n#define S_CVT(x) (x)\n\
         #define SMEM_KMAJ(r, k) ((r) * LDK + (k))\n#define SMEM_RMAJ(r, k) ((k) * LDR + (r))\n",
        bm = t.bm,
        bn = t.bn,
        bk = t.bk,
        nt = t.threads,
    );
    s.push_str(MMA_FNS);
    s.push_str(TILE_FNS);
    gemm_header(s, g, bufs, t.threads);
    let _ = write!(
        s,
        "    {}    {}",
        vec_checks("a", "asm_", "ask", 8),
        vec_checks("b", "bsn", "bsk", 8)
    );
    let _ = write!(
        s,
        "    unsigned short* As = (unsigned short*)tg_smem;   /* [2][TILE] */\n\
         \x20   unsigned short* Bs = As + 2 * TILE;                /* [2][TILE] */\n\
         \x20   const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;\n\
         \x20   const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;   /* 2 x 4 warps, 64 x 32 each */\n\
         \x20   float c[4][4][4];\n\
         \x20   #pragma unroll\n\
         \x20   for (int i = 0; i < 4; i++)\n\
         \x20     #pragma unroll\n\
         \x20     for (int j = 0; j < 4; j++)\n\
         \x20       #pragma unroll\n\
         \x20       for (int q = 0; q < 4; q++) c[i][j][q] = 0.0f;\n\
         \x20   tg_tile<unsigned short, BM, 8, NT> la;\n\
         \x20   tg_tile<unsigned short, BN, 8, NT> lb;\n\
         \x20   const long long nk = (K + BK - 1) / BK;\n\
         \x20   la.fetch(A, asm_, ask, m0, 0, M, K, kmaj_a, vec_a);\n\
         \x20   lb.fetch(B, bsn, bsk, n0, 0, N, K, kmaj_b, vec_b);\n\
         \x20   la.commit(As, kmaj_a);\n\
         \x20   lb.commit(Bs, kmaj_b);\n\
         \x20   __syncthreads();\n\
         \x20   for (long long kt = 0; kt < nk; kt++) {{\n\
         \x20     const int cur = (int)(kt & 1);\n\
         \x20     if (kt + 1 < nk) {{\n\
         \x20       la.fetch(A, asm_, ask, m0, (kt + 1) * BK, M, K, kmaj_a, vec_a);\n\
         \x20       lb.fetch(B, bsn, bsk, n0, (kt + 1) * BK, N, K, kmaj_b, vec_b);\n\
         \x20     }}\n\
         \x20     const unsigned short* as = As + cur * TILE;\n\
         \x20     const unsigned short* bs = Bs + cur * TILE;\n\
         \x20     #pragma unroll\n\
         \x20     for (int ks = 0; ks < BK; ks += 16) {{\n\
         \x20       unsigned a[4][4], b[4][2];\n\
         \x20       #pragma unroll\n\
         \x20       for (int i = 0; i < 4; i++) {{\n\
         \x20         const int r = wm + i * 16;\n\
         \x20         if (kmaj_a) tg_ldsm_x4(a[i], &as[SMEM_KMAJ(r + lane % 16, ks + (lane / 16) * 8)]);\n\
         \x20         else tg_ldsm_x4_t(a[i], &as[SMEM_RMAJ(r + ((lane / 8) % 2) * 8, ks + lane % 8 + (lane / 16) * 8)]);\n\
         \x20       }}\n\
         \x20       #pragma unroll\n\
         \x20       for (int j = 0; j < 2; j++) {{\n\
         \x20         const int r = wn + j * 16;\n\
         \x20         unsigned q[4];\n\
         \x20         if (kmaj_b) tg_ldsm_x4(q, &bs[SMEM_KMAJ(r + (lane / 16) * 8 + lane % 8, ks + ((lane / 8) % 2) * 8)]);\n\
         \x20         else tg_ldsm_x4_t(q, &bs[SMEM_RMAJ(r + (lane / 16) * 8, ks + lane % 8 + ((lane / 8) % 2) * 8)]);\n\
         \x20         b[2 * j][0] = q[0]; b[2 * j][1] = q[1]; b[2 * j + 1][0] = q[2]; b[2 * j + 1][1] = q[3];\n\
         \x20       }}\n\
         \x20       #pragma unroll\n\
         \x20       for (int i = 0; i < 4; i++)\n\
         \x20         #pragma unroll\n\
         \x20         for (int j = 0; j < 4; j++) tg_mma(c[i][j], a[i], b[j]);\n\
         \x20     }}\n\
         \x20     if (kt + 1 < nk) {{\n\
         \x20       la.commit(As + (cur ^ 1) * TILE, kmaj_a);\n\
         \x20       lb.commit(Bs + (cur ^ 1) * TILE, kmaj_b);\n\
         \x20     }}\n\
         \x20     __syncthreads();\n\
         \x20   }}\n"
    );
    // accumulator layout of m16n8: c0,c1 at (g, 2t), (g, 2t+1); c2,c3 at (g+8, ...)
    let _ = write!(
        s,
        "    const int gid = lane / 4, tig = lane % 4;\n\
         \x20   #pragma unroll\n\
         \x20   for (int i = 0; i < 4; i++)\n\
         \x20     #pragma unroll\n\
         \x20     for (int j = 0; j < 4; j++)\n\
         \x20       #pragma unroll\n\
         \x20       for (int q = 0; q < 4; q++) {{\n\
         \x20         const long long m = m0 + wm + i * 16 + gid + (q / 2) * 8;\n\
         \x20         const long long n = n0 + wn + j * 8 + tig * 2 + q % 2;\n\
         \x20         if (m >= M || n >= N) continue;\n\
         \x20         const float x = c[i][j][q];\n\
         \x20         {}\n\
         \x20       }}\n\
         \x20   __syncthreads();\n\
         \x20 }}\n}}\n",
        epilogue_store(g)
    );
}

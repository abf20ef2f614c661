//! Metal Shading Language for Apple GPUs, from the same programs as the CUDA renderer. It is
//! rendered and tested as text on Linux; nothing here can be compiled or run without macOS.
//!
//! Loop programs are one thread per output element (a grid-stride loop over the flattened output
//! index, reduce ranges as inner loops). GEMM plans stage A and B tiles through threadgroup
//! memory read via the run-time strides; half inputs multiply on `simdgroup_matrix` 8x8 tiles
//! (`simdgroup_half8x8` operands, `simdgroup_float8x8` accumulators), other dtypes use a plain
//! 4x4-per-thread tile. The plan's epilogue is applied before the store, as on CUDA.

use std::fmt::Write as _;

use super::c::render_expr;
use super::{alu, operand, val as v, Renderer, ENTRY};
use crate::codegen::gemm::{GemmPlan, MAX_BATCH, OPERAND_PARAMS, P_BATCH, P_OPERANDS};
use crate::codegen::uops::{RangeKind, UOp, Val};
use crate::codegen::{Program, Strategy};
use crate::dtype::DType;
use crate::kernel::ExprOp;

pub struct MetalRenderer;

/// How to dispatch a rendered Metal program: threadgroups per grid and threads per threadgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetalLaunch {
    pub threadgroups: [u32; 3],
    pub threads_per_group: [u32; 3],
}

/// GEMM tile edge (both M and N) and K step.
const TILE: u32 = 64;
const BK: u32 = 16;
const LOOP_THREADS: u32 = 256;

fn mtype(d: DType) -> &'static str {
    match d {
        DType::F16 => "half",
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I32 => "int",
    }
}

fn mctype(d: DType) -> &'static str {
    mtype(d.compute())
}

fn load_cvt(d: DType, x: &str) -> String {
    if d == DType::F16 {
        format!("float({x})")
    } else {
        x.to_string()
    }
}

fn store_cvt(d: DType, x: &str) -> String {
    format!("{}({x})", mtype(d))
}

const PRELUDE: &str = "#include <metal_stdlib>\nusing namespace metal;\n\
#define __builtin_inff() INFINITY\n#define __builtin_nanf(s) NAN\n\
static inline float tg_hround(float x) { return float(half(x)); }\n";

impl Renderer for MetalRenderer {
    fn name(&self) -> &'static str {
        "metal"
    }

    fn render(&self, p: &Program) -> String {
        let mut s = String::from(PRELUDE);
        let _ = writeln!(s, "/* {} : {} */", p.name, p.signature.replace("*/", "* /"));
        if p.kernel.buf_dtypes.contains(&DType::F64) {
            s.push_str("#error \"Metal has no double type: this program cannot run on Metal\"\n");
            return s;
        }
        match &p.strategy {
            Strategy::Loops(uops) => render_loops(&mut s, uops, &p.kernel.buf_dtypes),
            Strategy::Gemm(g) => render_gemm(&mut s, g, &p.kernel.buf_dtypes),
        }
        s
    }
}

impl MetalRenderer {
    pub fn launch(p: &Program) -> MetalLaunch {
        match &p.strategy {
            Strategy::Gemm(g) => MetalLaunch {
                threadgroups: [
                    (g.n as u32).div_ceil(TILE).max(1),
                    (g.m as u32).div_ceil(TILE).max(1),
                    p.params[P_BATCH].max(1) as u32,
                ],
                threads_per_group: [if simdgroup(g) { 128 } else { 256 }, 1, 1],
            },
            Strategy::Loops(_) => {
                let outs: u64 = p
                    .kernel
                    .full_shape
                    .iter()
                    .enumerate()
                    .filter(|(d, _)| !p.kernel.reduce_axes.contains(d))
                    .map(|(_, &s)| s as u64)
                    .product();
                MetalLaunch {
                    threadgroups: [
                        outs.div_ceil(u64::from(LOOP_THREADS)).clamp(1, 1 << 16) as u32,
                        1,
                        1,
                    ],
                    threads_per_group: [LOOP_THREADS, 1, 1],
                }
            }
        }
    }
}

fn simdgroup(g: &GemmPlan) -> bool {
    g.a.1 == DType::F16 && g.b.1 == DType::F16 && g.acc == DType::F32
}

fn signature(bufs: &[DType], extra: &str) -> String {
    let mut s = String::from("constant long* p [[buffer(0)]]");
    for (i, d) in bufs.iter().enumerate() {
        let q = if i == 0 { "" } else { "const " };
        let _ = write!(s, ", {q}device {}* b{i} [[buffer({})]]", mtype(*d), i + 1);
    }
    s.push_str(extra);
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
    let rank = uops
        .iter()
        .filter(|u| matches!(u, UOp::Range { .. }))
        .count();
    let _ = writeln!(
        s,
        "kernel void {ENTRY}({}) {{",
        signature(
            bufs,
            ", uint gid [[thread_position_in_grid]], uint gsz [[threads_per_grid]]"
        )
    );
    for d in 0..rank {
        let _ = writeln!(s, "  const long n{d} = p[{d}];");
    }
    let outs = if outer.is_empty() {
        "1".to_string()
    } else {
        outer
            .iter()
            .map(|d| format!("n{d}"))
            .collect::<Vec<_>>()
            .join(" * ")
    };
    let _ = writeln!(
        s,
        "  for (long tg_o = gid; tg_o < {outs}; tg_o += gsz) {{\n    long tg_r = tg_o;"
    );
    for (j, d) in outer.iter().enumerate().rev() {
        if j == 0 {
            let _ = writeln!(s, "    const long i{d} = tg_r;");
        } else {
            let _ = writeln!(s, "    const long i{d} = tg_r % n{d}; tg_r /= n{d};");
        }
    }
    let slot = |k: usize, j: usize| rank + k * (rank + 1) + j;
    let index = |k: usize, open: &[usize]| {
        let mut e = format!("p[{}]", slot(k, 0));
        for &d in open {
            let _ = write!(e, " + i{d}*p[{}]", slot(k, 1 + d));
        }
        e
    };
    let mut open = outer.clone();
    let mut pad = "    ".to_string();
    let mut accs: Vec<(Val, DType)> = vec![];
    for u in uops {
        match u {
            UOp::Range { kind, .. } if *kind != RangeKind::Reduce => {}
            UOp::Range { dim, .. } => {
                let _ = writeln!(
                    s,
                    "{pad}for (long i{dim} = 0; i{dim} < n{dim}; i{dim}++) {{"
                );
                pad.push_str("  ");
                open.push(*dim);
            }
            UOp::EndRange { dim } => {
                if open.len() > outer.len() && open.last() == Some(dim) {
                    open.pop();
                    pad.truncate(pad.len() - 2);
                    let _ = writeln!(s, "{pad}}}");
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
                let line = super::value_line(u, mctype, &mut load).expect("a value micro-op");
                let _ = writeln!(s, "{pad}{line}");
            }
            UOp::DefineAcc { out, op, dtype } => {
                let init = super::acc_identity(*op, *dtype);
                let _ = writeln!(s, "{pad}{} {} = {init};", mctype(*dtype), v(*out));
                accs.push((*out, *dtype));
            }
            UOp::Accumulate { acc, op, src } => {
                let line = super::accumulate_line(*acc, *op, *src);
                let _ = writeln!(s, "{pad}{line}");
            }
            UOp::Store { src, dtype } => {
                let x = accs.iter().find(|(a, _)| a == src).map_or_else(
                    || v(*src),
                    |(a, d)| alu(ExprOp::Cast(Box::new(operand(d.compute()))), *d, &[v(*a)]),
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
    s.push_str("  }\n}\n");
}

fn opnd(o: usize, j: usize) -> usize {
    P_OPERANDS + o * OPERAND_PARAMS + j
}

fn batch_offset(o: usize) -> String {
    let mut e = format!("p[{}]", opnd(o, 0));
    for d in 0..MAX_BATCH {
        let _ = write!(e, " + tg_bi[{d}]*p[{}]", opnd(o, 4 + d));
    }
    e
}

fn render_gemm(s: &mut String, g: &GemmPlan, bufs: &[DType]) {
    let sg = simdgroup(g);
    let (ta, tb, tc) = (mtype(g.a.1), mtype(g.b.1), mtype(g.out_dtype));
    let st = if sg { "half" } else { "float" };
    let _ = write!(
        s,
        "#define TILE {TILE}\n#define BK {BK}\n\
         kernel void {ENTRY}({}) {{\n\
         \x20 const long M = p[0], N = p[1], K = p[2];\n\
         \x20 const long m0 = long(tgid.y) * TILE, n0 = long(tgid.x) * TILE;\n\
         \x20 long tg_bi[{MAX_BATCH}];\n\
         \x20 {{ long r = tgid.z; for (int d = {last}; d >= 0; d--) {{ tg_bi[d] = r % p[4 + d]; r /= p[4 + d]; }} }}\n",
        signature(
            bufs,
            ", uint3 tgid [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]], \
             uint sgid [[simdgroup_index_in_threadgroup]]"
        ),
        last = MAX_BATCH - 1,
    );
    let _ = writeln!(
        s,
        "  device {tc}* C = b0 + {}; const long csm = p[{}], csn = p[{}];",
        batch_offset(0),
        opnd(0, 1),
        opnd(0, 2)
    );
    let _ = writeln!(
        s,
        "  const device {ta}* A = b{} + {}; const long asm_ = p[{}], ask = p[{}];",
        g.a.0,
        batch_offset(1),
        opnd(1, 1),
        opnd(1, 3)
    );
    let _ = writeln!(
        s,
        "  const device {tb}* B = b{} + {}; const long bsn = p[{}], bsk = p[{}];",
        g.b.0,
        batch_offset(2),
        opnd(2, 2),
        opnd(2, 3)
    );
    for (i, (buf, d)) in g.epi_loads.iter().enumerate() {
        let _ = writeln!(
            s,
            "  const device {t}* E{i} = b{buf} + {}; const long esm{i} = p[{}], esn{i} = p[{}];",
            batch_offset(3 + i),
            opnd(3 + i, 1),
            opnd(3 + i, 2),
            t = mtype(*d)
        );
    }
    let nthreads = if sg { 128 } else { 256 };
    // staging: As[TILE][BK] (m rows), Bs[BK][TILE]; out of range reads are zero
    let _ = write!(
        s,
        "  threadgroup {st} As[TILE * BK];\n\
         \x20 threadgroup {st} Bs[BK * TILE];\n"
    );
    if sg {
        s.push_str(
            "  threadgroup float Cs[TILE * TILE];\n\
             \x20 const uint sm = (sgid / 2) * 32, sn = (sgid % 2) * 32;   /* 2 x 2 simdgroups, 32 x 32 each */\n\
             \x20 simdgroup_float8x8 acc[4][4];\n\
             \x20 for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = simdgroup_float8x8(0.0f);\n",
        );
    } else {
        s.push_str(
            "  const uint tx = tid % 16, ty = tid / 16;   /* 16 x 16 threads, 4 x 4 outputs each */\n\
             \x20 float acc[4][4] = {{0.0f}};\n",
        );
    }
    let _ = write!(
        s,
        "  for (long k0 = 0; k0 < K; k0 += BK) {{\n\
         \x20   for (uint e = tid; e < TILE * BK; e += {nthreads}) {{\n\
         \x20     const long m = m0 + e / BK, ka = k0 + e % BK;\n\
         \x20     As[e] = (m < M && ka < K) ? {st}(A[m*asm_ + ka*ask]) : {st}(0);\n\
         \x20     const long kb = k0 + e / TILE, n = n0 + e % TILE;\n\
         \x20     Bs[e] = (kb < K && n < N) ? {st}(B[kb*bsk + n*bsn]) : {st}(0);\n\
         \x20   }}\n\
         \x20   threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    );
    if sg {
        s.push_str(
            "    for (uint kk = 0; kk < BK; kk += 8) {\n\
             \x20     simdgroup_half8x8 a[4], b[4];\n\
             \x20     for (int i = 0; i < 4; i++) simdgroup_load(a[i], As + (sm + i * 8) * BK + kk, BK);\n\
             \x20     for (int j = 0; j < 4; j++) simdgroup_load(b[j], Bs + kk * TILE + sn + j * 8, TILE);\n\
             \x20     for (int i = 0; i < 4; i++)\n\
             \x20       for (int j = 0; j < 4; j++) simdgroup_multiply_accumulate(acc[i][j], a[i], b[j], acc[i][j]);\n\
             \x20   }\n",
        );
    } else {
        s.push_str(
            "    for (uint kk = 0; kk < BK; kk++) {\n\
             \x20     float a[4], b[4];\n\
             \x20     for (int i = 0; i < 4; i++) a[i] = As[(ty * 4 + i) * BK + kk];\n\
             \x20     for (int j = 0; j < 4; j++) b[j] = Bs[kk * TILE + tx * 4 + j];\n\
             \x20     for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);\n\
             \x20   }\n",
        );
    }
    s.push_str("    threadgroup_barrier(mem_flags::mem_threadgroup);\n  }\n");
    let mut next = 0;
    let epi = render_expr(
        &g.epilogue,
        "x",
        &mut |i, d| load_cvt(d, &format!("E{i}[m*esm{i} + n*esn{i}]")),
        &mut next,
    );
    let store = format!("C[m*csm + n*csn] = {};", store_cvt(g.out_dtype, &epi));
    if sg {
        let _ = write!(
            s,
            "  for (int i = 0; i < 4; i++)\n\
             \x20   for (int j = 0; j < 4; j++) simdgroup_store(acc[i][j], Cs + (sm + i * 8) * TILE + sn + j * 8, TILE);\n\
             \x20 threadgroup_barrier(mem_flags::mem_threadgroup);\n\
             \x20 for (uint e = tid; e < TILE * TILE; e += 128) {{\n\
             \x20   const long m = m0 + e / TILE, n = n0 + e % TILE;\n\
             \x20   if (m >= M || n >= N) continue;\n\
             \x20   const float x = Cs[e];\n\
             \x20   {store}\n\
             \x20 }}\n}}\n"
        );
    } else {
        let _ = write!(
            s,
            "  for (int i = 0; i < 4; i++)\n\
             \x20   for (int j = 0; j < 4; j++) {{\n\
             \x20     const long m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;\n\
             \x20     if (m >= M || n >= N) continue;\n\
             \x20     const float x = acc[i][j];\n\
             \x20     {store}\n\
             \x20   }}\n}}\n"
        );
    }
}

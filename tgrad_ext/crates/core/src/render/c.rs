//! C for the CPU: generic loops from micro-ops, and a packed, register-blocked GEMM whose
//! microkernel is generated from the plan's MR x NR tile and vector width using the C vector
//! extension (`vector_size`), so no intrinsics header has to be parsed at compile time.

use std::fmt::Write as _;

use super::{Renderer, ENTRY};
use crate::codegen::gemm::{
    GemmPlan, Packing, MAX_BATCH, OPERAND_PARAMS, PREFETCH_NEXT_MAX_BYTES, P_OPERANDS, P_PACKING,
    P_PARALLEL,
};
use crate::codegen::uops::{RangeKind, UOp, Val};
use crate::codegen::{Program, Strategy};
use crate::dtype::DType;
use crate::graph::{BinaryOp, UnaryOp};
use crate::kernel::{Expr, ExprOp};

pub struct CRenderer;

/// Storage type of a dtype in memory.
pub fn storage(d: DType) -> &'static str {
    match d {
        DType::F16 => "uint16_t",
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I32 => "int32_t",
    }
}

/// The type values of a dtype are computed in (half computes in float).
pub fn compute(d: DType) -> &'static str {
    storage(d.compute())
}

/// A load converted to its compute type (half via `tg_h2f`; shared with the CUDA renderer).
pub(crate) fn load_cvt(d: DType, x: &str) -> String {
    if d == DType::F16 {
        format!("tg_h2f({x})")
    } else {
        x.to_string()
    }
}

fn store_cvt(d: DType, x: &str) -> String {
    if d == DType::F16 {
        format!("tg_f2h({x})")
    } else {
        x.to_string()
    }
}

pub fn literal(v: f64, d: DType) -> String {
    match d {
        DType::I32 => format!("{}", v as i64 as i32),
        DType::F64 => {
            if v.is_nan() {
                "__builtin_nan(\"\")".into()
            } else if v.is_infinite() {
                (if v > 0.0 {
                    "__builtin_inf()"
                } else {
                    "(-__builtin_inf())"
                })
                .into()
            } else {
                format!("{v:e}")
            }
        }
        DType::F16 | DType::F32 => {
            if v.is_nan() {
                "__builtin_nanf(\"\")".into()
            } else if v.is_infinite() {
                (if v > 0.0 {
                    "__builtin_inff()"
                } else {
                    "(-__builtin_inff())"
                })
                .into()
            } else {
                // round to the dtype first so the literal is exactly representable
                let r = if d == DType::F16 {
                    f64::from(half_round(v as f32))
                } else {
                    f64::from(v as f32)
                };
                format!("{r:e}f")
            }
        }
    }
}

/// Round a float to the nearest half-precision value (used for half constants).
pub fn half_round(x: f32) -> f32 {
    crate::dtype::f16_bits_to_f32(crate::dtype::f32_to_f16_bits(x))
}

fn unary(op: UnaryOp, x: &str) -> String {
    match op {
        UnaryOp::Neg => format!("(-{x})"),
        UnaryOp::Relu => format!("({x} > 0 ? {x} : 0)"),
    }
}

fn binary(op: BinaryOp, a: &str, b: &str, d: DType) -> String {
    match op {
        BinaryOp::Add => format!("({a} + {b})"),
        BinaryOp::Sub => format!("({a} - {b})"),
        BinaryOp::Mul => format!("({a} * {b})"),
        BinaryOp::Div if d == DType::I32 => format!("({b} == 0 ? 0 : {a} / {b})"),
        BinaryOp::Div => format!("({a} / {b})"),
        BinaryOp::Max => format!("({a} > {b} ? {a} : {b})"),
    }
}

fn cast(x: &str, from: DType, to: DType) -> String {
    match to {
        DType::F16 => format!("tg_hround((float)({x}))"),
        _ if from.compute() == to.compute() => x.to_string(),
        _ => format!("(({}){x})", compute(to)),
    }
}

/// Packing full MR-row panels of f32 A (contiguous along k) with 8-wide vectors: 8 columns of
/// the panel's rows loaded (rows past MR repeat row 0), transposed in registers, and the first
/// MR floats of each column stored. 24 shuffles and 8 stores replace MR x 8 strided scalar
/// stores. Rendered where VW is 8, MR <= 8 and A is f32. perf, 512^3 on one thread: pack_a
/// 0.148 of the microkernel's samples with scalar stores, 0.075 with this.
const PACK_A_TR8: &str = r"
static inline void tg_tr8(tg_v* x) {
  const tg_v t0 = __builtin_shufflevector(x[0], x[1], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t1 = __builtin_shufflevector(x[0], x[1], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v t2 = __builtin_shufflevector(x[2], x[3], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t3 = __builtin_shufflevector(x[2], x[3], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v t4 = __builtin_shufflevector(x[4], x[5], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t5 = __builtin_shufflevector(x[4], x[5], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v t6 = __builtin_shufflevector(x[6], x[7], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t7 = __builtin_shufflevector(x[6], x[7], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v s0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_v s2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_v s4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_v s6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
  x[0] = __builtin_shufflevector(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11);
  x[1] = __builtin_shufflevector(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11);
  x[2] = __builtin_shufflevector(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11);
  x[3] = __builtin_shufflevector(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11);
  x[4] = __builtin_shufflevector(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
  x[5] = __builtin_shufflevector(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
  x[6] = __builtin_shufflevector(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
  x[7] = __builtin_shufflevector(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
}
static void pack_a_tr8(int64_t kc, const float* restrict a, int64_t sm, float* restrict ap) {
  const float* r[8];
  for (int i = 0; i < 8; i++) r[i] = a + (i < MR ? i : 0) * sm;
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    tg_v x[8];
    for (int i = 0; i < 8; i++) x[i] = *(const tg_vu*)(r[i] + k);
    tg_tr8(x);
    /* 8-wide stores in order: each overwrites the MR..7 tail its predecessor wrote past its
       column; the panel's last column stores MR floats only (nothing past the panel) */
    for (int c = 0; c < 7; c++) *(tg_vu*)(ap + (k + c) * MR) = x[c];
    if (k + 8 < kc) *(tg_vu*)(ap + (k + 7) * MR) = x[7];
    else __builtin_memcpy(ap + (k + 7) * MR, &x[7], MR * sizeof(float));
  }
  for (; k < kc; k++) for (int i = 0; i < MR; i++) ap[k * MR + i] = a[i * sm + k];
}
";

const HALF_HELPERS: &str = r"
static inline float tg_h2f(uint16_t h) {
  uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
  if (e == 0) { float f = (float)m * 5.9604644775390625e-8f; return s ? -f : f; }
  if (e == 31) bits = s | 0x7f800000u | (m << 13);
  else bits = s | ((e + 112u) << 23) | (m << 13);
  union { uint32_t u; float f; } v = { bits }; return v.f;
}
static inline uint16_t tg_f2h(float f) {
  union { float f; uint32_t u; } v = { f }; uint32_t x = v.u;
  uint16_t s = (uint16_t)((x >> 16) & 0x8000u); uint32_t e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
  if (e == 255) return (uint16_t)(s | 0x7c00u | (m ? 0x200u : 0u));
  int32_t ne = (int32_t)e - 112;
  if (ne >= 31) return (uint16_t)(s | 0x7c00u);
  if (ne <= 0) {
    if (ne < -10) return s;
    m |= 0x800000u; uint32_t shift = (uint32_t)(14 - ne);
    uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (hm & 1u))) hm++;
    return (uint16_t)(s | hm);
  }
  uint32_t hm = m >> 13, rem = m & 0x1fffu;
  uint32_t r = (uint32_t)s | ((uint32_t)ne << 10) | hm;
  if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) r++;
  return (uint16_t)r;
}
static inline float tg_hround(float x) { return tg_h2f(tg_f2h(x)); }
";

fn prelude(uses_half: bool) -> String {
    let mut s = String::from(
        "#include <stdint.h>\n#include <stddef.h>\nstatic inline int64_t tg_min(int64_t a, int64_t b) { return a < b ? a : b; }\n",
    );
    if uses_half {
        s.push_str(HALF_HELPERS);
    }
    s
}

impl Renderer for CRenderer {
    fn name(&self) -> &'static str {
        "c"
    }

    fn render(&self, p: &Program) -> String {
        let uses_half = p.kernel.buf_dtypes.contains(&DType::F16) || p.signature.contains("half");
        let mut s = prelude(uses_half);
        let _ = writeln!(s, "/* {} : {} */", p.name, p.signature.replace("*/", "* /"));
        match &p.strategy {
            Strategy::Loops(uops) => render_loops(
                &mut s,
                uops,
                &p.kernel.buf_dtypes,
                p.kernel.full_shape.len(),
            ),
            Strategy::Gemm(g) => render_gemm(&mut s, g, &p.kernel.buf_dtypes),
        }
        s
    }
}

fn v(x: Val) -> String {
    format!("v{}", x.0)
}

fn render_loops(s: &mut String, uops: &[UOp], bufs: &[DType], rank: usize) {
    let _ = writeln!(
        s,
        "void {ENTRY}(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {{"
    );
    s.push_str("  (void)ws;\n");
    for (i, d) in bufs.iter().enumerate() {
        let q = if i == 0 { "" } else { "const " };
        let _ = writeln!(
            s,
            "  {q}{t}* restrict b{i} = ({q}{t}*)bufs[{i}];",
            t = storage(*d)
        );
    }
    for d in 0..rank {
        let _ = writeln!(s, "  const int64_t n{d} = p[{d}];");
    }
    let slot = |k: usize, j: usize| rank + k * (rank + 1) + j; // j = 0 offset, 1.. strides
    let mut open: Vec<usize> = vec![];
    let mut ind = 1usize;
    let pad = |n: usize| "  ".repeat(n);
    let index = |k: usize, open: &[usize]| {
        let mut e = format!("p[{}]", slot(k, 0));
        for &d in open {
            let _ = write!(e, " + i{d}*p[{}]", slot(k, 1 + d));
        }
        e
    };
    let mut accs: Vec<(Val, DType)> = vec![];
    for u in uops {
        match u {
            UOp::Range { dim, kind } => {
                let line = match kind {
                    RangeKind::Parallel => {
                        format!("for (int64_t i{dim} = n{dim}*tid/nth; i{dim} < n{dim}*(tid+1)/nth; i{dim}++) {{")
                    }
                    _ => format!("for (int64_t i{dim} = 0; i{dim} < n{dim}; i{dim}++) {{"),
                };
                let _ = writeln!(s, "{}{line}", pad(ind));
                open.push(*dim);
                ind += 1;
            }
            UOp::EndRange { .. } => {
                open.pop();
                ind -= 1;
                let _ = writeln!(s, "{}}}", pad(ind));
            }
            UOp::Load { .. }
            | UOp::Const { .. }
            | UOp::Unary { .. }
            | UOp::Binary { .. }
            | UOp::Cast { .. } => {
                let mut load = |buf: usize, k: usize, d: DType| {
                    load_cvt(d, &format!("b{buf}[{}]", index(k, &open)))
                };
                let line = super::value_line(u, compute, &mut load).expect("a value micro-op");
                let _ = writeln!(s, "{}{line}", pad(ind));
            }
            UOp::DefineAcc { out, op, dtype } => {
                let init = super::acc_identity(*op, *dtype);
                let _ = writeln!(s, "{}{} {} = {};", pad(ind), compute(*dtype), v(*out), init);
                accs.push((*out, *dtype));
            }
            UOp::Accumulate { acc, op, src } => {
                let line = super::accumulate_line(*acc, *op, *src);
                let _ = writeln!(s, "{}{line}", pad(ind));
            }
            UOp::Store { src, dtype } => {
                // the accumulated value is rounded to the reduction's dtype when it is read
                let x = accs
                    .iter()
                    .find(|(a, _)| a == src)
                    .map_or_else(|| v(*src), |(a, d)| cast(&v(*a), d.compute(), *d));
                let _ = writeln!(
                    s,
                    "{}b0[{}] = {};",
                    pad(ind),
                    index(0, &open),
                    store_cvt(*dtype, &x)
                );
            }
        }
    }
    s.push_str("}\n");
}

/// Render an expression as one C expression. `load(slot, dtype)` renders the n-th load.
pub fn render_expr(
    e: &Expr,
    acc: &str,
    load: &mut impl FnMut(usize, DType) -> String,
    next: &mut usize,
) -> String {
    match &e.op {
        ExprOp::Acc => acc.to_string(),
        ExprOp::Load { .. } => {
            *next += 1;
            load(*next - 1, e.dtype)
        }
        ExprOp::Const(c) => literal(*c, e.dtype),
        ExprOp::Unary(op, a) => unary(*op, &render_expr(a, acc, load, next)),
        ExprOp::Binary(op, a, b) => {
            let ra = render_expr(a, acc, load, next);
            let rb = render_expr(b, acc, load, next);
            binary(*op, &ra, &rb, e.dtype)
        }
        ExprOp::Cast(a) => cast(&render_expr(a, acc, load, next), a.dtype, e.dtype),
    }
}

/// Whether the epilogue can run on whole vectors of accumulators.
fn vector_epilogue(e: &Expr, acc: DType) -> bool {
    match &e.op {
        ExprOp::Acc | ExprOp::Const(_) => true,
        ExprOp::Load { .. } => e.dtype == acc,
        ExprOp::Unary(_, a) => e.dtype == acc && vector_epilogue(a, acc),
        ExprOp::Binary(op, a, b) => {
            e.dtype == acc
                && *op != BinaryOp::Div
                && vector_epilogue(a, acc)
                && vector_epilogue(b, acc)
        }
        // a cast between the accumulator type and itself is free; anything else rounds
        ExprOp::Cast(a) => e.dtype == acc && a.dtype == acc && vector_epilogue(a, acc),
    }
}

fn render_vexpr(e: &Expr, acc: DType, next: &mut usize) -> String {
    let t = compute(acc);
    match &e.op {
        ExprOp::Acc => "x".into(),
        ExprOp::Load { .. } => {
            let i = *next;
            *next += 1;
            format!(
                "(e->sn{i} == 0 ? (tg_v){{0}} + ({t})e->p{i}[(m)*e->sm{i}] : *(const tg_vu*)(e->p{i} + (m)*e->sm{i} + (n)))"
            )
        }
        ExprOp::Const(c) => format!("((tg_v){{0}} + {})", literal(*c, acc)),
        ExprOp::Unary(UnaryOp::Neg, a) => format!("(-{})", render_vexpr(a, acc, next)),
        ExprOp::Unary(UnaryOp::Relu, a) => format!("tg_vrelu({})", render_vexpr(a, acc, next)),
        ExprOp::Binary(op, a, b) => {
            let (ra, rb) = (render_vexpr(a, acc, next), render_vexpr(b, acc, next));
            match op {
                BinaryOp::Max => format!("tg_vmax({ra}, {rb})"),
                _ => binary(*op, &ra, &rb, acc),
            }
        }
        ExprOp::Cast(a) => render_vexpr(a, acc, next),
    }
}

/// Where a microkernel reads its operands: packed panels in the workspace (aligned, unit step),
/// or A's rows / B's rows in place (row strides `lda`, `ldb`; B loads unaligned).
#[derive(Clone, Copy, PartialEq, Eq)]
enum UkrReads {
    /// `ukr`: both packed.
    Packed,
    /// `ukr_a`: A in place, B packed.
    AInPlace,
    /// `ukr_u`: both in place.
    InPlace,
}

impl UkrReads {
    fn name(self) -> &'static str {
        match self {
            UkrReads::Packed => "ukr",
            UkrReads::AInPlace => "ukr_a",
            UkrReads::InPlace => "ukr_u",
        }
    }
}

/// One microkernel: MR x (NR/VW) vector accumulators over `kc` steps of k, reading A and B as
/// `reads` says (in-place reads save the packing copies where panels stay in L1/L2 anyway). Then
/// the store: accumulate into C on later K blocks, apply the epilogue on the last one, vectorised
/// for full tiles.
fn render_ukr(s: &mut String, g: &GemmPlan, reads: UkrReads, c_accumulates: bool, vec_epi: bool) {
    render_ukr_rows(s, g, reads, c_accumulates, vec_epi, g.opts.mr);
}

/// Every microkernel's parameter list (accumulator type `acc`, output storage type `tc`).
fn ukr_params(acc: &str, tc: &str) -> String {
    format!(
        "int64_t kc, const {acc}* restrict a, int64_t lda, const {acc}* restrict b, int64_t ldb, \
         {tc}* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, \
         const tg_epi* e, int64_t m, int64_t n"
    )
}

/// The microkernel computing only the first `rows` of its MR-row tile (`ukr_h` for packed edge
/// tiles of at most `rows` rows, where the full kernel would compute zero-padded rows), or the
/// full one (`rows` = MR, always inlined).
fn render_ukr_rows(
    s: &mut String,
    g: &GemmPlan,
    reads: UkrReads,
    c_accumulates: bool,
    vec_epi: bool,
    rows: usize,
) {
    let o = &g.opts;
    let acc = compute(g.acc);
    let tc = storage(g.out_dtype);
    let nv = o.nr / o.vw;
    let full = rows == o.mr;
    debug_assert!(
        full || reads == UkrReads::Packed,
        "edge kernels read packed panels"
    );
    let (name, inline) = if full {
        (reads.name(), "static inline __attribute__((always_inline))")
    } else {
        ("ukr_h", "static __attribute__((noinline))")
    };
    let _ = writeln!(s, "{inline} void {name}({}) {{", ukr_params(acc, tc));
    s.push_str("  (void)lda; (void)ldb;\n");
    let accs: Vec<String> = (0..rows)
        .flat_map(|r| (0..nv).map(move |c| format!("c{r}_{c} = {{0}}")))
        .collect();
    let _ = writeln!(s, "  tg_v {};", accs.join(", "));
    if c_accumulates {
        let n_rows = if full {
            "MR".to_string()
        } else {
            rows.to_string()
        };
        let _ = writeln!(
            s,
            "  if (!first) for (int r = 0; r < {n_rows}; r++) __builtin_prefetch(c + r*csm, 1);"
        );
    }
    let (a_step, b_step, bty) = match reads {
        UkrReads::Packed => ("MR", "NR", "tg_v"),
        UkrReads::AInPlace => ("1", "NR", "tg_v"),
        UkrReads::InPlace => ("1", "ldb", "tg_vu"),
    };
    let _ = writeln!(
        s,
        "  for (int64_t k = 0; k < kc; k++, a += {a_step}, b += {b_step}) {{"
    );
    for c in 0..nv {
        let _ = writeln!(
            s,
            "    const tg_v b{c} = *(const {bty}*)(b + {});",
            c * o.vw
        );
    }
    for r in 0..rows {
        let a_at = if reads == UkrReads::Packed {
            format!("a[{r}]")
        } else {
            format!("a[{r}*lda]")
        };
        let _ = write!(s, "    {{ const {acc} a{r} = {a_at};");
        for c in 0..nv {
            let _ = write!(s, " c{r}_{c} += a{r} * b{c};");
        }
        s.push_str(" }\n");
    }
    s.push_str("  }\n");
    // scalar epilogue over a tile (edges, non-unit strides, half output)
    let mut next = 0;
    let epi_s = render_expr(
        &g.epilogue,
        "x",
        &mut |i, d| load_cvt(d, &format!("e->p{i}[(m+i)*e->sm{i} + (n+j)*e->sn{i}]")),
        &mut next,
    );
    if vec_epi && full {
        s.push_str("  if (mr == MR && nr == NR && csn == 1 && e->vec_ok) {\n");
        let mut next = 0;
        let ve = render_vexpr(&g.epilogue, g.acc, &mut next);
        for r in 0..rows {
            for c in 0..nv {
                let _ = writeln!(
                    s,
                    "    {{ tg_v x = c{r}_{c}; {acc}* cp = c + {r}*csm + {off}; if (!first) x += *(const tg_vu*)cp; \
                     if (last) {{ const int64_t m_ = m + {r}, n_ = n + {off}; (void)m_; (void)n_; x = {ve2}; }} *(tg_vu*)cp = x; }}",
                    off = c * o.vw,
                    ve2 = ve.replace("(m)", "(m_)").replace("(n)", "(n_)")
                );
            }
        }
        s.push_str("    return;\n  }\n");
    }
    let _ = writeln!(s, "  {acc} t[MR*NR] __attribute__((aligned(64)));");
    for r in 0..rows {
        for c in 0..nv {
            let _ = writeln!(s, "  *(tg_v*)(t + {}) = c{r}_{c};", r * o.nr + c * o.vw);
        }
    }
    let accum = if c_accumulates {
        "if (!first) x += *cp; "
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {{\n\
         \x20   {tc}* cp = c + i*csm + j*csn; {acc} x = t[i*NR + j]; {accum}(void)first;\n\
         \x20   if (last) x = {epi_s};\n\
         \x20   *cp = {st};\n  }}\n}}",
        st = store_cvt(g.out_dtype, "x")
    );
}

/// Vector products for one output row or column: `tg_axpys` when the long operand is contiguous
/// along the output (y += x[k] * row k), `tg_dots` when it is contiguous along K (dot products).
/// Both are memory-bound: they read the matrix once, with no packing copy.
fn render_vector_products(s: &mut String, g: &GemmPlan) {
    let acc = compute(g.acc);
    let _ = write!(
        s,
        "static void tg_axpys(int64_t K, int64_t n, const {acc}* restrict x, int64_t incx, const {acc}* restrict w, int64_t wk, {acc}* restrict y) {{\n\
         \x20 /* rows of w stream contiguously, four at a time; y (one output row) stays in L1 */\n\
         \x20 for (int64_t j = 0; j < n; j++) y[j] = 0;\n\
         \x20 int64_t k = 0;\n\
         \x20 for (; k + 4 <= K; k += 4) {{\n\
         \x20   const {acc} x0 = x[k*incx], x1 = x[(k+1)*incx], x2 = x[(k+2)*incx], x3 = x[(k+3)*incx];\n\
         \x20   const {acc}* r0 = w + k*wk; const {acc}* r1 = r0 + wk; const {acc}* r2 = r1 + wk; const {acc}* r3 = r2 + wk;\n\
         \x20   int64_t j = 0;\n\
         \x20   for (; j + VW <= n; j += VW) {{\n\
         \x20     tg_v v = *(const tg_vu*)(y + j);\n\
         \x20     v += x0 * *(const tg_vu*)(r0 + j) + x1 * *(const tg_vu*)(r1 + j) + x2 * *(const tg_vu*)(r2 + j) + x3 * *(const tg_vu*)(r3 + j);\n\
         \x20     *(tg_vu*)(y + j) = v;\n\
         \x20   }}\n\
         \x20   for (; j < n; j++) y[j] += x0*r0[j] + x1*r1[j] + x2*r2[j] + x3*r3[j];\n\
         \x20 }}\n\
         \x20 for (; k < K; k++) {{ const {acc} xk = x[k*incx]; const {acc}* r = w + k*wk; for (int64_t j = 0; j < n; j++) y[j] += xk * r[j]; }}\n\
         }}\n\
         static void tg_dots(int64_t K, int64_t n, const {acc}* restrict x, int64_t incx, const {acc}* restrict w, int64_t wj, int64_t wk, {acc}* restrict y) {{\n\
         \x20 for (int64_t j = 0; j < n; j++) {{\n\
         \x20   const {acc}* r = w + j*wj; int64_t k = 0; {acc} t = 0;\n\
         \x20   if (incx == 1 && wk == 1) {{\n\
         \x20     tg_v s0 = {{0}}, s1 = {{0}};\n\
         \x20     for (; k + 2*VW <= K; k += 2*VW) {{ s0 += *(const tg_vu*)(x + k) * *(const tg_vu*)(r + k); s1 += *(const tg_vu*)(x + k + VW) * *(const tg_vu*)(r + k + VW); }}\n\
         \x20     s0 += s1; for (int l = 0; l < VW; l++) t += s0[l];\n\
         \x20   }}\n\
         \x20   for (; k < K; k++) t += x[k*incx] * r[k*wk];\n\
         \x20   y[j] = t;\n\
         \x20 }}\n\
         }}\n"
    );
}

fn render_gemm(s: &mut String, g: &GemmPlan, bufs: &[DType]) {
    let o = &g.opts;
    let acc = compute(g.acc);
    let (ta, tb, tc) = (storage(g.a.1), storage(g.b.1), storage(g.out_dtype));
    let vb = o.vw * g.acc.itemsize();
    let ity = if g.acc == DType::F64 {
        "int64_t"
    } else {
        "int32_t"
    };
    // C itself holds partial sums across K blocks when it has the accumulator's type
    let c_accumulates = g.out_dtype == g.acc;
    let vec_epi = c_accumulates && vector_epilogue(&g.epilogue, g.acc);
    // reading A and B in place needs them in the accumulator's type (no conversion on load)
    let inplace_ok = c_accumulates && g.a.1 == g.acc && g.b.1 == g.acc;
    let _ = write!(
        s,
        "typedef {acc} tg_v __attribute__((vector_size({vb})));\n\
         typedef {acc} tg_vu __attribute__((vector_size({vb}), aligned({al})));\n\
         typedef {ity} tg_vi __attribute__((vector_size({vb})));\n\
         static inline tg_v tg_vrelu(tg_v x) {{ return (tg_v)((tg_vi)(x > 0) & (tg_vi)x); }}\n\
         static inline tg_v tg_vmax(tg_v a, tg_v b) {{ tg_vi m = (tg_vi)(a > b); return (tg_v)((m & (tg_vi)a) | (~m & (tg_vi)b)); }}\n\
         #define MR {mr}\n#define NR {nr}\n#define VW {vw}\n",
        al = g.acc.itemsize(),
        mr = o.mr,
        nr = o.nr,
        vw = o.vw
    );
    // epilogue context: one pointer and (m, n) strides per epilogue load
    s.push_str("typedef struct {\n");
    for (i, (_, d)) in g.epi_loads.iter().enumerate() {
        let _ = writeln!(s, "  const {}* p{i}; int64_t sm{i}, sn{i};", storage(*d));
    }
    s.push_str("  int vec_ok;\n} tg_epi;\n");

    // a barrier for Parallel::Barrier GEMMs: two counters a cache line apart, zeroed by the host
    s.push_str(
        "static inline void tg_pause(void) {\n\
         #if defined(__x86_64__) || defined(__i386__)\n\
         \x20 __builtin_ia32_pause();\n\
         #endif\n\
         }\n\
         static inline void tg_barrier(int64_t* bar, int64_t nth) {\n\
         \x20 const int64_t gen = __atomic_load_n(&bar[8], __ATOMIC_ACQUIRE);\n\
         \x20 if (__atomic_add_fetch(&bar[0], 1, __ATOMIC_ACQ_REL) == nth) {\n\
         \x20   __atomic_store_n(&bar[0], 0, __ATOMIC_RELAXED);\n\
         \x20   __atomic_store_n(&bar[8], gen + 1, __ATOMIC_RELEASE);\n\
         \x20 } else {\n\
         \x20   while (__atomic_load_n(&bar[8], __ATOMIC_ACQUIRE) == gen) tg_pause();\n\
         \x20 }\n\
         }\n",
    );
    // a cursor over the next chunk's operands: each microkernel call prefetches a few lines
    // into L2, so the prefetches spread over the chunk instead of flooding the memory queue
    let _ = write!(
        s,
        "typedef struct {{ const char* a; const char* a_end; const char* b; const char* b_end; }} tg_pf;\n\
         static inline void tg_pf_step(tg_pf* f) {{\n\
         \x20 for (int i = 0; i < {PREFETCH_LINES_PER_TILE}; i++) {{\n\
         \x20   if (f->a < f->a_end) {{ __builtin_prefetch(f->a, 0, 2); f->a += 64; }}\n\
         \x20   else if (f->b < f->b_end) {{ __builtin_prefetch(f->b, 0, 2); f->b += 64; }}\n\
         \x20   else return;\n\
         \x20 }}\n\
         }}\n"
    );
    // packing: A into MR-row micro-panels, B into NR-column micro-panels, zero-padded
    let la = load_cvt(g.a.1, "a[(i0+i)*sm + k*sk]");
    // full panels of A contiguous along k, with 8-wide f32 vectors: 8 columns of MR <= 8 rows
    // at a time, transposed in registers (instead of MR x 8 strided scalar stores)
    let tr8 = g.a.1 == g.acc && g.acc == DType::F32 && o.vw == 8 && o.mr <= 8;
    if tr8 {
        s.push_str(PACK_A_TR8);
    }
    let a_rows = if tr8 {
        "{ pack_a_tr8(kc, a + i0*sm, sm, ap); }".to_string()
    } else {
        format!(
            "{{ for (int64_t i = 0; i < MR; i++) for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = ({acc}){la1}; }}",
            acc = compute(g.acc),
            la1 = load_cvt(g.a.1, "a[(i0+i)*sm + k]")
        )
    };
    let lb = load_cvt(g.b.1, "b[k*sk + (j0+j)*sn]");
    let _ = write!(
        s,
        "static void pack_a(int64_t mc, int64_t kc, const {ta}* restrict a, int64_t sm, int64_t sk, {acc}* restrict ap) {{\n\
         \x20 for (int64_t i0 = 0; i0 < mc; i0 += MR, ap += MR*kc) {{\n\
         \x20   const int64_t mr = tg_min(MR, mc - i0);\n\
         \x20   if (mr == MR && sk == 1) {a_rows}\n\
         \x20   else if (mr == MR) {{ for (int64_t k = 0; k < kc; k++) for (int64_t i = 0; i < MR; i++) ap[k*MR+i] = ({acc}){la}; }}\n\
         \x20   else if (sk == 1) {{ for (int64_t i = 0; i < MR; i++) {{ if (i < mr) for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = ({acc}){la1}; else for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = 0; }} }}\n\
         \x20   else {{ for (int64_t k = 0; k < kc; k++) for (int64_t i = 0; i < MR; i++) ap[k*MR+i] = i < mr ? ({acc}){la} : 0; }}\n\
         \x20 }}\n}}\n\
         static void pack_b(int64_t kc, int64_t nc, const {tb}* restrict b, int64_t sk, int64_t sn, {acc}* restrict bp) {{\n\
         \x20 for (int64_t j0 = 0; j0 < nc; j0 += NR, bp += NR*kc) {{\n\
         \x20   const int64_t nr = tg_min(NR, nc - j0);\n\
         \x20   if (nr == NR && sn == 1) {{ for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = ({acc}){lb1}; }}\n\
         \x20   else if (nr == NR) {{ for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = ({acc}){lb}; }}\n\
         \x20   else {{ for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = j < nr ? ({acc}){lb} : 0; }}\n\
         \x20 }}\n}}\n",
        lb1 = load_cvt(g.b.1, "b[k*sk + j0 + j]"),
        a_rows = a_rows,
        // rows of A contiguous in k: read along rows (contiguous), write the panel strided
        la1 = load_cvt(g.a.1, "a[(i0+i)*sm + k]"),
    );
    // Parallel::Shared: B micro-panel `q` of one K block, packed by whichever thread needs it
    // first (flag 0 unpacked, 1 packing, 2 ready); a thread that finds it being packed packs
    // the next unpacked ones meanwhile, then waits (packing one takes about a microsecond)
    let _ = write!(
        s,
        "static void tg_need_b(int32_t* fl, int64_t q, int64_t np, int64_t kc, int64_t N, const {tb}* B, int64_t bsk,\n\
         \x20   int64_t bsn, {acc}* bk) {{\n\
         \x20 if (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) == 2) return;\n\
         \x20 for (int64_t r = q; r < np && r < q + {SHARED_LOOKAHEAD}; r++) {{\n\
         \x20   int32_t z = 0;\n\
         \x20   if (__atomic_load_n(&fl[r], __ATOMIC_RELAXED) == 0\n\
         \x20       && __atomic_compare_exchange_n(&fl[r], &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {{\n\
         \x20     pack_b(kc, tg_min(NR, N - r*NR), B + r*NR*bsn, bsk, bsn, bk + r*NR*kc);\n\
         \x20     __atomic_store_n(&fl[r], 2, __ATOMIC_RELEASE);\n\
         \x20   }}\n\
         \x20   if (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) == 2) return;\n\
         \x20 }}\n\
         \x20 while (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) != 2) tg_pause();\n\
         }}\n"
    );

    // the microkernels: on packed panels, and (where the plan reads operands in place) on A's
    // rows, or on A and B, in place
    let packing = g.packing();
    let a_inplace = inplace_ok && packing != Packing::Both;
    let b_inplace = inplace_ok && packing == Packing::Neither;
    render_ukr(s, g, UkrReads::Packed, c_accumulates, vec_epi);
    // packed edge tiles of at most MR/2 rows (M = 128 with MR = 6 ends in 2) run a kernel that
    // computes only MR/2 rows instead of MR rows of which most are zero padding
    let edge_rows = o.mr / 2;
    if edge_rows >= 2 {
        render_ukr_rows(s, g, UkrReads::Packed, c_accumulates, vec_epi, edge_rows);
        let _ = writeln!(
            s,
            "static inline __attribute__((always_inline)) void tg_ukr({}) {{\n\
             \x20 if (mr <= {edge_rows}) ukr_h(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);\n\
             \x20 else ukr(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);\n\
             }}",
            ukr_params(acc, tc)
        );
    } else {
        s.push_str("#define tg_ukr ukr\n");
    }
    if a_inplace {
        render_ukr(s, g, UkrReads::AInPlace, c_accumulates, vec_epi);
    }
    if b_inplace {
        render_ukr(s, g, UkrReads::InPlace, c_accumulates, vec_epi);
    }
    if inplace_ok {
        render_vector_products(s, g);
    }
    render_blis(s, g, a_inplace);

    // the driver: chunks of (batch, m-range, n-range) over threads, BLIS loops inside
    let _ = writeln!(
        s,
        "void {ENTRY}(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {{"
    );
    let _ = write!(
        s,
        "  const int64_t M = p[0], N = p[1], K = p[2], NB = p[3], mch = p[8], nch = p[9], KC = p[10], MC = p[11], NC = p[12];\n\
         \x20 const int64_t mstep = ((M + mch - 1) / mch + MR - 1) / MR * MR, nstep = ((N + nch - 1) / nch + NR - 1) / NR * NR;\n\
         \x20 {acc}* ap = ({acc}*)ws;\n\
         \x20 {acc}* bp = ({acc}*)(ws + ((((MC + MR - 1) / MR * MR) * KC * (int64_t)sizeof({acc}) + 63) & ~(int64_t)63));\n\
         \x20 /* Parallel::Barrier: every thread takes part in every chunk (one whole GEMM per batch\n\
         \x20    index). Parallel::Shared: every thread enters the one chunk (one batch index) and claims\n\
         \x20    blocks of C inside it. Parallel::Chunks: threads claim chunks from a shared counter. In the\n\
         \x20    last two the caller alone can finish (the pool does not wait for late helpers) */\n\
         \x20 const int barrier = p[{P_PARALLEL}] == 1 && nth > 1 && M > 1 && N > 1;\n\
         \x20 const int shared = p[{P_PARALLEL}] == 2 && NB == 1 && M > 1 && N > 1;\n\
         \x20 int64_t* next_chunk = (int64_t*)bufs[{nbufs}] + {claim};\n\
         \x20 const int every = barrier || shared;\n\
         \x20 for (int64_t ch = every ? 0 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); ch < (shared ? 1 : NB * mch * nch);\n\
         \x20      ch = every ? ch + 1 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) {{\n\
         \x20   const int64_t bi = ch / (mch * nch), mi = (ch / nch) % mch, ni = ch % nch;\n\
         \x20   const int64_t m0 = mi * mstep, n0 = ni * nstep, m1 = tg_min(M, m0 + mstep), n1 = tg_min(N, n0 + nstep);\n\
         \x20   if (m0 >= m1 || n0 >= n1) continue;\n\
         \x20   int64_t bidx[{MAX_BATCH}]; {{ int64_t r = bi; for (int d = {last}; d >= 0; d--) {{ bidx[d] = r % p[4+d]; r /= p[4+d]; }} }}\n",
        last = MAX_BATCH - 1,
        nbufs = bufs.len(),
        claim = crate::runtime::cpu::CLAIM_COUNTER,
    );
    let opnd = |o: usize, j: usize| P_OPERANDS + o * OPERAND_PARAMS + j;
    let boff_in = |o: usize, idx: &str| {
        let mut e = format!("p[{}]", opnd(o, 0));
        for d in 0..MAX_BATCH {
            let _ = write!(e, " + {idx}[{d}]*p[{}]", opnd(o, 4 + d));
        }
        e
    };
    let boff = |o: usize| boff_in(o, "bidx");
    let _ = writeln!(
        s,
        "    {tc}* C = ({tc}*)bufs[0] + {}; const int64_t csm = p[{}], csn = p[{}];",
        boff(0),
        opnd(0, 1),
        opnd(0, 2)
    );
    let _ = writeln!(
        s,
        "    const {ta}* A = (const {ta}*)bufs[{}] + {}; const int64_t asm_ = p[{}], ask = p[{}];",
        g.a.0,
        boff(1),
        opnd(1, 1),
        opnd(1, 3)
    );
    let _ = writeln!(
        s,
        "    const {tb}* B = (const {tb}*)bufs[{}] + {}; const int64_t bsn = p[{}], bsk = p[{}];",
        g.b.0,
        boff(2),
        opnd(2, 2),
        opnd(2, 3)
    );
    // batched GEMMs of small matrices stream every operand from L3 or memory: while this
    // chunk computes, prefetch the operands of the chunk this thread will likely take next
    // (claims alternate between threads) into L2, when they are small enough to fit beside it
    let _ = writeln!(
        s,
        "    tg_pf pf = {{0, 0, 0, 0}};\n\
         \x20   if (!every && mch * nch == 1 && bi + nth < NB && ask == 1 && asm_ == K && bsn == 1 && bsk == N\n\
         \x20       && M*K*(int64_t)sizeof({ta}) + K*N*(int64_t)sizeof({tb}) <= {limit}) {{\n\
         \x20     int64_t nidx[{MAX_BATCH}]; {{ int64_t r = bi + nth; for (int d = {last}; d >= 0; d--) {{ nidx[d] = r % p[4+d]; r /= p[4+d]; }} }}\n\
         \x20     pf.a = (const char*)((const {ta}*)bufs[{abuf}] + {an}); pf.a_end = pf.a + M*K*(int64_t)sizeof({ta});\n\
         \x20     pf.b = (const char*)((const {tb}*)bufs[{bbuf}] + {bn}); pf.b_end = pf.b + K*N*(int64_t)sizeof({tb});\n\
         \x20   }}",
        last = MAX_BATCH - 1,
        abuf = g.a.0,
        bbuf = g.b.0,
        an = boff_in(1, "nidx"),
        bn = boff_in(2, "nidx"),
        limit = PREFETCH_NEXT_MAX_BYTES,
    );
    s.push_str("    tg_epi e; e.vec_ok = 1;\n");
    for (i, (buf, d)) in g.epi_loads.iter().enumerate() {
        let t = storage(*d);
        let _ = writeln!(
            s,
            "    e.p{i} = (const {t}*)bufs[{buf}] + {}; e.sm{i} = p[{}]; e.sn{i} = p[{}]; e.vec_ok &= (e.sn{i} == 0 || e.sn{i} == 1);",
            boff(3 + i),
            opnd(3 + i, 1),
            opnd(3 + i, 2)
        );
    }
    // Parallel::Barrier: B panels packed by all threads into the shared workspace (after the
    // kernel's buffers), a barrier, then each thread packs A and computes its own rows
    let _ = writeln!(
        s,
        "    if (barrier) {{\n\
         \x20     char* sh = bufs[{nbufs}];\n\
         \x20     int64_t* bar = (int64_t*)sh;\n\
         \x20     {acc}* bs = ({acc}*)(sh + {header});\n\
         \x20     const int64_t mper = ((M + nth - 1) / nth + MR - 1) / MR * MR;\n\
         \x20     const int64_t r0 = tg_min(M, tid * mper), r1 = tg_min(M, r0 + mper);\n\
         \x20     for (int64_t jc = 0; jc < N; jc += NC) {{\n\
         \x20       const int64_t nc = tg_min(NC, N - jc);\n\
         \x20       int64_t pc = 0;\n\
         \x20       do {{\n\
         \x20         const int64_t kc = tg_min(KC, K - pc);\n\
         \x20         const int first = pc == 0, last = pc + kc >= K;\n\
         \x20         for (int64_t jr = tid * NR; jr < nc; jr += nth * NR)\n\
         \x20           pack_b(kc, tg_min(NR, nc - jr), B + pc*bsk + (jc+jr)*bsn, bsk, bsn, bs + jr*kc);\n\
         \x20         tg_barrier(bar, nth);\n\
         \x20         for (int64_t ic = r0; ic < r1; ic += MC) {{\n\
         \x20           const int64_t mc = tg_min(MC, r1 - ic);\n\
         \x20           pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);\n\
         \x20           for (int64_t jr = 0; jr < nc; jr += NR)\n\
         \x20             for (int64_t ir = 0; ir < mc; ir += MR)\n\
         \x20               tg_ukr(kc, ap + ir*kc, 0, bs + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,\n\
         \x20                   tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, &e, ic + ir, jc + jr);\n\
         \x20         }}\n\
         \x20         tg_barrier(bar, nth); /* nobody repacks B while another thread still reads it */\n\
         \x20         pc += kc;\n\
         \x20       }} while (pc < K);\n\
         \x20     }}\n\
         \x20     continue;\n\
         \x20   }}",
        nbufs = bufs.len(),
        header = crate::runtime::cpu::SHARED_HEADER,
    );
    // shared GEMM: blocks of C claimed from the counter, the K loop inside each, B packed once
    // into the shared workspace on demand (flags after the header, packed B after the flags:
    // K block at row pc holds micro-panel q at pc*Npad + q*NR*kc)
    let _ = writeln!(
        s,
        "    if (shared) {{\n\
         \x20     char* sh = bufs[{nbufs}];\n\
         \x20     const int64_t np = (N + NR - 1) / NR, nkb = (K + KC - 1) / KC;\n\
         \x20     int32_t* flags = (int32_t*)(sh + {header});\n\
         \x20     {acc}* bs = ({acc}*)(sh + {header} + ((nkb * np * 4 + 63) & ~(int64_t)63));\n\
         \x20     const int64_t nic = (M + MC - 1) / MC, njc = (N + NC - 1) / NC;\n\
         \x20     for (int64_t t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); t < nic * njc;\n\
         \x20          t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) {{\n\
         \x20       const int64_t jc = t / nic * NC, ic = t % nic * MC;\n\
         \x20       const int64_t nc = tg_min(NC, N - jc), mc = tg_min(MC, M - ic);\n\
         \x20       for (int64_t pc = 0, kb = 0; pc < K; pc += KC, kb++) {{\n\
         \x20         const int64_t kc = tg_min(KC, K - pc);\n\
         \x20         const int first = pc == 0, last = pc + kc >= K;\n\
         \x20         {acc}* bk = bs + pc * np * NR;\n\
         \x20         pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);\n\
         \x20         for (int64_t jr = 0; jr < nc; jr += NR) {{\n\
         \x20           const int64_t q = (jc + jr) / NR;\n\
         \x20           tg_need_b(flags + kb * np, q, np, kc, N, B + pc*bsk, bsk, bsn, bk);\n\
         \x20           for (int64_t ir = 0; ir < mc; ir += MR)\n\
         \x20             tg_ukr(kc, ap + ir*kc, 0, bk + q*NR*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,\n\
         \x20                 tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, &e, ic + ir, jc + jr);\n\
         \x20         }}\n\
         \x20       }}\n\
         \x20     }}\n\
         \x20     continue;\n\
         \x20   }}",
        nbufs = bufs.len(),
        header = crate::runtime::cpu::SHARED_HEADER,
    );
    if inplace_ok {
        // one output row (x @ W, M = 1) or column (W @ x, N = 1): memory-bound, no packing; the
        // output goes through `ws` so the epilogue runs once per element
        let mut next = 0;
        let epi = render_expr(
            &g.epilogue,
            "x",
            &mut |i, d| load_cvt(d, &format!("e.p{i}[mi_*e.sm{i} + ni_*e.sn{i}]")),
            &mut next,
        );
        let _ = writeln!(
            s,
            "    if (m1 - m0 == 1 || n1 - n0 == 1) {{\n\
             \x20     {acc}* y = ({acc}*)ws;\n\
             \x20     const int row = m1 - m0 == 1;\n\
             \x20     const int64_t len = row ? n1 - n0 : m1 - m0;\n\
             \x20     /* row: y[j] = sum_k A[m0,k] B[k,n0+j]; column: y[i] = sum_k B[k,n0] A[m0+i,k] */\n\
             \x20     const {acc}* x = row ? A + m0*asm_ : B + n0*bsn;\n\
             \x20     const int64_t incx = row ? ask : bsk;\n\
             \x20     const {acc}* w = row ? B + n0*bsn : A + m0*asm_;\n\
             \x20     const int64_t wk = row ? bsk : ask, wj = row ? bsn : asm_;\n\
             \x20     if (wj == 1) tg_axpys(K, len, x, incx, w, wk, y); else tg_dots(K, len, x, incx, w, wj, wk, y);\n\
             \x20     for (int64_t t = 0; t < len; t++) {{\n\
             \x20       const int64_t mi_ = row ? m0 : m0 + t, ni_ = row ? n0 + t : n0;\n\
             \x20       {acc} x = y[t];\n\
             \x20       x = {epi};\n\
             \x20       C[mi_*csm + ni_*csn] = {st};\n\
             \x20     }}\n\
             \x20     continue;\n\
             \x20   }}",
            st = store_cvt(g.out_dtype, "x")
        );
    }
    if b_inplace {
        // small row-major problems: every tile reads A and B in place (no packing). The whole K
        // is one block, so C is written once per tile, never accumulated: edge tiles shift back
        // to end at the chunk's edge and overlap their neighbour, recomputing (and rewriting)
        // identical values. Chunks narrower than a tile use the packed loops instead.
        let _ = writeln!(
            s,
            "    if (p[{P_PACKING}] == {neither} && ask == 1 && bsn == 1) {{\n\
             \x20     if (m1 - m0 >= MR && n1 - n0 >= NR) {{\n\
             \x20       for (int64_t jr = n0; jr < n1; jr += NR) {{\n\
             \x20         const int64_t j = tg_min(jr, n1 - NR);\n\
             \x20         for (int64_t ir = m0; ir < m1; ir += MR) {{\n\
             \x20           const int64_t i = tg_min(ir, m1 - MR);\n\
             \x20           ukr_u(K, A + i*asm_, asm_, B + j, bsk, C + i*csm + j*csn, csm, csn, MR, NR, 1, 1, &e, i, j);\n\
             \x20         }}\n\
             \x20       }}\n\
             \x20     }} else tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, 1, &pf);\n\
             \x20     continue;\n\
             \x20   }}",
            neither = Packing::Neither.code()
        );
    }
    let ainp = if a_inplace {
        format!(
            "p[{P_PACKING}] != {both} && ask == 1",
            both = Packing::Both.code()
        )
    } else {
        "0".into()
    };
    let _ = write!(
        s,
        "    tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, {ainp}, &pf);\n\
         \x20 }}\n}}\n"
    );
}

/// How many micro-panels past the one it needs a thread packs while another packs that one.
const SHARED_LOOKAHEAD: usize = 4;
/// Cache lines prefetched per microkernel call.
const PREFETCH_LINES_PER_TILE: usize = 16;

/// The BLIS loops over one block of C (jc -> pc -> ic -> jr -> ir): a KC x NC panel of B packed
/// per (jc, pc), an MC x KC block of A per (ic, pc), the microkernel per MR x NR tile. With
/// `ainp` (rendered when the plan reads A in place) full MR-row tiles read A's rows where they
/// are and only the edge rows are packed.
fn render_blis(s: &mut String, g: &GemmPlan, a_inplace: bool) {
    let acc = compute(g.acc);
    let (ta, tb, tc) = (storage(g.a.1), storage(g.b.1), storage(g.out_dtype));
    let inplace_tiles = if a_inplace {
        "\x20         for (int64_t ir = 0; ir < mfull; ir += MR, tg_pf_step(pf))\n\
         \x20           ukr_a(kc, A + (ic+ir)*asm_ + pc, asm_, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,\n\
         \x20                 MR, nr, first, last, e, ic + ir, jc + jr);\n"
    } else {
        ""
    };
    let _ = write!(
        s,
        "static void tg_blis(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, int64_t KC, int64_t MC, int64_t NC,\n\
         \x20   const {ta}* restrict A, int64_t asm_, int64_t ask, const {tb}* restrict B, int64_t bsk, int64_t bsn,\n\
         \x20   {tc}* restrict C, int64_t csm, int64_t csn, const tg_epi* e, {acc}* restrict ap, {acc}* restrict bp, int ainp,\n\
         \x20   tg_pf* pf) {{\n\
         \x20 for (int64_t jc = n0; jc < n1; jc += NC) {{\n\
         \x20   const int64_t nc = tg_min(NC, n1 - jc);\n\
         \x20   int64_t pc = 0;\n\
         \x20   do {{\n\
         \x20     const int64_t kc = tg_min(KC, K - pc);\n\
         \x20     const int first = pc == 0, last = pc + kc >= K;\n\
         \x20     pack_b(kc, nc, B + pc*bsk + jc*bsn, bsk, bsn, bp);\n\
         \x20     for (int64_t ic = m0; ic < m1; ic += MC) {{\n\
         \x20       const int64_t mc = tg_min(MC, m1 - ic);\n\
         \x20       const int64_t mfull = ainp ? mc / MR * MR : 0;\n\
         \x20       if (mfull < mc) pack_a(mc - mfull, kc, A + (ic+mfull)*asm_ + pc*ask, asm_, ask, ap);\n\
         \x20       for (int64_t jr = 0; jr < nc; jr += NR) {{\n\
         \x20         const int64_t nr = tg_min(NR, nc - jr);\n\
         {inplace_tiles}\
         \x20         for (int64_t ir = mfull; ir < mc; ir += MR, tg_pf_step(pf))\n\
         \x20           tg_ukr(kc, ap + (ir-mfull)*kc, 0, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,\n\
         \x20               tg_min(MR, mc - ir), nr, first, last, e, ic + ir, jc + jr);\n\
         \x20       }}\n\
         \x20     }}\n\
         \x20     pc += kc;\n\
         \x20   }} while (pc < K);\n\
         \x20 }}\n\
         }}\n"
    );
}

//! The generated part of a CPU GEMM program: what varies with the plan (types, tile constants,
//! which paths are compiled, the epilogue and the unrolled MR x NR microkernels), followed by
//! the static sources of `render/c/`, which read it as the header `tg_gemm.h`.

use std::fmt::Write as _;

use super::c::{inline_source, BLIS_C, C, PACK_C, SYNC_C, VECTOR_C};
use crate::abi;
use crate::codegen::cpu_gemm::{
    CpuGemm, GemmOpts, Packing, Parallel, LONG_K, PREFETCH_NEXT_MAX_BYTES,
};
use crate::codegen::{Contraction, GemmPlan, Program};
use crate::dtype::DType;
use crate::graph::{BinaryOp, UnaryOp};
use crate::kernel::{Expr, ExprOp};

/// How many micro-panels past the one it needs a thread packs while another packs that one.
const SHARED_LOOKAHEAD: usize = 4;
/// Cache lines prefetched per microkernel call.
const PREFETCH_LINES_PER_TILE: usize = 16;
/// C (all batch indices) larger than this is cold: twice the L2 of one core on the machines
/// measured, so a launch writes lines that earlier launches' operands and outputs have pushed out
/// to L3 or memory, and every tile prefetches its C lines for writing. Where C is smaller it is
/// mostly still cached and the prefetches cost more issue slots than they save.
const COLD_C_BYTES: usize = 2 << 20;

/// Which optional paths a plan's program compiles.
struct Paths {
    /// C holds partial sums across K blocks (it has the accumulator's type).
    c_accumulates: bool,
    /// Full tiles apply the epilogue on whole vectors.
    vec_epi: bool,
    /// Full tiles of a half C (f32 accumulators) apply the epilogue on whole vectors and store
    /// them with one F16C conversion each (`tg_v2h`; 8- or 16-wide vectors, whose ISAs have F16C).
    vec_half: bool,
    /// One output row or column through the vector products (C, A and B in the accumulator's type).
    vector: bool,
    /// A's full MR-row tiles read in place (`Packing::BOnly` and `Packing::Neither`).
    a_inplace: bool,
    /// Whole tiles read both operands in place. Compiled for `Packing::BOnly` as well: the kernel
    /// picks its loops from the run-time packing code, so the two packings share one source and
    /// one kernel built ahead of time.
    b_inplace: bool,
    /// A's full panels (f32 or half) packed with 8x8 register transposes (MR from 4 to 16).
    tr8: bool,
}

fn paths(c: &Contraction, g: &CpuGemm) -> Paths {
    let c_accumulates = c.out_dtype == c.acc;
    let inplace_ok = c.holds_accumulators();
    Paths {
        c_accumulates,
        vec_epi: c_accumulates && vector_epilogue(&c.epilogue, c.acc),
        vec_half: c.out_dtype == DType::F16
            && c.acc == DType::F32
            && matches!(g.opts.vw, 8 | 16)
            && vector_epilogue(&c.epilogue, c.acc),
        vector: inplace_ok,
        a_inplace: inplace_ok && g.packing != Packing::Both,
        b_inplace: inplace_ok && g.packing != Packing::Both,
        tr8: tr8(c, &g.opts),
    }
}

/// Whether `pack_a_tr8` packs A's full panels: f32 accumulators, A f32 or (on ISAs with F16C,
/// those of 8- and 16-wide vectors) half. Its 8-wide column stores run up to 7 floats into the
/// next column; at the end of a panel the last full group's stores reach past it unless a
/// column holds them, so MR < 4 packs with scalar stores, and groups of 8 rows cover MR <= 16.
fn tr8(c: &Contraction, o: &GemmOpts) -> bool {
    c.acc == DType::F32
        && matches!(c.a.1, DType::F32 | DType::F16)
        && matches!(o.vw, 8 | 16)
        && (4..=16).contains(&o.mr)
}

/// `pack_a_tr8`'s types: 8 floats (`tg_f8`, and `tg_f8u` unaligned), 8 of A's values as stored
/// (`tg_a8u`), and their widening to 8 floats (`tg_a8_to_f8`: F16C for half).
fn tr8_types(s: &mut String, a: DType) {
    s.push_str(
        "typedef float tg_f8 __attribute__((vector_size(32)));\n\
         typedef float tg_f8u __attribute__((vector_size(32), aligned(4)));\n",
    );
    s.push_str(if a == DType::F16 {
        "typedef short tg_a8u __attribute__((vector_size(16), aligned(2)));\n\
         static inline tg_f8 tg_a8_to_f8(tg_a8u x) { return __builtin_ia32_vcvtph2ps256(x); }\n"
    } else {
        "typedef float tg_a8u __attribute__((vector_size(32), aligned(4)));\n\
         static inline tg_f8 tg_a8_to_f8(tg_a8u x) { return x; }\n"
    });
}

/// The header the static sources include (`tg_gemm.h`): everything that varies with the plan.
pub fn header(p: &Program, g: &GemmPlan, cpu: &CpuGemm) -> String {
    let c = &g.c;
    let o = &cpu.opts;
    let ps = paths(c, cpu);
    let acc = C.compute(c.acc);
    let mut s = C.params_decl(&p.params_shape());
    s.push_str(&abi::c_workspace_constants());
    let def = |s: &mut String, name: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(s, "#define {name} {v}");
    };
    def(&mut s, "MR", &o.mr);
    def(&mut s, "NR", &o.nr);
    def(&mut s, "VW", &o.vw);
    def(&mut s, "TG_ACC", &acc);
    def(&mut s, "TG_TA", &C.storage(c.a.1));
    def(&mut s, "TG_TB", &C.storage(c.b.1));
    def(&mut s, "TG_TC", &C.storage(c.out_dtype));
    def(
        &mut s,
        "TG_LOAD_A(x)",
        &format!("(({acc}){})", C.load_cvt(c.a.1, "(x)")),
    );
    def(
        &mut s,
        "TG_LOAD_B(x)",
        &format!("(({acc}){})", C.load_cvt(c.b.1, "(x)")),
    );
    def(&mut s, "TG_STORE_C(x)", &C.store_cvt(c.out_dtype, "(x)"));
    def(&mut s, "TG_ABUF", &c.a.0);
    def(&mut s, "TG_BBUF", &c.b.0);
    def(&mut s, "TG_NBUFS", &p.kernel.buf_dtypes.len());
    for (name, on) in [
        ("TG_TR8", ps.tr8),
        ("TG_VECTOR_PATH", ps.vector),
        ("TG_A_INPLACE", ps.a_inplace),
        ("TG_B_INPLACE", ps.b_inplace),
    ] {
        def(&mut s, name, &u8::from(on));
    }
    def(&mut s, "TG_PACKING_BOTH", &Packing::Both.code());
    def(&mut s, "TG_PACKING_NEITHER", &Packing::Neither.code());
    def(&mut s, "TG_PARALLEL_BARRIER", &Parallel::Barrier.code());
    def(&mut s, "TG_PARALLEL_SHARED", &Parallel::Shared.code());
    def(
        &mut s,
        "TG_PREFETCH_NEXT_MAX_BYTES",
        &PREFETCH_NEXT_MAX_BYTES,
    );
    def(&mut s, "TG_LONG_K", &LONG_K);
    def(&mut s, "TG_SHARED_LOOKAHEAD", &SHARED_LOOKAHEAD);
    def(&mut s, "TG_PREFETCH_LINES", &PREFETCH_LINES_PER_TILE);
    def(&mut s, "TG_COLD_C_BYTES", &COLD_C_BYTES);
    let vb = o.vw * c.acc.itemsize();
    let ity = if c.acc == DType::F64 {
        "int64_t"
    } else {
        "int32_t"
    };
    let _ = write!(
        s,
        "typedef {acc} tg_v __attribute__((vector_size({vb})));\n\
         typedef {acc} tg_vu __attribute__((vector_size({vb}), aligned({al})));\n\
         typedef {ity} tg_vi __attribute__((vector_size({vb})));\n\
         static inline tg_v tg_vrelu(tg_v x) {{ return (tg_v)((tg_vi)(x > 0) & (tg_vi)x); }}\n\
         static inline tg_v tg_vmax(tg_v a, tg_v b) {{ tg_vi m = (tg_vi)(a > b); return (tg_v)((m & (tg_vi)a) | (~m & (tg_vi)b)); }}\n",
        al = c.acc.itemsize(),
    );
    if ps.tr8 {
        tr8_types(&mut s, c.a.1);
    }
    if ps.vec_half {
        // vcvtps2ph with immediate 0 rounds to nearest even, as `tg_f2h` does
        let cvt = if o.vw == 16 {
            "__builtin_ia32_vcvtps2ph512_mask(x, 0, (tg_vh){0}, (unsigned short)-1)"
        } else {
            "__builtin_ia32_vcvtps2ph256(x, 0)"
        };
        let _ = write!(
            s,
            "typedef short tg_vh __attribute__((vector_size({hb})));\n\
             static inline tg_vh tg_v2h(tg_v x) {{ return {cvt}; }}\n",
            hb = 2 * o.vw,
        );
    }
    epilogue(&mut s, c, acc);
    microkernels(&mut s, c, cpu, &ps);
    s
}

/// The epilogue's operands (`tg_epi`, set per batch index by `tg_epi_init`) and its scalar form
/// (`tg_epilogue`: the accumulated value at output (m, n) after the kernel body).
fn epilogue(s: &mut String, c: &Contraction, acc: &str) {
    s.push_str("typedef struct {\n");
    for (i, (_, d)) in c.epi_loads.iter().enumerate() {
        let _ = writeln!(s, "  const {}* p{i}; int64_t sm{i}, sn{i};", C.storage(*d));
    }
    for (i, d) in c.epi_consts.iter().enumerate() {
        let _ = writeln!(s, "  {} k{i};", C.compute(*d));
    }
    s.push_str("  int vec_ok, c_cold;\n} tg_epi;\n");
    s.push_str("static inline void tg_epi_init(tg_epi* e, const tg_gemm_params* P, char** bufs, const int64_t* bidx) {\n  (void)P; (void)bufs; (void)bidx;\n  e->vec_ok = 1;\n  e->c_cold = P->batch * P->m * P->n * (int64_t)sizeof(TG_TC) > TG_COLD_C_BYTES;\n");
    for (i, (buf, d)) in c.epi_loads.iter().enumerate() {
        let o = 3 + i;
        let _ = writeln!(
            s,
            "  e->p{i} = (const {t}*)bufs[{buf}] + {off}; e->sm{i} = P->op[{o}].sm; e->sn{i} = P->op[{o}].sn; e->vec_ok &= (e->sn{i} == 0 || e->sn{i} == 1);",
            t = C.storage(*d),
            off = super::cstyle::operand_offset(o, "bidx"),
        );
    }
    for (i, d) in c.epi_consts.iter().enumerate() {
        let word = format!("P->c[{}]", c.epi_const_base + i);
        let _ = writeln!(s, "  e->k{i} = {};", C.const_load(&word, *d));
    }
    s.push_str("}\n");
    let body = C.expr(
        &c.epilogue,
        "x",
        &mut |i, d| C.load_cvt(d, &format!("e->p{i}[m*e->sm{i} + n*e->sn{i}]")),
        &mut |i, _| format!("e->k{i}"),
    );
    let tag = if c.epi_loads.is_empty() {
        ""
    } else {
        " /* @tg:epi.load */"
    };
    let _ = writeln!(
        s,
        "static inline {acc} tg_epilogue(const tg_epi* e, {acc} x, int64_t m, int64_t n) {{\n  (void)e; (void)m; (void)n;\n  return {body};{tag}\n}}"
    );
}

/// Whether the epilogue can run on whole vectors of accumulators.
fn vector_epilogue(e: &Expr, acc: DType) -> bool {
    match &e.op {
        ExprOp::Acc | ExprOp::Const(_) => true,
        ExprOp::Load { .. } => e.dtype == acc,
        ExprOp::Unary(op, a) => {
            matches!(op, UnaryOp::Neg | UnaryOp::Relu) && e.dtype == acc && vector_epilogue(a, acc)
        }
        ExprOp::Binary(op, a, b) => {
            e.dtype == acc
                && matches!(
                    op,
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max
                )
                && vector_epilogue(a, acc)
                && vector_epilogue(b, acc)
        }
        // selects and comparisons run on the scalar path
        ExprOp::Where(..) => false,
        // a cast between the accumulator type and itself is free; anything else rounds
        ExprOp::Cast(a) => e.dtype == acc && a.dtype == acc && vector_epilogue(a, acc),
    }
}

/// The epilogue on a vector `x` of outputs (m, n..n+VW), `m` and `n` naming index variables.
fn vexpr(e: &Expr, acc: DType, m: &str, n: &str, next: &mut (usize, usize)) -> String {
    let t = C.compute(acc);
    match &e.op {
        ExprOp::Acc => "x".into(),
        ExprOp::Load { .. } => {
            let i = next.0;
            next.0 += 1;
            format!(
                "(e->sn{i} == 0 ? (tg_v){{0}} + ({t})e->p{i}[({m})*e->sm{i}] : *(const tg_vu*)(e->p{i} + ({m})*e->sm{i} + ({n})))"
            )
        }
        ExprOp::Const(_) => {
            next.1 += 1;
            format!("((tg_v){{0}} + e->k{})", next.1 - 1)
        }
        ExprOp::Unary(UnaryOp::Neg, a) => format!("(-{})", vexpr(a, acc, m, n, next)),
        ExprOp::Unary(UnaryOp::Relu, a) => format!("tg_vrelu({})", vexpr(a, acc, m, n, next)),
        ExprOp::Binary(op, a, b) => {
            let (ra, rb) = (vexpr(a, acc, m, n, next), vexpr(b, acc, m, n, next));
            match op {
                BinaryOp::Max => format!("tg_vmax({ra}, {rb})"),
                _ => C.binary(*op, &ra, &rb, acc),
            }
        }
        ExprOp::Cast(a) => vexpr(a, acc, m, n, next),
        // `vector_epilogue` keeps every other op on the scalar path
        ExprOp::Unary(..) | ExprOp::Where(..) => {
            unreachable!("vector_epilogue admits only the ops above")
        }
    }
}

/// Where a microkernel reads its operands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// `ukr`: both packed (aligned panels, unit step).
    Packed,
    /// `ukr_a`: A's rows in place (row stride `lda`), B packed.
    AInPlace,
    /// `ukr_u`: A's and B's rows in place (B loads unaligned, row stride `ldb`).
    InPlace,
}

fn ukr_params(acc: &str, tc: &str) -> String {
    format!(
        "int64_t kc, const {acc}* restrict a, int64_t lda, const {acc}* restrict b, int64_t ldb, \
         {tc}* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, \
         const tg_epi* e, int64_t m, int64_t n"
    )
}

fn microkernels(s: &mut String, c: &Contraction, g: &CpuGemm, ps: &Paths) {
    let (acc, tc) = (C.compute(c.acc), C.storage(c.out_dtype));
    let nv = g.opts.nr / g.opts.vw;
    ukr(s, c, g, ps, Reads::Packed, g.opts.mr, nv);
    // packed edge tiles of at most MR/2 rows run a kernel that computes only MR/2 rows instead
    // of MR rows of which most are zero padding; edge tiles at most one vector wide (the last
    // micro-panel of N = NR*j + 1..VW) compute one vector per row instead of NR/VW
    let edge_rows = g.opts.mr / 2;
    let mut arms = Vec::new();
    if edge_rows >= 2 {
        ukr(s, c, g, ps, Reads::Packed, edge_rows, nv);
        arms.push((format!("mr <= {edge_rows}"), "ukr_h"));
    }
    if nv >= 2 {
        ukr(s, c, g, ps, Reads::Packed, g.opts.mr, 1);
        arms.push((format!("nr <= {}", g.opts.vw), "ukr_n"));
    }
    if arms.is_empty() {
        s.push_str("#define tg_ukr ukr\n");
    } else {
        let args = "kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n";
        let _ = writeln!(
            s,
            "static inline __attribute__((always_inline)) void tg_ukr({}) {{",
            ukr_params(acc, tc)
        );
        for (i, (cond, f)) in arms.iter().enumerate() {
            let kw = if i == 0 { "if" } else { "else if" };
            let _ = writeln!(s, "  {kw} ({cond}) {f}({args});");
        }
        let _ = writeln!(s, "  else ukr({args});\n}}");
    }
    if ps.a_inplace {
        ukr(s, c, g, ps, Reads::AInPlace, g.opts.mr, nv);
    }
    if ps.b_inplace {
        ukr(s, c, g, ps, Reads::InPlace, g.opts.mr, nv);
    }
}

/// One microkernel: `rows` x `nv` vector accumulators over `kc` steps of k, then the store:
/// accumulated into C on later K blocks, the epilogue applied on the last one (on whole vectors
/// for full tiles). `rows` < MR renders `ukr_h`, the kernel of short packed edge tiles, and `nv`
/// < NR/VW `ukr_n`, the kernel of narrow ones.
fn ukr(
    s: &mut String,
    c: &Contraction,
    g: &CpuGemm,
    ps: &Paths,
    reads: Reads,
    rows: usize,
    nv: usize,
) {
    let o = &g.opts;
    let (acc, tc) = (C.compute(c.acc), C.storage(c.out_dtype));
    let full = rows == o.mr && nv == o.nr / o.vw;
    let edge = "static __attribute__((noinline))";
    let (name, inline) = match (full, reads) {
        (false, _) if rows < o.mr => ("ukr_h", edge),
        (false, _) => ("ukr_n", edge),
        (true, Reads::Packed) => ("ukr", "static inline __attribute__((always_inline))"),
        (true, Reads::AInPlace) => ("ukr_a", "static inline __attribute__((always_inline))"),
        (true, Reads::InPlace) => ("ukr_u", "static inline __attribute__((always_inline))"),
    };
    let _ = writeln!(s, "{inline} void {name}({}) {{", ukr_params(acc, tc));
    s.push_str("  (void)lda; (void)ldb;\n");
    let accs: Vec<String> = (0..rows)
        .flat_map(|r| (0..nv).map(move |v| format!("c{r}_{v} = {{0}}")))
        .collect();
    let _ = writeln!(s, "  tg_v {};", accs.join(", "));
    // C's lines are fetched for writing before the K loop, so their misses overlap the FMAs
    // instead of stalling the stores after it: where C holds partial sums, and on the first
    // K block too where C is too big to still be cached from an earlier launch (`c_cold`).
    let when = if ps.c_accumulates {
        "!first || e->c_cold"
    } else {
        "e->c_cold"
    };
    let _ = writeln!(
        s,
        "  if ({when}) for (int r = 0; r < {rows}; r++) for (int v = 0; v < {nv}; v++) __builtin_prefetch(c + r*csm + v*VW*csn, 1);"
    );
    let (a_step, b_step, bty) = match reads {
        Reads::Packed => ("MR", "NR", "tg_v"),
        Reads::AInPlace => ("1", "NR", "tg_v"),
        Reads::InPlace => ("1", "ldb", "tg_vu"),
    };
    let _ = writeln!(
        s,
        "  for (int64_t k = 0; k < kc; k++, a += {a_step}, b += {b_step}) {{"
    );
    for v in 0..nv {
        let _ = writeln!(
            s,
            "    const tg_v b{v} = *(const {bty}*)(b + {}); /* @tg:{name}.b */",
            v * o.vw
        );
    }
    for r in 0..rows {
        let a_at = if reads == Reads::Packed {
            format!("a[{r}]")
        } else {
            format!("a[{r}*lda]")
        };
        let _ = write!(s, "    {{ const {acc} a{r} = {a_at};");
        for v in 0..nv {
            let _ = write!(s, " c{r}_{v} += a{r} * b{v};");
        }
        let _ = writeln!(s, " }} /* @tg:{name}.a */");
    }
    s.push_str("  }\n");
    if (ps.vec_epi || ps.vec_half) && full {
        vector_stores(s, c, o, ps, name, rows, nv);
    }
    let _ = writeln!(s, "  {acc} t[MR*NR] __attribute__((aligned(64)));");
    for r in 0..rows {
        for v in 0..nv {
            let _ = writeln!(
                s,
                "  *(tg_v*)(t + {}) = c{r}_{v}; /* @tg:{name}.spill */",
                r * o.nr + v * o.vw
            );
        }
    }
    let accum = if ps.c_accumulates {
        "if (!first) x += *cp; "
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {{\n\
         \x20   {tc}* cp = c + i*csm + j*csn; {acc} x = t[i*NR + j]; {accum}(void)first; /* @tg:{name}.t */\n\
         \x20   if (last) x = tg_epilogue(e, x, m + i, n + j);\n\
         \x20   *cp = {}; /* @tg:{name}.c */\n  }}\n}}",
        C.store_cvt(c.out_dtype, "x")
    );
}

/// Full tiles with a vectorizable epilogue: each accumulator vector read back (C holds partial
/// sums), the epilogue applied on the last K block, and stored whole (a half C through `tg_v2h`).
fn vector_stores(
    s: &mut String,
    c: &Contraction,
    o: &GemmOpts,
    ps: &Paths,
    name: &str,
    rows: usize,
    nv: usize,
) {
    let (acc, tc) = (C.compute(c.acc), C.storage(c.out_dtype));
    s.push_str("  if (mr == MR && nr == NR && csn == 1 && e->vec_ok) {\n");
    for r in 0..rows {
        for v in 0..nv {
            let off = v * o.vw;
            let mut next = (0, 0);
            let ve = vexpr(&c.epilogue, c.acc, "m_", "n_", &mut next);
            let epi = if next.0 > 0 { " @tg:epi.vload" } else { "" };
            let apply = format!(
                "if (last) {{ const int64_t m_ = m + {r}, n_ = n + {off}; (void)m_; (void)n_; x = {ve}; }}"
            );
            if ps.vec_epi {
                let _ = writeln!(
                    s,
                    "    {{ tg_v x = c{r}_{v}; {acc}* cp = c + {r}*csm + {off}; if (!first) x += *(const tg_vu*)cp; \
                     {apply} *(tg_vu*)cp = x; }} /* @tg:{name}.vc{epi} */"
                );
            } else {
                // C holds no partial sums: one K block, so every tile is first and last
                let _ = writeln!(
                    s,
                    "    {{ tg_v x = c{r}_{v}; {tc}* cp = c + {r}*csm + {off}; (void)first; \
                     {apply} const tg_vh h = tg_v2h(x); __builtin_memcpy(cp, &h, sizeof h); }} /* @tg:{name}.vh{epi} */"
                );
            }
        }
    }
    s.push_str("    return;\n  }\n");
}

/// The whole GEMM program after the prelude: the header, then the static sources.
pub fn render(p: &Program, g: &GemmPlan, cpu: &CpuGemm) -> String {
    let mut s = header(p, g, cpu);
    let vector = paths(&g.c, cpu).vector;
    for (src, on) in [
        (SYNC_C, true),
        (PACK_C, true),
        (VECTOR_C, vector),
        (BLIS_C, true),
    ] {
        if on {
            s.push_str(&inline_source(src));
        }
    }
    s
}

//! What C, CUDA C and Metal share, in the manner of tinygrad's C-style renderer: one table per
//! backend (`Lang`: type names, conversions, infinities, qualifiers, how outputs and reductions
//! map onto threads) and one implementation of everything else: expressions, literals, the
//! loop-program skeleton, parameter declarations, operand offsets and unravelling.

use std::fmt::Write as _;

use crate::abi::{self, ParamsShape, ENTRY, MAX_BATCH};
use crate::codegen::uops::{UOp, Val};
use crate::codegen::Contraction;
use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp, UnaryOp};
use crate::kernel::{Expr, ExprOp};

/// Which family of kernel signature a backend has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `void tgrad_kernel(p, bufs, ws, tid, nth)` (abi::KernelFn).
    Cpu,
    /// `extern "C" __global__ void tgrad_kernel(p, b0, b1, ...)`.
    Cuda,
    /// `kernel void tgrad_kernel(constant p [[buffer(0)]], device b0 [[buffer(1)]], ...)`.
    Metal,
}

/// How a loop program's outputs and reductions map onto threads.
#[derive(Debug, Clone, Copy)]
pub enum Outputs {
    /// The CPU: outputs split evenly over `nth` threads by `tid`, walked with an odometer.
    Partition,
    /// One output per thread, grid-stride: the first index and the stride.
    PerThread(&'static str, &'static str),
}

/// A reduction spread over a warp's lanes (one output per warp), combined with shuffles.
#[derive(Debug, Clone, Copy)]
pub struct WarpReduce {
    /// The output index of this warp, and the stride between a warp's outputs.
    pub output: (&'static str, &'static str),
    pub lane: &'static str,
    pub lanes: u32,
    /// `shuffle(value, offset)`: the value `offset` lanes down.
    pub shuffle: &'static str,
}

/// One backend's table.
#[derive(Debug)]
pub struct Lang {
    pub family: Family,
    pub int64: &'static str,
    pub f16_storage: &'static str,
    pub i32_name: &'static str,
    /// A half in memory to float, float to a half in memory.
    pub half_load: &'static str,
    pub half_store: &'static str,
    pub inf_f32: &'static str,
    pub nan_f32: &'static str,
    pub inf_f64: &'static str,
    pub nan_f64: &'static str,
    pub restrict: &'static str,
    /// Qualifiers of the written and the read buffer pointers.
    pub out_qual: &'static str,
    pub in_qual: &'static str,
    /// Qualifier of the parameter struct pointer.
    pub params_qual: &'static str,
    /// Qualifier of pointers to a thread's own variables.
    pub local_qual: &'static str,
    /// Qualifiers of a helper function.
    pub fn_qual: &'static str,
    /// The bits of an f32 (as a 32-bit int) and of an f64 (a 64-bit int) to the float.
    pub f32_bits: &'static str,
    pub f64_bits: &'static str,
    /// A GPU block's (threadgroup's) index along x, y, z, and the grid's size along z.
    pub block_id: [&'static str; 3],
    pub grid_z: &'static str,
    pub outputs: Outputs,
    pub warp: Option<WarpReduce>,
    /// The type float sums accumulate in (None: float, compensated), so their error does not
    /// grow with their length.
    pub wide_sum: Option<&'static str>,
    /// The bool type (storage and compute).
    pub bool_name: &'static str,
    /// How a math function (`exp2`, `log2`, `sqrt`, `sin`, `trunc`, `pow`) is spelled for
    /// float and for double: (prefix, suffix) around the C name.
    pub math_f32: (&'static str, &'static str),
    pub math_f64: (&'static str, &'static str),
}

impl Lang {
    /// The type of a dtype in memory.
    pub fn storage(&self, d: DType) -> &'static str {
        match d {
            DType::Bool => self.bool_name,
            DType::F16 => self.f16_storage,
            DType::F32 => "float",
            DType::F64 => "double",
            DType::I32 => self.i32_name,
        }
    }

    /// The math function `name` for values computed as `d` (half and float use the float one).
    pub fn math(&self, name: &str, d: DType) -> String {
        let (pre, suf) = if d == DType::F64 {
            self.math_f64
        } else {
            self.math_f32
        };
        format!("{pre}{name}{suf}")
    }

    /// The type a dtype computes in (half in float).
    pub fn compute(&self, d: DType) -> &'static str {
        self.storage(d.compute())
    }

    /// A loaded value converted to its compute type.
    pub fn load_cvt(&self, d: DType, x: &str) -> String {
        if d == DType::F16 {
            format!("{}({x})", self.half_load)
        } else {
            x.to_string()
        }
    }

    /// A computed value converted for storing as `d`.
    pub fn store_cvt(&self, d: DType, x: &str) -> String {
        if d == DType::F16 {
            format!("{}({x})", self.half_store)
        } else {
            x.to_string()
        }
    }

    /// A constant of dtype `d`, exactly representable (rounded to `d` first; values beyond the
    /// dtype's range are its infinities).
    pub fn literal(&self, v: f64, d: DType) -> String {
        let special = |x: f64, inf: &str, nan: &str| {
            if x.is_nan() {
                Some(nan.to_string())
            } else if x.is_infinite() {
                Some(if x > 0.0 {
                    inf.to_string()
                } else {
                    format!("(-{inf})")
                })
            } else {
                None
            }
        };
        match d {
            DType::Bool => format!("{}", u8::from(v != 0.0)),
            DType::I32 => format!("{}", v as i64 as i32),
            DType::F64 => {
                special(v, self.inf_f64, self.nan_f64).unwrap_or_else(|| format!("{v:e}"))
            }
            DType::F16 | DType::F32 => {
                let r = if d == DType::F16 {
                    f64::from(crate::dtype::f16_bits_to_f32(
                        crate::dtype::f32_to_f16_bits(v as f32),
                    ))
                } else {
                    f64::from(v as f32)
                };
                special(r, self.inf_f32, self.nan_f32).unwrap_or_else(|| format!("{r:e}f"))
            }
        }
    }

    /// A unary op on `x`, computed as `d`.
    pub fn unary(&self, op: UnaryOp, x: &str, d: DType) -> String {
        let f = |name: &str| format!("{}({x})", self.math(name, d.compute()));
        match op {
            UnaryOp::Neg => format!("(-{x})"),
            UnaryOp::Relu => format!("({x} > 0 ? {x} : 0)"),
            UnaryOp::Exp2 => f("exp2"),
            UnaryOp::Log2 => f("log2"),
            UnaryOp::Sqrt => f("sqrt"),
            UnaryOp::Sin => f("sin"),
            UnaryOp::Trunc => f("trunc"),
            UnaryOp::Recip => format!("(1 / {x})"),
        }
    }

    /// A binary op on `a` and `b` computed as `d` (the operands' dtype).
    pub fn binary(&self, op: BinaryOp, a: &str, b: &str, d: DType) -> String {
        match op {
            BinaryOp::Add => format!("({a} + {b})"),
            BinaryOp::Sub => format!("({a} - {b})"),
            BinaryOp::Mul => format!("({a} * {b})"),
            BinaryOp::Div if d == DType::I32 => format!("({b} == 0 ? 0 : {a} / {b})"),
            BinaryOp::Div => format!("({a} / {b})"),
            BinaryOp::Max => format!("({a} > {b} ? {a} : {b})"),
            BinaryOp::Pow => format!("{}({a}, {b})", self.math("pow", d.compute())),
            BinaryOp::CmpLt => format!("({a} < {b})"),
            BinaryOp::CmpEq => format!("({a} == {b})"),
            BinaryOp::CmpNe => format!("({a} != {b})"),
        }
    }

    pub(crate) fn cast(&self, x: &str, from: DType, to: DType) -> String {
        match to {
            DType::F16 => format!("tg_hround((float)({x}))"),
            // any non-zero value (NaN too) is true, as numpy and tinygrad cast
            DType::Bool => format!("(({x}) != 0)"),
            _ if from.compute() == to.compute() => x.to_string(),
            _ => format!("(({}){x})", self.compute(to)),
        }
    }

    /// A constant parameter word (`abi::const_word`, the expression `word`) as a value of
    /// `dtype`'s compute type.
    pub fn const_load(&self, word: &str, dtype: DType) -> String {
        match dtype {
            DType::Bool => format!("(({})({word}))", self.bool_name),
            DType::I32 => format!("(({})({word}))", self.i32_name),
            DType::F64 => format!("{}({word})", self.f64_bits),
            DType::F16 | DType::F32 => format!("{}(({})({word}))", self.f32_bits, self.i32_name),
        }
    }

    /// An expression as one C expression: `acc` names the accumulator, `load(i, dtype)` renders
    /// the i-th load and `konst(i, dtype)` the i-th constant (each in pre-order).
    pub fn expr(
        &self,
        e: &Expr,
        acc: &str,
        load: &mut dyn FnMut(usize, DType) -> String,
        konst: &mut dyn FnMut(usize, DType) -> String,
    ) -> String {
        let mut next = (0, 0);
        self.expr_at(e, acc, load, konst, &mut next)
    }

    fn expr_at(
        &self,
        e: &Expr,
        acc: &str,
        load: &mut dyn FnMut(usize, DType) -> String,
        konst: &mut dyn FnMut(usize, DType) -> String,
        next: &mut (usize, usize),
    ) -> String {
        let mut sub = |x: &Expr, next: &mut (usize, usize)| self.expr_at(x, acc, load, konst, next);
        match &e.op {
            ExprOp::Acc => acc.to_string(),
            ExprOp::Load { .. } => {
                next.0 += 1;
                load(next.0 - 1, e.dtype)
            }
            ExprOp::Const(_) => {
                next.1 += 1;
                konst(next.1 - 1, e.dtype)
            }
            ExprOp::Unary(op, a) => self.unary(*op, &sub(a, next), e.dtype),
            ExprOp::Binary(op, a, b) => {
                let ra = sub(a, next);
                let rb = sub(b, next);
                self.binary(*op, &ra, &rb, a.dtype)
            }
            ExprOp::Where(c, a, b) => {
                let rc = sub(c, next);
                let ra = sub(a, next);
                let rb = sub(b, next);
                format!("({rc} ? {ra} : {rb})")
            }
            ExprOp::Cast(a) => self.cast(&sub(a, next), a.dtype, e.dtype),
        }
    }

    /// The line defining a value micro-op (`const T vN = ...;`), or None for control flow and
    /// accumulators. `load(buf, slot, dtype)` renders a load; constants read parameter slots.
    pub fn value_line(
        &self,
        u: &UOp,
        load: &mut dyn FnMut(usize, usize, DType) -> String,
    ) -> Option<String> {
        let one = |op: ExprOp, d: DType| Expr::new(op, d);
        let operand = |d: DType| {
            Box::new(one(
                ExprOp::Load {
                    buf: 0,
                    view: crate::shape::View::contiguous(&[]),
                },
                d,
            ))
        };
        let mut no_consts =
            |_: usize, _: DType| -> String { unreachable!("one-op expressions hold no constant") };
        let (out, dtype, text) = match u {
            UOp::Load {
                out,
                buf,
                slot,
                dtype,
            } => (*out, *dtype, load(*buf, *slot, *dtype)),
            UOp::Const {
                out, slot, dtype, ..
            } => (
                *out,
                *dtype,
                self.const_load(&format!("P->c[{slot}]"), *dtype),
            ),
            UOp::Unary {
                out,
                op,
                src,
                dtype,
            } => {
                let e = one(ExprOp::Unary(*op, operand(*dtype)), *dtype);
                (
                    *out,
                    *dtype,
                    self.expr(&e, "", &mut |_, _| val(*src), &mut no_consts),
                )
            }
            UOp::Binary {
                out,
                op,
                a,
                b,
                dtype,
            } => (*out, *dtype, self.binary(*op, &val(*a), &val(*b), *dtype)),
            UOp::Where {
                out,
                c,
                a,
                b,
                dtype,
            } => (
                *out,
                *dtype,
                format!("({} ? {} : {})", val(*c), val(*a), val(*b)),
            ),
            UOp::Cast { out, src, from, to } => {
                let e = one(ExprOp::Cast(operand(*from)), *to);
                (
                    *out,
                    *to,
                    self.expr(&e, "", &mut |_, _| val(*src), &mut no_consts),
                )
            }
            _ => return None,
        };
        Some(format!(
            "const {} {} = {text};",
            self.compute(dtype),
            val(out)
        ))
    }

    /// The identity an accumulator starts from (INT32_MIN for an int max, spelled without a
    /// header).
    pub fn acc_identity(&self, op: ReduceOp, dtype: DType) -> String {
        match (op, dtype) {
            (ReduceOp::Max, DType::I32) => "(-2147483647 - 1)".to_string(),
            (ReduceOp::Sum, d) => self.literal(0.0, d.compute()),
            (ReduceOp::Max, d) => self.literal(f64::NEG_INFINITY, d.compute()),
        }
    }

    /// The kernel's opening line(s): its signature and, for the CPU, typed buffer pointers.
    pub fn kernel_open(&self, bufs: &[DType], block_threads: u32, extra: &str) -> String {
        let r = self.restrict;
        let mut s = String::new();
        match self.family {
            Family::Cpu => {
                let _ = writeln!(s, "void {ENTRY}(const int64_t* {r} p, char** {r} bufs, char* {r} ws, int64_t tid, int64_t nth) {{");
                s.push_str("  (void)ws; (void)tid; (void)nth;\n");
                for (i, d) in bufs.iter().enumerate() {
                    let q = if i == 0 { self.out_qual } else { self.in_qual };
                    let _ = writeln!(
                        s,
                        "  {q}{t}* {r} b{i} = ({q}{t}*)bufs[{i}];",
                        t = self.storage(*d)
                    );
                }
            }
            Family::Cuda => {
                let _ = write!(s, "extern \"C\" __global__ void __launch_bounds__({block_threads}) {ENTRY}(const long long* {r} p");
                for (i, d) in bufs.iter().enumerate() {
                    let q = if i == 0 { self.out_qual } else { self.in_qual };
                    let _ = write!(s, ", {q}{}* {r} b{i}", self.storage(*d));
                }
                let _ = writeln!(s, "{extra}) {{");
            }
            Family::Metal => {
                let _ = write!(s, "kernel void {ENTRY}(constant long* p [[buffer(0)]]");
                for (i, d) in bufs.iter().enumerate() {
                    let q = if i == 0 { self.out_qual } else { self.in_qual };
                    let _ = write!(s, ", {q}{}* b{i} [[buffer({})]]", self.storage(*d), i + 1);
                }
                let _ = writeln!(s, "{extra}) {{");
            }
        }
        s
    }

    /// The parameter struct's declarations and the typed pointer `P` to it.
    pub fn params_decl(&self, shape: &ParamsShape) -> String {
        abi::c_declarations(self.int64, shape)
    }

    pub fn params_pointer(&self, shape: &ParamsShape) -> String {
        let name = match shape {
            ParamsShape::Gemm { .. } => abi::GEMM_PARAMS_C,
            ParamsShape::Loop { .. } => abi::LOOP_PARAMS_C,
        };
        format!("  {q}{name}* P = ({q}{name}*)p;\n", q = self.params_qual)
    }

    /// Statements setting `{out}[0..MAX_BATCH]` (declared here) to batch index `flat` unravelled
    /// over the GEMM's batch dims.
    pub fn batch_index(&self, out: &str, flat: &str, pad: &str) -> String {
        format!(
            "{pad}{i} {out}[{MAX_BATCH}];\n{pad}{{ {i} r = {flat}; for (int d = {last}; d >= 0; d--) {{ {out}[d] = r % P->batch_dims[d]; r /= P->batch_dims[d]; }} }}\n",
            i = self.int64,
            last = MAX_BATCH - 1
        )
    }
}

/// GPU GEMMs: the epilogue's operands (`tg_epi`) and `tg_store`, which applies the epilogue to
/// the accumulated value `x` of output (m, n) and stores it into C.
pub fn gpu_epilogue(lang: &Lang, c: &Contraction) -> String {
    let (acc, int) = (lang.compute(c.acc), lang.int64);
    let mut s = String::from("typedef struct {\n");
    for (i, (_, d)) in c.epi_loads.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {}{}* p{i}; {int} sm{i}, sn{i};",
            lang.in_qual,
            lang.storage(*d)
        );
    }
    for (i, d) in c.epi_consts.iter().enumerate() {
        let _ = writeln!(s, "  {} k{i};", lang.compute(*d));
    }
    s.push_str("  int unused;\n} tg_epi;\n");
    let body = lang.expr(
        &c.epilogue,
        "x",
        &mut |i, d| lang.load_cvt(d, &format!("e->p{i}[m*e->sm{i} + n*e->sn{i}]")),
        &mut |i, _| format!("e->k{i}"),
    );
    let _ = writeln!(
        s,
        "{} void tg_store({}{}* {r} C, {int} csm, {int} csn, {}const tg_epi* e, {int} m, {int} n, {acc} x) {{\n  (void)e;\n  C[m*csm + n*csn] = {};\n}}",
        lang.fn_qual,
        lang.out_qual,
        lang.storage(c.out_dtype),
        lang.local_qual,
        lang.store_cvt(c.out_dtype, &body),
        r = lang.restrict,
    );
    s
}

/// GPU GEMMs: after the kernel's opening line, the sizes, this block's tile origin (m0, n0),
/// the loop over batch indices (left open) and, per batch index, the operands' pointers and
/// strides (C, A, B, and the epilogue's `e`).
pub fn gpu_gemm_open(lang: &Lang, c: &Contraction, bm: u32, bn: u32) -> String {
    let (int, r) = (lang.int64, lang.restrict);
    let [bx, by, bz] = lang.block_id;
    let mut s = lang.params_pointer(&ParamsShape::Gemm {
        operands: c.operands.len(),
        consts: c.const_words.len(),
    });
    let _ = writeln!(s, "  const {int} M = P->m, N = P->n, K = P->k;");
    let _ = writeln!(
        s,
        "  const {int} m0 = ({int}){by} * {bm}, n0 = ({int}){bx} * {bn};"
    );
    let _ = writeln!(
        s,
        "  for ({int} tg_b = {bz}; tg_b < P->batch; tg_b += {}) {{",
        lang.grid_z
    );
    s.push_str(&lang.batch_index("tg_bi", "tg_b", "    "));
    let (o, i) = (lang.out_qual, lang.in_qual);
    let _ = writeln!(
        s,
        "    {o}{}* {r} C = b0 + {}; const {int} csm = P->op[0].sm, csn = P->op[0].sn;",
        lang.storage(c.out_dtype),
        operand_offset(0, "tg_bi")
    );
    let _ = writeln!(
        s,
        "    {i}{}* {r} A = b{} + {}; const {int} asm_ = P->op[1].sm, ask = P->op[1].sk;",
        lang.storage(c.a.1),
        c.a.0,
        operand_offset(1, "tg_bi")
    );
    let _ = writeln!(
        s,
        "    {i}{}* {r} B = b{} + {}; const {int} bsn = P->op[2].sn, bsk = P->op[2].sk;",
        lang.storage(c.b.1),
        c.b.0,
        operand_offset(2, "tg_bi")
    );
    s.push_str("    tg_epi e; e.unused = 0;\n");
    for (k, (buf, _)) in c.epi_loads.iter().enumerate() {
        let o = 3 + k;
        let _ = writeln!(
            s,
            "    e.p{k} = b{buf} + {}; e.sm{k} = P->op[{o}].sm; e.sn{k} = P->op[{o}].sn;",
            operand_offset(o, "tg_bi")
        );
    }
    for (i, d) in c.epi_consts.iter().enumerate() {
        let word = format!("P->c[{}]", c.epi_const_base + i);
        let _ = writeln!(s, "    e.k{i} = {};", lang.const_load(&word, *d));
    }
    s
}

/// The element offset of GEMM operand `o` at batch index `idx` (an array of MAX_BATCH).
pub fn operand_offset(o: usize, idx: &str) -> String {
    let mut e = format!("P->op[{o}].offset");
    for d in 0..MAX_BATCH {
        let _ = write!(e, " + {idx}[{d}]*P->op[{o}].sb[{d}]");
    }
    e
}

/// The name of a micro-op value in rendered source.
pub fn val(x: Val) -> String {
    format!("v{}", x.0)
}

/// The statement folding `src` into accumulator `acc` (a max keeps NaN).
pub fn accumulate(acc: &str, op: ReduceOp, src: &str) -> String {
    match op {
        ReduceOp::Sum => format!("{acc} += {src};"),
        ReduceOp::Max => format!("{acc} = ({src} > {acc} || {src} != {src}) ? {src} : {acc};"),
    }
}

//! The one loop skeleton of every backend: each output (a flat index over the kept dims) is
//! assigned to a thread (or a warp), unravelled into `i{d}`, its reduction looped (or spread over
//! a warp's lanes and combined with shuffles), and stored. The backend's `Lang` says how outputs
//! map onto threads; everything else is shared.

use std::fmt::Write as _;

use super::cstyle::{accumulate, val, Lang, Outputs, WarpReduce};
use crate::codegen::uops::{RangeKind, UOp, Val};
use crate::codegen::{LoopPlan, Program};
use crate::dtype::DType;
use crate::graph::ReduceOp;

/// Threads per block of GPU loop programs without a reduction, and outputs (warps) per block
/// with one.
pub const LOOP_THREADS: u32 = 256;
pub const REDUCE_WARPS: u32 = 8;

/// Statements declaring `i{d}` for `dims` from the flat index `flat` (the last dim varies
/// fastest); `mutable` declares them assignable (the CPU's odometer).
fn unravel(s: &mut String, pad: &str, int: &str, flat: &str, dims: &[usize], mutable: bool) {
    let c = if mutable { "" } else { "const " };
    if dims.len() == 1 {
        let _ = writeln!(s, "{pad}{c}{int} i{} = {flat};", dims[0]);
        return;
    }
    let _ = writeln!(
        s,
        "{pad}{int} tg_r{} = {flat};",
        dims.first().map_or(0, |d| *d)
    );
    let r = format!("tg_r{}", dims.first().map_or(0, |d| *d));
    for (j, d) in dims.iter().enumerate().rev() {
        if j == 0 {
            let _ = writeln!(s, "{pad}{c}{int} i{d} = {r};");
        } else {
            let _ = writeln!(s, "{pad}{c}{int} i{d} = {r} % P->n[{d}]; {r} /= P->n[{d}];");
        }
    }
    if dims.is_empty() {
        let _ = writeln!(s, "{pad}(void){r};");
    }
}

fn product(dims: &[usize]) -> String {
    if dims.is_empty() {
        "1".into()
    } else {
        dims.iter()
            .map(|d| format!("P->n[{d}]"))
            .collect::<Vec<_>>()
            .join(" * ")
    }
}

/// A loop program's source, written micro-op by micro-op.
struct Writer<'a> {
    lang: &'a Lang,
    s: String,
    pad: String,
    outer: Vec<usize>,
    reduce: &'a [usize],
    warp: Option<WarpReduce>,
    /// Dims open now (the kept dims, then the reduce dims entered).
    open: Vec<usize>,
    accs: Vec<(Val, ReduceOp, DType)>,
}

/// The source of a loop program for `lang` (`extra_params`: the kernel's backend-specific
/// parameters, Metal's thread-position attributes).
pub fn render_loops(lang: &Lang, p: &Program, plan: &LoopPlan, extra_params: &str) -> String {
    let k = &p.kernel;
    let outer: Vec<usize> = (0..k.full_shape.len())
        .filter(|d| !k.reduce_axes.contains(d))
        .collect();
    let warp = lang.warp.filter(|_| !k.reduce_axes.is_empty());
    let mut w = Writer {
        lang,
        s: String::new(),
        pad: "    ".into(),
        open: outer.clone(),
        outer,
        reduce: &k.reduce_axes,
        warp,
        accs: vec![],
    };
    w.open_kernel(p, extra_params);
    for u in &plan.uops {
        w.uop(u);
    }
    w.close_kernel()
}

impl Writer<'_> {
    fn open_kernel(&mut self, p: &Program, extra_params: &str) {
        let (lang, int) = (self.lang, self.lang.int64);
        let shape = p.params_shape();
        let block = if self.warp.is_some() {
            32 * REDUCE_WARPS
        } else {
            LOOP_THREADS
        };
        self.s = lang.params_decl(&shape);
        self.s
            .push_str(&lang.kernel_open(&p.kernel.buf_dtypes, block, extra_params));
        self.s.push_str(&lang.params_pointer(&shape));
        let s = &mut self.s;
        let _ = writeln!(s, "  const {int} tg_outs = {};", product(&self.outer));
        match (lang.outputs, self.warp) {
            (_, Some(w)) => {
                let _ = writeln!(s, "  const {int} tg_reds = {};", product(self.reduce));
                let _ = writeln!(s, "  const int tg_lane = {};", w.lane);
                let _ = writeln!(
                    s,
                    "  for ({int} tg_o = {}; tg_o < tg_outs; tg_o += {}) {{",
                    w.output.0, w.output.1
                );
                unravel(s, &self.pad, int, "tg_o", &self.outer, false);
            }
            (Outputs::PerThread(first, stride), None) => {
                let _ = writeln!(
                    s,
                    "  for ({int} tg_o = {first}; tg_o < tg_outs; tg_o += {stride}) {{"
                );
                unravel(s, &self.pad, int, "tg_o", &self.outer, false);
            }
            (Outputs::Partition, None) => {
                let _ = writeln!(
                    s,
                    "  const {int} tg_lo = tg_outs * tid / nth, tg_hi = tg_outs * (tid + 1) / nth;"
                );
                unravel(s, "  ", int, "tg_lo", &self.outer, true);
                s.push_str("  for (int64_t tg_o = tg_lo; tg_o < tg_hi; tg_o++) {\n");
            }
        }
    }

    fn index(&self, slot: usize) -> String {
        let mut e = format!("P->v[{slot}].offset");
        for &d in &self.open {
            let _ = write!(e, " + i{d}*P->v[{slot}].st[{d}]");
        }
        e
    }

    /// The access-site tag of the CPU's loops (`certify` binds its loop obligations to them).
    fn tag(&self, name: &str) -> String {
        if matches!(self.lang.outputs, Outputs::Partition) {
            format!(" /* @tg:{name} */")
        } else {
            String::new()
        }
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.s, "{}{text}", self.pad);
    }

    fn uop(&mut self, u: &UOp) {
        let lang = self.lang;
        match u {
            UOp::Range { kind, .. } if *kind != RangeKind::Reduce => {}
            UOp::Range { dim, .. } => self.open_reduce(*dim),
            UOp::EndRange { dim } if self.reduce.contains(dim) => self.close_reduce(*dim),
            UOp::EndRange { .. } => {}
            UOp::DefineAcc { out, op, dtype } => {
                let a = val(*out);
                let (ty, identity) = (self.acc_type(*op, *dtype), lang.acc_identity(*op, *dtype));
                let line = if self.compensated(*op, *dtype) {
                    format!("{ty} {a} = {identity}, {a}_c = {identity};")
                } else {
                    format!("{ty} {a} = {identity};")
                };
                self.line(&line);
                self.accs.push((*out, *op, *dtype));
            }
            UOp::Accumulate { acc, op, src } => {
                let d = self
                    .accs
                    .iter()
                    .find(|(a, _, _)| a == acc)
                    .map_or(DType::I32, |x| x.2);
                let (a, x) = (val(*acc), val(*src));
                let line = if self.compensated(*op, d) {
                    // Kahan: `_c` holds the low-order part each addition lost; once the sum is
                    // infinite or NaN there is nothing to compensate (inf - inf would make NaN)
                    format!("{{ const float tg_y = {x} - {a}_c; const float tg_t = {a} + tg_y; {a}_c = (tg_t - tg_t == 0) ? (tg_t - {a}) - tg_y : 0.0f; {a} = tg_t; }}")
                } else {
                    accumulate(&a, *op, &x)
                };
                self.line(&line);
            }
            UOp::Store { src, dtype } => {
                // the accumulated value is rounded to the reduction's dtype when it is read
                let x = self.accs.iter().find(|(a, _, _)| a == src).map_or_else(
                    || val(*src),
                    |(a, op, d)| {
                        let v = if self.compensated(*op, *d) {
                            format!("({} - {}_c)", val(*a), val(*a))
                        } else {
                            val(*a)
                        };
                        let from = if self.wide(*op, *d) {
                            DType::F64
                        } else {
                            d.compute()
                        };
                        lang.cast(&v, from, *d)
                    },
                );
                let line = format!(
                    "b0[{}] = {};{}",
                    self.index(0),
                    lang.store_cvt(*dtype, &x),
                    self.tag("loop.store")
                );
                self.line(&line);
            }
            _ => {
                let mut load = |buf: usize, slot: usize, d: DType| {
                    lang.load_cvt(d, &format!("b{buf}[{}]", self.index(slot)))
                };
                if let Some(line) = lang.value_line(u, &mut load) {
                    let tag = if matches!(u, UOp::Load { .. }) {
                        self.tag("loop.load")
                    } else {
                        String::new()
                    };
                    self.line(&format!("{line}{tag}"));
                }
            }
        }
    }

    /// Whether a reduction accumulates in a wider type than its dtype computes in (float sums
    /// in double, where the backend has one: the error stays below float's rounding for any
    /// length up to 2^31).
    fn wide(&self, op: ReduceOp, d: DType) -> bool {
        op == ReduceOp::Sum && matches!(d, DType::F16 | DType::F32) && self.lang.wide_sum.is_some()
    }

    /// Whether a float sum is compensated (Kahan) instead, on backends without a wider type.
    fn compensated(&self, op: ReduceOp, d: DType) -> bool {
        op == ReduceOp::Sum && matches!(d, DType::F16 | DType::F32) && self.lang.wide_sum.is_none()
    }

    fn acc_type(&self, op: ReduceOp, d: DType) -> &'static str {
        match self.lang.wide_sum {
            Some(t) if self.wide(op, d) => t,
            _ => self.lang.compute(d),
        }
    }

    fn open_reduce(&mut self, dim: usize) {
        let int = self.lang.int64;
        if let Some(w) = self.warp {
            // the first reduce range opens the lanes' loop over the flattened reduction
            if self.open.len() == self.outer.len() {
                self.line(&format!(
                    "for ({int} tg_ri = tg_lane; tg_ri < tg_reds; tg_ri += {}) {{",
                    w.lanes
                ));
                self.pad.push_str("  ");
                unravel(&mut self.s, &self.pad, int, "tg_ri", self.reduce, false);
            }
        } else {
            self.line(&format!(
                "for ({int} i{dim} = 0; i{dim} < P->n[{dim}]; i{dim}++) {{"
            ));
            self.pad.push_str("  ");
        }
        self.open.push(dim);
    }

    fn close_reduce(&mut self, dim: usize) {
        self.open.retain(|d| *d != dim);
        let all_closed = self.open.len() == self.outer.len();
        if self.warp.is_none() || all_closed {
            self.pad.truncate(self.pad.len() - 2);
            self.line("}");
        }
        if let (Some(w), true) = (self.warp, all_closed) {
            for (a, op, d) in self.accs.clone() {
                let comb = accumulate(&val(a), op, "tg_x");
                let line = format!(
                    "for (int tg_s = {}; tg_s > 0; tg_s >>= 1) {{ const {} tg_x = {}({}, tg_s); {comb} }}",
                    w.lanes / 2,
                    self.acc_type(op, d),
                    w.shuffle,
                    val(a)
                );
                self.line(&line);
            }
            self.line("if (tg_lane == 0) {");
            self.pad.push_str("  ");
        }
    }

    fn close_kernel(mut self) -> String {
        if self.warp.is_some() {
            self.s.push_str("    }\n");
        }
        if let (Outputs::Partition, None) = (self.lang.outputs, self.warp) {
            self.s.push_str(&odometer(&self.outer));
        }
        self.s.push_str("  }\n}\n");
        self.s
    }
}

/// The CPU's step to the next output: the innermost kept dim advances, carrying outwards.
fn odometer(outer: &[usize]) -> String {
    let mut s = String::new();
    let mut close = 0;
    for (j, d) in outer.iter().enumerate().rev() {
        if j == 0 {
            let _ = write!(s, "    i{d}++;");
        } else {
            let _ = write!(s, "    if (++i{d} == P->n[{d}]) {{ i{d} = 0;");
            close += 1;
        }
        s.push('\n');
    }
    if close > 0 {
        let _ = writeln!(s, "    {}", "}".repeat(close));
    }
    s
}

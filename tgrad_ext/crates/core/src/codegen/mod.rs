//! From a kernel AST to a program description for a target: simplify the index space, pick a
//! strategy (generic loops as micro-ops, or a contraction planned as a GEMM for the target), and
//! choose its parameters. Everything chosen here is data, printed at TGRAD_DEBUG>=2.
//!
//! `plan` is the whole pipeline of this stage, in order:
//! 1. `fold::constant_reductions`: reductions over axes their source does not vary along fold;
//!    `simplify`: merge dims every view walks contiguously, drop size-1 dims;
//! 2. `kernel::verify`: the simplified AST is well formed;
//! 3. `Contraction::recognise`: is it a GEMM (target-free)?
//! 4. the target's GEMM plan (`CpuGemm` blocking, or a `GpuTile`), or `uops::linearize` for loops;
//! 5. `uops::verify` on loop programs.

pub mod contraction;
pub mod cpu_gemm;
pub mod fold;
pub mod gpu_gemm;
pub mod search;
pub mod uops;
pub mod verify;

use crate::abi::{GemmParams, LoopParams, ParamsShape};
use crate::error::{Error, Result};
use crate::flags::{self, Flag};
use crate::kernel::Kernel;
use crate::shape::View;
use crate::target::Target;

pub use contraction::Contraction;
pub use cpu_gemm::{CpuGemm, Tuning};
pub use gpu_gemm::GpuTile;
pub use uops::UOp;

/// How a contraction is computed on its target.
#[derive(Debug, Clone, PartialEq)]
pub enum GemmSchedule {
    Cpu(CpuGemm),
    Gpu(GpuTile),
}

/// A contraction with the target's plan for it.
#[derive(Debug, Clone, PartialEq)]
pub struct GemmPlan {
    pub c: Contraction,
    pub schedule: GemmSchedule,
}

impl GemmPlan {
    /// The CPU plan (None on a GPU target).
    pub fn cpu(&self) -> Option<&CpuGemm> {
        match &self.schedule {
            GemmSchedule::Cpu(g) => Some(g),
            GemmSchedule::Gpu(_) => None,
        }
    }

    pub fn gpu(&self) -> Option<&GpuTile> {
        match &self.schedule {
            GemmSchedule::Gpu(t) => Some(t),
            GemmSchedule::Cpu(_) => None,
        }
    }

    pub fn params(&self) -> GemmParams {
        let header = match &self.schedule {
            GemmSchedule::Cpu(g) => g.header(&self.c),
            GemmSchedule::Gpu(_) => self.c.header(),
        };
        GemmParams {
            header,
            operands: self.c.operands.clone(),
            consts: self.c.const_words.clone(),
        }
    }
}

/// A loop program: micro-ops and, on the CPU, the threads it is split over.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopPlan {
    pub uops: Vec<UOp>,
    pub threads: usize,
}

/// How a kernel runs.
// one `Strategy` per planned kernel, never stored in bulk: boxing the plan would buy nothing
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Loops over the full shape, written as micro-ops.
    Loops(LoopPlan),
    /// A contraction with a fused epilogue.
    Gemm(GemmPlan),
}

/// A kernel ready to render for its target, with the run-time parameters of this instance.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: String,
    /// Identifies the rendered source up to run-time parameters (the in-memory cache key).
    pub signature: String,
    pub kernel: Kernel,
    pub target: Target,
    pub strategy: Strategy,
    /// The parameter words (`abi::GemmParams` or `abi::LoopParams`).
    pub params: Vec<i64>,
}

impl Program {
    /// What the parameter struct looks like, for its C declaration.
    pub fn params_shape(&self) -> ParamsShape {
        let consts = self.kernel.consts().len();
        match &self.strategy {
            Strategy::Gemm(g) => ParamsShape::Gemm {
                operands: g.c.operands.len(),
                consts,
            },
            Strategy::Loops(_) => ParamsShape::Loop {
                rank: self.kernel.full_shape.len(),
                views: 1 + self.kernel.loads().len(),
                consts,
            },
        }
    }

    pub fn flops(&self) -> f64 {
        match &self.strategy {
            Strategy::Gemm(g) => g.c.flops(),
            Strategy::Loops(_) => self.kernel.full_shape.iter().product::<usize>() as f64,
        }
    }

    /// The loop parameters (None for GEMMs).
    pub fn loop_params(&self) -> Option<LoopParams> {
        let ParamsShape::Loop {
            rank,
            views,
            consts,
        } = self.params_shape()
        else {
            return None;
        };
        LoopParams::from_words(&self.params, rank, views, consts)
    }
}

/// Merge neighbouring dims that every view walks contiguously (never a reduced dim with a
/// kept one) and drop size-1 dims: fewer loops, and one program serves many shapes.
pub fn simplify(kernel: &Kernel) -> Kernel {
    let mut views: Vec<View> = vec![kernel.out_view()];
    views.extend(kernel.loads().into_iter().map(|(_, v)| v.clone()));
    let red = &kernel.reduce_axes;
    let (merged, groups) = View::merge_dims(&views, |a, b| red.contains(&a) != red.contains(&b));
    let mut out = kernel.clone();
    out.full_shape.clone_from(&merged[0].shape);
    if kernel.store.is_some() {
        out.store = Some(merged[0].clone());
    }
    out.reduce_axes = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| red.contains(&g[0]))
        .map(|(i, _)| i)
        .collect();
    let mut next = 1;
    out.map_views(|_| {
        let v = merged[next].clone();
        next += 1;
        v
    });
    out
}

/// TGRAD_GEMM_TUNING, parsed once: None when unset; an error names the setting and the problem
/// (a tuning no accumulator type can run on this host is refused here, before any GEMM).
pub fn forced_tuning() -> Result<Option<Tuning>> {
    static FORCED: std::sync::OnceLock<Result<Option<Tuning>>> = std::sync::OnceLock::new();
    FORCED
        .get_or_init(|| {
            let Some(s) = flags::text("GEMM_TUNING") else {
                return Ok(None);
            };
            let bad = |why: String| {
                Error::InvalidArgument(format!("TGRAD_GEMM_TUNING={s:?} is not valid: {why}"))
            };
            let t = Tuning::parse(s).map_err(bad)?;
            let isa = crate::target::VectorIsa::detect();
            t.check(crate::dtype::DType::F32, isa)
                .or_else(|_| t.check(crate::dtype::DType::F64, isa))
                .map_err(bad)?;
            Ok(Some(t))
        })
        .clone()
}

/// Plan a kernel for `target` (a CPU GEMM forced by TGRAD_GEMM_TUNING where set).
pub fn plan(kernel: &Kernel, target: &Target) -> Result<Program> {
    let forced = match target {
        Target::Cpu(_) => forced_tuning()?,
        Target::Gpu(_) => None,
    };
    plan_tuned(kernel, target, forced.as_ref())
}

/// Plan with given CPU GEMM choices (from a BEAM search or a test) instead of the heuristic's.
pub fn plan_tuned(kernel: &Kernel, target: &Target, tuning: Option<&Tuning>) -> Result<Program> {
    let k = simplify(&fold::constant_reductions(kernel));
    verify::kernel(&k).map_err(|e| e.context("after fold and simplify"))?;
    let name = kernel.name();
    let gemm = (Flag::NoOpt.get() == 0)
        .then(|| Contraction::recognise(&k))
        .flatten();
    if let Some(c) = gemm {
        let schedule = match target {
            Target::Cpu(t) => {
                if let Some(tu) = tuning {
                    tu.check(c.acc, t.isa).map_err(|why| {
                        Error::InvalidArgument(format!(
                            "GEMM tuning '{}' is not supported: {why}",
                            tu.encode()
                        ))
                    })?;
                }
                GemmSchedule::Cpu(CpuGemm::plan(&c, t, tuning))
            }
            Target::Gpu(t) => GemmSchedule::Gpu(GpuTile::choose(&c, t)),
        };
        let sched_sig = match &schedule {
            GemmSchedule::Cpu(g) => g.signature(),
            GemmSchedule::Gpu(t) => t.signature(),
        };
        let g = GemmPlan { c, schedule };
        return Ok(Program {
            name,
            signature: format!("gemm|{target}|{sched_sig}|{}", g.c.signature()),
            params: g.params().words(),
            kernel: k,
            target: target.clone(),
            strategy: Strategy::Gemm(g),
        });
    }
    let (uops, params) = uops::linearize(&k);
    verify::uops(&uops, &k).map_err(|e| e.context("after linearize"))?;
    let threads = match target {
        Target::Cpu(t) => uops::cpu_threads(&k, t.threads),
        Target::Gpu(_) => 1,
    };
    Ok(Program {
        name,
        signature: format!("loops|{target}|{}", k.signature()),
        kernel: k,
        target: target.clone(),
        strategy: Strategy::Loops(LoopPlan { uops, threads }),
        params: params.words(),
    })
}

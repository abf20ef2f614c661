//! From a kernel AST to a program description: simplify the index space, pick a strategy
//! (generic loops as micro-ops, or a packed, register-blocked GEMM), and choose its
//! optimisation parameters. Everything chosen here is data, printed at TGRAD_DEBUG>=2.

pub mod gemm;
pub mod opts;
pub mod uops;

use crate::flags::Flag;
use crate::kernel::Kernel;
use crate::runtime::cpu::Scratch;
use crate::runtime::pool::Join;
use crate::shape::View;

pub use gemm::GemmPlan;
pub use uops::UOp;

/// How a kernel runs.
// one `Strategy` per planned kernel, never stored in bulk: boxing the plan would buy nothing
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Loops over the full shape, written as micro-ops.
    Loops(Vec<UOp>),
    /// A GEMM with a fused epilogue: packed panels, a register-blocked microkernel.
    Gemm(GemmPlan),
}

/// A kernel ready to render: its strategy, and the run-time parameters of this instance.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: String,
    /// Identifies the rendered source up to run-time parameters (the in-memory cache key).
    pub signature: String,
    pub kernel: Kernel,
    pub strategy: Strategy,
    /// int64 parameters the compiled function reads (sizes, strides, offsets, splits).
    pub params: Vec<i64>,
    /// Scratch memory the launch needs (per thread and shared).
    pub scratch: Scratch,
    /// Threads the launch uses (1 for tiny kernels).
    pub threads: usize,
    /// Whether every thread must run its share (loops split by thread index, cooperative GEMMs
    /// that meet at barriers) or threads claim chunks and late helpers may be skipped.
    pub join: Join,
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
    if out.reduce_axes.is_empty() && out.reduction.is_some() {
        // every reduced dim had size 1: the reduction is over one element
        out.reduce_axes = vec![];
    }
    out
}

/// Plan a kernel for the CPU target.
pub fn plan(kernel: &Kernel, target: &opts::CpuTarget) -> Program {
    plan_tuned(kernel, target, forced_tuning().as_ref())
}

/// TGRAD_GEMM_TUNING="vw mr nr kc mc nc threads mchunks nchunks" forces every GEMM's choices
/// (for experiments and for reproducing a BEAM result by hand).
fn forced_tuning() -> Option<gemm::Tuning> {
    static FORCED: std::sync::OnceLock<Option<gemm::Tuning>> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var("TGRAD_GEMM_TUNING")
            .ok()
            .as_deref()
            .and_then(gemm::Tuning::parse)
    })
}

/// Plan with given GEMM choices (from a BEAM search) instead of the heuristic's.
pub fn plan_tuned(
    kernel: &Kernel,
    target: &opts::CpuTarget,
    tuning: Option<&gemm::Tuning>,
) -> Program {
    let k = simplify(kernel);
    let name = kernel.name();
    if Flag::NoOpt.get() == 0 {
        if let Some(g) = gemm::match_gemm(&k, target, tuning) {
            let signature = g.signature();
            let params = g.params.clone();
            let scratch = g.scratch();
            let threads = g.threads;
            let join = g.parallel().join();
            return Program {
                name,
                signature,
                kernel: k,
                strategy: Strategy::Gemm(g),
                params,
                scratch,
                threads,
                join,
            };
        }
    }
    let (uops, params, threads) = uops::linearize(&k, target);
    let signature = format!("loops|{}", k.signature());
    Program {
        name,
        signature,
        kernel: k,
        strategy: Strategy::Loops(uops),
        params,
        scratch: Scratch::default(),
        threads,
        join: Join::Every,
    }
}

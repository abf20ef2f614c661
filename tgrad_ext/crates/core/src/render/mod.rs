//! Renderers: a planned program to source text, and how to launch it. Backends differ by data
//! (`cstyle::Lang`: type names, conversions, qualifiers, how loops map onto threads) behind one
//! trait; the C-family expression rules and the loop skeleton are shared (`cstyle`).

pub mod c;
pub mod c_gemm;
pub mod cstyle;
pub mod cuda;
pub mod loops;
pub mod metal;

use crate::abi::LaunchDims;
use crate::codegen::Program;
use crate::error::{Error, Result};
use crate::target::{GpuDialect, Target};

pub trait Renderer: Sync {
    /// Short name used in cache keys and debug output ("c", "cuda", "metal").
    fn name(&self) -> &'static str;
    fn render(&self, program: &Program) -> String;
    /// How to launch the program for the parameters it was planned with.
    fn launch_dims(&self, program: &Program) -> Result<LaunchDims>;
}

/// The renderer of a target's source language.
pub fn for_target(t: &Target) -> &'static dyn Renderer {
    match t {
        Target::Cpu(_) => &c::CRenderer,
        Target::Gpu(g) => match g.dialect {
            GpuDialect::Cuda => &cuda::CudaRenderer,
            GpuDialect::Metal => &metal::MetalRenderer,
        },
    }
}

/// The error of a program planned for another target than the renderer's.
pub(crate) fn wrong_target(renderer: &str, p: &Program) -> Error {
    Error::Internal(format!(
        "the {renderer} renderer was given {} planned for {}",
        p.name, p.target
    ))
}

//! Renderers: a planned program to source text. Backends differ by data (type names, prefixes,
//! function qualifiers) behind one trait; the C-family expression rules are shared.

pub mod c;
pub mod cuda;
pub mod metal;

use crate::codegen::Program;

/// The symbol every rendered CPU program exports.
pub const ENTRY: &str = "tgrad_kernel";

pub trait Renderer {
    /// Short name used in cache keys and debug output ("c", "cuda", "metal").
    fn name(&self) -> &'static str;
    fn render(&self, program: &Program) -> String;
}

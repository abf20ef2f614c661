//! TGrad's GEMM kernels built ahead of time: every family of `tgrad_core::engine::aot` for this
//! architecture, compiled by `build.rs`, as the table `KERNELS`. The binding registers it at
//! start-up (`register`); the CPU device then runs a table kernel wherever a GEMM renders to its
//! source, and compiles only the rest.

use tgrad_core::runtime::cpu::aot::{self, AotKernel};
use tgrad_core::target::VectorIsa;

include!(concat!(env!("OUT_DIR"), "/table.rs"));

/// Make the table's kernels available to the CPU device (once is enough; again changes nothing).
pub fn register() {
    aot::register(KERNELS);
}

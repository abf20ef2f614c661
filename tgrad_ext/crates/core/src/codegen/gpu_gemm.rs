//! The GPU plan of a contraction: a block tile staged through shared (threadgroup) memory,
//! chosen for the GPU target (its dialect, matrix units and shared-memory limit), never from
//! the host CPU.

use crate::dtype::DType;
use crate::target::{GpuDialect, GpuTarget};

use super::contraction::Contraction;

/// The tile a GEMM is rendered with (compile-time constants of the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GpuTile {
    /// Half inputs, float accumulation on matrix units (`mma.sync` on CUDA, `simdgroup_matrix`
    /// on Metal).
    pub matrix_units: bool,
    pub bm: u32,
    pub bn: u32,
    pub bk: u32,
    /// Threads per block.
    pub threads: u32,
    /// Dynamic shared memory per block in bytes (CUDA: two stages of an A and a B tile; Metal's
    /// threadgroup arrays are static, so 0).
    pub shared_bytes: u32,
    /// Shared memory the kernel uses in all, static included (checked against the target).
    pub shared_total: u32,
}

/// Halves per CUDA tensor-core tile buffer: max(BM x (BK + 8), BK x (BM + 8)) for 128 x 32.
pub const MMA_TILE_HALVES: u32 = 5120;

impl GpuTile {
    pub fn choose(c: &Contraction, t: &GpuTarget) -> GpuTile {
        let halves = c.a.1 == DType::F16 && c.b.1 == DType::F16 && c.acc == DType::F32;
        let matrix_units = halves && t.matrix_units;
        match t.dialect {
            GpuDialect::Cuda if matrix_units => {
                let bytes = 2 * 2 * MMA_TILE_HALVES * 2;
                GpuTile {
                    matrix_units,
                    bm: 128,
                    bn: 128,
                    bk: 32,
                    threads: 256,
                    shared_bytes: bytes,
                    shared_total: bytes,
                }
            }
            GpuDialect::Cuda => {
                let e = c.acc.itemsize() as u32;
                let bk = if e == 8 { 8 } else { 16 };
                let bytes = 2 * 2 * bk * (128 + 4) * e;
                GpuTile {
                    matrix_units,
                    bm: 128,
                    bn: 128,
                    bk,
                    threads: 256,
                    shared_bytes: bytes,
                    shared_total: bytes,
                }
            }
            GpuDialect::Metal => {
                // A and B tiles of 64 x 16 (half on matrix units, else float), and the 64 x 64
                // float tile simdgroup results are stored through
                let staged = 2 * 64 * 16 * if matrix_units { 2 } else { 4 };
                GpuTile {
                    matrix_units,
                    bm: 64,
                    bn: 64,
                    bk: 16,
                    threads: if matrix_units { 128 } else { 256 },
                    shared_bytes: 0,
                    shared_total: staged + if matrix_units { 64 * 64 * 4 } else { 0 },
                }
            }
        }
    }

    pub fn signature(&self) -> String {
        format!(
            "gpu{}x{}x{}t{}{}",
            self.bm,
            self.bn,
            self.bk,
            self.threads,
            if self.matrix_units { "mma" } else { "simt" }
        )
    }
}

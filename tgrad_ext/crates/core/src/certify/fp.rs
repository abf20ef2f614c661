//! Rounding depth: the longest chain of roundings one product A[i,l] * B[l,j] goes through before
//! it is part of the accumulated value of C[i,j] (its own rounding, then one per addition the
//! partial sum holding it takes part in; a fused multiply-add only merges two of them, and adding
//! to a zero accumulator is exact). With depth D the accumulated value S of every output obeys
//! |S - (AB)[i,j]| <= gamma_D * (|A||B|)[i,j], gamma_D = D u / (1 - D u), u the accumulator's
//! unit roundoff: a bound far tighter than gamma_K where K is blocked. The epilogue and a
//! narrower output's conversion round after that (see `CONTRACT`).
//!
//! The depth of each path of the CPU GEMM template, K the reduction length:
//! - BLIS loops (packed or A in place), K blocked by KC: min(K, KC) products in registers, then
//!   one addition into C per later K block: `min(K, KC) + ceil(K / KC) - 1`; C in another dtype
//!   than the accumulator has one block (KC = K): `K`.
//! - in-place tiles (`Packing::Neither`, contiguous A and B): one block, `K`.
//! - one output row or column, K <= LONG_K (`tg_axpys`, the matrix contiguous along the output): sums of four
//!   products added to the row: `K / 4 + 3 + K % 4` (K >= 4), else `K`.
//! - `tg_dots` with unit strides: 2 VW lanes of K / (2 VW) products each, the two vectors
//!   added, their VW lanes summed, then the K % (2 VW) left: `K / (2 VW) + VW + K % (2 VW)`
//!   (K >= 2 VW), else `K`.

use crate::codegen::cpu_gemm::{CpuGemm, Packing, Parallel, LONG_K};
use crate::codegen::Contraction;

/// The FP contract every certified CPU GEMM keeps (recorded in its certificate).
pub const CONTRACT: &str = "C = round_out(epilogue(S)), |S - AB| <= gamma_D(u_acc) |A||B| elementwise, D = CpuGemm::rounding_depth (blocked: min(K,KC) + ceil(K/KC) - 1; one block or in-place tiles: K; row/column axpys: K/4 + 3 + K%4; dots: K/(2VW) + VW + K%(2VW)); u_acc = 2^-24 (f32, f16 inputs), 2^-53 (f64); a half output rounds once more (u = 2^-11)";

/// Depth of the BLIS loops: K in blocks of `kc`.
pub fn blocked(k: usize, kc: usize) -> usize {
    let kc = kc.max(1);
    k.min(kc) + k.div_ceil(kc) - 1
}

/// Depth of `tg_axpys` over K.
pub fn axpys(k: usize) -> usize {
    if k < 4 {
        k
    } else {
        k / 4 + 3 + k % 4
    }
}

/// Depth of `tg_dots` over K (`unit`: both vectors contiguous, so the 2-vector loop runs).
pub fn dots(k: usize, vw: usize, unit: bool) -> usize {
    let step = 2 * vw.max(1);
    if unit && k >= step {
        k / step + vw + k % step
    } else {
        k
    }
}

/// Whether the renderer compiles the vector path (and in-place reads): C, A and B all hold
/// accumulator values (render/c_gemm.rs `paths`; tests/certify_bind.rs compares the two).
pub fn vector_path(c: &Contraction) -> bool {
    c.out_dtype == c.acc && c.a.1 == c.acc && c.b.1 == c.acc
}

/// The lengths of the M (or N) ranges of a chunk grid: `extent` in `chunks` ranges of `tile`
/// multiples, as the template's driver splits it (empty ranges left out).
fn range_lengths(extent: usize, chunks: usize, tile: usize) -> Vec<usize> {
    let step = extent.div_ceil(chunks.max(1)).div_ceil(tile) * tile;
    let mut out: Vec<usize> = (0..chunks)
        .map(|c| c * step)
        .take_while(|&lo| lo < extent)
        .map(|lo| (lo + step).min(extent) - lo)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl CpuGemm {
    /// The rounding depth D of this plan for contraction `c`: the largest over the template's
    /// paths this plan's chunks can take (see the module's table).
    pub fn rounding_depth(&self, c: &Contraction) -> usize {
        let k = c.k;
        let block = blocked(k, self.kc);
        let everyone = match self.parallel {
            Parallel::Barrier => self.threads > 1 && c.m > 1 && c.n > 1,
            Parallel::Shared => c.batch == 1 && c.m > 1 && c.n > 1,
            Parallel::Chunks => false,
        };
        if everyone {
            return block;
        }
        let vector = vector_path(c);
        let (a, b) = (&c.operands[1], &c.operands[2]);
        let mut d = 0;
        for ml in range_lengths(c.m, self.mchunks, self.opts.mr) {
            for nl in range_lengths(c.n, self.nchunks, self.opts.nr) {
                d = d.max(if vector && k <= LONG_K && (ml == 1 || nl == 1) {
                    let (w_out, incx, wk) = if ml == 1 {
                        (b.sn, a.sk, b.sk)
                    } else {
                        (a.sm, b.sk, a.sk)
                    };
                    if w_out == 1 {
                        axpys(k)
                    } else {
                        dots(k, self.opts.vw, incx == 1 && wk == 1)
                    }
                } else if vector && self.packing == Packing::Neither && a.sk == 1 && b.sn == 1 {
                    if ml >= self.opts.mr && nl >= self.opts.nr {
                        k
                    } else {
                        block
                    }
                } else {
                    block
                });
            }
        }
        d
    }
}

/// The rounding depth of a planned program: its CPU GEMM's `rounding_depth`; None for loop
/// kernels and GPU GEMMs, whose bound is gamma_K.
pub fn program_depth(p: &crate::codegen::Program) -> Option<usize> {
    match &p.strategy {
        crate::codegen::Strategy::Gemm(g) => match &g.schedule {
            crate::codegen::GemmSchedule::Cpu(cpu) => Some(cpu.rounding_depth(&g.c)),
            crate::codegen::GemmSchedule::Gpu(_) => None,
        },
        crate::codegen::Strategy::Loops(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_of_each_path_by_hand() {
        assert_eq!(blocked(777, 256), 256 + 4 - 1);
        assert_eq!(blocked(100, 256), 100);
        assert_eq!(blocked(512, 256), 257);
        assert_eq!(axpys(3), 3);
        assert_eq!(axpys(4), 4);
        assert_eq!(axpys(10), 2 + 3 + 2);
        assert_eq!(dots(40, 8, true), 2 + 8 + 8);
        assert_eq!(dots(40, 8, false), 40);
        assert_eq!(dots(15, 8, true), 15);
        assert_eq!(range_lengths(10, 3, 3), vec![4, 6]);
    }
}

//! The CPU plan of a contraction: BLIS-style blocking (packed A and B panels, an MR x NR
//! register tile, KC/MC/NC blocks), which operands are packed, and how threads share the work.
//! The heuristic picks a `Tuning`; TGRAD_BEAM searches them; TGRAD_GEMM_TUNING forces one.

mod tuning;

use crate::abi::{GemmHeader, Scratch};
use crate::target::CpuTarget;

use super::contraction::Contraction;

use tuning::round_up;
pub use tuning::{
    GemmOpts, Packing, Parallel, Tuning, INPLACE_MAX_K, PREFETCH_NEXT_MAX_BYTES,
    SHARED_BLOCKS_PER_THREAD, SHARED_B_MAX_BYTES,
};

/// A contraction planned for the CPU: the tuning asked for, and the effective choices for this
/// problem (the template's limits applied).
#[derive(Debug, Clone, PartialEq)]
pub struct CpuGemm {
    /// Register tile and nominal blocks (VW, MR, NR compile-time; KC, MC, NC nominal).
    pub opts: GemmOpts,
    /// The tuning as planned (with the effective parallel mode).
    pub tuning: Tuning,
    pub threads: usize,
    pub mchunks: usize,
    pub nchunks: usize,
    /// Effective block sizes.
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
    pub packing: Packing,
    pub parallel: Parallel,
}

/// K beyond which a GEMM blocks K by at least sqrt(K), and one output row or column takes the
/// blocked loops instead of the vector path (whose sums run along all of K).
pub const LONG_K: usize = 1 << 16;

impl CpuGemm {
    /// Plan `c` for `target` with the heuristic's choices, or `tuning`'s.
    pub fn plan(c: &Contraction, target: &CpuTarget, tuning: Option<&Tuning>) -> CpuGemm {
        let t = tuning.copied().unwrap_or_else(|| {
            Tuning::heuristic(
                target,
                c.acc,
                !c.holds_accumulators(),
                c.batch,
                c.m,
                c.n,
                c.k,
            )
        });
        let (opts, threads, mchunks, nchunks) = (t.opts, t.threads, t.mchunks, t.nchunks);
        // shared B panels hold one batch index's B; vectors (M or N = 1) take their own path
        let parallel = match t.parallel {
            Parallel::Shared if c.batch != 1 || c.m < 2 || c.n < 2 || threads < 2 => {
                Parallel::Chunks
            }
            p => p,
        };
        let kc = if c.out_dtype == c.acc {
            // C holds the partial sums across K blocks, so a product goes through KC roundings
            // in registers and one per later K block: past LONG_K, blocks of at least sqrt(K)
            // keep that depth near 2 sqrt(K) instead of K / KC
            let nominal = if c.k > LONG_K {
                opts.kc.max(c.k.isqrt() + 1)
            } else {
                opts.kc
            };
            balanced_block(nominal, c.k)
        } else {
            // C cannot hold partial sums in another dtype: all of K is one block
            c.k.max(1)
        };
        let mc = opts.mc.min(round_up(c.m.div_ceil(mchunks), opts.mr));
        // N's last panel is another pass over A, so it is balanced like K (N = 4097: one panel)
        let nc = balanced_block(opts.nc, round_up(c.n.div_ceil(nchunks), opts.nr));
        // shared blocks of C start on B micro-panel boundaries
        let nc = if parallel == Parallel::Shared {
            round_up(nc, opts.nr)
        } else {
            nc
        };
        let packing = if c.k <= INPLACE_MAX_K {
            t.packing
        } else {
            Packing::Both
        };
        CpuGemm {
            opts,
            tuning: Tuning { parallel, ..t },
            threads,
            mchunks,
            nchunks,
            kc,
            mc,
            nc,
            packing,
            parallel,
        }
    }

    /// The parameter header: the contraction's sizes and this plan's blocking.
    pub fn header(&self, c: &Contraction) -> GemmHeader {
        GemmHeader {
            mchunks: self.mchunks as i64,
            nchunks: self.nchunks as i64,
            kc: self.kc as i64,
            mc: self.mc as i64,
            nc: self.nc as i64,
            packing: self.packing.code() as i64,
            parallel: self.parallel.code() as i64,
            ..c.header()
        }
    }

    /// What the rendered source depends on besides the contraction: the compile-time opts and
    /// which microkernels the packing needs.
    pub fn signature(&self) -> String {
        format!(
            "vw{}mr{}nr{}|{}",
            self.opts.vw,
            self.opts.mr,
            self.opts.nr,
            self.packing.name()
        )
    }

    /// Claim flags of `Parallel::Shared`, one int32 per B micro-panel (K block x NR columns),
    /// in bytes: zeroed before every launch.
    fn shared_flag_bytes(&self, c: &Contraction) -> usize {
        let panels = c.k.div_ceil(self.kc.max(1)) * c.n.div_ceil(self.opts.nr);
        round_up(panels * 4, 64)
    }

    /// Scratch memory: per thread a packed A block (MC x KC) and a packed B panel (KC x NC), in
    /// accumulator elements, plus alignment slack; shared, the B panel of `Parallel::Barrier` or
    /// the claim flags and all of packed B (K x N rounded up to NR) of `Parallel::Shared`.
    pub fn scratch(&self, c: &Contraction) -> Scratch {
        let (kc, mc, nc) = (self.kc, self.mc, self.nc);
        let mc = round_up(mc, self.opts.mr);
        let nc = round_up(nc, self.opts.nr);
        let e = c.acc.itemsize();
        // shared GEMMs read B from the shared workspace: a thread packs only its A block
        let own_b = if self.parallel == Parallel::Shared {
            0
        } else {
            kc * nc
        };
        let packed = mc * kc + own_b;
        // a single output row or column is accumulated in the workspace before the epilogue
        let vector = c.m.max(c.n);
        let per_thread = packed.max(vector) * e + 256;
        match self.parallel {
            Parallel::Chunks => Scratch {
                per_thread,
                ..Scratch::default()
            },
            Parallel::Barrier => Scratch {
                per_thread,
                shared: kc * nc * e + 64,
                ..Scratch::default()
            },
            Parallel::Shared => {
                let flags = self.shared_flag_bytes(c);
                let b = c.k * round_up(c.n, self.opts.nr) * e;
                Scratch {
                    per_thread,
                    shared: flags + b + 64,
                    shared_zeroed: flags,
                    // packed B: kept for the next launch over the same B
                    derived_from: Some(c.b.0),
                }
            }
        }
    }
}

/// A block size for an extent `k`: `nominal`, unless it leaves a short last block. Every K block
/// is a pass over C (read, add, write) and a repack of A and B, and every NC panel another pass
/// over A, so a remainder of a few columns (K = 777 = 3 x 256 + 9, K = 4097 = 16 x 256 + 1)
/// costs nearly a full pass for almost no work: spread it over the full blocks instead when they
/// grow by at most a quarter (1000x513x777, side by side: 5.54 vs 6.01 ms).
pub fn balanced_block(nominal: usize, k: usize) -> usize {
    let nominal = nominal.max(1);
    if k <= nominal {
        return k.max(1);
    }
    let (full, rest) = (k / nominal, k % nominal);
    if rest == 0 || rest >= nominal / 2 {
        return nominal;
    }
    let spread = k.div_ceil(full);
    if spread <= nominal + nominal / 4 {
        spread
    } else {
        nominal
    }
}

#[cfg(test)]
mod tests {
    use super::tuning::b_rows_crowd_l1;
    use super::{balanced_block, Packing};
    use crate::target::L1d;

    #[test]
    fn streamed_batches_read_in_place_even_where_b_rows_crowd_l1_sets() {
        // power-of-two rows of 512 bytes hit 8 of 64 sets: 128 rows is 16 lines a set
        assert!(b_rows_crowd_l1(512, 128, L1d::CLASSIC));
        assert!(!b_rows_crowd_l1(512, 64, L1d::CLASSIC));
        assert!(!b_rows_crowd_l1(256, 128, L1d::CLASSIC)); // 16 sets, 8 lines each: fits
        assert!(!b_rows_crowd_l1(384, 256, L1d::CLASSIC)); // 32 sets, 8 lines each
        assert!(b_rows_crowd_l1(384, 512, L1d::CLASSIC)); // 16 lines a set: 32 KiB of rows
        assert!(!b_rows_crowd_l1(4 * 77, 512, L1d::CLASSIC)); // not line-aligned: spread over every set

        // B4: 128 rows of B 512 bytes apart crowd 8 sets, and in place still wins
        assert_eq!(
            Packing::heuristic(64, 128, 128, 128, 4, 32, L1d::CLASSIC),
            Packing::Neither
        );
        assert_eq!(
            Packing::heuristic(64, 128, 128, 128, 4, 32, L1d { sets: 64, ways: 12 }),
            Packing::Neither
        );
        assert_eq!(
            Packing::heuristic(64, 64, 64, 64, 4, 32, L1d::CLASSIC),
            Packing::Neither
        );
        assert_eq!(
            Packing::heuristic(32, 96, 96, 96, 4, 32, L1d::CLASSIC),
            Packing::Neither
        );
        // cached operands read in place whatever the stride; one big matrix is packed
        assert_eq!(
            Packing::heuristic(1, 128, 128, 128, 4, 32, L1d::CLASSIC),
            Packing::Neither
        );
        assert_eq!(
            Packing::heuristic(1, 512, 512, 512, 4, 32, L1d::CLASSIC),
            Packing::Both
        );
        // a batch whose matrices are too big to prefetch is packed
        assert_eq!(
            Packing::heuristic(16, 128, 128, 512, 4, 32, L1d::CLASSIC),
            Packing::Both
        );
    }

    #[test]
    fn crowding_counts_the_l1s_ways() {
        let wide = L1d { sets: 64, ways: 12 };
        // 512-byte rows hit 8 sets: 96 rows are 12 lines a set, 128 rows 16
        assert!(b_rows_crowd_l1(512, 96, L1d::CLASSIC));
        assert!(!b_rows_crowd_l1(512, 96, wide));
        assert!(b_rows_crowd_l1(512, 128, wide));
        // narrow C whose B rows crowd the L1 keeps B packed on either geometry
        assert_eq!(
            Packing::heuristic(1, 4000, 64, 512, 4, 32, wide),
            Packing::BOnly
        );
        assert_eq!(
            Packing::heuristic(1, 4000, 64, 96, 4, 32, L1d { sets: 64, ways: 32 }),
            Packing::Neither
        );
        // the other rules stay: one big matrix, or matrices too big to prefetch, are packed
        assert_eq!(
            Packing::heuristic(1, 512, 512, 512, 4, 32, wide),
            Packing::Both
        );
        assert_eq!(
            Packing::heuristic(16, 128, 128, 512, 4, 32, wide),
            Packing::Both
        );
        // the host's L1 from Linux's description of cpu0's caches
        let l1 = |level, kind, sets, ways, line| L1d::from_sysfs(level, kind, sets, ways, line);
        assert_eq!(l1("1\n", "Data\n", "64\n", "12\n", "64\n"), Some(wide));
        assert_eq!(l1("1", "Instruction", "64", "8", "64"), None);
        assert_eq!(l1("2", "Unified", "1024", "16", "64"), None);
        assert_eq!(l1("1", "Data", "64", "", "64"), None);
        assert_eq!(l1("1", "Data", "0", "8", "64"), None);
        assert_eq!(l1("1", "Data", "64", "8", "128"), None);
    }

    #[test]
    fn a_is_read_in_place_where_c_is_at_most_two_tiles_wide() {
        // a batch of 8 (100 x 63) against one shared 63 x 31 matrix, folded into M = 800
        assert_eq!(
            Packing::heuristic(1, 800, 31, 63, 4, 32, L1d::CLASSIC),
            Packing::Neither
        );
        assert_eq!(
            Packing::heuristic(1, 800, 64, 63, 4, 32, L1d::CLASSIC),
            Packing::Neither
        );
        // B's rows 256 bytes apart over 512 rows crowd L1 sets: B stays packed, A in place
        assert_eq!(
            Packing::heuristic(1, 4000, 64, 512, 4, 32, L1d::CLASSIC),
            Packing::BOnly
        );
        assert_eq!(
            Packing::heuristic(1, 4000, 64, 512, 4, 16, L1d::CLASSIC),
            Packing::Both
        );
        // three columns of tiles, or K too deep for an in-place panel: packed
        assert_eq!(
            Packing::heuristic(1, 800, 96, 63, 4, 32, L1d::CLASSIC),
            Packing::Both
        );
        assert_eq!(
            Packing::heuristic(1, 4000, 31, 513, 4, 32, L1d::CLASSIC),
            Packing::Both
        );
    }

    #[test]
    fn amd_cores_take_the_wide_tile_where_it_computes_no_more_columns() {
        use super::Tuning;
        use crate::dtype::DType;
        use crate::target::{CpuTarget, CpuVendor, VectorIsa};
        let on = |vendor, isa| CpuTarget {
            vendor,
            ..CpuTarget::new(isa, 2)
        };
        let tile = |t: &CpuTarget, batch, m, n, k| {
            let h = Tuning::heuristic(t, DType::F32, false, batch, m, n, k);
            (h.opts.mr, h.opts.nr / h.opts.vw)
        };
        let amd = on(CpuVendor::Amd, VectorIsa::Avx512);
        // B1-B5 and the odd shapes whose last column of tiles the wide tile pads no further:
        // multiples of 64 columns, and edges of at most one vector where B is packed
        for (batch, m, n, k) in [
            (1, 64, 64, 64),
            (1, 512, 512, 512),
            (1, 2048, 2048, 2048),
            (64, 128, 128, 128),
            (1, 256, 1024, 1024),
            (1, 1000, 513, 777),
            (1, 4097, 4097, 4097),
            (1, 513, 129, 257),
            (1, 4000, 128, 512),
        ] {
            assert_eq!(tile(&amd, batch, m, n, k), (6, 4), "{batch}x{m}x{n}x{k}");
        }
        // the wide tile would pad N = 96 to 128 columns, 31 or 10 read in place to 64
        for (m, n, k) in [
            (4000, 96, 512),
            (800, 31, 63),
            (1024, 10, 256),
            (256, 10, 1024),
        ] {
            assert_eq!(tile(&amd, 1, m, n, k), (12, 2), "{m}x{n}x{k}");
        }
        // other vendors' cores keep two vectors at every N; AVX2 has one tile
        for vendor in [CpuVendor::Intel, CpuVendor::Other] {
            let t = on(vendor, VectorIsa::Avx512);
            assert_eq!(tile(&t, 1, 512, 512, 512), (12, 2));
            assert_eq!(tile(&t, 64, 128, 128, 128), (12, 2));
        }
        assert_eq!(
            tile(&on(CpuVendor::Amd, VectorIsa::Avx2Fma), 1, 512, 512, 512),
            (6, 2)
        );
        // half A is packed whatever the packing, and the tiles follow the same rule: the wide
        // tile wherever it fits N and computes no more columns
        let half = |batch, m, n, k| {
            let h = Tuning::heuristic(&amd, DType::F32, true, batch, m, n, k);
            (h.opts.mr, h.opts.nr / h.opts.vw)
        };
        assert_eq!(half(1, 64, 64, 64), (6, 4));
        assert_eq!(half(64, 128, 128, 128), (6, 4));
        assert_eq!(half(1, 256, 96, 256), (12, 2));
        assert_eq!(half(1, 64, 32, 64), (12, 2));
        assert_eq!(half(1, 512, 512, 512), (6, 4));
        assert_eq!(half(1, 256, 1024, 1024), (6, 4));
        // B4 on the wide tile: C is two tiles wide, a streamed batch, and read in place
        let b4 = Tuning::heuristic(&amd, DType::F32, false, 64, 128, 128, 128);
        assert_eq!((b4.packing, b4.opts.mr), (Packing::Neither, 6));
        // Shared GEMMs take K up to 1024 as one block whatever the tile (B2, B5, O1)
        for vendor in [CpuVendor::Amd, CpuVendor::Intel] {
            for (m, n, k) in [(512, 512, 512), (256, 1024, 1024), (1000, 513, 777)] {
                let t = Tuning::heuristic(
                    &on(vendor, VectorIsa::Avx512),
                    DType::F32,
                    false,
                    1,
                    m,
                    n,
                    k,
                );
                assert_eq!((t.parallel, t.opts.kc), (super::Parallel::Shared, k));
            }
        }
        // CPUID's vendor strings
        assert_eq!(CpuVendor::from_cpuid(b"AuthenticAMD"), CpuVendor::Amd);
        assert_eq!(CpuVendor::from_cpuid(b"GenuineIntel"), CpuVendor::Intel);
        assert_eq!(CpuVendor::from_cpuid(b"HygonGenuine"), CpuVendor::Other);
    }

    #[test]
    fn a_short_last_k_block_is_spread_over_the_full_ones() {
        assert_eq!(balanced_block(256, 777), 259); // 3 blocks, not 3 + 9
        assert_eq!(balanced_block(256, 4097), 257); // 16 blocks, not 16 + 1
        assert_eq!(balanced_block(256, 300), 300); // one block of 300, not 256 + 44
                                                   // exact multiples, long remainders and blocks that would grow too much stay nominal
        assert_eq!(balanced_block(256, 2048), 256);
        assert_eq!(balanced_block(256, 1000), 256);
        assert_eq!(balanced_block(256, 380), 256);
        assert_eq!(balanced_block(256, 100), 100);
        assert_eq!(balanced_block(256, 0), 1);
        for k in 1..3000 {
            let kc = balanced_block(256, k);
            assert!((1..=320).contains(&kc), "K = {k}: KC = {kc}");
            // never more blocks than the nominal blocking, never a last block below half of KC
            // unless K itself is that short or the blocks cannot absorb it
            assert!(k.div_ceil(kc) <= k.div_ceil(256).max(1), "K = {k}");
            let last = k - (k.div_ceil(kc) - 1) * kc;
            assert!(
                last >= 128 || k < 256 || kc == 256,
                "K = {k}: last block {last}"
            );
        }
    }
}

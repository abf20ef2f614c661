//! The CPU GEMM's tunable choices: register tile and nominal blocks (`GemmOpts`), which operands
//! are packed (`Packing`), how threads share the work (`Parallel`), and the heuristic that picks
//! them (`Tuning::heuristic`) from measurements on the project's machines.

use std::fmt;

use crate::abi::Join;
use crate::dtype::DType;
use crate::target::{CpuTarget, CpuVendor, L1d, VectorIsa};

/// GEMM blocking (BLIS names): an MR x NR register tile of accumulators, KC-deep packed panels,
/// MC rows of A per packed block, NC columns of B per packed panel; VW lanes per vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GemmOpts {
    pub vw: usize,
    pub mr: usize,
    pub nr: usize,
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
}

impl GemmOpts {
    /// The register tiles (MR, vectors per row) the heuristic chooses from for `isa` on `vendor`'s
    /// cores, the preferred first. Each fills the register file with accumulators, leaving room
    /// for the B vectors and one broadcast. AMD's AVX-512 cores (Zen 4, Zen 5) run six rows of
    /// four vectors faster than twelve rows of two, which need twice the broadcasts of A per
    /// FMA. gemm_sweep, alternating, medians, four vectors vs two: Zen 4 1024^3 one thread
    /// 1.06-1.10x faster, 2048^3 two threads 88.5-90.8 vs 94.6-97 ms; Zen 5 2048^3 43.4 vs
    /// 45.3 ms, 64 x 128^3 615 vs 630 us, 64^3 2.9 vs 3.3 us.
    pub fn tiles(isa: VectorIsa, vendor: CpuVendor) -> &'static [(usize, usize)] {
        match (isa.registers(), isa, vendor) {
            (32, VectorIsa::Neon, _) => &[(8, 3)],
            (32, _, CpuVendor::Amd) => &[(6, 4), (12, 2)],
            (32, _, _) => &[(12, 2)],
            _ => &[(6, 2)],
        }
    }

    /// Every tile `tiles` offers for `isa` on any vendor's cores (what is built ahead of time).
    pub fn all_tiles(isa: VectorIsa) -> Vec<(usize, usize)> {
        let mut all: Vec<(usize, usize)> = vec![];
        for vendor in CpuVendor::ALL {
            for &t in GemmOpts::tiles(isa, vendor) {
                if !all.contains(&t) {
                    all.push(t);
                }
            }
        }
        all
    }

    /// The nominal blocking of a register tile: KC 256, an A block of about 144 rows in L2, NC
    /// 4096.
    pub fn for_tile(isa: VectorIsa, elem_bytes: usize, (mr, nvec): (usize, usize)) -> GemmOpts {
        let vw = isa.vector_bytes() / elem_bytes;
        GemmOpts {
            vw,
            mr,
            nr: nvec * vw,
            kc: 256,
            mc: (144 / mr).max(1) * mr,
            nc: 4096,
        }
    }

    pub fn key(&self) -> String {
        format!(
            "vw{}mr{}nr{}kc{}mc{}nc{}",
            self.vw, self.mr, self.nr, self.kc, self.mc, self.nc
        )
    }
}

impl fmt::Display for GemmOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MR={} NR={} VW={} KC={} MC={} NC={}",
            self.mr, self.nr, self.vw, self.kc, self.mc, self.nc
        )
    }
}

pub(super) fn round_up(x: usize, m: usize) -> usize {
    x.div_ceil(m) * m
}

/// Which operands a GEMM copies into packed panels before the microkernel reads them. Reading in
/// place needs the operand row-major in K (A) or N (B); the program checks that at run time and
/// falls back to packing, and it always packs edge tiles (fewer than MR rows or NR columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packing {
    /// BLIS: A in MR-row micro-panels, B in NR-column micro-panels (large problems).
    Both,
    /// B packed once per block (aligned loads, no L1 set conflicts from its row stride); A's
    /// rows are read in place: saves A's strided copy where K is short, so a tile's A rows
    /// stay in L1 and each packed element would be used only N/NR times.
    BOnly,
    /// Nothing packed for full tiles: for tiny problems whose operands sit in L1 anyway.
    Neither,
}

impl Packing {
    pub const ALL: [Packing; 3] = [Packing::Both, Packing::BOnly, Packing::Neither];

    /// The run-time parameter and BEAM cache field (0 keeps the meaning older cache lines had).
    pub fn code(self) -> usize {
        match self {
            Packing::Both => 0,
            Packing::Neither => 1,
            Packing::BOnly => 2,
        }
    }

    pub fn from_code(c: usize) -> Option<Packing> {
        Packing::ALL.into_iter().find(|p| p.code() == c)
    }

    /// The default. Measured side by side with `gemm_sweep` (one thread unless noted), in place
    /// beat packing for single GEMMs up to 128 x 128 (64^3: 8.1 vs 11.0 us, 96^3: 27 vs 33 us,
    /// 128^3: 68 vs 76 us) and for batches whose operands stay cached (8 x 128^3 on two threads:
    /// 277 vs 298 us; 64 x 64^3: 278 vs 361 us).
    /// Batches that stream from L3 prefetch the next matrix's operands into L2 while one computes
    /// (`PREFETCH_NEXT_MAX_BYTES`), and then reading in place wins too (two threads, medians,
    /// packed / B only / in place: 64 x 64^3 254 / 217 / 192 us, 32 x 96^3 378 / 335 / 311 us
    /// and 514 / - / 411 us on a slow host, 64 x 128x64x128 990 / 839 / 801 us and 1539 / - /
    /// 1404 us), also where B's rows, a power-of-two stride apart, crowd into a few L1 sets: the
    /// prefetched rows refill from L2 faster than a tile's FMAs consume them (64 x 128^3, 16
    /// lines a set: Zen 4, 8-way L1, ten alternating triples, median ratios packed 1.19x and B
    /// only 1.09x in place's time; Zen 5, 12-way: 753 / 650 / 598 us).
    /// A packed into MR-row micro-panels is read once per NR-wide column of tiles, so where C
    /// has at most `NARROW_N_TILES` such columns the copy costs more than its aligned panels
    /// save, and A's rows are read in place at any M (B as well, unless its rows crowd L1 sets
    /// outside a streamed batch).
    /// Side by side (gemm_sweep, two threads, medians, packed / B only / in place): 800x31x63
    /// (a batch of 8 against one shared matrix, folded) 32.8 / 14.9 / 14.3 us, 4000x31x256 481 /
    /// 244 us (B only), 800x64x63 64.8 / 39.2 / 38.1 us, 4000x64x512 2.50 / 1.69 / 1.79 ms; three
    /// columns gain less (800x96x63 66.5 / 57.2 us).
    pub fn heuristic(
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        elem_bytes: usize,
        nr: usize,
        l1d: L1d,
    ) -> Packing {
        const CACHED_OPERANDS: usize = 2 << 20;
        if k > INPLACE_MAX_K {
            return Packing::Both;
        }
        let matrix_bytes = (m * k + k * n) * elem_bytes;
        let cached = batch * matrix_bytes <= CACHED_OPERANDS;
        let streamed = !cached && batch >= 2 && matrix_bytes <= PREFETCH_NEXT_MAX_BYTES;
        if n <= NARROW_N_TILES * nr {
            return if !streamed && b_rows_crowd_l1(n * elem_bytes, k, l1d) {
                Packing::BOnly
            } else {
                Packing::Neither
            };
        }
        if m * n > 128 * 128 {
            Packing::Both
        } else if cached || streamed {
            Packing::Neither
        } else {
            Packing::Both
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Packing::Both => "packed",
            Packing::BOnly => "packed-B",
            Packing::Neither => "in-place",
        }
    }
}

/// How the threads of a launch share a GEMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parallel {
    /// Threads claim chunks (batch index x M range x N range, `mchunks` x `nchunks` per batch
    /// index) from a shared counter, and each packs its own panels of A and B. The caller alone
    /// can finish (`Join::Helpers`).
    Chunks,
    /// All threads pack each KC x NC panel of B together into shared memory, meet at a barrier,
    /// and split M by thread index (BLIS's parallel ic loop). Every thread must take part
    /// (`Join::Every`): a thread kept off its core stalls the others at the next barrier.
    Barrier,
    /// Threads claim MC x NC blocks of C from a shared counter and run the whole K loop on each.
    /// B is packed once, into shared memory, micro-panel by micro-panel, by whichever thread
    /// needs a micro-panel first (a flag per micro-panel: unpacked, packing, ready); a thread
    /// that finds one being packed packs later ones meanwhile. No barriers, no duplicated
    /// packing, and a slow thread only delays the block it holds (`Join::Helpers`). Needs one
    /// batch index and all of B (K x N) in the shared workspace.
    Shared,
}

impl Parallel {
    pub const ALL: [Parallel; 3] = [Parallel::Chunks, Parallel::Barrier, Parallel::Shared];

    /// The run-time parameter and the BEAM cache field (0 and 1 keep the meaning of older
    /// cache lines, whose field was a cooperative flag).
    pub fn code(self) -> usize {
        match self {
            Parallel::Chunks => 0,
            Parallel::Barrier => 1,
            Parallel::Shared => 2,
        }
    }

    pub fn from_code(c: usize) -> Option<Parallel> {
        Parallel::ALL.into_iter().find(|p| p.code() == c)
    }

    /// The pool's contract: whether every thread index must run.
    pub fn join(self) -> Join {
        match self {
            Parallel::Barrier => Join::Every,
            Parallel::Chunks | Parallel::Shared => Join::Helpers,
        }
    }
}

/// The largest packed B (K x N, accumulator elements) `Parallel::Shared` keeps in the shared
/// workspace for the heuristic.
pub const SHARED_B_MAX_BYTES: usize = 4 << 20;

/// Blocks of C per thread the heuristic's `Parallel::Shared` aims for.
pub const SHARED_BLOCKS_PER_THREAD: usize = 8;

/// The deepest K `Parallel::Shared` takes as one block: each block of C runs the whole K loop,
/// so every further K block is another pass over its rows of C. gemm_sweep, two threads,
/// alternating, medians, KC 256 (or K/3) vs K: 256x1024x1024 5.19 vs 4.84 ms (d25c8e7's
/// machine); Zen 5 2128 vs 1807 us (twelve rows of two vectors), 1859 vs 1656 us (six rows of
/// four), 1000x513x777 2274 vs 2163 us and 512^3 651 vs 637 us (six rows of four).
const SHARED_SINGLE_K_BLOCK_MAX_K: usize = 1024;

/// C at most this many NR-wide columns of tiles wide is narrow: a packed A panel would serve too
/// few tiles to pay for its copy.
const NARROW_N_TILES: usize = 2;

/// Batched GEMMs prefetch the next matrix's operands into L2 while one computes when A and B of
/// one matrix together fit this (beside the current ones in a 512 KiB - 1 MiB L2).
pub const PREFETCH_NEXT_MAX_BYTES: usize = 192 * 1024;

/// Whether `k` rows read in place `row_bytes` apart map to so few sets of the L1 that more lines
/// than it has ways land in one set: a micro-panel of B then misses L1 on every tile, however
/// small it is. That matters where A streams through in place as well and nothing else keeps the
/// loads busy: for narrow C (at most two NR-wide columns of tiles), B is then packed. gemm_sweep,
/// two threads, medians, packed / B only / in place, 4000x64x512 (512 rows, 32 lines a set):
/// Golden Cove 2.50 / 1.69 / 1.79 ms, Zen 5 708 / 541 / 538 us, Zen 4 B only 1.02x in place's
/// time (six alternating pairs).
pub(super) fn b_rows_crowd_l1(row_bytes: usize, k: usize, l1d: L1d) -> bool {
    if row_bytes == 0 || !row_bytes.is_multiple_of(64) {
        return false;
    }
    let stride_lines = row_bytes / 64;
    let sets_touched = l1d.sets / gcd(stride_lines, l1d.sets);
    k.div_ceil(sets_touched) > l1d.ways
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The tunable choices of a GEMM plan: register tile and vector width (compile time), block
/// sizes and the thread split (run time). The heuristic picks them; TGRAD_BEAM searches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuning {
    pub opts: GemmOpts,
    pub threads: usize,
    pub mchunks: usize,
    pub nchunks: usize,
    /// Which operands are packed (in-place reads need K at most `INPLACE_MAX_K`, so the
    /// operand panel a tile reads stays in L1).
    pub packing: Packing,
    /// How threads share the work. With `Parallel::Shared`, `mchunks` x `nchunks` is the grid
    /// of C blocks the threads claim (MC and NC follow from it).
    pub parallel: Parallel,
}

/// The largest B micro-panel (KC x NR accumulator elements) for which the heuristic takes all of
/// K as one block.
const SINGLE_K_BLOCK_BYTES: usize = 32 * 1024;

/// The deepest K read in place: a micro-panel of K rows x one cache line stays in L1.
pub const INPLACE_MAX_K: usize = 512;

impl Tuning {
    /// The heuristic's tuning: of the tiles the target's vendor runs (`GemmOpts::tiles`) that
    /// fit at least once into N (the last always qualifies), the one that computes the fewest
    /// columns of C, the preferred one where they tie. Packed tiles compute an edge of at most
    /// one vector as one vector (`ukr_n`), every other edge as NR wide; tiles read in place
    /// compute NR-wide edges. Where N is narrower than a tile only its edge kernels would run,
    /// and a taller tile's keep more FMA chains in flight. Side by side (gemm_sweep, Zen 5, two
    /// threads, medians, four vectors vs two): N = 96 over 4000x512 1514 vs 1124 us (the wide
    /// tile pads to 128 columns), N = 128 1157 vs 1454 us.
    /// Operands packed whatever the packing (one of A, B and C holds another dtype than the
    /// accumulator, e.g. half values widened as they are packed) follow the same rule: A's half
    /// panels are widened and transposed in registers, so a packed A panel serving one or two
    /// wide tiles costs less than the tall tile saves. Side by side (Zen 5, two threads,
    /// alternating processes, medians of new/old time, wide vs tall): 64 x 128^3 half 0.95
    /// (21 pairs, all but one below 1), 512x128x512 1.01, 64^3 0.94 (range 0.64-1.09).
    pub fn heuristic(
        target: &CpuTarget,
        acc: DType,
        packed: bool,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
    ) -> Tuning {
        let mut best: Option<(usize, Tuning)> = None;
        let tiles = GemmOpts::tiles(target.isa, target.vendor);
        for (i, &tile) in tiles.iter().enumerate() {
            let opts = GemmOpts::for_tile(target.isa, acc.itemsize(), tile);
            if n < opts.nr && i + 1 < tiles.len() {
                continue;
            }
            let t = Tuning::heuristic_for(target, acc, opts, batch, m, n, k);
            let cols = t.columns_computed(n, packed);
            if best.as_ref().is_none_or(|(c, _)| cols < *c) {
                best = Some((cols, t));
            }
        }
        best.expect("every ISA has a tile").1
    }

    /// The columns of C an N-wide GEMM computes with this tuning's tile and packing (`packed`:
    /// operands packed whatever the packing says, so every edge runs the packed kernels).
    fn columns_computed(&self, n: usize, packed: bool) -> usize {
        let (nr, vw) = (self.opts.nr, self.opts.vw);
        let edge = n % nr;
        if (packed || self.packing == Packing::Both) && edge > 0 && edge <= vw {
            n - edge + vw
        } else {
            round_up(n, nr)
        }
    }

    /// The heuristic's blocks, thread split, packing and parallel mode for one register tile.
    fn heuristic_for(
        target: &CpuTarget,
        acc: DType,
        mut opts: GemmOpts,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
    ) -> Tuning {
        // One K block when a KC x NR micro-panel of B still fits 32 KiB: every extra K block is
        // another pass over C. gemm_sweep, two threads, medians side by side, KC 256 vs K:
        // 512^3 2.21 vs 2.13 ms, 384^3 934 vs 902 us, 256x512x512 1.13 vs 1.09 ms, 512x512x400
        // 1.81 vs 1.71 ms.
        if k > opts.kc && k * opts.nr * acc.itemsize() <= SINGLE_K_BLOCK_BYTES {
            opts.kc = k;
        }
        // Threads claim chunks and the caller never waits for a helper that has not started
        // (`Join::Helpers`), so a second thread pays from 64^3 (0.5 MFLOP) up. Side by side with
        // `gemm_sweep`, medians, one thread vs two: 64^3 7.8 vs 4.9 us (6.5 us with `yes`
        // busy on the other core), 96^3 24.6 vs 16.0, 128^3 47 vs 37; 48^3 and 32x64x64 gain
        // nothing (4.3 vs 4.4, 4.8 vs 5.2 us).
        let threads = if 2 * batch * m * n * k < 1 << 19 {
            1
        } else {
            target.threads.max(1)
        };
        let (mut mchunks, mut nchunks) = (1usize, 1usize);
        if threads > 1 && batch < threads {
            // Each thread packs the operand the split does not divide: splitting M repacks B
            // (K x N) per thread, splitting N repacks A (M x K). Split the larger of M and N, so
            // the duplicated packing is of the smaller operand. Side by side (gemm_sweep, two
            // threads, medians): 1000x513x777 5.27 (M) vs 5.54 ms (N), 64^3 4.9 vs 5.2 us,
            // 512^3 2.00 vs 2.06 ms.
            let need = threads.div_ceil(batch);
            let split_m = m >= n && m >= opts.mr * need;
            if split_m {
                mchunks = need;
            } else if n >= opts.nr * need {
                nchunks = need;
            } else if m >= opts.mr * need {
                mchunks = need;
            } else if n >= 2 * opts.nr {
                nchunks = n / opts.nr;
            }
        }
        let packing = Packing::heuristic(batch, m, n, k, acc.itemsize(), opts.nr, target.l1d);
        // The barrier mode measured no faster than split chunks here (512^2: 169 vs 168 GFLOPS,
        // 2048^2: 165 vs 168, 256x1024x1024: 117 vs 127, side by side), so only BEAM tries it.
        let mut parallel = Parallel::Chunks;
        let b_bytes = k * round_up(n, opts.nr) * acc.itemsize();
        if threads > 1
            && batch == 1
            && packing == Packing::Both
            && m >= 4 * opts.mr * threads
            && n >= 2 * opts.nr
            && b_bytes <= SHARED_B_MAX_BYTES
        {
            // Blocks of C claimed dynamically, SHARED_BLOCKS_PER_THREAD per thread so a slow
            // thread's share is taken by the others, at least 2 tiles tall. gemm_sweep, two
            // threads, alternating, medians (blocks 8 vs 16 at KC = K): 512^3 1.94 vs 1.79 ms;
            // 256x1024x1024 4.27 vs 4.16 ms.
            parallel = Parallel::Shared;
            let most = (m / (2 * opts.mr)).max(1);
            let least = m.div_ceil(opts.mc);
            mchunks = (SHARED_BLOCKS_PER_THREAD * threads).min(most).max(least);
            nchunks = 1;
            if k <= SHARED_SINGLE_K_BLOCK_MAX_K {
                opts.kc = opts.kc.max(k);
            }
        }
        Tuning {
            opts,
            threads,
            mchunks,
            nchunks,
            packing,
            parallel,
        }
    }

    /// One line, parsed back by `parse` (the BEAM cache's file format).
    pub fn encode(&self) -> String {
        let o = &self.opts;
        format!(
            "{} {} {} {} {} {} {} {} {} {} {}",
            o.vw,
            o.mr,
            o.nr,
            o.kc,
            o.mc,
            o.nc,
            self.threads,
            self.mchunks,
            self.nchunks,
            self.packing.code(),
            self.parallel.code()
        )
    }

    /// Parse the one-line format `encode` writes (TGRAD_GEMM_TUNING, BEAM's cache), checking
    /// what holds for every dtype and target; `check` adds what depends on them.
    pub fn parse(s: &str) -> Result<Tuning, String> {
        let v: Vec<usize> = s
            .split_whitespace()
            .map(|f| {
                f.parse::<usize>()
                    .map_err(|_| format!("field {f:?} is not a non-negative integer"))
            })
            .collect::<Result<_, _>>()?;
        // the 10th (packing) and 11th (parallel) fields are optional: shorter lines predate them
        let packing =
            |c: usize| Packing::from_code(c).ok_or(format!("packing {c} is not 0, 1 or 2"));
        let parallel =
            |c: usize| Parallel::from_code(c).ok_or(format!("parallel {c} is not 0, 1 or 2"));
        let (fields, packing, parallel) = match v.len() {
            9 => (&v[..], Packing::Both, Parallel::Chunks),
            10 => (&v[..9], packing(v[9])?, Parallel::Chunks),
            11 => (&v[..9], packing(v[9])?, parallel(v[10])?),
            n => {
                return Err(format!(
                    "{n} fields; expected 9 to 11: vw mr nr kc mc nc threads mchunks nchunks [packing [parallel]]"
                ))
            }
        };
        let [vw, mr, nr, kc, mc, nc, threads, mchunks, nchunks] = fields[..] else {
            unreachable!("nine fields above");
        };
        let t = Tuning {
            opts: GemmOpts {
                vw,
                mr,
                nr,
                kc,
                mc,
                nc,
            },
            threads,
            mchunks,
            nchunks,
            packing,
            parallel,
        };
        t.check_shape()?;
        Ok(t)
    }

    /// The template's limits that hold whatever the dtype: tiles of 1..=MAX_MR rows and
    /// 1..=MAX_NV vectors, NR a multiple of VW, MC a multiple of MR, positive blocks, threads
    /// and chunks within bounds.
    fn check_shape(&self) -> Result<(), String> {
        let o = &self.opts;
        let rule = |ok: bool, why: String| if ok { Ok(()) } else { Err(why) };
        rule(o.vw > 0, "VW must be positive".into())?;
        rule(
            (1..=MAX_MR).contains(&o.mr),
            format!("MR = {} is outside 1..={MAX_MR}", o.mr),
        )?;
        rule(
            o.nr > 0 && o.nr.is_multiple_of(o.vw),
            format!("NR = {} is not a positive multiple of VW = {}", o.nr, o.vw),
        )?;
        rule(
            o.nr / o.vw <= MAX_NV,
            format!(
                "NR/VW = {} vectors per row is more than {MAX_NV}",
                o.nr / o.vw
            ),
        )?;
        rule(o.kc > 0 && o.nc > 0, "KC and NC must be positive".into())?;
        rule(
            o.mc > 0 && o.mc.is_multiple_of(o.mr),
            format!("MC = {} is not a positive multiple of MR = {}", o.mc, o.mr),
        )?;
        rule(
            (1..=MAX_THREADS).contains(&self.threads),
            format!("threads = {} is outside 1..={MAX_THREADS}", self.threads),
        )?;
        rule(
            (1..=MAX_CHUNKS).contains(&self.mchunks) && (1..=MAX_CHUNKS).contains(&self.nchunks),
            format!("mchunks and nchunks must be in 1..={MAX_CHUNKS}"),
        )
    }

    /// Whether the templates support this tuning for accumulator `acc` on a host that runs
    /// `isa`: the shape rules, barriers only with a core per thread, and vectors of VW accumulators that an ISA the host executes has.
    pub fn check(&self, acc: DType, isa: VectorIsa) -> Result<(), String> {
        self.check_shape()?;
        let cores = crate::flags::cores();
        if self.parallel == Parallel::Barrier && self.threads > cores {
            // every thread meets every other at each panel: a thread without a core stalls all
            return Err(format!(
                "parallel mode 1 (barrier) needs a core per thread: threads = {} is more than the {cores} cores here",
                self.threads
            ));
        }
        let bytes = self.opts.vw * acc.itemsize();
        let fits = VectorIsa::ALL
            .into_iter()
            .any(|i| i.vector_bytes() == bytes && (i == isa || i.runs_here()));
        if fits {
            Ok(())
        } else {
            Err(format!(
                "VW = {} {} values is a {bytes}-byte vector, which no vector unit of this host has (16 bytes: SSE2/NEON; 32: AVX2; 64: AVX-512)",
                self.opts.vw,
                acc.name()
            ))
        }
    }
}

/// The largest register tile the microkernel templates are rendered for.
pub const MAX_MR: usize = 16;
pub const MAX_NV: usize = 8;
pub const MAX_THREADS: usize = 1024;
pub const MAX_CHUNKS: usize = 1 << 20;

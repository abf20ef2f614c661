//! Recognising a contraction in a kernel AST and planning it as a BLIS-style GEMM.
//!
//! A kernel is a GEMM when its reduction is `sum(load_a * load_b)` over one axis K, every
//! other axis is read by exactly one of A (an M axis) or B (an N axis), or by both or neither
//! (a batch axis); there is at most one M and one N axis. Operands may be any strided views
//! (transposed, broadcast): packing reads through the strides. The epilogue (bias, relu,
//! casts) is the kernel body, applied to the accumulators in registers on the last K block.
//!
//! Parameter layout (int64): see `P_*` below; then per operand (output, A, B, epilogue
//! loads in pre-order): offset, stride_m, stride_n, stride_k, stride_batch[0..MAX_BATCH].

use crate::dtype::DType;
use crate::graph::{BinaryOp, ReduceOp};
use crate::kernel::{Expr, ExprOp, Kernel};
use crate::runtime::cpu::Scratch;
use crate::shape::View;

use super::opts::{CpuTarget, GemmOpts};

pub const MAX_BATCH: usize = 4;
pub const P_M: usize = 0;
pub const P_N: usize = 1;
pub const P_K: usize = 2;
pub const P_BATCH: usize = 3;
pub const P_BATCH_DIMS: usize = 4; // ..4+MAX_BATCH
pub const P_MCHUNKS: usize = 8;
pub const P_NCHUNKS: usize = 9;
pub const P_KC: usize = 10;
pub const P_MC: usize = 11;
pub const P_NC: usize = 12;
/// Which operands are packed (`Packing::code`): 0 both, 1 neither (full tiles read A and B in
/// place), 2 B only (full row tiles read A in place).
pub const P_PACKING: usize = 13;
/// How threads share the GEMM: `Parallel::code`.
pub const P_PARALLEL: usize = 14;
pub const P_OPERANDS: usize = 16;
pub const OPERAND_PARAMS: usize = 4 + MAX_BATCH;

#[derive(Debug, Clone, PartialEq)]
pub struct GemmPlan {
    pub opts: GemmOpts,
    pub tuning: Tuning,
    /// The accumulator type (float for half and float inputs, double for double).
    pub acc: DType,
    pub out_dtype: DType,
    /// (buffer, dtype) of A and B.
    pub a: (usize, DType),
    pub b: (usize, DType),
    /// The kernel body: the epilogue applied to `Acc`.
    pub epilogue: Expr,
    /// (buffer, dtype) of each epilogue load, in pre-order (operand slots 3..).
    pub epi_loads: Vec<(usize, DType)>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub threads: usize,
    pub params: Vec<i64>,
}

fn load_of(e: &Expr) -> Option<(usize, DType, &View)> {
    match &e.op {
        ExprOp::Load { buf, view } => Some((*buf, e.dtype, view)),
        // widening casts are exact, so they can happen while packing
        ExprOp::Cast(inner) => match &inner.op {
            ExprOp::Load { buf, view }
                if inner.dtype.is_float() && inner.dtype.itemsize() <= e.dtype.itemsize() =>
            {
                Some((*buf, inner.dtype, view))
            }
            _ => None,
        },
        _ => None,
    }
}

fn round_up(x: usize, m: usize) -> usize {
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
    /// 1404 us), except where B's rows, a power-of-two stride apart, crowd into a few L1 sets:
    /// 64 x 128^3 2.40 / 2.50 / 2.65 ms on a slow host (B only won by 4-8% on a fast one, lost
    /// by 5% on a slow one), so that stays packed.
    pub fn heuristic(batch: usize, m: usize, n: usize, k: usize, elem_bytes: usize) -> Packing {
        const CACHED_OPERANDS: usize = 2 << 20;
        if k > INPLACE_MAX_K || m * n > 128 * 128 {
            return Packing::Both;
        }
        let matrix_bytes = (m * k + k * n) * elem_bytes;
        if batch * matrix_bytes <= CACHED_OPERANDS {
            return Packing::Neither;
        }
        if batch < 2 || matrix_bytes > PREFETCH_NEXT_MAX_BYTES {
            return Packing::Both;
        }
        if b_rows_crowd_l1(n * elem_bytes, k) {
            Packing::Both
        } else {
            Packing::Neither
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
    pub fn join(self) -> crate::runtime::pool::Join {
        match self {
            Parallel::Barrier => crate::runtime::pool::Join::Every,
            Parallel::Chunks | Parallel::Shared => crate::runtime::pool::Join::Helpers,
        }
    }
}

/// The largest packed B (K x N, accumulator elements) `Parallel::Shared` keeps in the shared
/// workspace for the heuristic.
pub const SHARED_B_MAX_BYTES: usize = 4 << 20;

/// Blocks of C per thread the heuristic's `Parallel::Shared` aims for.
pub const SHARED_BLOCKS_PER_THREAD: usize = 8;

/// The largest B micro-panel (K x NR accumulator elements) for which `Parallel::Shared` takes
/// all of K as one block.
const SHARED_SINGLE_K_BLOCK_BYTES: usize = 64 * 1024;

/// Batched GEMMs prefetch the next matrix's operands into L2 while one computes when A and B of
/// one matrix together fit this (beside the current ones in a 512 KiB - 1 MiB L2).
pub const PREFETCH_NEXT_MAX_BYTES: usize = 192 * 1024;

/// Whether `k` rows read in place `row_bytes` apart map to so few sets of a 32 KiB, 8-way L1 (64
/// sets of 64-byte lines) that more than its 8 ways of lines land in one set: a micro-panel of B
/// then misses L1 on every tile, however small it is.
fn b_rows_crowd_l1(row_bytes: usize, k: usize) -> bool {
    const SETS: usize = 64;
    const WAYS: usize = 8;
    if row_bytes == 0 || !row_bytes.is_multiple_of(64) {
        return false;
    }
    let stride_lines = row_bytes / 64;
    let sets_touched = SETS / gcd(stride_lines, SETS);
    k.div_ceil(sets_touched) > WAYS
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
    pub fn heuristic(
        target: &CpuTarget,
        acc: DType,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
    ) -> Tuning {
        let mut opts = GemmOpts::heuristic(target.isa, acc.itemsize());
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
        let packing = Packing::heuristic(batch, m, n, k, acc.itemsize());
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
            // thread's share is taken by the others, at least 2 tiles tall. Each block runs the
            // whole K loop, so every K block is a pass over its rows of C: one K block up to a
            // 64 KiB micro-panel of B. gemm_sweep, two threads, alternating, medians (blocks 8
            // vs 16 at KC = K): 512^3 1.94 vs 1.79 ms; 256x1024x1024 4.27 vs 4.16 ms, and KC
            // 256 vs 1024 there 5.19 vs 4.84 ms; 1000x513x777 KC 256 vs 777 7.07 vs 6.24 ms.
            parallel = Parallel::Shared;
            let most = (m / (2 * opts.mr)).max(1);
            let least = m.div_ceil(opts.mc);
            mchunks = (SHARED_BLOCKS_PER_THREAD * threads).min(most).max(least);
            nchunks = 1;
            if k * opts.nr * acc.itemsize() <= SHARED_SINGLE_K_BLOCK_BYTES {
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

    pub fn parse(s: &str) -> Option<Tuning> {
        let v: Vec<usize> = s
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // the 10th (packing) and 11th (parallel) fields are optional: shorter lines predate them
        let (fields, packing, parallel) = match v.len() {
            9 => (&v[..], Packing::Both, Parallel::Chunks),
            10 => (&v[..9], Packing::from_code(v[9])?, Parallel::Chunks),
            11 => (
                &v[..9],
                Packing::from_code(v[9])?,
                Parallel::from_code(v[10])?,
            ),
            _ => return None,
        };
        let [vw, mr, nr, kc, mc, nc, threads, mchunks, nchunks] = fields[..] else {
            return None;
        };
        let ok = vw > 0
            && mr > 0
            && nr % vw == 0
            && nr > 0
            && kc > 0
            && mc % mr == 0
            && mc > 0
            && nc > 0
            && threads > 0;
        ok.then_some(Tuning {
            opts: GemmOpts {
                vw,
                mr,
                nr,
                kc,
                mc,
                nc,
            },
            threads,
            mchunks: mchunks.max(1),
            nchunks: nchunks.max(1),
            packing,
            parallel,
        })
    }
}

/// Recognise a GEMM in a simplified kernel and plan it, with the heuristic's choices or `tuning`.
pub fn match_gemm(k: &Kernel, target: &CpuTarget, tuning: Option<&Tuning>) -> Option<GemmPlan> {
    let r = k.reduction.as_ref()?;
    if r.op != ReduceOp::Sum || k.reduce_axes.len() != 1 || !r.dtype.is_float() {
        return None;
    }
    let acc = r.dtype.compute();
    let ExprOp::Binary(BinaryOp::Mul, ea, eb) = &r.src.op else {
        return None;
    };
    let (abuf, adt, av) = load_of(ea)?;
    let (bbuf, bdt, bv) = load_of(eb)?;
    if !adt.is_float()
        || !bdt.is_float()
        || adt.compute() != acc && adt != DType::F16
        || bdt.compute() != acc && bdt != DType::F16
    {
        return None;
    }
    if !k.buf_dtypes[0].is_float() {
        return None;
    }
    let kd = k.reduce_axes[0];
    let (mut m_ax, mut n_ax, mut batch_ax) = (vec![], vec![], vec![]);
    for d in (0..k.full_shape.len()).filter(|&d| d != kd) {
        match (av.strides[d] != 0, bv.strides[d] != 0) {
            (true, false) => m_ax.push(d),
            (false, true) => n_ax.push(d),
            _ => batch_ax.push(d),
        }
    }
    if m_ax.len() > 1
        || n_ax.len() > 1
        || (m_ax.is_empty() && n_ax.is_empty())
        || batch_ax.len() > MAX_BATCH
    {
        return None;
    }
    // the epilogue may only read, never reduce; its loads become operands 3..
    let mut epi_views: Vec<(usize, DType, View)> = vec![];
    collect_loads(&k.body, &mut epi_views);

    let size = |ax: &[usize]| ax.first().map_or(1, |&d| k.full_shape[d]);
    let (m, n, kk) = (size(&m_ax), size(&n_ax), k.full_shape[kd]);
    let batch: usize = batch_ax.iter().map(|&d| k.full_shape[d]).product();
    let t = tuning
        .copied()
        .unwrap_or_else(|| Tuning::heuristic(target, acc, batch, m, n, kk));
    let (opts, threads, mch, nch) = (t.opts, t.threads, t.mchunks, t.nchunks);
    // shared B panels hold one batch index's B; vectors (M or N = 1) take their own path
    let parallel = match t.parallel {
        Parallel::Shared if batch != 1 || m < 2 || n < 2 || threads < 2 => Parallel::Chunks,
        p => p,
    };
    let kc = if k.buf_dtypes[0] == acc {
        balanced_block(opts.kc, kk)
    } else {
        kk.max(1)
    };
    let mc = opts.mc.min(round_up(m.div_ceil(mch), opts.mr));
    // N's last panel is another pass over A, so it is balanced like K (N = 4097: one panel)
    let nc = balanced_block(opts.nc, round_up(n.div_ceil(nch), opts.nr));
    // shared blocks of C start on B micro-panel boundaries
    let nc = if parallel == Parallel::Shared {
        round_up(nc, opts.nr)
    } else {
        nc
    };

    let mut params = vec![0i64; P_OPERANDS];
    params[P_M] = m as i64;
    params[P_N] = n as i64;
    params[P_K] = kk as i64;
    params[P_BATCH] = batch as i64;
    for i in 0..MAX_BATCH {
        // batch dims right-aligned so the innermost is last
        let j = (i + batch_ax.len()).checked_sub(MAX_BATCH);
        params[P_BATCH_DIMS + i] = j.map_or(1, |j| k.full_shape[batch_ax[j]] as i64);
    }
    params[P_MCHUNKS] = mch as i64;
    params[P_NCHUNKS] = nch as i64;
    params[P_KC] = kc as i64;
    params[P_MC] = mc as i64;
    params[P_NC] = nc as i64;
    let packing = if kk <= INPLACE_MAX_K {
        t.packing
    } else {
        Packing::Both
    };
    params[P_PACKING] = packing.code() as i64;
    params[P_PARALLEL] = parallel.code() as i64;
    let mut operand = |v: &View| {
        let st = |ax: &[usize]| ax.first().map_or(0, |&d| v.strides[d] as i64);
        params.push(v.offset as i64);
        params.push(st(&m_ax));
        params.push(st(&n_ax));
        params.push(v.strides[kd] as i64);
        for i in 0..MAX_BATCH {
            let j = (i + batch_ax.len()).checked_sub(MAX_BATCH);
            params.push(j.map_or(0, |j| v.strides[batch_ax[j]] as i64));
        }
    };
    operand(&k.out_view());
    operand(av);
    operand(bv);
    for (_, _, v) in &epi_views {
        operand(v);
    }
    Some(GemmPlan {
        opts,
        tuning: Tuning { parallel, ..t },
        acc,
        out_dtype: k.buf_dtypes[0],
        a: (abuf, adt),
        b: (bbuf, bdt),
        epilogue: k.body.clone(),
        epi_loads: epi_views.iter().map(|(b, d, _)| (*b, *d)).collect(),
        m,
        n,
        k: kk,
        batch,
        threads,
        params,
    })
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

fn collect_loads(e: &Expr, out: &mut Vec<(usize, DType, View)>) {
    e.for_each_load(&mut |b, d, v| out.push((b, d, v.clone())));
}

impl GemmPlan {
    /// The packing this plan's parameters ask for (`Both` wherever K is too deep for in place).
    pub fn packing(&self) -> Packing {
        Packing::from_code(self.params[P_PACKING] as usize).unwrap_or(Packing::Both)
    }

    /// What the rendered source depends on: dtypes, buffers, the epilogue's structure, the
    /// compile-time opts and which microkernels the packing needs. Not the rank, sizes or
    /// strides (all run-time parameters).
    pub fn signature(&self) -> String {
        let mut epi = String::new();
        self.epilogue.structure(&mut epi, false);
        format!(
            "gemm|vw{}mr{}nr{}|{}|acc:{}|a{}:{}|b{}:{}|out:{}|{epi}",
            self.opts.vw,
            self.opts.mr,
            self.opts.nr,
            self.packing().name(),
            self.acc.name(),
            self.a.0,
            self.a.1.name(),
            self.b.0,
            self.b.1.name(),
            self.out_dtype.name()
        )
    }

    /// How threads share this plan's work (`Shared` only where its preconditions hold).
    pub fn parallel(&self) -> Parallel {
        Parallel::from_code(self.params[P_PARALLEL] as usize).unwrap_or(Parallel::Chunks)
    }

    /// Claim flags of `Parallel::Shared`, one int32 per B micro-panel (K block x NR columns),
    /// in bytes: zeroed before every launch.
    fn shared_flag_bytes(&self) -> usize {
        let kc = self.params[P_KC] as usize;
        let panels = self.k.div_ceil(kc.max(1)) * self.n.div_ceil(self.opts.nr);
        round_up(panels * 4, 64)
    }

    /// Scratch memory: per thread a packed A block (MC x KC) and a packed B panel (KC x NC), in
    /// accumulator elements, plus alignment slack; shared, the B panel of `Parallel::Barrier` or
    /// the claim flags and all of packed B (K x N rounded up to NR) of `Parallel::Shared`.
    pub fn scratch(&self) -> Scratch {
        let (kc, mc, nc) = (
            self.params[P_KC] as usize,
            self.params[P_MC] as usize,
            self.params[P_NC] as usize,
        );
        let mc = round_up(mc, self.opts.mr);
        let nc = round_up(nc, self.opts.nr);
        let parallel = self.parallel();
        // shared GEMMs read B from the shared workspace: a thread packs only its A block
        let own_b = if parallel == Parallel::Shared {
            0
        } else {
            kc * nc
        };
        let packed = mc * kc + own_b;
        // a single output row or column is accumulated in the workspace before the epilogue
        let vector = self.m.max(self.n);
        let per_thread = packed.max(vector) * self.acc.itemsize() + 256;
        match parallel {
            Parallel::Chunks => Scratch {
                per_thread,
                shared: 0,
                shared_zeroed: 0,
                derived_from: None,
            },
            Parallel::Barrier => Scratch {
                per_thread,
                shared: kc * nc * self.acc.itemsize() + 64,
                shared_zeroed: 0,
                derived_from: None,
            },
            Parallel::Shared => {
                let flags = self.shared_flag_bytes();
                let b = self.k * round_up(self.n, self.opts.nr) * self.acc.itemsize();
                Scratch {
                    per_thread,
                    shared: flags + b + 64,
                    shared_zeroed: flags,
                    // packed B: kept for the next launch over the same B
                    derived_from: Some(self.b.0),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{b_rows_crowd_l1, balanced_block, Packing};

    #[test]
    fn streamed_batches_read_in_place_unless_b_rows_crowd_l1_sets() {
        // power-of-two rows of 512 bytes hit 8 of 64 sets: 128 rows is 16 lines a set
        assert!(b_rows_crowd_l1(512, 128));
        assert!(!b_rows_crowd_l1(512, 64));
        assert!(!b_rows_crowd_l1(256, 128)); // 16 sets, 8 lines each: fits
        assert!(!b_rows_crowd_l1(384, 256)); // 32 sets, 8 lines each
        assert!(b_rows_crowd_l1(384, 512)); // 16 lines a set: 32 KiB of rows
        assert!(!b_rows_crowd_l1(4 * 77, 512)); // not line-aligned: spread over every set
        assert_eq!(Packing::heuristic(64, 128, 128, 128, 4), Packing::Both);
        assert_eq!(Packing::heuristic(64, 64, 64, 64, 4), Packing::Neither);
        assert_eq!(Packing::heuristic(32, 96, 96, 96, 4), Packing::Neither);
        // cached operands read in place whatever the stride; one big matrix is packed
        assert_eq!(Packing::heuristic(1, 128, 128, 128, 4), Packing::Neither);
        assert_eq!(Packing::heuristic(1, 512, 512, 512, 4), Packing::Both);
        // a batch whose matrices are too big to prefetch is packed
        assert_eq!(Packing::heuristic(16, 128, 128, 512, 4), Packing::Both);
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

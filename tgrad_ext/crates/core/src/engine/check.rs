//! Launch checks, on every launch (replays included): every view a kernel reads or writes lies
//! inside its buffer; a GEMM's parameters satisfy the template's preconditions (sizes, KC >= 1,
//! MC a multiple of MR, chunk counts >= 1, extents without 64-bit overflow); and the CPU
//! workspaces cover every region the template addresses (packed A and B blocks, the vector
//! path's row, Barrier's shared panel, Shared's flags and packed B), computed here from the
//! template's own indexing rather than from the plan's `scratch()`. A failure is an error naming
//! the kernel, the operand and the bounds, before any memory is touched.

use std::sync::Arc;

use crate::abi::{GemmParams, LaunchDims, LoopParams};
use crate::codegen::{GemmSchedule, Program, Strategy};
use crate::error::{Error, Result};
use crate::runtime::buffer::Buffer;

/// What a launch must satisfy, derived from its plan once.
#[derive(Debug, Clone)]
pub struct LaunchCheck {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Loop program: rank, the buffer each view (output first) belongs to, and its constants.
    Loops {
        rank: usize,
        views: Vec<usize>,
        consts: usize,
    },
    /// GEMM: the buffer of each operand, its constants, and the CPU tile (None on a GPU).
    Gemm {
        operands: Vec<usize>,
        consts: usize,
        cpu: Option<CpuTile>,
    },
}

#[derive(Debug, Clone, Copy)]
struct CpuTile {
    mr: i64,
    nr: i64,
    acc: i64,
    /// The vector path (one output row or column) is compiled in.
    vector: bool,
}

fn err(name: &str, what: &str) -> Error {
    Error::Shape(format!("launch check of kernel {name}: {what}"))
}

/// The lowest and highest element a strided index space touches: `offset + sum i_d * st_d`
/// for `0 <= i_d < n_d` (None when empty). Overflow is an error.
fn extent(
    offset: i64,
    dims: impl IntoIterator<Item = (i64, i64)>,
) -> std::result::Result<Option<(i128, i128)>, String> {
    let (mut lo, mut hi) = (i128::from(offset), i128::from(offset));
    for (n, st) in dims {
        if n <= 0 {
            return if n == 0 {
                Ok(None)
            } else {
                Err(format!("a negative size {n}"))
            };
        }
        let span = i128::from(n - 1) * i128::from(st);
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    let fits = |x: i128| i64::try_from(x).is_ok();
    if fits(lo) && fits(hi) {
        Ok(Some((lo, hi)))
    } else {
        Err("an index that overflows 64 bits".into())
    }
}

/// `what` names the view, and is formatted only for an error: the check runs on every launch.
fn inside(
    name: &str,
    what: impl Fn() -> String,
    buf: &Buffer,
    offset: i64,
    dims: impl IntoIterator<Item = (i64, i64)>,
) -> Result<()> {
    match extent(offset, dims).map_err(|e| err(name, &format!("{}: {e}", what())))? {
        None => Ok(()),
        Some((lo, hi)) if lo >= 0 && hi < buf.count() as i128 => Ok(()),
        Some((lo, hi)) => Err(err(
            name,
            &format!(
                "{} reaches elements {lo}..={hi} of a buffer of {} {} elements",
                what(),
                buf.count(),
                buf.dtype.name()
            ),
        )),
    }
}

impl LaunchCheck {
    pub fn for_program(p: &Program) -> LaunchCheck {
        let kind = match &p.strategy {
            Strategy::Loops(_) => {
                let mut views = vec![0];
                views.extend(p.kernel.loads().into_iter().map(|(b, _)| b));
                Kind::Loops {
                    rank: p.kernel.full_shape.len(),
                    views,
                    consts: p.kernel.consts().len(),
                }
            }
            Strategy::Gemm(g) => {
                let c = &g.c;
                let mut operands = vec![0, c.a.0, c.b.0];
                operands.extend(c.epi_loads.iter().map(|(b, _)| *b));
                let cpu = match &g.schedule {
                    GemmSchedule::Cpu(cpu) => Some(CpuTile {
                        mr: cpu.opts.mr as i64,
                        nr: cpu.opts.nr as i64,
                        acc: c.acc.itemsize() as i64,
                        vector: c.holds_accumulators(),
                    }),
                    GemmSchedule::Gpu(_) => None,
                };
                Kind::Gemm {
                    operands,
                    consts: p.kernel.consts().len(),
                    cpu,
                }
            }
        };
        LaunchCheck { kind }
    }

    /// Check a launch of the program this was derived from.
    pub fn check(
        &self,
        name: &str,
        params: &[i64],
        bufs: &[Arc<Buffer>],
        dims: &LaunchDims,
    ) -> Result<()> {
        match &self.kind {
            Kind::Loops {
                rank,
                views,
                consts,
            } => {
                let p = LoopParams::from_words(params, *rank, views.len(), *consts).ok_or_else(
                    || {
                        err(
                            name,
                            &format!("{} parameter words for rank {rank}", params.len()),
                        )
                    },
                )?;
                for (k, (v, &buf)) in p.views.iter().zip(views).enumerate() {
                    let b = bufs.get(buf).ok_or_else(|| {
                        err(
                            name,
                            &format!("view {k} reads buffer {buf} of {}", bufs.len()),
                        )
                    })?;
                    let d = p.shape.iter().copied().zip(v.strides.iter().copied());
                    inside(name, || format!("view {k} (buffer {buf})"), b, v.offset, d)?;
                }
                Ok(())
            }
            Kind::Gemm {
                operands,
                consts,
                cpu,
            } => {
                let g = GemmParams::from_words(params, operands.len(), *consts)
                    .ok_or_else(|| err(name, "malformed GEMM parameters"))?;
                gemm(name, &g, operands, bufs)?;
                match (cpu, dims) {
                    (
                        Some(t),
                        LaunchDims::Cpu {
                            scratch, threads, ..
                        },
                    ) => cpu_gemm(name, &g, *t, scratch, *threads),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// Sizes positive and consistent, every operand inside its buffer.
fn gemm(name: &str, g: &GemmParams, operands: &[usize], bufs: &[Arc<Buffer>]) -> Result<()> {
    let h = &g.header;
    let product = h.batch_dims.iter().try_fold(1i64, |a, &d| a.checked_mul(d));
    if h.m < 1
        || h.n < 1
        || h.k < 1
        || product != Some(h.batch)
        || h.batch_dims.iter().any(|&d| d < 1)
    {
        return Err(err(
            name,
            &format!(
                "sizes M={} N={} K={} batch={} dims {:?}",
                h.m, h.n, h.k, h.batch, h.batch_dims
            ),
        ));
    }
    if g.operands.len() != operands.len() {
        return Err(err(
            name,
            &format!(
                "{} operands, the plan has {}",
                g.operands.len(),
                operands.len()
            ),
        ));
    }
    for (o, (op, &buf)) in g.operands.iter().zip(operands).enumerate() {
        let b = bufs.get(buf).ok_or_else(|| {
            err(
                name,
                &format!("operand {o} reads buffer {buf} of {}", bufs.len()),
            )
        })?;
        let d = [(h.m, op.sm), (h.n, op.sn), (h.k, op.sk)]
            .into_iter()
            .chain(h.batch_dims.iter().copied().zip(op.sb.iter().copied()));
        inside(
            name,
            || format!("operand {o} (buffer {buf})"),
            b,
            op.offset,
            d,
        )?;
    }
    Ok(())
}

fn round_up(x: i64, m: i64) -> i64 {
    (x + m - 1) / m * m
}

/// The CPU template's preconditions, and its workspace regions inside the scratch.
fn cpu_gemm(
    name: &str,
    g: &GemmParams,
    t: CpuTile,
    s: &crate::abi::Scratch,
    threads: usize,
) -> Result<()> {
    let h = &g.header;
    let ok = h.kc >= 1
        && h.mc >= 1
        && h.mc % t.mr == 0
        && h.nc >= 1
        && h.mchunks >= 1
        && h.nchunks >= 1
        && threads >= 1;
    if !ok {
        return Err(err(
            name,
            &format!(
                "blocking KC={} MC={} NC={} (MR={}) chunks {}x{} threads {threads}",
                h.kc, h.mc, h.nc, t.mr, h.mchunks, h.nchunks
            ),
        ));
    }
    // per thread: packed A (rows of MC rounded to MR, KC deep) at the start, then packed B
    // (KC x NC rounded to NR) at the next 64-byte boundary; or the vector path's output row
    let a_bytes = round_up(h.mc, t.mr) * h.kc * t.acc;
    let own_b = match h.parallel {
        2 => 0,
        _ => round_up(a_bytes, 64) + h.kc * round_up(h.nc.min(round_up(h.n, t.nr)), t.nr) * t.acc,
    };
    let vector = if t.vector { h.m.max(h.n) * t.acc } else { 0 };
    let need = a_bytes.max(own_b).max(vector);
    if need > s.per_thread as i64 {
        return Err(err(
            name,
            &format!(
                "a thread's workspace regions end at byte {need}, the workspace holds {}",
                s.per_thread
            ),
        ));
    }
    let shared_need = match h.parallel {
        1 => h.kc.min(h.k) * round_up(h.nc.min(h.n), t.nr) * t.acc,
        2 => {
            let (np, nkb) = ((h.n + t.nr - 1) / t.nr, (h.k + h.kc - 1) / h.kc);
            round_up(nkb * np * 4, 64) + h.k * np * t.nr * t.acc
        }
        _ => 0,
    };
    if shared_need > s.shared as i64 {
        return Err(err(
            name,
            &format!(
                "the shared workspace's regions end at byte {} past its header, it holds {}",
                shared_need, s.shared
            ),
        ));
    }
    Ok(())
}

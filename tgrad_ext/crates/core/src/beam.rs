//! TGRAD_BEAM=N: a beam search over a GEMM's tunable choices (register tile, KC, MC, thread
//! split), timed on the kernel's real buffers, with the winner kept in the disk cache keyed by
//! the program, the shape, the operand layout, the thread count and the machine, so a second
//! process pays nothing. The heuristic is always a candidate, so search never makes it worse.

use std::time::Instant;

use crate::codegen::gemm::{GemmPlan, Packing, Parallel, Tuning};
use crate::codegen::opts::{CpuTarget, GemmOpts, VectorIsa};
use crate::codegen::{self, Program, Strategy};
use crate::error::Result;
use crate::runtime::compiler::{cache_subdir, sha256_hex, write_atomic};
use crate::schedule::ScheduleItem;

/// Register tiles (MR, vectors per row) worth trying for an ISA.
fn tiles(isa: VectorIsa) -> Vec<(usize, usize)> {
    match isa.registers() {
        32 => vec![(12, 2), (8, 3), (14, 2), (6, 4)],
        _ => vec![(6, 2), (4, 3), (8, 1), (3, 4)],
    }
}

/// The candidates of one stage of the search, derived from a kept tuning.
pub fn stage_candidates(
    stage: usize,
    base: &Tuning,
    isa: VectorIsa,
    max_threads: usize,
) -> Vec<Tuning> {
    let o = base.opts;
    let with = |opts: GemmOpts| Tuning { opts, ..*base };
    match stage {
        0 => tiles(isa)
            .into_iter()
            .map(|(mr, nv)| {
                with(GemmOpts {
                    mr,
                    nr: nv * o.vw,
                    mc: (o.mc / o.mr).max(1) * mr,
                    ..o
                })
            })
            .collect(),
        1 => [128, 192, 256, 384, 512]
            .into_iter()
            .map(|kc| with(GemmOpts { kc, ..o }))
            .collect(),
        2 => [8, 12, 16, 24, 32]
            .into_iter()
            .map(|f| with(GemmOpts { mc: f * o.mr, ..o }))
            .collect(),
        3 => {
            let t = max_threads.max(1);
            let mut v = vec![Tuning {
                threads: 1,
                mchunks: 1,
                nchunks: 1,
                parallel: Parallel::Chunks,
                ..*base
            }];
            if t > 1 {
                for (m, n) in [(t, 1), (1, t), (2 * t, 1), (1, 2 * t), (t, t)] {
                    v.push(Tuning {
                        threads: t,
                        mchunks: m,
                        nchunks: n,
                        parallel: Parallel::Chunks,
                        ..*base
                    });
                }
                // all threads on one GEMM, sharing packed B panels: at barriers, or claiming
                // blocks of C (4 and 8 per thread)
                v.push(Tuning {
                    threads: t,
                    mchunks: 1,
                    nchunks: 1,
                    parallel: Parallel::Barrier,
                    ..*base
                });
                for per in [4, 8] {
                    v.push(Tuning {
                        threads: t,
                        mchunks: per * t,
                        nchunks: 1,
                        parallel: Parallel::Shared,
                        ..*base
                    });
                }
            }
            v
        }
        4 => Packing::ALL
            .into_iter()
            .filter(|&p| p != base.packing)
            .map(|packing| Tuning { packing, ..*base })
            .collect(),
        _ => vec![],
    }
}

pub const STAGES: usize = 5;

fn cache_key(p: &Program, g: &GemmPlan, target: &CpuTarget, host: &str) -> String {
    // shape, batch and every operand's strides: the layout changes which choice wins
    let desc = format!(
        "{}|{:?}|threads{}|{host}",
        g.signature(),
        &g.params[..],
        target.threads
    );
    let _ = p;
    sha256_hex(desc.as_bytes())[..40].to_string()
}

/// Seconds per launch: the best of a few runs.
fn time_launch(launch: &crate::engine::Launch) -> Result<f64> {
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for i in 0..5 {
        let t0 = Instant::now();
        crate::engine::launch_quiet(launch)?;
        let dt = t0.elapsed().as_secs_f64();
        best = best.min(dt);
        total += dt;
        if i >= 1 && total > 0.5 {
            break;
        }
    }
    Ok(best)
}

/// The tuning to use for this GEMM: from the cache, else searched now (and cached).
pub fn tune(
    item: &ScheduleItem,
    p: &Program,
    width: usize,
    target: &CpuTarget,
    host: &str,
) -> Result<Option<Tuning>> {
    let Strategy::Gemm(g) = &p.strategy else {
        return Ok(None);
    };
    let dir = cache_subdir("beam")?;
    let path = dir.join(format!("{}.txt", cache_key(p, g, target, host)));
    if let Some(t) = std::fs::read_to_string(&path)
        .ok()
        .as_deref()
        .and_then(Tuning::parse)
    {
        crate::engine::note_beam(false, 0.0);
        return Ok(Some(t));
    }
    let t0 = Instant::now();
    let mut timed: Vec<(f64, Tuning)> = Vec::new();
    let measure = |t: Tuning, timed: &mut Vec<(f64, Tuning)>| -> Result<f64> {
        if let Some((s, _)) = timed.iter().find(|(_, x)| *x == t) {
            return Ok(*s);
        }
        let cand = codegen::plan_tuned(&item.kernel, target, Some(&t));
        let launch = crate::engine::launch_for(&cand, item)?;
        let secs = time_launch(&launch)?;
        timed.push((secs, t));
        Ok(secs)
    };
    let mut beam = vec![g.tuning];
    measure(g.tuning, &mut timed)?;
    for stage in 0..STAGES {
        let mut scored: Vec<(f64, Tuning)> = Vec::new();
        for base in &beam {
            for c in std::iter::once(*base).chain(stage_candidates(
                stage,
                base,
                target.isa,
                target.threads,
            )) {
                scored.push((measure(c, &mut timed)?, c));
            }
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        scored.dedup_by(|a, b| a.1 == b.1);
        beam = scored
            .into_iter()
            .take(width.max(1))
            .map(|(_, t)| t)
            .collect();
    }
    let best = beam[0];
    let secs = t0.elapsed().as_secs_f64();
    if crate::flags::debug() >= 1 {
        let base_t = timed
            .iter()
            .find(|(_, t)| *t == g.tuning)
            .map_or(0.0, |x| x.0);
        let best_t = timed.iter().find(|(_, t)| *t == best).map_or(0.0, |x| x.0);
        eprintln!(
            "tgrad: beam searched {} candidates for {} in {secs:.2} s: {} threads={} chunks=({},{}) {:.1} us (heuristic {:.1} us)",
            timed.len(),
            p.name,
            best.opts,
            best.threads,
            best.mchunks,
            best.nchunks,
            best_t * 1e6,
            base_t * 1e6
        );
    }
    write_atomic(&path, best.encode().as_bytes())?;
    crate::engine::note_beam(true, secs);
    Ok(Some(best))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunings_round_trip_through_the_cache_format() {
        let t = Tuning {
            opts: GemmOpts::heuristic(VectorIsa::Avx2Fma, 4),
            threads: 2,
            mchunks: 1,
            nchunks: 2,
            packing: Packing::Both,
            parallel: Parallel::Chunks,
        };
        assert_eq!(Tuning::parse(&t.encode()), Some(t));
        assert_eq!(Tuning::parse("1 2 3"), None);
        assert_eq!(
            Tuning::parse("8 6 15 256 96 4096 2 1 2"),
            None,
            "NR must be a multiple of VW"
        );
    }

    #[test]
    fn every_stage_keeps_tiles_consistent() {
        let base = Tuning {
            opts: GemmOpts::heuristic(VectorIsa::Avx2Fma, 4),
            threads: 2,
            mchunks: 1,
            nchunks: 2,
            packing: Packing::Both,
            parallel: Parallel::Chunks,
        };
        for stage in 0..STAGES {
            let c = stage_candidates(stage, &base, VectorIsa::Avx2Fma, 2);
            assert!(!c.is_empty());
            for t in c {
                assert_eq!(t.opts.nr % t.opts.vw, 0);
                assert_eq!(t.opts.mc % t.opts.mr, 0);
                assert!(
                    t.opts.mr * t.opts.nr / t.opts.vw <= 14,
                    "accumulators fit the 16 registers"
                );
            }
        }
    }
}

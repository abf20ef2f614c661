//! BEAM search over a CPU GEMM's tunable choices (register tile, KC, MC, thread split, packing),
//! stage by stage, keeping the `width` fastest. It never runs anything itself: the caller's
//! `measure` closure plans, compiles, runs, verifies and times a candidate (the engine's), so
//! this stage stays below the engine. The heuristic's tuning is always a candidate, so the
//! search never makes a GEMM slower than the default.

use crate::error::Result;
use crate::target::VectorIsa;

use super::cpu_gemm::{GemmOpts, Packing, Parallel, Tuning};

/// Register tiles (MR, vectors per row) worth trying for an ISA.
pub fn tiles(isa: VectorIsa) -> Vec<(usize, usize)> {
    match isa.registers() {
        32 => vec![(12, 2), (8, 3), (14, 2), (6, 4)],
        _ => vec![(6, 2), (4, 3), (8, 1), (3, 4)],
    }
}

pub const STAGES: usize = 5;

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
        3 => thread_splits(base, max_threads),
        4 => Packing::ALL
            .into_iter()
            .filter(|&p| p != base.packing)
            .map(|packing| Tuning { packing, ..*base })
            .collect(),
        _ => vec![],
    }
}

fn thread_splits(base: &Tuning, max_threads: usize) -> Vec<Tuning> {
    let t = max_threads.max(1);
    let split = |threads, mchunks, nchunks, parallel| Tuning {
        threads,
        mchunks,
        nchunks,
        parallel,
        ..*base
    };
    let mut v = vec![split(1, 1, 1, Parallel::Chunks)];
    if t > 1 {
        for (m, n) in [(t, 1), (1, t), (2 * t, 1), (1, 2 * t), (t, t)] {
            v.push(split(t, m, n, Parallel::Chunks));
        }
        // all threads on one GEMM, sharing packed B panels: at barriers (with a core per
        // thread), or claiming blocks of C (4 and 8 per thread)
        if t <= crate::flags::cores() {
            v.push(split(t, 1, 1, Parallel::Barrier));
        }
        for per in [4, 8] {
            v.push(split(t, per * t, 1, Parallel::Shared));
        }
    }
    v
}

/// Every tuning a search from `base` can try (all stages, from every candidate kept): what the
/// tuning-space tests and the certificates cover.
pub fn reachable(base: &Tuning, isa: VectorIsa, max_threads: usize) -> Vec<Tuning> {
    let mut all = vec![*base];
    let mut frontier = vec![*base];
    for stage in 0..STAGES {
        let mut next = frontier.clone();
        for b in &frontier {
            for c in stage_candidates(stage, b, isa, max_threads) {
                if !all.contains(&c) {
                    all.push(c);
                }
                if !next.contains(&c) {
                    next.push(c);
                }
            }
        }
        frontier = next;
    }
    all
}

/// What measuring a candidate gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    /// Seconds per launch (the best of a few runs).
    Time(f64),
    /// Not a candidate: its output disagreed with the heuristic plan's, or it cannot run.
    Rejected(String),
}

/// What a search found and tried.
#[derive(Debug, Clone)]
pub struct Report {
    pub best: Tuning,
    pub best_seconds: f64,
    pub base_seconds: f64,
    /// Every candidate measured, with its outcome.
    pub tried: Vec<(Tuning, Measured)>,
}

impl Report {
    pub fn rejected(&self) -> impl Iterator<Item = (&Tuning, &str)> {
        self.tried.iter().filter_map(|(t, m)| match m {
            Measured::Rejected(why) => Some((t, why.as_str())),
            Measured::Time(_) => None,
        })
    }
}

/// Beam search from `base` (the heuristic's tuning, measured first), keeping the `width`
/// fastest candidates of each stage. Rejected candidates never stay in the beam.
pub fn search(
    base: Tuning,
    width: usize,
    isa: VectorIsa,
    max_threads: usize,
    mut measure: impl FnMut(&Tuning) -> Result<Measured>,
) -> Result<Report> {
    let mut tried: Vec<(Tuning, Measured)> = vec![];
    let mut time = |t: Tuning, tried: &mut Vec<(Tuning, Measured)>| -> Result<Option<f64>> {
        let m = if let Some((_, m)) = tried.iter().find(|(x, _)| *x == t) {
            m.clone()
        } else {
            let m = measure(&t)?;
            tried.push((t, m.clone()));
            m
        };
        Ok(match m {
            Measured::Time(s) => Some(s),
            Measured::Rejected(_) => None,
        })
    };
    let base_seconds = time(base, &mut tried)?.unwrap_or(f64::INFINITY);
    let mut beam = vec![(base_seconds, base)];
    for stage in 0..STAGES {
        let mut scored = beam.clone();
        for (_, b) in &beam {
            for c in stage_candidates(stage, b, isa, max_threads) {
                if let Some(s) = time(c, &mut tried)? {
                    scored.push((s, c));
                }
            }
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        scored.dedup_by(|a, b| a.1 == b.1);
        scored.truncate(width.max(1));
        beam = scored;
    }
    let (best_seconds, best) = beam[0];
    Ok(Report {
        best,
        best_seconds,
        base_seconds,
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::target::CpuTarget;

    fn base() -> Tuning {
        Tuning::heuristic(
            &CpuTarget::new(VectorIsa::Avx2Fma, 2),
            DType::F32,
            false,
            1,
            256,
            256,
            256,
        )
    }

    #[test]
    fn every_stage_keeps_tiles_consistent() {
        for t in reachable(&base(), VectorIsa::Avx2Fma, 2) {
            assert_eq!(t.opts.nr % t.opts.vw, 0);
            assert_eq!(t.opts.mc % t.opts.mr, 0);
            assert!(
                t.opts.mr * t.opts.nr / t.opts.vw <= 14,
                "accumulators fit 16 registers"
            );
        }
    }

    #[test]
    fn the_fastest_verified_candidate_wins_and_rejected_ones_never_do() {
        // a fake measurement: MR = 3 is fastest but wrong; MR = 4 next
        let r = search(base(), 2, VectorIsa::Avx2Fma, 2, |t| {
            Ok(match t.opts.mr {
                3 => Measured::Rejected("output disagrees".into()),
                4 => Measured::Time(1.0),
                _ => Measured::Time(2.0),
            })
        })
        .unwrap();
        assert_eq!(r.best.opts.mr, 4);
        assert!(r
            .rejected()
            .any(|(t, why)| t.opts.mr == 3 && why.contains("disagrees")));
        assert!((r.base_seconds - 2.0).abs() < 1e-12);
    }
}

//! TGRAD_BEAM=N on the engine: the search of `codegen::search`, with a measuring closure that
//! plans, compiles, runs and times each candidate on the kernel's real buffers, and verifies its
//! output against the heuristic plan's within the rounding-error bound before it may win (a
//! disagreeing candidate is dropped and reported at TGRAD_DEBUG >= 1). The winner is kept in the
//! cache (checksummed) with the hash of its source, keyed by the program, shape, layout, threads
//! and machine, so a second process pays nothing; a winner whose source changed, or that the
//! templates no longer support, is searched again.

use std::time::Instant;

use super::{describe, launch_quiet, note_beam, Engine, Launch};
use crate::codegen::search::{self, Measured};
use crate::codegen::{self, GemmSchedule, Program, Strategy, Tuning};
use crate::error::Result;
use crate::flags;
use crate::runtime::cache::{sha256_hex, Cache};
use crate::runtime::cpu::host_id;
use crate::schedule::ScheduleItem;
use crate::target::Target;

mod bound;

pub use bound::{agree, output_bound};

/// Seconds per launch: the best of a few runs.
fn time_launch(launch: &Launch) -> Result<f64> {
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for i in 0..5 {
        let t0 = Instant::now();
        launch_quiet(launch)?;
        let dt = t0.elapsed().as_secs_f64();
        best = best.min(dt);
        total += dt;
        if i >= 1 && total > 0.5 {
            break;
        }
    }
    Ok(best)
}

/// The cache record of `p`'s search: keyed by its signature, parameters (shape, batch and every
/// operand's strides: the layout changes which choice wins), target and machine.
pub fn cache_key(p: &Program, target: &Target) -> String {
    let desc = format!("{}|{:?}|{target}|{}", p.signature, &p.params[..], host_id());
    sha256_hex(desc.as_bytes())[..40].to_string()
}

/// A cached winner: its tuning, and the hash of the source it was verified with.
fn cached(engine: &Engine, item: &ScheduleItem, key: &str) -> Option<Tuning> {
    let text = Cache::get().ok()?.get_text("beam", key)?;
    let (line, verified) = text.split_once('\n')?;
    let t = Tuning::parse(line).ok()?;
    let p = codegen::plan_tuned(&item.kernel, &engine.target(), Some(&t)).ok()?;
    let source = sha256_hex(engine.render(&p).as_bytes());
    (verified.strip_prefix("verified ")? == source).then_some(t)
}

/// The tuning to use for this GEMM: from the cache, else searched now (and cached).
pub fn tune(
    engine: &Engine,
    item: &ScheduleItem,
    p: &Program,
    width: usize,
) -> Result<Option<Tuning>> {
    tune_with(engine, item, p, width, &|_, _| None)
}

/// Rewrites a candidate's rendered source before it runs (None: as rendered). The search runs
/// every candidate through it: tests inject faulty candidates with it.
pub type SourceEdit<'a> = &'a dyn Fn(&Tuning, &str) -> Option<String>;

/// `tune`, with `edit` applied to each candidate's source (the heuristic's reference is never
/// edited).
pub fn tune_with(
    engine: &Engine,
    item: &ScheduleItem,
    p: &Program,
    width: usize,
    edit: SourceEdit<'_>,
) -> Result<Option<Tuning>> {
    let (Strategy::Gemm(g), Target::Cpu(target)) = (&p.strategy, &p.target) else {
        return Ok(None);
    };
    let GemmSchedule::Cpu(heuristic) = &g.schedule else {
        return Ok(None);
    };
    let key = cache_key(p, &p.target);
    if let Some(t) = cached(engine, item, &key) {
        note_beam(false, 0.0, 0);
        return Ok(Some(t));
    }
    let t0 = Instant::now();
    // the heuristic's output is the reference every candidate must agree with
    let reference = engine.launch_for(p, item)?;
    launch_quiet(&reference)?;
    let want = item.bufs[0].to_vec()?;
    let bound = output_bound(&g.c, &item.bufs)?;
    let mut measure = |t: &Tuning| -> Result<Measured> {
        let cand = match codegen::plan_tuned(&item.kernel, &p.target, Some(t)) {
            Ok(c) => c,
            Err(e) => return Ok(Measured::Rejected(e.to_string())),
        };
        let mut launch = engine.launch_for(&cand, item)?;
        if let Some(src) = edit(t, &engine.render(&cand)) {
            launch.compiled = std::sync::Arc::new(super::Compiled {
                program: engine.device().load(&src)?.program,
                source: src,
                compile_seconds: 0.0,
                origin: crate::runtime::device::Origin::Compiled,
            });
        }
        let secs = time_launch(&launch)?;
        let got = item.bufs[0].to_vec()?;
        Ok(
            match agree(&want, &got, bound.as_deref(), item.bufs[0].dtype, &g.c) {
                Ok(()) => Measured::Time(secs),
                Err(why) => Measured::Rejected(format!(
                    "{} disagrees with the heuristic plan: {why}",
                    describe(&cand)
                )),
            },
        )
    };
    let report = search::search(
        heuristic.tuning,
        width,
        target.isa,
        target.threads,
        &mut measure,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let rejected = report.rejected().count() as u64;
    if flags::debug() >= 1 {
        for (_, why) in report.rejected() {
            eprintln!("tgrad: beam dropped a candidate for {}: {why}", p.name);
        }
        eprintln!(
            "tgrad: beam searched {} candidates for {} in {secs:.2} s: {} threads={} chunks=({},{}) {:.1} us (heuristic {:.1} us)",
            report.tried.len(),
            p.name,
            report.best.opts,
            report.best.threads,
            report.best.mchunks,
            report.best.nchunks,
            report.best_seconds * 1e6,
            report.base_seconds * 1e6
        );
    }
    let winner = codegen::plan_tuned(&item.kernel, &p.target, Some(&report.best))?;
    let source = sha256_hex(engine.render(&winner).as_bytes());
    Cache::get()?.put_text(
        "beam",
        &key,
        &format!("{}\nverified {source}", report.best.encode()),
    )?;
    note_beam(true, secs, rejected);
    // the output buffer holds the last candidate's result: the caller runs the winner
    Ok(Some(report.best))
}

/// Run `reference` and then `candidate` on `item`'s buffers and compare their outputs as `tune`
/// compares a candidate with the heuristic plan (tests inject faulty candidates through it).
pub fn verify_candidate(
    engine: &Engine,
    item: &ScheduleItem,
    reference: &Program,
    candidate: &Program,
) -> Result<std::result::Result<(), String>> {
    let Strategy::Gemm(g) = &reference.strategy else {
        return Ok(Ok(()));
    };
    launch_quiet(&engine.launch_for(reference, item)?)?;
    let want = item.bufs[0].to_vec()?;
    let bound = output_bound(&g.c, &item.bufs)?;
    launch_quiet(&engine.launch_for(candidate, item)?)?;
    let got = item.bufs[0].to_vec()?;
    Ok(agree(
        &want,
        &got,
        bound.as_deref(),
        item.bufs[0].dtype,
        &g.c,
    ))
}

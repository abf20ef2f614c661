//! TGRAD_BEAM's search verifies every candidate's output against the heuristic plan's before it
//! may win. A faulty candidate (injected by rewriting its source: the fastest of all, since it
//! computes nothing, and wrong) is dropped and never cached; a cached winner is reused, and one
//! whose recorded source no longer matches the template is searched again. Its own test binary:
//! the engine's statistics are per process.

mod common;

use common::{random, tensor_f32};
use tgrad_core::codegen::{GemmSchedule, Strategy, Tuning};
use tgrad_core::engine::{self, beam};
use tgrad_core::graph::{BinaryOp, UnaryOp};
use tgrad_core::runtime::cache::Cache;
use tgrad_core::schedule::schedule;
use tgrad_core::{rng, tensor};

const ENTRY: &str = "void tgrad_kernel(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {";

#[test]
fn a_faulty_candidate_is_dropped_and_cached_winners_are_verified() {
    rng::manual_seed(61);
    let (m, k, n) = (96, 80, 72);
    let x = tensor_f32(&random(m * k), &[m, k]);
    let w = tensor_f32(&random(k * n), &[k, n]);
    let b = tensor_f32(&random(n), &[n]);
    let y = tensor::unary(
        UnaryOp::Relu,
        &tensor::binary(BinaryOp::Add, &tensor::dot(&x, &w).unwrap(), &b).unwrap(),
    );
    let sched = schedule(std::slice::from_ref(&y)).unwrap();
    let item = &sched.items[0];
    let cpu = engine::cpu();
    let p = cpu.plan(&item.kernel).unwrap();
    let Strategy::Gemm(g) = &p.strategy else {
        panic!("a GEMM")
    };
    let GemmSchedule::Cpu(h) = &g.schedule else {
        panic!("a CPU plan")
    };
    let heuristic = h.tuning;
    let key = beam::cache_key(&p, &p.target);
    let cache = Cache::get().unwrap();
    let _ = std::fs::remove_file(
        cache
            .dir()
            .parent()
            .unwrap()
            .join(format!("beam/{key}.txt")),
    );

    // every candidate with another register tile than the heuristic's writes one wrong value and
    // returns at once: faster than any correct candidate
    let faulty = |t: &Tuning| t.opts.mr != heuristic.opts.mr;
    let edit = |t: &Tuning, src: &str| -> Option<String> {
        faulty(t).then(|| {
            assert!(
                src.contains(ENTRY),
                "the entry point is rendered as expected"
            );
            src.replace(
                ENTRY,
                &format!("{ENTRY}\n  if (tid == 0) *(float*)bufs[0] = 12345.0f;\n  return;"),
            )
        })
    };
    let before = engine::stats();
    let won = beam::tune_with(cpu, item, &p, 2, &edit)
        .unwrap()
        .expect("a tuning");
    let after = engine::stats();
    let tiles = tgrad_core::codegen::search::tiles(cpu.target().cpu_isa());
    let faulty_tiles = tiles
        .iter()
        .filter(|(mr, _)| *mr != heuristic.opts.mr)
        .count() as u64;
    assert!(faulty_tiles >= 3);
    assert!(
        after.beam_rejected >= before.beam_rejected + faulty_tiles,
        "every faulty tile was rejected: {} -> {}",
        before.beam_rejected,
        after.beam_rejected
    );
    assert!(
        !faulty(&won),
        "the winner {} is a faulty candidate",
        won.encode()
    );
    let record = cache.get_text("beam", &key).expect("the winner is cached");
    assert!(
        record.starts_with(&won.encode()) && record.contains("\nverified "),
        "{record}"
    );

    // the cached winner is found again, without a search
    let searches = engine::stats().beam_searches;
    assert_eq!(beam::tune(cpu, item, &p, 2).unwrap(), Some(won));
    assert_eq!(
        engine::stats().beam_searches,
        searches,
        "served from the cache"
    );

    // a record verified against another source is searched again
    let stale = record.replace("\nverified ", "\nverified 0");
    cache.put_text("beam", &key, &stale).unwrap();
    beam::tune(cpu, item, &p, 2).unwrap();
    assert_eq!(
        engine::stats().beam_searches,
        searches + 1,
        "a stale record is searched again"
    );
}

#[test]
fn the_verification_accepts_another_summation_order() {
    rng::manual_seed(67);
    let (m, k, n) = (50, 300, 40);
    let c = tensor::dot(
        &tensor_f32(&random(m * k), &[m, k]),
        &tensor_f32(&random(k * n), &[k, n]),
    )
    .unwrap();
    let sched = schedule(std::slice::from_ref(&c)).unwrap();
    let item = &sched.items[0];
    let cpu = engine::cpu();
    let reference = cpu.plan(&item.kernel).unwrap();
    // another blocking sums in another order: within the bound
    let other = tgrad_core::codegen::plan_tuned(
        &item.kernel,
        &reference.target,
        Some(&Tuning::parse("4 3 8 37 9 4096 1 1 1 0 0").unwrap()),
    )
    .unwrap();
    assert_eq!(
        beam::verify_candidate(cpu, item, &reference, &other).unwrap(),
        Ok(())
    );
}

//! The schedule cache (TGRAD_SCACHE) replays a graph realized before without scheduling it again.
//! A replay must compute exactly what scheduling the graph computes, so here every graph is
//! realized on new data with the cache (a replay from its second realize on) and without it
//! (TGRAD_SCACHE=0), and the results compared bit for bit; graphs one scheduler-relevant detail
//! apart (a constant, a view's offset or strides, reduce axes, an op, a dtype, which leaves share
//! a buffer, which nodes are realized, a region's offset) must not share a recipe. Debug builds
//! also schedule every replayed graph again and assert the recipe matches (engine/mod.rs).
//!
//! Flags and counters are per process, so the tests here take one lock.

mod common;

use std::sync::{Arc, Mutex, MutexGuard};

use common::tensor_f32;
use tgrad_core::flags::Flag;
use tgrad_core::graph::{BinaryOp, Lazy, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::ops::index::{cat, pad};
use tgrad_core::{engine, tensor, DType};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Small integers from `seed`: sums and products below are exact in f32.
fn ints(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 + seed * 3) % 11) as f32 - 5.0)
        .collect()
}

fn leaf(shape: &[usize], seed: usize) -> LazyRef {
    tensor_f32(&ints(shape.iter().product(), seed), shape)
}

fn bits(x: &LazyRef) -> Vec<u8> {
    x.buffer().expect("realized").to_vec().unwrap()
}

fn hits() -> u64 {
    engine::stats().schedule_cache_hits
}

/// Realize `build(seed)` with the schedule cache on; return its bytes and whether it was replayed.
fn cached(build: &dyn Fn(usize) -> LazyRef, seed: usize) -> (Vec<u8>, bool) {
    Flag::Scache.set(1).unwrap();
    let y = build(seed);
    let before = hits();
    engine::realize(std::slice::from_ref(&y)).unwrap();
    (bits(&y), hits() > before)
}

fn scheduled(build: &dyn Fn(usize) -> LazyRef, seed: usize) -> Vec<u8> {
    Flag::Scache.set(0).unwrap();
    let y = build(seed);
    engine::realize(std::slice::from_ref(&y)).unwrap();
    Flag::Scache.set(1).unwrap();
    bits(&y)
}

type Build = Box<dyn Fn(usize) -> LazyRef>;

fn graphs() -> Vec<(&'static str, Build)> {
    let b = |f: fn(usize) -> LazyRef| -> Build { Box::new(f) };
    vec![
        (
            "matmul",
            b(|s| tensor::dot(&leaf(&[9, 7], s), &leaf(&[7, 5], s + 1)).unwrap()),
        ),
        (
            "linear relu",
            b(|s| {
                let y = tensor::dot(&leaf(&[6, 8], s), &leaf(&[8, 4], s + 1)).unwrap();
                let y = tensor::binary(BinaryOp::Add, &y, &leaf(&[4], s + 2)).unwrap();
                tensor::unary(UnaryOp::Relu, &y)
            }),
        ),
        (
            "x @ x (one buffer, two operands)",
            b(|s| {
                let x = leaf(&[6, 6], s);
                tensor::dot(&x, &x).unwrap()
            }),
        ),
        (
            "reduce of a transposed view",
            b(|s| {
                let t = tensor::transpose(&leaf(&[5, 3], s), 0, 1).unwrap();
                tensor::reduce(ReduceOp::Max, &t, &[1], false).unwrap()
            }),
        ),
        (
            "two reductions, a shared node",
            b(|s| {
                let x = leaf(&[4, 5], s);
                let m = tensor::reduce(ReduceOp::Sum, &x, &[1], true).unwrap();
                let e = tensor::binary(BinaryOp::Sub, &x, &m).unwrap();
                let e2 = tensor::binary(BinaryOp::Mul, &e, &e).unwrap();
                tensor::reduce(ReduceOp::Sum, &e2, &[0], false).unwrap()
            }),
        ),
        (
            "pad and cat (regions)",
            b(|s| {
                let p = pad(&leaf(&[2, 3], s), &[(1, 0), (0, 2)], 0.0).unwrap();
                cat(&[p, leaf(&[2, 5], s + 1)], 0).unwrap()
            }),
        ),
        (
            "where, comparison, cast",
            b(|s| {
                let (x, y) = (leaf(&[3, 4], s), leaf(&[3, 4], s + 1));
                let c = tensor::binary(BinaryOp::CmpLt, &x, &y).unwrap();
                let w = tensor::where_(&c, &x, &y).unwrap();
                let h = tensor::cast(&w, DType::F16);
                tensor::binary(
                    BinaryOp::Add,
                    &tensor::cast(&h, DType::F32),
                    &tensor::cast(&c, DType::F32),
                )
                .unwrap()
            }),
        ),
        (
            "contiguous of a flipped matmul",
            b(|s| {
                let y = tensor::dot(&leaf(&[4, 3], s), &leaf(&[3, 5], s + 1)).unwrap();
                tensor::contiguous(&tensor::flip(&y, &[1]).unwrap())
            }),
        ),
        (
            "a chain of 40 nodes reusing its first (past the linear node search)",
            b(|s| {
                let x = leaf(&[3, 3], s);
                let mut y = x.clone();
                for i in 0..20 {
                    let c = tensor::constant(f64::from(i % 3), DType::F32, vec![3, 3]).unwrap();
                    y = tensor::binary(BinaryOp::Add, &y, &c).unwrap();
                    y = tensor::binary(BinaryOp::Max, &y, &x).unwrap();
                }
                y
            }),
        ),
    ]
}

#[test]
fn a_replay_computes_what_scheduling_computes() {
    let _g = serial();
    for (name, build) in graphs() {
        let (_, replayed) = cached(&*build, 0);
        assert!(
            !replayed,
            "{name}: the first realize of a graph was replayed"
        );
        for seed in 1..3 {
            let (got, replayed) = cached(&*build, seed);
            assert!(replayed, "{name}: realize {seed} was scheduled again");
            assert_eq!(got, scheduled(&*build, seed), "{name}, data {seed}");
        }
    }
}

/// Pairs of graphs one scheduler-relevant detail apart.
fn neighbours() -> Vec<(&'static str, Build, Build)> {
    let b = |f: fn(usize) -> LazyRef| -> Build { Box::new(f) };
    let scaled = |k: f64| {
        move |s| {
            let c = tensor::constant(k, DType::F32, vec![4, 4]).unwrap();
            tensor::binary(BinaryOp::Mul, &leaf(&[4, 4], s), &c).unwrap()
        }
    };
    vec![
        ("a constant", Box::new(scaled(2.0)), Box::new(scaled(3.0))),
        (
            "a view's offset",
            b(|s| tensor::contiguous(&tensor::shrink(&leaf(&[8], s), &[(0, 4)]).unwrap())),
            b(|s| tensor::contiguous(&tensor::shrink(&leaf(&[8], s), &[(4, 8)]).unwrap())),
        ),
        (
            "a view's strides",
            b(|s| tensor::contiguous(&tensor::transpose(&leaf(&[4, 4], s), 0, 1).unwrap())),
            b(|s| tensor::contiguous(&tensor::flip(&leaf(&[4, 4], s), &[0]).unwrap())),
        ),
        (
            "reduce axes",
            b(|s| tensor::reduce(ReduceOp::Sum, &leaf(&[4, 4], s), &[0], false).unwrap()),
            b(|s| tensor::reduce(ReduceOp::Sum, &leaf(&[4, 4], s), &[1], false).unwrap()),
        ),
        (
            "an op",
            b(
                |s| {
                    tensor::binary(BinaryOp::Add, &leaf(&[4, 4], s), &leaf(&[4, 4], s + 1)).unwrap()
                },
            ),
            b(
                |s| {
                    tensor::binary(BinaryOp::Sub, &leaf(&[4, 4], s), &leaf(&[4, 4], s + 1)).unwrap()
                },
            ),
        ),
        (
            "a dtype",
            b(|s| tensor::cast(&tensor::cast(&leaf(&[4, 4], s), DType::I32), DType::F32)),
            b(|s| tensor::cast(&tensor::cast(&leaf(&[4, 4], s), DType::F16), DType::F32)),
        ),
        (
            "leaves sharing a buffer",
            b(|s| tensor::dot(&leaf(&[4, 4], s), &leaf(&[4, 4], s + 1)).unwrap()),
            b(|s| {
                // two nodes of one shape over one buffer (as a realized view of the whole of x
                // is): the key differs from two leaves only in the buffer classes
                let x = leaf(&[4, 4], s);
                let r = Lazy::realized(x.buffer().unwrap(), vec![4, 4]);
                tensor::dot(&x, &r).unwrap()
            }),
        ),
        (
            "a realized intermediate",
            b(|s| {
                let y = tensor::binary(BinaryOp::Add, &leaf(&[4, 4], s), &leaf(&[4, 4], s + 1))
                    .unwrap();
                tensor::binary(BinaryOp::Mul, &y, &leaf(&[4, 4], s + 2)).unwrap()
            }),
            b(|s| {
                let y = tensor::binary(BinaryOp::Add, &leaf(&[4, 4], s), &leaf(&[4, 4], s + 1))
                    .unwrap();
                engine::realize(std::slice::from_ref(&y)).unwrap();
                tensor::binary(BinaryOp::Mul, &y, &leaf(&[4, 4], s + 2)).unwrap()
            }),
        ),
        (
            "a region's offset",
            b(|s| pad(&leaf(&[2, 2], s), &[(1, 0), (0, 0)], 0.0).unwrap()),
            b(|s| pad(&leaf(&[2, 2], s), &[(0, 1), (0, 0)], 0.0).unwrap()),
        ),
    ]
}

#[test]
fn graphs_one_detail_apart_do_not_share_a_recipe() {
    let _g = serial();
    for (what, first, second) in neighbours() {
        cached(&*first, 0);
        cached(&*first, 1);
        let (got, replayed) = cached(&*second, 1);
        assert!(!replayed, "graphs differing in {what} shared a recipe");
        assert_eq!(got, scheduled(&*second, 1), "{what}");
    }
}

#[test]
fn cached_graphs_keep_no_buffer_alive() {
    let _g = serial();
    Flag::Scache.set(1).unwrap();
    let mut weak = Vec::new();
    for _ in 0..2 {
        let (a, b) = (leaf(&[16, 16], 0), leaf(&[16, 16], 1));
        let y = tensor::dot(&a, &b).unwrap();
        engine::realize(std::slice::from_ref(&y)).unwrap();
        for x in [&a, &b, &y] {
            weak.push(Arc::downgrade(&x.buffer().unwrap()));
        }
    }
    assert!(
        weak.iter().all(|w| w.upgrade().is_none()),
        "a buffer outlived its tensors"
    );
}

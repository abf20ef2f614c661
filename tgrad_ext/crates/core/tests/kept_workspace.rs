//! Packed B kept in the shared workspace between launches (`Scratch::derived_from`): reused only
//! while it cannot have changed. Its own test binary: the workspace and the counter of kept
//! launches are per process, and tests in one binary run concurrently.

mod common;

use common::{abs_ref, check, f32s, random, reference, tensor_f32, LinearRelu};
use tgrad_core::codegen::{self, Strategy, Tuning};
use tgrad_core::flags::Flag;
use tgrad_core::graph::BinaryOp;
use tgrad_core::runtime::cpu::kept_workspaces;
use tgrad_core::schedule::schedule;
use tgrad_core::{engine, rng, tensor, DType};

/// Claimed blocks of C over B packed once, on two threads, several K blocks.
const SHARED: &str = "8 6 16 128 48 4096 2 2 1 0 2";

#[test]
fn packed_b_is_kept_only_while_it_cannot_have_changed() {
    rng::manual_seed(51);
    let (m, k, n) = (97, 300, 150);

    // the same B twice: the second launch keeps what the first packed, and is still right
    let case = LinearRelu::new(1, m, k, n, false);
    case.check_tuned(SHARED);
    let kept = kept_workspaces();
    case.check_tuned(SHARED);
    assert_eq!(
        kept_workspaces(),
        kept + 1,
        "the second launch keeps packed B"
    );

    // another B of the same shape (same program and parameters): packed again; a kept stale B
    // would fail the check
    LinearRelu::new(1, m, k, n, false).check_tuned(SHARED);
    assert_eq!(kept_workspaces(), kept + 1);

    // TGRAD_KEEP_PACKED=0: packed on every launch
    let before = Flag::KeepPacked.set(0).unwrap();
    case.check_tuned(SHARED);
    case.check_tuned(SHARED);
    Flag::KeepPacked.set(before).unwrap();
    assert_eq!(
        kept_workspaces(),
        kept + 1,
        "nothing kept with KEEP_PACKED=0"
    );

    // a replay rewrites the buffers its kernels wrote: B = 2 w, computed in the capture, changes
    // with w and is packed again on every replay
    let a = random(m * k);
    let x = tensor_f32(&a, &[m, k]);
    let w = tensor_f32(&random(k * n), &[k, n]);
    let two = tensor::constant(2.0, DType::F32, vec![k, n]).unwrap();
    let t = tensor::binary(BinaryOp::Mul, &w, &two).unwrap();
    engine::capture_begin().unwrap();
    engine::realize(std::slice::from_ref(&t)).unwrap();
    let mut launches = engine::capture_end();
    assert_eq!(launches.len(), 1, "2 w is one kernel");
    let sched = schedule(&[tensor::dot(&x, &t).unwrap()]).unwrap();
    let item = &sched.items[0];
    let tuning = Tuning::parse(SHARED).unwrap();
    let cpu = engine::cpu();
    let program = codegen::plan_tuned(&item.kernel, &cpu.target(), Some(&tuning)).unwrap();
    assert!(matches!(program.strategy, Strategy::Gemm(_)));
    launches.push(cpu.launch_for(&program, item).unwrap());
    let w_id = w.buffer().unwrap().id;
    for round in 0..3 {
        let w2 = random(k * n);
        let w2_node = tensor_f32(&w2, &[k, n]);
        let swap = (w_id, w2_node.buffer().unwrap());
        let kept = kept_workspaces();
        engine::replay(&launches, &[swap]).unwrap();
        assert_eq!(
            kept_workspaces(),
            kept,
            "round {round}: B was rewritten, nothing kept"
        );
        let b2: Vec<f32> = w2.iter().map(|v| 2.0 * v).collect();
        check(
            &f32s(&item.bufs[0].to_vec().unwrap()),
            &reference(&a, &b2, 1, m, k, n),
            &abs_ref(&a, &b2, 1, m, k, n),
            k,
        );
    }
}

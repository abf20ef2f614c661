//! What a user sees of the certificates: planned CPU kernels are certified by the committed
//! certificates (which match the sources this binary was built from); TGRAD_VERIFY=1 refuses a
//! kernel outside them with the reason; a stale or unproven certificate certifies nothing.

use tgrad_core::certify::cert::{self, Certificate, Status};
use tgrad_core::codegen::{self, Tuning};
use tgrad_core::flags::Flag;
use tgrad_core::graph::ReduceOp;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{CpuTarget, GpuTarget, Target, VectorIsa};
use tgrad_core::{engine, tensor, DType, Error};

fn input(shape: &[usize]) -> tgrad_core::graph::LazyRef {
    let n = shape.iter().product();
    tensor::from_buffer(Buffer::new(DType::F32, n, true).unwrap(), shape.to_vec()).unwrap()
}

fn cpu() -> Target {
    Target::Cpu(CpuTarget::new(VectorIsa::Sse2, 2))
}

#[test]
fn committed_certificates_are_fresh_and_proven() {
    for (text, hash) in [
        (cert::GEMM_CERT, cert::gemm_template_hash()),
        (cert::LOOPS_CERT, cert::loops_template_hash()),
    ] {
        let c = Certificate::parse(text);
        assert_eq!(c.problem(&hash), None, "{}", c.name);
        assert!(c.obligations > 40 && c.solver.starts_with("z3"), "{c:?}");
    }
}

#[test]
fn planned_gemms_and_loops_are_certified_and_the_rest_is_not() {
    let gemm = tensor::dot(&input(&[64, 48]), &input(&[48, 40])).unwrap();
    let s = schedule(std::slice::from_ref(&gemm)).unwrap();
    for t in [
        None,
        Some("4 3 8 16 6 64 2 2 1 2 0"),
        Some("4 1 4 7 1 64 2 1 1 1 2"),
    ] {
        let t = t.map(|l| Tuning::parse(l).unwrap());
        let p = codegen::plan_tuned(&s.items[0].kernel, &cpu(), t.as_ref()).unwrap();
        let st = cert::status(&p);
        assert!(
            matches!(&st, Status::Certified(w) if w.contains("cpu_gemm.cert")),
            "{t:?}: {st:?}"
        );
    }
    let gpu = codegen::plan(&s.items[0].kernel, &Target::Gpu(GpuTarget::cuda(9, 0))).unwrap();
    assert!(matches!(cert::status(&gpu), Status::Uncertified(w) if w.contains("GPU")));
    // loops of rank 6 are covered, rank 7 is not
    for (rank, certified) in [(6, true), (7, false)] {
        let shape: Vec<usize> = (0..rank).map(|d| 2 + d % 2).collect();
        let order: Vec<i64> = (0..rank as i64).rev().collect();
        let x = tensor::permute(&input(&shape), &order).unwrap();
        let y = tensor::reduce(ReduceOp::Sum, &x, &[0], false).unwrap();
        let s = schedule(std::slice::from_ref(&y)).unwrap();
        let p = codegen::plan(&s.items[0].kernel, &cpu()).unwrap();
        assert_eq!(p.kernel.full_shape.len(), rank, "the dims stay apart");
        let st = cert::status(&p);
        assert_eq!(
            matches!(st, Status::Certified(_)),
            certified,
            "rank {rank}: {st:?}"
        );
    }
}

#[test]
fn verify_1_refuses_an_uncertified_kernel_with_the_reason() {
    let shape = [2, 3, 2, 3, 2, 3, 2];
    let x = tensor::permute(&input(&shape), &[6, 5, 4, 3, 2, 1, 0]).unwrap();
    let y = tensor::reduce(ReduceOp::Sum, &x, &[0], false).unwrap();
    let before = Flag::Verify.get();
    Flag::Verify.set(1).unwrap();
    let r = engine::cpu().realize(std::slice::from_ref(&y));
    Flag::Verify.set(before).unwrap();
    match r {
        Err(Error::Unsupported(why)) => {
            assert!(why.contains("no proof") && why.contains("rank 7"), "{why}");
        }
        other => panic!("a rank-7 loop kernel ran under TGRAD_VERIFY=1: {other:?}"),
    }
    // the same kernel runs without the flag
    engine::cpu().realize(std::slice::from_ref(&y)).unwrap();
}

#[test]
fn stale_or_unproven_certificates_certify_nothing() {
    let c = Certificate::parse(cert::GEMM_CERT);
    assert!(c.problem("0000").is_some_and(|w| w.contains("stale")));
    let unproven = cert::GEMM_CERT.replace(
        &format!("proved {}/", c.proved),
        &format!("proved {}/", c.proved - 1),
    );
    let u = Certificate::parse(&unproven);
    assert!(
        u.problem(&cert::gemm_template_hash())
            .is_some_and(|w| w.contains("proves")),
        "{u:?}"
    );
}

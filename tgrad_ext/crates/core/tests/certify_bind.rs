//! The certificates' model bound to the code: for configurations across the family (every kind
//! of contraction, tiles from 1 x 1 vector to 16 x 8 vectors, each vector width, packing and
//! parallel mode) the rendered GEMM program shows every model statement's text, carries exactly
//! the model's access tags (each on a line with the access it names), has no untagged access,
//! and defines the plan's constants; rendered loop programs show the skeleton the loop
//! obligations state. The checks see a removed tag, an untagged access and a changed index.

use std::collections::BTreeSet;

use tgrad_core::certify::walk::Site;
use tgrad_core::certify::{self, bind, config, fp, loops};
use tgrad_core::codegen::cpu_gemm::{Packing, Parallel};
use tgrad_core::codegen::{self, search, Program, Strategy, Tuning};
use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp};
use tgrad_core::render::{self, c::gemm_header_file};
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{CpuTarget, Target, VectorIsa};
use tgrad_core::{tensor, DType};

fn source(p: &Program) -> String {
    render::for_target(&p.target).render(p)
}

/// (program, configuration) pairs across the family.
fn sample() -> Vec<(Program, config::Config)> {
    let mut out = vec![];
    for (_, root) in config::kinds().unwrap() {
        let p = config::program(&root).unwrap();
        let Strategy::Gemm(g) = &p.strategy else {
            unreachable!()
        };
        let acc = g.c.acc.itemsize();
        for (k, &(mr, nv, vw)) in config::tiles(acc).iter().enumerate() {
            // every MR and vector count with one width each, and the corners of every width
            let corner = [1, 3, 4, 8, 16].contains(&mr) && [1, 8].contains(&nv);
            if k % 7 != 0 && !corner {
                continue;
            }
            for (j, packing) in Packing::ALL.into_iter().enumerate() {
                let parallel = Parallel::ALL[(k + j) % 3];
                let (q, cpu) = config::retiled(&p, (mr, nv, vw), packing, parallel).unwrap();
                let c = config::of_header(&gemm_header_file(&q).unwrap(), &cpu);
                let vector = fp::vector_path(&g.c);
                assert_eq!(
                    c["TG_VECTOR_PATH"],
                    i64::from(vector),
                    "the rounding depth's paths"
                );
                // compiled for both in-place packings (one source); the kernel and the rounding
                // depth both take the in-place tiles only when the run-time packing is Neither
                let b_inplace = vector && cpu.packing != Packing::Both;
                assert_eq!(
                    c["TG_B_INPLACE"],
                    i64::from(b_inplace),
                    "the rounding depth's paths"
                );
                assert_eq!(
                    (c["MR"], c["NR"], c["VW"]),
                    (mr as i64, (nv * vw) as i64, vw as i64),
                    "the plan's constants"
                );
                out.push((q, c));
            }
        }
    }
    out
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "thousands of rendered programs: make test runs it in its release pass"
)]
fn rendered_gemm_programs_show_the_model_and_nothing_else() {
    let w = certify::gemm_walk().unwrap();
    let sample = sample();
    assert!(sample.len() > 300, "{} programs", sample.len());
    let mut failures = vec![];
    for (p, c) in &sample {
        let problems = bind::check(&source(p), c, &w.sites);
        if !problems.is_empty() {
            failures.push(format!("{c:?}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} programs:\n{}",
        failures.len(),
        sample.len(),
        failures[..failures.len().min(3)].join("\n")
    );
}

#[test]
fn the_binding_sees_a_missing_tag_an_untagged_access_and_a_changed_index() {
    let w = certify::gemm_walk().unwrap();
    let (p, c) = sample().swap_remove(0);
    let src = source(&p);
    assert!(bind::check(&src, &c, &w.sites).is_empty());
    let broken = [
        src.replacen(" /* @tg:pack_b.full */", "", 1),
        src.replacen(
            "bp[k*NR+j] = TG_LOAD_B(b[k*sk + (j0+j)*sn]); }",
            "bp[k*NR+j] = TG_LOAD_B(b[k*sk + (j0+j)*sn]); }\n  ap[0] = bp[1];",
            1,
        ),
        src.replacen(
            "ap[k*MR+i] = TG_LOAD_A(a[(i0+i)*sm + k*sk]); } /* @tg:pack_a.full */",
            "ap[k*MR+i+1] = TG_LOAD_A(a[(i0+i)*sm + k*sk]); } /* @tg:pack_a.full */",
            1,
        ),
    ];
    for (b, what) in broken
        .iter()
        .zip(["a removed tag", "an untagged access", "a changed index"])
    {
        assert_ne!(*b, src, "{what}: the edit applies");
        assert!(
            !bind::check(b, &c, &w.sites).is_empty(),
            "{what} goes unnoticed"
        );
    }
}

/// Every tuning the heuristic or BEAM can pick, for every ISA and dtype, lies in the family.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "thousands of rendered programs: make test runs it in its release pass"
)]
fn planner_and_beam_configurations_are_in_the_family() {
    let family = config::family().unwrap();
    let mut checked = 0;
    for (_, root) in config::kinds().unwrap() {
        let p = config::program(&root).unwrap();
        let Strategy::Gemm(g) = &p.strategy else {
            unreachable!()
        };
        for isa in VectorIsa::ALL {
            let target = CpuTarget::new(isa, 2);
            let base = Tuning::heuristic(
                &target,
                g.c.acc,
                !g.c.holds_accumulators(),
                g.c.batch,
                g.c.m,
                g.c.n,
                g.c.k,
            );
            for t in search::reachable(&base, isa, 2) {
                let (q, cpu) = config::retiled(
                    &p,
                    (t.opts.mr, t.opts.nr / t.opts.vw, t.opts.vw),
                    t.packing,
                    t.parallel,
                )
                .unwrap();
                let c = config::of_header(&gemm_header_file(&q).unwrap(), &cpu);
                assert!(family.contains(&c), "{isa:?} {}: {c:?}", t.encode());
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

fn input(shape: &[usize]) -> LazyRef {
    let n = shape.iter().product();
    tensor::from_buffer(Buffer::new(DType::F32, n, true).unwrap(), shape.to_vec()).unwrap()
}

#[test]
fn rendered_loop_programs_show_the_skeleton_and_tag_every_access() {
    let target = Target::Cpu(CpuTarget::new(VectorIsa::Avx2Fma, 2));
    let site = |check: &str, tag: &str| Site {
        func: "tgrad_kernel".into(),
        check: check.into(),
        tag: Some(tag.into()),
        flags: vec![],
    };
    let mut checked = 0;
    // a permuted rank-6 view keeps its dims apart; reducing subsets of them leaves every rank
    for keep in 0u32..64 {
        let x = tensor::permute(&input(&[2, 3, 2, 3, 2, 3]), &[5, 3, 1, 0, 2, 4]).unwrap();
        let axes: Vec<i64> = (0..6).filter(|d| keep & (1 << d) == 0).collect();
        let y = if axes.is_empty() {
            tensor::binary(BinaryOp::Add, &x, &x).unwrap()
        } else {
            tensor::reduce(ReduceOp::Sum, &x, &axes, false).unwrap()
        };
        let s = schedule(std::slice::from_ref(&y)).unwrap();
        let p = codegen::plan(&s.items[0].kernel, &target).unwrap();
        let src = source(&p);
        let k = &p.kernel;
        let kept: Vec<usize> = (0..k.full_shape.len())
            .filter(|d| !k.reduce_axes.contains(d))
            .collect();
        for snip in loops::snippets(&kept) {
            assert!(src.contains(&snip), "{kept:?}: `{snip}` not in\n{src}");
        }
        let mut sites = BTreeSet::from([site("b0[P->v[0].offset", "loop.store")]);
        if !k.loads().is_empty() {
            sites.insert(site("b{1}[P->v[{1}].offset", "loop.load"));
        }
        let problems = bind::check(&src, &config::Config::new(), &sites);
        assert!(problems.is_empty(), "{problems:?}\n{src}");
        checked += 1;
    }
    assert_eq!(checked, 64);
}

//! The whole CPU tuning space the engine can reach, run and checked: every register tile BEAM
//! may try (and the heuristic's) for every vector ISA this host can execute, KC around
//! multiples of the vector width, each packing x parallel mode x thread count, on shapes with
//! edges in every dim and several M, N and K blocks; then batches, transposed operands, half and
//! double. Integer-valued operands make every summation order exact, so those results must be
//! bitwise right; random ones are judged with the gamma_K |A||B| bound. Failures are collected
//! and reported together.

mod common;

use common::case::{Case, Spec};
use tgrad_core::codegen::cpu_gemm::{GemmOpts, Packing, Parallel};
use tgrad_core::codegen::{search, Tuning};
use tgrad_core::target::{CpuTarget, Target, VectorIsa};
use tgrad_core::DType;

/// The vector ISAs this host runs (x86-64: SSE2 always, AVX2 and AVX-512 where present).
fn isas() -> Vec<VectorIsa> {
    [
        VectorIsa::Avx512,
        VectorIsa::Avx2Fma,
        VectorIsa::Sse2,
        VectorIsa::Neon,
    ]
    .into_iter()
    .filter(|i| i.runs_here())
    .collect()
}

/// (MR, vectors per row) of every tile BEAM tries on `isa`, and the heuristic's on any vendor's
/// cores.
fn tiles(isa: VectorIsa) -> Vec<(usize, usize)> {
    let mut t = search::tiles(isa);
    for h in GemmOpts::all_tiles(isa) {
        if !t.contains(&h) {
            t.push(h);
        }
    }
    t
}

/// (threads, mchunks, nchunks, parallel) splits: one thread, chunks along M, N and both,
/// barriers, claimed blocks of C over shared B, and three threads on two cores.
const SPLITS: [(usize, usize, usize, Parallel); 6] = [
    (1, 1, 1, Parallel::Chunks),
    (2, 2, 1, Parallel::Chunks),
    (2, 1, 2, Parallel::Chunks),
    (2, 1, 1, Parallel::Barrier),
    (2, 4, 1, Parallel::Shared),
    (3, 3, 2, Parallel::Chunks),
];

fn report(failures: &[String], checked: usize) {
    assert!(
        failures.is_empty(),
        "{} of {checked} runs wrong:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_tile_kc_packing_and_split_on_every_isa_is_exact() {
    let (mut failures, mut checked) = (vec![], 0);
    for isa in isas() {
        let target = Target::Cpu(CpuTarget::new(isa, 2));
        let vw = isa.vector_bytes() / 4;
        for tile in tiles(isa) {
            for kc in [vw - 1, vw, vw + 1, 2 * vw, 3 * vw + 1] {
                // edges in M and N, MC = 2 MR and NC = 2 NR blocks, K = 2 KC + 1: a short last block
                let (mr, nr) = (tile.0, tile.1 * vw);
                let case = Case::new(Spec::new(5 * mr + 1, 2 * kc + 1, 3 * nr + 3));
                for packing in Packing::ALL {
                    for split in SPLITS {
                        let t = common::tuning(vw, tile, kc, packing, split);
                        checked += 1;
                        if let Err(e) = case.check(&target, Some(&t)) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    report(&failures, checked);
    assert!(checked >= 5 * 4 * 3 * 6, "{checked} runs");
}

#[test]
fn batches_transposes_and_random_values_within_the_bound() {
    let (mut failures, mut checked) = (vec![], 0);
    for isa in isas() {
        let target = Target::Cpu(CpuTarget::new(isa, 2));
        let vw = isa.vector_bytes() / 4;
        for tile in tiles(isa) {
            let specs = [
                Spec {
                    batch: 3,
                    ..Spec::new(2 * tile.0 + 1, 3 * vw + 2, tile.1 * vw + 5)
                },
                Spec {
                    transpose_a: true,
                    ..Spec::new(3 * tile.0 - 1, 2 * vw + 3, 2 * tile.1 * vw + 1)
                },
                Spec {
                    transpose_b: true,
                    bias_relu: false,
                    ..Spec::new(3 * tile.0 + 2, 5 * vw, tile.1 * vw + 3)
                },
                Spec {
                    integer: false,
                    ..Spec::new(4 * tile.0 + 3, 4 * vw + 1, 2 * tile.1 * vw + 7)
                },
                Spec {
                    integer: false,
                    batch: 2,
                    transpose_a: true,
                    ..Spec::new(2 * tile.0, 3 * vw - 1, 3 * tile.1 * vw)
                },
            ];
            for spec in specs {
                let case = Case::new(spec);
                for packing in Packing::ALL {
                    for split in [SPLITS[0], SPLITS[1], SPLITS[3], SPLITS[4]] {
                        let t = common::tuning(vw, tile, 2 * vw, packing, split);
                        checked += 1;
                        if let Err(e) = case.check(&target, Some(&t)) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    report(&failures, checked);
}

/// Half on every ISA this host runs (the full tiles of a half C store whole vectors through the
/// ISA's own F16C conversion: 16 wide on AVX-512, 8 on AVX2, element by element on SSE2), double
/// on the host's.
#[test]
fn half_on_every_isa_and_double_on_every_tile_of_the_host_isa() {
    let (mut failures, mut checked) = (vec![], 0);
    let host = VectorIsa::detect();
    let runs = isas()
        .into_iter()
        .map(|isa| (isa, DType::F16, 4))
        .chain([(host, DType::F64, 8)]);
    for (isa, dtype, acc_bytes) in runs {
        let target = Target::Cpu(CpuTarget::new(isa, 2));
        let vw = isa.vector_bytes() / acc_bytes;
        for tile in tiles(isa) {
            // a plain product takes the whole-vector store; bias + relu the element-wise one
            for (integer, bias_relu) in [(true, true), (false, true), (true, false), (false, false)]
            {
                let spec = Spec {
                    dtype,
                    bias_relu,
                    integer,
                    ..Spec::new(3 * tile.0 + 1, 2 * vw + 3, 2 * tile.1 * vw + 1)
                };
                let case = Case::new(spec);
                for packing in [Packing::Both, Packing::Neither] {
                    for split in [SPLITS[0], SPLITS[2], SPLITS[4]] {
                        let t = common::tuning(vw, tile, vw + 1, packing, split);
                        checked += 1;
                        if let Err(e) = case.check(&target, Some(&t)) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    report(&failures, checked);
}

/// Edge micro-panels of every width, on each heuristic tile of each ISA and every parallel mode: widths
/// up to one vector run the narrow edge kernel (`ukr_n`, one vector per row), wider ones the full
/// kernel, short edge rows `ukr_h`; a width sent to the wrong kernel leaves columns unwritten.
#[test]
fn edge_panels_of_every_width_take_a_kernel_that_covers_them() {
    let (mut failures, mut checked) = (vec![], 0);
    for (isa, tile) in isas()
        .into_iter()
        .flat_map(|i| GemmOpts::all_tiles(i).into_iter().map(move |t| (i, t)))
    {
        let target = Target::Cpu(CpuTarget::new(isa, 2));
        let h = GemmOpts::for_tile(isa, 4, tile);
        let mut widths = vec![1, h.vw - 1, h.vw, h.vw + 1, h.nr - 1];
        widths.dedup();
        for w in widths {
            for m in [3 * h.mr + 1, 3 * h.mr + h.mr / 2 + 1] {
                let case = Case::new(Spec::new(m, 2 * h.vw + 3, 2 * h.nr + w));
                for split in [SPLITS[0], SPLITS[3], SPLITS[4]] {
                    let t = common::tuning(h.vw, tile, h.vw + 1, Packing::Both, split);
                    checked += 1;
                    if let Err(e) = case.check(&target, Some(&t)) {
                        failures.push(format!("edge width {w}: {e}"));
                    }
                }
            }
        }
    }
    report(&failures, checked);
    assert!(checked >= 5 * 2 * 3, "{checked} runs");
}

/// The defect this suite was written for: f32 A packed with 8-wide transposing stores ran past
/// a panel of MR <= 3 rows when KC % 8 was 0 or 1, into the packed B beside it.
#[test]
fn small_register_tiles_with_kc_a_multiple_of_eight_stay_inside_their_panels() {
    if !VectorIsa::Avx2Fma.runs_here() {
        return;
    }
    let target = Target::Cpu(CpuTarget::new(VectorIsa::Avx2Fma, 1));
    let case = Case::new(Spec {
        integer: false,
        bias_relu: false,
        ..Spec::new(256, 256, 256)
    });
    for mr in 1..=8 {
        let t = Tuning::parse(&format!("8 {mr} 32 256 {} 4096 1 1 1 0 0", 24 * mr)).unwrap();
        case.check(&target, Some(&t)).unwrap();
    }
}

/// Tunings the templates do not support are refused with a reason, never run.
#[test]
fn unsupported_tunings_are_refused_by_parse_and_check() {
    let cores = tgrad_core::flags::cores();
    let barrier_beyond_cores = format!("8 6 16 256 48 4096 {} 1 1 0 1", cores + 1);
    for (line, why) in [
        ("3 3 3 3 3 3 1 1 1", "no vector unit"),
        ("8 0 16 256 48 4096 1 1 1", "MR = 0"),
        ("8 17 16 256 68 4096 1 1 1", "MR = 17"),
        ("8 6 12 256 48 4096 1 1 1", "not a positive multiple of VW"),
        ("8 6 16 0 48 4096 1 1 1", "KC and NC"),
        ("8 6 16 256 50 4096 1 1 1", "MC = 50"),
        ("8 6 16 256 48 4096 0 1 1", "threads = 0"),
        ("8 6 16 256 48 4096 1 0 1", "mchunks"),
        ("8 6 16 256 48 4096 1 1 1 7", "packing 7"),
        ("8 6 16", "3 fields"),
        ("8 6 x", "not a non-negative integer"),
        (&barrier_beyond_cores, "needs a core per thread"),
    ] {
        let err = Tuning::parse(line).and_then(|t| t.check(DType::F32, VectorIsa::detect()));
        let err = err.expect_err(line);
        assert!(err.contains(why), "{line}: {err}");
    }
}

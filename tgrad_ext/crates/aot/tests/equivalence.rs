//! Every kernel of the table against the program the run-time compiler builds from the same
//! source, over a slice of the tuning space: shapes with edges in M, N and K (one output row or
//! column included), several K blocks, KC/MC/NC variants, every thread split and parallel mode,
//! batches, transposed operands. Both launch on the same buffers and must write the same bytes:
//! on integer-valued operands (every sum exact) and on normal ones (the same roundings: both
//! compile one source with the same semantic flags and FMA availability). A kernel built without
//! FMA (SSE2) is compared with a run-time compile without FMA, what a host without FMA builds.
//! Also: the table holds exactly the families' sources, and each plan of the slice is served by
//! the kernel under test (its source's key).

use std::sync::Arc;

use tgrad_core::abi::LaunchDims;
use tgrad_core::codegen::cpu_gemm::Parallel;
use tgrad_core::codegen::{self, Program, Strategy, Tuning};
use tgrad_core::dtype::{f32_to_f16_bits, DType};
use tgrad_core::engine::aot::Family;
use tgrad_core::graph::LazyRef;
use tgrad_core::render::{c::CRenderer, Renderer};
use tgrad_core::runtime::buffer::{Access, Buffer};
use tgrad_core::runtime::cpu::aot::{key, AotKernel};
use tgrad_core::runtime::cpu::{CpuDevice, CpuProgram};
use tgrad_core::runtime::device::Program as _;
use tgrad_core::schedule::schedule;
use tgrad_core::target::{CpuTarget, Target, VectorIsa};
use tgrad_core::{rng, tensor};

const ARCH: &str = std::env::consts::ARCH;

/// (threads, mchunks, nchunks, parallel): one thread, chunks along M, N and both, barriers,
/// claimed blocks of C over shared B, three threads.
const SPLITS: [(usize, usize, usize, Parallel); 6] = [
    (1, 1, 1, Parallel::Chunks),
    (2, 2, 1, Parallel::Chunks),
    (2, 1, 2, Parallel::Chunks),
    (2, 1, 1, Parallel::Barrier),
    (2, 4, 1, Parallel::Shared),
    (3, 3, 2, Parallel::Chunks),
];

/// One GEMM of the slice: sizes, batch, which operand is stored transposed, integer values.
#[derive(Debug, Clone, Copy)]
struct Shape {
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    transpose_a: bool,
    transpose_b: bool,
    integer: bool,
}

fn operand(dtype: DType, shape: Vec<usize>, integer: bool) -> LazyRef {
    let count: usize = shape.iter().product();
    let vals: Vec<f64> = if integer {
        rng::uniform(count)
            .into_iter()
            .map(|u| (u * 7.0).floor() - 3.0)
            .collect()
    } else {
        rng::normal(count)
    };
    let bytes: Vec<u8> = match dtype {
        DType::F16 => vals
            .iter()
            .flat_map(|&v| f32_to_f16_bits(v as f32).to_le_bytes())
            .collect(),
        DType::F64 => vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        _ => vals
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
    };
    tensor::from_buffer(Buffer::from_bytes(dtype, &bytes).unwrap(), shape).unwrap()
}

/// `epilogue(A @ B, bias)` of the family's dtype, operands stored as `s` says.
fn graph(f: Family, s: &Shape) -> LazyRef {
    let dims = |r: usize, c: usize| {
        if s.batch > 1 {
            vec![s.batch, r, c]
        } else {
            vec![r, c]
        }
    };
    let stored = |r: usize, c: usize, t: bool| {
        if t {
            tensor::transpose(&operand(f.dtype, dims(c, r), s.integer), -1, -2).unwrap()
        } else {
            operand(f.dtype, dims(r, c), s.integer)
        }
    };
    let y = tensor::dot(
        &stored(s.m, s.k, s.transpose_a),
        &stored(s.k, s.n, s.transpose_b),
    )
    .unwrap();
    f.epilogue
        .apply(&y, &operand(f.dtype, vec![s.n], s.integer))
        .unwrap()
}

/// Launch `program` for `p` over the item's buffers (the output filled with 0xff bytes first,
/// so an element left unwritten shows) and return the output's bytes.
fn run(program: &CpuProgram, p: &Program, bufs: &[Arc<Buffer>]) -> Vec<u8> {
    let out = &bufs[0];
    // SAFETY: the buffer holds len_bytes bytes, and nothing else uses it now.
    unsafe { std::ptr::write_bytes(out.host_ptr(Access::Write).unwrap(), 0xff, out.len_bytes()) };
    let dims: LaunchDims = CRenderer.launch_dims(p).unwrap();
    program.launch(&p.params, bufs, &dims, false).unwrap();
    out.to_vec().unwrap()
}

/// The run-time compile `k` stands for on this host: the device's compiler and flags, without FMA
/// where the kernel has none (an SSE2 kernel on an FMA host stands for a host without FMA).
fn runtime_program(k: &AotKernel, source: &str) -> CpuProgram {
    let mut dev = CpuDevice::host();
    if !k.isa.has_fma() && VectorIsa::host_has_fma() {
        dev.extra_flags.push("-mno-fma".into());
    }
    let loaded = dev.compile(source).unwrap();
    // the device hands out its programs as trait objects; this one is a CpuProgram we can
    // launch directly: load the same cache entry again
    CpuProgram::load(
        loaded
            .path
            .as_deref()
            .expect("a compiled program has a cache entry"),
    )
    .unwrap()
}

/// The slice of shapes for a family's register tile: edges everywhere, K over several blocks,
/// a batch, each operand transposed, one output row and one output column.
fn shapes(f: Family) -> Vec<Shape> {
    let t = f.tuning((1, 1, 1), SPLITS[0]).opts;
    let (mr, nr) = (t.mr, t.nr);
    let s = |batch, m, k, n, transpose_a, transpose_b, integer| Shape {
        batch,
        m,
        k,
        n,
        transpose_a,
        transpose_b,
        integer,
    };
    vec![
        s(1, 5 * mr + 1, 2 * t.vw + 3, 3 * nr + 3, false, false, true),
        s(3, 2 * mr + 1, 3 * t.vw + 2, nr + 5, false, true, true),
        s(2, 3 * mr - 1, 2 * t.vw + 1, 2 * nr + 1, true, false, false),
        s(1, 4 * mr + 3, 300, 2 * nr + 7, false, false, false),
        s(1, 1, 77, 3 * nr + 1, false, false, false),
        s(1, 2 * mr + 3, 65, 1, true, false, true),
    ]
}

/// Check every kernel of `isa` in the table; returns how many launches were compared.
fn check_isa(isa: VectorIsa) -> usize {
    tgrad_aot::register();
    let families: Vec<Family> = Family::all(ARCH)
        .into_iter()
        .filter(|f| f.isa == isa)
        .collect();
    let mut failures: Vec<String> = vec![];
    let mut compared = 0;
    let mut tested = std::collections::HashSet::new();
    for f in &families {
        let source = CRenderer.render(&f.program().unwrap());
        let k = tgrad_aot::KERNELS
            .iter()
            .find(|k| k.key == key(&source) && k.isa == isa)
            .unwrap_or_else(|| panic!("no kernel in the table for family {}", f.name()));
        if !tested.insert(k.symbol) {
            continue; // a family sharing another's source (half, in place)
        }
        let aot = CpuProgram::from_aot(k);
        let compiled = runtime_program(k, &source);
        let h = f.tuning((1, 1, 1), SPLITS[0]).opts;
        for shape in shapes(*f) {
            let root = graph(*f, &shape);
            let item = &schedule(std::slice::from_ref(&root)).unwrap().items[0];
            let short_k = 2 * h.vw - 1;
            let blocks = [
                (256, h.mc, 4096),
                (short_k, 2 * h.mr, 2 * h.nr),
                (h.vw + 1, h.mr, h.nr),
            ];
            for b in blocks {
                for split in SPLITS {
                    let t: Tuning = f.tuning(b, split);
                    let target = Target::Cpu(CpuTarget::new(isa, split.0));
                    let Ok(p) = codegen::plan_tuned(&item.kernel, &target, Some(&t)) else {
                        continue; // barriers with more threads than cores are refused
                    };
                    assert!(matches!(p.strategy, Strategy::Gemm(_)), "{shape:?}");
                    let src = CRenderer.render(&p);
                    assert_eq!(
                        key(&src),
                        k.key,
                        "{} {shape:?} {}: not the family's source",
                        f.name(),
                        t.encode()
                    );
                    let (want, got) = (run(&compiled, &p, &item.bufs), run(&aot, &p, &item.bufs));
                    compared += 1;
                    if want != got {
                        let at = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(0);
                        failures.push(format!(
                            "{} ({}) {shape:?} tuning '{}': bytes differ from byte {at}",
                            f.name(),
                            k.symbol,
                            t.encode()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} launches differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let in_table = tgrad_aot::KERNELS.iter().filter(|k| k.isa == isa).count();
    assert_eq!(
        tested.len(),
        in_table,
        "every {isa:?} kernel of the table belongs to a family"
    );
    compared
}

fn check_if_runs(isa: VectorIsa) {
    if !isa.runs_here() {
        // this host cannot execute the ISA: its kernels are checked on hosts that can (and are
        // never chosen here: runtime::cpu::aot's tests)
        assert!(!tgrad_core::runtime::cpu::aot::usable(isa));
        return;
    }
    let compared = check_isa(isa);
    let kernels = tgrad_aot::KERNELS.iter().filter(|k| k.isa == isa).count();
    assert!(
        kernels > 0 && compared >= 60 * kernels,
        "{compared} launches compared for {kernels} {isa:?} kernels"
    );
}

#[test]
fn avx512_kernels_equal_the_run_time_compiles() {
    check_if_runs(VectorIsa::Avx512);
}

#[test]
fn avx2_kernels_equal_the_run_time_compiles() {
    check_if_runs(VectorIsa::Avx2Fma);
}

#[test]
fn sse2_kernels_equal_the_run_time_compiles_without_fma() {
    check_if_runs(VectorIsa::Sse2);
}

#[test]
fn neon_kernels_equal_the_run_time_compiles() {
    check_if_runs(VectorIsa::Neon);
}

#[test]
fn the_table_holds_the_families_of_this_architecture() {
    let families = Family::all(ARCH);
    assert!(!families.is_empty() || !matches!(ARCH, "x86_64" | "aarch64"));
    let keys: std::collections::HashSet<&str> = tgrad_aot::KERNELS.iter().map(|k| k.key).collect();
    assert_eq!(
        keys.len(),
        tgrad_aot::KERNELS.len(),
        "one kernel per source"
    );
    for f in &families {
        let src = CRenderer.render(&f.program().unwrap());
        assert!(
            keys.contains(key(&src).as_str()),
            "{} is not in the table",
            f.name()
        );
    }
    // and nothing else: one kernel per distinct source of the families
    assert_eq!(
        tgrad_aot::KERNELS.len(),
        tgrad_core::engine::aot::sources(ARCH).unwrap().len()
    );
}

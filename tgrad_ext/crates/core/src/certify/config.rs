//! Configurations: what a rendered GEMM program's obligations depend on, read from the header the
//! renderer generates for it (`#define MR 6`, `#define TG_TR8 1`, the accumulator type, which
//! optional parts it has), plus the run-time packing and parallel codes of its plan. The family
//! the certificates cover is every configuration `Tuning::parse` accepts (any tile, vector width,
//! packing and parallel mode) for every kind of contraction the planner makes; the heuristic's
//! and BEAM's tunings (`search::reachable`) lie inside it.

use std::collections::{BTreeMap, BTreeSet};

use crate::codegen::cpu_gemm::{CpuGemm, GemmOpts, Packing, Parallel, Tuning};
use crate::codegen::{self, GemmPlan, GemmSchedule, Program, Strategy};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{BinaryOp, LazyRef, UnaryOp};
use crate::render::c_gemm;
use crate::runtime::buffer::Buffer;
use crate::schedule::schedule;
use crate::target::{CpuTarget, Target, VectorIsa};
use crate::tensor;

/// A configuration: the value of every configuration symbol.
pub type Config = BTreeMap<String, i64>;

/// Names the header defines to the same value in every program (substituted as numbers).
pub const CONSTANTS: [&str; 12] = [
    "TG_SHARED_HEADER",
    "TG_BARRIER_WORD",
    "TG_CLAIM_WORD",
    "TG_MAX_BATCH",
    "TG_PACKING_BOTH",
    "TG_PACKING_NEITHER",
    "TG_PARALLEL_BARRIER",
    "TG_PARALLEL_SHARED",
    "TG_SHARED_LOOKAHEAD",
    "TG_PREFETCH_NEXT_MAX_BYTES",
    "TG_PREFETCH_LINES",
    "TG_LONG_K",
];

/// Names that vary between programs: the configuration symbols (`NV` is NR / VW).
pub const SYMBOLS: [&str; 19] = [
    "MR",
    "NR",
    "VW",
    "NV",
    "sizeof(TG_ACC)",
    "sizeof(TG_TA)",
    "sizeof(TG_TB)",
    "sizeof(TG_TC)",
    "TG_TR8",
    "TG_VECTOR_PATH",
    "TG_A_INPLACE",
    "TG_B_INPLACE",
    "TG_VEC_EPI",
    "TG_C_ACC",
    "TG_EDGE",
    "TG_NEDGE",
    "TG_EPI_LOADS",
    "P->packing",
    "P->parallel",
];

/// Parts of the generated header the model's `#if`s name besides its defines: the microkernel's
/// whole-vector epilogue, C read back on later K blocks, the short and the narrow edge-tile
/// kernels, and epilogue loads.
const FEATURES: [(&str, &str); 5] = [
    ("TG_VEC_EPI", "csn == 1 && e->vec_ok) {"),
    ("TG_C_ACC", "if (!first) x += *cp;"),
    ("TG_EDGE", "void ukr_h("),
    ("TG_NEDGE", "void ukr_n("),
    ("TG_EPI_LOADS", "e->p0 = "),
];

fn c_type_bytes(t: &str) -> Option<i64> {
    match t {
        "float" => Some(4),
        "double" => Some(8),
        "uint16_t" => Some(2),
        _ => None,
    }
}

/// Every integer `#define` of a header, the element sizes of its types and its features.
pub fn header_values(header: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for l in header.lines() {
        let mut w = l.split_whitespace();
        if w.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(v), None) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if let Ok(x) = v.parse::<i64>() {
            out.insert(name.to_string(), x);
        } else if let Some(b) = c_type_bytes(v) {
            out.insert(format!("sizeof({name})"), b);
        }
    }
    for (name, text) in FEATURES {
        out.insert(name.to_string(), i64::from(header.contains(text)));
    }
    out
}

/// The configuration of a CPU GEMM program, from its rendered header and plan.
pub fn of_header(header: &str, cpu: &CpuGemm) -> Config {
    let v = header_values(header);
    let mut c: Config = SYMBOLS
        .iter()
        .filter_map(|s| v.get(*s).map(|x| ((*s).to_string(), *x)))
        .collect();
    if let (Some(nr), Some(vw)) = (v.get("NR"), v.get("VW")) {
        c.insert("NV".into(), nr / vw);
    }
    c.insert("P->packing".into(), cpu.packing.code() as i64);
    c.insert("P->parallel".into(), cpu.parallel.code() as i64);
    c
}

/// The configuration of a planned program (None: not a CPU GEMM).
pub fn of_program(p: &Program) -> Option<Config> {
    let Strategy::Gemm(g) = &p.strategy else {
        return None;
    };
    let GemmSchedule::Cpu(cpu) = &g.schedule else {
        return None;
    };
    Some(of_header(&crate::render::c::gemm_header_file(p)?, cpu))
}

fn input(shape: &[usize], dtype: DType) -> Result<LazyRef> {
    tensor::from_buffer(
        Buffer::new(dtype, shape.iter().product(), true)?,
        shape.to_vec(),
    )
}

/// The kinds of contraction the planner makes, as far as the template can tell them apart:
/// accumulator and storage types, C accumulating or not, epilogues with loads on whole vectors,
/// on scalars only, or none.
pub fn kinds() -> Result<Vec<(String, LazyRef)>> {
    let mut out = vec![];
    for (name, dtype) in [
        ("f32", DType::F32),
        ("f64", DType::F64),
        ("f16", DType::F16),
    ] {
        let (x, w, b) = (
            input(&[64, 64], dtype)?,
            input(&[64, 64], dtype)?,
            input(&[64], dtype)?,
        );
        let y = tensor::dot(&x, &w)?;
        out.push((name.to_string(), y.clone()));
        let relu = tensor::unary(UnaryOp::Relu, &tensor::binary(BinaryOp::Add, &y, &b)?);
        out.push((format!("{name}+bias,relu"), relu));
        out.push((
            format!("{name}/bias"),
            tensor::binary(BinaryOp::Div, &y, &b)?,
        ));
    }
    // one operand half, widened to float while packing
    let (x, h) = (input(&[64, 64], DType::F32)?, input(&[64, 64], DType::F16)?);
    let wide = tensor::cast(&h, DType::F32);
    out.push(("f32@f16".into(), tensor::dot(&x, &wide)?));
    out.push(("f16@f32".into(), tensor::dot(&wide, &x)?));
    // half operands, a float C: the product's cast to float fused into the GEMM's store
    let h2 = input(&[64, 64], DType::F16)?;
    out.push((
        "f16@f16->f32".into(),
        tensor::cast(&tensor::dot(&h, &h2)?, DType::F32),
    ));
    Ok(out)
}

/// A GEMM program of kind `root` (as the heuristic plans it for AVX2).
pub fn program(root: &LazyRef) -> Result<Program> {
    let s = schedule(std::slice::from_ref(root))?;
    let item = s
        .items
        .last()
        .ok_or_else(|| Error::Internal("no kernel".into()))?;
    let target = Target::Cpu(CpuTarget::new(VectorIsa::Avx2Fma, 2));
    let p = codegen::plan_tuned(&item.kernel, &target, None)?;
    match p.strategy {
        Strategy::Gemm(_) => Ok(p),
        Strategy::Loops(_) => Err(Error::Internal("not a GEMM".into())),
    }
}

/// How far `tiles` probes MR and NR/VW (a test checks `Tuning::parse` refuses beyond).
pub const PROBE: usize = 64;

/// Every tile `Tuning::parse` accepts with a vector some ISA has, for an accumulator of
/// `acc_bytes`: (MR, NR/VW, VW).
pub fn tiles(acc_bytes: usize) -> Vec<(usize, usize, usize)> {
    let widths: BTreeSet<usize> = VectorIsa::ALL
        .iter()
        .map(|i| i.vector_bytes() / acc_bytes)
        .collect();
    let mut v = vec![];
    for vw in widths {
        for mr in 1..=PROBE {
            for nv in 1..=PROBE {
                let line = format!("{vw} {mr} {} 64 {} 64 2 1 1", nv * vw, 2 * mr);
                if Tuning::parse(&line).is_ok() {
                    v.push((mr, nv, vw));
                }
            }
        }
    }
    v
}

/// `p` re-planned with a tile, packing and parallel mode (no host check: every ISA's widths),
/// and its CPU plan.
pub fn retiled(
    p: &Program,
    (mr, nv, vw): (usize, usize, usize),
    packing: Packing,
    parallel: Parallel,
) -> Option<(Program, CpuGemm)> {
    let Strategy::Gemm(g) = &p.strategy else {
        return None;
    };
    let t = Tuning {
        opts: GemmOpts {
            vw,
            mr,
            nr: nv * vw,
            kc: 64,
            mc: 2 * mr,
            nc: 64,
        },
        threads: 2,
        mchunks: 1,
        nchunks: 1,
        packing,
        parallel,
    };
    let target = CpuTarget::new(VectorIsa::Avx2Fma, 2);
    let mut cpu = CpuGemm::plan(&g.c, &target, Some(&t));
    cpu.parallel = parallel;
    let plan = GemmPlan {
        c: g.c.clone(),
        schedule: GemmSchedule::Cpu(cpu.clone()),
    };
    let mut q = p.clone();
    q.params = plan.params().words();
    q.strategy = Strategy::Gemm(plan);
    Some((q, cpu))
}

/// The family: every configuration of every kind x tile x packing x parallel mode.
pub fn family() -> Result<BTreeSet<Config>> {
    let mut out = BTreeSet::new();
    for (_, root) in kinds()? {
        let p = program(&root)?;
        let Strategy::Gemm(g) = &p.strategy else {
            continue;
        };
        for tile in tiles(g.c.acc.itemsize()) {
            for packing in Packing::ALL {
                let Some((q, cpu)) = retiled(&p, tile, packing, Parallel::Chunks) else {
                    continue;
                };
                let Strategy::Gemm(g) = &q.strategy else {
                    continue;
                };
                let h = c_gemm::header(&q, g, &cpu);
                for parallel in Parallel::ALL {
                    let mut c = of_header(&h, &cpu);
                    c.insert("P->parallel".into(), parallel.code() as i64);
                    out.insert(c);
                }
            }
        }
    }
    Ok(out)
}

/// Facts of every configuration of the family the obligations may assume (the walk's
/// arithmetic on them is then linear in the tile's factors): NR is NV vectors of VW, a vector
/// divides the 64-byte alignment of the workspaces.
pub const AXIOMS: [&str; 3] = [
    "NR == NV * VW",
    "NV >= 1",
    "64 % (VW * sizeof(TG_ACC)) == 0",
];

/// Configuration symbols an axiom defines from others: left out of projections and families.
pub const DERIVED: [&str; 1] = ["NR"];

/// The axioms, checked on every configuration of `family`.
pub fn axioms(family: &BTreeSet<Config>) -> Result<Vec<crate::certify::expr::Expr>> {
    let mut out = vec![];
    for a in AXIOMS {
        let e = crate::certify::expr::parse(a).map_err(Error::Internal)?;
        if let Some(c) = family
            .iter()
            .find(|c| e.eval(&|n| c.get(n).map(|v| i128::from(*v))) != Some(1))
        {
            return Err(Error::Internal(format!("axiom {a} fails for {c:?}")));
        }
        out.push(e);
    }
    Ok(out)
}

/// The header's constants (the same in every program of the family).
pub fn constants() -> Result<BTreeMap<String, i64>> {
    let (_, root) = kinds()?.swap_remove(0);
    let p = program(&root)?;
    let h =
        crate::render::c::gemm_header_file(&p).ok_or_else(|| Error::Internal("header".into()))?;
    let v = header_values(&h);
    Ok(CONSTANTS
        .iter()
        .filter_map(|c| v.get(*c).map(|x| ((*c).to_string(), *x)))
        .collect())
}

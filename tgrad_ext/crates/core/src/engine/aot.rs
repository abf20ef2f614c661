//! The program families whose kernels are built into tgrad ahead of time, as data: common GEMMs
//! (dtype x epilogue x packing) for every vector ISA of an architecture and every register tile
//! the heuristic picks on it. A family's program is planned and rendered by the same pipeline as
//! a user's kernel (a small graph, scheduled, planned with the family's register tile), and a
//! GEMM's source does not depend on its sizes, strides, blocks or threads (run-time parameters),
//! so a user's GEMM of a family renders to the family's source at every size. The build (`crates/aot`) compiles these sources; the
//! CPU device finds them by key (`runtime::cpu::aot`).

use crate::codegen::cpu_gemm::{GemmOpts, Packing, Parallel};
use crate::codegen::{self, Program, Strategy, Tuning};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{BinaryOp, LazyRef, UnaryOp};
use crate::render;
use crate::runtime::buffer::Buffer;
use crate::runtime::cpu::aot::key;
use crate::schedule::schedule;
use crate::target::{CpuTarget, Target, VectorIsa};
use crate::tensor;

/// What follows the product in the user's expression (fused into the GEMM as its epilogue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Epilogue {
    /// `x @ w`
    None,
    /// `x @ w + b`: nn.Linear (`b` any tensor that broadcasts to the product: a bias over N or
    /// M, a residual of the product's shape)
    Bias,
    /// `(x @ w + b).relu()`
    BiasRelu,
    /// `(x @ w).relu()`
    Relu,
}

impl Epilogue {
    pub const ALL: [Epilogue; 4] = [
        Epilogue::None,
        Epilogue::Bias,
        Epilogue::BiasRelu,
        Epilogue::Relu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Epilogue::None => "matmul",
            Epilogue::Bias => "bias",
            Epilogue::BiasRelu => "bias_relu",
            Epilogue::Relu => "relu",
        }
    }

    /// The epilogue applied to the product `y`, with `b` as the bias (unused by the others).
    pub fn apply(self, y: &LazyRef, b: &LazyRef) -> Result<LazyRef> {
        Ok(match self {
            Epilogue::None => y.clone(),
            Epilogue::Bias => tensor::binary(BinaryOp::Add, y, b)?,
            Epilogue::BiasRelu => {
                tensor::unary(UnaryOp::Relu, &tensor::binary(BinaryOp::Add, y, b)?)
            }
            Epilogue::Relu => tensor::unary(UnaryOp::Relu, y),
        })
    }
}

/// The dtypes of the families (inputs, bias and output all of one dtype; half accumulates in
/// float) with their epilogues. Every kernel adds about 0.7 s of compile time to the build (clang
/// -O2, one core), so double, which the lab does not benchmark, covers the plain product only.
pub const DTYPES: [(DType, &[Epilogue]); 3] = [
    (DType::F32, &Epilogue::ALL),
    (DType::F16, &Epilogue::ALL),
    (DType::F64, &[Epilogue::None]),
];

/// The packings whose sources are built (`Packing::BOnly` renders to `Packing::Neither`'s source:
/// one kernel serves both, choosing its loops from the run-time packing code).
pub const PACKINGS: [Packing; 2] = [Packing::Both, Packing::Neither];

/// The vector ISAs kernels are built for on an architecture (`target_arch` names).
pub fn isas(arch: &str) -> &'static [VectorIsa] {
    match arch {
        "x86_64" => &[VectorIsa::Avx512, VectorIsa::Avx2Fma, VectorIsa::Sse2],
        "aarch64" => &[VectorIsa::Neon],
        _ => &[],
    }
}

/// One family: its programs share one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Family {
    pub isa: VectorIsa,
    /// The register tile (MR, vectors per row): one of `GemmOpts::all_tiles(isa)`.
    pub tile: (usize, usize),
    pub dtype: DType,
    pub epilogue: Epilogue,
    pub packing: Packing,
}

impl Family {
    /// Every family of an architecture.
    pub fn all(arch: &str) -> Vec<Family> {
        let mut v = vec![];
        for &isa in isas(arch) {
            for tile in GemmOpts::all_tiles(isa) {
                for (dtype, epilogues) in DTYPES {
                    for &epilogue in epilogues {
                        for packing in PACKINGS {
                            v.push(Family {
                                isa,
                                tile,
                                dtype,
                                epilogue,
                                packing,
                            });
                        }
                    }
                }
            }
        }
        v
    }

    pub fn name(&self) -> String {
        format!(
            "{}/{}x{}/{}/{}/{}",
            self.isa.name(),
            self.tile.0,
            self.tile.1,
            self.dtype.name(),
            self.epilogue.name(),
            self.packing.name()
        )
    }

    /// The family's register tile and packing, with the given run-time choices (blocks and the
    /// thread split), as a forced tuning.
    pub fn tuning(
        &self,
        blocks: (usize, usize, usize),
        split: (usize, usize, usize, Parallel),
    ) -> Tuning {
        let h = self.opts();
        let (kc, mc, nc) = blocks;
        let (threads, mchunks, nchunks, parallel) = split;
        Tuning {
            opts: GemmOpts { kc, mc, nc, ..h },
            threads,
            mchunks,
            nchunks,
            packing: self.packing,
            parallel,
        }
    }

    /// The family's tile with its nominal blocks.
    pub fn opts(&self) -> GemmOpts {
        GemmOpts::for_tile(self.isa, self.dtype.compute().itemsize(), self.tile)
    }

    /// The family's program: `epilogue(a @ b, bias)` on small operands of its dtype, planned
    /// for its ISA and tile.
    pub fn program(&self) -> Result<Program> {
        let (m, k, n) = (8, 8, 8);
        let operand = |shape: Vec<usize>| zeros(self.dtype, shape);
        let y = tensor::dot(&operand(vec![m, k])?, &operand(vec![k, n])?)?;
        let y = self.epilogue.apply(&y, &operand(vec![n])?)?;
        let items = schedule(std::slice::from_ref(&y))?.items;
        let [item] = items.as_slice() else {
            return Err(Error::Internal(format!(
                "{}: {} kernels, expected one",
                self.name(),
                items.len()
            )));
        };
        let h = self.opts();
        let tuning = self.tuning((h.kc, h.mc, h.nc), (1, 1, 1, Parallel::Chunks));
        let target = Target::Cpu(CpuTarget::new(self.isa, 1));
        let p = codegen::plan_tuned(&item.kernel, &target, Some(&tuning))?;
        match &p.strategy {
            Strategy::Gemm(g) if g.cpu().is_some_and(|c| c.packing == self.packing) => Ok(p),
            _ => Err(Error::Internal(format!(
                "{} did not plan as a GEMM with its packing (TGRAD_NOOPT set?): {}",
                self.name(),
                p.signature
            ))),
        }
    }
}

/// A tensor of zeros: the operands programs are planned and rendered for (a GEMM's source does
/// not depend on its operands' values or sizes).
fn zeros(dtype: DType, shape: Vec<usize>) -> Result<LazyRef> {
    let count: usize = shape.iter().product();
    let buf = Buffer::from_bytes(dtype, &vec![0u8; count * dtype.itemsize()])?;
    tensor::from_buffer(buf, shape)
}

/// A family's rendered source and its key.
#[derive(Debug, Clone)]
pub struct AotSource {
    pub family: Family,
    pub key: String,
    pub source: String,
}

/// Every family of an architecture, rendered; families whose sources coincide (half inputs are
/// always packed, so the packing changes nothing) appear once, as the first of them.
pub fn sources(arch: &str) -> Result<Vec<AotSource>> {
    let mut out: Vec<AotSource> = vec![];
    for family in Family::all(arch) {
        let p = family.program()?;
        let source = render::for_target(&p.target).render(&p);
        let key = key(&source);
        if !out.iter().any(|s| s.key == key) {
            out.push(AotSource {
                family,
                key,
                source,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::CpuVendor;

    /// The design's premise: a user's GEMM of a family renders to the family's source whatever
    /// its sizes, layout, batch and thread count, and families differ from each other.
    #[test]
    fn user_gemms_of_a_family_render_to_its_source_at_any_size() {
        let all = sources("x86_64").unwrap();
        // per ISA and tile (two on AVX-512), float: every epilogue x packing; half: every
        // epilogue once (always packed); double: the plain product x packing
        assert_eq!(all.len(), 4 * (4 * 2 + 4 + 2), "{}", all.len());
        let mut checked = 0;
        for s in &all {
            let f = s.family;
            // shapes the heuristic plans with the family's packing (small operands are read in
            // place, K past 512 is always packed) and, on the vendor that prefers it, its tile
            // (no other tile computes fewer columns)
            let (m, k, n) = if f.packing == Packing::Neither {
                (37, 53, 125)
            } else {
                (5, 600, 131)
            };
            let vendor = CpuVendor::ALL
                .into_iter()
                .find(|&v| GemmOpts::tiles(f.isa, v)[0] == f.tile)
                .unwrap();
            for (batch, transposed, threads) in [(1, false, 2), (3, true, 1), (2, false, 7)] {
                let shape = |r: usize, c: usize| {
                    if batch > 1 {
                        vec![batch, r, c]
                    } else {
                        vec![r, c]
                    }
                };
                let operand = |shape: Vec<usize>| zeros(f.dtype, shape).unwrap();
                let a = if transposed {
                    tensor::transpose(&operand(shape(k, m)), -1, -2).unwrap()
                } else {
                    operand(shape(m, k))
                };
                let y = tensor::dot(&a, &operand(shape(k, n))).unwrap();
                let y = f.epilogue.apply(&y, &operand(vec![n])).unwrap();
                let item = &schedule(std::slice::from_ref(&y)).unwrap().items[0];
                let target = Target::Cpu(CpuTarget {
                    vendor,
                    ..CpuTarget::new(f.isa, threads)
                });
                let p = codegen::plan(&item.kernel, &target).unwrap();
                let Strategy::Gemm(g) = &p.strategy else {
                    panic!("{} planned as loops", f.name());
                };
                assert_eq!(g.cpu().unwrap().packing, f.packing, "{}", p.signature);
                let src = render::for_target(&target).render(&p);
                assert_eq!(
                    key(&src),
                    s.key,
                    "{} at {batch}x{m}x{k}x{n}: {}",
                    f.name(),
                    p.signature
                );
                checked += 1;
            }
        }
        assert_eq!(checked, all.len() * 3);
    }

    /// The first-call promise at every shape, not only the families' own: whatever packing and
    /// tile the heuristic picks on any vendor's cores (in-place reads come from the shape, BOnly
    /// from B's rows crowding L1, the tile from the vendor and N), the plan renders to a kernel
    /// built ahead of time, so no GEMM of a family's dtype and epilogue waits for the run-time
    /// compiler.
    #[test]
    fn every_heuristic_gemm_plan_renders_to_a_family_source() {
        let keys: Vec<String> = sources("x86_64")
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut tiles = std::collections::HashSet::new();
        for isa in [VectorIsa::Avx512, VectorIsa::Avx2Fma] {
            for batch in [1, 64] {
                for m in [7, 150, 4000] {
                    for n in [31, 64, 96, 129, 512] {
                        for k in [63, 256, 512, 600] {
                            let a = zeros(DType::F32, vec![batch, m, k]).unwrap();
                            let b = zeros(DType::F32, vec![batch, k, n]).unwrap();
                            let y = tensor::dot(&a, &b).unwrap();
                            let item = &schedule(std::slice::from_ref(&y)).unwrap().items[0];
                            for vendor in CpuVendor::ALL {
                                let target = Target::Cpu(CpuTarget {
                                    vendor,
                                    ..CpuTarget::new(isa, 2)
                                });
                                let p = codegen::plan(&item.kernel, &target).unwrap();
                                let Strategy::Gemm(g) = &p.strategy else {
                                    panic!("{batch}x{m}x{k}x{n} planned as loops");
                                };
                                let t = g.cpu().unwrap().tuning;
                                seen.insert(t.packing);
                                tiles.insert((isa, t.opts.mr, t.opts.nr / t.opts.vw));
                                let src = render::for_target(&target).render(&p);
                                assert!(
                                    keys.contains(&key(&src)),
                                    "{} at {batch}x{m}x{k}x{n} on {} has no kernel built ahead of time",
                                    p.signature,
                                    vendor.name()
                                );
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(seen.len(), Packing::ALL.len(), "{seen:?}");
        assert_eq!(tiles.len(), 3, "{tiles:?}");
    }
}

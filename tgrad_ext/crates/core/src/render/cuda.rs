//! CUDA C for NVIDIA GPUs, compiled at run time by NVRTC (no `#include`: NVRTC ships no standard
//! headers, so half conversion and tensor-core MMA are inline PTX, behind `TGRAD_EMU` so the GPU
//! emulator compiles the same text with emulated helpers).
//!
//! Loop programs go through the shared skeleton: one thread per output, or one warp per output
//! of a reduction (lanes stride over the reduction and combine with `__shfl_down_sync`). GEMMs
//! are a block tile (`codegen::GpuTile`) staged through double-buffered shared memory, operands
//! read through their run-time strides (16-byte loads where a run-time check allows), batch over
//! `blockIdx.z`, and the plan's epilogue applied before the store: `mma.sync.m16n8k16` fed by
//! `ldmatrix` for half inputs (`cuda/mma.cu`), an 8x8-per-thread tile otherwise (`cuda/simt.cu`).

use std::fmt::Write as _;

use super::cstyle::{self, Family, Lang, Outputs, WarpReduce};
use super::loops::{self, LOOP_THREADS, REDUCE_WARPS};
use super::Renderer;
use crate::abi::LaunchDims;
use crate::codegen::gpu_gemm::MMA_TILE_HALVES;
use crate::codegen::{GemmPlan, GpuTile, Program, Strategy};
use crate::dtype::DType;
use crate::error::Result;

pub struct CudaRenderer;

pub static CUDA: Lang = Lang {
    family: Family::Cuda,
    int64: "long long",
    f16_storage: "unsigned short",
    i32_name: "int",
    half_load: "tg_h2f",
    half_store: "tg_f2h",
    inf_f32: "__int_as_float(0x7f800000)",
    nan_f32: "__int_as_float(0x7fffffff)",
    inf_f64: "__longlong_as_double(0x7ff0000000000000LL)",
    nan_f64: "__longlong_as_double(0x7fffffffffffffffLL)",
    restrict: "__restrict__",
    out_qual: "",
    in_qual: "const ",
    params_qual: "const ",
    local_qual: "",
    fn_qual: "static __device__ __forceinline__",
    f32_bits: "__int_as_float",
    f64_bits: "__longlong_as_double",
    block_id: ["blockIdx.x", "blockIdx.y", "blockIdx.z"],
    grid_z: "gridDim.z",
    outputs: Outputs::PerThread(
        "(long long)blockIdx.x * blockDim.x + threadIdx.x",
        "(long long)gridDim.x * blockDim.x",
    ),
    warp: Some(WarpReduce {
        output: (
            "(long long)blockIdx.x * blockDim.y + threadIdx.y",
            "(long long)gridDim.x * blockDim.y",
        ),
        lane: "threadIdx.x",
        lanes: 32,
        shuffle: "tg_shfl_down",
    }),
    wide_sum: Some("double"),
    bool_name: "bool",
    math_f32: ("", "f"),
    math_f64: ("", ""),
};

pub const PRELUDE_CUH: &str = include_str!("cuda/prelude.cuh");
pub const TILE_CUH: &str = include_str!("cuda/tile.cuh");
pub const MMA_CUH: &str = include_str!("cuda/mma.cuh");
pub const SIMT_CU: &str = include_str!("cuda/simt.cu");
pub const MMA_CU: &str = include_str!("cuda/mma.cu");

/// Cap on blocks along x: loop programs are grid-stride loops, so more blocks add nothing.
const MAX_BLOCKS: u64 = 1 << 16;
/// Cap on blocks along z (the batch loop strides by the grid).
const MAX_GRID_Z: u64 = 65535;

impl Renderer for CudaRenderer {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn render(&self, p: &Program) -> String {
        let mut s = String::from(PRELUDE_CUH);
        let _ = writeln!(s, "/* {} : {} */", p.name, p.signature.replace("*/", "* /"));
        match &p.strategy {
            Strategy::Loops(plan) => s.push_str(&loops::render_loops(&CUDA, p, plan, "")),
            Strategy::Gemm(g) => match g.gpu() {
                Some(t) => render_gemm(&mut s, p, g, t),
                None => s.push_str("#error \"a GEMM planned for the CPU, rendered as CUDA\"\n"),
            },
        }
        s
    }

    fn launch_dims(&self, p: &Program) -> Result<LaunchDims> {
        match &p.strategy {
            Strategy::Gemm(g) => {
                let t = g.gpu().ok_or_else(|| super::wrong_target("CUDA", p))?;
                Ok(LaunchDims::Grid {
                    grid: [
                        (g.c.n as u64).div_ceil(u64::from(t.bn)).max(1) as u32,
                        (g.c.m as u64).div_ceil(u64::from(t.bm)).max(1) as u32,
                        (g.c.batch as u64).clamp(1, MAX_GRID_Z) as u32,
                    ],
                    block: [t.threads, 1, 1],
                    shared_bytes: t.shared_bytes,
                })
            }
            Strategy::Loops(_) => {
                let k = &p.kernel;
                let outs: u64 = (0..k.full_shape.len())
                    .filter(|d| !k.reduce_axes.contains(d))
                    .map(|d| k.full_shape[d] as u64)
                    .product();
                let (block, per_block) = if k.reduce_axes.is_empty() {
                    ([LOOP_THREADS, 1, 1], u64::from(LOOP_THREADS))
                } else {
                    ([32, REDUCE_WARPS, 1], u64::from(REDUCE_WARPS))
                };
                Ok(LaunchDims::Grid {
                    grid: [outs.div_ceil(per_block).clamp(1, MAX_BLOCKS) as u32, 1, 1],
                    block,
                    shared_bytes: 0,
                })
            }
        }
    }
}

/// The tile's compile-time constants and shared-memory layout macros.
fn tile_defines(g: &GemmPlan, t: &GpuTile) -> String {
    let mut s = format!(
        "#define BM {}\n#define BN {}\n#define BK {}\n#define NT {}\n",
        t.bm, t.bn, t.bk, t.threads
    );
    if t.matrix_units {
        let _ = write!(
            s,
            "#define LDK (BK + 8)   /* pitch of a k-contiguous tile (rows m or n) */\n\
             #define LDR (BM + 8)   /* pitch of a row-contiguous tile (rows k) */\n\
             #define TILE {MMA_TILE_HALVES}      /* halves per tile buffer: max(BM*LDK, BK*LDR) */\n\
             #define S_T unsigned short\n#define S_ZERO (unsigned short)0\n#define S_CVT(x) (x)\n\
             #define SMEM_KMAJ(r, k) ((r) * LDK + (k))\n#define SMEM_RMAJ(r, k) ((k) * LDR + (r))\n"
        );
    } else {
        let acc = CUDA.compute(g.c.acc);
        let (vt, vn) = if g.c.acc == DType::F64 {
            ("double2", 2)
        } else {
            ("float4", 4)
        };
        let _ = write!(
            s,
            "#define LDR (BM + 4)\ntypedef {acc} acc_t;\n\
             #define S_T acc_t\n#define S_ZERO (acc_t)0\n\
             #define SMEM_KMAJ(r, k) ((k) * LDR + (r))\n#define SMEM_RMAJ(r, k) ((k) * LDR + (r))\n\
             static __device__ __forceinline__ acc_t tg_cvt(unsigned short h) {{ return (acc_t)tg_h2f(h); }}\n\
             static __device__ __forceinline__ acc_t tg_cvt(float x) {{ return (acc_t)x; }}\n\
             static __device__ __forceinline__ acc_t tg_cvt(double x) {{ return (acc_t)x; }}\n\
             #define S_CVT(x) tg_cvt(x)\n\
             #define TG_TA {ta}\n#define TG_TB {tb}\n#define TG_VA {va}\n#define TG_VB {vb}\n\
             #define TG_VT {vt}\n#define TG_VN {vn}\n",
            ta = CUDA.storage(g.c.a.1),
            tb = CUDA.storage(g.c.b.1),
            va = 16 / g.c.a.1.itemsize(),
            vb = 16 / g.c.b.1.itemsize(),
        );
    }
    s
}

fn render_gemm(s: &mut String, p: &Program, g: &GemmPlan, t: &GpuTile) {
    s.push_str(&CUDA.params_decl(&p.params_shape()));
    s.push_str(&tile_defines(g, t));
    if t.matrix_units {
        s.push_str(MMA_CUH);
    }
    s.push_str(TILE_CUH);
    s.push_str(&cstyle::gpu_epilogue(&CUDA, &g.c));
    s.push_str(&CUDA.kernel_open(&p.kernel.buf_dtypes, t.threads, ""));
    s.push_str("  extern __shared__ __align__(16) unsigned char tg_smem[];\n");
    s.push_str(&cstyle::gpu_gemm_open(&CUDA, &g.c, t.bm, t.bn));
    s.push_str(if t.matrix_units { MMA_CU } else { SIMT_CU });
    s.push_str("  }\n}\n");
}

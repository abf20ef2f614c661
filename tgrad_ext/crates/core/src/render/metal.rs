//! Metal Shading Language for Apple GPUs, from the same programs as the CUDA renderer. It runs on
//! the GPU emulator here (METAL_EMU) and compiles unmodified on macOS.
//!
//! Loop programs go through the shared skeleton: one thread per output, reductions looped. GEMMs
//! stage A and B tiles through threadgroup memory read via the run-time strides; half inputs
//! multiply on `simdgroup_matrix` 8x8 tiles (`metal/simdgroup.metal`), other dtypes use a 4x4
//! per-thread tile (`metal/simt.metal`). The plan's epilogue is applied before the store.

use std::fmt::Write as _;

use super::cstyle::{self, Family, Lang, Outputs};
use super::loops::{self, LOOP_THREADS};
use super::Renderer;
use crate::abi::LaunchDims;
use crate::codegen::{GemmPlan, GpuTile, Program, Strategy};
use crate::dtype::DType;
use crate::error::Result;

pub struct MetalRenderer;

pub static METAL: Lang = Lang {
    family: Family::Metal,
    int64: "long",
    f16_storage: "half",
    i32_name: "int",
    half_load: "float",
    half_store: "half",
    inf_f32: "INFINITY",
    nan_f32: "NAN",
    inf_f64: "INFINITY",
    nan_f64: "NAN",
    restrict: "",
    out_qual: "device ",
    in_qual: "const device ",
    params_qual: "constant ",
    local_qual: "thread ",
    fn_qual: "static inline",
    f32_bits: "as_type<float>",
    f64_bits: "as_type<float>",
    block_id: ["tgid.x", "tgid.y", "tgid.z"],
    grid_z: "tgsz.z",
    outputs: Outputs::PerThread("gid", "gsz"),
    warp: None,
    wide_sum: None,
    bool_name: "bool",
    math_f32: ("", ""),
    math_f64: ("", ""),
};

pub const PRELUDE_METAL: &str = include_str!("metal/prelude.metal");
pub const SIMT_METAL: &str = include_str!("metal/simt.metal");
pub const SIMDGROUP_METAL: &str = include_str!("metal/simdgroup.metal");

const LOOP_PARAMS: &str = ", uint gid [[thread_position_in_grid]], uint gsz [[threads_per_grid]]";
const GEMM_PARAMS: &str =
    ", uint3 tgid [[threadgroup_position_in_grid]], uint3 tgsz [[threadgroups_per_grid]], \
     uint tid [[thread_index_in_threadgroup]], uint sgid [[simdgroup_index_in_threadgroup]]";

impl Renderer for MetalRenderer {
    fn name(&self) -> &'static str {
        "metal"
    }

    fn render(&self, p: &Program) -> String {
        let mut s = String::from(PRELUDE_METAL);
        let _ = writeln!(s, "/* {} : {} */", p.name, p.signature.replace("*/", "* /"));
        if p.kernel.dtypes().contains(&DType::F64) {
            s.push_str("#error \"Metal has no double type: this program cannot run on Metal\"\n");
            return s;
        }
        match &p.strategy {
            Strategy::Loops(plan) => {
                s.push_str(&loops::render_loops(&METAL, p, plan, LOOP_PARAMS));
            }
            Strategy::Gemm(g) => match g.gpu() {
                Some(t) => render_gemm(&mut s, p, g, t),
                None => s.push_str("#error \"a GEMM planned for the CPU, rendered as Metal\"\n"),
            },
        }
        s
    }

    fn launch_dims(&self, p: &Program) -> Result<LaunchDims> {
        match &p.strategy {
            Strategy::Gemm(g) => {
                let t = g.gpu().ok_or_else(|| super::wrong_target("Metal", p))?;
                Ok(LaunchDims::Grid {
                    grid: [
                        (g.c.n as u64).div_ceil(u64::from(t.bn)).max(1) as u32,
                        (g.c.m as u64).div_ceil(u64::from(t.bm)).max(1) as u32,
                        (g.c.batch as u64).clamp(1, 65535) as u32,
                    ],
                    block: [t.threads, 1, 1],
                    shared_bytes: 0,
                })
            }
            Strategy::Loops(_) => {
                let k = &p.kernel;
                let outs: u64 = (0..k.full_shape.len())
                    .filter(|d| !k.reduce_axes.contains(d))
                    .map(|d| k.full_shape[d] as u64)
                    .product();
                Ok(LaunchDims::Grid {
                    grid: [
                        outs.div_ceil(u64::from(LOOP_THREADS)).clamp(1, 1 << 16) as u32,
                        1,
                        1,
                    ],
                    block: [LOOP_THREADS, 1, 1],
                    shared_bytes: 0,
                })
            }
        }
    }
}

fn render_gemm(s: &mut String, p: &Program, g: &GemmPlan, t: &GpuTile) {
    s.push_str(&METAL.params_decl(&p.params_shape()));
    let _ = write!(
        s,
        "#define TILE {}\n#define BK {}\n#define NT {}\n",
        t.bm, t.bk, t.threads
    );
    s.push_str(&cstyle::gpu_epilogue(&METAL, &g.c));
    s.push_str(&METAL.kernel_open(&p.kernel.buf_dtypes, t.threads, GEMM_PARAMS));
    // threadgroup memory is declared at the kernel's scope
    let st = if t.matrix_units { "half" } else { "float" };
    let _ = writeln!(
        s,
        "  threadgroup {st} As[TILE * BK];\n  threadgroup {st} Bs[BK * TILE];"
    );
    if t.matrix_units {
        s.push_str("  threadgroup float Cs[TILE * TILE];\n");
    }
    s.push_str(&cstyle::gpu_gemm_open(&METAL, &g.c, t.bm, t.bn));
    s.push_str(if t.matrix_units {
        SIMDGROUP_METAL
    } else {
        SIMT_METAL
    });
    s.push_str("  }\n}\n");
}

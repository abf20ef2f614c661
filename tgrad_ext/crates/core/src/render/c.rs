//! C for the CPU: loop programs through the shared skeleton, and GEMMs as a generated header
//! (types, tile constants, epilogue, microkernels: `c_gemm`) followed by the static parts in
//! `render/c/*.c` (packing, barrier, BLIS loops, driver), which are real C files. Vectors use the
//! C vector extension (`vector_size`), so no intrinsics header is parsed at compile time.

use std::fmt::Write as _;

use super::cstyle::{Family, Lang, Outputs};
use super::loops;
use super::{c_gemm, Renderer};
use crate::abi::{Join, LaunchDims, Scratch};
use crate::codegen::{GemmSchedule, Program, Strategy};
use crate::dtype::DType;
use crate::error::Result;

pub struct CRenderer;

pub static C: Lang = Lang {
    family: Family::Cpu,
    int64: "int64_t",
    f16_storage: "uint16_t",
    i32_name: "int32_t",
    half_load: "tg_h2f",
    half_store: "tg_f2h",
    inf_f32: "__builtin_inff()",
    nan_f32: "__builtin_nanf(\"\")",
    inf_f64: "__builtin_inf()",
    nan_f64: "__builtin_nan(\"\")",
    restrict: "restrict",
    out_qual: "",
    in_qual: "const ",
    params_qual: "const ",
    local_qual: "",
    fn_qual: "static inline",
    f32_bits: "tg_f32_bits",
    f64_bits: "tg_f64_bits",
    block_id: ["", "", ""],
    grid_z: "",
    outputs: Outputs::Partition,
    warp: None,
    wide_sum: Some("double"),
    bool_name: "_Bool",
    math_f32: ("__builtin_", "f"),
    math_f64: ("__builtin_", ""),
};

/// The static C sources, in the order a GEMM program includes them.
pub const HALF_C: &str = include_str!("c/half.c");
pub const SYNC_C: &str = include_str!("c/sync.c");
pub const PACK_C: &str = include_str!("c/pack.c");
pub const VECTOR_C: &str = include_str!("c/vector.c");
pub const BLIS_C: &str = include_str!("c/blis.c");

/// A static source as rendered: its local `#include "..."` lines dropped (the rendered program
/// holds what they name, in order).
pub fn inline_source(src: &str) -> String {
    src.lines()
        .filter(|l| !l.trim_start().starts_with("#include \""))
        .fold(String::with_capacity(src.len()), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        })
}

fn prelude(p: &Program) -> String {
    let mut s = String::from(
        "#include <stdint.h>\n#include <stddef.h>\nstatic inline int64_t tg_min(int64_t a, int64_t b) { return a < b ? a : b; }\n\
         static inline float tg_f32_bits(int32_t b) { union { int32_t i; float f; } u = { b }; return u.f; }\n\
         static inline double tg_f64_bits(int64_t b) { union { int64_t i; double d; } u = { b }; return u.d; }\n",
    );
    if p.kernel.dtypes().contains(&DType::F16) {
        s.push_str(&inline_source(HALF_C));
    }
    let _ = writeln!(s, "/* {} : {} */", p.name, p.signature.replace("*/", "* /"));
    s
}

/// The header `render/c/*.c` include (`tg_gemm.h`), as a file of its own: with it, each static
/// source compiles alone (`cc -fsyntax-only -I dir render/c/blis.c`). None for loop programs.
pub fn gemm_header_file(p: &Program) -> Option<String> {
    let Strategy::Gemm(g) = &p.strategy else {
        return None;
    };
    let GemmSchedule::Cpu(cpu) = &g.schedule else {
        return None;
    };
    let mut s = String::from("#pragma once\n");
    s.push_str(&prelude(p));
    s.push_str(&c_gemm::header(p, g, cpu));
    Some(s)
}

impl Renderer for CRenderer {
    fn name(&self) -> &'static str {
        "c"
    }

    fn render(&self, p: &Program) -> String {
        let mut s = prelude(p);
        match &p.strategy {
            Strategy::Loops(plan) => s.push_str(&loops::render_loops(&C, p, plan, "")),
            Strategy::Gemm(g) => match &g.schedule {
                GemmSchedule::Cpu(cpu) => s.push_str(&c_gemm::render(p, g, cpu)),
                GemmSchedule::Gpu(_) => {
                    s.push_str("#error \"a GEMM planned for a GPU, rendered as C\"\n");
                }
            },
        }
        s
    }

    fn launch_dims(&self, p: &Program) -> Result<LaunchDims> {
        match &p.strategy {
            Strategy::Loops(plan) => Ok(LaunchDims::Cpu {
                threads: plan.threads,
                join: Join::Every,
                scratch: Scratch::default(),
            }),
            Strategy::Gemm(g) => match &g.schedule {
                GemmSchedule::Cpu(cpu) => Ok(LaunchDims::Cpu {
                    threads: cpu.threads,
                    join: cpu.parallel.join(),
                    scratch: cpu.scratch(&g.c),
                }),
                GemmSchedule::Gpu(_) => Err(super::wrong_target("C", p)),
            },
        }
    }
}

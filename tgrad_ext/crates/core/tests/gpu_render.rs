//! GPU renderers on the CPU: CUDA C and Metal source for the programs of a few representative
//! graphs, checked for structure (entry point, shared memory, tensor-core instructions,
//! epilogue, launch geometry). When libnvrtc is found (TGRAD_NVRTC, the NVIDIA wheels in the
//! active virtual environment, or the system), every CUDA source is also compiled to PTX.

use tgrad_core::abi::LaunchDims;
use tgrad_core::codegen::{self, Program, Strategy};
use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::render::cuda::CudaRenderer;
use tgrad_core::render::metal::MetalRenderer;
use tgrad_core::render::Renderer;
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::runtime::cuda::{nvrtc_compile, Nvrtc};
use tgrad_core::schedule::schedule;
use tgrad_core::target::{GpuTarget, Target};
use tgrad_core::{tensor, DType};

fn input(dt: DType, shape: &[usize]) -> LazyRef {
    let n: usize = shape.iter().product();
    tensor::from_buffer(Buffer::new(dt, n, true).unwrap(), shape.to_vec()).unwrap()
}

/// The programs of `x` planned for an sm_90 GPU (the Metal renderer takes them too: the tiles
/// differ by dialect only in `codegen::GpuTile`, which the Metal checks plan for themselves).
fn programs(x: &LazyRef) -> Vec<Program> {
    plan_for(x, &Target::Gpu(GpuTarget::cuda(9, 0)))
}

fn plan_for(x: &LazyRef, t: &Target) -> Vec<Program> {
    let s = schedule(std::slice::from_ref(x)).unwrap();
    s.items
        .iter()
        .map(|i| codegen::plan(&i.kernel, t).unwrap())
        .collect()
}

/// Grid, block and dynamic shared memory of a CUDA program.
fn geometry(p: &Program) -> ([u32; 3], [u32; 3], u32) {
    match CudaRenderer.launch_dims(p).unwrap() {
        LaunchDims::Grid {
            grid,
            block,
            shared_bytes,
        } => (grid, block, shared_bytes),
        other @ LaunchDims::Cpu { .. } => panic!("a CUDA program launched as {other:?}"),
    }
}

fn matmul(dt: DType, m: usize, k: usize, n: usize) -> LazyRef {
    tensor::dot(&input(dt, &[m, k]), &input(dt, &[k, n])).unwrap()
}

fn only_gemm(x: &LazyRef) -> Program {
    let ps = programs(x);
    assert_eq!(ps.len(), 1, "one fused kernel");
    assert!(
        matches!(ps[0].strategy, Strategy::Gemm(_)),
        "planned as GEMM"
    );
    ps.into_iter().next().unwrap()
}

fn cuda(p: &Program) -> String {
    CudaRenderer.render(p)
}

/// The Metal source of the same kernel, planned for an Apple GPU.
fn metal(p: &Program) -> String {
    let mp = codegen::plan(&p.kernel, &Target::Gpu(GpuTarget::metal())).unwrap();
    MetalRenderer.render(&mp)
}

/// Compile with NVRTC when it can be loaded; rendering alone is checked otherwise.
fn nvrtc_check(src: &str) {
    if Nvrtc::load(&[]).is_err() {
        eprintln!("libnvrtc not found: NVRTC compile skipped");
        return;
    }
    let ptx = nvrtc_compile(src, "sm_90").unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert!(ptx.contains(".entry tgrad_kernel"), "PTX has the entry");
}

#[test]
fn f32_matmul_is_a_tiled_simt_gemm() {
    let p = only_gemm(&matmul(DType::F32, 64, 64, 64));
    let s = cuda(&p);
    assert!(s.contains("extern \"C\" __global__ void __launch_bounds__(256) tgrad_kernel(const long long* __restrict__ p, float* __restrict__ b0, const float* __restrict__ b1, const float* __restrict__ b2)"));
    assert!(
        s.contains("const tg_gemm_params* P = (const tg_gemm_params*)p;"),
        "parameters by name"
    );
    assert!(
        s.contains("extern __shared__"),
        "tiles staged in shared memory"
    );
    assert!(s.contains("*(const uint4*)"), "16-byte vector loads");
    assert!(
        !s.contains(" p[") && !s.contains("(p["),
        "no positional parameter slots"
    );
    assert!(!s.contains("mma.sync"), "no tensor cores for float");
    assert!(!s.contains("#include"), "NVRTC has no headers");
    assert_eq!(geometry(&p), ([1, 1, 1], [256, 1, 1], 2 * 2 * 16 * 132 * 4));
    nvrtc_check(&s);
    let m = metal(&p);
    assert!(m.contains("kernel void tgrad_kernel("));
    assert!(m.contains("threadgroup float"));
    assert!(!m.contains("simdgroup_multiply_accumulate"));
}

#[test]
fn half_matmul_uses_tensor_cores() {
    let p = only_gemm(&matmul(DType::F16, 256, 512, 384));
    let s = cuda(&p);
    assert!(s.contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"));
    assert!(s.contains("ldmatrix.sync.aligned.m8n8.x4.shared.b16"));
    assert!(s.contains("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"));
    assert!(
        s.contains("unsigned short* __restrict__ b0"),
        "half stored as 16 bits"
    );
    assert!(s.contains("tg_f2h("), "rounded to half on store");
    let (grid, block, shared) = geometry(&p);
    assert_eq!(grid, [3, 2, 1], "N/128 x M/128 blocks");
    assert_eq!(block, [256, 1, 1]);
    assert!(shared <= 48 * 1024, "no opt-in shared memory needed");
    nvrtc_check(&s);
    let m = metal(&p);
    assert!(m.contains("simdgroup_half8x8"));
    assert!(m.contains("simdgroup_float8x8"));
    assert!(m.contains("simdgroup_multiply_accumulate"));
    assert!(m.contains("threadgroup_barrier(mem_flags::mem_threadgroup)"));
}

#[test]
fn relu_bias_epilogue_is_fused() {
    let x = input(DType::F32, &[256, 1024]);
    let w = input(DType::F32, &[1024, 1024]);
    let b = input(DType::F32, &[1024]);
    let y = tensor::dot(&x, &w).unwrap();
    let y = tensor::binary(BinaryOp::Add, &y, &b).unwrap();
    let y = tensor::unary(UnaryOp::Relu, &y);
    let p = only_gemm(&y);
    let s = cuda(&p);
    assert!(
        s.contains("e.p0 = b3 + P->op[3].offset"),
        "bias read in the epilogue"
    );
    assert!(
        s.contains("C[m*csm + n*csn] = ((x + e->p0[m*e->sm0 + n*e->sn0]) > 0 ? (x + e->p0[m*e->sm0 + n*e->sn0]) : 0);"),
        "relu(acc + bias) before the store: {}",
        s.lines().find(|l| l.contains("C[m*csm")).unwrap_or("")
    );
    nvrtc_check(&s);
    let m = metal(&p);
    assert!(
        m.contains("e->p0[m*e->sm0 + n*e->sn0]"),
        "Metal applies the same epilogue"
    );
}

#[test]
fn batched_matmul_batches_over_grid_z() {
    let a = input(DType::F32, &[64, 128, 128]);
    let b = input(DType::F32, &[64, 128, 128]);
    let p = only_gemm(&tensor::dot(&a, &b).unwrap());
    let s = cuda(&p);
    assert!(s.contains("for (long long tg_b = blockIdx.z; tg_b < P->batch; tg_b += gridDim.z)"));
    assert_eq!(geometry(&p).0, [1, 1, 64]);
    nvrtc_check(&s);
    let a16 = input(DType::F16, &[8, 64, 128]);
    let b16 = input(DType::F16, &[8, 128, 64]);
    let p16 = only_gemm(&tensor::dot(&a16, &b16).unwrap());
    nvrtc_check(&cuda(&p16));
}

#[test]
fn sum_reduction_is_a_warp_per_output() {
    let x = input(DType::F32, &[333, 777]);
    let y = tensor::reduce(ReduceOp::Sum, &x, &[1], false).unwrap();
    let ps = programs(&y);
    assert_eq!(ps.len(), 1);
    assert!(matches!(ps[0].strategy, Strategy::Loops(_)));
    let s = cuda(&ps[0]);
    assert!(s.contains("__shfl_down_sync(0xffffffffu") && s.contains("tg_shfl_down(v"));
    assert!(s.contains("for (long long tg_ri = tg_lane; tg_ri < tg_reds; tg_ri += 32)"));
    assert!(s.contains("if (tg_lane == 0)"));
    let (grid, block, _) = geometry(&ps[0]);
    assert_eq!(block, [32, 8, 1]);
    assert_eq!(grid, [42, 1, 1], "ceil(333 / 8) blocks");
    nvrtc_check(&s);
    let m = metal(&ps[0]);
    assert!(m.contains("[[thread_position_in_grid]]"));
    // full reduction to a scalar, max with NaN propagation, half input
    let h = input(DType::F16, &[1000]);
    let mx = tensor::reduce(ReduceOp::Max, &h, &[0], false).unwrap();
    for p in programs(&mx) {
        let s = cuda(&p);
        assert!(s.contains("tg_x != tg_x"), "max keeps NaN across lanes");
        nvrtc_check(&s);
        assert!(metal(&p).contains("kernel void tgrad_kernel("));
    }
}

#[test]
fn elementwise_is_a_grid_stride_loop() {
    let a = input(DType::F16, &[3, 50, 7]);
    let b = input(DType::F32, &[50, 1]);
    let y = tensor::binary(BinaryOp::Mul, &a, &b).unwrap();
    let y = tensor::cast(&tensor::unary(UnaryOp::Neg, &y), DType::F16);
    for p in programs(&y) {
        let s = cuda(&p);
        assert!(s.contains("tg_o += (long long)gridDim.x * blockDim.x"));
        assert_eq!(geometry(&p).1, [256, 1, 1]);
        nvrtc_check(&s);
        let m = metal(&p);
        assert!(
            m.contains("device half* b0"),
            "Metal has a native half type"
        );
    }
}

#[test]
fn double_has_no_metal_type() {
    let p = only_gemm(&matmul(DType::F64, 33, 17, 9));
    assert!(metal(&p).contains("#error"), "Metal has no double");
    let s = cuda(&p);
    assert!(s.contains("typedef double acc_t;"));
    nvrtc_check(&s);
}

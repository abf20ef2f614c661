//! Helpers of the emulator tests: realize a graph with kernels rendered by the CUDA or Metal
//! renderer and run on the emulator (optionally with the source edited first), seeded inputs,
//! and the f64 references with their rounding-error bounds.
#![allow(dead_code)] // each test binary uses its own subset

use tgrad_core::abi::LaunchDims;
use tgrad_core::codegen::{self, Program};
use tgrad_core::graph::LazyRef;
use tgrad_core::render;
use tgrad_core::runtime::buffer::{Access, Buffer};
use tgrad_core::runtime::emu::{BuildOptions, Dialect, EmuProgram, Order, RunOptions};
use tgrad_core::schedule::schedule;
use tgrad_core::target::{GpuTarget, Target};
use tgrad_core::{dtype, rng, tensor, DType, Result};

pub const ORDERS: [Order; 3] = [Order::Forward, Order::Reverse, Order::Random(0x5eed)];

/// The GPU a dialect's kernels are planned for: sm_90, or an Apple GPU.
pub fn target(dialect: Dialect) -> Target {
    Target::Gpu(match dialect {
        Dialect::Cuda => GpuTarget::cuda(9, 0),
        Dialect::Metal => GpuTarget::metal(),
    })
}

/// The programs realizing `roots` would run, planned for `dialect`'s GPU.
pub fn plan(roots: &[LazyRef], dialect: Dialect) -> Vec<Program> {
    let sched = schedule(roots).unwrap();
    sched
        .items
        .iter()
        .map(|i| codegen::plan(&i.kernel, &target(dialect)).unwrap())
        .collect()
}

pub fn render(p: &Program, _dialect: Dialect) -> String {
    render::for_target(&p.target).render(p)
}

/// Grid, block and dynamic shared bytes of a rendered program.
pub fn geometry(p: &Program, _dialect: Dialect) -> ([u32; 3], [u32; 3], u32) {
    match render::for_target(&p.target).launch_dims(p).unwrap() {
        LaunchDims::Grid {
            grid,
            block,
            shared_bytes,
        } => (grid, block, shared_bytes),
        LaunchDims::Cpu { .. } => panic!("a GPU program with CPU launch dims"),
    }
}

/// Realize `roots` on the emulator: every kernel is planned as for the CPU, rendered for
/// `dialect`, passed through `edit` (identity for an unmodified run) and launched.
pub fn realize_with(
    roots: &[LazyRef],
    dialect: Dialect,
    run: &RunOptions,
    build: BuildOptions,
    edit: &dyn Fn(String) -> String,
) -> Result<()> {
    realize_regrid(roots, dialect, run, build, edit, &|g| g)
}

/// `realize_with`, launching every kernel over the grid `regrid` makes of the renderer's.
pub fn realize_regrid(
    roots: &[LazyRef],
    dialect: Dialect,
    run: &RunOptions,
    build: BuildOptions,
    edit: &dyn Fn(String) -> String,
    regrid: &dyn Fn([u32; 3]) -> [u32; 3],
) -> Result<()> {
    let sched = schedule(roots)?;
    for item in &sched.items {
        let p = codegen::plan(&item.kernel, &target(dialect))?;
        let src = edit(render(&p, dialect));
        let prog = EmuProgram::build(&src, dialect, &build)?;
        let (grid, block, shared) = geometry(&p, dialect);
        let grid = regrid(grid);
        let mut args = vec![p.params.as_ptr() as u64];
        for (i, b) in item.bufs.iter().enumerate() {
            let access = if i == 0 { Access::Write } else { Access::Read };
            args.push(b.host_ptr(access)? as u64);
        }
        // SAFETY: the params vector and the item's buffers live through the launch; the kernel
        // writes only buffer 0, which nothing else reads meanwhile.
        unsafe { prog.launch(grid, block, shared, &args, run)? };
    }
    for (node, buf) in sched.realized {
        node.set_realized(buf);
    }
    Ok(())
}

pub fn realize(roots: &[LazyRef], dialect: Dialect, order: Order) -> Result<()> {
    let run = RunOptions {
        order,
        ..RunOptions::default()
    };
    realize_with(roots, dialect, &run, BuildOptions::default(), &|s| s)
}

/// The bytes of a realized tensor.
pub fn bytes(x: &LazyRef) -> Vec<u8> {
    x.buffer().expect("realized").to_vec().unwrap()
}

/// Values of a realized tensor as f64 (from any storage).
pub fn values(x: &LazyRef) -> Vec<f64> {
    let b = x.buffer().expect("realized");
    let raw = &b.to_vec().unwrap()[..];
    match b.dtype {
        DType::F32 => raw
            .chunks(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::F16 => raw
            .chunks(2)
            .map(|c| f64::from(dtype::f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]]))))
            .collect(),
        DType::F64 => raw
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        DType::I32 => raw
            .chunks(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::Bool => raw.iter().map(|&c| f64::from(c)).collect(),
    }
}

/// A realized input of seeded normal values (rounded to `dt`), with those values as f64.
pub fn input(dt: DType, shape: &[usize]) -> (LazyRef, Vec<f64>) {
    let n: usize = shape.iter().product();
    let vals: Vec<f64> = rng::normal(n)
        .into_iter()
        .map(|x| match dt {
            DType::F16 => f64::from(dtype::f16_bits_to_f32(dtype::f32_to_f16_bits(x as f32))),
            DType::F32 => f64::from(x as f32),
            _ => x,
        })
        .collect();
    let bytes: Vec<u8> = match dt {
        DType::F16 => vals
            .iter()
            .flat_map(|&x| dtype::f32_to_f16_bits(x as f32).to_le_bytes())
            .collect(),
        DType::F32 => vals
            .iter()
            .flat_map(|&x| (x as f32).to_le_bytes())
            .collect(),
        DType::F64 => vals.iter().flat_map(|&x| x.to_le_bytes()).collect(),
        DType::I32 | DType::Bool => panic!("float inputs only"),
    };
    let t = tensor::from_buffer(Buffer::from_bytes(dt, &bytes).unwrap(), shape.to_vec()).unwrap();
    (t, vals)
}

/// Unit roundoff of a dtype.
pub fn unit(dt: DType) -> f64 {
    match dt {
        DType::F16 => 2f64.powi(-11),
        DType::F32 => 2f64.powi(-24),
        _ => 2f64.powi(-53),
    }
}

/// A matmul's f64 reference: `a` is (batch, m, k) read through strides (sa_b, sa_m, sa_k),
/// `b` likewise (sb_b, sb_k, sb_n); returns (values, |a| |b| products) row-major (batch, m, n).
#[allow(clippy::too_many_arguments)]
pub fn matmul_ref(
    a: &[f64],
    (sa_b, sa_m, sa_k): (usize, usize, usize),
    b: &[f64],
    (sb_b, sb_k, sb_n): (usize, usize, usize),
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; batch * m * n];
    let mut abs = vec![0.0; batch * m * n];
    for z in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut t) = (0.0, 0.0);
                for p in 0..k {
                    let x = a[z * sa_b + i * sa_m + p * sa_k] * b[z * sb_b + p * sb_k + j * sb_n];
                    s += x;
                    t += x.abs();
                }
                out[z * m * n + i * n + j] = s;
                abs[z * m * n + i * n + j] = t;
            }
        }
    }
    (out, abs)
}

/// The first element of a result accumulated in `acc` over `k` terms and stored as `out`
/// that lies outside k u_acc |a||b| + u_out |ref| of the f64 reference, if any.
pub fn violation(
    got: &[f64],
    want: &[f64],
    abs: &[f64],
    k: usize,
    acc: DType,
    out: DType,
) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} values, want {}", got.len(), want.len()));
    }
    let (ua, uo) = (unit(acc), if out == acc { 0.0 } else { unit(out) });
    for (i, ((&g, &w), &t)) in got.iter().zip(want).zip(abs).enumerate() {
        let bound = (k as f64 + 1.0) * ua * t * 1.01 + uo * (w.abs() + 2f64.powi(-14)) + 1e-300;
        if (g - w).abs() > bound || g.is_nan() {
            return Some(format!("element {i}: got {g}, want {w} (bound {bound})"));
        }
    }
    None
}

pub fn check_close(
    got: &[f64],
    want: &[f64],
    abs: &[f64],
    k: usize,
    acc: DType,
    out: DType,
    what: &str,
) {
    if let Some(v) = violation(got, want, abs, k, acc, out) {
        panic!("{what}: {v}");
    }
}

/// Realizes a fresh graph from `make` on the emulator in every schedule order; asserts the
/// results are bitwise equal and returns the last one.
pub fn in_every_order(make: &dyn Fn() -> LazyRef, dialect: Dialect, what: &str) -> LazyRef {
    let mut first: Option<Vec<u8>> = None;
    let mut last = None;
    for order in ORDERS {
        let y = make();
        realize(std::slice::from_ref(&y), dialect, order)
            .unwrap_or_else(|e| panic!("{what} ({dialect:?}, {order:?}): {e}"));
        let b = bytes(&y);
        match &first {
            None => first = Some(b),
            Some(f) => assert!(
                *f == b,
                "{what} ({dialect:?}): {order:?} differs from Forward"
            ),
        }
        last = Some(y);
    }
    last.expect("at least one order")
}

/// A GEMM case: (batch, m, k, n) with A and B stored transposed or not, B shared by every
/// batch (broadcast) or not, and an optional bias + relu epilogue.
#[derive(Debug, Clone, Copy)]
pub struct Gemm {
    pub dt: DType,
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub ta: bool,
    pub tb: bool,
    pub broadcast_b: bool,
    pub bias_relu: bool,
}

impl Gemm {
    pub fn new(dt: DType, m: usize, k: usize, n: usize) -> Gemm {
        Gemm {
            dt,
            batch: 1,
            m,
            k,
            n,
            ta: false,
            tb: false,
            broadcast_b: false,
            bias_relu: false,
        }
    }

    /// A maker of the case's graph (fresh nodes over the same inputs), the f64 reference and
    /// the |a||b| sums of its bound.
    pub fn setup(&self) -> (Box<dyn Fn() -> LazyRef>, Vec<f64>, Vec<f64>) {
        let g = *self;
        let Gemm {
            dt, batch, m, k, n, ..
        } = g;
        let lead = |x: usize, y: usize, batched: bool| {
            if batched && batch > 1 {
                vec![batch, x, y]
            } else {
                vec![x, y]
            }
        };
        // stored shapes, and strides of the (batch, rows, cols) views the matmul reads
        let (a, av) = input(
            dt,
            &lead(if g.ta { k } else { m }, if g.ta { m } else { k }, true),
        );
        let b_batched = !g.broadcast_b;
        let (b, bv) = input(
            dt,
            &lead(
                if g.tb { n } else { k },
                if g.tb { k } else { n },
                b_batched,
            ),
        );
        let sa = if g.ta { (m * k, 1, m) } else { (m * k, k, 1) };
        let sb_b = if b_batched { k * n } else { 0 };
        let sb = if g.tb { (sb_b, 1, k) } else { (sb_b, n, 1) };
        let (bias, biasv) = input(dt, &[n]);
        let (mut want, mut abs) = matmul_ref(&av, sa, &bv, sb, batch, m, k, n);
        if g.bias_relu {
            for (i, (w, t)) in want.iter_mut().zip(abs.iter_mut()).enumerate() {
                *w = (*w + biasv[i % n]).max(0.0);
                *t += biasv[i % n].abs();
            }
        }
        let make = move || {
            let last2 = |x: &LazyRef, t: bool| {
                if t {
                    let r = x.shape.len() as i64;
                    tensor::transpose(x, r - 2, r - 1).unwrap()
                } else {
                    x.clone()
                }
            };
            let y = tensor::dot(&last2(&a, g.ta), &last2(&b, g.tb)).unwrap();
            if g.bias_relu {
                let y = tensor::binary(tgrad_core::graph::BinaryOp::Add, &y, &bias).unwrap();
                tensor::unary(tgrad_core::graph::UnaryOp::Relu, &y)
            } else {
                y
            }
        };
        (Box::new(make), want, abs)
    }

    fn acc(&self) -> DType {
        if self.dt == DType::F64 {
            DType::F64
        } else {
            DType::F32
        }
    }

    /// Runs the case on the emulator in every order and checks it against the f64 reference.
    pub fn check(&self, dialect: Dialect) {
        let (make, want, abs) = self.setup();
        let y = in_every_order(&make, dialect, &format!("{self:?}"));
        let what = format!("{self:?} on {dialect:?}");
        check_close(&values(&y), &want, &abs, self.k, self.acc(), self.dt, &what);
    }

    /// Runs the case once with every kernel source passed through `edit`: the values, or the
    /// error, and whether the values lie within the reference's bound.
    pub fn run_edited(
        &self,
        dialect: Dialect,
        run: &RunOptions,
        build: BuildOptions,
        edit: &dyn Fn(String) -> String,
    ) -> Result<(Vec<f64>, bool)> {
        let (make, want, abs) = self.setup();
        let y = make();
        realize_with(std::slice::from_ref(&y), dialect, run, build, edit)?;
        let got = values(&y);
        let ok = violation(&got, &want, &abs, self.k, self.acc(), self.dt).is_none();
        Ok((got, ok))
    }
}

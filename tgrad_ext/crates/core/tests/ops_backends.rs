//! Every elementwise op of the core, on every backend: the C renderer on the CPU engine and the
//! CUDA and Metal renderers on the GPU emulator, against an f64 reference. The math functions
//! are the platforms' (libm, CUDA's, Metal's), so results are compared within a few units in
//! the last place of the dtype (relative to max(|reference|, 1)); comparisons and selects are
//! exact.

mod common;
mod emu_support;

use tgrad_core::graph::{BinaryOp, LazyRef, ReduceOp, UnaryOp};
use tgrad_core::runtime::emu::{Dialect, Order};
use tgrad_core::{engine, tensor, DType};

const X: [f64; 8] = [0.25, 0.5, 1.0, 1.5, 2.0, 2.75, 3.0, 0.125];
const Y: [f64; 8] = [1.0, 0.5, 1.0, 2.0, -1.5, 2.75, 0.5, 3.0];

fn input(vals: &[f64], dt: DType) -> LazyRef {
    let bytes: Vec<u8> = match dt {
        DType::F64 => vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => vals
            .iter()
            .flat_map(|&v| tgrad_core::dtype::f32_to_f16_bits(v as f32).to_le_bytes())
            .collect(),
        _ => vals
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
    };
    let buf = tgrad_core::runtime::buffer::Buffer::from_bytes(dt, &bytes).unwrap();
    tensor::from_buffer(buf, vec![vals.len()]).unwrap()
}

fn reference_unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Exp2 => x.exp2(),
        UnaryOp::Log2 => x.log2(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Sin => x.sin(),
        UnaryOp::Trunc => x.trunc(),
    }
}

// the comparisons' reference is IEEE equality itself
#[allow(clippy::float_cmp)]
fn reference_binary(op: BinaryOp, x: f64, y: f64) -> f64 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Max => x.max(y),
        BinaryOp::Pow => x.powf(y),
        BinaryOp::CmpLt => f64::from(u8::from(x < y)),
        BinaryOp::CmpEq => f64::from(u8::from(x == y)),
        BinaryOp::CmpNe => f64::from(u8::from(x != y)),
    }
}

/// Every op's graph over fresh inputs of `dt`, with its reference values (inputs are rounded
/// to `dt` first): (name, graph, reference).
fn cases(dt: DType) -> Vec<(String, LazyRef, Vec<f64>)> {
    let round = |v: f64| match dt {
        DType::F16 => f64::from(tgrad_core::dtype::f16_bits_to_f32(
            tgrad_core::dtype::f32_to_f16_bits(v as f32),
        )),
        DType::F32 => f64::from(v as f32),
        _ => v,
    };
    let mut out = vec![];
    for op in UnaryOp::ALL {
        let want = X.iter().map(|&x| reference_unary(op, round(x))).collect();
        out.push((
            op.name().to_string(),
            tensor::unary(op, &input(&X, dt)),
            want,
        ));
    }
    for op in BinaryOp::ALL {
        let g = tensor::binary(op, &input(&X, dt), &input(&Y, dt)).unwrap();
        let want = X
            .iter()
            .zip(&Y)
            .map(|(&x, &y)| reference_binary(op, round(x), round(y)))
            .collect();
        out.push((op.name().to_string(), g, want));
    }
    let cond = tensor::binary(BinaryOp::CmpLt, &input(&X, dt), &input(&Y, dt)).unwrap();
    let g = tensor::where_(&cond, &input(&X, dt), &input(&Y, dt)).unwrap();
    let want = X
        .iter()
        .zip(&Y)
        .map(|(&x, &y)| {
            if round(x) < round(y) {
                round(x)
            } else {
                round(y)
            }
        })
        .collect();
    out.push(("where".into(), g, want));
    out
}

fn check(backend: &str, dt: DType, name: &str, got: &[f64], want: &[f64]) {
    let ulp = match dt {
        DType::F16 => 2f64.powi(-10),
        DType::F32 => 2f64.powi(-23),
        _ => 2f64.powi(-52),
    };
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan())
            || (w.is_infinite() && g.is_infinite() && g.is_sign_positive() == w.is_sign_positive())
            || (g - w).abs() <= 4.0 * ulp * w.abs().max(1.0);
        assert!(ok, "{backend} {} {name}[{i}]: got {g}, want {w}", dt.name());
    }
}

#[test]
fn every_op_on_the_cpu_engine() {
    for dt in [DType::F16, DType::F32, DType::F64] {
        for (name, g, want) in cases(dt) {
            engine::cpu().realize(std::slice::from_ref(&g)).unwrap();
            check("C", dt, &name, &emu_support::values(&g), &want);
        }
    }
}

#[test]
fn every_op_on_the_gpu_emulator() {
    for (dialect, dtypes) in [
        (Dialect::Cuda, vec![DType::F16, DType::F32, DType::F64]),
        (Dialect::Metal, vec![DType::F16, DType::F32]),
    ] {
        for dt in dtypes {
            for (name, g, want) in cases(dt) {
                emu_support::realize(std::slice::from_ref(&g), dialect, Order::Forward).unwrap();
                check(dialect.name(), dt, &name, &emu_support::values(&g), &want);
            }
        }
    }
}

/// Sums reaching +-inf or NaN keep the IEEE result on every backend (Metal's compensated sum
/// once turned inf into NaN: inf - inf in the compensation).
#[test]
fn sums_of_infinities_stay_infinite_on_every_backend() {
    let vals = [f64::INFINITY, 1.0, 2.0, -1.0];
    let nan = [1.0, f64::NAN, 2.0, 3.0];
    let mixed = [f64::INFINITY, 1.0, f64::NEG_INFINITY, 3.0];
    let graph =
        |v: &[f64]| tensor::reduce(ReduceOp::Sum, &input(v, DType::F32), &[0], false).unwrap();
    let want = [f64::INFINITY, f64::NAN, f64::NAN];
    let run = |realize: &dyn Fn(&LazyRef)| -> Vec<f64> {
        [&vals[..], &nan, &mixed]
            .iter()
            .map(|v| {
                let g = graph(v);
                realize(&g);
                emu_support::values(&g)[0]
            })
            .collect()
    };
    let cpu = run(&|g| engine::cpu().realize(std::slice::from_ref(g)).unwrap());
    check("C", DType::F32, "sum", &cpu, &want);
    for dialect in [Dialect::Cuda, Dialect::Metal] {
        let got = run(&|g| {
            emu_support::realize(std::slice::from_ref(g), dialect, Order::Forward).unwrap();
        });
        check(dialect.name(), DType::F32, "sum", &got, &want);
    }
}

//! GEMM cases for the tuning-space tests: seeded operands of any float dtype, stored plain or
//! transposed, batched or not, with or without the bias + relu epilogue, and their float64
//! reference. Integer-valued operands make every summation order exact, so those cases demand
//! bitwise equality; the others are judged with the rounding-error bound gamma_K |A||B|.

use tgrad_core::codegen::{self, Tuning};
use tgrad_core::dtype::{f16_bits_to_f32, f32_to_f16_bits};
use tgrad_core::graph::{BinaryOp, LazyRef, UnaryOp};
use tgrad_core::runtime::buffer::Buffer;
use tgrad_core::schedule::schedule;
use tgrad_core::target::Target;
use tgrad_core::{engine, rng, tensor, DType};

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub dtype: DType,
    pub transpose_a: bool,
    pub transpose_b: bool,
    pub bias_relu: bool,
    /// Small integer operands: every product and sum exact, so results must match bitwise.
    pub integer: bool,
}

impl Spec {
    pub fn new(m: usize, k: usize, n: usize) -> Spec {
        Spec {
            batch: 1,
            m,
            k,
            n,
            dtype: DType::F32,
            transpose_a: false,
            transpose_b: false,
            bias_relu: true,
            integer: true,
        }
    }
}

pub struct Case {
    pub spec: Spec,
    pub root: LazyRef,
    want: Vec<f64>,
    /// |A||B| (+|bias|) per output: the scale of the rounding-error bound.
    scale: Vec<f64>,
}

/// Values rounded to `dtype` (as stored), and the buffer holding them.
fn stored(vals: &[f64], dtype: DType) -> (Vec<f64>, Buffer) {
    let (rounded, bytes): (Vec<f64>, Vec<u8>) = match dtype {
        DType::F16 => {
            let h: Vec<u16> = vals.iter().map(|&v| f32_to_f16_bits(v as f32)).collect();
            (
                h.iter().map(|&b| f64::from(f16_bits_to_f32(b))).collect(),
                h.iter().flat_map(|b| b.to_le_bytes()).collect(),
            )
        }
        DType::F64 => (
            vals.to_vec(),
            vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        _ => {
            let f: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
            (
                f.iter().map(|&v| f64::from(v)).collect(),
                f.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        }
    };
    (rounded, Buffer::from_bytes(dtype, &bytes).unwrap())
}

fn draw(count: usize, integer: bool) -> Vec<f64> {
    if integer {
        rng::uniform(count)
            .into_iter()
            .map(|u| (u * 7.0).floor() - 3.0)
            .collect()
    } else {
        rng::normal(count)
    }
}

/// A `rows x cols` matrix per batch index, optionally stored transposed (cols x rows) and viewed
/// back as rows x cols: the same logical values, column-major.
fn operand(
    vals: &[f64],
    s: &Spec,
    rows: usize,
    cols: usize,
    transposed: bool,
) -> (Vec<f64>, LazyRef) {
    let per = rows * cols;
    let mut storage = vals.to_vec();
    if transposed {
        for b in 0..s.batch {
            for r in 0..rows {
                for c in 0..cols {
                    storage[b * per + c * rows + r] = vals[b * per + r * cols + c];
                }
            }
        }
    }
    let (rounded, buf) = stored(&storage, s.dtype);
    let (r, c) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let shape = if s.batch > 1 {
        vec![s.batch, r, c]
    } else {
        vec![r, c]
    };
    let node = tensor::from_buffer(buf, shape).unwrap();
    let node = if transposed {
        tensor::transpose(&node, -1, -2).unwrap()
    } else {
        node
    };
    // the logical values, as stored (rounded to the dtype)
    let mut logical = rounded.clone();
    if transposed {
        for b in 0..s.batch {
            for rr in 0..rows {
                for cc in 0..cols {
                    logical[b * per + rr * cols + cc] = rounded[b * per + cc * rows + rr];
                }
            }
        }
    }
    (logical, node)
}

impl Case {
    pub fn new(spec: Spec) -> Case {
        let s = spec;
        rng::manual_seed((s.batch * 7919 + s.m * 104_729 + s.k * 1_299_709 + s.n) as u64);
        let (a, an) = operand(
            &draw(s.batch * s.m * s.k, s.integer),
            &s,
            s.m,
            s.k,
            s.transpose_a,
        );
        let (b, bn) = operand(
            &draw(s.batch * s.k * s.n, s.integer),
            &s,
            s.k,
            s.n,
            s.transpose_b,
        );
        let (bias, bias_buf) = stored(&draw(s.n, s.integer), s.dtype);
        let mut root = tensor::dot(&an, &bn).unwrap();
        if s.bias_relu {
            let bias_node = tensor::from_buffer(bias_buf, vec![s.n]).unwrap();
            root = tensor::unary(
                UnaryOp::Relu,
                &tensor::binary(BinaryOp::Add, &root, &bias_node).unwrap(),
            );
        }
        let (mut want, mut scale) = (
            vec![0.0; s.batch * s.m * s.n],
            vec![0.0; s.batch * s.m * s.n],
        );
        for z in 0..s.batch {
            for i in 0..s.m {
                for j in 0..s.n {
                    let (mut acc, mut abs) = (0.0f64, 0.0f64);
                    for p in 0..s.k {
                        let (x, y) = (
                            a[z * s.m * s.k + i * s.k + p],
                            b[z * s.k * s.n + p * s.n + j],
                        );
                        acc += x * y;
                        abs += (x * y).abs();
                    }
                    let o = z * s.m * s.n + i * s.n + j;
                    if s.bias_relu {
                        acc = (acc + bias[j]).max(0.0);
                        abs += bias[j].abs();
                    }
                    want[o] = acc;
                    scale[o] = abs;
                }
            }
        }
        Case {
            spec,
            root,
            want,
            scale,
        }
    }

    /// Run the case's single kernel planned for `target` (with `tuning` forced, else the
    /// heuristic's) and compare with the reference; Err describes the first wrong element.
    pub fn check(&self, target: &Target, tuning: Option<&Tuning>) -> Result<(), String> {
        let s = &self.spec;
        let sched = schedule(std::slice::from_ref(&self.root)).unwrap();
        if sched.items.len() != 1 {
            return Err(format!(
                "{} kernels, expected one fused GEMM",
                sched.items.len()
            ));
        }
        let item = &sched.items[0];
        let p = codegen::plan_tuned(&item.kernel, target, tuning).map_err(|e| e.to_string())?;
        let cpu = engine::cpu();
        let launch = cpu.launch_for(&p, item).map_err(|e| e.to_string())?;
        engine::launch_quiet(&launch).map_err(|e| e.to_string())?;
        let bytes = item.bufs[0].to_vec().unwrap();
        let got: Vec<f64> = match s.dtype {
            DType::F16 => bytes
                .chunks(2)
                .map(|c| f64::from(f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]]))))
                .collect(),
            DType::F64 => bytes
                .chunks(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            _ => bytes
                .chunks(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        };
        let u = if s.dtype == DType::F64 {
            2f64.powi(-53)
        } else {
            2f64.powi(-24)
        };
        let kk = (s.k + 1) as f64;
        for (o, (&g, &w)) in got.iter().zip(&self.want).enumerate() {
            let half_round = if s.dtype == DType::F16 {
                2f64.powi(-11) * w.abs()
            } else {
                0.0
            };
            let bound = if s.integer && s.dtype != DType::F16 {
                0.0
            } else {
                kk * u / (1.0 - kk * u) * self.scale[o] + half_round
            };
            if (g - w).abs() > bound || g.is_nan() {
                return Err(format!(
                    "{s:?} tuning {:?} on {target}: element {o} is {g}, want {w} (bound {bound:e})",
                    tuning.map(Tuning::encode)
                ));
            }
        }
        Ok(())
    }
}

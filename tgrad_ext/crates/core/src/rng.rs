//! Random numbers for `Tensor.rand`/`randn`: a counter-based generator (SplitMix64 of seed and
//! counter), so a seed gives the same numbers whatever the thread count.

use std::sync::atomic::{AtomicU64, Ordering};

static SEED: AtomicU64 = AtomicU64::new(0x5eed);
static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn manual_seed(seed: u64) {
    SEED.store(seed, Ordering::SeqCst);
    COUNTER.store(0, Ordering::SeqCst);
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` uniform numbers in [0, 1).
pub fn uniform(n: usize) -> Vec<f64> {
    let seed = SEED.load(Ordering::SeqCst);
    let start = COUNTER.fetch_add(n as u64, Ordering::SeqCst);
    (0..n as u64)
        .map(|i| (splitmix(seed ^ splitmix(start + i)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64))
        .collect()
}

/// `n` standard normal numbers (Box-Muller).
pub fn normal(n: usize) -> Vec<f64> {
    let u = uniform(n + (n & 1));
    u.chunks(2)
        .flat_map(|p| {
            let r = (-2.0 * (1.0 - p[0]).ln()).sqrt();
            let t = std::f64::consts::TAU * p[1];
            [r * t.cos(), r * t.sin()]
        })
        .take(n)
        .collect()
}

/// Fill a buffer of any dtype with uniform [0, 1) or standard normal numbers, in place (no
/// temporary copy: B3's inputs are 16 MiB each, and memory is part of the benchmark).
pub fn fill(buf: &mut crate::runtime::buffer::Buffer, normal: bool) -> crate::error::Result<()> {
    use crate::dtype::{f32_to_f16_bits, DType};
    const CHUNK: usize = 1 << 14;
    let n = buf.count();
    let dtype = buf.dtype;
    crate::ensure!(
        dtype != DType::Bool,
        DType,
        "random numbers of dtype bool are not supported (draw floats and compare them)"
    );
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        let vals = if normal {
            self::normal(len)
        } else {
            uniform(len)
        };
        match dtype {
            DType::F32 => buf.as_mut_slice::<f32>()?[start..start + len]
                .iter_mut()
                .zip(&vals)
                .for_each(|(d, &v)| *d = v as f32),
            DType::F64 => buf.as_mut_slice::<f64>()?[start..start + len].copy_from_slice(&vals),
            DType::F16 => buf.as_mut_slice::<u16>()?[start..start + len]
                .iter_mut()
                .zip(&vals)
                .for_each(|(d, &v)| *d = f32_to_f16_bits(v as f32)),
            DType::I32 => buf.as_mut_slice::<i32>()?[start..start + len]
                .iter_mut()
                .zip(&vals)
                .for_each(|(d, &v)| *d = v as i32),
            DType::Bool => unreachable!("refused above"),
        }
        start += len;
    }
    Ok(())
}

//! Element types. tinygrad's names are kept (`float`, `half`, `int`, `double`).

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// tinygrad's `bool`: comparisons give it; one byte per element, 0 or 1.
    Bool,
    F16,
    F32,
    F64,
    I32,
}

impl DType {
    pub const ALL: [DType; 5] = [DType::Bool, DType::F16, DType::F32, DType::F64, DType::I32];

    pub fn itemsize(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 => 8,
        }
    }

    /// tinygrad's `DType.name`.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::F16 => "half",
            DType::F32 => "float",
            DType::F64 => "double",
            DType::I32 => "int",
        }
    }

    pub fn from_name(name: &str) -> Result<DType> {
        Ok(match name {
            "bool" => DType::Bool,
            "half" | "float16" => DType::F16,
            "float" | "float32" => DType::F32,
            "double" | "float64" => DType::F64,
            "int" | "int32" => DType::I32,
            other => {
                return Err(Error::DType(format!(
                "dtype '{other}' is not supported by tgrad (supported: bool, half, float, double, int)"
            )))
            }
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::F32 | DType::F64)
    }

    /// The float dtype an op that only floats compute (exp, log, sqrt, true division) gives for
    /// `self`: floats keep their dtype, int and bool become float (tinygrad's
    /// `least_upper_float`).
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::F32
        }
    }

    /// The type arithmetic happens in: half is computed and accumulated in float, as in tinygrad.
    pub fn compute(self) -> DType {
        match self {
            DType::F16 => DType::F32,
            other => other,
        }
    }

    /// tinygrad's promotion lattice restricted to our dtypes (bool below every number).
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::{Bool, F16, F32, F64, I32};
        match (a, b) {
            (x, y) if x == y => x,
            (Bool, x) | (x, Bool) => x,
            (F64, _) | (_, F64) => F64,
            (F32, _) | (_, F32) => F32,
            (F16, I32) | (I32, F16) => F16,
            (x, _) => x,
        }
    }
}

/// IEEE binary16 bits of an f32, rounded to nearest even (overflow to infinity, NaN kept).
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let mut man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 31 {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        man |= 0x80_0000;
        let shift = (14 - e) as u32;
        let (hm, rem, half) = (man >> shift, man & ((1 << shift) - 1), 1 << (shift - 1));
        let r = if rem > half || (rem == half && hm & 1 == 1) {
            hm + 1
        } else {
            hm
        };
        return sign | r as u16;
    }
    let (hm, rem) = (man >> 13, man & 0x1fff);
    let r = ((e as u32) << 10) | hm;
    let r = if rem > 0x1000 || (rem == 0x1000 && hm & 1 == 1) {
        r + 1
    } else {
        r
    };
    sign | r as u16
}

/// The f32 value of IEEE binary16 bits (exact).
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f32::from(h & 0x3ff);
    match exp {
        0 => sign * man * 2f32.powi(-24),
        31 if man == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + man / 1024.0) * 2f32.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversion_rounds_to_nearest_even() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
        assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7c00, "rounds up to infinity");
        assert_eq!(f32_to_f16_bits(f32::INFINITY), 0x7c00);
        assert_eq!(f32_to_f16_bits(f32::NAN) & 0x7e00, 0x7e00);
        assert_eq!(
            f32_to_f16_bits(5.960_464_5e-8),
            0x0001,
            "smallest subnormal"
        );
        assert_eq!(
            f32_to_f16_bits(1.0 + 2f32.powi(-11)),
            0x3c00,
            "a tie rounds to even"
        );
        assert_eq!(f32_to_f16_bits(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        for bits in [
            0x0001u16, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0xc000, 0x7c00, 0xfc00,
        ] {
            assert_eq!(
                f32_to_f16_bits(f16_bits_to_f32(bits)),
                bits,
                "round trip of {bits:#06x}"
            );
        }
    }
}

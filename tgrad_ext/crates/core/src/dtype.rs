//! Element types. tinygrad's names are kept (`float`, `half`, `int`, `double`).

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F16,
    F32,
    F64,
    I32,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::F16, DType::F32, DType::F64, DType::I32];

    pub fn itemsize(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 => 8,
        }
    }

    /// tinygrad's `DType.name`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "half",
            DType::F32 => "float",
            DType::F64 => "double",
            DType::I32 => "int",
        }
    }

    pub fn from_name(name: &str) -> Result<DType> {
        Ok(match name {
            "half" | "float16" => DType::F16,
            "float" | "float32" => DType::F32,
            "double" | "float64" => DType::F64,
            "int" | "int32" => DType::I32,
            other => {
                return Err(Error::DType(format!(
                "dtype '{other}' is not supported by tgrad (supported: half, float, double, int)"
            )))
            }
        })
    }

    pub fn is_float(self) -> bool {
        !matches!(self, DType::I32)
    }

    /// The type arithmetic happens in: half is computed and accumulated in float, as in tinygrad.
    pub fn compute(self) -> DType {
        match self {
            DType::F16 => DType::F32,
            other => other,
        }
    }

    /// tinygrad's promotion lattice restricted to our dtypes.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::{F16, F32, F64, I32};
        match (a, b) {
            (x, y) if x == y => x,
            (F64, _) | (_, F64) => F64,
            (F32, _) | (_, F32) => F32,
            (F16, I32) | (I32, F16) => F16,
            (x, _) => x,
        }
    }
}

//! The machine a CPU kernel is built for, and the GEMM blocking parameters derived from it.

use std::fmt;

/// The vector instruction set a kernel is rendered for (detected at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorIsa {
    Avx512,
    Avx2Fma,
    Sse2,
    Neon,
    /// No known vector unit: 16-byte generic vectors, left to the C compiler.
    Portable,
}

impl VectorIsa {
    pub fn detect() -> VectorIsa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return VectorIsa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return VectorIsa::Avx2Fma;
            }
            VectorIsa::Sse2
        }
        #[cfg(target_arch = "aarch64")]
        {
            VectorIsa::Neon
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            VectorIsa::Portable
        }
    }

    /// Vector register width in bytes.
    pub fn vector_bytes(self) -> usize {
        match self {
            VectorIsa::Avx512 => 64,
            VectorIsa::Avx2Fma => 32,
            VectorIsa::Sse2 | VectorIsa::Neon | VectorIsa::Portable => 16,
        }
    }

    /// Architectural vector registers.
    pub fn registers(self) -> usize {
        match self {
            VectorIsa::Avx512 | VectorIsa::Neon => 32,
            _ => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VectorIsa::Avx512 => "avx512",
            VectorIsa::Avx2Fma => "avx2+fma",
            VectorIsa::Sse2 => "sse2",
            VectorIsa::Neon => "neon",
            VectorIsa::Portable => "portable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CpuTarget {
    pub isa: VectorIsa,
    pub threads: usize,
}

impl CpuTarget {
    pub fn host() -> CpuTarget {
        CpuTarget {
            isa: VectorIsa::detect(),
            threads: crate::flags::threads(),
        }
    }
}

/// GEMM blocking (BLIS names): an MR x NR register tile of accumulators, KC-deep packed panels,
/// MC rows of A per packed block, NC columns of B per packed panel; VW lanes per vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GemmOpts {
    pub vw: usize,
    pub mr: usize,
    pub nr: usize,
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
}

impl GemmOpts {
    /// The default heuristic: fill the register file with accumulators (leaving room for the
    /// B vectors and one broadcast), keep an A block in L2 and a B micro-panel in L1.
    pub fn heuristic(isa: VectorIsa, elem_bytes: usize) -> GemmOpts {
        let vw = isa.vector_bytes() / elem_bytes;
        let (mr, nvec) = match (isa.registers(), isa) {
            (32, VectorIsa::Neon) => (8, 3),
            (32, _) => (12, 2),
            _ => (6, 2),
        };
        let kc = 256;
        let mc = (144 / mr).max(1) * mr;
        GemmOpts {
            vw,
            mr,
            nr: nvec * vw,
            kc,
            mc,
            nc: 4096,
        }
    }

    pub fn key(&self) -> String {
        format!(
            "vw{}mr{}nr{}kc{}mc{}nc{}",
            self.vw, self.mr, self.nr, self.kc, self.mc, self.nc
        )
    }
}

impl fmt::Display for GemmOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MR={} NR={} VW={} KC={} MC={} NC={}",
            self.mr, self.nr, self.vw, self.kc, self.mc, self.nc
        )
    }
}

//! What a device executes: a CPU with a vector ISA and a thread count, or a GPU dialect with its
//! limits. Devices report their target; codegen plans for it and the engine picks the renderer
//! from it. A leaf: no imports above `flags`.

use std::fmt;

/// The vector instruction set a CPU kernel is rendered for.
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
    pub const ALL: [VectorIsa; 5] = [
        VectorIsa::Avx512,
        VectorIsa::Avx2Fma,
        VectorIsa::Sse2,
        VectorIsa::Neon,
        VectorIsa::Portable,
    ];

    /// The best ISA of the running CPU.
    pub fn detect() -> VectorIsa {
        #[cfg(target_arch = "x86_64")]
        {
            [VectorIsa::Avx512, VectorIsa::Avx2Fma]
                .into_iter()
                .find(|isa| isa.runs_here())
                .unwrap_or(VectorIsa::Sse2)
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

    /// Whether the running CPU can execute code built for this ISA (every ISA it supports, not
    /// only the best: tests run the AVX2 and SSE2 kernels on an AVX-512 host).
    pub fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                VectorIsa::Avx512 => {
                    std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("f16c")
                }
                VectorIsa::Avx2Fma => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                        && std::arch::is_x86_feature_detected!("f16c")
                }
                VectorIsa::Sse2 | VectorIsa::Portable => true,
                VectorIsa::Neon => false,
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            matches!(self, VectorIsa::Neon | VectorIsa::Portable)
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            self == VectorIsa::Portable
        }
    }

    /// Whether code for this ISA has fused multiply-add: kernels compiled with `-ffp-contract=fast`
    /// then round `a*b + c` once instead of twice, so the same source computes different bits with
    /// and without it.
    pub fn has_fma(self) -> bool {
        matches!(
            self,
            VectorIsa::Avx512 | VectorIsa::Avx2Fma | VectorIsa::Neon
        )
    }

    /// Whether the running CPU has fused multiply-add (what `-march=native` lets the C compiler
    /// use, whatever ISA a kernel is planned for).
    pub fn host_has_fma() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(target_arch = "aarch64")]
        {
            true
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            false
        }
    }

    /// The C compiler flags that target exactly this ISA on its architecture (what `runs_here`
    /// checks, and FMA exactly where `has_fma` says): code built with them runs on every CPU
    /// `runs_here` accepts (the table's kernels add `table_flags`). `-march=x86-64` first, so a
    /// toolchain whose default is a newer x86-64 level adds nothing the check does not see.
    pub fn compile_flags(self) -> &'static [&'static str] {
        match self {
            VectorIsa::Avx512 => &["-march=x86-64", "-mavx512f", "-mavx2", "-mfma", "-mf16c"],
            VectorIsa::Avx2Fma => &["-march=x86-64", "-mavx2", "-mfma", "-mf16c"],
            VectorIsa::Sse2 => &["-march=x86-64"],
            // NEON and FMA are part of the aarch64 baseline
            VectorIsa::Neon | VectorIsa::Portable => &[],
        }
    }

    /// Code-generation flags kernels for this ISA need whatever `-march` says. With
    /// `-march=native` on Intel CPUs with AVX-512, clang's tuning prefers 256-bit vectors and
    /// splits every 512-bit vector operation of a kernel into two 256-bit halves, which halves a
    /// GEMM's FMA rate on cores with two 512-bit FMA units.
    pub fn vector_flags(self) -> &'static [&'static str] {
        match self {
            VectorIsa::Avx512 => &["-mprefer-vector-width=512"],
            _ => &[],
        }
    }

    /// Flags the kernels built ahead of time add to `compile_flags`: PREFETCHW on x86-64's FMA
    /// ISAs, so a GEMM's prefetch of C's lines before its stores (`__builtin_prefetch(p, 1)`)
    /// takes each line exclusive. Without it the compiler emits PREFETCHT0, the line arrives
    /// shared, and every store still waits for ownership (docs/aot.md has the measurement). A
    /// run-time compile gets it from `-march=native` wherever the host has it.
    /// Not part of `compile_flags`, because `runs_here` must keep accepting AVX2 hosts without it
    /// (Intel's Haswell): the table's kernels are usable only where `table_flags_run_here`.
    pub fn table_flags(self) -> &'static [&'static str] {
        match self {
            VectorIsa::Avx512 | VectorIsa::Avx2Fma => &["-mprfchw"],
            VectorIsa::Sse2 | VectorIsa::Neon | VectorIsa::Portable => &[],
        }
    }

    /// Whether the running CPU executes what `table_flags` adds for this ISA.
    pub fn table_flags_run_here(self) -> bool {
        self.table_flags().is_empty() || host_has_prefetchw()
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

    pub fn from_name(name: &str) -> Option<VectorIsa> {
        VectorIsa::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// A CPU: the ISA kernels are built for, the threads they run on, the L1 data cache the plan's
/// heuristic reads operands through, and the vendor whose cores the heuristic's register tile is
/// tuned for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpuTarget {
    pub isa: VectorIsa,
    pub threads: usize,
    pub l1d: L1d,
    pub vendor: CpuVendor,
}

impl CpuTarget {
    /// A target with the classic L1 (`L1d::CLASSIC`) and no known vendor: what plans assume of a
    /// CPU not measured.
    pub fn new(isa: VectorIsa, threads: usize) -> CpuTarget {
        CpuTarget {
            isa,
            threads,
            l1d: L1d::CLASSIC,
            vendor: CpuVendor::Other,
        }
    }

    pub fn host() -> CpuTarget {
        CpuTarget {
            isa: VectorIsa::detect(),
            threads: crate::flags::threads(),
            l1d: L1d::detect(),
            vendor: CpuVendor::detect(),
        }
    }
}

/// Who designed the CPU's cores, as CPUID's vendor string says: register tiles run at different
/// speeds on different vendors' cores with the same ISA, so the GEMM heuristic prefers a tile per
/// vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuVendor {
    Intel,
    Amd,
    /// Any other vendor, an architecture without CPUID, or a CPU not measured.
    Other,
}

/// Whether the running CPU has PREFETCHW (CPUID 8000_0001h, ECX bit 8: every AMD64 CPU, and
/// Intel's since Broadwell).
pub fn host_has_prefetchw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // the extended leaves exist on every x86-64 CPU; leaf 8000_0000h gives the highest one
        #[allow(unused_unsafe)]
        let top = unsafe { std::arch::x86_64::__cpuid(0x8000_0000) }.eax;
        #[allow(unused_unsafe)]
        let ecx = unsafe { std::arch::x86_64::__cpuid(0x8000_0001) }.ecx;
        top >= 0x8000_0001 && ecx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl CpuVendor {
    pub const ALL: [CpuVendor; 3] = [CpuVendor::Intel, CpuVendor::Amd, CpuVendor::Other];

    /// The running CPU's vendor (CPUID leaf 0 on x86-64; `Other` elsewhere).
    pub fn detect() -> CpuVendor {
        #[cfg(target_arch = "x86_64")]
        {
            // CPUID leaf 0 exists on every x86-64 CPU; it returns the vendor in EBX, EDX, ECX
            #[allow(unused_unsafe)]
            let r = unsafe { std::arch::x86_64::__cpuid(0) };
            let mut id = [0u8; 12];
            id[..4].copy_from_slice(&r.ebx.to_le_bytes());
            id[4..8].copy_from_slice(&r.edx.to_le_bytes());
            id[8..].copy_from_slice(&r.ecx.to_le_bytes());
            CpuVendor::from_cpuid(&id)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CpuVendor::Other
        }
    }

    /// The vendor a 12-byte CPUID vendor string names.
    pub fn from_cpuid(id: &[u8]) -> CpuVendor {
        match id {
            b"GenuineIntel" => CpuVendor::Intel,
            b"AuthenticAMD" => CpuVendor::Amd,
            _ => CpuVendor::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CpuVendor::Intel => "intel",
            CpuVendor::Amd => "amd",
            CpuVendor::Other => "other",
        }
    }
}

/// The geometry of an L1 data cache with 64-byte lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct L1d {
    pub sets: usize,
    pub ways: usize,
}

impl L1d {
    /// 32 KiB, 8 ways: Zen 1-4 and Intel cores before Ice Lake; assumed where the host does not say.
    pub const CLASSIC: L1d = L1d { sets: 64, ways: 8 };

    /// The host's L1 data cache as Linux describes it (`/sys/devices/system/cpu/cpu0/cache`),
    /// `CLASSIC` where that is missing or unreadable.
    pub fn detect() -> L1d {
        static HOST: std::sync::OnceLock<L1d> = std::sync::OnceLock::new();
        *HOST.get_or_init(|| {
            let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
            (0..8)
                .find_map(|i| {
                    let read = |f: &str| std::fs::read_to_string(dir.join(format!("index{i}/{f}")));
                    L1d::from_sysfs(
                        &read("level").ok()?,
                        &read("type").ok()?,
                        &read("number_of_sets").ok()?,
                        &read("ways_of_associativity").ok()?,
                        &read("coherency_line_size").ok()?,
                    )
                })
                .unwrap_or(L1d::CLASSIC)
        })
    }

    /// One sysfs cache entry (`level`, `type`, `number_of_sets`, `ways_of_associativity`,
    /// `coherency_line_size`) as an L1d, if it is a level-1 data cache with 64-byte lines.
    pub fn from_sysfs(level: &str, kind: &str, sets: &str, ways: &str, line: &str) -> Option<L1d> {
        let num = |s: &str| s.trim().parse::<usize>().ok().filter(|&v| v > 0);
        if level.trim() != "1" || kind.trim() != "Data" || num(line)? != 64 {
            return None;
        }
        Some(L1d {
            sets: num(sets)?,
            ways: num(ways)?,
        })
    }
}

/// The source language a GPU target takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GpuDialect {
    Cuda,
    Metal,
}

impl GpuDialect {
    pub fn name(self) -> &'static str {
        match self {
            GpuDialect::Cuda => "cuda",
            GpuDialect::Metal => "metal",
        }
    }
}

/// A GPU: its dialect and the limits plans must respect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GpuTarget {
    pub dialect: GpuDialect,
    /// `sm_90` for CUDA, `apple` for Metal.
    pub arch: String,
    /// Threads in a block (threadgroup).
    pub max_threads: u32,
    /// Shared (threadgroup) memory a block may use, in bytes.
    pub max_shared_bytes: u32,
    /// Lanes of a warp (simdgroup).
    pub warp: u32,
    /// Half-precision matrix instructions (mma.sync on sm_80+, simdgroup_matrix on Apple GPUs).
    pub matrix_units: bool,
}

impl GpuTarget {
    /// An NVIDIA GPU of compute capability `major.minor` (227 KiB of shared memory per block on
    /// sm_80/sm_90 with the opt-in attribute, 48 KiB on older ones).
    pub fn cuda(major: i32, minor: i32) -> GpuTarget {
        GpuTarget {
            dialect: GpuDialect::Cuda,
            arch: format!("sm_{major}{minor}"),
            max_threads: 1024,
            max_shared_bytes: if major >= 8 { 227 * 1024 } else { 48 * 1024 },
            warp: 32,
            matrix_units: major >= 8,
        }
    }

    /// An Apple GPU (32 KiB of threadgroup memory, 1024 threads, simdgroups of 32).
    pub fn metal() -> GpuTarget {
        GpuTarget {
            dialect: GpuDialect::Metal,
            arch: "apple".into(),
            max_threads: 1024,
            max_shared_bytes: 32 * 1024,
            warp: 32,
            matrix_units: true,
        }
    }
}

/// What a device executes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Cpu(CpuTarget),
    Gpu(GpuTarget),
}

impl Target {
    /// The vector ISA of a CPU target (Portable for a GPU).
    pub fn cpu_isa(&self) -> VectorIsa {
        match self {
            Target::Cpu(c) => c.isa,
            Target::Gpu(_) => VectorIsa::Portable,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cpu(c) => write!(f, "cpu/{}/{}t", c.isa.name(), c.threads),
            Target::Gpu(g) => write!(f, "{}/{}", g.dialect.name(), g.arch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendor string assembled from CPUID's registers (EBX, EDX, ECX) is the one Linux
    /// reports, and the x86-64 hosts the tests run on are Intel's or AMD's, so a wrong register
    /// order (which reads as `Other`) cannot pass.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn the_detected_vendor_is_the_one_linux_reports() {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let id = info
            .lines()
            .find(|l| l.starts_with("vendor_id"))
            .and_then(|l| l.split(':').nth(1))
            .map(str::trim)
            .expect("a vendor_id line");
        assert_eq!(CpuVendor::detect(), CpuVendor::from_cpuid(id.as_bytes()));
        assert_ne!(CpuVendor::detect(), CpuVendor::Other, "vendor_id {id}");
    }

    /// PREFETCHW as CPUID reports it is what Linux reports (its name for the bit is
    /// `3dnowprefetch`), and the table's kernels of the FMA ISAs are usable only where it is.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn prefetchw_is_detected_as_linux_reports_it() {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let flags = info
            .lines()
            .find(|l| l.starts_with("flags"))
            .expect("a flags line");
        let linux = flags.split_whitespace().any(|f| f == "3dnowprefetch");
        assert_eq!(host_has_prefetchw(), linux, "{flags}");
        for isa in [VectorIsa::Avx512, VectorIsa::Avx2Fma] {
            assert_eq!(isa.table_flags_run_here(), linux, "{isa:?}");
        }
    }
}

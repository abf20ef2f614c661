//! One typed error enum for the whole core. The binding crate maps each variant to a specific
//! Python exception class; nothing here knows about Python.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Operand shapes that do not fit together (matmul, broadcasting, reshape).
    Shape(String),
    /// A dtype the operation does not support.
    DType(String),
    /// A bad argument that is not a shape or dtype problem (negative dim, bad axis, ...).
    InvalidArgument(String),
    /// An allocation the machine cannot satisfy.
    OutOfMemory { bytes: usize },
    /// No working C compiler was found.
    CompilerMissing { compiler: String, detail: String },
    /// The C compiler rejected a rendered kernel; the source is kept at `source_path`.
    CompileFailed {
        compiler: String,
        log: String,
        source_path: String,
    },
    /// Loading or running a compiled program failed.
    Runtime(String),
    /// A file-system problem (cache directory, temp files).
    Io(String),
    /// Inside tinygrad's API but outside the subset tgrad implements.
    Unsupported(String),
    /// A gradient that cannot be taken (of an int tensor, with a seed of the wrong shape).
    Gradient(String),
    /// A broken internal invariant (an IR verifier, a launch check, a caught panic): a bug in
    /// tgrad, reported instead of computing something wrong.
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(m) | Error::DType(m) | Error::InvalidArgument(m) | Error::Runtime(m) | Error::Io(m) | Error::Gradient(m) => {
                f.write_str(m)
            }
            Error::Unsupported(m) => write!(f, "{m} (outside the subset of tinygrad that tgrad implements)"),
            Error::Internal(m) => write!(f, "internal error (a bug in tgrad; please report it): {m}"),
            Error::OutOfMemory { bytes } => {
                write!(f, "cannot allocate {bytes} bytes ({:.2} GiB) for a tensor buffer", *bytes as f64 / (1u64 << 30) as f64)
            }
            Error::CompilerMissing { compiler, detail } => write!(
                f,
                "no working C compiler: '{compiler}' {detail}. tgrad's CPU backend compiles every kernel other than its \
                 built-in GEMMs at run time: install clang (Debian/Ubuntu: apt-get install -y clang) or point TGRAD_CC at a C compiler"
            ),
            Error::CompileFailed { compiler, log, source_path } => {
                write!(f, "'{compiler}' failed to compile a kernel (source kept at {source_path}):\n{log}")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// Return early with an error built from a variant and a format string.
#[macro_export]
macro_rules! bail {
    ($variant:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$variant(format!($($arg)*)))
    };
}

/// Check a condition, else return the error `bail!` would build.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $variant:ident, $($arg:tt)*) => {
        if !($cond) {
            $crate::bail!($variant, $($arg)*);
        }
    };
}

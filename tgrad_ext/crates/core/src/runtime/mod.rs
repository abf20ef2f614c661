//! Buffers, the C compiler with its disk cache, the thread pool, and program launch.
pub mod buffer;
pub mod compiler;
pub mod cpu;
pub mod cuda;
pub mod pool;
pub mod resident;

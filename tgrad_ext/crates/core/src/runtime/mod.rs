//! Devices and what they run on: buffers (host and device placement), the one kernel cache, the
//! `Device` trait with its CPU and CUDA implementations, and the CPU worker pool. The runtime
//! knows nothing of the pipeline stages above it (graph, scheduler, codegen, renderers).
pub mod buffer;
pub mod cache;
pub mod cpu;
pub mod cuda;
pub mod device;
pub mod emu;
pub mod pool;

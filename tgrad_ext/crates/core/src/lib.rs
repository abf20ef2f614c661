//! tgrad-core: tinygrad's matmul pipeline as typed Rust.
//!
//! lazy graph (`graph`, `tensor`, `autograd`, and tinygrad's composite ops in `ops`) -> scheduler (`schedule`) -> kernel AST (`kernel`) -> plans for
//! a target (`codegen`: contractions, CPU and GPU GEMM plans, micro-ops, verifiers, search) ->
//! source (`render`: C, CUDA, Metal) -> devices (`runtime`: buffers, the kernel cache, CPU and
//! CUDA), driven by `engine` (one realize pipeline over any device). `abi` (the kernel ABI) and
//! `target` are leaves every stage may use. This crate knows nothing of Python.

pub mod abi;
pub mod autograd;
pub mod certify;
pub mod codegen;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod flags;
pub mod fxhash;
pub mod graph;
pub mod kernel;
pub mod ops;
pub mod render;
pub mod rng;
pub mod runtime;
pub mod schedule;
pub mod shape;
pub mod target;
pub mod tensor;

pub use dtype::DType;
pub use error::{Error, Result};

pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

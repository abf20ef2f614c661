//! tgrad-core: tinygrad's matmul pipeline as typed Rust.
//!
//! lazy graph (`graph`, `tensor`) -> scheduler (`schedule`) -> kernel AST (`kernel`) ->
//! optimisation and micro-ops (`codegen`) -> renderer (`render`) -> compiler and runtime
//! (`runtime`), driven by `engine`. This crate knows nothing of Python.

pub mod beam;
pub mod codegen;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod flags;
pub mod fxhash;
pub mod graph;
pub mod kernel;
pub mod render;
pub mod rng;
pub mod runtime;
pub mod schedule;
pub mod shape;
pub mod tensor;

pub use dtype::DType;
pub use error::{Error, Result};

pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

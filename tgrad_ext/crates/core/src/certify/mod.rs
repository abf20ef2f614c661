//! Kernel certificates: proof obligations (SMT-LIB2) that the CPU GEMM template and the loop
//! skeleton index only inside their operands' boxes and workspace regions, that the scratch
//! covers the regions, that thread work items are disjoint and cover the output, and that no
//! index arithmetic overflows 64 bits or divides where C and SMT disagree, for every run-time
//! size the preconditions allow and every configuration of the family (`config`).
//!
//! - `expr`: the C integer expressions of the model; `model`: the template model language and
//!   `gemm.model`, the template in it; `walk`: the model's paths to obligations; `smt`: the
//!   scripts; `config`: configurations read from rendered headers; `bind`: the checks that tie
//!   the model to the rendered source (tags, snippets, constants).
//!
//! `tools/certify.py` proves the scripts with z3 and writes the certificates (`certificates/`).

pub mod bind;
pub mod cert;
pub mod config;
pub mod expr;
pub mod fp;
pub mod loops;
pub mod model;
pub mod smt;
pub mod walk;

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// The CPU GEMM template's model (the static sources' functions, then vector.c and the
/// generated microkernels).
pub const GEMM_MODEL: &str = concat!(
    include_str!("gemm.model"),
    include_str!("gemm_kernels.model")
);

/// The GEMM template's model, parsed.
pub fn gemm_model() -> Result<model::Model> {
    model::parse(GEMM_MODEL).map_err(|e| Error::Internal(format!("gemm.model: {e}")))
}

/// The obligations of the GEMM template (before projection onto configurations), and the model's
/// sites (what the rendered source must show).
pub fn gemm_walk() -> Result<walk::Walker<'static>> {
    static MODEL: std::sync::OnceLock<model::Model> = std::sync::OnceLock::new();
    let m = if let Some(m) = MODEL.get() {
        m
    } else {
        let parsed = gemm_model()?;
        MODEL.get_or_init(|| parsed)
    };
    let consts = config::constants()?.into_iter().collect();
    let symbols: BTreeSet<String> = config::SYMBOLS.iter().map(|s| (*s).to_string()).collect();
    let mut w = walk::Walker::new(m, consts, symbols);
    w.run()
        .map_err(|e| Error::Internal(format!("gemm.model: {e}")))?;
    Ok(w)
}

/// The GEMM template's obligations as scripts over `family`, deduplicated by text.
pub fn gemm_scripts(family: &BTreeSet<config::Config>) -> Result<Vec<smt::Script>> {
    let w = gemm_walk()?;
    let axioms = config::axioms(family)?;
    let mut memo = smt::Projections::new();
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    for ob in &w.obligations {
        if let Some(s) = smt::script(ob, &axioms, family, &mut memo) {
            if seen.insert(s.text.clone()) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// The loop skeleton's obligations as scripts (no configuration symbols).
pub fn loop_scripts() -> Vec<smt::Script> {
    let family = BTreeSet::from([config::Config::new()]);
    let mut memo = smt::Projections::new();
    loops::obligations()
        .iter()
        .filter_map(|ob| smt::script(ob, &[], &family, &mut memo))
        .collect()
}

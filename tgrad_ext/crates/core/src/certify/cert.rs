//! Certificates: committed files (`certificates/<name>.cert`, beside the obligations in
//! `<name>.smt2`) that record what was proven of which template source: the sources' hash, the
//! configurations covered, the preconditions and axioms assumed, the FP contract, the solver and
//! one verdict per obligation. The core writes the header (`meta`); `tools/certify.py` proves
//! and appends the rest. A program is certified when its template's certificate is fresh (same
//! source hash), every obligation is proven, its configuration is in the family, and its
//! run-time parameters satisfy the preconditions (`status`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::config::{self, Config};
use super::expr::Expr;
use crate::abi::GemmParams;
use crate::codegen::{GemmSchedule, Program, Strategy};
use crate::runtime::cache::sha256_hex;

/// The committed certificates, as built into this binary.
pub const GEMM_CERT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../certificates/cpu_gemm.cert"
));
pub const LOOPS_CERT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../certificates/cpu_loops.cert"
));

/// The sources a template's behaviour depends on, hashed together.
fn hash(parts: &[&str]) -> String {
    let mut all = String::new();
    for p in parts {
        let _ = write!(all, "{}\0{p}\0", p.len());
    }
    sha256_hex(all.as_bytes())
}

/// The CPU GEMM template: its generator, its static sources and its model.
pub fn gemm_template_hash() -> String {
    use crate::render::c::{BLIS_C, PACK_C, SYNC_C, VECTOR_C};
    hash(&[
        include_str!("../render/c_gemm.rs"),
        SYNC_C,
        PACK_C,
        VECTOR_C,
        BLIS_C,
        super::GEMM_MODEL,
    ])
}

/// The loop skeleton: its renderer and its obligations' generator.
pub fn loops_template_hash() -> String {
    hash(&[include_str!("../render/loops.rs"), include_str!("loops.rs")])
}

/// Values of a family row: `a..b`, `a,b,c` or `a`.
fn values(v: &BTreeSet<i64>) -> String {
    let (lo, hi) = (*v.first().unwrap_or(&0), *v.last().unwrap_or(&0));
    if v.len() > 2 && (hi - lo + 1) as usize == v.len() {
        format!("{lo}..{hi}")
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn parse_values(s: &str) -> Option<BTreeSet<i64>> {
    if let Some((a, b)) = s.split_once("..") {
        return Some((a.parse().ok()?..=b.parse().ok()?).collect());
    }
    s.split(',').map(|x| x.parse().ok()).collect()
}

/// The family as rows of `field=values`, one product each.
pub fn family_lines(family: &BTreeSet<Config>) -> Vec<String> {
    let fields: Vec<String> = family
        .first()
        .map(|c| {
            c.keys()
                .filter(|k| !config::DERIVED.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let tuples: BTreeSet<Vec<i64>> = family
        .iter()
        .map(|c| fields.iter().map(|f| c[f]).collect())
        .collect();
    super::smt::compress(&tuples, &[])
        .iter()
        .map(|row| {
            fields
                .iter()
                .zip(row)
                .map(|(f, v)| format!("{f}={}", values(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The certificate header the core writes for the GEMM template.
pub fn gemm_meta(family: &BTreeSet<Config>, fp: &str) -> crate::error::Result<String> {
    let model = super::gemm_model()?;
    let mut s = String::from("# TGrad kernel certificate: the CPU GEMM template (render/c_gemm.rs, render/c/*.c) as certify/gemm.model models it\n");
    let _ = writeln!(
        s,
        "schema 1\ncertificate cpu_gemm\ntemplate-sha256 {}",
        gemm_template_hash()
    );
    let _ = writeln!(s, "configurations {}", family.len());
    for l in family_lines(family) {
        let _ = writeln!(s, "family {l}");
    }
    for (k, v) in config::constants()? {
        let _ = writeln!(s, "constant {k}={v}");
    }
    for p in &model.pre {
        let _ = writeln!(s, "precondition {}", p.c());
    }
    for a in config::AXIOMS {
        let _ = writeln!(s, "axiom {a}");
    }
    let _ = writeln!(s, "fp-contract {fp}");
    Ok(s)
}

/// The certificate header of the loop skeleton.
pub fn loops_meta() -> String {
    let mut s = String::from("# TGrad kernel certificate: the CPU loop skeleton (render/loops.rs) as certify/loops.rs states it\n");
    let _ = writeln!(
        s,
        "schema 1\ncertificate cpu_loops\ntemplate-sha256 {}",
        loops_template_hash()
    );
    let _ = writeln!(
        s,
        "configurations {}",
        (super::loops::MAX_RANK + 1) * (super::loops::MAX_RANK + 2) / 2
    );
    let _ = writeln!(s, "family kept+reduced ranks <= {}", super::loops::MAX_RANK);
    for p in super::loops::PRE {
        let _ = writeln!(s, "precondition {p}");
    }
    s.push_str("fp-contract a reduction sums its elements in order (one rounding per element after the first)\n");
    s
}

/// What a certificate file says, as far as a launch needs it.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub name: String,
    pub template: String,
    pub proved: usize,
    pub obligations: usize,
    pub solver: String,
    pub family: Vec<Vec<(String, BTreeSet<i64>)>>,
}

impl Certificate {
    pub fn parse(text: &str) -> Certificate {
        let mut c = Certificate {
            name: String::new(),
            template: String::new(),
            proved: 0,
            obligations: 0,
            solver: String::new(),
            family: vec![],
        };
        for line in text.lines() {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            match k {
                "certificate" => v.clone_into(&mut c.name),
                "template-sha256" => v.clone_into(&mut c.template),
                "solver" => v.clone_into(&mut c.solver),
                "proved" => {
                    let (a, b) = v
                        .split_whitespace()
                        .next()
                        .unwrap_or("0/1")
                        .split_once('/')
                        .unwrap_or(("0", "1"));
                    c.proved = a.parse().unwrap_or(0);
                    c.obligations = b.parse().unwrap_or(usize::MAX);
                }
                "family" => {
                    let row = v.split_whitespace().filter_map(|f| {
                        let (n, vals) = f.split_once('=')?;
                        Some((n.to_string(), parse_values(vals)?))
                    });
                    c.family.push(row.collect());
                }
                _ => {}
            }
        }
        c
    }

    /// Why it certifies nothing (stale, unproven), if it does not.
    pub fn problem(&self, template: &str) -> Option<String> {
        if self.template != template {
            return Some(format!(
                "certificates/{}.cert is stale (the template changed; run `make certify`)",
                self.name
            ));
        }
        if self.obligations == 0 || self.proved != self.obligations {
            return Some(format!(
                "certificates/{}.cert proves {}/{} obligations",
                self.name, self.proved, self.obligations
            ));
        }
        None
    }

    /// Whether a configuration is in the family.
    pub fn covers(&self, c: &Config) -> bool {
        self.family.iter().any(|row| {
            row.iter()
                .all(|(f, vs)| c.get(f).is_some_and(|v| vs.contains(v)))
        })
    }
}

/// A program's certificate status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Covered: the certificate and what it proves.
    Certified(String),
    /// Not covered, and why.
    Uncertified(String),
}

fn pre_holds(pre: &[Expr], env: &dyn Fn(&str) -> Option<i128>) -> Result<(), String> {
    for p in pre {
        if p.eval(env) != Some(1) {
            return Err(format!("its parameters break the precondition {}", p.c()));
        }
    }
    Ok(())
}

/// The certificate status of a planned program.
pub fn status(p: &Program) -> Status {
    let why = match &p.strategy {
        Strategy::Gemm(g) => match &g.schedule {
            GemmSchedule::Cpu(cpu) => gemm_status(p, cpu.threads),
            GemmSchedule::Gpu(_) => Err("GPU kernels have no certificates".into()),
        },
        Strategy::Loops(l) => loops_status(p, l.threads),
    };
    match why {
        Ok(s) => Status::Certified(s),
        Err(w) => Status::Uncertified(w),
    }
}

fn gemm_status(p: &Program, threads: usize) -> Result<String, String> {
    let cert = Certificate::parse(GEMM_CERT);
    if let Some(w) = cert.problem(&gemm_template_hash()) {
        return Err(w);
    }
    let c = config::of_program(p).ok_or("no CPU GEMM header")?;
    if !cert.covers(&c) {
        return Err(format!(
            "its configuration is outside the certified family: {c:?}"
        ));
    }
    let model = super::gemm_model().map_err(|e| e.to_string())?;
    let crate::abi::ParamsShape::Gemm { operands, consts } = p.params_shape() else {
        return Err("not a GEMM's parameters".into());
    };
    let params =
        GemmParams::from_words(&p.params, operands, consts).ok_or("unreadable parameters")?;
    let h = params.header;
    let env = |n: &str| -> Option<i128> {
        let v = match n {
            "P->m" => h.m,
            "P->n" => h.n,
            "P->k" => h.k,
            "P->batch" => h.batch,
            "P->mchunks" => h.mchunks,
            "P->nchunks" => h.nchunks,
            "P->kc" => h.kc,
            "P->mc" => h.mc,
            "P->nc" => h.nc,
            "P->packing" => h.packing,
            "P->parallel" => h.parallel,
            "nth" => threads as i64,
            "tid" => 0,
            _ => {
                if let Some(d) = n
                    .strip_prefix("P->batch_dims[")
                    .and_then(|d| d.strip_suffix(']'))
                {
                    *h.batch_dims.get(d.parse::<usize>().ok()?)?
                } else if let Some(v) = c.get(n) {
                    *v
                } else {
                    config::constants().ok()?.get(n).copied()?
                }
            }
        };
        Some(i128::from(v))
    };
    pre_holds(&model.pre, &env)?;
    Ok(format!(
        "certified by certificates/cpu_gemm.cert ({} obligations, {})",
        cert.proved, cert.solver
    ))
}

fn loops_status(p: &Program, threads: usize) -> Result<String, String> {
    let cert = Certificate::parse(LOOPS_CERT);
    if let Some(w) = cert.problem(&loops_template_hash()) {
        return Err(w);
    }
    let k = &p.kernel;
    if k.full_shape.len() > super::loops::MAX_RANK {
        return Err(format!(
            "rank {} is above the certified {}",
            k.full_shape.len(),
            super::loops::MAX_RANK
        ));
    }
    let outs: i128 = (0..k.full_shape.len())
        .filter(|d| !k.reduce_axes.contains(d))
        .map(|d| k.full_shape[d] as i128)
        .product();
    let env = |n: &str| match n {
        "nth" => Some(threads as i128),
        "tid" => Some(0),
        "tg_outs" => Some(outs),
        _ => None,
    };
    let pre: Vec<Expr> = super::loops::PRE
        .iter()
        .filter_map(|s| super::expr::parse(s).ok())
        .collect();
    pre_holds(&pre, &env)?;
    Ok(format!(
        "certified by certificates/cpu_loops.cert ({} obligations, {})",
        cert.proved, cert.solver
    ))
}

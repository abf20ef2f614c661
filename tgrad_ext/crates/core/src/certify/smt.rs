//! Obligations as SMT-LIB2 scripts. Each obligation keeps only the facts connected to its
//! goals (through the walk's symbols), and quantifies over exactly the configurations of the
//! family in which it is compiled, projected onto the configuration symbols it mentions and
//! written as a few products of ranges (`(and (<= 1 MR) (<= MR 16) (= VW 8))`). The script runs
//! as is (`z3 FILE` prints `unsat` once per goal); `; @` comments mark its parts for
//! `tools/certify.py`, which can also prove the cases one by one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use super::config::Config;
use super::expr::{smt_name, Expr};
use super::walk::Obligation;

/// One field's values as an SMT condition on `x`.
fn values(x: &str, v: &BTreeSet<i64>) -> String {
    let (lo, hi) = (*v.first().unwrap_or(&0), *v.last().unwrap_or(&0));
    let lit = |n: i64| {
        if n < 0 {
            format!("(- {})", -n)
        } else {
            n.to_string()
        }
    };
    if v.len() == 1 {
        format!("(= {x} {})", lit(lo))
    } else if v.len() > 2 && (hi - lo + 1) as usize == v.len() {
        format!("(and (<= {} {x}) (<= {x} {}))", lit(lo), lit(hi))
    } else {
        let eqs: Vec<String> = v.iter().map(|n| format!("(= {x} {})", lit(*n))).collect();
        format!("(or {})", eqs.join(" "))
    }
}

/// `tuples` as a union of products: rows that differ in one field only merge (field by field,
/// twice over; fields in `keep` never), so a family that is a product of ranges comes out as that
/// one product.
pub fn compress(tuples: &BTreeSet<Vec<i64>>, keep: &[usize]) -> Vec<Vec<BTreeSet<i64>>> {
    let mut rows: Vec<Vec<BTreeSet<i64>>> = tuples
        .iter()
        .map(|t| t.iter().map(|v| BTreeSet::from([*v])).collect())
        .collect();
    let width = rows.first().map_or(0, Vec::len);
    for _ in 0..2 {
        for f in (0..width).filter(|f| !keep.contains(f)) {
            let mut merged: BTreeMap<Vec<BTreeSet<i64>>, BTreeSet<i64>> = BTreeMap::new();
            for r in rows {
                let mut key = r.clone();
                let vals = std::mem::take(&mut key[f]);
                merged.entry(key).or_default().extend(vals);
            }
            rows = merged
                .into_iter()
                .map(|(mut k, v)| {
                    k[f] = v;
                    k
                })
                .collect();
        }
    }
    rows
}

/// The SMT cases of configurations `configs` on `fields` (one value each of the `keep` fields).
pub fn cases(fields: &[String], configs: &BTreeSet<Vec<i64>>, keep: &[&str]) -> Vec<String> {
    let keep: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| keep.contains(&f.as_str()))
        .map(|(i, _)| i)
        .collect();
    compress(configs, &keep)
        .iter()
        .map(|row| {
            let parts: Vec<String> = fields
                .iter()
                .zip(row)
                .map(|(f, v)| values(&smt_name(f), v))
                .collect();
            match parts.len() {
                0 => "true".to_string(),
                1 => parts[0].clone(),
                _ => format!("(and {})", parts.join(" ")),
            }
        })
        .collect()
}

/// The facts connected to the goals: a fact joins when it shares a walk symbol (not a
/// configuration symbol) with the goals or with a fact already in.
fn slice(ob: &Obligation, config: &BTreeSet<String>) -> Vec<Expr> {
    let own = |e: &Expr| -> BTreeSet<String> {
        e.symbols()
            .into_iter()
            .filter(|s| !config.contains(s))
            .collect()
    };
    let mut live: BTreeSet<String> = ob.goals.iter().flat_map(|(_, g)| own(g)).collect();
    let mut taken = vec![false; ob.facts.len()];
    loop {
        let mut grew = false;
        for (i, f) in ob.facts.iter().enumerate() {
            if !taken[i] {
                let s = own(f);
                if s.is_empty() || s.iter().any(|x| live.contains(x)) {
                    taken[i] = true;
                    live.extend(s);
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    ob.facts
        .iter()
        .zip(taken)
        .filter(|(_, t)| *t)
        .map(|(f, _)| f.clone())
        .collect()
}

/// An obligation ready to prove: its script and what the certificate records of it.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub kind: &'static str,
    pub text: String,
    pub goals: usize,
    pub cases: usize,
}

/// Projections already computed: (flags, fields) -> tuples.
pub type Projections = HashMap<(Vec<String>, Vec<String>), BTreeSet<Vec<i64>>>;

/// The script of `ob` over `family` (None: no configuration compiles it).
pub fn script(
    ob: &Obligation,
    axioms: &[Expr],
    family: &BTreeSet<Config>,
    memo: &mut Projections,
) -> Option<Script> {
    let config: BTreeSet<String> = family.first()?.keys().cloned().collect();
    let mut facts = slice(ob, &config);
    let mut used: BTreeSet<String> = BTreeSet::new();
    for e in facts
        .iter()
        .chain(ob.goals.iter().map(|(_, g)| g))
        .chain(&ob.flags)
    {
        used.extend(e.symbols());
    }
    // the family's axioms about the configuration symbols the obligation names
    for a in axioms {
        if a.symbols().iter().any(|s| used.contains(s)) {
            used.extend(a.symbols());
            facts.push(a.clone());
        }
    }
    // symbols an axiom defines from others (NR = NV * VW) are not projected: the axiom says them
    let fields: Vec<String> = used
        .iter()
        .filter(|s| config.contains(*s) && !super::config::DERIVED.contains(&s.as_str()))
        .cloned()
        .collect();
    let key = (
        ob.flags.iter().map(Expr::c).collect::<Vec<_>>(),
        fields.clone(),
    );
    let tuples = memo.entry(key).or_insert_with(|| {
        family
            .iter()
            .filter(|c| {
                ob.flags
                    .iter()
                    .all(|f| f.eval(&|n| c.get(n).map(|v| i128::from(*v))) == Some(1))
            })
            .map(|c| fields.iter().map(|f| c[f]).collect())
            .collect()
    });
    if tuples.is_empty() {
        return None;
    }
    // alignment is proven vector size by vector size: each case fixes VW and the element size;
    // a remainder by the tile width NR = NV * VW, tile width by tile width (a fixed divisor
    // keeps the goal linear)
    let by_width = ob.goals.iter().any(|(_, e)| e.c().contains("% NR)"));
    let split = by_width || ob.goals.iter().any(|(g, _)| g == "aligned");
    let keep: &[&str] = if by_width {
        &["VW", "NV", "sizeof(TG_ACC)"]
    } else if split {
        &["VW", "sizeof(TG_ACC)"]
    } else {
        &[]
    };
    let cases = cases(&fields, tuples, keep);
    let mut t = String::new();
    let _ = writeln!(t, "; @obligation {} | {}", ob.kind, ob.name);
    if split {
        t.push_str("; @split\n");
    }
    t.push_str("(push 1)\n");
    for s in &used {
        let _ = writeln!(t, "(declare-const {} Int)", smt_name(s));
    }
    for f in ob.flags.iter().chain(&facts) {
        let _ = writeln!(t, "(assert {})", f.smt_bool());
    }
    let _ = writeln!(t, "(assert (or {})) ; @config", cases.join(" "));
    for (name, g) in &ob.goals {
        let _ = writeln!(
            t,
            "; @goal {name}\n(push 1)\n(assert (not {}))\n(check-sat)\n(pop 1)",
            g.smt_bool()
        );
    }
    t.push_str("(pop 1)\n");
    Some(Script {
        name: ob.name.clone(),
        kind: ob.kind,
        text: t,
        goals: ob.goals.len(),
        cases: cases.len(),
    })
}

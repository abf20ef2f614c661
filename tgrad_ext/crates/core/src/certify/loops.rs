//! The loop skeleton (`render/loops.rs`, the CPU's `Outputs::Partition`) as proof obligations,
//! per rank of kept dims R (0..=MAX_RANK) and of reduced dims: thread t's outputs
//! `tg_outs * t / nth .. tg_outs * (t + 1) / nth` tile `0..tg_outs`; the unravelled start and the
//! odometer keep the kept indices the mixed-radix digits of the output's flat index, so every
//! index a load or the store uses lies in its dim (`0 <= i_d < n_d`); no value overflows.
//! Obligations name their dims 0..R-1 kept, R.. reduced; `snippets` gives the text a program of
//! any dim order must show for them.

use super::expr::{self, Expr};
use super::walk::Obligation;

/// The largest rank the loop certificate covers.
pub const MAX_RANK: usize = 6;

/// What a loop launch satisfies (`LoopPlan::threads`, launch checks under TGRAD_VERIFY >= 1).
pub const PRE: [&str; 3] = [
    "nth >= 1 && nth <= 1024",
    "tid >= 0 && tid < nth",
    "tg_outs <= 140737488355328",
];

fn p(s: &str) -> Expr {
    expr::parse(s).unwrap_or_else(|e| panic!("loops.rs: {e}"))
}

fn n(d: usize) -> String {
    format!("P->n[{d}]")
}

/// `P->n[0] * .. * P->n[r-1]` (1 for no dims).
fn outs(r: usize) -> String {
    if r == 0 {
        "1".into()
    } else {
        (0..r).map(n).collect::<Vec<_>>().join(" * ")
    }
}

/// The flat index of kept indices `i` (the last varies fastest).
fn flat(i: &[String]) -> String {
    let mut e = String::from("0");
    for (d, x) in i.iter().enumerate() {
        e = format!("({e}) * {} + {x}", n(d));
    }
    e
}

fn base(r: usize) -> Vec<Expr> {
    let mut f: Vec<Expr> = PRE.iter().map(|x| p(x)).collect();
    f.push(p(&format!("tg_outs == {}", outs(r))));
    f.extend((0..r).map(|d| p(&format!("{} >= 1", n(d)))));
    f
}

fn ob(name: String, facts: Vec<Expr>, goals: Vec<(&str, String)>) -> Obligation {
    Obligation {
        name,
        kind: "loops",
        facts,
        flags: vec![],
        goals: goals
            .into_iter()
            .map(|(g, e)| (g.to_string(), p(&e)))
            .collect(),
    }
}

/// The unravelled start: `i_{R-1} = lo % n_{R-1}; lo /= n_{R-1}; ..; i_0 = lo`, as definitions.
fn unravel(r: usize, lo: &str) -> (Vec<Expr>, Vec<String>) {
    let mut facts = vec![];
    let mut rest = lo.to_string();
    let mut i = vec![String::new(); r];
    for d in (0..r).rev() {
        i[d] = format!("u{d}");
        if d == 0 {
            facts.push(p(&format!("u0 == {rest}")));
        } else {
            facts.push(p(&format!("u{d} == ({rest}) % {}", n(d))));
            facts.push(p(&format!("q{d} == ({rest}) / {}", n(d))));
            rest = format!("q{d}");
        }
    }
    (facts, i)
}

/// The obligations of the loop skeleton: the partition once, and per rank pattern the start,
/// the odometer's step and the indices' bounds.
pub fn obligations() -> Vec<Obligation> {
    let lo = |t: &str| format!("tg_outs * ({t}) / nth");
    let mut facts: Vec<Expr> = PRE.iter().map(|x| p(x)).collect();
    facts.push(p("tg_outs >= 0"));
    let mut out = vec![ob(
        "loop partition".into(),
        facts,
        vec![
            ("first", format!("{} == 0", lo("0"))),
            ("last", format!("{} == tg_outs", lo("nth"))),
            (
                "ordered",
                format!(
                    "0 <= {} && {} <= {} && {} <= tg_outs",
                    lo("tid"),
                    lo("tid"),
                    lo("tid + 1"),
                    lo("tid + 1")
                ),
            ),
            ("int64", "tg_outs * (tid + 1) <= 9223372036854775807".into()),
        ],
    )];
    for r in 1..=MAX_RANK {
        let i: Vec<String> = (0..r).map(|d| format!("i{d}")).collect();
        let inv = |i: &[String], o: &str| {
            let mut g = format!("{} == {o} && {} >= 0", flat(i), i[0]);
            for (d, x) in i.iter().enumerate().skip(1) {
                g = format!("{g} && 0 <= {x} && {x} < {}", n(d));
            }
            g
        };
        // the start: the unravelled tg_lo is its digits
        let (mut f, u) = unravel(r, "tg_lo");
        f.extend(base(r));
        f.push(p(&format!("tg_lo == {}", lo("tid"))));
        f.extend(["0 <= tg_lo", "tg_lo <= tg_outs"].map(p));
        let divs: Vec<String> = f
            .iter()
            .flat_map(Expr::divisions)
            .map(|(a, b)| format!("0 <= {} && 0 < {}", a.c(), b.c()))
            .collect();
        let mut goals = vec![("digits", inv(&u, "tg_lo"))];
        goals.extend(divs.into_iter().map(|d| ("div", d)));
        out.push(ob(format!("loop start R={r}"), f, goals));
        // the odometer: digits of o become the digits of o + 1
        let mut f = base(r);
        f.push(p(&inv(&i, "o")));
        f.push(p("o + 1 < tg_outs"));
        for last in (0..r).rev() {
            // the step that carries through dims last+1.. and increments `last`
            let mut g = f.clone();
            for d in last + 1..r {
                g.push(p(&format!("i{d} + 1 == {}", n(d))));
            }
            if last > 0 {
                g.push(p(&format!("i{last} + 1 != {}", n(last))));
            }
            let next: Vec<String> = (0..r)
                .map(|d| match d.cmp(&last) {
                    std::cmp::Ordering::Less => format!("i{d}"),
                    std::cmp::Ordering::Equal => format!("(i{d} + 1)"),
                    std::cmp::Ordering::Greater => "0".into(),
                })
                .collect();
            out.push(ob(
                format!("loop step R={r} carry to {last}"),
                g,
                vec![("digits", inv(&next, "o + 1"))],
            ));
        }
        // uses: every index of a kept or reduced dim lies in its dim
        for q in 0..=MAX_RANK - r {
            let mut f = base(r);
            f.push(p(&inv(&i, "o")));
            f.extend(["0 <= o", "o < tg_outs"].map(p));
            let mut goal = String::from("1");
            for d in 0..r {
                goal = format!("{goal} && 0 <= i{d} && i{d} < {}", n(d));
            }
            for d in r..r + q {
                f.push(p(&format!("0 <= i{d} && i{d} < {}", n(d))));
                goal = format!("{goal} && 0 <= i{d} && i{d} < {}", n(d));
            }
            out.push(ob(
                format!("loop indices R={r} reduced={q}"),
                f,
                vec![("box", goal)],
            ));
        }
    }
    out
}

/// The text a loop program whose kept dims are `kept` (in order) must show: the thread's range,
/// the unravelled start and the odometer.
pub fn snippets(kept: &[usize]) -> Vec<String> {
    let nn = |d: usize| format!("P->n[{d}]");
    let mut s = vec!["tg_lo = tg_outs * tid / nth, tg_hi = tg_outs * (tid + 1) / nth".to_string()];
    let prod = if kept.is_empty() {
        "1".into()
    } else {
        kept.iter().map(|d| nn(*d)).collect::<Vec<_>>().join(" * ")
    };
    s.push(format!("tg_outs = {prod};"));
    s.push("for (int64_t tg_o = tg_lo; tg_o < tg_hi; tg_o++) {".into());
    match kept {
        [] => {}
        [d] => s.push(format!("i{d} = tg_lo;")),
        [first, rest @ ..] => {
            let r = format!("tg_r{first}");
            s.push(format!("{r} = tg_lo;"));
            for d in rest.iter().rev() {
                s.push(format!("i{d} = {r} % {}; {r} /= {};", nn(*d), nn(*d)));
            }
            s.push(format!("i{first} = {r};"));
            for d in rest.iter().rev() {
                s.push(format!("if (++i{d} == {}) {{ i{d} = 0;", nn(*d)));
            }
            s.push(format!("i{first}++;"));
        }
    }
    if kept.len() == 1 {
        s.push(format!("i{}++;", kept[0]));
    }
    s
}

//! From the template model to proof obligations: a walk over every call path from the root,
//! keeping what holds at each statement (definitions, loop and branch facts, compile-time flags,
//! which pointer points where, who owns which output), and stating at each memory access, each
//! definition, each loop invariant and each work partition what must hold there.
//!
//! Names resolve innermost scope first, then the epilogue's (`e->p0`), the model's `def`s, the
//! header's constants (`consts`), and global symbols: `P->...`, `nth`, and configuration symbols.

use std::collections::{BTreeSet, HashMap};

use super::expr::{Expr, Op};
use super::model::{Kind, Model, ParamKind, Rect, Stmt};

/// What a pointer points into.
#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    Ws,
    Sh,
    /// A local array: unique name, size in bytes.
    Local(String, Expr),
    /// GEMM operand `o` (0: C, 1: A, 2: B, 3..: epilogue) at a batch index; offsets in elements.
    Operand(usize, Expr),
}

#[derive(Debug, Clone)]
pub struct Ptr {
    pub base: Base,
    /// Bytes from the base (elements for operands).
    pub off: Expr,
    /// Bytes per element.
    pub elem: Expr,
    pub region: Option<String>,
}

#[derive(Debug, Clone)]
enum Val {
    Int(Expr),
    Ptr(Ptr),
}

/// One proof obligation: under `flags` (compile-time) and `facts`, every goal holds.
#[derive(Debug, Clone)]
pub struct Obligation {
    pub name: String,
    pub kind: &'static str,
    pub facts: Vec<Expr>,
    pub flags: Vec<Expr>,
    pub goals: Vec<(String, Expr)>,
}

/// A statement of the model as it stands in the source: the function, the text it stands for,
/// its tag (accesses), and the compile-time flags under which it is rendered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub func: String,
    pub check: String,
    pub tag: Option<String>,
    pub flags: Vec<String>,
}

#[derive(Clone, Default)]
struct Ctx {
    scopes: Vec<HashMap<String, Val>>,
    globals: HashMap<String, Val>,
    defs: Vec<(String, Expr)>,
    facts: Vec<Expr>,
    flags: Vec<Expr>,
    owner_c: Option<(Expr, Rect)>,
    owner_mem: Option<(Base, Expr, Expr)>,
    path: Vec<String>,
    substs: Vec<(String, String)>,
}

pub struct Walker<'m> {
    model: &'m Model,
    consts: HashMap<String, i64>,
    config: BTreeSet<String>,
    pub obligations: Vec<Obligation>,
    pub sites: BTreeSet<Site>,
    used: HashMap<String, usize>,
}

type R<T> = Result<T, String>;

fn num(v: i64) -> Expr {
    Expr::Num(v)
}
fn and(a: Expr, b: Expr) -> Expr {
    Expr::bin(Op::And, a, b)
}
fn le(a: Expr, b: Expr) -> Expr {
    Expr::bin(Op::Le, a, b)
}
fn lt(a: Expr, b: Expr) -> Expr {
    Expr::bin(Op::Lt, a, b)
}
fn add(a: Expr, b: Expr) -> Expr {
    match (&a, &b) {
        (Expr::Num(0), _) => b,
        (_, Expr::Num(0)) => a,
        _ => Expr::bin(Op::Add, a, b),
    }
}
fn mul(a: Expr, b: Expr) -> Expr {
    match (&a, &b) {
        (Expr::Num(0), _) | (_, Expr::Num(0)) => num(0),
        (Expr::Num(1), _) => b,
        (_, Expr::Num(1)) => a,
        _ => Expr::bin(Op::Mul, a, b),
    }
}
fn eq(a: Expr, b: Expr) -> Expr {
    Expr::bin(Op::Eq, a, b)
}
fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a))
}
/// The terms of a sum (`a + b + c`: a, b, c).
fn terms(e: &Expr) -> Vec<Expr> {
    match e {
        Expr::Bin(Op::Add, a, b) => {
            let mut v = terms(a);
            v.extend(terms(b));
            v
        }
        e => vec![e.clone()],
    }
}

/// The conjuncts of `e` (its top-level `&&`s), each a fact of its own.
fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::Bin(Op::And, a, b) => {
            let mut v = conjuncts(*a);
            v.extend(conjuncts(*b));
            v
        }
        e => vec![e],
    }
}

fn within(x: &Expr, lo: &Expr, hi: &Expr) -> Expr {
    and(le(lo.clone(), x.clone()), lt(x.clone(), hi.clone()))
}

impl<'m> Walker<'m> {
    pub fn new(model: &'m Model, consts: HashMap<String, i64>, config: BTreeSet<String>) -> Self {
        Walker {
            model,
            consts,
            config,
            obligations: vec![],
            sites: BTreeSet::new(),
            used: HashMap::new(),
        }
    }

    /// Walk every path from the model's root.
    pub fn run(&mut self) -> R<()> {
        let root = self
            .model
            .func(&self.model.root)
            .ok_or("no root function")?;
        let mut ctx = Ctx {
            scopes: vec![HashMap::new()],
            ..Ctx::default()
        };
        for (p, k) in &root.params {
            let v = match (p.as_str(), k) {
                ("ws", _) => Val::Ptr(Ptr {
                    base: Base::Ws,
                    off: num(0),
                    elem: num(1),
                    region: None,
                }),
                (_, ParamKind::Int) => Val::Int(Expr::sym(p)),
                _ => continue,
            };
            ctx.scopes[0].insert(p.clone(), v);
        }
        for p in &self.model.pre {
            let f = self.resolve(&ctx, p)?;
            ctx.facts.extend(conjuncts(f));
        }
        ctx.path.push(root.name.clone());
        self.layout(&ctx)?;
        let body = root.body.clone();
        self.block(&mut ctx, &body).map(|_| ())
    }

    fn fresh(&mut self, ctx: &Ctx, name: &str) -> String {
        let f = ctx.path.last().map_or("", String::as_str);
        let base = format!("{f}.{name}");
        let n = self.used.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{base}${n}")
        }
    }

    fn lookup(ctx: &Ctx, name: &str) -> Option<Val> {
        ctx.scopes
            .last()
            .and_then(|s| s.get(name))
            .or_else(|| ctx.globals.get(name))
            .cloned()
    }

    /// An expression over the walk's symbols.
    fn resolve(&self, ctx: &Ctx, e: &Expr) -> R<Expr> {
        let mut map = HashMap::new();
        for n in e.symbols() {
            let v = self.name(ctx, &n)?;
            map.insert(n, v);
        }
        Ok(e.subst(&|n| map.get(n).cloned()))
    }

    fn name(&self, ctx: &Ctx, n: &str) -> R<Expr> {
        if let Some(v) = Self::lookup(ctx, n) {
            return match v {
                Val::Int(e) => Ok(e),
                Val::Ptr(_) => Err(format!("pointer {n} used as an integer")),
            };
        }
        if let Some((_, d)) = self.model.defs.iter().find(|(d, _)| d == n) {
            return self.resolve(ctx, d);
        }
        if let Some(v) = self.consts.get(n) {
            return Ok(num(*v));
        }
        if let Some(b) = n.strip_prefix("sizeof(").and_then(|t| t.strip_suffix(')')) {
            if let Some(e) = type_bytes(b) {
                return Ok(e);
            }
        }
        if n.starts_with("P->") || n == "nth" || self.config.contains(n) {
            return Ok(Expr::sym(n));
        }
        Err(format!("unknown name {n:?} in {}", ctx.path.join(">")))
    }

    fn bind(ctx: &mut Ctx, name: &str, v: Val) {
        if let Some(s) = ctx.scopes.last_mut() {
            s.insert(name.to_string(), v);
        }
    }

    /// Bind `name` to `e`: directly when `e` is a symbol or a number, else through a fresh symbol
    /// whose definition joins the facts (and whose arithmetic must not overflow).
    fn define(&mut self, ctx: &mut Ctx, name: &str, e: Expr) {
        if let Some((s, e)) = self.define_quiet(ctx, name, e) {
            self.arith(ctx, &format!("int64 {s}"), &e);
        }
    }

    /// `define` without the overflow obligation: the fresh symbol and its definition, if any.
    fn define_quiet(&mut self, ctx: &mut Ctx, name: &str, e: Expr) -> Option<(String, Expr)> {
        if matches!(e, Expr::Sym(_) | Expr::Num(_)) {
            Self::bind(ctx, name, Val::Int(e));
            return None;
        }
        let s = self.fresh(ctx, name);
        ctx.defs.push((s.clone(), e.clone()));
        Self::bind(ctx, name, Val::Int(Expr::sym(&s)));
        Some((s, e))
    }

    /// The obligation that `e` computes in 64 bits and divides only where C and SMT agree.
    fn arith(&mut self, ctx: &Ctx, name: &str, e: &Expr) {
        let mut goals = vec![];
        for t in e.arithmetic() {
            if !matches!(t, Expr::Sym(_)) {
                goals.push((
                    "int64".into(),
                    and(le(num(i64::MIN), t.clone()), le(t, num(i64::MAX))),
                ));
            }
        }
        for (a, b) in e.divisions() {
            goals.push(("div".into(), and(le(num(0), a), lt(num(0), b))));
        }
        if !goals.is_empty() {
            self.emit(ctx, name, "int64", goals);
        }
    }

    fn emit(&mut self, ctx: &Ctx, name: &str, kind: &'static str, goals: Vec<(String, Expr)>) {
        let mut facts: Vec<Expr> = ctx
            .defs
            .iter()
            .map(|(s, e)| eq(Expr::sym(s), e.clone()))
            .collect();
        facts.extend(ctx.facts.iter().cloned());
        self.emit_with(ctx, name, kind, facts, goals);
    }

    fn emit_with(
        &mut self,
        ctx: &Ctx,
        name: &str,
        kind: &'static str,
        facts: Vec<Expr>,
        goals: Vec<(String, Expr)>,
    ) {
        self.obligations.push(Obligation {
            name: format!("{name} @ {}", ctx.path.join(">")),
            kind,
            facts,
            flags: ctx.flags.clone(),
            goals,
        });
    }

    fn site(&mut self, ctx: &Ctx, check: &str, tag: Option<&str>) {
        self.sites.insert(Site {
            func: ctx.path.last().cloned().unwrap_or_default(),
            check: check.to_string(),
            tag: tag.map(str::to_string),
            flags: ctx.flags.iter().map(Expr::c).collect(),
        });
    }

    fn block(&mut self, ctx: &mut Ctx, stmts: &[Stmt]) -> R<Vec<Expr>> {
        let mut exits = vec![];
        for s in stmts {
            if let Some(c) = &s.check {
                let tag = match &s.kind {
                    Kind::Access(a) => Some(a.tag.as_str()),
                    _ => None,
                };
                self.site(ctx, c, tag);
            }
            let out = self
                .stmt(ctx, s)
                .map_err(|e| format!("model line {}: {e}", s.line))?;
            for x in out {
                ctx.facts.push(not(x.clone()));
                exits.push(x);
            }
        }
        Ok(exits)
    }

    /// Walk `s`; returns the conditions under which it leaves the enclosing block.
    fn stmt(&mut self, ctx: &mut Ctx, s: &Stmt) -> R<Vec<Expr>> {
        match &s.kind {
            Kind::Let(n, e) => {
                let e = self.resolve(ctx, e)?;
                self.define(ctx, n, e);
            }
            Kind::Ptr(..) | Kind::Array(..) | Kind::Operand(..) | Kind::Epilogue(_) => {
                self.declare(ctx, &s.kind)?;
            }
            Kind::If(c, exits) => return self.branch(ctx, s, c.as_ref(), *exits),
            Kind::IfFlag(e) => return self.flagged(ctx, s, e),
            Kind::Lemma(e, forget) => self.lemma(ctx, e, forget)?,
            Kind::For(inits, cond, steps, from) => {
                self.for_loop(ctx, s, inits, cond, steps, from.as_ref())?;
            }
            Kind::Do {
                var,
                init,
                step,
                cond,
                inv,
            } => self.do_loop(ctx, s, var, init, step, cond, inv)?,
            Kind::Claim(v, cond) => {
                let mut inner = ctx.clone();
                let c = self.fresh(ctx, v);
                Self::bind(&mut inner, v, Val::Int(Expr::sym(&c)));
                inner.facts.push(le(num(0), Expr::sym(&c)));
                let f = self.resolve(&inner, cond)?;
                inner.facts.push(f);
                self.block(&mut inner, &s.body)?;
            }
            Kind::Guard(e) => {
                let f = self.resolve(ctx, e)?;
                ctx.facts.extend(conjuncts(f));
            }
            Kind::Unroll(v, n) => {
                let u = self.fresh(ctx, v);
                let n = self.resolve(ctx, n)?;
                let mut inner = ctx.clone();
                Self::bind(&mut inner, v, Val::Int(Expr::sym(&u)));
                inner.facts.push(within(&Expr::sym(&u), &num(0), &n));
                self.block(&mut inner, &s.body)?;
            }
            Kind::Call(snip, wh) => self.call(ctx, snip, wh)?,
            Kind::OwnC(r) => {
                let batch = match &r.batch {
                    Some(b) => self.resolve(ctx, b)?,
                    None => ctx
                        .owner_c
                        .as_ref()
                        .map(|o| o.0.clone())
                        .ok_or("own C without a batch")?,
                };
                let rect = self.rect(ctx, r)?;
                ctx.owner_c = Some((batch, rect));
            }
            Kind::OwnMem(p, bytes) => {
                let p = self.ptr(ctx, p)?;
                let hi = add(p.off.clone(), self.resolve(ctx, bytes)?);
                ctx.owner_mem = Some((p.base, p.off, hi));
            }
            Kind::Partition(p) => {
                let hints = |cover: bool| -> Vec<Expr> {
                    s.body
                        .iter()
                        .filter_map(|h| match &h.kind {
                            Kind::Hint(c, e) if *c == cover => Some(e.clone()),
                            _ => None,
                        })
                        .collect()
                };
                self.partition(ctx, p, &hints(false), &hints(true))?;
            }
            Kind::Hint(..) => return Err("apart/cover outside a partition".into()),
            Kind::Access(a) => self.access(ctx, a)?,
            Kind::Subst(a, b) => ctx.substs.push((a.clone(), b.clone())),
        }
        Ok(vec![])
    }

    fn rect(&self, ctx: &Ctx, r: &Rect) -> R<Rect> {
        let pair = |p: &(Expr, Expr)| -> R<(Expr, Expr)> {
            Ok((self.resolve(ctx, &p.0)?, self.resolve(ctx, &p.1)?))
        };
        Ok(Rect {
            rows: pair(&r.rows)?,
            cols: r.cols.as_ref().map(pair).transpose()?,
            batch: r.batch.as_ref().map(|b| self.resolve(ctx, b)).transpose()?,
        })
    }
}

mod flow;
mod goals;
mod ptrs;
mod stmts;

pub use goals::operand_extents;
use ptrs::{cast, type_bytes};

/// Symbols `e` mentions, with what `defs` define from them.
fn closure(defs: &[(String, Expr)], seed: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = seed.clone();
    for (s, e) in defs {
        if e.symbols().iter().any(|x| out.contains(x)) {
            out.insert(s.clone());
        }
    }
    out
}

fn rename(e: &Expr, dep: &BTreeSet<String>, suffix: &str) -> Expr {
    e.subst(&|n| dep.contains(n).then(|| Expr::sym(&format!("{n}{suffix}"))))
}

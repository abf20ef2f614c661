//! Statements of the walk that declare pointers (workspace, local arrays, operands, the
//! epilogue's), branch (run-time conditions, compile-time flags) and cut (lemmas).

use std::collections::BTreeSet;

use super::{and, conjuncts, eq, mul, not, num, type_bytes, Base, Ctx, Ptr, Val, Walker, R};
use crate::certify::expr::{Expr, Op};
use crate::certify::model::{Kind, Space, Stmt};

impl Walker<'_> {
    /// `ptr`, `array`, `operand` and `epilogue`: a pointer bound to its name.
    pub(super) fn declare(&mut self, ctx: &mut Ctx, kind: &Kind) -> R<()> {
        match kind {
            Kind::Ptr(n, text, region) => {
                let mut p = self.ptr(ctx, text)?;
                if let Some(r) = region {
                    let reg = self.model.region(r).ok_or(format!("no region {r}"))?;
                    let ok = matches!(
                        (&p.base, reg.space),
                        (Base::Ws, Space::Ws) | (Base::Sh, Space::Sh)
                    );
                    if !ok {
                        return Err(format!("{n} is not in the space of region {r}"));
                    }
                    p.region = Some(r.clone());
                }
                Self::bind(ctx, n, Val::Ptr(p));
            }
            Kind::Array(n, len, ty) => {
                let elem = type_bytes(ty).ok_or(format!("type {ty}"))?;
                let size = mul(self.resolve(ctx, len)?, elem.clone());
                let u = self.fresh(ctx, n);
                let p = Ptr {
                    base: Base::Local(u, size),
                    off: num(0),
                    elem,
                    region: None,
                };
                Self::bind(ctx, n, Val::Ptr(p));
            }
            Kind::Operand(n, o, b) => {
                let b = self.resolve(ctx, b)?;
                let p = Ptr {
                    base: Base::Operand(*o, b),
                    off: num(0),
                    elem: num(1),
                    region: None,
                };
                Self::bind(ctx, n, Val::Ptr(p));
            }
            Kind::Epilogue(b) => {
                let b = self.resolve(ctx, b)?;
                let (sm, sn) = (Expr::sym("P->op[3].sm"), Expr::sym("P->op[3].sn"));
                let p = Ptr {
                    base: Base::Operand(3, b),
                    off: num(0),
                    elem: num(1),
                    region: None,
                };
                ctx.globals.insert("e->p0".into(), Val::Ptr(p));
                ctx.globals.insert("e->sm0".into(), Val::Int(sm));
                ctx.globals.insert("e->sn0".into(), Val::Int(sn.clone()));
                let ok = Expr::bin(Op::Or, eq(sn.clone(), num(0)), eq(sn, num(1)));
                ctx.globals.insert("e->vec_ok".into(), Val::Int(ok));
            }
            _ => unreachable!("declarations only"),
        }
        Ok(())
    }

    /// `if` (a run-time condition, or `?`): both branches, each with what it knows; returns the
    /// condition when the branch leaves the block (`exits`).
    pub(super) fn branch(
        &mut self,
        ctx: &mut Ctx,
        s: &Stmt,
        c: Option<&Expr>,
        exits: bool,
    ) -> R<Vec<Expr>> {
        let c = c.map(|c| self.resolve(ctx, c)).transpose()?;
        let mut inner = ctx.clone();
        inner.facts.extend(c.clone());
        self.block(&mut inner, &s.body)?;
        if let Some(e) = &s.else_body {
            let mut other = ctx.clone();
            other.facts.extend(c.clone().map(not));
            self.block(&mut other, e)?;
        }
        if exits {
            return Ok(vec![c.ok_or("an unknown condition cannot exit")?]);
        }
        Ok(vec![])
    }

    /// `#if`: the branch compiled under the flag, the `#else` under its negation; the branch's
    /// exits hold where the flag does.
    pub(super) fn flagged(&mut self, ctx: &mut Ctx, s: &Stmt, e: &Expr) -> R<Vec<Expr>> {
        let f = self.resolve(ctx, e)?;
        let mut inner = ctx.clone();
        inner.flags.push(f.clone());
        let exits = self.block(&mut inner, &s.body)?;
        if let Some(b) = &s.else_body {
            let mut other = ctx.clone();
            other.flags.push(not(f.clone()));
            self.block(&mut other, b)?;
        }
        Ok(exits.into_iter().map(|x| and(f.clone(), x)).collect())
    }

    /// `lemma`: proven here, then assumed; the definitions of the forgotten symbols, of what is
    /// made of them, and the facts about them go (what they defined stays a symbol, with what
    /// the lemma says of it).
    pub(super) fn lemma(&mut self, ctx: &mut Ctx, e: &Expr, forget: &[String]) -> R<()> {
        let f = self.resolve(ctx, e)?;
        self.emit(
            ctx,
            &format!("lemma {}", e.c()),
            "lemma",
            vec![("lemma".into(), f.clone())],
        );
        let mut gone = BTreeSet::new();
        for n in forget {
            match self.name(ctx, n)? {
                Expr::Sym(s) => gone.insert(s),
                x => return Err(format!("forget {n}: {x:?} is not a symbol")),
            };
        }
        ctx.defs
            .retain(|(s, e)| !gone.contains(s) && e.symbols().is_disjoint(&gone));
        ctx.facts.retain(|x| x.symbols().is_disjoint(&gone));
        ctx.facts.extend(conjuncts(f));
        Ok(())
    }
}

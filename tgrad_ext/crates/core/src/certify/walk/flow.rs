//! Control flow of the walk: counted loops (a trip counter per loop, every variable it steps
//! an affine function of it), do-while loops with their invariant proven by induction, and calls
//! (arguments bound to the callee's parameters).

use std::collections::HashMap;

use super::{add, le, mul, not, num, Base, Ctx, Val, Walker, R};
use crate::certify::expr::{self, Expr, Op};
use crate::certify::model::{ParamKind, Stmt};

impl Walker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn for_loop(
        &mut self,
        ctx: &mut Ctx,
        s: &Stmt,
        inits: &[(String, Expr)],
        cond: &Expr,
        steps: &[(String, Expr)],
        from: Option<&Expr>,
    ) -> R<()> {
        let mut inner = ctx.clone();
        let first = inits
            .first()
            .or(steps.first())
            .map(|x| x.0.clone())
            .unwrap_or_default();
        let t = self.fresh(ctx, &format!("{first}#"));
        let tv = Expr::sym(&t);
        inner.facts.push(le(num(0), tv.clone()));
        Self::bind(&mut inner, &format!("{first}#"), Val::Int(tv.clone()));
        let mut deferred = vec![];
        for (v, step) in steps {
            let step = self.resolve(ctx, step)?;
            let start = match (inits.iter().find(|(n, _)| n == v), from) {
                (Some((_, e)), _) => Some(self.resolve(ctx, e)?),
                (None, Some(f)) if *v == first => Some(self.resolve(ctx, f)?),
                _ => None,
            };
            if let Some(start) = start {
                let e = add(start, mul(tv.clone(), step));
                deferred.extend(self.define_quiet(&mut inner, v, e));
            } else {
                match Self::lookup(ctx, v).ok_or(format!("step of unknown {v}"))? {
                    Val::Ptr(mut p) => {
                        let scale = if matches!(p.base, Base::Operand(..)) {
                            num(1)
                        } else {
                            p.elem.clone()
                        };
                        p.off = add(p.off, mul(mul(tv.clone(), step), scale));
                        Self::bind(&mut inner, v, Val::Ptr(p));
                    }
                    Val::Int(x) => deferred.extend(self.define_quiet(
                        &mut inner,
                        v,
                        add(x, mul(tv.clone(), step)),
                    )),
                }
            }
        }
        for (v, e) in inits {
            if !steps.iter().any(|(n, _)| n == v) {
                let e = self.resolve(ctx, e)?;
                deferred.extend(self.define_quiet(&mut inner, v, e));
            }
        }
        let c = self.resolve(&inner, cond)?;
        inner.facts.push(c);
        // a loop variable's arithmetic stays in 64 bits while the loop runs (its condition holds)
        for (v, e) in deferred {
            self.arith(&inner, &format!("int64 {v}"), &e);
        }
        self.block(&mut inner, &s.body)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn do_loop(
        &mut self,
        ctx: &mut Ctx,
        s: &Stmt,
        var: &str,
        init: &Expr,
        step: &Expr,
        cond: &Expr,
        inv: &Expr,
    ) -> R<()> {
        let (v, t) = (self.fresh(ctx, var), self.fresh(ctx, &format!("{var}#")));
        let init = self.resolve(ctx, init)?;
        // the invariant and condition at a state (value, iteration)
        let at = |w: &Walker, val: Expr, it: Expr, e: &Expr| -> R<Expr> {
            let mut c = ctx.clone();
            Self::bind(&mut c, var, Val::Int(val));
            Self::bind(&mut c, &format!("{var}#"), Val::Int(it));
            w.resolve(&c, e)
        };
        let goals = vec![
            ("init".to_string(), at(self, init.clone(), num(0), inv)?),
            ("enter".to_string(), at(self, init, num(0), cond)?),
        ];
        self.emit(ctx, &format!("loop {v} starts"), "induction", goals);
        let mut inner = ctx.clone();
        let (vs, ts) = (Expr::sym(&v), Expr::sym(&t));
        Self::bind(&mut inner, var, Val::Int(vs.clone()));
        Self::bind(&mut inner, &format!("{var}#"), Val::Int(ts.clone()));
        inner.facts.push(le(num(0), ts.clone()));
        let f = self.resolve(&inner, inv)?;
        inner.facts.push(f);
        let f = self.resolve(&inner, cond)?;
        inner.facts.push(f);
        // the step's invariant from the body's leading definitions (before any lemma forgets)
        let mut probe = inner.clone();
        for st in &s.body {
            let crate::certify::model::Kind::Let(n, e) = &st.kind else {
                break;
            };
            let e = self.resolve(&probe, e)?;
            let _ = self.define_quiet(&mut probe, n, e);
        }
        let next = add(vs, self.resolve(&probe, step)?);
        let (c2, i2) = (
            at(self, next.clone(), add(ts.clone(), num(1)), cond)?,
            at(self, next, add(ts, num(1)), inv)?,
        );
        let goal = Expr::bin(Op::Or, not(c2), i2);
        self.emit(
            &probe,
            &format!("loop {v} steps"),
            "induction",
            vec![("step".into(), goal)],
        );
        self.block(&mut inner, &s.body)?;
        Ok(())
    }

    pub(super) fn call(&mut self, ctx: &mut Ctx, snip: &str, wh: &[(String, String)]) -> R<()> {
        let open = snip.find('(').ok_or("call f(args)")?;
        let fname = snip[..open].trim();
        let f = self
            .model
            .func(fname)
            .ok_or(format!("no model of {fname}"))?
            .clone();
        let args =
            crate::certify::model::top_commas(&snip[open + 1..snip.rfind(')').ok_or("call )")?]);
        if args.len() != f.params.len() {
            return Err(format!(
                "{fname}: {} arguments for {} parameters",
                args.len(),
                f.params.len()
            ));
        }
        let mut inner = ctx.clone();
        inner.path.push(f.name.clone());
        inner.scopes.push(HashMap::new());
        inner.substs.clear();
        for ((p, k), a) in f.params.iter().zip(&args) {
            let over = wh.iter().find(|(x, _)| x == p).map(|(_, n)| n.as_str());
            match k {
                ParamKind::Ignored => {}
                ParamKind::Ptr => {
                    let v = match over {
                        Some(n) => {
                            Self::lookup(ctx, n).ok_or(format!("where {p} = {n}: unknown"))?
                        }
                        None => Val::Ptr(self.ptr(ctx, a)?),
                    };
                    Self::bind(&mut inner, p, v);
                }
                ParamKind::Int => {
                    let e = self.resolve(ctx, &expr::parse(a)?)?;
                    self.define(&mut inner, p, e);
                }
            }
        }
        self.block(&mut inner, &f.body)?;
        Ok(())
    }
}

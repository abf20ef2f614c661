//! What must hold at an access (inside its operand's box or its workspace region, the region
//! inside the scratch, aligned where the type demands it, inside what the thread owns), at a
//! work partition (items pairwise disjoint, every point covered), and of the workspace layout.

use std::collections::BTreeSet;

use super::{
    add, and, closure, eq, le, lt, mul, not, num, rename, within, Base, Ctx, Ptr, Walker, R,
};
use crate::certify::expr::{self, Expr, Op};
use crate::certify::model::{unbrace, Access, AccessKind, Partition, Rect, Space};
use crate::target::VectorIsa;

/// The dims operand `o` spans, with their extents: C (m, n), A (m, k), B (k, n), epilogue (m, n).
pub fn operand_extents(o: usize) -> [(char, Option<&'static str>); 3] {
    match o {
        1 => [('m', Some("P->m")), ('n', None), ('k', Some("P->k"))],
        2 => [('m', None), ('n', Some("P->n")), ('k', Some("P->k"))],
        _ => [('m', Some("P->m")), ('n', Some("P->n")), ('k', None)],
    }
}

fn stride(o: usize, d: char) -> String {
    format!("P->op[{o}].s{d}")
}

/// Whether `r` contains the point (i, j, b).
fn contains(r: &Rect, p: &[Expr; 3]) -> Expr {
    let mut c = within(&p[0], &r.rows.0, &r.rows.1);
    if let Some(cols) = &r.cols {
        c = and(c, within(&p[1], &cols.0, &cols.1));
    }
    if let Some(b) = &r.batch {
        c = and(c, eq(p[2].clone(), b.clone()));
    }
    c
}

impl Walker<'_> {
    /// The pointer an access snippet dereferences, its width in bytes and whether its type is an
    /// aligned vector: `p[i]`, `&p[i]`, `*(T*)(e)`, `*(T*)p`, `*p`, `__atomic_..(p, ..)`,
    /// `__builtin_memcpy(p, ..)`.
    fn target(&self, ctx: &Ctx, a: &Access) -> R<(Ptr, Expr, bool)> {
        let mut s = unbrace(&a.snippet);
        if s.starts_with('*') {
            for (from, to) in &ctx.substs {
                s = s.replace(from, to);
            }
        }
        let (p, ty) = if s.starts_with("__atomic_") || s.starts_with("__builtin_memcpy") {
            let open = s.find('(').ok_or("call")?;
            let args = crate::certify::model::top_commas(&s[open + 1..]);
            (self.ptr(ctx, args.first().ok_or("no argument")?)?, None)
        } else if let Some(rest) = s.strip_prefix('*') {
            let rest = rest.trim();
            match super::cast(rest) {
                Some((ty, r)) => {
                    let mut p = self.ptr(ctx, r)?;
                    p.elem = super::type_bytes(ty).ok_or("type")?;
                    (p, Some(ty.to_string()))
                }
                None => (self.ptr(ctx, rest)?, None),
            }
        } else if s.starts_with('&') {
            (self.ptr(ctx, &s)?, None)
        } else {
            let open = s.rfind('[').ok_or("an access is p[i], *p or a call")?;
            let name = s[..open]
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')');
            let p = self.ptr(ctx, name)?;
            let idx = expr::parse(&s[open + 1..s.len() - 1])?;
            (self.advance(ctx, p, &idx)?, None)
        };
        // the elements a vector type spans in an operand
        let lanes = match ty.as_deref() {
            Some("tg_v" | "tg_vu") => Some(Expr::sym("VW")),
            Some("tg_a8u") => Some(num(8)),
            _ => None,
        };
        let width = match (&a.bytes, lanes) {
            (Some(b), _) => self.resolve(ctx, b)?,
            (None, Some(l)) if matches!(p.base, Base::Operand(..)) => l,
            (None, _) if matches!(p.base, Base::Operand(..)) => num(1),
            (None, _) => p.elem.clone(),
        };
        Ok((p, width, ty.as_deref() == Some("tg_v")))
    }

    pub(super) fn access(&mut self, ctx: &Ctx, a: &Access) -> R<()> {
        let (p, width, aligned) = self.target(ctx, a)?;
        let write = matches!(a.kind, AccessKind::Write | AccessKind::Rmw);
        let mut goals = vec![];
        match &p.base {
            Base::Operand(o, batch) => {
                Self::operand_goals(ctx, a, *o, batch, &p.off, &width, write, &mut goals)?;
            }
            Base::Local(_, size) => {
                goals.push((
                    "local".into(),
                    and(
                        le(num(0), p.off.clone()),
                        le(add(p.off.clone(), width), size.clone()),
                    ),
                ));
            }
            Base::Ws | Base::Sh => {
                let r = p
                    .region
                    .as_ref()
                    .ok_or(format!("{}: workspace pointer without a region", a.tag))?;
                let reg = self.model.region(r).ok_or("region")?.clone();
                let (lo, hi) = (self.resolve(ctx, &reg.lo)?, self.resolve(ctx, &reg.hi)?);
                let end = add(p.off.clone(), width.clone());
                goals.push((
                    format!("region {r}"),
                    and(le(lo, p.off.clone()), le(end.clone(), hi.clone())),
                ));
                let avail = match reg.space {
                    Space::Ws => self.model.scratch_ws.as_ref(),
                    Space::Sh => self.model.scratch_sh.as_ref(),
                };
                let avail = self.resolve(ctx, avail.ok_or("no scratch")?)?;
                goals.push(("scratch".into(), le(hi, avail)));
                if aligned {
                    // a sum of multiples is one: each term of the offset on its own, for each
                    // vector size an ISA has (a constant modulus keeps the goal linear in the
                    // term's monomials)
                    let a = mul(Expr::sym("VW"), Expr::sym("sizeof(TG_ACC)"));
                    let sizes: BTreeSet<usize> =
                        VectorIsa::ALL.iter().map(|i| i.vector_bytes()).collect();
                    for t in super::terms(&p.off) {
                        let each = sizes.iter().map(|&v| {
                            let v = num(v as i64);
                            let multiple = eq(Expr::bin(Op::Mod, t.clone(), v.clone()), num(0));
                            Expr::bin(Op::Or, not(eq(a.clone(), v)), multiple)
                        });
                        goals.push(("aligned".into(), each.reduce(and).unwrap_or(Expr::Num(1))));
                    }
                }
                if let (true, Some((base, lo, hi))) = (write && p.base == Base::Sh, &ctx.owner_mem)
                {
                    if *base == Base::Sh {
                        goals.push((
                            "owned".into(),
                            and(le(lo.clone(), p.off.clone()), le(end, hi.clone())),
                        ));
                    }
                } else if write && p.base == Base::Sh && a.kind != AccessKind::Atomic {
                    return Err(format!("{}: a shared write with no owner", a.tag));
                }
                // the offset's terms are non-negative and their sum is at most the scratch
                // (bounded by `layout`), so only what each term computes inside can overflow
                for t in super::terms(&p.off) {
                    goals.push(("nonneg".into(), le(num(0), t.clone())));
                    for x in t.arithmetic() {
                        if !matches!(x, Expr::Sym(_)) && x != t {
                            goals.push((
                                "int64".into(),
                                and(le(num(i64::MIN), x.clone()), le(x, num(i64::MAX))),
                            ));
                        }
                    }
                }
            }
        }
        for (x, y) in p.off.divisions() {
            goals.push(("div".into(), and(le(num(0), x), lt(num(0), y))));
        }
        self.emit(ctx, &a.tag, "access", goals);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn operand_goals(
        ctx: &Ctx,
        a: &Access,
        o: usize,
        batch: &Expr,
        off: &Expr,
        width: &Expr,
        write: bool,
        goals: &mut Vec<(String, Expr)>,
    ) -> R<()> {
        let all: Vec<String> = (0..4)
            .flat_map(|q| ['m', 'n', 'k'].map(|d| stride(q, d)))
            .collect();
        let (coef, rest) = off
            .split_strides(&all)
            .map_err(|e| format!("{}: {e}", a.tag))?;
        for (s, c) in all.iter().zip(&coef) {
            if !s.starts_with(&format!("P->op[{o}]")) && *c != num(0) {
                return Err(format!("{}: operand {o} indexed with {s}", a.tag));
            }
        }
        let mut coord: Vec<Expr> = coef[3 * o..3 * o + 3].to_vec();
        let dims = ['m', 'n', 'k'];
        let ext = operand_extents(o);
        let unit = a
            .unit
            .iter()
            .copied()
            .find(|u| ext.iter().any(|(d, e)| d == u && e.is_some()));
        if rest != num(0) {
            let u = unit.ok_or(format!(
                "{}: an offset {} with no unit-stride dim",
                a.tag,
                rest.c()
            ))?;
            let ui = dims.iter().position(|d| *d == u).ok_or("unit m|n|k")?;
            coord[ui] = add(coord[ui].clone(), rest.clone());
            let unit = Expr::bin(
                Op::Or,
                eq(rest, num(0)),
                eq(Expr::sym(&stride(o, u)), num(1)),
            );
            goals.push(("unit stride".into(), unit));
        } else if *width != num(1) && unit.is_none() {
            return Err(format!(
                "{}: a vector access with no unit-stride dim",
                a.tag
            ));
        }
        let last = |i: usize| {
            if unit == Some(dims[i]) {
                add(coord[i].clone(), add(width.clone(), num(-1)))
            } else {
                coord[i].clone()
            }
        };
        let mut inbox = vec![within(batch, &num(0), &Expr::sym("P->batch"))];
        for (i, (_, ext)) in ext.iter().enumerate() {
            match ext {
                Some(e) => {
                    inbox.push(le(num(0), coord[i].clone()));
                    inbox.push(lt(last(i), Expr::sym(e)));
                }
                None => inbox.push(eq(coord[i].clone(), num(0))),
            }
        }
        let boxed = inbox.into_iter().reduce(and).unwrap_or(Expr::Num(1));
        goals.push(("box".into(), boxed));
        if write && o == 0 {
            let (ob, r) = ctx
                .owner_c
                .as_ref()
                .ok_or(format!("{}: a write of C with no owner", a.tag))?;
            let mut own = and(
                eq(batch.clone(), ob.clone()),
                within(&coord[0], &r.rows.0, &r.rows.1),
            );
            if let Some(c) = &r.cols {
                own = and(
                    own,
                    and(le(c.0.clone(), coord[1].clone()), lt(last(1), c.1.clone())),
                );
            }
            goals.push(("owned".into(), own));
        }
        for c in &coord {
            for t in c.arithmetic() {
                if !matches!(t, Expr::Sym(_)) {
                    goals.push((
                        "int64".into(),
                        and(le(num(i64::MIN), t.clone()), le(t, num(i64::MAX))),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Items of a work partition are pairwise disjoint (two copies of everything that depends
    /// on the index: overlapping items have equal indices), and cover the space (every point
    /// lies in the item its witness names, and the witness satisfies every fact the index does).
    pub(super) fn partition(
        &mut self,
        ctx: &Ctx,
        p: &Partition,
        apart: &[Expr],
        cover: &[Expr],
    ) -> R<()> {
        let mut idx = vec![];
        for n in &p.index {
            match self.name(ctx, n)? {
                Expr::Sym(s) => idx.push(s),
                e => return Err(format!("partition index {n} is {e:?}, not a free symbol")),
            }
        }
        let dep = closure(&ctx.defs, &idx.iter().cloned().collect());
        let depends = |e: &Expr| e.symbols().iter().any(|s| dep.contains(s));
        let pt = [Expr::sym("pt.i"), Expr::sym("pt.j"), Expr::sym("pt.b")];
        let item = self.rect(ctx, &p.item)?;
        let when = p.when.as_ref().map(|w| self.resolve(ctx, w)).transpose()?;
        // disjoint
        let mut facts = vec![];
        let both = |f: Expr, facts: &mut Vec<Expr>| {
            if depends(&f) {
                facts.push(rename(&f, &dep, "~2"));
            }
            facts.push(f);
        };
        for (s, e) in &ctx.defs {
            both(eq(Expr::sym(s), e.clone()), &mut facts);
        }
        for f in ctx.facts.iter().chain(&when) {
            both(f.clone(), &mut facts);
        }
        facts.push(contains(&item, &pt));
        facts.push(rename(&contains(&item, &pt), &dep, "~2"));
        let mut wctx = ctx.clone();
        for (n, v) in ["i", "j", "b"].iter().zip(&pt) {
            Self::bind(&mut wctx, n, super::Val::Int(v.clone()));
        }
        for (k, h) in apart.iter().enumerate() {
            let h = self.resolve(&wctx, h)?;
            let both = and(h.clone(), rename(&h, &dep, "~2"));
            let goals = vec![("step".to_string(), both.clone())];
            self.emit_with(
                ctx,
                &format!("{} apart {k}", p.name),
                "partition",
                facts.clone(),
                goals,
            );
            facts.push(both);
        }
        let same = idx
            .iter()
            .map(|s| eq(Expr::sym(s), Expr::sym(&format!("{s}~2"))))
            .reduce(and);
        let goal = same.ok_or("partition with no index")?;
        self.emit_with(
            ctx,
            &format!("{} disjoint", p.name),
            "partition",
            facts,
            vec![("disjoint".into(), goal)],
        );
        self.cover(ctx, &wctx, p, cover, &idx, &dep)
    }

    /// The covering half of `partition`: the witness's item holds the point, and the witness
    /// satisfies every fact about the index (those facts are goals, not hypotheses, here).
    fn cover(
        &mut self,
        ctx: &Ctx,
        wctx: &Ctx,
        p: &Partition,
        cover: &[Expr],
        idx: &[String],
        dep: &BTreeSet<String>,
    ) -> R<()> {
        let depends = |e: &Expr| e.symbols().iter().any(|s| dep.contains(s));
        let pt = [Expr::sym("pt.i"), Expr::sym("pt.j"), Expr::sym("pt.b")];
        let item = self.rect(ctx, &p.item)?;
        let when = p.when.as_ref().map(|w| self.resolve(ctx, w)).transpose()?;
        let mut wit = std::collections::HashMap::new();
        for (v, e) in &p.witness {
            let Expr::Sym(s) = self.name(ctx, v)? else {
                return Err(format!("witness of {v}"));
            };
            wit.insert(s, self.resolve(wctx, e)?);
        }
        let sub = |e: &Expr| e.subst(&|n| wit.get(n).cloned());
        let mut facts = vec![];
        let mut goals = vec![];
        for (s, e) in &ctx.defs {
            facts.push(eq(Expr::sym(s), sub(e)));
        }
        for f in &ctx.facts {
            if depends(f) {
                goals.push(("index".to_string(), sub(f)));
            } else {
                facts.push(f.clone());
            }
        }
        facts.extend(when.as_ref().map(&sub));
        let over = self.rect(wctx, &p.over)?;
        let mut universe = within(&pt[0], &over.rows.0, &over.rows.1);
        if let Some(c) = &over.cols {
            universe = and(universe, within(&pt[1], &c.0, &c.1));
        }
        if let Some(nb) = &over.batch {
            universe = and(universe, within(&pt[2], &num(0), nb));
        }
        facts.push(universe);
        for (k, h) in cover.iter().enumerate() {
            let h = sub(&self.resolve(wctx, h)?);
            let steps = vec![("step".to_string(), h.clone())];
            self.emit_with(
                ctx,
                &format!("{} cover {k}", p.name),
                "partition",
                facts.clone(),
                steps,
            );
            facts.push(h);
        }
        goals.push(("cover".into(), sub(&contains(&item, &pt))));
        let missing: BTreeSet<&String> = idx.iter().filter(|s| !wit.contains_key(*s)).collect();
        if !missing.is_empty() {
            return Err(format!("partition {}: no witness for {missing:?}", p.name));
        }
        self.emit_with(ctx, &format!("{} cover", p.name), "partition", facts, goals);
        Ok(())
    }

    /// Every region is an interval, regions used together are disjoint, and the scratch is
    /// far below 2^63 bytes.
    pub(super) fn layout(&mut self, ctx: &Ctx) -> R<()> {
        let mut goals = vec![];
        for sc in [&self.model.scratch_ws, &self.model.scratch_sh]
            .into_iter()
            .flatten()
        {
            let sc = self.resolve(ctx, sc)?;
            goals.push((
                "scratch bounded".into(),
                and(le(num(0), sc.clone()), le(sc, num(1 << 62))),
            ));
        }
        for r in &self.model.regions {
            let (lo, hi) = (self.resolve(ctx, &r.lo)?, self.resolve(ctx, &r.hi)?);
            goals.push((
                format!("{} ordered", r.name),
                and(le(num(0), lo.clone()), le(lo, hi)),
            ));
        }
        for (a, b) in &self.model.disjoint {
            let (ra, rb) = (
                self.model.region(a).ok_or("region")?,
                self.model.region(b).ok_or("region")?,
            );
            let (ahi, blo) = (self.resolve(ctx, &ra.hi)?, self.resolve(ctx, &rb.lo)?);
            let (alo, bhi) = (self.resolve(ctx, &ra.lo)?, self.resolve(ctx, &rb.hi)?);
            goals.push((
                format!("{a} {b} disjoint"),
                Expr::bin(Op::Or, le(ahi, blo), le(bhi, alo)),
            ));
        }
        self.emit(ctx, "layout", "layout", goals);
        Ok(())
    }
}

//! The model language's statement forms: intervals and rectangles, loop headers, calls,
//! ownership, accesses and partitions.

use super::{ex, quoted, top_commas, Access, AccessKind, Kind, Partition, Rect};
use crate::certify::expr::Expr;

/// `[LO, HI)`: the two bounds and the text after.
pub(super) fn interval(s: &str) -> Result<((Expr, Expr), &str), String> {
    let s = s.trim_start();
    let inner = s
        .strip_prefix('[')
        .ok_or_else(|| format!("expected [lo, hi) in {s:?}"))?;
    let mut depth = 0;
    let (mut comma, mut close) = (None, None);
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                close = Some(i);
                break;
            }
            ')' => depth -= 1,
            ',' if depth == 0 && comma.is_none() => comma = Some(i),
            _ => {}
        }
    }
    let (c, e) = (comma.ok_or("no comma")?, close.ok_or("no )")?);
    Ok(((ex(&inner[..c])?, ex(&inner[c + 1..e])?), &inner[e + 1..]))
}

pub(super) fn rect(s: &str) -> Result<Rect, String> {
    let s = s.trim().strip_prefix("rows").ok_or("rows [..)")?;
    let (rows, mut rest) = interval(s)?;
    let mut cols = None;
    if let Some(r) = rest.trim_start().strip_prefix("cols") {
        let (c, r2) = interval(r)?;
        cols = Some(c);
        rest = r2;
    }
    let batch = match rest.trim().strip_prefix("batch") {
        Some(b) => Some(ex(b)?),
        None if rest.trim().is_empty() => None,
        None => return Err(format!("unexpected {rest:?}")),
    };
    Ok(Rect { rows, cols, batch })
}

pub(super) fn for_head(h: &str) -> Result<Kind, String> {
    let parts: Vec<&str> = h.splitn(3, ';').collect();
    let [init, cond, steps] = parts[..] else {
        return Err(format!("for header {h:?}"));
    };
    let mut inits = vec![];
    for d in top_commas(init) {
        let d = d.trim_start_matches("int64_t ").trim_start_matches("int ");
        let (n, e) = d.split_once('=').ok_or_else(|| format!("init {d:?}"))?;
        inits.push((n.trim().to_string(), ex(e)?));
    }
    let mut st = vec![];
    for s in top_commas(steps) {
        if let Some(v) = s.strip_suffix("++") {
            st.push((v.trim().to_string(), Expr::Num(1)));
        } else if let Some(v) = s.strip_suffix("--") {
            st.push((v.trim().to_string(), Expr::Num(-1)));
        } else if let Some((v, e)) = s.split_once("+=") {
            st.push((v.trim().to_string(), ex(e)?));
        } else if !s.contains('(') {
            return Err(format!("step {s:?}"));
        } // a call in the step list (tg_pf_step) touches only its own cursor
    }
    Ok(Kind::For(inits, ex(cond)?, st, None))
}

/// `for (INIT; COND; STEPS) [from EXPR]`, and the source text it stands for.
pub(super) fn for_stmt(rest: &str) -> Result<(Kind, String), String> {
    let h = rest.strip_prefix('(').ok_or("for (..)")?;
    let (h, from) = match h.rsplit_once(") from ") {
        Some((h, f)) => (h, Some(ex(f)?)),
        None => (h.strip_suffix(')').ok_or("for (..)")?, None),
    };
    match for_head(h)? {
        Kind::For(i, c, s, _) => Ok((Kind::For(i, c, s, from), format!("for ({h})"))),
        _ => unreachable!("for_head"),
    }
}

/// `call "f(args)" [where p = NAME, ..]`
pub(super) fn call(rest: &str) -> Result<Kind, String> {
    let (snip, after) = quoted(rest)?;
    let mut wh = vec![];
    if let Some(w) = after.trim().strip_prefix("where") {
        for b in w.split(',') {
            let (p, n) = b.split_once('=').ok_or("where p = NAME")?;
            wh.push((p.trim().to_string(), n.trim().to_string()));
        }
    }
    Ok(Kind::Call(snip, wh))
}

/// `own C RECT` or `own mem PTR bytes W`
pub(super) fn own(rest: &str) -> Result<Kind, String> {
    if let Some(r) = rest.strip_prefix("C ") {
        return Ok(Kind::OwnC(rect(r)?));
    }
    let r = rest.strip_prefix("mem ").ok_or("own C|mem")?;
    let (p, b) = r.rsplit_once(" bytes ").ok_or("own mem PTR bytes W")?;
    Ok(Kind::OwnMem(p.trim().to_string(), ex(b)?))
}

/// `do VAR = INIT; VAR += STEP; while (COND); inv EXPR`
pub(super) fn do_loop(rest: &str) -> Result<Kind, String> {
    let v: Vec<&str> = rest.split(';').map(str::trim).collect();
    let [init, step, cond, inv] = v[..] else {
        return Err("do ..; ..; while (..); inv ..".into());
    };
    let (var, init) = init.split_once('=').ok_or("do VAR = INIT")?;
    let (_, step) = step.split_once("+=").ok_or("VAR += STEP")?;
    let cond = cond.strip_prefix("while").ok_or("while (COND)")?;
    Ok(Kind::Do {
        var: var.trim().to_string(),
        init: ex(init)?,
        step: ex(step)?,
        cond: ex(cond)?,
        inv: ex(inv.strip_prefix("inv").ok_or("inv EXPR")?)?,
    })
}

/// `read|write|rmw|atomic TAG "SNIPPET" [unit m|n|k,..] [bytes EXPR]`
pub(super) fn access(word: &str, rest: &str) -> Result<Access, String> {
    let (tag, r) = rest.split_once(' ').ok_or("ACCESS TAG \"SNIPPET\"")?;
    let (snippet, after) = quoted(r)?;
    let mut bytes = None;
    let mut unit = vec![];
    let mut words = after.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "unit" => {
                unit = words
                    .next()
                    .map(|u| u.split(',').filter_map(|d| d.chars().next()).collect())
                    .unwrap_or_default();
            }
            "bytes" => bytes = Some(ex(&words.by_ref().collect::<Vec<_>>().join(" "))?),
            _ => return Err(format!("unexpected {w:?}")),
        }
    }
    Ok(Access {
        kind: match word {
            "read" => AccessKind::Read,
            "write" => AccessKind::Write,
            "rmw" => AccessKind::Rmw,
            _ => AccessKind::Atomic,
        },
        tag: tag.to_string(),
        snippet,
        bytes,
        unit,
    })
}

pub(super) fn partition(rest: &str) -> Result<Kind, String> {
    let (name, rest) = rest.split_once(' ').ok_or("partition NAME ..")?;
    let (mut rest, mut when) = (rest.trim(), None);
    if let Some(w) = rest.strip_prefix("when ") {
        let (c, r) = w.split_once(" index ").ok_or("when .. index")?;
        when = Some(ex(c)?);
        rest = r;
    } else {
        rest = rest.strip_prefix("index ").ok_or("index V..")?;
    }
    let (idx, r) = rest.split_once(" over ").ok_or("index .. over")?;
    let (over, r) = r.split_once(" item ").ok_or("over .. item")?;
    let (item, wit) = r.split_once(" witness ").ok_or(".. witness ..")?;
    let mut witness = vec![];
    for w in top_commas(wit) {
        let (v, e) = w.split_once('=').ok_or("witness V = E")?;
        witness.push((v.trim().to_string(), ex(e)?));
    }
    Ok(Kind::Partition(Box::new(Partition {
        name: name.to_string(),
        when,
        index: idx.split(',').map(|s| s.trim().to_string()).collect(),
        over: rect(over)?,
        item: rect(item)?,
        witness,
    })))
}

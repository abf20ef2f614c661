//! Pointer expressions of the template: casts change the element size, arithmetic moves the
//! offset (bytes for workspaces and locals, elements for operands), and a pointer keeps the
//! base and region it was made from.

use super::{add, mul, num, Base, Ctx, Ptr, Val, Walker, R};
use crate::certify::expr::{self, Expr};
use crate::certify::model::unbrace;

/// Bytes of a C type the template names, as an expression.
pub(super) fn type_bytes(t: &str) -> Option<Expr> {
    Some(match t {
        "char" => num(1),
        "float" | "int32_t" => num(4),
        "int64_t" => num(8),
        "TG_ACC" | "TG_TA" | "TG_TB" | "TG_TC" => Expr::sym(&format!("sizeof({t})")),
        "tg_v" | "tg_vu" => mul(Expr::sym("VW"), Expr::sym("sizeof(TG_ACC)")),
        "tg_f8" | "tg_f8u" => num(32),
        "tg_a8u" => mul(num(8), Expr::sym("sizeof(TG_TA)")),
        _ => return None,
    })
}

/// `(const T*)` at the start of `s`: the type and the rest.
pub(super) fn cast(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('(')?;
    let close = inner.find(')')?;
    let t = inner[..close].trim().trim_start_matches("const ").trim();
    let t = t.strip_suffix('*')?.trim();
    type_bytes(t)?;
    Some((t, inner[close + 1..].trim_start()))
}

/// The index of the parenthesis closing the one `s` opens with.
pub(super) fn closing(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl Walker<'_> {
    /// A pointer expression: `(T*)X`, `(X)`, `&a[i]`, `bufs[TG_NBUFS]`, or `p + n`.
    pub(super) fn ptr(&self, ctx: &Ctx, text: &str) -> R<Ptr> {
        let t = unbrace(text.trim());
        let t = t.trim();
        if t == "bufs[TG_NBUFS]" {
            return Ok(Ptr {
                base: Base::Sh,
                off: num(0),
                elem: num(1),
                region: None,
            });
        }
        if let Some((ty, rest)) = cast(t) {
            let (head, tail) = if rest.starts_with('(') {
                let c = closing(rest).ok_or("unbalanced")?;
                (&rest[..=c], &rest[c + 1..])
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            let mut p = self.ptr(ctx, head)?;
            p.elem = type_bytes(ty).ok_or("type")?;
            return self.offset(ctx, p, tail);
        }
        if t.starts_with('(') && closing(t) == Some(t.len() - 1) {
            return self.ptr(ctx, &t[1..t.len() - 1]);
        }
        if let Some(rest) = t.strip_prefix('&') {
            let open = rest.find('[').ok_or("&a[i]")?;
            let p = self.ptr(ctx, &rest[..open])?;
            return self.offset(ctx, p, &format!("+ {}", &rest[open + 1..rest.len() - 1]));
        }
        if t.starts_with('(') {
            let c = closing(t).ok_or("unbalanced")?;
            let p = self.ptr(ctx, &t[..=c])?;
            return self.offset(ctx, p, &t[c + 1..]);
        }
        let e = expr::parse(t)?;
        let ptrs: Vec<String> = e
            .symbols()
            .into_iter()
            .filter(|n| matches!(Self::lookup(ctx, n), Some(Val::Ptr(_))))
            .collect();
        let [p] = &ptrs[..] else {
            return Err(format!("{t:?} names {} pointers", ptrs.len()));
        };
        let Some(Val::Ptr(base)) = Self::lookup(ctx, p) else {
            unreachable!("filtered")
        };
        let (coef, rest) = e.split_strides(std::slice::from_ref(p))?;
        if coef[0] != num(1) {
            return Err(format!("{t:?} is not {p} + offset"));
        }
        self.advance(ctx, base, &rest)
    }

    /// `p` advanced by the C text `tail` (`+ n`, `- n`, or nothing).
    fn offset(&self, ctx: &Ctx, p: Ptr, tail: &str) -> R<Ptr> {
        let tail = tail.trim();
        if tail.is_empty() {
            return Ok(p);
        }
        self.advance(ctx, p, &expr::parse(&format!("0 {tail}"))?)
    }

    pub(super) fn advance(&self, ctx: &Ctx, mut p: Ptr, by: &Expr) -> R<Ptr> {
        let by = self.resolve(ctx, by)?;
        let scale = if matches!(p.base, Base::Operand(..)) {
            num(1)
        } else {
            p.elem.clone()
        };
        p.off = add(p.off, mul(by, scale));
        Ok(p)
    }
}

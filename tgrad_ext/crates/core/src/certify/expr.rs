//! The integer expressions of the template model, written in C syntax as the templates write
//! them: parsed, evaluated with C's semantics (truncating division, comparisons as 0/1),
//! substituted, split into stride coefficients, and printed as SMT-LIB terms.
//!
//! Names are C identifiers with their member and constant-index suffixes (`P->op[1].sm`,
//! `e->p0`, `sizeof(TG_ACC)`); casts to integer types are dropped; `tg_min` is the only call.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Num(i64),
    Sym(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Ite(Box<Expr>, Box<Expr>, Box<Expr>),
    Min(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// `x & mask` with a literal mask `~(2^j - 1)`: x rounded down to a multiple of 2^j.
    AndMask,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl Op {
    fn is_bool(self) -> bool {
        matches!(
            self,
            Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne | Op::And | Op::Or
        )
    }
}

/// Integer types a cast may name (dropped: the model's values are exact integers).
const INT_TYPES: [&str; 5] = ["int64_t", "int32_t", "int", "long", "size_t"];

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// `#` ends the model's names of trip counters (`jr#`: the iterations of the loop over jr).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '#'
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Punct(&'static str),
}

const PUNCT: [&str; 23] = [
    "&&", "||", "<=", ">=", "==", "!=", "->", "+", "-", "*", "/", "%", "<", ">", "!", "(", ")",
    "?", ":", ",", "&", "~", ".",
];

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_ascii_digit() {
            let st = i;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            let v: String = c[st..i].iter().collect();
            // integer suffixes (64L, 1u) mean nothing to the model
            while i < c.len() && matches!(c[i], 'l' | 'L' | 'u' | 'U') {
                i += 1;
            }
            out.push(Tok::Num(v.parse().map_err(|_| format!("number {v}"))?));
        } else if is_name_start(c[i]) {
            let st = i;
            while i < c.len() && is_name_char(c[i]) {
                i += 1;
            }
            // member and constant-index suffixes belong to the name: P->op[1].sm
            loop {
                let rest: String = c[i..].iter().take(2).collect();
                if rest == "->" && c.get(i + 2).is_some_and(|&x| is_name_start(x)) {
                    i += 2;
                } else if rest.starts_with('.') && c.get(i + 1).is_some_and(|&x| is_name_start(x)) {
                    i += 1;
                } else if rest.starts_with('[') {
                    let mut j = i + 1;
                    while j < c.len() && c[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j > i + 1 && c.get(j) == Some(&']') {
                        i = j + 1;
                        continue;
                    }
                    break;
                } else {
                    break;
                }
                while i < c.len() && is_name_char(c[i]) {
                    i += 1;
                }
            }
            let name: String = c[st..i].iter().collect();
            if name == "sizeof" {
                let close = c[i..].iter().position(|&x| x == ')').ok_or("sizeof(")?;
                let inner: String = c[i..=i + close]
                    .iter()
                    .filter(|x| !x.is_whitespace())
                    .collect();
                out.push(Tok::Name(format!("sizeof{inner}")));
                i += close + 1;
            } else {
                out.push(Tok::Name(name));
            }
        } else {
            let rest: String = c[i..].iter().take(2).collect();
            let p = PUNCT
                .iter()
                .find(|p| rest.starts_with(**p))
                .ok_or_else(|| format!("unexpected {:?} in {s:?}", c[i]))?;
            out.push(Tok::Punct(p));
            i += p.len();
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(x)) if *x == p) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(format!("expected {p:?} at token {}", self.at))
        }
    }

    fn ternary(&mut self) -> Result<Expr, String> {
        let c = self.binary(0)?;
        if self.eat("?") {
            let a = self.ternary()?;
            self.expect(":")?;
            let b = self.ternary()?;
            return Ok(Expr::Ite(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: [&[(&str, Op)]; 7] = [
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[("&", Op::AndMask)],
            &[("==", Op::Eq), ("!=", Op::Ne)],
            &[("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Mod)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut e = self.binary(level + 1)?;
        'outer: loop {
            for (p, op) in LEVELS[level] {
                if self.eat(p) {
                    let r = self.binary(level + 1)?;
                    e = Expr::Bin(*op, Box::new(e), Box::new(r));
                    continue 'outer;
                }
            }
            return Ok(e);
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("~") {
            return match self.unary()? {
                Expr::Num(v) => Ok(Expr::Num(!v)),
                e => Err(format!("~ of a non-literal {e:?}")),
            };
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.peek().cloned() {
            Some(Tok::Num(v)) => {
                self.at += 1;
                Ok(Expr::Num(v))
            }
            Some(Tok::Name(n)) => {
                self.at += 1;
                if n == "tg_min" {
                    self.expect("(")?;
                    let a = self.ternary()?;
                    self.expect(",")?;
                    let b = self.ternary()?;
                    self.expect(")")?;
                    return Ok(Expr::Min(Box::new(a), Box::new(b)));
                }
                Ok(Expr::Sym(n))
            }
            Some(Tok::Punct("(")) => {
                self.at += 1;
                // a cast to an integer type: (int64_t)x
                if let Some(Tok::Name(t)) = self.peek() {
                    if INT_TYPES.contains(&t.as_str())
                        && self.toks.get(self.at + 1) == Some(&Tok::Punct(")"))
                    {
                        self.at += 2;
                        return self.unary();
                    }
                }
                let e = self.ternary()?;
                self.expect(")")?;
                Ok(e)
            }
            t => Err(format!("unexpected {t:?}")),
        }
    }
}

/// Parse a C integer expression.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(s)?,
        at: 0,
    };
    let e = p.ternary().map_err(|e| format!("{e} in {s:?}"))?;
    if p.at != p.toks.len() {
        return Err(format!("trailing text in {s:?} at token {}", p.at));
    }
    if let Some(bad) = masks(&e)
        .into_iter()
        .find(|m| m.count_ones() != 64 - m.trailing_zeros())
    {
        return Err(format!(
            "& with mask {bad} (only ~(2^j - 1) masks) in {s:?}"
        ));
    }
    Ok(e)
}

fn masks(e: &Expr) -> Vec<i64> {
    let mut out = vec![];
    e.visit(&mut |x| {
        if let Expr::Bin(Op::AndMask, _, m) = x {
            match **m {
                Expr::Num(v) => out.push(v),
                _ => out.push(1),
            }
        }
    });
    out
}

/// A symbol name as SMT-LIB writes it: `P->op[1].sm` is `P.op1.sm`.
pub fn smt_name(c: &str) -> String {
    c.replace("->", ".")
        .replace('#', "@n")
        .chars()
        .filter(|x| !matches!(x, '[' | ']' | '(' | ')'))
        .collect()
}

impl Expr {
    pub fn sym(s: &str) -> Expr {
        Expr::Sym(s.to_string())
    }

    pub fn bin(op: Op, a: Expr, b: Expr) -> Expr {
        Expr::Bin(op, Box::new(a), Box::new(b))
    }

    /// Every node, parents before children.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Num(_) | Expr::Sym(_) => {}
            Expr::Neg(a) | Expr::Not(a) => a.visit(f),
            Expr::Bin(_, a, b) | Expr::Min(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Ite(c, a, b) => {
                c.visit(f);
                a.visit(f);
                b.visit(f);
            }
        }
    }

    pub fn symbols(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit(&mut |e| {
            if let Expr::Sym(s) = e {
                out.insert(s.clone());
            }
        });
        out
    }

    /// Replace symbols `f` maps.
    pub fn subst(&self, f: &dyn Fn(&str) -> Option<Expr>) -> Expr {
        let b = |e: &Expr| Box::new(e.subst(f));
        match self {
            Expr::Num(_) => self.clone(),
            Expr::Sym(s) => f(s).unwrap_or_else(|| self.clone()),
            Expr::Neg(a) => Expr::Neg(b(a)),
            Expr::Not(a) => Expr::Not(b(a)),
            Expr::Bin(op, x, y) => Expr::Bin(*op, b(x), b(y)),
            Expr::Ite(c, x, y) => Expr::Ite(b(c), b(x), b(y)),
            Expr::Min(x, y) => Expr::Min(b(x), b(y)),
        }
    }

    /// The value with C's semantics, every intermediate in 128 bits (None: an unbound symbol,
    /// a division by zero).
    pub fn eval(&self, env: &dyn Fn(&str) -> Option<i128>) -> Option<i128> {
        let t = |b: bool| i128::from(b);
        Some(match self {
            Expr::Num(v) => i128::from(*v),
            Expr::Sym(s) => env(s)?,
            Expr::Neg(a) => -a.eval(env)?,
            Expr::Not(a) => t(a.eval(env)? == 0),
            Expr::Ite(c, a, b) => {
                if c.eval(env)? != 0 {
                    a.eval(env)?
                } else {
                    b.eval(env)?
                }
            }
            Expr::Min(a, b) => a.eval(env)?.min(b.eval(env)?),
            Expr::Bin(Op::And, a, b) => t(a.eval(env)? != 0 && b.eval(env)? != 0),
            Expr::Bin(Op::Or, a, b) => t(a.eval(env)? != 0 || b.eval(env)? != 0),
            Expr::Bin(op, a, b) => {
                let (x, y) = (a.eval(env)?, b.eval(env)?);
                match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x.checked_mul(y)?,
                    Op::Div => x.checked_div(y)?,
                    Op::Mod => x.checked_rem(y)?,
                    Op::AndMask => x & y,
                    Op::Lt => t(x < y),
                    Op::Le => t(x <= y),
                    Op::Gt => t(x > y),
                    Op::Ge => t(x >= y),
                    Op::Eq => t(x == y),
                    Op::Ne => t(x != y),
                    Op::And | Op::Or => unreachable!("handled above"),
                }
            }
        })
    }

    fn is_bool(&self) -> bool {
        match self {
            Expr::Not(_) => true,
            Expr::Bin(op, _, _) => op.is_bool(),
            _ => false,
        }
    }

    /// (dividend, divisor) of every `/`, `%` and mask: C and SMT-LIB agree on them only where
    /// the dividend is non-negative and the divisor positive.
    pub fn divisions(&self) -> Vec<(Expr, Expr)> {
        let mut out = vec![];
        self.visit(&mut |e| match e {
            Expr::Bin(Op::Div | Op::Mod, a, b) => out.push(((**a).clone(), (**b).clone())),
            Expr::Bin(Op::AndMask, a, _) => out.push(((**a).clone(), Expr::Num(1))),
            _ => {}
        });
        out
    }

    /// Every arithmetic node (the values C computes in 64 bits).
    pub fn arithmetic(&self) -> Vec<Expr> {
        let mut out = vec![];
        self.visit(&mut |e| match e {
            Expr::Bin(op, _, _) if !op.is_bool() => out.push(e.clone()),
            Expr::Neg(_) | Expr::Sym(_) => out.push(e.clone()),
            _ => {}
        });
        out
    }

    /// `self` as `sum(coef[i] * strides[i]) + rest`, where `rest` and every coefficient are free
    /// of the strides; an error where a stride multiplies a stride or hides in a non-linear node.
    pub fn split_strides(&self, strides: &[String]) -> Result<(Vec<Expr>, Expr), String> {
        let zero = || Expr::Num(0);
        let has = |e: &Expr| e.symbols().iter().any(|s| strides.contains(s));
        let add = |a: Expr, b: Expr| simplify_add(a, b);
        match self {
            Expr::Sym(s) if strides.contains(s) => {
                let coef = strides
                    .iter()
                    .map(|x| Expr::Num(i64::from(x == s)))
                    .collect();
                Ok((coef, zero()))
            }
            Expr::Neg(a) => {
                let (c, r) = a.split_strides(strides)?;
                Ok((c.into_iter().map(neg).collect(), neg(r)))
            }
            Expr::Bin(op @ (Op::Add | Op::Sub), a, b) => {
                let (ca, ra) = a.split_strides(strides)?;
                let (cb, rb) = b.split_strides(strides)?;
                let f = |x: Expr| if *op == Op::Sub { neg(x) } else { x };
                let coef = ca.into_iter().zip(cb).map(|(x, y)| add(x, f(y))).collect();
                Ok((coef, add(ra, f(rb))))
            }
            Expr::Bin(Op::Mul, a, b) if has(a) && has(b) => {
                Err(format!("a stride times a stride in {self:?}"))
            }
            Expr::Bin(Op::Mul, a, b) if has(a) || has(b) => {
                let (s, k) = if has(a) { (a, b) } else { (b, a) };
                let (c, r) = s.split_strides(strides)?;
                let m = |x: Expr| mul((**k).clone(), x);
                Ok((c.into_iter().map(m).collect(), m(r)))
            }
            e if has(e) => Err(format!("a stride inside a non-linear term {e:?}")),
            e => Ok((strides.iter().map(|_| zero()).collect(), e.clone())),
        }
    }
}

fn neg(e: Expr) -> Expr {
    match e {
        Expr::Num(v) => Expr::Num(-v),
        e => Expr::Neg(Box::new(e)),
    }
}

fn simplify_add(a: Expr, b: Expr) -> Expr {
    match (a, b) {
        (Expr::Num(0), x) | (x, Expr::Num(0)) => x,
        (Expr::Num(x), Expr::Num(y)) => Expr::Num(x + y),
        (x, y) => Expr::bin(Op::Add, x, y),
    }
}

fn mul(a: Expr, b: Expr) -> Expr {
    match (a, b) {
        (Expr::Num(0), _) | (_, Expr::Num(0)) => Expr::Num(0),
        (Expr::Num(1), x) | (x, Expr::Num(1)) => x,
        (x, y) => Expr::bin(Op::Mul, x, y),
    }
}

mod text;

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str, vars: &[(&str, i128)]) -> Option<i128> {
        parse(s)
            .unwrap()
            .eval(&|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
    }

    #[test]
    fn c_semantics_names_and_casts() {
        assert_eq!(ev("(M + mch - 1) / mch", &[("M", 10), ("mch", 3)]), Some(4));
        assert_eq!(ev("-7 / 2", &[]), Some(-3), "C truncates");
        assert_eq!(ev("(x + 63) & ~(int64_t)63", &[("x", 65)]), Some(128));
        assert_eq!(
            ev("a < b ? tg_min(a, 3) : 9", &[("a", 5), ("b", 6)]),
            Some(3)
        );
        assert_eq!(ev("1 / z", &[("z", 0)]), None);
        let e = parse("P->op[1].sm * sizeof(TG_ACC) + e->p0").unwrap();
        let syms: Vec<String> = e.symbols().into_iter().collect();
        assert_eq!(syms, ["P->op[1].sm", "e->p0", "sizeof(TG_ACC)"]);
        assert_eq!(smt_name("P->op[1].sm"), "P.op1.sm");
        assert!(parse("x & 5").is_err(), "only round-down masks");
        assert!(parse("f(x)").is_err());
    }

    #[test]
    fn smt_terms_and_stride_coefficients() {
        let e = parse("k + 8 <= kc && !(c < 7)").unwrap();
        assert_eq!(e.smt_bool(), "(and (<= (+ k 8) kc) (not (< c 7)))");
        assert_eq!(parse("x & ~63").unwrap().smt(), "(- x (mod x 64))");
        let strides = vec!["sm".to_string(), "sk".to_string()];
        let (c, r) = parse("(i0 + i) * sm - k * sk + 3")
            .unwrap()
            .split_strides(&strides)
            .unwrap();
        assert_eq!(c[0].c(), "(i0 + i)");
        assert_eq!(c[1].c(), "-(k)");
        assert_eq!(r, Expr::Num(3));
        assert!(parse("sm * sk").unwrap().split_strides(&strides).is_err());
        assert!(parse("tg_min(sm, 2)")
            .unwrap()
            .split_strides(&strides)
            .is_err());
        assert_eq!(parse("a / b % c").unwrap().divisions().len(), 2);
    }
}

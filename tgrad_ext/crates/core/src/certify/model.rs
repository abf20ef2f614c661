//! The template model: a small indented language (`gemm.model`) that mirrors the CPU GEMM
//! template function by function, in the template's own C text. Each statement names the
//! source text it stands for (checked against the rendered program by `bind`), so the model
//! cannot silently drift from the code.
//!
//! Top level: `pre EXPR` (a precondition), `def NAME = EXPR`, `region NAME ws|sh [LO, HI)`,
//! `disjoint R1 R2`, `scratch ws|sh = EXPR`, `root NAME`, `fn NAME(params)` with an indented
//! body (`*p`: a pointer parameter, `~p`: a value the model ignores). Body statements:
//! `let`, `ptr NAME = PTR [in REGION]`, `array NAME LEN TYPE`, `operand NAME O at BATCH`,
//! `epilogue at BATCH`, `for (INIT; COND; STEPS) [from EXPR]`, `do INIT; STEP; while (COND);
//! inv EXPR`, `claim VAR while COND`, `if EXPR|? [exits]`, `else`, `guard EXPR`, `lemma EXPR [forget NAMES]`, `#if EXPR`,
//! `#else`, `unroll VAR < EXPR`, `call "f(args)" [where p = NAME]`, `own C rows [..) cols [..)
//! [batch X]`, `own mem PTR bytes W`, `partition NAME [when EXPR] index V.. over RECT item RECT witness
//! V = E, ..` (with `apart EXPR` and `cover EXPR` steps indented under it), `subst TEXT => TEXT`, and accesses `read|write|rmw|atomic TAG
//! "SNIPPET" [bytes W] [unit m|n|k]`. Any statement may end in `check "TEXT"`: the source text
//! it stands for, where it differs from the statement's own text.

use super::expr::{self, Expr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Ws,
    Sh,
}

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub space: Space,
    pub lo: Expr,
    pub hi: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Ptr,
    Ignored,
}

#[derive(Debug, Clone)]
pub struct Func {
    pub name: String,
    pub params: Vec<(String, ParamKind)>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
    Rmw,
    Atomic,
}

#[derive(Debug, Clone)]
pub struct Access {
    pub kind: AccessKind,
    pub tag: String,
    pub snippet: String,
    pub bytes: Option<Expr>,
    /// Dims the offset with no stride runs along (the first the operand spans), e.g. `n,m`.
    pub unit: Vec<char>,
}

#[derive(Debug, Clone)]
pub struct Rect {
    pub rows: (Expr, Expr),
    pub cols: Option<(Expr, Expr)>,
    pub batch: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct Partition {
    pub name: String,
    pub when: Option<Expr>,
    pub index: Vec<String>,
    /// The space the items cover (`batch N`: batch indices 0..N).
    pub over: Rect,
    pub item: Rect,
    pub witness: Vec<(String, Expr)>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Let(String, Expr),
    Ptr(String, String, Option<String>),
    Array(String, Expr, String),
    Operand(String, usize, Expr),
    Epilogue(Expr),
    /// inits, condition, steps (name, +step), start of an init-less loop
    For(Vec<(String, Expr)>, Expr, Vec<(String, Expr)>, Option<Expr>),
    Do {
        var: String,
        init: Expr,
        step: Expr,
        cond: Expr,
        inv: Expr,
    },
    Claim(String, Expr),
    If(Option<Expr>, bool),
    Guard(Expr),
    /// A fact proven where it stands and assumed after; the definitions of the named symbols and
    /// the facts about them are dropped (the lemma is what later obligations need of them).
    Lemma(Expr, Vec<String>),
    IfFlag(Expr),
    Unroll(String, Expr),
    Call(String, Vec<(String, String)>),
    OwnC(Rect),
    OwnMem(String, Expr),
    Partition(Box<Partition>),
    /// Under a partition: a step of its disjointness (`apart`, true of both items) or covering
    /// (`cover`, of the witness) proof, proven from the steps before it and then assumed.
    Hint(bool, Expr),
    Access(Access),
    Subst(String, String),
}

#[derive(Debug, Clone)]
pub struct Stmt {
    pub line: usize,
    pub kind: Kind,
    /// The source text this statement stands for (None: a declaration of the model's own).
    pub check: Option<String>,
    pub body: Vec<Stmt>,
    pub else_body: Option<Vec<Stmt>>,
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub pre: Vec<Expr>,
    pub defs: Vec<(String, Expr)>,
    pub regions: Vec<Region>,
    pub disjoint: Vec<(String, String)>,
    pub scratch_ws: Option<Expr>,
    pub scratch_sh: Option<Expr>,
    pub funcs: Vec<Func>,
    pub root: String,
}

impl Model {
    pub fn func(&self, name: &str) -> Option<&Func> {
        self.funcs.iter().find(|f| f.name == name)
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }
}

/// Placeholders `{e}` (values the generator unrolls): a literal as itself (`e->p{0}` is
/// `e->p0`), an expression in parentheses.
pub fn unbrace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').map_or(rest.len(), |e| i + e);
        let inner = &rest[i + 1..end.min(rest.len())];
        if inner.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(inner);
        } else {
            out.push('(');
            out.push_str(inner);
            out.push(')');
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

fn ex(s: &str) -> Result<Expr, String> {
    expr::parse(&unbrace(s))
}

/// `text` split at its last top-level ` check "..."`.
fn split_check(text: &str) -> (String, Option<String>) {
    if let Some(i) = text.rfind(" check \"") {
        let q = &text[i + 8..];
        if let Some(end) = q.rfind('"') {
            return (text[..i].trim().to_string(), Some(q[..end].to_string()));
        }
    }
    (text.trim().to_string(), None)
}

fn quoted(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    let rest = s
        .strip_prefix('"')
        .ok_or_else(|| format!("expected a quoted snippet in {s:?}"))?;
    let end = rest.find('"').ok_or("unterminated snippet")?;
    Ok((rest[..end].to_string(), &rest[end + 1..]))
}

/// Split `s` at top-level commas.
pub fn top_commas(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0);
    for c in s.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

mod forms;

use forms::{access, call, do_loop, for_stmt, interval, own, partition};

fn stmt(text: &str, line: usize) -> Result<Stmt, String> {
    let (text, mut check) = split_check(text);
    let (word, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
    let rest = rest.trim();
    let kind = match word {
        "let" => {
            let (n, e) = rest.split_once('=').ok_or("let NAME = EXPR")?;
            check.get_or_insert_with(|| rest.to_string());
            Kind::Let(n.trim().to_string(), ex(e)?)
        }
        "ptr" => {
            let (n, e) = rest.split_once('=').ok_or("ptr NAME = PTR")?;
            let (e, region) = match e.rsplit_once(" in ") {
                Some((e, r)) => (e.trim(), Some(r.trim().to_string())),
                None => (e.trim(), None),
            };
            check.get_or_insert_with(|| format!("{} = {e}", n.trim()));
            Kind::Ptr(n.trim().to_string(), e.to_string(), region)
        }
        "array" => {
            let (n, r) = rest.split_once(' ').ok_or("array NAME LEN TYPE")?;
            let (len, ty) = r.rsplit_once(' ').ok_or("array NAME LEN TYPE")?;
            Kind::Array(n.to_string(), ex(len)?, ty.to_string())
        }
        "operand" => {
            let v: Vec<&str> = rest.splitn(4, ' ').collect();
            let [n, o, "at", b] = v[..] else {
                return Err("operand NAME O at BATCH".into());
            };
            Kind::Operand(
                n.to_string(),
                o.parse().map_err(|_| "operand index")?,
                ex(b)?,
            )
        }
        "epilogue" => Kind::Epilogue(ex(rest.strip_prefix("at").ok_or("epilogue at B")?)?),
        "for" => {
            let (k, text) = for_stmt(rest)?;
            check.get_or_insert(text);
            k
        }
        "do" => do_loop(rest)?,
        "read" | "write" | "rmw" | "atomic" => {
            let a = access(word, rest)?;
            check = Some(a.snippet.clone());
            Kind::Access(a)
        }
        "claim" => {
            let (v, c) = rest.split_once(" while ").ok_or("claim VAR while COND")?;
            check.get_or_insert_with(|| c.trim().to_string());
            Kind::Claim(v.trim().to_string(), ex(c)?)
        }
        "if" => {
            let (c, exits) = match rest.strip_suffix(" exits") {
                Some(c) => (c.trim(), true),
                None => (rest, false),
            };
            if c == "?" {
                Kind::If(None, exits)
            } else {
                check.get_or_insert_with(|| format!("if ({c})"));
                Kind::If(Some(ex(c)?), exits)
            }
        }
        "guard" => Kind::Guard(ex(rest)?),
        "lemma" => match rest.split_once(" forget ") {
            Some((e, f)) => {
                Kind::Lemma(ex(e)?, f.split(',').map(|x| x.trim().to_string()).collect())
            }
            None => Kind::Lemma(ex(rest)?, vec![]),
        },
        "#if" => Kind::IfFlag(ex(rest)?),
        "unroll" => {
            let (v, n) = rest.split_once('<').ok_or("unroll VAR < N")?;
            Kind::Unroll(v.trim().to_string(), ex(n)?)
        }
        "call" => {
            let k = call(rest)?;
            if let Kind::Call(snip, _) = &k {
                check.get_or_insert_with(|| snip.clone());
            }
            k
        }
        "own" => own(rest)?,
        "partition" => partition(rest)?,
        "apart" => Kind::Hint(false, ex(rest)?),
        "cover" => Kind::Hint(true, ex(rest)?),
        "subst" => {
            let (a, b) = rest.split_once(" => ").ok_or("subst A => B")?;
            Kind::Subst(a.trim().to_string(), b.trim().to_string())
        }
        _ => return Err(format!("unknown statement {word:?}")),
    };
    Ok(Stmt {
        line,
        kind,
        check,
        body: vec![],
        else_body: None,
    })
}

/// Parse a model text.
pub fn parse(text: &str) -> Result<Model, String> {
    let mut m = Model::default();
    // (indent, line number, text) of the non-blank, non-comment lines
    let lines: Vec<(usize, usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("# "))
        .filter(|(_, l)| l.trim() != "#")
        .map(|(i, l)| (l.len() - l.trim_start().len(), i + 1, l.trim()))
        .collect();
    let mut at = 0;
    while at < lines.len() {
        let (indent, no, l) = lines[at];
        let err = |e: String| format!("model line {no}: {e}");
        if indent != 0 {
            return Err(err("top-level statements start at column 0".into()));
        }
        at += 1;
        let (word, rest) = l.split_once(' ').unwrap_or((l, ""));
        match word {
            "pre" => m.pre.push(ex(rest).map_err(err)?),
            "def" => {
                let (n, e) = rest
                    .split_once('=')
                    .ok_or_else(|| err("def NAME = EXPR".into()))?;
                m.defs.push((n.trim().to_string(), ex(e).map_err(err)?));
            }
            "region" => {
                let v: Vec<&str> = rest.splitn(3, ' ').collect();
                let [name, space, iv] = v[..] else {
                    return Err(err("region NAME ws|sh [..)".into()));
                };
                let space = if space == "ws" { Space::Ws } else { Space::Sh };
                let ((lo, hi), _) = interval(iv).map_err(err)?;
                m.regions.push(Region {
                    name: name.to_string(),
                    space,
                    lo,
                    hi,
                });
            }
            "disjoint" => {
                let (a, b) = rest
                    .split_once(' ')
                    .ok_or_else(|| err("disjoint A B".into()))?;
                m.disjoint.push((a.to_string(), b.trim().to_string()));
            }
            "scratch" => {
                let (s, e) = rest
                    .split_once('=')
                    .ok_or_else(|| err("scratch ws|sh = E".into()))?;
                let e = ex(e).map_err(err)?;
                if s.trim() == "ws" {
                    m.scratch_ws = Some(e);
                } else {
                    m.scratch_sh = Some(e);
                }
            }
            "root" => rest.clone_into(&mut m.root),
            "fn" => {
                let (name, params) = rest
                    .split_once('(')
                    .ok_or_else(|| err("fn NAME(..)".into()))?;
                let params = params.trim_end_matches(')');
                let params = top_commas(params)
                    .into_iter()
                    .map(|p| match p.chars().next() {
                        Some('*') => (p[1..].to_string(), ParamKind::Ptr),
                        Some('~') => (p[1..].to_string(), ParamKind::Ignored),
                        _ => (p, ParamKind::Int),
                    })
                    .collect();
                let body = block(&lines, &mut at, 2)?;
                m.funcs.push(Func {
                    name: name.trim().to_string(),
                    params,
                    body,
                });
            }
            _ => return Err(err(format!("unknown top-level statement {word:?}"))),
        }
    }
    Ok(m)
}

fn block(
    lines: &[(usize, usize, &str)],
    at: &mut usize,
    indent: usize,
) -> Result<Vec<Stmt>, String> {
    let mut out: Vec<Stmt> = vec![];
    while *at < lines.len() && lines[*at].0 >= indent {
        let (ind, no, l) = lines[*at];
        if ind != indent {
            return Err(format!(
                "model line {no}: indented {ind}, expected {indent}"
            ));
        }
        *at += 1;
        if l == "else" || l == "#else" {
            let body = block(lines, at, indent + 2)?;
            let last = out
                .last_mut()
                .ok_or(format!("model line {no}: else without if"))?;
            last.else_body = Some(body);
            continue;
        }
        let mut s = stmt(l, no).map_err(|e| format!("model line {no}: {e}"))?;
        s.body = block(lines, at, indent + 2)?;
        out.push(s);
    }
    Ok(out)
}

//! The model bound to the code: for a rendered program and its configuration, every model
//! statement compiled in that configuration names text that occurs in its function, every
//! access is on a source line carrying its tag, the tags in the source are exactly the model's,
//! and no line accesses memory without a tag. The source is read after its `#if`s (`compiled`).
//!
//! An access is a subscript with a non-constant index, a dereference (`*(T*)p`, `*p`), an atomic
//! or a `__builtin_memcpy`. Constant subscripts are accesses too, of arrays whose extent the
//! source states (`int64_t bidx[TG_MAX_BATCH]`, `tg_operand op[4]`, `tg_v x[8]`); they are checked
//! here against it. Prefetches are not accesses (they never fault).

use std::collections::{BTreeMap, BTreeSet};

use super::config::{header_values, Config};
use super::expr;
use super::walk::Site;

/// The lines of `src` its `#if`s keep, for the integer defines `defs` (other conditions, like
/// the host checks of `tg_pause`, keep both branches).
pub fn compiled(src: &str, defs: &BTreeMap<String, i64>) -> String {
    let mut out = String::new();
    // per open #if: (this branch is kept, the #if's condition is known)
    let mut stack: Vec<(bool, bool)> = vec![];
    for line in src.lines() {
        let t = line.trim_start();
        let live = stack.iter().all(|(keep, _)| *keep);
        if let Some(c) = t.strip_prefix("#if ") {
            let known = c.trim().strip_prefix("TG_").is_some() && defs.contains_key(c.trim());
            let keep = !known || defs.get(c.trim()).is_some_and(|v| *v != 0);
            stack.push((keep, known));
        } else if t.starts_with("#ifndef") || t.starts_with("#ifdef") {
            stack.push((true, false));
        } else if t.starts_with("#else") {
            if let Some(top) = stack.last_mut() {
                if top.1 {
                    top.0 = !top.0;
                }
            }
        } else if t.starts_with("#endif") {
            stack.pop();
        } else if live {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The tags on a line.
pub fn tags(line: &str) -> Vec<String> {
    line.split("@tg:")
        .skip(1)
        .map(|r| {
            r.chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
                .collect()
        })
        .collect()
}

/// `text` with its comments blanked (line breaks kept, so lines still match).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(a) = rest.find("/*") {
        out.push_str(&rest[..a]);
        let end = rest[a..].find("*/").map_or(rest.len(), |b| a + b + 2);
        out.extend(
            rest[a..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' }),
        );
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A snippet as a matcher: whitespace runs match any whitespace, `{..}` any integer.
fn matches(hay: &str, snippet: &str) -> bool {
    let hay = squash(hay);
    let parts: Vec<String> = squash(snippet).split('{').map(str::to_string).collect();
    // literal pieces between placeholders, each followed by an integer in the text
    let mut pieces = vec![parts[0].clone()];
    for p in &parts[1..] {
        pieces.push(
            p.split_once('}')
                .map_or(String::new(), |(_, rest)| rest.to_string()),
        );
    }
    (0..hay.len())
        .filter(|i| hay.is_char_boundary(*i))
        .any(|start| {
            let mut at = start;
            for (k, piece) in pieces.iter().enumerate() {
                if k > 0 {
                    let digits = hay[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '-')
                        .count();
                    if digits == 0 {
                        return false;
                    }
                    at += digits;
                }
                if !hay[at..].starts_with(piece.as_str()) {
                    return false;
                }
                at += piece.len();
            }
            true
        })
}

/// The body of function `name` (from its definition to the closing brace at column 0).
fn function<'a>(src: &'a [&'a str], name: &str) -> Option<&'a [&'a str]> {
    let pat = format!(" {name}(");
    let start = src
        .iter()
        .position(|l| !l.starts_with(' ') && l.contains(&pat) && !l.trim_end().ends_with(';'))?;
    let len = src[start..]
        .iter()
        .position(|l| *l == "}" || l.starts_with('}'))?;
    Some(&src[start..=start + len])
}

fn flags_hold(site: &Site, cfg: &Config) -> bool {
    site.flags.iter().all(|f| {
        expr::parse(f)
            .ok()
            .and_then(|e| e.eval(&|n| cfg.get(n).map(|v| i128::from(*v))))
            == Some(1)
    })
}

/// A declaration `T name[N]` (type words, a name, a bracketed extent, nothing assigned).
fn declared(piece: &str) -> Option<(String, String)> {
    let d = piece.trim().trim_start_matches('{').trim();
    let open = d.find('[')?;
    let close = d[open..].find(']')? + open;
    let head = &d[..open];
    let name: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let ty = head[..head.len() - name.len()].trim();
    let is_type = !ty.is_empty()
        && ty
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ' ' || c == '*');
    let ext = d[open + 1..close].trim().to_string();
    (is_type && !name.is_empty() && !d.contains('=')).then(|| (name.chars().rev().collect(), ext))
}

/// A constant index: a number or a name the header defines.
fn constant(index: &str, defs: &BTreeMap<String, i64>) -> Option<i64> {
    index
        .trim()
        .parse()
        .ok()
        .or_else(|| defs.get(index.trim()).copied())
}

/// Extents of the arrays constant subscripts may index, as the source declares them.
fn extents(code: &str, defs: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for piece in code.split([';', '{']) {
        if let Some((name, ext)) = declared(piece) {
            if let Some(n) = constant(&ext, defs) {
                out.insert(name, n);
            }
        }
    }
    // a GEMM's buffers, then its shared workspace; a loop program's `b0`, `b1`, .. (declared
    // `T* restrict bN = (T*)bufs[N]`)
    let loop_bufs = code.matches("* restrict b").count() as i64;
    out.insert(
        "bufs".into(),
        defs.get("TG_NBUFS").map_or(loop_bufs, |n| n + 1),
    );
    out
}

/// Whether code accesses memory other than through constant subscripts.
fn accesses(c: &str, defs: &BTreeMap<String, i64>) -> bool {
    if c.contains("__atomic_") || c.contains("__builtin_memcpy") {
        return true;
    }
    let b = c.as_bytes();
    for (i, ch) in c.char_indices() {
        if ch == '*' {
            let rest = c[i + 1..].trim_start();
            let before = c[..i].trim_end();
            let unary = before.is_empty() || before.ends_with(['=', '(', ',', ';', '{', '?', ':']);
            if unary
                && (rest.starts_with('(')
                    || rest.starts_with(|x: char| x.is_alphabetic() || x == '_'))
            {
                return true;
            }
        }
        if ch == '['
            && i > 0
            && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b')')
        {
            let close = c[i..].find(']').map_or(c.len(), |e| i + e);
            if constant(&c[i + 1..close], defs).is_none() {
                return true;
            }
        }
    }
    false
}

/// Constant subscripts `name[N]` in code.
fn constant_subscripts(code: &str, defs: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut out = vec![];
    for (i, _) in code.match_indices('[') {
        let close = code[i..].find(']').map_or(code.len(), |e| i + e);
        let Some(n) = constant(&code[i + 1..close], defs) else {
            continue;
        };
        let name: String = code[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        out.push((name.chars().rev().collect(), n));
    }
    out
}

/// Everything wrong with `src` (a rendered program of configuration `cfg`) against the model's
/// `sites`; empty when the model and the code agree.
pub fn check(src: &str, cfg: &Config, sites: &BTreeSet<Site>) -> Vec<String> {
    let defs = header_values(src);
    let text = compiled(src, &defs);
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = vec![];
    let mut want_tags = BTreeSet::new();
    for s in sites.iter().filter(|s| flags_hold(s, cfg)) {
        let body = function(&lines, &s.func).unwrap_or(&lines);
        if let Some(tag) = &s.tag {
            want_tags.insert(tag.clone());
            let on_line = body
                .iter()
                .any(|l| tags(l).contains(tag) && matches(&without_comments(l), &s.check));
            if !on_line {
                problems.push(format!(
                    "{}: no line tagged @tg:{tag} has `{}`",
                    s.func, s.check
                ));
            }
        } else if !body.iter().any(|l| matches(&without_comments(l), &s.check))
            && !matches(&body.join("\n"), &s.check)
        {
            problems.push(format!("{}: `{}` is not in the source", s.func, s.check));
        }
    }
    let have: BTreeSet<String> = lines.iter().flat_map(|l| tags(l)).collect();
    for t in have.symmetric_difference(&want_tags) {
        let side = if have.contains(t) {
            "in the source but not the model"
        } else {
            "in the model but not the source"
        };
        problems.push(format!("tag @tg:{t} is {side}"));
    }
    let code = without_comments(&text);
    let ext = extents(&code, &defs);
    for (l, c) in lines.iter().zip(code.lines()) {
        let c: String = c
            .split(';')
            .filter(|p| declared(p).is_none())
            .collect::<Vec<_>>()
            .join(";");
        if c.trim_start().starts_with('#') || c.trim_start().starts_with("typedef") {
            continue;
        }
        if tags(l).is_empty() && accesses(&c, &defs) {
            problems.push(format!("an access without a tag: {}", l.trim()));
        }
        for (name, n) in constant_subscripts(&c, &defs) {
            match ext.get(&name) {
                Some(e) if n < *e => {}
                _ if !tags(l).is_empty() => {}
                _ => problems.push(format!(
                    "{name}[{n}] is outside its declared extent: {}",
                    l.trim()
                )),
            }
        }
    }
    for (k, v) in cfg {
        if let Some(d) = defs.get(k) {
            if d != v {
                problems.push(format!(
                    "{k} is {d} in the source, {v} in the configuration"
                ));
            }
        }
    }
    problems
}

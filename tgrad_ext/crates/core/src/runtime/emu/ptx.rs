//! The inline PTX of the CUDA renderer's helpers, bound to what the emulator implements instead.
//!
//! The emulator never executes the `asm(...)` statements of a CUDA source: they sit behind
//! `#ifndef TGRAD_EMU`, and emu/tgemu_cuda.h defines the helpers (`tg_h2f`, `tg_f2h`,
//! `tg_smem_addr`, `tg_ldsm_x4`, `tg_ldsm_x4_t`, `tg_mma`) as emulated operations. So that the
//! PTX cannot change unseen, every asm statement is read from the source (its template and its
//! operands with their constraints), each `%N` is replaced by `(constraint)expression`, and the
//! resulting instructions must equal `EMULATED`, the instructions the emulated helpers implement.
//! A swapped `.trans`, a reordered or missing register, or another opcode is an error.

use crate::error::{Error, Result};

use super::source::{find_word, matching, strip_comments};

/// One helper as the emulator implements it: its PTX instructions with `%N` resolved.
pub struct Emulated {
    pub helper: &'static str,
    /// What the emulator does instead (emu/tgemu_cuda.h, emu/tgemu_warp.h).
    pub emulation: &'static str,
    pub instructions: &'static [&'static str],
}

pub const EMULATED: [Emulated; 6] = [
    Emulated {
        helper: "tg_h2f",
        emulation: "tgemu::h2f: exact half to float",
        instructions: &["cvt.f32.f16 (=f)f, (h)h"],
    },
    Emulated {
        helper: "tg_f2h",
        emulation: "tgemu::f2h: float to half, round to nearest even",
        instructions: &["cvt.rn.f16.f32 (=h)h, (f)f"],
    },
    Emulated {
        helper: "tg_smem_addr",
        emulation: "offset of p in the block's shared memory",
        instructions: &[
            ".reg .u64 t",
            "cvta.to.shared.u64 t, (l)p",
            "cvt.u32.u64 (=r)a, t",
        ],
    },
    Emulated {
        helper: "tg_ldsm_x4",
        emulation: "tgemu::ldmatrix_x4(false): r[j] = matrix j, rows from lanes 8j..8j+7",
        instructions: &["ldmatrix.sync.aligned.m8n8.x4.shared.b16 {(=r)r[0], (=r)r[1], (=r)r[2], (=r)r[3]}, [(r)tg_smem_addr(p)]"],
    },
    Emulated {
        helper: "tg_ldsm_x4_t",
        emulation: "tgemu::ldmatrix_x4(true): r[j] = matrix j transposed",
        instructions: &["ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {(=r)r[0], (=r)r[1], (=r)r[2], (=r)r[3]}, [(r)tg_smem_addr(p)]"],
    },
    Emulated {
        helper: "tg_mma",
        emulation: "tgemu::mma_m16n8k16_f32_f16: D = A B + C, d[i] = c_i = d_i, a[i] = a_i, b[i] = b_i",
        instructions: &["mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {(+f)d[0], (+f)d[1], (+f)d[2], (+f)d[3]}, {(r)a[0], (r)a[1], (r)a[2], (r)a[3]}, {(r)b[0], (r)b[1]}, {(+f)d[0], (+f)d[1], (+f)d[2], (+f)d[3]}"],
    },
];

/// An `asm(...)` statement: the function around it, its template, its operands in `%N` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmStmt {
    pub helper: String,
    pub line: usize,
    pub template: String,
    /// (constraint, expression): outputs, then inputs.
    pub operands: Vec<(String, String)>,
}

fn err(msg: &str) -> Error {
    Error::InvalidArgument(format!("emulator: inline PTX: {msg}"))
}

/// `text` split at top-level `sep` bytes (outside brackets and string literals; `::` is never
/// a separator).
fn split_outside(text: &str, sep: u8) -> Vec<&str> {
    let b = text.as_bytes();
    let (mut parts, mut depth, mut start, mut i) = (vec![], 0i32, 0, 0);
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b':' if sep == b':' && b.get(i + 1) == Some(&b':') => i += 1,
            c if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

/// The concatenated contents of the string literals in `text` (`\n`, `\t`, `\"`, `\\`).
fn literals(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                },
                c => out.push(c),
            }
        }
    }
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Top-level function bodies of `text`: (body start, body end, function name).
fn functions(text: &str) -> Vec<(usize, usize, String)> {
    let b = text.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' {
            let end = matching(text, i).unwrap_or(b.len());
            let head = text[..i].trim_end();
            if head.ends_with(')') {
                // the identifier before the '(' that matches this ')'
                let mut depth = 0;
                let mut open = 0;
                for (j, c) in head.bytes().enumerate().rev() {
                    match c {
                        b')' => depth += 1,
                        b'(' => {
                            depth -= 1;
                            if depth == 0 {
                                open = j;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let name: String = head[..open]
                    .trim_end()
                    .chars()
                    .rev()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                out.push((i, end, name));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Every asm statement of `source`.
pub fn asm_statements(source: &str) -> Result<Vec<AsmStmt>> {
    let text = strip_comments(source);
    let funcs = functions(&text);
    let mut out = vec![];
    for at in find_word(&text, "asm") {
        let open = at
            + text[at..]
                .find('(')
                .ok_or_else(|| err("asm without operands"))?;
        let close = matching(&text, open).ok_or_else(|| err("unclosed asm("))?;
        let parts = split_outside(&text[open + 1..close - 1], b':');
        let operands = |k: usize| -> Vec<(String, String)> {
            parts.get(k).map_or_else(Vec::new, |p| {
                split_outside(p, b',')
                    .into_iter()
                    .filter(|o| !o.trim().is_empty())
                    .map(|o| {
                        let expr = o.find('(').map_or("", |q| {
                            o[q + 1..].trim_end().strip_suffix(')').unwrap_or("")
                        });
                        (literals(o), squash(expr))
                    })
                    .collect()
            })
        };
        let mut ops = operands(1);
        ops.extend(operands(2));
        let helper = funcs
            .iter()
            .find(|(s, e, _)| *s < at && at < *e)
            .map_or_else(String::new, |(_, _, n)| n.clone());
        out.push(AsmStmt {
            helper,
            line: text[..at].matches('\n').count() + 1,
            template: literals(parts[0]),
            operands: ops,
        });
    }
    Ok(out)
}

/// The statement's instructions with each `%N` replaced by `(constraint)expression`.
pub fn resolved(stmt: &AsmStmt) -> Result<Vec<String>> {
    let body = stmt.template.trim();
    let body = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .unwrap_or(body);
    let mut out = vec![];
    for ins in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let mut s = String::new();
        let mut chars = ins.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                s.push(c);
                continue;
            }
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            let k: usize = n
                .parse()
                .map_err(|_| err(&format!("'%' without an operand number in `{ins}`")))?;
            let (c, e) = stmt.operands.get(k).ok_or_else(|| {
                err(&format!(
                    "{} (line {}): %{k} names no operand ({} given)",
                    stmt.helper,
                    stmt.line,
                    stmt.operands.len()
                ))
            })?;
            s.push_str(&format!("({c}){e}"));
        }
        out.push(squash(&s));
    }
    Ok(out)
}

/// Checks every asm statement of `source` against `EMULATED`; returns the helpers checked.
pub fn check_helpers(source: &str) -> Result<Vec<String>> {
    let mut checked = vec![];
    for stmt in asm_statements(source)? {
        let spec = EMULATED
            .iter()
            .find(|e| e.helper == stmt.helper)
            .ok_or_else(|| {
                err(&format!(
                    "line {}: asm in '{}', which the emulator does not emulate",
                    stmt.line, stmt.helper
                ))
            })?;
        let got = resolved(&stmt)?;
        if got != spec.instructions {
            return Err(err(&format!(
                "{} (line {}) is `{}`, but the emulator implements `{}` ({})",
                stmt.helper,
                stmt.line,
                got.join("; "),
                spec.instructions.join("; "),
                spec.emulation
            )));
        }
        checked.push(stmt.helper);
    }
    Ok(checked)
}

/// Every asm statement must sit in an `#ifndef TGRAD_EMU` branch (so the emulator never sees
/// it) and match what the emulator implements instead.
pub fn check_guarded(source: &str) -> Result<()> {
    let text = strip_comments(source);
    // per line: whether it lies in a branch compiled only without TGRAD_EMU
    let mut stack: Vec<bool> = vec![];
    let mut guarded = vec![];
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(d) = t.strip_prefix('#') {
            let words: Vec<&str> = d.split_whitespace().collect();
            match words.first().copied() {
                Some("ifndef") => stack.push(words.get(1) == Some(&"TGRAD_EMU")),
                Some("if" | "ifdef") => stack.push(false),
                Some("else") => {
                    if let Some(top) = stack.last_mut() {
                        *top = false;
                    }
                }
                Some("endif") => {
                    stack.pop();
                }
                _ => {}
            }
        }
        guarded.push(stack.iter().any(|&g| g));
    }
    for at in find_word(&text, "asm") {
        let line = text[..at].matches('\n').count();
        if !guarded.get(line).copied().unwrap_or(false) {
            return Err(err(&format!(
                "line {}: inline PTX outside `#ifndef TGRAD_EMU` (the emulator cannot run it)",
                line + 1
            )));
        }
    }
    check_helpers(source).map(|_| ())
}

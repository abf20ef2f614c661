//! What the emulator reads from kernel source text: the kernel's name and parameters (with
//! Metal's `[[...]]` attributes), its thread limit (`__launch_bounds__`,
//! `[[max_total_threads_per_threadgroup]]`), the dynamic shared memory declaration and the
//! fixed-size shared (threadgroup) arrays. A scanner over comment-free text that understands the
//! declarations tgrad's renderers write, not a C++ parser.

use crate::error::{Error, Result};

use super::Dialect;

/// One kernel parameter: `ty name [[attr]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub ty: String,
    pub name: String,
    /// The text inside `[[...]]` (Metal), if any.
    pub attr: Option<String>,
}

/// A fixed-size shared (CUDA `__shared__`) or threadgroup (Metal) variable: its type and the
/// array extents after its name (`[TILE * BK]`), empty for a scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticShared {
    pub ty: String,
    pub name: String,
    pub extents: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDecl {
    pub name: String,
    pub params: Vec<Param>,
    /// `__launch_bounds__(N)` or `[[max_total_threads_per_threadgroup(N)]]`.
    pub max_threads: Option<u32>,
    /// CUDA `extern __shared__ T name[];`: (type, name).
    pub dynamic_shared: Option<(String, String)>,
    pub static_shared: Vec<StaticShared>,
}

/// `src` with every comment replaced by one space (newlines kept, so line numbers hold);
/// string and character literals are copied as they are.
pub fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                out.push(b' ');
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        out.push(b'\n');
                    }
                    i += 1;
                }
                i += 2;
                out.push(b' ');
            }
            q @ (b'"' | b'\'') => {
                out.push(q);
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        out.push(b[i]);
                        i += 1;
                    }
                    out.push(b[i]);
                    i += 1;
                }
                if i < b.len() {
                    out.push(q);
                    i += 1;
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Byte offsets where `word` occurs as a whole identifier.
pub fn find_word(text: &str, word: &str) -> Vec<usize> {
    let b = text.as_bytes();
    text.match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| {
            (i == 0 || !is_ident(b[i - 1])) && b.get(i + word.len()).is_none_or(|&c| !is_ident(c))
        })
        .collect()
}

/// The offset just past the bracket that closes the one at `open`.
pub fn matching(text: &str, open: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0i32;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` split at commas outside brackets.
pub fn split_top(text: &str) -> Vec<&str> {
    let mut parts = vec![];
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The identifier that ends `text` (after trailing spaces) and the text before it.
fn last_ident(text: &str) -> Option<(&str, &str)> {
    let t = text.trim_end();
    let start = t.bytes().rposition(|c| !is_ident(c)).map_or(0, |p| p + 1);
    let name = &t[start..];
    (!name.is_empty() && !name.as_bytes()[0].is_ascii_digit()).then(|| (t[..start].trim(), name))
}

fn parse_param(text: &str) -> Result<Param> {
    let mut rest = text.to_string();
    let mut attr = None;
    if let Some(a) = rest.find("[[") {
        let end = rest[a..]
            .find("]]")
            .ok_or_else(|| invalid(&format!("unclosed [[ in parameter '{}'", text.trim())))?;
        attr = Some(rest[a + 2..a + end].trim().to_string());
        rest.replace_range(a..a + end + 2, " ");
    }
    let (ty, name) =
        last_ident(&rest).ok_or_else(|| invalid(&format!("parameter '{}'", text.trim())))?;
    Ok(Param {
        ty: ty.to_string(),
        name: name.to_string(),
        attr,
    })
}

fn invalid(what: &str) -> Error {
    Error::InvalidArgument(format!("emulator: cannot read the kernel source: {what}"))
}

fn number_in(text: &str) -> Option<u32> {
    let open = text.find('(')?;
    let arg = split_top(&text[open + 1..matching(text, open)? - 1])[0].trim();
    arg.parse().ok()
}

/// Reads the one kernel of `src` (comments already stripped).
pub fn parse_kernel(text: &str, dialect: Dialect) -> Result<KernelDecl> {
    let (marker, what) = match dialect {
        Dialect::Cuda => ("__global__", "__global__ function"),
        Dialect::Metal => ("kernel", "kernel function"),
    };
    let starts: Vec<usize> = find_word(text, marker)
        .into_iter()
        .filter(|&i| {
            dialect == Dialect::Cuda || text[i + marker.len()..].trim_start().starts_with("void")
        })
        .collect();
    let start = match starts.as_slice() {
        [one] => *one,
        [] => return Err(invalid(&format!("no {what}"))),
        _ => return Err(invalid(&format!("more than one {what}"))),
    };
    let mut max_threads = None;
    // the header runs from the marker to the parameter list; `__launch_bounds__(...)` may sit
    // inside it, `[[max_total_threads_per_threadgroup(N)]]` before or inside it
    let mut i = start + marker.len();
    let open = loop {
        let p = text[i..]
            .find('(')
            .map(|p| p + i)
            .ok_or_else(|| invalid(&format!("{what} without parameters")))?;
        if text[i..p].trim_end().ends_with("__launch_bounds__") {
            let close = matching(text, p).ok_or_else(|| invalid("__launch_bounds__"))?;
            max_threads = number_in(&text[p..close]);
            i = close;
        } else {
            break p;
        }
    };
    let (_, name) =
        last_ident(&text[start..open]).ok_or_else(|| invalid(&format!("{what} without a name")))?;
    let close = matching(text, open).ok_or_else(|| invalid("unclosed parameter list"))?;
    let list = &text[open + 1..close - 1];
    let params = if list.trim().is_empty() || list.trim() == "void" {
        vec![]
    } else {
        split_top(list)
            .into_iter()
            .map(parse_param)
            .collect::<Result<Vec<_>>>()?
    };
    let body_open = text[close..]
        .find('{')
        .map(|p| p + close)
        .ok_or_else(|| invalid(&format!("{what} without a body")))?;
    let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
    for a in find_word(
        &text[line_start..body_open],
        "max_total_threads_per_threadgroup",
    ) {
        max_threads = number_in(&text[line_start + a..body_open]);
    }
    let body_close = matching(text, body_open).ok_or_else(|| invalid("unclosed body"))?;
    let body = &text[body_open..body_close];
    let (dynamic_shared, static_shared) = match dialect {
        Dialect::Cuda => shared_decls(body)?,
        Dialect::Metal => (None, threadgroup_decls(body)?),
    };
    Ok(KernelDecl {
        name: name.to_string(),
        params,
        max_threads,
        dynamic_shared,
        static_shared,
    })
}

/// The declarations `KEYWORD <rest>;` in `body`, as the text between keyword and semicolon.
fn declarations<'a>(body: &'a str, keyword: &str) -> Vec<(usize, &'a str)> {
    find_word(body, keyword)
        .into_iter()
        .filter_map(|i| {
            let from = i + keyword.len();
            body[from..]
                .find(';')
                .map(|end| (i, body[from..from + end].trim()))
        })
        .collect()
}

/// A fixed-size array or scalar declaration `T name[...]...` (no initializer, no pointer).
fn static_decl(decl: &str, keyword: &str) -> Result<StaticShared> {
    let (head, extents) = decl
        .find('[')
        .map_or((decl, ""), |b| (&decl[..b], &decl[b..]));
    if decl.contains('=') || head.contains('*') || head.contains('&') || decl.contains(',') {
        return Err(Error::Unsupported(format!(
            "emulator: `{keyword} {decl}` (only uninitialized arrays and scalars can be {keyword} variables in the emulator)"
        )));
    }
    let (ty, name) =
        last_ident(head).ok_or_else(|| invalid(&format!("declaration `{keyword} {decl}`")))?;
    Ok(StaticShared {
        ty: ty.to_string(),
        name: name.to_string(),
        extents: extents.trim().to_string(),
    })
}

type SharedDecls = (Option<(String, String)>, Vec<StaticShared>);

fn shared_decls(body: &str) -> Result<SharedDecls> {
    let mut dynamic: Option<(String, String)> = None;
    let mut fixed = vec![];
    for (at, decl) in declarations(body, "__shared__") {
        if body[..at].trim_end().ends_with("extern") {
            let head = decl.strip_suffix("[]").map(str::trim_end).ok_or_else(|| {
                invalid(&format!(
                    "`extern __shared__ {decl}` is not an unsized array"
                ))
            })?;
            let (ty, name) =
                last_ident(head).ok_or_else(|| invalid(&format!("`extern __shared__ {decl}`")))?;
            if let Some((_, other)) = &dynamic {
                if other != name {
                    return Err(Error::Unsupported(format!(
                        "emulator: two names ({other}, {name}) for the dynamic shared memory"
                    )));
                }
            }
            dynamic = Some((ty.to_string(), name.to_string()));
        } else {
            fixed.push(static_decl(decl, "__shared__")?);
        }
    }
    Ok((dynamic, fixed))
}

fn threadgroup_decls(body: &str) -> Result<Vec<StaticShared>> {
    declarations(body, "threadgroup")
        .into_iter()
        .map(|(_, d)| static_decl(d, "threadgroup"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_and_lines_stay() {
        let s = strip_comments("a /* x\ny */ b // c\n\"/* kept */\" '/'");
        assert_eq!(s, "a \n  b  \n\"/* kept */\" '/'");
    }

    #[test]
    fn a_cuda_kernel_header() {
        let src = "extern \"C\" __global__ void __launch_bounds__(256) k(const long long* __restrict__ p, float* b0) {\n\
                   extern __shared__ __align__(16) unsigned char tg_smem[];\n __shared__ float t[BM][4];\n}";
        let k = parse_kernel(src, Dialect::Cuda).unwrap();
        assert_eq!(k.name, "k");
        assert_eq!(k.max_threads, Some(256));
        assert_eq!(k.params[0].ty, "const long long* __restrict__");
        assert_eq!(k.params[1].name, "b0");
        assert_eq!(
            k.dynamic_shared,
            Some(("__align__(16) unsigned char".into(), "tg_smem".into()))
        );
        assert_eq!(k.static_shared[0].extents, "[BM][4]");
    }

    #[test]
    fn a_metal_kernel_header() {
        let src = "kernel void tgrad_kernel(constant long* p [[buffer(0)]], uint3 tgid [[threadgroup_position_in_grid]]) {\n\
                   threadgroup half As[TILE * BK];\n}";
        let k = parse_kernel(src, Dialect::Metal).unwrap();
        assert_eq!(k.params[0].attr.as_deref(), Some("buffer(0)"));
        assert_eq!(k.params[1].ty, "uint3");
        assert_eq!(k.static_shared[0].name, "As");
        assert_eq!(k.static_shared[0].extents, "[TILE * BK]");
        assert_eq!(k.max_threads, None);
        let bad = "kernel void k() { threadgroup float* q = 0; }";
        assert!(matches!(
            parse_kernel(bad, Dialect::Metal),
            Err(Error::Unsupported(_))
        ));
    }
}

//! The core's modules form layers, and every import points down: a module may use `crate::X`
//! only for modules of a lower layer (or its own). The check reads every source file under
//! `src/` and collects each `crate::<module>` path it mentions, so an import cycle, or the
//! runtime reaching up into the scheduler, codegen or renderers, fails here with the file and
//! the offending path. Unit-test modules (after `#[cfg(test)]`) may use any layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers from the bottom: leaves first, the engine last.
const LAYERS: &[&[&str]] = &[
    &["error", "fxhash"],
    &["dtype", "flags", "shape"],
    &["abi", "target"],
    &["runtime"],
    &["graph", "rng"],
    &["kernel", "tensor"],
    &["ops"],
    &["autograd"],
    &["schedule"],
    &["codegen"],
    &["render"],
    &["certify"],
    &["engine"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/runtime/cpu/mod.rs` -> `runtime`).
fn owner(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::name` a file mentions (in code, not comments).
fn imports(text: &str) -> Vec<String> {
    let mut out = vec![];
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` in macros and multi-name braces are fine: the name after is a module
            let before = &rest[..i];
            if !before.ends_with('$') && !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn every_import_points_down() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    sources(&src, &mut files);
    let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for f in &files {
        let module = owner(&src, f);
        if module == "lib" {
            continue;
        }
        let own = layer(&module).unwrap_or_else(|| {
            panic!(
                "module `{module}` ({}) is in no layer of LAYERS",
                f.display()
            )
        });
        let text = std::fs::read_to_string(f).unwrap();
        // unit tests may drive the layers above the code they test
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for name in imports(code) {
            checked += 1;
            let Some(l) = layer(&name) else {
                continue; // items re-exported at the crate root (Error, Result, DType)
            };
            if l > own || (l == own && name != module) {
                bad.entry(f.strip_prefix(&src).unwrap().display().to_string())
                    .or_default()
                    .push(format!(
                        "crate::{name} (layer {l}) from `{module}` (layer {own})"
                    ));
            }
        }
    }
    assert!(
        checked > 100,
        "the check read the sources ({checked} imports)"
    );
    assert!(
        bad.is_empty(),
        "imports that point up or sideways: {bad:#?}"
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    // what the runtime would look like if it planned kernels itself
    let runtime_using_codegen = "use crate::codegen::plan; // plans\nuse crate::error::Result;";
    let found = imports(runtime_using_codegen);
    assert_eq!(found, vec!["codegen", "error"]);
    assert!(layer("codegen") > layer("runtime"));
    assert!(
        imports("bail!($crate::error::Error)").is_empty(),
        "macro paths are not imports"
    );
}

//! The proofs themselves, run by `tools/certify.py` (z3, from the project's `.venv`) in a child
//! process: the obligations of the 8x8 transposing pack of A hold for the family the renderer
//! produces, and fail, with a counterexample, for a broken template that renders the transposes
//! for panels of 1..3 rows (the condition `MR <= 8` instead of `4 <= MR <= 8`) or of more rows
//! than its two groups of 8 hold; no rendered header transposes panels of fewer than four or
//! more than sixteen rows; the loop skeleton's obligations hold.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use tgrad_core::certify::{self, config, smt};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// The checker's report on `scripts` (proved or not, and its output).
fn prove(scripts: &[smt::Script], label: &str) -> (bool, String) {
    let py = root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `make setup` (the checker needs z3-solver)",
        py.display()
    );
    let dir = tgrad_core::runtime::cache::private_temp_dir("tgrad-certify").unwrap();
    let file = dir.join(format!("{label}.smt2"));
    std::fs::write(
        &file,
        scripts.iter().map(|s| s.text.as_str()).collect::<String>(),
    )
    .unwrap();
    let out = Command::new(py)
        .arg(root().join("tools/certify.py"))
        .arg("script")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The scripts of the transposing pack's stores over `family`.
fn tr8_scripts(family: &BTreeSet<config::Config>) -> Vec<smt::Script> {
    let scripts = certify::gemm_scripts(family).unwrap();
    let tr8: Vec<smt::Script> = scripts
        .into_iter()
        .filter(|s| s.name.starts_with("tr8.store"))
        .collect();
    assert!(tr8.len() >= 6, "{} tr8 store obligations", tr8.len());
    tr8
}

#[test]
fn no_rendered_header_transposes_panels_of_fewer_than_four_rows() {
    let family = config::family().unwrap();
    let tr8: Vec<_> = family.iter().filter(|c| c["TG_TR8"] == 1).collect();
    assert!(!tr8.is_empty());
    for c in tr8 {
        assert!(
            (4..=16).contains(&c["MR"]) && matches!(c["VW"], 8 | 16),
            "TG_TR8 with MR = {}, VW = {}",
            c["MR"],
            c["VW"]
        );
    }
}

#[test]
fn transposing_pack_stores_stay_in_their_panels() {
    let (ok, out) = prove(&tr8_scripts(&config::family().unwrap()), "tr8");
    assert!(ok, "{out}");
}

/// The template as it was before the fix: transposes rendered for every f32 tile of VW = 8 up
/// to MR = 8, including panels of 1..3 rows.
#[test]
fn a_template_transposing_panels_of_three_rows_fails_its_proof() {
    let mut family = config::family().unwrap();
    let broken: Vec<config::Config> = family
        .iter()
        .filter(|c| {
            c["VW"] == 8 && c["sizeof(TG_ACC)"] == 4 && c["sizeof(TG_TA)"] == 4 && c["MR"] <= 3
        })
        .map(|c| {
            let mut b = c.clone();
            b.insert("TG_TR8".into(), 1);
            b
        })
        .collect();
    assert!(!broken.is_empty());
    family.extend(broken);
    let (ok, out) = prove(&tr8_scripts(&family), "tr8-broken");
    assert!(!ok, "the broken template was proven:\n{out}");
    // the counterexample: a panel of at most 3 rows whose 8-float stores end past it
    let failed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("goal region a_block: "))
        .collect();
    assert!(!failed.is_empty(), "{out}");
    for l in failed {
        let mr: i64 = l
            .split("MR=")
            .nth(1)
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(99);
        assert!((1..=3).contains(&mr), "counterexample MR = {mr}: {l}");
        eprintln!("counterexample: {}", l.trim());
    }
}

/// A template that renders the transposes for panels of 17..24 rows: a third group of 8 rows
/// indexes past the 16 row pointers.
#[test]
fn a_template_transposing_panels_of_seventeen_rows_fails_its_proof() {
    let mut family = config::family().unwrap();
    let broken: Vec<config::Config> = family
        .iter()
        .filter(|c| c["TG_TR8"] == 1)
        .take(1)
        .flat_map(|c| {
            [17, 24].map(|mr| {
                let mut b = c.clone();
                b.insert("MR".into(), mr);
                b
            })
        })
        .collect();
    assert_eq!(broken.len(), 2);
    family.extend(broken);
    let scripts: Vec<smt::Script> = certify::gemm_scripts(&family)
        .unwrap()
        .into_iter()
        .filter(|s| s.name.starts_with("tr8.load"))
        .collect();
    assert!(!scripts.is_empty());
    let (ok, out) = prove(&scripts, "tr8-tall");
    assert!(!ok, "the broken template was proven:\n{out}");
    let failed: Vec<&str> = out.lines().filter(|l| l.contains("goal local")).collect();
    assert!(!failed.is_empty(), "{out}");
    for l in failed {
        assert!(l.contains("MR=17") || l.contains("MR=24"), "{l}");
        eprintln!("counterexample: {}", l.trim());
    }
}

#[test]
fn loop_skeleton_obligations_hold() {
    let scripts = certify::loop_scripts();
    assert!(scripts.len() > 40, "{}", scripts.len());
    let (ok, out) = prove(&scripts, "loops");
    assert!(ok, "{out}");
}

//! Writes the proof obligations of the CPU kernel templates and their certificates' headers:
//! `cargo run --release --example certify -- DIR` (DIR/cpu_gemm.smt2, DIR/cpu_gemm.meta, and the
//! same for cpu_loops). `tools/certify.py` proves them.
use std::time::Instant;

use tgrad_core::certify::{self, cert, config, fp};

fn write(dir: &str, name: &str, scripts: &[certify::smt::Script], meta: &str) {
    let text: String = scripts.iter().map(|s| s.text.as_str()).collect();
    std::fs::write(format!("{dir}/{name}.smt2"), text).expect("write the obligations");
    std::fs::write(format!("{dir}/{name}.meta"), meta).expect("write the header");
    let goals: usize = scripts.iter().map(|s| s.goals).sum();
    eprintln!("{name}: {} obligations, {goals} goals", scripts.len());
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "certificates".into());
    std::fs::create_dir_all(&dir).expect("the output directory");
    let t0 = Instant::now();
    let family = config::family().expect("the configuration family");
    let scripts = certify::gemm_scripts(&family).expect("the GEMM obligations");
    let meta = cert::gemm_meta(&family, fp::CONTRACT).expect("the GEMM header");
    write(&dir, "cpu_gemm", &scripts, &meta);
    write(
        &dir,
        "cpu_loops",
        &certify::loop_scripts(),
        &cert::loops_meta(),
    );
    eprintln!(
        "{} configurations; {:.1} s",
        family.len(),
        t0.elapsed().as_secs_f64()
    );
}
